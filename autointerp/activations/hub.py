"""Models and SAEs by name from the Hugging Face Hub, through huggingface_hub and its cache.

- ``--model google/gemma-2-2b``: any Hub model id (safetensors weights only; nothing is unpickled and no remote
  code runs).
- ``--sae saelens:RELEASE/SAE_ID``: SAELens's pretrained registry (``pretrained_saes.yaml``: release -> repo,
  folder, hook, and the model it belongs to).
- ``--sae hf:REPO/PATH``: a folder (or file) inside any Hub repository.

The download is one :func:`huggingface_hub.snapshot_download` call; its cache (``HF_HOME`` / ``HF_HUB_CACHE``),
offline switch (``HF_HUB_OFFLINE=1``) and token (``HF_TOKEN``, for gated models) are huggingface_hub's own: the
token is never read, passed or written by autointerp.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from autointerp.activations.cache import cached_artifact, pip_download
from autointerp.errors import InputError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja"]  # never pickles or code
SAELENS_REGISTRY_ENV = "AUTOINTERP_SAELENS_REGISTRY"  # a pretrained_saes.yaml to use instead of the packaged one
SAELENS_WHEEL = "sae-lens==6.54.12"  # the registry is read from this release's wheel (no install, no import)
SAELENS_MEMBER = "sae_lens/pretrained_saes.yaml"


def is_hub_id(text: str) -> bool:
    """``org/name`` that is not an existing local path."""
    return bool(HUB_ID.match(text)) and not Path(text).expanduser().exists()


def snapshot(repo_id: str, what: str, allow_patterns: list[str] | None = None) -> Path:
    """Download (or find in the local cache) a Hub repository; one clear line on any failure."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    include = "".join(f" --include '{p}'" for p in allow_patterns or ())  # only what autointerp reads, not the repo
    fix = (
        f"pre-download it on a connected machine with `hf download {repo_id}{include}` into the same cache "
        f"(HF_HOME; here {constants.HF_HUB_CACHE}), then run with HF_HUB_OFFLINE=1"
    )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=allow_patterns))
    except GatedRepoError:
        raise InputError(
            f"{what} {repo_id!r} is gated on the Hugging Face Hub: accept its licence on huggingface.co and set HF_TOKEN"
        ) from None
    except RepositoryNotFoundError:
        raise InputError(f"{what} {repo_id!r} was not found on the Hugging Face Hub (private? set HF_TOKEN)") from None
    except HFValidationError:
        raise InputError(f"{what} {repo_id!r} is not a valid Hugging Face Hub repository id") from None
    except Exception as exc:  # noqa: BLE001 - offline, no network, timeouts: huggingface_hub raises many kinds
        mode = "HF_HUB_OFFLINE is set and it" if constants.HF_HUB_OFFLINE else "the Hugging Face Hub cannot be reached and it"
        raise InputError(f"{what} {repo_id!r}: {mode} is not in the local cache ({type(exc).__name__}); {fix}") from None


def model_snapshot(repo_id: str) -> Path:
    """A Hub model's folder (config, tokenizer, safetensors weights)."""
    path = snapshot(repo_id, "model", MODEL_FILES)
    if not (path / "config.json").is_file():
        raise InputError(f"model {repo_id!r}: the Hub snapshot at {path} has no config.json")
    if not any(path.glob("*.safetensors")):
        raise InputError(f"model {repo_id!r} has no safetensors weights on the Hub; autointerp never unpickles .bin files")
    return path


@dataclass(frozen=True)
class HubSae:
    """Where a named SAE was found, and what its registry entry says about it."""

    path: Path  # local folder (or file) to read with the SAE format readers
    source: str  # the spec as given, e.g. "saelens:gpt2-small-res-jb/blocks.8.hook_resid_pre"
    repo_id: str
    model: str | None = None  # the model the registry says the SAE belongs to (SAELens's name for it)
    hook: str | None = None  # the registry's hook name, when it gives one


def is_sae_spec(spec: str) -> bool:
    return str(spec).startswith(("saelens:", "hf:"))


def resolve_sae(spec: str) -> HubSae:
    """``saelens:RELEASE/SAE_ID`` or ``hf:REPO/PATH`` -> a local path in the Hub cache."""
    scheme, _, rest = str(spec).partition(":")
    if scheme == "hf":
        parts = rest.strip("/").split("/")
        if len(parts) < 2 or not all(parts[:2]):
            raise InputError(f"SAE {spec!r}: expected hf:OWNER/REPO[/PATH]")
        repo_id, inner = "/".join(parts[:2]), "/".join(parts[2:])
        folder = snapshot(repo_id, "SAE repository", [f"{inner}/*", inner] if inner else None)
        return _existing(HubSae(folder / inner if inner else folder, spec, repo_id), spec)
    if scheme == "saelens":
        return _resolve_saelens(spec, rest)
    raise InputError(f"SAE {spec!r}: unknown scheme {scheme!r}; expected saelens:RELEASE/SAE_ID or hf:REPO/PATH")


def _existing(found: HubSae, spec: str) -> HubSae:
    if not found.path.exists():
        raise InputError(f"SAE {spec!r}: {found.path.name!r} is not in Hub repository {found.repo_id!r}")
    return found


