"""SamplerState: the per-unit streaming state of one pass over the corpus.

Design (a unit's max activation is only known at the end of the pass):

* Every window has a deterministic key ``splitmix64(seed, window_index)``
  (:mod:`autointerp.sampling.keys`); it decides the explain/held-out split and
  the window's random priority. Nothing depends on arrival order.
* ``signed: abs`` replaces every activation by its absolute value before
  anything else, so the unit is |a| for statistics, samples and contexts;
  ``relu`` (default) keeps raw values and calls a window active when its max is > 0.
* Top-k: a reservoir per unit and split whose priority is (value desc, window
  asc), an exact top-k whatever the order. Entries it pushes out (and, in a
  merge, the other shard's entries it does not take) are offered to the level
  samples; a window it takes is not. Since the top-k's bar only rises, the level
  samples see exactly the active windows that are not in the final top-k,
  whatever the order: a level's contexts are never lost to top-k duplicates.
* Activation levels, ``bins: width``: a streaming grid of ``grid_bins``
  (``ceil(2 * n_bins / (1 - threshold))``) equal cells over
  ``[0, 2**e)``, where ``2**e`` is the smallest power of two above the running
  max. When the max crosses ``2**e`` the grid doubles (or more): cell ``g``
  becomes cell ``g >> d``, an exact merge because every edge of the wider grid
  is an edge of the narrower one. Each cell keeps the ``per_bin`` entries of smallest
  random priority ("bottom-k"), which is a uniform sample of everything that fell in it, and the
  union of bottom-k samples re-cut to k is the bottom-k of the union. So every
  cell's sample is exactly what one pass with the final grid would keep. At
  :meth:`finalize` the grid is re-cut into ``n_bins`` output levels of equal width
  over ``[threshold * max, max]``, taking the smallest priorities among kept entries.
  A cell is at most as wide as a level, so it straddles at most two levels; it
  also keeps its ``per_bin`` lowest and ``per_bin`` highest windows (exact,
  mergeable), so each side of a straddling cell holds ``min(per_bin, its
  windows)`` kept entries: every level gets ``min(per_bin, eligible windows)``
  contexts. The extremes only fill what the random samples left short.
* Activation levels, ``bins: quantile``: one bottom-k pool per unit of
  ``n_bins * per_bin`` active non-top windows (uniform, exact, mergeable), cut
  at :meth:`finalize` into ``n_bins`` equal-count groups by value.
* Random contexts: a bottom-k reservoir over *every* window (uniform, whatever
  the activation, with a priority stream of its own); its priority depends on
  the window only, so every unit gets the same random windows.
* Statistics: token/window counts, sums, max and a histogram of active tokens on
  the same doubling grid (``hist_bins`` bins), so counts merge exactly.
* Splits: every reservoir exists once per split, so each split has contexts at
  every level; a window belongs to exactly one split.
* Per-token activations of kept entries are stored with them (float16 by
  default): no second pass over the corpus is needed. Memory is
  ``O(units x kept contexts x window)`` and does not grow with the corpus; the
  tokens of windows that hold any kept entry are kept too, pruned as entries
  are evicted. The per-token storage is allocated but not initialised: only
  slots that receive an entry are ever mapped. Measured (benchmarks/sampling.py,
  16,384 TopK features, 64-token windows, 30,000 tokens): 1,573 MiB of state
  reserved, peak RSS of the whole benchmark (model included) 1.74 GiB; the update
  costs about 35 ms per 1,024 tokens (1.0-1.1 s of a 7.4-8.4 s pass), against a re-gathering
  second pass that would re-run the forward on nearly every window (with that many
  units, the kept windows cover almost the whole corpus).
* Batches come dense or as their non-zeros (:mod:`autointerp.sampling.batchview`);
  a TopK SAE's codes are never made dense. The result does not depend on how
  windows are grouped into batches, so the stream folds up to 64 windows at once.

Two states built from disjoint shards of the corpus :meth:`merge` into exactly
the state of one pass over both (sums of floats up to rounding). "Exact" here
means: every kept context and every level edge is a pure function of the set of
windows and the seed (no order, batch or shard dependence), and equals the
brute-force definition in :mod:`autointerp.sampling.finalize` (tested against it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from autointerp.activations.source import ActivationBatch, TokenWindow
from autointerp.errors import ConfigError, InputError
from autointerp.sampling.batchview import BatchView
from autointerp.sampling.config import SamplerConfig
from autointerp.sampling.keys import (
    SPLITS,
    bottom_priority,
    check_windows,
    heldout_mask,
    random_priority,
    reservoir_priority,
    top_priority,
)
from autointerp.sampling.reservoir import Evicted, Fetch, Reservoir

# The update runs with the process's intra-op threads: switching to one thread for it and back (as earlier
# versions did) cost the next forward pass its warm thread pool, and with 64-window folds two threads update
# faster (wall) than one (benchmarks/sampling.py).
NO_EXPONENT = -100_000  # exponent of a unit that never had a positive activation
_DTYPES = {"float16": torch.float16, "float32": torch.float32}


def exponent(x: torch.Tensor) -> torch.Tensor:
    """Smallest e with x < 2**e, for x > 0; NO_EXPONENT elsewhere."""
    e = torch.frexp(x.clamp(min=torch.finfo(torch.float32).tiny)).exponent.to(torch.int64)
    return torch.where(x > 0, e, torch.full_like(e, NO_EXPONENT))


def grid_bin(values: torch.Tensor, exp: torch.Tensor, n: int) -> torch.Tensor:
    """Bin of each positive value in a grid of n equal bins over [0, 2**exp).

    ``value * n`` (float32 times a small integer) and the power-of-two scaling
    are exact in float64, so ``grid_bin(v, e + d, n) == grid_bin(v, e, n) >> d``.
    """
    scaled = torch.ldexp(values.to(torch.float64) * n, (-exp).to(torch.float64))
    return scaled.floor().to(torch.int64).clamp_(0, n - 1)


def coarsen(hist: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Histogram rows [A, H] re-binned on a grid 2**shift times as wide (bin g -> g >> shift)."""
    idx = torch.arange(hist.shape[1]).unsqueeze(0) >> shift.clamp(max=62).unsqueeze(1)
    return torch.zeros_like(hist).scatter_add_(1, idx, hist)


