"""Turn a streaming SamplerState into a SampleSet: output levels, one flat entry table.

The context mix (the same rule for every unit, sparse feature or dense signed neuron):

* a window's value is its max activation (after ``signed``: ReLU reading or ``|a|``); the unit's max ``M`` is the
  largest value; the threshold is ``tau = threshold * M``. Windows with value ``<= tau`` (or ``<= 0``) are
  *below threshold*, level -1.
* ``top``: the ``top_k`` windows of largest value above the threshold, exact.
* ``quantile``: per activation level ``0..n_bins-1``, ``min(per_bin, eligible)`` windows of that level that are not
  top-k windows (every level holding an activating window is represented by a top or quantile context).
  ``bins: width`` levels are equal-width over ``(tau, M]``; each is filled first from the grid cells' uniform
  samples, then from the cells' lowest/highest windows (which guarantees the count whenever the level holds that
  many windows). ``bins: quantile`` levels are equal-count: a uniform sample of ``n_bins * per_bin`` of the split's
  activating non-top windows, sorted by value and cut into ``n_bins`` groups (delphi cuts all activating windows;
  a uniform sample cut the same way has the same expected levels). Its cut points are the sample's order statistics.
* ``random``: ``n_random`` windows drawn uniformly from the split, whatever their activation (OpenAI's definition);
  the same windows for every unit. Their level is whatever their value says (-1 below threshold).

Per unit and split the table holds, in this order: the top-k (value descending), the quantile contexts (level
ascending) and the random contexts (random order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from autointerp.errors import ConfigError
from autointerp.sampling.keys import EMPTY, SPLITS, bottom_priority, reservoir_priority
from autointerp.sampling.reservoir import Reservoir
from autointerp.sampling.sampleset import KINDS, SampleSet
from autointerp.sampling.state import SamplerState


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


def width_edges(unit_max: torch.Tensor, threshold: float, n_bins: int) -> torch.Tensor:
    """[U, n_bins + 1] float64 edges of equal-width levels over [threshold * max, max]."""
    top = unit_max.to(torch.float64).clamp(min=0).unsqueeze(1)
    tau = threshold * top
    return tau + (top - tau) * torch.arange(n_bins + 1, dtype=torch.float64) / n_bins


def assign_levels(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Level of each value given its row of edges (values [N] or [N, K], edges [N, n+1]): -1 at or below edges[0]
    (the threshold) or at or below 0, else the number of inner edges <= value (0..n-1)."""
    flat = values.ndim == 1
    v = (values.unsqueeze(1) if flat else values).to(torch.float64).contiguous()
    lvl = torch.searchsorted(edges[:, 1:-1].contiguous(), v, right=True)
    lvl = torch.where((v <= edges[:, :1]) | (v <= 0), torch.full_like(lvl, -1), lvl)
    return lvl.squeeze(1) if flat else lvl


def _sorted_part(res: Reservoir, edges: torch.Tensor, split: int, kind: str, keep_below: bool) -> _Part:
    """Every kept entry of a per-unit reservoir, best priority first (below-threshold ones only if keep_below)."""
    order = res.prio.argsort(dim=1, stable=True)
    keep = res.prio.gather(1, order) != EMPTY
    unit, pos = keep.nonzero(as_tuple=True)
    slot = order[unit, pos]
    level = assign_levels(res.value[unit, slot], edges[unit])
    if not keep_below:
        ok = level >= 0
        unit, pos, slot, level = unit[ok], pos[ok], slot[ok], level[ok]
    return _Part(res, unit, slot, unit, split, KINDS.index(kind), level, pos)