def _resolve_saelens(spec: str, rest: str) -> HubSae:
    release, _, sae_id = rest.partition("/")
    if not release or not sae_id:
        raise InputError(f"SAE {spec!r}: expected saelens:RELEASE/SAE_ID")
    registry = saelens_registry()
    if release not in registry:
        near = difflib.get_close_matches(release, list(registry), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise InputError(f"SAE {spec!r}: unknown SAELens release {release!r}{hint}")
    entry = registry[release]
    saes = {s["id"]: s for s in entry.get("saes", [])}
    if sae_id not in saes:
        near = difflib.get_close_matches(sae_id, list(saes), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else f" ({len(saes)} SAEs in it)"
        raise InputError(f"SAE {spec!r}: release {release!r} has no SAE {sae_id!r}{hint}")
    conversion = saes[sae_id].get("conversion_func", entry.get("conversion_func"))
    if conversion in CONVERSIONS:
        inner = saes[sae_id]["path"].strip("/")
        folder = snapshot(entry["repo_id"], "SAE repository", [f"{inner}/*"])
        _existing(HubSae(folder / inner, spec, entry["repo_id"]), spec)
        converted = CONVERSIONS[conversion](folder / inner, entry["repo_id"], inner, entry.get("model"))
        return HubSae(converted, spec, entry["repo_id"], entry.get("model"))
    if conversion:
        raise InputError(
            f"SAE {spec!r}: release {release!r} is stored in the {conversion!r} layout (SAELens converts it on load), "
            "which autointerp does not read; convert it with sae_lens (SAE.save_model) and pass the folder"
        )
    if entry.get("config_overrides"):
        keys = ", ".join(sorted(entry["config_overrides"]))
        raise InputError(f"SAE {spec!r}: release {release!r} overrides its cfg.json ({keys}) on load; not supported")
    inner = saes[sae_id]["path"].strip("/")
    folder = snapshot(entry["repo_id"], "SAE repository", [f"{inner}/*"])
    hook = sae_id if "hook_" in sae_id else None
    return _existing(HubSae(folder / inner, spec, entry["repo_id"], entry.get("model"), hook), spec)


def saelens_registry() -> dict:
    """SAELens's ``pretrained_saes.yaml``: from $AUTOINTERP_SAELENS_REGISTRY, else the pinned sae-lens wheel's copy."""
    override = os.environ.get(SAELENS_REGISTRY_ENV)
    path = Path(override) if override else _registry_from_wheel()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"SAELens registry {path}: cannot read ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise InputError(f"SAELens registry {path}: expected a mapping of releases, got {type(data).__name__}")
    return data


def _registry_from_wheel() -> Path:
    def build(dest: Path) -> None:
        wheel = pip_download(SAELENS_WHEEL, dest / "_download")
        with zipfile.ZipFile(wheel) as zf:
            (dest / "pretrained_saes.yaml").write_bytes(zf.read(SAELENS_MEMBER))
        for leftover in (dest / "_download").iterdir():
            leftover.unlink()
        (dest / "_download").rmdir()

    return cached_artifact("registries", "saelens", build, version=SAELENS_WHEEL) / "pretrained_saes.yaml"


# ---------------------------------------------------------------- layouts SAELens converts on load


def _gemma_scope_hook(repo_id: str, inner: str) -> str:
    """The hook of a Gemma Scope (Gemma 2) SAE, from its repository and folder, as SAELens derives it."""
    m = re.search(r"layer_(\d+)", inner)
    kind = next((k for k in ("res", "mlp", "att") if f"-{k}" in repo_id), None)
    if m is None or kind is None:
        raise InputError(f"Gemma Scope SAE {repo_id}/{inner}: only layer_N folders of -res/-mlp repositories are read")
    if kind == "att":
        raise InputError(f"Gemma Scope SAE {repo_id}/{inner}: attention SAEs read hook_z (per head), not supported")
    return f"blocks.{m.group(1)}.hook_resid_post" if kind == "res" else f"blocks.{m.group(1)}.hook_mlp_out"


def convert_gemma_scope(folder: Path, repo_id: str, inner: str, model: str | None) -> Path:
    """Gemma Scope's ``params.npz`` (JumpReLU: W_enc [d_in, d_sae], W_dec, b_enc, b_dec, threshold; no b_dec
    subtraction, no input normalisation) rewritten once into the SAELens layout in autointerp's cache, then read by
    the same SAELens reader as every other checkpoint."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    hook = _gemma_scope_hook(repo_id, inner)
    npz = folder / "params.npz"
    if not npz.is_file():
        raise InputError(f"Gemma Scope SAE {repo_id}/{inner}: params.npz missing")

    def build(dest: Path) -> None:
        with np.load(npz, allow_pickle=False) as data:
            tensors = {("W_" + k[2:] if k.startswith("w_") else k): torch.tensor(data[k], dtype=torch.float32)
                       for k in data.files}
        missing = {"W_enc", "W_dec", "b_enc", "b_dec", "threshold"} - tensors.keys()
        if missing:
            raise InputError(f"Gemma Scope SAE {repo_id}/{inner}: params.npz lacks {', '.join(sorted(missing))}")
        scale = tensors.pop("scaling_factor", None)
        if scale is not None and not torch.allclose(scale, torch.ones_like(scale)):
            raise InputError(f"Gemma Scope SAE {repo_id}/{inner}: a non-unit scaling_factor is not supported")
        d_in, d_sae = tensors["W_enc"].shape
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(dest / "sae_weights.safetensors"))
        cfg = {"architecture": "jumprelu", "d_in": d_in, "d_sae": d_sae, "dtype": "float32", "device": "cpu",
               "apply_b_dec_to_input": False, "normalize_activations": "none", "hook_name": hook,
               "model_name": model}
        (dest / "cfg.json").write_text(json.dumps(cfg, indent=2))
        (dest / "SOURCE.txt").write_text(f"converted from the gemma_2 params.npz of {repo_id}/{inner}\n")

    name = re.sub(r"[^\w.-]+", "--", f"{repo_id}/{inner}")
    return cached_artifact("saes", name, build, version="gemma_2-1")


CONVERSIONS = {"gemma_2": convert_gemma_scope}  # SAELens conversion_func -> our converter
