"""`autointerp run` (a config and/or flags) and `autointerp demo` (the embedded offline default)."""

from __future__ import annotations

import argparse
import re
import sys
import typing

from autointerp.errors import EXIT_UNITS_FAILED
from autointerp.runs.config import FLAG_FIELDS, RunConfig, config_from_flags

UNITS_HELP = "N random units, a list 1,5,9 (or [1, 5, 9]), or a range 0-99"


def _units(text: str):
    """'16' -> 16 random units; '1,5,9' or '[1, 5, 9]' -> those; '0-99' -> a range (as the config reads them)."""
    t = text.strip()
    bracketed = t.startswith("[") and t.endswith("]")
    body = t[1:-1].strip() if bracketed else t
    if not bracketed and re.fullmatch(r"\d+", body):
        return int(body)
    if bracketed or "," in body:
        items = [p.strip() for p in body.split(",") if p.strip()]
        if items and all(re.fullmatch(r"\d+", p) for p in items):
            return [int(p) for p in items]
    elif re.fullmatch(r"\d+\s*-\s*\d+", body):
        return re.sub(r"\s", "", body)
    raise argparse.ArgumentTypeError(f"expected {UNITS_HELP}, got {text!r}")


def _none_or_str(text: str) -> str | None:
    return None if text.lower() in ("none", "null", "") else text


def _flag_type(name: str):
    if name in ("features", "neurons"):
        return _units
    if name in ("sae", "neuron_site"):
        return _none_or_str
    ann = RunConfig.model_fields[name].annotation
    return int if ann is int else str


def _help(name: str, defaults: dict | None) -> str:
    info = RunConfig.model_fields[name]
    text = UNITS_HELP if name in ("features", "neurons") else info.description
    default = (defaults or {}).get(name, info.get_default(call_default_factory=True))
    shown = "none" if default is None else ",".join(map(str, default)) if isinstance(default, list | tuple) else default
    return f"{text} (default: {shown})".replace("%", "%%")


def add_config_flags(p: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    """The run flags; ``defaults`` (dotted, e.g. the demo's settings) are the defaults shown in --help.

    Flags default to 'not given' (argparse.SUPPRESS), so an explicit ``--sae none`` overrides a config file."""
    p.add_argument("--config", "-c", metavar="FILE", help="YAML run config (flags override it).")
    for name in FLAG_FIELDS:
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=_flag_type(name),
            default=argparse.SUPPRESS,
            help=_help(name, defaults),
        )
    p.add_argument("--backend", metavar="SPEC", help="Backend spec for all three stages, e.g. openai:gpt-4.1-mini.")
    p.add_argument("--max-cost", type=float, default=None, help="Budget in USD (llm.max_cost).")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="Any config field, dotted, e.g. --set sampler.top_k=30 --set backends.rubric=anthropic:claude-sonnet-4-5",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="Sample, then print planned requests, tokens and cost; send nothing."
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="Before sampling, send one tiny request to each remote backend (catches a wrong key or model early).",
    )
    p.add_argument("--no-progress", action="store_true", help="No progress bars.")
    p.add_argument("--no-report", action="store_true",
                   help="Judge and store, but write no report (write it later with `autointerp report RUN`).")


def config_from_args(args: argparse.Namespace, defaults: dict | None = None) -> RunConfig:
    """``defaults`` (dotted) < the --config file < flags and --set."""
    return config_from_flags(vars(args), defaults)


def _dry_run(config: RunConfig, progress: bool, check: bool) -> int:
    from autointerp.runs import pipeline, plan

    with pipeline.opened_run(config, check, print, reach=False):  # nothing is sent (unless --check)
        _, _, units = pipeline.prepare(config, progress)
        units = pipeline.unique_units(units)
        rows = plan.plan(config, units)
    print(f"dry run of {config.run_dir}: {len(units)} units; nothing will be sent")
    for row in rows:
        print("  " + row.line())
    known = [r.cost_usd for r in rows if r.cost_usd is not None]
    print(
        f"  total requests {sum(r.requests for r in rows):,}; estimated cost ${sum(known):.4f}"
        + ("" if len(known) == len(rows) else " (+ models missing from the price table)")
    )
    return 0


