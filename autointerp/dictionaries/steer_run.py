"""Steered continuations for every unit of a run (the intervention scorer's input), stored for resume.

Stored in the run's ``steering.jsonl`` keyed by a params hash of the sampling fields and the steering config,
so a resumed run reuses them and a changed alpha scale regenerates them. Prompts of all units are batched per
unit (one left-padded batch with and one without the direction).
"""

from __future__ import annotations

from collections.abc import Sequence

from tqdm.auto import tqdm

from autointerp.dictionaries.records import SteerConfig, SteeredSet
from autointerp.dictionaries.steer import steer_unit


def ensure_steering(
    subject, bases: Sequence, units: Sequence, store, steer: SteerConfig, params: str, progress: bool = True
) -> dict[str, SteeredSet]:
    """unit key -> SteeredSet, from the store when generated with these params, else generated now."""
    have = store.latest("steering", params)
    by_name = {rb.name: rb for rb in bases}
    out: dict[str, SteeredSet] = {}
    todo = []
    for us in units:
        rec = have.get(us.unit.key)
        if isinstance(rec, SteeredSet):
            out[us.unit.key] = rec
        elif us.unit.basis in by_name:
            todo.append(us)
    for us in tqdm(todo, desc="steering", unit="unit", disable=not progress or not todo):
        rb = by_name[us.unit.basis]
        rec = steer_unit(subject, rb.basis.site, rb.basis.dictionary, us.unit, us.stats.max_activation, steer)
        store.append("steering", rec, params)
        out[us.unit.key] = rec
    return out
