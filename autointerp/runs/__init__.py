"""One run's life, from a config to the stored records: what ``autointerp run`` and ``autointerp.evaluate`` call.

- ``config``     :class:`RunConfig` (every field, hashed per stage), loading from YAML/flags
- ``bases``      the config's unit bases: SAE features and the neuron baseline, on the same footing
- ``rundir``     the run folder, created safely and locked while a run uses it
- ``preflight``  backend specs checked offline, and ``--check``'s one tiny request per remote backend
- ``plan``       ``--dry-run``: requests, tokens and cost a run will spend
- ``guard``      the run budget, stop-the-run errors, per-unit spending around every stage's backend
- ``spend``      the ledger of every paid request (``spend.jsonl``), the budget across invocations
- ``store``      append-only JSONL per stage, keyed by (unit, params hash): the basis of resume
- ``outcome``    what an invocation ended with: status lines, failure causes, exit code
- ``pipeline``   sample -> explain -> scorers, for features and neurons alike
- ``logits``     top logit tokens per unit, saved for the report
- ``attribute``  context ablation over a finished run's samples
- ``demo``       the embedded offline default (model, corpus, demo SAE, settings)

May import: every lower floor (activations, backends, sampling, dictionaries, judging, scorers); never report or cli.
"""
