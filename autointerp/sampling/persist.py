"""Save and load a :class:`SamplerState` unfinalised, so shards sampled in separate processes merge exactly.

``autointerp sample --shard I/N`` writes ``state.pt`` beside its (shard-only) sample set; ``autointerp merge``
loads the shards, folds them with the sampler's own exact :meth:`SamplerState.merge` and finalises once.

The file holds only tensors, numbers, strings, lists and dicts (read back with ``torch.load(weights_only=True)``:
nothing is unpickled); objects are rebuilt from an allow-list of the sampler's own classes.
"""

from __future__ import annotations

import io
import os
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel

from autointerp.activations.source import TokenWindow
from autointerp.errors import InputError
from autointerp.sampling.config import SamplerConfig
from autointerp.sampling.reservoir import Reservoir
from autointerp.sampling.state import SamplerState

FORMAT = "autointerp.sampler_state/3"  # 3: reservoirs saved as their entries only (2: whole storage)
_CLASSES = {cls.__name__: cls for cls in (SamplerState, SamplerConfig, TokenWindow)}


def _encode(obj):
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return obj
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, (list, tuple)):
        return {"__seq__": type(obj).__name__, "items": [_encode(x) for x in obj]}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in obj.items()]}
    if type(obj) is Reservoir:  # its kept entries only, not the reserved per-token storage
        return {"__reservoir__": {k: _encode(v) for k, v in obj.to_entries().items()}}
    name = type(obj).__name__
    if _CLASSES.get(name) is not type(obj):
        raise TypeError(f"cannot save sampler state: unexpected {type(obj).__qualname__}")
    if isinstance(obj, BaseModel):
        return {"__model__": name, "data": obj.model_dump(mode="json")}
    if is_dataclass(obj):
        return {"__dataclass__": name, "vars": {f.name: _encode(getattr(obj, f.name)) for f in fields(obj)}}
    return {"__object__": name, "vars": {k: _encode(v) for k, v in vars(obj).items()}}


def _decode(node):
    if not isinstance(node, dict):
        return node
    if "__reservoir__" in node:
        return Reservoir.from_entries({k: _decode(v) for k, v in node["__reservoir__"].items()})
    if "__ndarray__" in node:
        return node["__ndarray__"].numpy()
    if "__seq__" in node:
        items = [_decode(x) for x in node["items"]]
        return tuple(items) if node["__seq__"] == "tuple" else items
    if "__dict__" in node:
        return {_decode(k): _decode(v) for k, v in node["__dict__"]}
    kind = next(k for k in ("__model__", "__dataclass__", "__object__") if k in node)
    cls = _CLASSES[node[kind]]
    if kind == "__model__":
        return cls.model_validate(node["data"])
    values = {k: _decode(v) for k, v in node["vars"].items()}
    if kind == "__dataclass__":
        return cls(**values)
    obj = cls.__new__(cls)
    obj.__dict__.update(values)
    return obj


def save_state(state: SamplerState, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write ``state`` (and JSON-able ``meta``: basis, unit ids, shard) to ``path`` atomically."""
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(state_bytes(state, meta))
    os.replace(tmp, out)
    return out


def load_state(path: str | os.PathLike) -> tuple[SamplerState, dict]:
    """Read a state written by :func:`save_state`; returns ``(state, meta)``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"sampler state {p} not found (expected a folder written by `autointerp sample --shard`)")
    try:
        return state_from_bytes(p.read_bytes())
    except InputError as exc:
        raise InputError(f"sampler state {p}: {exc}") from None


def state_bytes(state: SamplerState | list[SamplerState], meta: dict | None = None) -> bytes:
    """The same encoding in memory (what torch.distributed ranks send to rank 0; a list of states is allowed)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "meta": meta or {}, "state": _encode(state)}, buf)
    return buf.getvalue()


def state_from_bytes(data: bytes) -> tuple[SamplerState, dict]:
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file, whatever torch raises
        raise InputError(f"cannot read a sampler state ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise InputError(f"expected format {FORMAT!r}, got {got!r}")
    try:
        return _decode(blob["state"]), blob["meta"]
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, StopIteration) as exc:
        raise InputError(f"malformed sampler state ({type(exc).__name__}: {exc})") from None
