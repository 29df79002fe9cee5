"""Bottom-k reservoirs: R rows of S slots; each row keeps the S entries of smallest priority ever offered.

Keeping the smallest priorities is order-independent: the result of any sequence
of offers (and of merging two reservoirs) is exactly the S smallest of everything
offered to the row. With random priorities that is a uniform sample without
replacement; with value-derived priorities it is an exact top-k.

Each kept entry stores its window index, window length, the window's max
activation (``value``) and the unit's per-token activations on the window.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from autointerp.sampling.keys import EMPTY

# fetch(src) -> [n, T'] per-token activations of the accepted candidates ``src`` (indices into the offer)
Fetch = Callable[[torch.Tensor], torch.Tensor]

FIELDS = ("prio", "value", "window", "length", "acts")


class Evicted:
    """Entries pushed out of a reservoir by offers (collected only when passed to :meth:`Reservoir.offer`)."""

    def __init__(self) -> None:
        self.parts: list[tuple[torch.Tensor, ...]] = []

    def add(self, row: torch.Tensor, value: torch.Tensor, window: torch.Tensor, length: torch.Tensor,
            acts: torch.Tensor) -> None:
        if row.numel():
            self.parts.append((row, value, window, length, acts))

    def tensors(self) -> tuple[torch.Tensor, ...] | None:
        """(row, value, window, length, acts) of every evicted entry, or None if there is none."""
        if not self.parts:
            return None
        width = max(p[4].shape[1] for p in self.parts)
        acts = [torch.nn.functional.pad(p[4], (0, width - p[4].shape[1])) for p in self.parts]
        return (*(torch.cat([p[i] for p in self.parts]) for i in range(4)), torch.cat(acts))


class Reservoir:
    """Fixed-size storage for R rows x S slots (memory independent of how much is offered)."""

    def __init__(self, rows: int, slots: int, width: int = 0, acts_dtype: torch.dtype = torch.float16):
        self.rows, self.slots = rows, slots
        self.prio = torch.full((rows, slots), EMPTY, dtype=torch.int64)  # smaller is better; EMPTY = free slot
        self.value = torch.zeros((rows, slots), dtype=torch.float32)  # max activation of the window
        self.window = torch.full((rows, slots), -1, dtype=torch.int64)  # TokenWindow.index
        self.length = torch.zeros((rows, slots), dtype=torch.int32)  # real tokens in the window
        # per-token activations; only the slots of kept entries are ever written or read, so the storage is left
        # uninitialised: the OS maps a page on first write, and slots that never fill (dead units, empty level
        # cells) cost no memory and no time
        self.acts = torch.empty((rows, slots, width), dtype=acts_dtype)
        self._worst = torch.full((rows,), EMPTY, dtype=torch.int64)  # largest kept priority per row

    @property
    def width(self) -> int:
        return self.acts.shape[2]

    def ensure_width(self, width: int) -> None:
        """Grow the per-token storage to at least ``width`` tokens (zero padded)."""
        if width > self.width:
            grown = torch.empty((self.rows, self.slots, width), dtype=self.acts.dtype)
            r, s = self.entries()
            grown[r, s, : self.width] = self.acts[r, s]
            grown[r, s, self.width :] = 0
            self.acts = grown

    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in FIELDS) + self._worst.nbytes

    def clear_rows(self, rows: torch.Tensor) -> None:
        self.prio[rows] = EMPTY
        self.window[rows] = -1
        self.value[rows] = 0
        self.length[rows] = 0
        self._worst[rows] = EMPTY

    def to_entries(self) -> dict[str, object]:
        """The reservoir as its kept entries only (what a saved state holds: its size follows the entries, not the
        reserved storage); :meth:`from_entries` rebuilds it exactly."""
        r, s = self.entries()
        return {"rows": self.rows, "slots": self.slots, "width": self.width, "dtype": str(self.acts.dtype),
                "row": r, "slot": s, **{f: getattr(self, f)[r, s] for f in FIELDS}}

    @classmethod
    def from_entries(cls, data: dict) -> Reservoir:
        dtype = {str(t): t for t in (torch.float16, torch.float32)}[data["dtype"]]
        res = cls(int(data["rows"]), int(data["slots"]), int(data["width"]), dtype)
        r, s = data["row"], data["slot"]
        for f in FIELDS:
            getattr(res, f)[r, s] = data[f]
        if r.numel():
            res._worst = res.prio.amax(dim=1)
        return res

    def filter(self, rows: torch.Tensor, prio: torch.Tensor) -> torch.Tensor:
        """Indices of candidates that could enter (priority below their row's worst kept one)."""
        return (prio < self._worst[rows]).nonzero().squeeze(1)

    def offer(
        self,
        rows: torch.Tensor,
        prio: torch.Tensor,
        value: torch.Tensor,
        window: torch.Tensor,
        length: torch.Tensor,
        fetch: Fetch,
        evicted: Evicted | None = None,
    ) -> torch.Tensor:
        """Offer N candidate entries (flat [N] tensors); return the indices of those that were kept.

        With ``evicted``, the kept entries that the offer pushes out are added to it.
        """
        cand = self.filter(rows, prio)
        if cand.numel() == 0 or self.slots == 0:
            return cand[:0]
        if self.slots == 1:
            return self._offer_single(cand, rows, prio, value, window, length, fetch, evicted)
        c_rows, c_prio = rows[cand], prio[cand]
        order = torch.argsort(c_rows, stable=True)  # grouped by row (within a row: offer order)
        c_rows, c_prio, cand = c_rows[order], c_prio[order], cand[order]
        uniq, inverse, counts = torch.unique_consecutive(c_rows, return_inverse=True, return_counts=True)
        rank = torch.arange(c_rows.numel()) - (counts.cumsum(0) - counts)[inverse]
        width = int(counts.max())

        new = torch.full((uniq.numel(), width), EMPTY, dtype=torch.int64)
        new[inverse, rank] = c_prio
        old = self.prio[uniq]
        # the S-th smallest of kept and offered priorities: everything at or below it stays or enters
        kth = torch.cat([old, new], dim=1).kthvalue(self.slots, dim=1).values.unsqueeze(1)
        entering = (new <= kth) & (new != EMPTY)
        free = (old > kth) | (old == EMPTY)
        # the j-th entering candidate of a row takes the row's j-th free slot
        i, c = entering.nonzero(as_tuple=True)
        n_enter = entering.sum(1)
        j = torch.arange(i.numel()) - (n_enter.cumsum(0) - n_enter)[i]
        fi, fs = free.nonzero(as_tuple=True)
        slot_of = torch.full((uniq.numel(), self.slots), -1, dtype=torch.int64)
        slot_of[fi, free.cumsum(1)[fi, fs] - 1] = fs
        src = torch.full((uniq.numel(), width), -1, dtype=torch.int64)
        src[inverse, rank] = cand
        row, slot, taken = uniq[i], slot_of[i, j], src[i, c]

        self._write(row, slot, taken, prio, value, window, length, fetch, evicted)
        return taken

    def offer_shared(self, prio: torch.Tensor, value: torch.Tensor, window: torch.Tensor, length: torch.Tensor,
                     fetch_all: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Offer the same N candidates, with the same priorities, to every row at once; indices of those kept.

        For a reservoir whose rows only ever see the same candidates (a uniform sample of windows shared by every
        unit), so every row keeps the same priorities in the same slots: the choice is made once, on row 0, and
        written as whole columns. ``value`` is ``[N, rows]``; ``fetch_all(taken)`` gives ``[rows, n, T']``.
        """
        if self.slots == 0:
            return prio[:0].long()
        cand = (prio < self._worst[0]).nonzero().squeeze(1)
        if cand.numel() == 0:
            return cand
        old = self.prio[0]
        kth = torch.cat([old, prio[cand]]).kthvalue(self.slots).values
        taken = cand[prio[cand] <= kth]
        slot = ((old > kth) | (old == EMPTY)).nonzero().squeeze(1)[: taken.numel()]
        self.prio[:, slot] = prio[taken]
        self.value[:, slot] = value[taken].T.to(torch.float32)
        self.window[:, slot] = window[taken]
        self.length[:, slot] = length[taken].to(torch.int32)
        self.acts[:, slot] = self._fit(fetch_all(taken))
        self._worst[:] = self.prio[0].amax()
        return taken

    def _offer_single(self, cand: torch.Tensor, rows: torch.Tensor, prio: torch.Tensor, value: torch.Tensor,
                      window: torch.Tensor, length: torch.Tensor, fetch: Fetch,
                      evicted: Evicted | None) -> torch.Tensor:
        """One slot per row: the best candidate of each row replaces the kept entry (already known to be worse)."""
        c_rows, c_prio = rows[cand], prio[cand]
        best = torch.full((self.rows,), EMPTY, dtype=torch.int64)
        best.scatter_reduce_(0, c_rows, c_prio, reduce="amin")
        taken = cand[c_prio == best[c_rows]]
        self._write(rows[taken], torch.zeros_like(taken), taken, prio, value, window, length, fetch, evicted)
        return taken

    def _write(self, row: torch.Tensor, slot: torch.Tensor, taken: torch.Tensor, prio: torch.Tensor,
               value: torch.Tensor, window: torch.Tensor, length: torch.Tensor, fetch: Fetch,
               evicted: Evicted | None = None) -> None:
        """Store candidates ``taken`` at (row, slot) and refresh the rows' worst priority."""
        flat = row * self.slots + slot
        if evicted is not None:
            old = (self.prio.view(-1)[flat] != EMPTY).nonzero().squeeze(1)
            f = flat[old]
            evicted.add(row[old], self.value.view(-1)[f].clone(), self.window.view(-1)[f].clone(),
                        self.length.view(-1)[f].clone(), self.acts.flatten(0, 1)[f].clone())
        self.prio.view(-1).index_copy_(0, flat, prio[taken])
        self.value.view(-1).index_copy_(0, flat, value[taken].to(torch.float32))
        self.window.view(-1).index_copy_(0, flat, window[taken])
        self.length.view(-1).index_copy_(0, flat, length[taken].to(torch.int32))
        acts = self._fit(fetch(taken))
        self.acts.view(-1, self.width).index_copy_(0, flat, acts)
        self._worst[row] = self.prio[row].amax(dim=1)

    def _fit(self, acts: torch.Tensor) -> torch.Tensor:
        """Per-token activations ``[..., T']`` in the storage's dtype and width (grown to T' if needed, the rest
        zero padded). Fetches give values the storage holds (see BatchView's limit)."""
        acts = acts.to(self.acts.dtype)
        self.ensure_width(acts.shape[-1])
        if acts.shape[-1] < self.width:
            acts = torch.nn.functional.pad(acts, (0, self.width - acts.shape[-1]))
        return acts

    def entries(self, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, slot) of every kept entry (optionally only within ``rows``)."""
        prio = self.prio if rows is None else self.prio[rows]
        r, s = (prio != EMPTY).nonzero(as_tuple=True)
        return (r if rows is None else rows[r]), s