class SamplerState:
    """Bounded per-unit state; ``update`` with batches, ``merge`` shards, ``finalize`` into a SampleSet."""

    def __init__(self, config: SamplerConfig, n_units: int):
        if n_units < 1:
            raise ConfigError(f"sampler needs at least one unit, got n_units={n_units}")
        self.config, self.n_units = config, n_units
        U, G, dtype = n_units, config.grid_bins, _DTYPES[config.acts_dtype]
        self.topk = [Reservoir(U, config.top_k, acts_dtype=dtype) for _ in SPLITS]
        # random sample per grid cell ('width') or one equal-count pool per unit ('quantile'); top-k windows excluded
        self.bins = [Reservoir(U * G, config.cell_slots, acts_dtype=dtype) for _ in SPLITS]
        extremes = SPLITS if config.bins == "width" else ()
        self.low = [Reservoir(U * G, config.per_bin, acts_dtype=dtype) for _ in extremes]  # lowest per_bin per cell
        self.high = [Reservoir(U * G, config.per_bin, acts_dtype=dtype) for _ in extremes]  # highest per_bin per cell
        self.random = [Reservoir(U, config.random_slots(s), acts_dtype=dtype) for s in SPLITS]  # uniform windows
        self.max = torch.full((U,), float("-inf"))  # running max activation (over real tokens)
        self.exp = torch.full((U,), NO_EXPONENT, dtype=torch.int64)  # grid top is 2**exp
        self.n_active_tokens = torch.zeros(U, dtype=torch.int64)
        self.n_active_windows = torch.zeros(U, dtype=torch.int64)
        self.sum = torch.zeros(U, dtype=torch.float64)
        self.sum_active = torch.zeros(U, dtype=torch.float64)
        self.hist = torch.zeros((U, config.hist_bins), dtype=torch.int64)
        self.n_tokens = 0
        self.n_windows = 0
        self.windows: dict[int, TokenWindow] = {}  # tokens of windows holding a kept entry
        self._live_windows = 0

    # ------------------------------------------------------------------ views
    def grid_reservoirs(self) -> list[Reservoir]:
        """Reservoirs with one row per (unit, grid bin)."""
        return [*self.bins, *self.low, *self.high]

    def reservoirs(self) -> list[Reservoir]:
        return [*self.topk, *self.grid_reservoirs(), *self.random]

    def nbytes(self) -> int:
        """Bytes held by the fixed-size tensors (independent of corpus length)."""
        tensors = (self.max, self.exp, self.n_active_tokens, self.n_active_windows, self.sum, self.sum_active,
                   self.hist)
        return sum(r.nbytes() for r in self.reservoirs()) + sum(t.nbytes for t in tensors)

    # ----------------------------------------------------------------- update
    def update(self, batch: ActivationBatch, windows: Sequence[TokenWindow] | None = None) -> None:
        """Consume one batch (dense or sparse); ``windows`` (aligned with the batch rows) supplies the tokens of
        kept windows. ``signed: abs`` makes the unit |activation| from here on (statistics, samples, contexts)."""
        store = _DTYPES[self.config.acts_dtype]
        limit = float(torch.finfo(store).max) if store == torch.float16 else None  # huge values stay finite in float16
        view = BatchView.of(batch, self.n_units, absolute=self.config.signed == "abs", limit=limit)
        if windows is not None and [tw.index for tw in windows] != [int(i) for i in batch.window_indices]:
            raise InputError("token windows do not match the batch's window_indices")
        self._update(view, batch.window_indices, windows)

    def _update(self, view: BatchView, window_indices: np.ndarray, windows: Sequence[TokenWindow] | None) -> None:
        wmax, gather = view.wmax, view.gather
        w_np = check_windows(window_indices)
        w = torch.from_numpy(w_np)
        lengths = view.mask.sum(dim=1)
        self._update_stats(view)

        prio = reservoir_priority(self.config.seed, w_np)
        rprio = random_priority(self.config.seed, w_np)
        held = heldout_mask(self.config.seed, w_np, self.config.heldout_fraction)
        kept_rows: list[torch.Tensor] = []
        for split in SPLITS:
            b = (held == bool(split)).nonzero().squeeze(1)
            if b.numel() == 0:
                continue
            m, wb, lb = wmax[b], w[b], lengths[b]
            active = m > 0

            def fetch(bi: torch.Tensor, ui: torch.Tensor, b: torch.Tensor = b) -> Fetch:
                return lambda t: gather(b[bi[t]], ui[t])

            ai, au = active.nonzero(as_tuple=True)
            top = top_priority(m[ai, au], wb[ai])
            c = (top < self.topk[split]._worst[au]).nonzero().squeeze(1)
            bi, ui = ai[c], au[c]
            evicted = Evicted()
            taken = self.topk[split].offer(ui, top[c], m[bi, ui], wb[bi], lb[bi], fetch(bi, ui), evicted)
            kept_rows.append(b[bi[taken]])
            rest = torch.ones(ai.numel(), dtype=torch.bool)
            rest[c[taken]] = False  # windows now in the top-k go to the levels only if evicted later
            bi, ui = ai[rest], au[rest]
            taken = self._offer_cells(split, ui, m[bi, ui], wb[bi], lb[bi], prio[b][bi], fetch(bi, ui))
            kept_rows.append(b[bi[taken]])
            self._offer_evicted(split, evicted)

            # every window, whatever its activation, with a priority of its own: every unit keeps the same windows
            taken = self.random[split].offer_shared(rprio[b], m, wb, lb,
                                                    lambda t, b=b: gather.windows(b[t]).permute(2, 0, 1))
            kept_rows.append(b[taken])

        if windows is not None and kept_rows:
            for row in torch.cat(kept_rows).unique().tolist():
                self.windows[int(w_np[row])] = windows[row]
            self._maybe_prune()

    def _offer_cells(self, split: int, unit: torch.Tensor, value: torch.Tensor, window: torch.Tensor,
                     length: torch.Tensor, prio: torch.Tensor, fetch: Fetch) -> torch.Tensor:
        """Offer active non-top-k windows to the level samples of their grid cell; indices of those kept."""
        G = self.config.grid_bins
        rows = unit * G + grid_bin(value, self.exp[unit], G)
        taken = [self.bins[split].offer(rows, prio, value, window, length, fetch)]
        if self.low:
            taken.append(self.low[split].offer(rows, bottom_priority(value, window), value, window, length, fetch))
            taken.append(self.high[split].offer(rows, top_priority(value, window), value, window, length, fetch))
        return torch.cat(taken).unique()

    def _offer_evicted(self, split: int, evicted: Evicted) -> None:
        """Entries pushed out of the top-k are no longer top-k windows: they join the level samples."""
        got = evicted.tensors()
        if got is not None:
            unit, value, window, length, acts = got
            prio = reservoir_priority(self.config.seed, window.numpy())
            self._offer_cells(split, unit, value, window, length, prio, lambda t: acts[t])

    def _update_stats(self, view: BatchView) -> None:
        """Counts, sums, max and histogram, from the window maxima and the batch's non-zeros (b, t, u, value)."""
        self.n_tokens += int(view.mask.sum())
        self.n_windows += int(view.shape[0])
        self.n_active_windows += (view.wmax > 0).sum(dim=0)
        self._raise_max(view.wmax.amax(dim=0))
        u, vals = view.nz[2], view.nz[3]
        self.sum.index_add_(0, u, vals.to(torch.float64))
        active = vals > 0
        u, vals = u[active], vals[active]
        self.n_active_tokens += torch.bincount(u, minlength=self.n_units)
        self.sum_active.index_add_(0, u, vals.to(torch.float64))
        H = self.config.hist_bins
        flat = u * H + grid_bin(vals, self.exp[u], H)
        self.hist.view(-1).index_add_(0, flat, torch.ones_like(flat))

    def _raise_max(self, candidate: torch.Tensor) -> None:
        """New running max; units whose grid top grows get their bins and histogram coarsened exactly."""
        new_max = torch.maximum(self.max, candidate)
        new_exp = exponent(new_max)
        grown = ((new_exp > self.exp) & (self.max > 0)).nonzero().squeeze(1)
        if grown.numel():
            shift = torch.zeros(self.n_units, dtype=torch.int64)
            shift[grown] = new_exp[grown] - self.exp[grown]
            self.hist[grown] = coarsen(self.hist[grown], shift[grown])
            G = self.config.grid_bins
            rows = (grown.unsqueeze(1) * G + torch.arange(G)).flatten()
            for res in self.grid_reservoirs() if G > 1 else ():
                r, s = res.entries(rows)
                if r.numel() == 0:
                    continue
                prio, value, window, length, acts = (res.prio[r, s], res.value[r, s], res.window[r, s],
                                                     res.length[r, s], res.acts[r, s])
                unit = r // G
                new_rows = unit * G + ((r % G) >> shift[unit].clamp(max=62))
                res.clear_rows(rows)
                res.offer(new_rows, prio, value, window, length, lambda t, acts=acts: acts[t])
        self.max, self.exp = new_max, new_exp

    # ------------------------------------------------------------------ merge
    def merge(self, other: SamplerState) -> SamplerState:
        """Fold in the state of a disjoint shard of the corpus (in place); returns self."""
        if other.n_units != self.n_units or other.config != self.config:
            raise ConfigError("cannot merge sampler states with different configs or unit counts")
        overlap = self._windows_seen_by_both(other)
        if overlap is not None:
            raise InputError(f"cannot merge sampler states over overlapping shards (window {overlap} is in both)")
        self.n_tokens += other.n_tokens
        self.n_windows += other.n_windows
        self.n_active_tokens += other.n_active_tokens
        self.n_active_windows += other.n_active_windows
        self.sum += other.sum
        self.sum_active += other.sum_active
        self._raise_max(other.max)
        lift = torch.where(other.max > 0, self.exp - other.exp, torch.zeros_like(self.exp))
        self.hist += coarsen(other.hist, lift)
        G = self.config.grid_bins
        for s in SPLITS:  # top-k entries that lose their place (theirs not taken, mine pushed out) join the levels
            mine, theirs = self.topk[s], other.topk[s]
            r, sl = theirs.entries()
            evicted = Evicted()
            taken = mine.offer(r, theirs.prio[r, sl], theirs.value[r, sl], theirs.window[r, sl], theirs.length[r, sl],
                               lambda t, r=r, sl=sl, theirs=theirs: theirs.acts[r[t], sl[t]], evicted)
            lost = torch.ones(r.numel(), dtype=torch.bool)
            lost[taken] = False
            r, sl = r[lost], sl[lost]
            evicted.add(r, theirs.value[r, sl], theirs.window[r, sl], theirs.length[r, sl], theirs.acts[r, sl])
            self._offer_evicted(s, evicted)
        for mine, theirs, to_row in (
            *((self.random[s], other.random[s], lambda r: r) for s in SPLITS),
            *((mine, theirs, lambda r: (r // G) * G + ((r % G) >> lift[r // G].clamp(max=62)))
              for mine, theirs in zip(self.grid_reservoirs(), other.grid_reservoirs(), strict=True)),
        ):
            r, s = theirs.entries()
            if r.numel():
                mine.offer(to_row(r), theirs.prio[r, s], theirs.value[r, s], theirs.window[r, s],
                           theirs.length[r, s], lambda t, r=r, s=s, theirs=theirs: theirs.acts[r[t], s[t]])
        self.windows.update(other.windows)
        self._prune()
        return self

    def _windows_seen_by_both(self, other: SamplerState) -> int | None:
        """A window kept by both states (a sign the shards overlap), or None."""
        mine = torch.cat([r.window.flatten() for r in self.reservoirs()]).unique()
        theirs = torch.cat([r.window.flatten() for r in other.reservoirs()]).unique()
        both = mine[torch.isin(mine, theirs) & (mine >= 0)]
        return int(both[0]) if both.numel() else None

    # ----------------------------------------------------------- token store
    def live_windows(self) -> torch.Tensor:
        """Sorted indices of windows that hold at least one kept entry."""
        w = torch.cat([r.window.flatten() for r in self.reservoirs()]).unique()
        return w[w >= 0]

    def _maybe_prune(self) -> None:
        if len(self.windows) > 2 * self._live_windows + 1024:
            self._prune()

    def _prune(self) -> None:
        live = set(self.live_windows().tolist())
        self.windows = {i: tw for i, tw in self.windows.items() if i in live}
        self._live_windows = len(self.windows)
