"""Talking to the judge: prompt files, answer parsers, the one context renderer, and the explainer.

- ``prompts``         prompt/rubric files (rubrics/*.yaml): validation, content hash, request building
- ``parsers``         the parser registry and the core answer readers (never guessing)
- ``answers`` / ``steered_answers``  the scorers' answer readers
- ``parser_catalog``  imports every parser module, so :data:`PARSERS` is complete (explicit registration)
- ``render``          the one place tokens and activations become prompt text
- ``explain``         the explainer stage: a unit's explain-split contexts -> an :class:`Explanation`

May import: backends, sampling, activations and the shared records (types, errors, registry); never scorers, runs,
report or cli.
"""