def _width_parts(state: SamplerState, split: int, edges: torch.Tensor) -> list[_Part]:
    """Per level, per_bin cell entries: the cells' random samples first (by priority), then the cells' extremes.

    Works on the flat list of kept entries (most cells of most units are empty), sorted once with numpy.
    """
    cfg = state.config
    G, P = cfg.grid_bins, cfg.per_bin
    blocks = (state.bins[split], state.low[split], state.high[split])
    found = [res.entries() for res in blocks]
    row = torch.cat([r for r, _ in found])
    slot = torch.cat([s for _, s in found])
    block = torch.cat([torch.full_like(r, b) for b, (r, _) in enumerate(found)])
    window = torch.cat([res.window[r, s] for res, (r, s) in zip(blocks, found, strict=True)])
    value = torch.cat([res.value[r, s] for res, (r, s) in zip(blocks, found, strict=True)])
    unit = row // G
    cls = (block > 0).to(torch.int64)  # 0: a cell's random sample, 1: a cell's extreme
    u_np, w_np, c_np = unit.numpy(), window.numpy(), cls.numpy()
    # one copy per (unit, window): the same window can sit in a cell's sample and its extremes; keep the sample's
    order = np.lexsort((c_np, w_np, u_np))
    dup_sorted = np.zeros(order.size, dtype=bool)
    dup_sorted[1:] = (u_np[order][1:] == u_np[order][:-1]) & (w_np[order][1:] == w_np[order][:-1])
    dup = np.empty_like(dup_sorted)
    dup[order] = dup_sorted
    level = assign_levels(value, edges[unit]).numpy()
    keep = ~dup & (level >= 0)
    idx = np.nonzero(keep)[0]
    rand = reservoir_priority(cfg.seed, w_np[idx]).numpy()
    order = idx[np.lexsort((rand, c_np[idx], level[idx], u_np[idx]))]
    uu, lv = u_np[order], level[order]
    starts = np.ones(order.size, dtype=bool)
    starts[1:] = (uu[1:] != uu[:-1]) | (lv[1:] != lv[:-1])
    pos = np.arange(order.size)
    rank = pos - np.maximum.accumulate(np.where(starts, pos, 0))
    chosen = torch.from_numpy(order[rank < P])
    pos_t = torch.from_numpy(pos[rank < P])
    parts = []
    for b, res in enumerate(blocks):
        sel = block[chosen] == b
        c = chosen[sel]
        parts.append(_Part(res, row[c], slot[c], unit[c], split, KINDS.index("quantile"),
                           torch.from_numpy(level)[c], pos_t[sel]))
    return parts


def _quantile_parts(state: SamplerState, split: int, unit_max: torch.Tensor) -> tuple[list[_Part], torch.Tensor]:
    """Equal-count levels of the split's pool (a uniform sample of its activating non-top windows), and the edges:
    threshold, the lowest value of each level 1..n-1, max (equal-width edges where the pool is empty)."""
    cfg, U = state.config, state.n_units
    n_bins, pool = cfg.n_bins, state.bins[split]
    valid = pool.window >= 0
    key = torch.where(valid, bottom_priority(pool.value.clamp(min=0), pool.window.clamp(min=0)), EMPTY)
    order = key.argsort(dim=1, stable=True)  # value ascending, then window index
    m = valid.sum(dim=1, keepdim=True)
    rank = torch.arange(pool.slots).expand(U, -1)
    level = torch.div(rank * n_bins, m.clamp(min=1), rounding_mode="floor")
    unit, col = (rank < m).nonzero(as_tuple=True)
    slot = order[unit, col]
    edges = width_edges(unit_max, 0.0, n_bins)
    sorted_values = pool.value.gather(1, order).to(torch.float64)
    for j in range(1, n_bins):
        first = torch.ceil(torch.tensor(j, dtype=torch.float64) * m.squeeze(1) / n_bins).to(torch.int64)
        has = first < m.squeeze(1)
        cut = sorted_values.gather(1, first.clamp(max=pool.slots - 1).unsqueeze(1)).squeeze(1)
        edges[:, j] = torch.where(has, cut, torch.where(m.squeeze(1) > 0, edges[:, -1], edges[:, j]))
    part = _Part(pool, unit, slot, unit, split, KINDS.index("quantile"), level[unit, col], col)
    return [part], edges


def finalize(state: SamplerState, *, basis: str, unit_ids: Sequence[int]) -> SampleSet:
    """Select the output contexts of every unit and pack them with the statistics and window tokens."""
    ids = np.asarray(list(unit_ids), dtype=np.int64)
    if ids.shape != (state.n_units,):
        raise ConfigError(f"unit_ids: expected {state.n_units} ids (one per source column), got {ids.size}")
    if ids.size and ids.min() < 0:
        raise ConfigError(f"unit_ids: expected non-negative unit indices, got {int(ids.min())}")
    cfg = state.config
    unit_max = state.max.clamp(min=0)
    parts: list[_Part] = []
    edges = width_edges(unit_max, cfg.threshold, cfg.n_bins)
    for split in SPLITS:
        if cfg.bins == "width":
            levels = _width_parts(state, split, edges)
        else:  # cut points per split; the held-out split's (the scored one) are reported as the unit's edges
            levels, edges = _quantile_parts(state, split, unit_max)
        parts.append(_sorted_part(state.topk[split], edges, split, "top", keep_below=False))
        parts.extend(levels)
        parts.append(_sorted_part(state.random[split], edges, split, "random", keep_below=True))

    cat = lambda f: torch.cat([f(p) for p in parts])
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
        "edges": edges.clone(),
    }
    used = set(entries["window"].unique().tolist())
    windows = {i: state.windows[i] for i in sorted(used) if i in state.windows}
    return SampleSet(config=state.config, basis=basis, unit_ids=ids, n_tokens=state.n_tokens,
                     n_windows=state.n_windows, stats=stats, entries=entries, windows=windows)
