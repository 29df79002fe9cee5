"""A bare ``.safetensors`` file with ``W_enc [d_in, d_sae]``, ``b_enc``, ``W_dec [d_sae, d_in]``, ``b_dec`` (+ ``threshold``).

With no config, the encoding rests on assumptions, and the one-line summary states them: ReLU (JumpReLU
when a ``threshold`` tensor is present, TopK when ``k`` is given), ``b_dec`` subtracted from the input
(the SAELens, sparsify and dictionary_learning default), no input normalisation, no decoder-norm rescale.
Where the tensors leave the encoding ambiguous the file is refused: any other tensor name (it could be a
gate, a scaling factor, a threshold of another kind), and a JumpReLU with a non-zero ``b_dec`` (SAELens
subtracts it from the input, Gemma Scope's raw parameters do not), and a library's own weights file
(``sae_weights.safetensors``, ``sae.safetensors``) whose config is missing: its encoding is not guessed.
"""

from __future__ import annotations

from pathlib import Path

from autointerp.activations.sae import SparseAutoencoder, make_sae
from autointerp.activations.sae_io import SaeFormat, read_safetensors, take
from autointerp.errors import InputError

_TENSORS = {"W_enc", "b_enc", "W_dec", "b_dec", "threshold"}
# weights file names of libraries whose config says how they encode: never read as a bare file
_LIBRARY_WEIGHTS = {"sae_weights.safetensors": ("SAELens", "cfg.json"), "sae.safetensors": ("sparsify", "cfg.json")}


def plain_file(path: Path) -> Path | None:
    if path.is_file() and path.suffix == ".safetensors":
        return path
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    return files[0] if len(files) == 1 else None


def load_plain(path: Path, k: int | None = None, architecture: str | None = None) -> SparseAutoencoder:
    file = plain_file(path)
    if file is None:
        raise InputError(f"SAE {path}: expected one .safetensors file with W_enc, b_enc, W_dec, b_dec")
    library = _LIBRARY_WEIGHTS.get(file.name)
    if library is not None:
        raise InputError(
            f"SAE {file}: {library[0]} weights without their {library[1]} (expected beside it); the encoding "
            "(architecture, k, b_dec, input normalisation) is stated only there; refusing to guess"
        )
    t = read_safetensors(file)
    extra = set(t) - _TENSORS
    if extra:
        raise InputError(
            f"SAE {file}: bare tensor file with tensor(s) {', '.join(sorted(extra))} beyond "
            f"{', '.join(sorted(_TENSORS))}; without its library's config the encoding is ambiguous; refusing"
        )
    threshold = take(t, "threshold", file, False)
    arch = architecture or ("jumprelu" if threshold is not None else "topk" if k else "relu")
    b_dec = take(t, "b_dec", file, False)
    if arch == "jumprelu" and b_dec is not None and bool(b_dec.ne(0).any()):
        raise InputError(
            f"SAE {file}: bare JumpReLU tensors with a non-zero b_dec: whether b_dec is subtracted from the input "
            "is not stated (SAELens: yes, Gemma Scope: no); put a SAELens cfg.json beside it"
        )
    sae = make_sae(
        arch,
        take(t, "W_enc", file),
        take(t, "b_enc", file),
        take(t, "W_dec", file, False),
        b_dec,
        k=k,
        threshold=threshold,
        source=f"SAE {file}",
    )
    sae.summary = (
        f"bare safetensors {file.name}, no config: assumed {arch}{f' k={sae.k}' if sae.k else ''}, "
        "b_dec subtracted from the input, no input normalisation, no decoder-norm rescale, hook unknown"
    )
    return sae


FORMAT = SaeFormat(detect=lambda p: plain_file(p) is not None, load=load_plain)
