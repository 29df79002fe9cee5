"""Hook names written in SAE checkpoints, mapped onto autointerp hook sites.

An SAE is only meaningful at the site it was trained on, so a checkpoint whose config names a hook
is checked against the site asked for (:func:`check_hook`): a different site, or a hook with no
autointerp equivalent, is refused with one line unless the caller allows a mismatch explicitly.

Mapping (``i`` is the block index; TransformerLens and HF count blocks the same way)::

    TransformerLens / SAELens hook_name      autointerp site
    blocks.i.hook_resid_pre                  layers.i.resid_pre
    blocks.i.hook_resid_post                 layers.i.resid_post
    blocks.i.hook_mlp_out                    layers.i.mlp_out
    blocks.i.hook_attn_out                   layers.i.attn_out
    blocks.i.mlp.hook_post                   layers.i.mlp          (the MLP neurons, after the activation)
    blocks.i.hook_resid_mid, hook_mlp_in, ln2.hook_normalized (before the norm's weight, unlike mlp_in),
    mlp.hook_pre, attn.hook_z/q/k/v/result/pattern, hook_embed, ...
                                             refused: no autointerp site reads them
    layers.i.<kind> (autointerp's own saves) layers.i.<kind>

    sparsify hookpoint (an HF module name; sparsify reads the module's output, transcoders its input)
    [model.|transformer.|gpt_neox.]layers.i / h.i          layers.i.resid_post   (transcode: layers.i.resid_pre)
    [...]layers.i.mlp / h.i.mlp                            layers.i.mlp_out      (transcode: layers.i.mlp_in)
    [...]layers.i.self_attn / h.i.attn / attention         layers.i.attn_out

Gemma 2/3 and OLMo 2 apply a norm to each sub-block's output before the residual add; autointerp's
``attn_out``/``mlp_out`` include it, a sparsify module hookpoint does not, so those are refused there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autointerp.errors import ConfigError

_TL = re.compile(r"^blocks\.(\d+)\.(.+)$")
_TL_SITES = {
    "hook_resid_pre": "resid_pre",
    "hook_resid_post": "resid_post",
    "hook_mlp_out": "mlp_out",
    "hook_attn_out": "attn_out",
    "mlp.hook_post": "mlp",
}
_TL_UNSUPPORTED = {
    "hook_resid_mid": "the residual stream between attention and MLP",
    "hook_mlp_in": "the MLP input before its pre-norm",
    "mlp.hook_pre": "the MLP pre-activation",
    "mlp.hook_pre_linear": "the MLP up-projection (gated MLPs)",
    "attn.hook_z": "per-head attention values",
    "attn.hook_q": "per-head queries",
    "attn.hook_k": "per-head keys",
    "attn.hook_v": "per-head values",
    "attn.hook_result": "per-head attention outputs",
    "attn.hook_pattern": "attention patterns",
    "ln1.hook_normalized": "the attention input after its pre-norm",
    # TransformerLens hooks the norm before its weight (and folds the weight away by default); HF's MLP input
    # (autointerp's mlp_in) is after it, so the two differ by the norm's per-dimension weight
    "ln2.hook_normalized": "the MLP input after its norm but before the norm's weight",
}
_HF = re.compile(r"^(?:model\.|transformer\.|gpt_neox\.|base_model\.)*(?:layers|h|layer|blocks)\.(\d+)(?:\.(.+))?$")
_HF_SITES = {  # module suffix -> (site read by an SAE, site read by a transcoder)
    None: ("resid_post", "resid_pre"),
    "mlp": ("mlp_out", "mlp_in"),
    "self_attn": ("attn_out", None),
    "attn": ("attn_out", None),
    "attention": ("attn_out", None),
}
_POST_NORM_MODELS = {"gemma2", "gemma3_text", "olmo2"}  # sub-block outputs are normalised before the residual add
_OWN = re.compile(r"^layers\.(\d+)\.([a-z_]+)$")


@dataclass(frozen=True)
class HookMapping:
    """What a checkpoint's hook name means for autointerp."""

    hook: str  # as written in the checkpoint
    site: str | None  # autointerp site, or None when there is none
    reason: str = ""  # why there is no site


def map_hook(
    hook: str, *, modules: bool = False, transcode: bool = False, model_type: str | None = None
) -> HookMapping:
    """Translate a hook name onto an autointerp site.

    ``modules=False``: a TransformerLens/SAELens hook name or an autointerp site name (what SAELens configs
    and autointerp's own saves hold); ``modules=True``: a sparsify hookpoint, i.e. an HF module path
    (``layers.6.mlp`` is then the MLP module's output, not autointerp's ``mlp`` neurons site)."""
    name = str(hook).strip()
    return _map_module(name, transcode, model_type) if modules else _map_named(name)


def _map_named(name: str) -> HookMapping:
    if _OWN.match(name):
        return HookMapping(name, name)
    tl = _TL.match(name)
    if tl:
        layer, rest = int(tl.group(1)), tl.group(2)
        if rest in _TL_SITES:
            return HookMapping(name, f"layers.{layer}.{_TL_SITES[rest]}")
        why = _TL_UNSUPPORTED.get(rest, "an unknown TransformerLens hook")
        return HookMapping(name, None, f"{why}, which no autointerp site reads")
    return HookMapping(name, None, "not a hook name autointerp knows")


def _map_module(name: str, transcode: bool, model_type: str | None) -> HookMapping:
    hf = _HF.match(name)
    if not (hf and hf.group(2) in _HF_SITES):
        return HookMapping(name, None, "not a module path autointerp knows")
    layer, module = int(hf.group(1)), hf.group(2)
    kind = _HF_SITES[module][1 if transcode else 0]
    if kind is None:
        return HookMapping(name, None, "the input of an attention module, which no autointerp site reads")
    if module is not None and not transcode and model_type in _POST_NORM_MODELS:
        return HookMapping(name, None, f"the {module} module's output before {model_type}'s post-norm")
    return HookMapping(name, f"layers.{layer}.{kind}")


def check_hook(
    hook: str | None,
    site: str,
    *,
    source: str,
    modules: bool = False,
    transcode: bool = False,
    model_type: str | None = None,
    allow_mismatch: bool = False,
) -> str:
    """One line describing the check; raises ConfigError when the checkpoint's hook is not ``site``.

    ``allow_mismatch`` (config ``sae_site_override`` / ``--allow-hook-mismatch``) turns the refusal into
    a note in the returned line."""
    if not hook:
        return f"hook: not stated in the checkpoint; reading {site} as asked"
    m = map_hook(hook, modules=modules, transcode=transcode, model_type=model_type)
    if m.site == str(site):
        return f"hook: {hook} = {site}"
    found = f"maps to {m.site}" if m.site else f"is {m.reason}"
    if allow_mismatch:
        return f"hook: {hook} {found}; reading {site} anyway (hook mismatch allowed)"
    raise ConfigError(
        f"{source} was trained on hook {hook!r}, which {found}, not the requested site {site}; "
        "choose that site or allow the mismatch (sae_site_override: true / --allow-hook-mismatch)"
    )


def is_module_path(name: str) -> bool:
    """Whether ``name`` reads as a sparsify hookpoint (an HF module path such as ``layers.6.mlp``)."""
    return bool(_HF.match(str(name).strip()))
