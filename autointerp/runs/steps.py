"""Each step of a run announced when it starts and timed when it ends, on stderr: ``[step] sample: 12.3 s``.

A step with no progress bar of its own (loading the model, output evidence, writing the report) would otherwise be
minutes of silence. ``benchmarks/demo.py`` reads the ``[step]`` lines to time the demo step by step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

STEP_PREFIX = "[step]"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def step(name: str, detail: str = "", *, show: bool = True) -> Iterator[None]:
    """Announce ``name`` (with ``detail``), run the block, then print its wall time: ``[step] name: 1.2 s``.
    ``show`` false (``--no-progress``, the Python API without progress) keeps it silent."""
    if show:
        _say(f"{STEP_PREFIX} {name}{f' ({detail})' if detail else ''} ...")
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if show:
            _say(f"{STEP_PREFIX} {name}: {time.perf_counter() - t0:.1f} s")


def parse_steps(text: str) -> list[tuple[str, float]]:
    """The timed steps in a console transcript, in order: [(name, seconds), ...]."""
    out = []
    for line in text.splitlines():
        if line.startswith(STEP_PREFIX) and line.endswith(" s") and ": " in line:
            name, _, seconds = line[len(STEP_PREFIX) + 1:].rpartition(": ")
            try:
                out.append((name, float(seconds[:-2])))
            except ValueError:
                continue
    return out


__all__ = ["STEP_PREFIX", "parse_steps", "step"]
