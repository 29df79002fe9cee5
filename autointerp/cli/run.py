"""`autointerp run` (a config and/or flags) and `autointerp demo` (the embedded offline default)."""

from __future__ import annotations

import argparse
import sys
import typing

from pydantic import BaseModel

from autointerp.config import RunConfig, load_config, parse_set

# Top-level scalar RunConfig fields get a flag of their own (sections and booleans: --set section.field=value).
FLAG_FIELDS = tuple(
    name
    for name, info in RunConfig.model_fields.items()
    if not (isinstance(info.annotation, type) and issubclass(info.annotation, (BaseModel, bool)))
)


def _units(text: str):
    """'16' -> 16 random units; '1,5,9' -> those; '0-99' -> a range."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    if "," in text:
        try:
            return [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected N, a list 'a,b,c' or a range 'a-b', got {text!r}") from None
    return text


def _none_or_str(text: str) -> str | None:
    return None if text.lower() in ("none", "null", "") else text


def _flag_type(name: str):
    if name in ("features", "neurons"):
        return _units
    if name in ("sae", "neuron_site"):
        return _none_or_str
    ann = RunConfig.model_fields[name].annotation
    return int if ann is int else str


def add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", metavar="FILE", help="YAML run config (flags override it).")
    for name in FLAG_FIELDS:
        info = RunConfig.model_fields[name]
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=_flag_type(name),
            default=None,
            help=f"{info.description} (default: {info.default})",
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
    p.add_argument("--no-progress", action="store_true", help="No progress bars.")


def config_from_args(args: argparse.Namespace, base: dict | None = None) -> RunConfig:
    overrides: dict = dict(base or {})
    for name in FLAG_FIELDS:
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.backend:
        for stage in ("explain", "rubric", "simulate"):
            overrides[f"backends.{stage}"] = args.backend
    if args.max_cost is not None:
        overrides["llm.max_cost"] = args.max_cost
    overrides.update(parse_set(args.set))
    return load_config(args.config, overrides)


def execute(config: RunConfig, args: argparse.Namespace) -> int:
    from autointerp import pipeline, plan
    from autointerp.report import summary_line, write_report

    progress = not args.no_progress
    if args.dry_run:
        _, _, units = pipeline.prepare(config, progress)
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
    outcome = pipeline.run(config, progress=progress)
    summary = write_report(outcome.run_dir, seed=config.seed)
    stages = ", ".join(
        f"{s} {c.done - c.failed}/{outcome.n_units} ok ({c.skipped} resumed, {c.failed} failed)"
        for s, c in outcome.stages.items()
    )
    print(f"{outcome.run_dir}: {stages}; ${outcome.cost:.4f}; {outcome.seconds:.0f}s")
    print(summary_line(summary))
    print(f"report: {outcome.run_dir / 'report' / 'report.html'}")
    if outcome.budget_stopped:
        print(
            "autointerp: error: budget (llm.max_cost) reached; finished records are saved; "
            "raise the budget and rerun the same command to resume",
            file=sys.stderr,
        )
        return 3
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    return execute(config_from_args(args), args)


def cmd_demo(args: argparse.Namespace) -> int:
    from autointerp.demo import demo_config

    return execute(demo_config(args), args)


def register(sub: typing.Any) -> None:
    p = sub.add_parser(
        "run",
        help="Sample, explain, rate and simulate features and neurons; write the report.",
        description="Run the whole job from a YAML config and/or flags. Safe to rerun: finished "
        "work is skipped, failures are retried.",
    )
    add_config_flags(p)
    p.set_defaults(func=cmd_run)

    d = sub.add_parser(
        "demo",
        help="The offline default: SmolLM2-135M, Brown corpus, a small TopK SAE, local backend.",
        description="Fetch smollm2-135m and the Brown corpus, train (once, cached) a small TopK SAE "
        "at layers.6.resid_post, and score 16 features and 16 MLP neurons of layer 6 with "
        "the local backend. Any run flag overrides the demo's settings.",
    )
    add_config_flags(d)
    d.add_argument("--sae-tokens", type=int, default=None, help="Tokens of activations to train the demo SAE on.")
    d.set_defaults(func=cmd_demo)