def execute(config: RunConfig, args: argparse.Namespace, *, demo: bool = False) -> int:
    """Run (or dry-run) ``config``; the exit code says how it ended (docs/running.md: 'Exit codes')."""
    from autointerp.runs import pipeline
    from autointerp.sampling.shards import finish_distributed, init_distributed, torchrun_shard

    progress = not args.no_progress
    ranks = torchrun_shard()
    if ranks:  # torchrun: every rank samples its shard; rank 0 merges and runs everything else alone
        init_distributed()
        if ranks.index > 0:
            try:
                return pipeline.sample_worker(config)
            except (RuntimeError, ConnectionError) as exc:  # rank 0 left the job (its own error is the one to read)
                print(f"autointerp: rank {ranks.index}: rank 0 stopped ({type(exc).__name__}); see its message",
                      file=sys.stderr)
                return 1
            finally:
                finish_distributed()
        try:
            return _execute(config, args, progress, demo)
        finally:
            finish_distributed()
    return _execute(config, args, progress, demo)


def _execute(config: RunConfig, args: argparse.Namespace, progress: bool, demo: bool = False) -> int:
    from autointerp.api import run_and_report
    from autointerp.report import summary_line
    from autointerp.report.summary import judgement_line

    if args.dry_run:
        return _dry_run(config, progress, args.check)
    if getattr(args, "no_report", False):
        from autointerp.runs import pipeline

        outcome, summary = pipeline.run(config, progress=progress, check=args.check), None
    else:
        outcome, summary = run_and_report(config, progress=progress, check=args.check)  # the Python API's path too
    if outcome.halted is not None:  # auth / permission / unknown model: one line, nothing else to say
        print(f"autointerp: error: {outcome.halted}", file=sys.stderr)
        return outcome.exit_code()
    print(f"{outcome.run_dir}:")
    print(f"  {config.protocol_label}")
    for line in outcome.status_lines():
        print(f"  {line}")
    if summary is not None:
        print(f"  {judgement_line(summary)}")  # a rubric record can be ok while some of its judgements failed
        print(summary_line(summary))
        print(f"report: {outcome.run_dir / 'report' / 'report.html'}")
    else:
        print(f"no report written (--no-report); write it with: autointerp report {outcome.run_dir}")
    code = outcome.exit_code()
    if demo and code == EXIT_UNITS_FAILED:
        # the demo worked: its weak 135M explainer leaving some units unexplained is part of what it shows
        lines = outcome.error_lines()
        print(f"demo: finished; {outcome.failed} unit-stages failed, shown in the report (one line per cause):")
        for line in lines:
            print(f"  {line}")
        return 0
    for line in outcome.error_lines():
        print(f"autointerp: error: {line}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    return execute(config_from_args(args), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from autointerp.runs.demo import demo_config

    return execute(demo_config(args), args, demo=True)


def register(sub: typing.Any) -> None:
    p = sub.add_parser(
        "run",
        help="Sample, explain, rate and simulate features and neurons; write the report.",
        description="Run the whole job from a YAML config and/or flags. Safe to rerun: finished "
        "work is skipped, failures are retried.",
    )
    add_config_flags(p)
    p.set_defaults(func=cmd_run)

    from autointerp.runs.demo import DEMO_SAE_NOTE, DEMO_SETTINGS

    d = sub.add_parser(
        "demo",
        help="The offline default: SmolLM2-135M, Brown corpus, a small TopK SAE, local backend.",
        description="Fetch smollm2-135m and the Brown corpus, train (once, cached) a small TopK SAE "
        "at layers.6.resid_post, and score 12 features and 12 MLP neurons of layer 6 with "
        "the local backend. The defaults shown are the demo's; a --config file overrides them "
        "(setting 'sae' there uses that checkpoint instead of the demo SAE) and flags override both.",
    )
    add_config_flags(d, {**DEMO_SETTINGS, "sae": DEMO_SAE_NOTE})
    dotted = ", ".join(f"{k}={v}" for k, v in DEMO_SETTINGS.items() if "." in k)
    d.epilog = f"Further demo settings (change with --set KEY=VALUE or in the --config file): {dotted}."
    d.add_argument("--sae-tokens", type=int, default=None, help="Tokens of activations to train the demo SAE on.")
    d.set_defaults(func=cmd_demo)
