"""The activation side: subject models, corpora, hook sites, dictionaries (SAEs / neurons), activation sources.

Modules (one job each):

- ``cache``          the on-disk cache of fetched artifacts (atomic, idempotent, versioned)
- ``models``         packaged subject models and :func:`~autointerp.activations.models.load_subject`
- ``architectures``  where blocks / MLP / attention live per ``config.model_type``
- ``sites``          hook sites (``layers.{i}.resid_pre|resid_post|mlp|attn_out|mlp_in|mlp_out``) and early-stopping capture
- ``corpus``         corpus files / the packaged Brown corpus -> documents -> token windows
- ``sae``            the Dictionary protocol, SAE architectures (ReLU, TopK, JumpReLU), IdentityDict
- ``sae_formats``    SAELens / sparsify / dictionary_learning / plain safetensors checkpoints
- ``model_source``   ModelActivationSource and MultiSource (several bases, one forward pass)
- ``source``         the contracts shared with the sampler (TokenWindow, ActivationBatch, ActivationSource)
"""
