"""SampleSet: the sampler's output for every unit, saved compactly and reloaded exactly.

On disk (a folder, e.g. ``<run>/samples/``):

* ``index.json``: schema version, basis, sampler config, unit ids, corpus
  counts and the doc id of every kept window;
* ``samples.safetensors``: the entry table (one row per kept context: unit
  column, split, kind, level, window, max value, length, per-token
  activations), per-unit statistics, and the token ids of every kept window.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from autointerp.activations.source import TokenWindow
from autointerp.errors import InputError
from autointerp.sampling.config import SamplerConfig
from autointerp.sampling.tokens import TokenDecoder, TokenStrings
from autointerp.types import Context, UnitId, UnitSamples, UnitStats

KINDS = ("top", "quantile", "random")
SPLIT_NAMES = ("explain", "heldout")
FORMAT_VERSION = 2  # 2: level edges stored per unit (quantile bins), random windows drawn from every window
INDEX_FILE, TENSOR_FILE = "index.json", "samples.safetensors"
ENTRY_FIELDS = ("unit", "split", "kind", "level", "window", "value", "length", "acts")
STAT_FIELDS = ("n_active_tokens", "n_active_windows", "max", "sum", "sum_active", "hist", "exp", "edges")


@dataclass
class SampleSet:
    """Kept contexts and statistics of every sampled unit of one basis."""

    config: SamplerConfig
    basis: str  # e.g. 'sae:my_sae' or 'neurons:layers.3.mlp'
    unit_ids: np.ndarray  # [U] int64: the unit index of each source column
    n_tokens: int  # tokens seen in the pass
    n_windows: int  # windows seen in the pass
    stats: dict[str, torch.Tensor]  # per unit column, see STAT_FIELDS
    entries: dict[str, torch.Tensor]  # flat entry table sorted by (unit, split, kind, rank), see ENTRY_FIELDS
    windows: dict[int, TokenWindow]  # tokens of every window an entry refers to

    def __post_init__(self) -> None:
        counts = torch.bincount(self.entries["unit"], minlength=len(self.unit_ids))
        self._offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]).tolist()
        self._column = {int(u): c for c, u in enumerate(self.unit_ids)}

    # ---------------------------------------------------------------- access
    @property
    def units(self) -> list[UnitId]:
        return [UnitId(basis=self.basis, index=int(i)) for i in self.unit_ids]

    def column(self, unit: UnitId | int) -> int:
        """Source column of a unit (a UnitId of this basis, or a unit index)."""
        if isinstance(unit, UnitId):
            if unit.basis != self.basis:
                raise InputError(f"unit {unit.key}: this sample set holds basis {self.basis!r}")
            unit = unit.index
        try:
            return self._column[int(unit)]
        except KeyError:
            raise InputError(f"unit {unit} of basis {self.basis!r} was not sampled") from None

    def unit_stats(self, unit: UnitId | int) -> UnitStats:
        """Activation statistics of one unit over the whole pass."""
        return self._stats(self.column(unit))

    def bin_edges(self, unit: UnitId | int) -> tuple[float, ...]:
        """Edges of the output activation levels (n_bins + 1): the threshold, the level boundaries, the max.

        ``bins: width``: equal width over [threshold * max, max]; ``bins: quantile``: the held-out split's
        equal-count cut points (all 0 for a dead unit).
        """
        return self._edges(self.column(unit))

    def _stats(self, c: int) -> UnitStats:
        s, H = self.stats, self.config.hist_bins
        n_active, n_windows_active = int(s["n_active_tokens"][c]), int(s["n_active_windows"][c])
        counts = s["hist"][c]
        if n_active:
            last = int(counts.nonzero().max())
            width = 2.0 ** int(s["exp"][c]) / H
            edges = tuple(i * width for i in range(last + 2))
            counts_out = tuple(int(x) for x in counts[: last + 1])
        else:
            edges, counts_out = (0.0,), ()
        flags: tuple = ()
        if n_active == 0:
            flags = ("dead",)
        elif n_windows_active < self.config.rare_threshold:
            flags = ("rare",)
        mx = float(s["max"][c]) if self.n_tokens else 0.0
        return UnitStats(
            n_tokens=self.n_tokens,
            n_windows=self.n_windows,
            n_active_tokens=n_active,
            n_active_windows=n_windows_active,
            firing_frequency=n_active / self.n_tokens if self.n_tokens else 0.0,
            max_activation=mx,
            mean_activation=float(s["sum"][c]) / self.n_tokens if self.n_tokens else 0.0,
            mean_active_activation=float(s["sum_active"][c]) / n_active if n_active else 0.0,
            histogram_edges=edges,
            histogram_counts=counts_out,
            flags=flags,
        )

    def _edges(self, c: int) -> tuple[float, ...]:
        return tuple(float(x) for x in self.stats["edges"][c])

    def unit_samples(self, unit: UnitId | int, token_strings: TokenStrings) -> UnitSamples:
        """The unit's explain and held-out contexts, tokens decoded with a tokenizer or vocabulary."""
        decode = token_strings if isinstance(token_strings, TokenDecoder) else TokenDecoder(token_strings)
        c = self.column(unit)
        lo, hi = self._offsets[c], self._offsets[c + 1]
        e = {k: v[lo:hi] for k, v in self.entries.items()}
        splits: tuple[list[Context], list[Context]] = ([], [])
        for i in range(hi - lo):
            w = int(e["window"][i])
            tw = self.windows.get(w)
            if tw is None:
                raise InputError(f"sample set has no tokens for window {w} (sampled without token windows)")
            n = int(e["length"][i])
            kind = KINDS[int(e["kind"][i])]
            splits[int(e["split"][i])].append(Context(
                context_id=f"{'r' if kind == 'random' else 'w'}{w}",  # a random window may also be a top/level one
                window_index=w,
                doc_id=tw.doc_id,
                tokens=decode(tw.token_ids[:n]),
                activations=tuple(e["acts"][i, :n].to(torch.float32).tolist()),
                kind=kind,
                level=int(e["level"][i]),
            ))
        uid = UnitId(basis=self.basis, index=int(self.unit_ids[c]))
        return UnitSamples(unit=uid, stats=self.unit_stats(uid), bin_edges=self.bin_edges(uid),
                           explain=tuple(splits[0]), heldout=tuple(splits[1]))

    # ------------------------------------------------------------------ disk
    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``index.json`` + ``samples.safetensors`` into folder (created; files replaced atomically)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        win_ids = sorted(self.windows)
        tokens = [self.windows[i].token_ids for i in win_ids]
        lengths = torch.tensor([len(t) for t in tokens], dtype=torch.int64)
        tensors = {f"entries.{k}": v.contiguous() for k, v in self.entries.items()}
        tensors |= {f"stats.{k}": v.contiguous() for k, v in self.stats.items()}
        tensors |= {
            "windows.index": torch.tensor(win_ids, dtype=torch.int64),
            "windows.offsets": torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)]),
            "windows.tokens": torch.tensor([t for ts in tokens for t in ts], dtype=torch.int64),
        }
        index = {
            "format_version": FORMAT_VERSION,
            "basis": self.basis,
            "config": self.config.model_dump(mode="json"),
            "unit_ids": [int(u) for u in self.unit_ids],
            "n_tokens": self.n_tokens,
            "n_windows": self.n_windows,
            "doc_ids": [self.windows[i].doc_id for i in win_ids],
        }
        tmp_t, tmp_i = folder / f".{TENSOR_FILE}.tmp", folder / f".{INDEX_FILE}.tmp"
        save_file(tensors, str(tmp_t))
        tmp_i.write_text(json.dumps(index), encoding="utf-8")
        os.replace(tmp_t, folder / TENSOR_FILE)
        os.replace(tmp_i, folder / INDEX_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> SampleSet:
        """Reload a saved sample set exactly."""
        folder = Path(folder)
        index_path, tensor_path = folder / INDEX_FILE, folder / TENSOR_FILE
        for p in (index_path, tensor_path):
            if not p.is_file():
                raise InputError(f"sample set: missing file {p}")
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            version = index["format_version"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"sample set: {index_path} is not a sample index ({exc})") from None
        if version != FORMAT_VERSION:
            raise InputError(f"sample set: {index_path} has format_version {version}, expected {FORMAT_VERSION}")
        try:
            t = load_file(str(tensor_path))
        except (SafetensorError, OSError) as exc:
            raise InputError(f"sample set: cannot read {tensor_path} ({exc})") from None
        missing = [f"entries.{k}" for k in ENTRY_FIELDS if f"entries.{k}" not in t]
        missing += [f"stats.{k}" for k in STAT_FIELDS if f"stats.{k}" not in t]
        if missing:
            raise InputError(f"sample set: {tensor_path} lacks tensor {missing[0]}")
        offsets, toks = t["windows.offsets"].tolist(), t["windows.tokens"].tolist()
        windows = {
            int(w): TokenWindow(index=int(w), doc_id=doc, token_ids=tuple(toks[offsets[j]: offsets[j + 1]]))
            for j, (w, doc) in enumerate(zip(t["windows.index"].tolist(), index["doc_ids"], strict=True))
        }
        return cls(
            config=SamplerConfig.model_validate(index["config"]),
            basis=index["basis"],
            unit_ids=np.asarray(index["unit_ids"], dtype=np.int64),
            n_tokens=int(index["n_tokens"]),
            n_windows=int(index["n_windows"]),
            stats={k: t[f"stats.{k}"] for k in STAT_FIELDS},
            entries={k: t[f"entries.{k}"] for k in ENTRY_FIELDS},
            windows=windows,
        )


def saved_differences(a: str | os.PathLike, b: str | os.PathLike, *, rtol: float = 1e-9,
                      atol: float = 1e-12) -> list[str]:
    """What differs between two saved sample sets: contexts, counts and levels must be equal exactly, float
    statistics (``stats.*``: sums, means) to ``rtol``/``atol`` (shards add the same floats in another order).
    Empty when they are the same result (what ``merge`` of shards must give against one process)."""
    a, b = Path(a), Path(b)
    if json.loads((a / "index.json").read_text()) != json.loads((b / "index.json").read_text()):
        return ["index.json"]
    ta, tb = load_file(str(a / "samples.safetensors")), load_file(str(b / "samples.safetensors"))
    if ta.keys() != tb.keys():
        return [f"tensors {sorted(ta.keys() ^ tb.keys())}"]
    out = []
    for key in sorted(ta):
        if ta[key].dtype.is_floating_point and key.startswith("stats."):
            same = ta[key].shape == tb[key].shape and torch.allclose(ta[key].double(), tb[key].double(), rtol=rtol,
                                                                     atol=atol)
        else:
            same = torch.equal(ta[key], tb[key])
        if not same:
            out.append(key)
    return out
