"""Each step of a run announced when it starts and timed when it ends, on stderr: ``[step] sample: 12.3 s``.

Each end line also gives the process's CPU time over the step (all threads), which a loaded machine inflates less
than the wall time. A step with no progress bar of its own (loading the model, output evidence, writing the report) would otherwise be
minutes of silence. ``benchmarks/demo.py`` reads the ``[step]`` lines to time the demo step by step.
"""

from __future__ import annotations

import re
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
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        if show:  # wall time, then the process's CPU time (all threads): on a shared machine the second says more
            _say(f"{STEP_PREFIX} {name}: {time.perf_counter() - t0:.1f} s (cpu {time.process_time() - c0:.1f} s)")


STEP_LINE = re.compile(rf"^{re.escape(STEP_PREFIX)} (?P<name>.+): (?P<wall>[\d.]+) s \(cpu (?P<cpu>[\d.]+) s\)$")


def parse_steps(text: str) -> list[tuple[str, float, float]]:
    """The timed steps in a console transcript, in order: [(name, wall seconds, cpu seconds), ...]."""
    return [(m["name"], float(m["wall"]), float(m["cpu"])) for m in map(STEP_LINE.match, text.splitlines()) if m]


__all__ = ["STEP_PREFIX", "parse_steps", "step"]
