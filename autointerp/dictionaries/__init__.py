"""Dictionary-level tools that work on weights and the subject model, not on LLM answers.

compare (compare-dicts: max cosine of two dictionaries), attribute (context ablation),
output (VocabProj / TokenChange output evidence) and steer (generation with a unit's
direction added, for the intervention scorer). Nothing here imports a backend.

May import: activations and the shared records; never backends (no LLM here), judging or anything above.
"""
