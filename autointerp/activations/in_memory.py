"""What a notebook has in memory, read as autointerp reads files: a loaded model, an SAE object, a corpus.

* :func:`subject_from_model` - a loaded ``transformers`` model and its tokenizer, as the :class:`SubjectModel`
  a model folder gives.
* :func:`dictionary_from_object` - an SAE object, read through the same audited readers as its checkpoint:

  ==========================  ===============================================================================
  SAELens ``SAE``              ``cfg`` (``to_dict()``) + a state dict with ``W_enc``: :func:`saelens_from_parts`
  sparsify ``Sae``             ``cfg`` + a state dict with ``encoder.weight``: :func:`sparsify_from_parts`
  dictionary_learning          its class (``AutoEncoder``, ``AutoEncoderTopK`` ...) + state dict:
                               :func:`dictionary_learning_from_parts` (with the loader's decoder normalisation)
  any ``nn.Module``            ``encode(x)`` as it is (:class:`ModuleDictionary`); ``W_dec`` or ``decode`` give
                               directions where a scorer needs them
  ==========================  ===============================================================================

  What cannot be read exactly is refused with one line, as for files.
* :func:`documents_from` - a corpus as an iterable of strings or a ``datasets.Dataset``.

Each comes with a label for the run's config (``memory:<what>@<fingerprint>``): the fingerprint is a hash of
the object's weights (for a model: of a fixed sample of every parameter), so stored results are reused only
for the same object.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn

from autointerp.activations.corpus import Document
from autointerp.activations.hook_names import map_hook
from autointerp.activations.memory import MEMORY
from autointerp.activations.models import SubjectModel, subject_of
from autointerp.activations.sae import Dictionary, IdentityDict, SparseAutoencoder
from autointerp.activations.sae_dictionary_learning import DICT_CLASSES, dictionary_learning_from_parts
from autointerp.activations.sae_saelens import saelens_from_parts
from autointerp.activations.sae_sparsify import sparsify_from_parts
from autointerp.errors import InputError


def _digest(h: hashlib._Hash, name: str, t: torch.Tensor) -> None:
    t = t.detach()
    h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def tensors_fingerprint(tensors: Mapping[str, torch.Tensor], extra: str = "") -> str:
    """A short hash of named tensors (names, dtypes, shapes and every value) and ``extra``."""
    h = hashlib.sha256(extra.encode())
    for name in sorted(tensors):
        _digest(h, name, tensors[name])
    return h.hexdigest()[:12]


MODEL_SAMPLE = 4096  # values hashed per parameter of a subject model (evenly strided; hashing 2B weights is slow)


def model_fingerprint(model: nn.Module) -> str:
    """A short hash of a model's config and a strided sample of every parameter (MODEL_SAMPLE values each)."""
    h = hashlib.sha256(str(getattr(model, "config", type(model).__name__)).encode())
    for name, p in model.state_dict().items():
        flat = p.detach().reshape(-1)
        step = max(1, flat.numel() // MODEL_SAMPLE)
        _digest(h, name, flat[::step][:MODEL_SAMPLE])
    return h.hexdigest()[:12]


# ---------------------------------------------------------------- model


def subject_from_model(model: nn.Module, tokenizer: object) -> tuple[SubjectModel, str]:
    """A loaded transformers model and its tokenizer as a :class:`SubjectModel`, with its config label."""
    if not isinstance(model, nn.Module):
        raise InputError(f"model: expected a name, a folder or a loaded transformers model, got {type(model).__name__}")
    if tokenizer is None or not callable(tokenizer):
        raise InputError(f"model {type(model).__name__}: a loaded model needs its tokenizer (tokenizer=...)")
    name = str(getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__)
    subject = subject_of(model, tokenizer, name)
    return subject, f"{MEMORY}{name}@{model_fingerprint(model)}"


# ---------------------------------------------------------------- dictionaries


def _config_dict(obj: object, where: str) -> dict:
    cfg = getattr(obj, "cfg", None)
    if hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    elif dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        cfg = dataclasses.asdict(cfg)
    if not isinstance(cfg, Mapping):
        raise InputError(f"{where}: expected a config with to_dict() or a dict, got {type(cfg).__name__}")
    return dict(cfg)


def _state(obj: object) -> dict[str, torch.Tensor]:
    """A detached copy of the object's tensors (a training loop that goes on does not change the run's SAE)."""
    sd = obj.state_dict() if hasattr(obj, "state_dict") else {}
    return {k: v.detach().clone() for k, v in sd.items() if isinstance(v, torch.Tensor)}


def _read_saelens(obj: object, name: str, sd: dict) -> SparseAutoencoder:
    return saelens_from_parts(
        _config_dict(obj, f"SAE object {name}"), sd, where=f"{name}.cfg", weights=f"{name}.state_dict()",
        source=f"SAE object {name}", scaler_where="part of the SAE object",
    )


def _read_sparsify(obj: object, name: str, sd: dict) -> SparseAutoencoder:
    cfg = _config_dict(obj, f"SAE object {name}")
    if getattr(obj, "d_in", None) is not None:
        cfg.setdefault("d_in", int(obj.d_in))  # as SparseCoder.save_to_disk writes it beside the config
    return sparsify_from_parts(
        cfg, sd, where=f"{name}.cfg", weights=f"{name}.state_dict()", source=f"SAE object {name}",
        hook_note="hookpoint unknown (a sparsify object does not state it)",
    )


def _read_dictionary_learning(obj: object, name: str, sd: dict) -> SparseAutoencoder:
    trainer = {"dict_class": name}
    for key, attr in (("activation_dim", "activation_dim"), ("dict_size", "dict_size")):
        if isinstance(getattr(obj, attr, None), int):
            trainer[key] = getattr(obj, attr)
    return dictionary_learning_from_parts(
        {"trainer": trainer}, sd, where=f"{name} (dictionary_learning class)", weights=f"{name}.state_dict()",
        source=f"SAE object {name}",
    )


def _reader(obj: object, sd: dict) -> Callable[[object, str, dict], SparseAutoencoder] | None:
    name = type(obj).__name__
    if getattr(obj, "cfg", None) is not None and "W_enc" in sd:
        return _read_saelens
    if getattr(obj, "cfg", None) is not None and "encoder.weight" in sd and "W_dec" in sd:
        return _read_sparsify
    if name in DICT_CLASSES:
        return _read_dictionary_learning
    return None


def dictionary_from_object(obj: object) -> tuple[Dictionary, str]:
    """An in-memory SAE as a :class:`Dictionary`, with its config label (``memory:<class>@<fingerprint>``)."""
    name = type(obj).__name__
    if isinstance(obj, SparseAutoencoder):  # autointerp's own (e.g. from load_sae or make_sae)
        return obj, f"{MEMORY}{name}@{tensors_fingerprint(obj._tensor_fields(), obj.summary)}"
    if isinstance(obj, IdentityDict):
        return obj, f"{MEMORY}{obj!r}"
    sd = _state(obj)
    reader = _reader(obj, sd)
    if reader is not None:
        sae = reader(obj, name, sd)
        sae.format = f"{reader.__name__.removeprefix('_read_')} object"
        cfg = getattr(obj, "cfg", None)
        return sae, f"{MEMORY}{name}@{tensors_fingerprint(sd, json.dumps(_plain(cfg), sort_keys=True, default=str))}"
    if isinstance(obj, nn.Module) and callable(getattr(obj, "encode", None)):
        module = ModuleDictionary(obj)
        return module, f"{MEMORY}{name}@{tensors_fingerprint(sd, name)}"
    raise InputError(
        f"sae: a {name} is not an SAE autointerp can read; expected a path or Hub spec, a SAELens SAE, a sparsify "
        "Sae, a dictionary_learning dictionary or an nn.Module with encode(x)"
    )


def stated_site(dictionary: Dictionary, model_type: str | None = None) -> str | None:
    """The autointerp site of the hook an SAE states (SAELens ``hook_name``), None when it states none we read."""
    hook = getattr(dictionary, "hook_name", None)
    if not hook:
        return None
    fmt = str(getattr(dictionary, "format", "") or "")
    return map_hook(hook, modules=fmt.startswith("sparsify"), transcode=bool(getattr(dictionary, "transcoder", False)),
                    model_type=model_type).site


def _plain(cfg: object) -> object:
    if cfg is None:
        return None
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    return cfg


def _int_attr(obj: object, name: str) -> int | None:
    for holder in (obj, getattr(obj, "cfg", None)):
        value = getattr(holder, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class ModuleDictionary:
    """Any ``nn.Module`` with ``encode(x) -> [..., d_sae]``, encoded exactly as it encodes itself.

    Widths come from ``d_in`` / ``d_sae`` attributes (or ``cfg.d_in`` / ``cfg.d_sae``), else from ``W_dec``
    ``[d_sae, d_in]``; ``d_sae`` can also be found by encoding one zero vector. Directions (logit tokens, output
    evidence, steering) come from ``W_dec`` rows, else from ``decode``; a module with neither has none. The module
    is never moved or changed: inputs go to its device and dtype, outputs come back as float32."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.source = f"SAE object {type(module).__name__}"
        W_dec = getattr(module, "W_dec", None)
        W_dec = W_dec if isinstance(W_dec, torch.Tensor) and W_dec.ndim == 2 else None
        d_in = _int_attr(module, "d_in") or (int(W_dec.shape[1]) if W_dec is not None else None)
        if d_in is None:
            raise InputError(
                f"{self.source}: cannot tell the width it reads; give it a d_in attribute or W_dec [d_sae, d_in]"
            )
        self.d_in = d_in
        d_sae = _int_attr(module, "d_sae") or (int(W_dec.shape[0]) if W_dec is not None else None)
        self.d_sae = d_sae if d_sae is not None else int(self._encode(torch.zeros(1, d_in)).shape[-1])
        if W_dec is not None and tuple(W_dec.shape) != (self.d_sae, self.d_in):
            W_dec = None  # another orientation: directions come from decode
        self.W_dec = W_dec
        self.has_directions = W_dec is not None or callable(getattr(module, "decode", None))
        self.hook_name = None
        self.format = "module"
        self.summary = f"module {type(module).__name__}: its own encode(x), d_in {self.d_in} d_sae {self.d_sae}"

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        p = next(self.module.parameters(), None)
        if p is not None:
            x = x.to(device=p.device, dtype=p.dtype)
        with torch.no_grad():
            f = self.module.encode(x)
        if not isinstance(f, torch.Tensor):
            raise InputError(f"{self.source}: encode(x) returned {type(f).__name__}, expected a tensor [..., d_sae]")
        return f

    def encode(self, x: torch.Tensor, units: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        if x.shape[-1] != self.d_in:
            raise InputError(f"{self.source} expects activations of width {self.d_in}, got {x.shape[-1]}")
        f = self._encode(x).float().to(x.device)
        if f.shape[-1] != self.d_sae:
            raise InputError(f"{self.source}: encode(x) gave width {f.shape[-1]}, expected d_sae {self.d_sae}")
        if units is None:
            return f
        return f.index_select(-1, torch.as_tensor(units, dtype=torch.long, device=f.device))

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        decode = getattr(self.module, "decode", None)
        if callable(decode):
            with torch.no_grad():
                return decode(f).float()
        if self.W_dec is not None:
            b_dec = getattr(self.module, "b_dec", None)
            y = f.float() @ self.W_dec.detach().float().to(f.device)
            return y + b_dec.detach().float().to(f.device) if isinstance(b_dec, torch.Tensor) else y
        raise InputError(f"{self.source} has no W_dec and no decode(f); this scorer needs the units' directions")

    def write_direction(self, unit: int) -> torch.Tensor:
        """Row ``unit`` of ``W_dec``, else ``decode(e_unit) - decode(0)``."""
        if self.W_dec is not None:
            return self.W_dec[int(unit)].detach().float().cpu()
        one = torch.zeros(self.d_sae)
        one[int(unit)] = 1.0
        return (self.decode(one) - self.decode(torch.zeros(self.d_sae))).float().cpu()

    def __repr__(self) -> str:
        return f"ModuleDictionary({type(self.module).__name__}, d_in={self.d_in}, d_sae={self.d_sae})"


# ---------------------------------------------------------------- corpus


def _is_dataset(obj: object) -> bool:
    return type(obj).__module__.startswith("datasets") and hasattr(obj, "column_names") and hasattr(obj, "__len__")


def documents_from(corpus: object, text_field: str = "text") -> tuple[Callable[[], Iterator[Document]], str]:
    """An in-memory corpus (strings, or a ``datasets.Dataset`` with text in ``text_field``) as a document source
    (a fresh pass per call) and its config label. A one-shot iterator is read into a list once."""
    if _is_dataset(corpus):
        if text_field not in corpus.column_names:
            raise InputError(
                f"corpus dataset: no column {text_field!r} (text_field); columns: {', '.join(corpus.column_names)}"
            )
        fingerprint = getattr(corpus, "_fingerprint", None) or "unknown"

        def rows() -> Iterator[Document]:
            for i, text in enumerate(row[text_field] for row in corpus):
                if not isinstance(text, str):
                    raise InputError(f"corpus dataset row {i}: {text_field!r} is {type(text).__name__}, not a string")
                if text.strip():  # blank documents skipped, as from a file
                    yield Document(f"row:{i}", text)

        return rows, f"{MEMORY}dataset-{len(corpus)}@{str(fingerprint)[:12]}"
    if isinstance(corpus, (str, bytes)) or not isinstance(corpus, Iterable):
        raise InputError(f"corpus: expected a name, a path, an iterable of strings or a datasets.Dataset, got "
                         f"{type(corpus).__name__}")
    texts = list(corpus)
    h = hashlib.sha256()
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"corpus: item {i} is {type(text).__name__}, expected a string")
        h.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    if not any(t.strip() for t in texts):
        raise InputError(f"corpus: the {len(texts)} strings given are all blank" if texts else "corpus: no strings")

    def docs() -> Iterator[Document]:
        return (Document(f"text:{i}", t) for i, t in enumerate(texts) if t.strip())  # blank ones skipped, as in files

    return docs, f"{MEMORY}texts-{len(texts)}@{h.hexdigest()[:12]}"
