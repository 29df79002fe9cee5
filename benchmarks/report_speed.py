"""Report writing time on a synthetic run (features + neurons, 17 held-out ratings per unit).

Usage: python benchmarks/report_speed.py [n_units_per_kind]   (run from the repo root)
Last line: ``report_units_per_second: <value>``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autointerp.report import write_report  # noqa: E402
from tests.unit.report.synthetic import make_run  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "bench"
        t0 = time.perf_counter()
        make_run(run, n_features=n, n_neurons=n)
        t1 = time.perf_counter()
        write_report(run)
        t2 = time.perf_counter()
        size = (run / "report" / "report.html").stat().st_size
    print(f"units: {2 * n}; synthetic run written in {t1 - t0:.1f}s")
    print(f"write_report: {t2 - t1:.2f}s; report.html {size / 1e6:.1f} MB")
    print(f"report_units_per_second: {2 * n / (t2 - t1):.0f}")


if __name__ == "__main__":
    main()
