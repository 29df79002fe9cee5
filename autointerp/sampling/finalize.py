"""Turn a streaming SamplerState into a SampleSet: output levels over [0, final max], one flat entry table.

Per unit and split the table holds, in this order: the top-k (value descending),
the quantile contexts (level ascending, random order within a level, top-k
windows excluded so a window appears once, as 'top') and the random
non-activating contexts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from autointerp.errors import ConfigError
from autointerp.sampling.keys import EMPTY, reservoir_priority
from autointerp.sampling.reservoir import Reservoir
from autointerp.sampling.sampleset import KINDS, SampleSet
from autointerp.sampling.state import SPLITS, SamplerState

_CHUNK = 4096  # units per chunk when comparing quantile windows with top-k windows


@dataclass
class _Part:
    """Selected entries of one reservoir, as flat arrays."""

    res: Reservoir
    row: torch.Tensor
    slot: torch.Tensor
    unit: torch.Tensor
    split: int
    kind: int
    level: torch.Tensor
    pos: torch.Tensor  # order within (unit, split, kind)


def levels(values: torch.Tensor, unit_max: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Output level of each window max: n_bins equal bins over [0, unit max]."""
    scaled = values.to(torch.float64) / unit_max.to(torch.float64).clamp(min=torch.finfo(torch.float64).tiny) * n_bins
    return scaled.floor().to(torch.int64).clamp_(0, n_bins - 1)


def _sorted_part(res: Reservoir, unit_max: torch.Tensor, split: int, kind: str, n_bins: int) -> _Part:
    """Every kept entry of a per-unit reservoir, best priority first."""
    order = res.prio.argsort(dim=1, stable=True)
    keep = res.prio.gather(1, order) != EMPTY
    unit, pos = keep.nonzero(as_tuple=True)
    slot = order[unit, pos]
    value = res.value[unit, slot]
    level = levels(value, unit_max[unit], n_bins) if kind != "random" else torch.full_like(unit, -1)
    return _Part(res, unit, slot, unit, split, KINDS.index(kind), level, pos)


def _quantile_parts(state: SamplerState, split: int) -> list[_Part]:
    """Per output level, the per_bin grid entries of smallest random priority (top-k windows excluded).

    Candidates are every grid bin's random sample, then (only to fill a level the
    samples left short) the grid bins' lowest and highest windows.
    """
    cfg, U = state.config, state.n_units
    G, P, n_bins = cfg.grid_bins, cfg.per_bin, cfg.n_bins
    bins, low, high, top = state.bins[split], state.low[split], state.high[split], state.topk[split]
    low_dup = (low.window == bins.window).any(dim=1)
    high_dup = (high.window == bins.window).any(dim=1) | (high.window[:, 0] == low.window[:, 0])
    window = torch.cat([bins.window.view(U, G * P), low.window.view(U, G), high.window.view(U, G)], dim=1)
    value = torch.cat([bins.value.view(U, G * P), low.value.view(U, G), high.value.view(U, G)], dim=1)
    n_cols = window.shape[1]
    rand = reservoir_priority(cfg.seed, window.clamp(min=0).flatten().numpy()).view(U, n_cols)
    invalid = window < 0
    invalid[:, G * P:] |= torch.cat([low_dup.view(U, G), high_dup.view(U, G)], dim=1)
    for start in range(0, U, _CHUNK):
        stop = start + _CHUNK
        invalid[start:stop] |= (window[start:stop].unsqueeze(2) == top.window[start:stop].unsqueeze(1)).any(dim=2)
    lvl = torch.where(invalid, n_bins, levels(value, state.max.unsqueeze(1), n_bins))
    fallback = (torch.arange(n_cols) >= G * P).to(torch.int8).expand(U, -1)
    order = rand.argsort(dim=1, stable=True)
    order = order.gather(1, fallback.gather(1, order).argsort(dim=1, stable=True))
    order = order.gather(1, lvl.gather(1, order).argsort(dim=1, stable=True))
    lv = lvl.gather(1, order)
    pos = torch.arange(n_cols).expand(U, -1)
    starts = torch.ones_like(lv, dtype=torch.bool)
    starts[:, 1:] = lv[:, 1:] != lv[:, :-1]
    rank = pos - torch.where(starts, pos, 0).cummax(dim=1).values
    unit, col = ((rank < P) & (lv < n_bins)).nonzero(as_tuple=True)
    src, level = order[unit, col], lv[unit, col]
    kind = KINDS.index("quantile")
    parts = []
    for res, lo, hi, per_row in ((bins, 0, G * P, P), (low, G * P, G * P + G, 1), (high, G * P + G, n_cols, 1)):
        sel = (src >= lo) & (src < hi)
        c = src[sel] - lo
        row = unit[sel] * G + c // per_row
        parts.append(_Part(res, row, c % per_row, unit[sel], split, kind, level[sel], col[sel]))
    return parts


def finalize(state: SamplerState, *, basis: str, unit_ids: Sequence[int]) -> SampleSet:
    """Select the output contexts of every unit and pack them with the statistics and window tokens."""
    ids = np.asarray(list(unit_ids), dtype=np.int64)
    if ids.shape != (state.n_units,):
        raise ConfigError(f"unit_ids: expected {state.n_units} ids (one per source column), got {ids.size}")
    if ids.size and ids.min() < 0:
        raise ConfigError(f"unit_ids: expected non-negative unit indices, got {int(ids.min())}")
    n_bins = state.config.n_bins
    parts: list[_Part] = []
    for split in SPLITS:
        parts.append(_sorted_part(state.topk[split], state.max, split, "top", n_bins))
        parts.extend(_quantile_parts(state, split))
        parts.append(_sorted_part(state.random[split], state.max, split, "random", n_bins))

    cat = lambda f: torch.cat([f(p) for p in parts])  # noqa: E731
    unit = cat(lambda p: p.unit)
    split = cat(lambda p: torch.full_like(p.unit, p.split))
    kind = cat(lambda p: torch.full_like(p.unit, p.kind))
    pos = cat(lambda p: p.pos)
    order = torch.from_numpy(np.lexsort((pos.numpy(), kind.numpy(), split.numpy(), unit.numpy())))
    width = max(r.width for r in state.reservoirs())
    acts = []
    for p in parts:
        a = p.res.acts[p.row, p.slot]
        acts.append(torch.nn.functional.pad(a, (0, width - a.shape[1])))
    entries = {
        "unit": unit[order],
        "split": split[order].to(torch.int8),
        "kind": kind[order].to(torch.int8),
        "level": cat(lambda p: p.level)[order],
        "window": cat(lambda p: p.res.window[p.row, p.slot])[order],
        "value": cat(lambda p: p.res.value[p.row, p.slot])[order],
        "length": cat(lambda p: p.res.length[p.row, p.slot])[order],
        "acts": torch.cat(acts)[order],
    }
    stats = {
        "n_active_tokens": state.n_active_tokens.clone(),
        "n_active_windows": state.n_active_windows.clone(),
        "max": state.max.clone(),
        "sum": state.sum.clone(),
        "sum_active": state.sum_active.clone(),
        "hist": state.hist.clone(),
        "exp": state.exp.clone(),
    }
    used = set(entries["window"].unique().tolist())
    windows = {i: state.windows[i] for i in sorted(used) if i in state.windows}
    return SampleSet(config=state.config, basis=basis, unit_ids=ids, n_tokens=state.n_tokens,
                     n_windows=state.n_windows, stats=stats, entries=entries, windows=windows)
