"""The activation side: subject models, corpora, hook sites, dictionaries (SAEs / neurons), activation sources.

Modules (one job each):

- ``cache``          the on-disk cache of fetched artifacts (atomic, idempotent, versioned)
- ``models``         packaged subject models and :func:`~autointerp.activations.models.load_subject`
- ``architectures``  where blocks / MLP / attention live per ``config.model_type``
- ``sites``          hook sites (``layers.{i}.resid_pre|resid_post|mlp|attn_out|mlp_in|mlp_out``) and early-stopping capture
- ``corpus``         corpus files / the packaged Brown corpus -> documents -> token windows
- ``sae``            the Dictionary protocol, SparseAutoencoder (ReLU, TopK, JumpReLU, gated, ... + input norms), IdentityDict
- ``sae_formats``    format registry, detection, ``load_sae``, ``check_sae_site``, ``save_saelens``
- ``sae_saelens`` / ``sae_sparsify`` / ``sae_dictionary_learning`` / ``sae_plain``  one reader per checkpoint format,
                     each with its table of config keys (implemented or ignored; any other key is refused)
- ``sae_io``         shared reading helpers and the KeyPolicy audit
- ``hook_names``     checkpoint hook names (TransformerLens, sparsify hookpoints) -> autointerp sites
- ``model_source``   ModelActivationSource and MultiSource (several bases, one forward pass)
- ``source``         the contracts shared with the sampler (TokenWindow, ActivationBatch, ActivationSource)

May import: the shared records only (types, errors, registry); nothing else of autointerp.
"""
