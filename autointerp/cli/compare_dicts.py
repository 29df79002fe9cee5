"""`autointerp compare-dicts A B --out DIR [--runs RUN_A RUN_B]`: max cosine similarity of two dictionaries."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from autointerp.errors import ConfigError


def _compare_dicts(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from autointerp.dictionaries.compare import compare_directions
    from autointerp.dictionaries.compare_files import summary_lines, write_comparison
    from autointerp.dictionaries.spec import NEURON_PREFIX, load_directions

    if args.chunk < 1:
        raise ConfigError(f"--chunk must be >= 1, got {args.chunk}")
    if not -1.0 <= args.split_threshold <= 1.0:
        raise ConfigError(f"--split-threshold must be in [-1, 1], got {args.split_threshold}")
    t0 = time.perf_counter()
    a = load_directions(args.a, args.format_a)
    b = load_directions(args.b, args.format_b)
    bars: dict[str, tqdm] = {}

    def tick(part: str, done: int) -> None:
        bar = bars.get(part) or bars.setdefault(
            part, tqdm(total=a.n_units, desc=f"{part} sweep", unit="unit", disable=args.no_progress, file=sys.stderr)
        )
        bar.update(done - bar.n)

    comp = compare_directions(a, b, chunk=args.chunk, split_threshold=args.split_threshold, progress=tick)
    for bar in bars.values():
        bar.close()
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    files = write_comparison(comp, out, seconds)
    for line in summary_lines(comp):
        print(line)
    if args.runs:
        from autointerp.report.matched import matched_pairs

        def kind(spec: str) -> str:
            return "neuron" if spec.startswith(NEURON_PREFIX) else "feature"

        frame, matched = matched_pairs(comp, args.runs[0], args.runs[1], kind(args.a), kind(args.b), args.similar_tol)
        frame.to_csv(out / "matched_explanations.csv", index=False)
        files.append(out / "matched_explanations.csv")
        print(matched.line())
    print(
        f"compare-dicts: {comp.n_a} x {comp.n_b} units (d={comp.d_in}) in {seconds:.1f} s; {len(files)} files in {out}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare-dicts",
        help="Max cosine similarity of every unit of one dictionary to another (decoder and encoder), both ways.",
        description="A and B: SAE checkpoints of the same width (any supported format) or a neuron basis "
        "'neurons:MODEL@SITE'. Writes DIR/max_cosine.csv (units of A), DIR/max_cosine_b.csv (units of B), "
        "histogram.{csv,png,svg}, splits.csv and summary.json.",
    )
    p.add_argument("a", metavar="A", help="SAE checkpoint (folder/file) or neurons:MODEL@SITE.")
    p.add_argument("b", metavar="B", help="SAE checkpoint (folder/file) or neurons:MODEL@SITE.")
    p.add_argument("--out", required=True, help="Output folder.")
    p.add_argument("--format-a", default="auto", help="Checkpoint format of A (default: detected).")
    p.add_argument("--format-b", default="auto", help="Checkpoint format of B (default: detected).")
    p.add_argument(
        "--split-threshold",
        type=float,
        default=0.7,
        help="Decoder cosine above which a unit of B counts as a match of a unit of A (feature splitting).",
    )
    p.add_argument("--chunk", type=int, default=4096, help="Rows per similarity block (memory ~ 4 x chunk^2 bytes).")
    p.add_argument(
        "--runs", nargs=2, metavar=("RUN_A", "RUN_B"), help="Run folders of A and B: matched pairs' explanations."
    )
    p.add_argument(
        "--similar-tol", type=float, default=0.2, help="Simulation scores this close count as similar (with --runs)."
    )
    p.add_argument("--no-progress", action="store_true", help="No progress bars.")
    p.set_defaults(func=_compare_dicts)
