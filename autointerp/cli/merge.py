"""`autointerp merge SHARD_DIR... --out DIR`: join the shards of one sampling pass exactly.

Each shard folder holds the ``state.pt`` written by ``autointerp sample --shard I/N``. The shards must come from
the same model, site, basis, units, corpus and sampler config, and cover 0..N-1 once each; the result is the sample
set one process would have written over the whole corpus.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from autointerp.errors import ConfigError, InputError
from autointerp.sampling.finalize import finalize


def merge_states(folders: list[str]):
    """Load, check and fold the shard states; returns ``(merged_state, meta)``."""
    from autointerp.sampling.persist import load_state

    loaded = [(Path(f), *load_state(Path(f) / "state.pt")) for f in folders]
    first_dir, merged, meta = loaded[0]
    count = (meta.get("shard") or [None, None])[1]
    seen: dict[int, Path] = {}
    for folder, state, m in loaded:
        if not m.get("shard"):
            raise InputError(f"{folder}: not a shard (sampled without --shard)")
        index, n = m["shard"]
        if n != count:
            raise InputError(f"{folder}: shard {index}/{n} does not belong with {first_dir} (shard count {count})")
        for key in ("basis", "units", "args"):
            if m[key] != meta[key]:
                diff = _first_difference(m[key], meta[key]) if key == "args" else key
                raise InputError(f"{folder}: {diff} differs from {first_dir}; shards must come from one pass")
        if state.config != merged.config:
            raise InputError(f"{folder}: sampler config differs from {first_dir}")
        if index in seen:
            raise InputError(f"{folder}: shard {index}/{n} given twice (also {seen[index]})")
        seen[index] = folder
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise InputError(f"shards {', '.join(f'{i}/{count}' for i in missing)} are missing; all {count} are needed")
    ordered = sorted(loaded, key=lambda item: item[2]["shard"][0])
    merged = ordered[0][1]
    for _, state, _ in ordered[1:]:
        merged.merge(state)
    return merged, meta


def _first_difference(a: dict, b: dict) -> str:
    key = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
    return f"--{key.replace('_', '-')} ({a.get(key)!r} vs {b.get(key)!r})"


def _merge(args: argparse.Namespace) -> int:
    if not args.shards:
        raise ConfigError("merge: give at least one shard folder")
    start = time.perf_counter()
    merged, meta = merge_states(args.shards)
    seconds = time.perf_counter() - start
    samples = finalize(merged, basis=meta["basis"], unit_ids=meta["units"])
    out = samples.save(args.out)
    print(f"merged {len(args.shards)} shards: {samples.n_tokens} tokens ({samples.n_windows} windows), "
          f"{len(samples.units)} units of {samples.basis}, in {seconds:.2f} s")
    print(f"saved: {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("merge", help="Join the shards of `autointerp sample --shard I/N` into one sample set.")
    p.add_argument("shards", nargs="+", help="Shard folders (each with the state.pt of one shard).")
    p.add_argument("--out", required=True, help="Output folder for the merged sample set.")
    p.set_defaults(func=_merge)
