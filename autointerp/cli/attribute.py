"""`autointerp attribute RUN --unit feature#12`: which context tokens make a unit fire (context ablation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from autointerp.errors import ConfigError


def _attribute(args: argparse.Namespace) -> int:
    from autointerp.dictionaries.attribute import AttributeConfig
    from autointerp.dictionaries.records import unit_folder_name
    from autointerp.runs.attribute import attribute_run, write_attribution

    if args.contexts < 1:
        raise ConfigError(f"--contexts must be >= 1, got {args.contexts}")
    config = AttributeConfig(mode=args.mode, neutral=args.neutral, n_contexts=args.contexts)
    ua = attribute_run(args.run, args.unit, config)
    out = Path(args.out) if args.out else Path(args.run) / "report" / "attribution" / unit_folder_name(ua.unit)
    files = write_attribution(ua, out)
    for c in ua.contexts:
        top = c.top()
        what = (
            "no earlier token" if top is None else f"top {top.token!r} (position {top.position}, drop {top.drop:.3f})"
        )
        print(f"{c.context_id}: activation {c.activation:.3f} at {c.tokens[c.max_position]!r}; {what}")
    print(f"attribution: {len(ua.contexts)} contexts of {ua.unit}; {len(files)} files in {out}")
    report = Path(args.run) / "report" / "report.html"
    if not args.out and report.is_file():  # the unit's card shows the heat map: rewrite the report to pick it up
        from autointerp.report import write_report
        from autointerp.runs.config import load_config

        write_report(args.run, seed=load_config(Path(args.run) / "config.yaml").seed)
        print(f"report: {report} (rewritten with this attribution)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attribute",
        help="Context ablation: the drop of a unit's activation when each earlier token is ablated.",
        description="For the unit's top contexts in RUN, ablate each token before its max token (replace it by a "
        "neutral token, or remove it) in one batched forward per context; write a CSV, JSON and heat map to "
        "RUN/report/attribution/<unit>/.",
    )
    p.add_argument("run", metavar="RUN", help="Run folder (results/<run>) with sampled units.")
    p.add_argument("--unit", required=True, help="'feature#N', 'neuron#N' or a unit key such as 'sae:my_sae#12'.")
    p.add_argument("--mode", choices=("replace", "remove"), default="replace", help="How a token is ablated.")
    p.add_argument("--neutral", default=" the", help="Neutral token text for --mode replace (exactly one token).")
    p.add_argument("--contexts", type=int, default=8, help="Top contexts to attribute.")
    p.add_argument("--out", default=None, help="Output folder (default: RUN/report/attribution/<unit>).")
    p.set_defaults(func=_attribute)
