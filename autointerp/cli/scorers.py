"""`autointerp scorers list`: every registered scorer with one line of description."""

from __future__ import annotations

import argparse

from autointerp.cli.actions import verb_with_actions


def _list(args: argparse.Namespace) -> int:
    from autointerp.scorers import SCORERS

    print(f"{'name':<12} {'needs':<24} description")
    for name in SCORERS:
        s = SCORERS.get(name)
        needs = ", ".join(n for n, on in (("explanation", s.needs_explanation), ("LLM judge", s.uses_llm)) if on)
        print(f"{name:<12} {needs or 'no LLM':<24} {s.description}")
    print("\npick them with `scorers: [...]` in a run config or --scorers a,b,c (default: specificity, simulation)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    actions = verb_with_actions(subparsers, "scorers", help="List the scorers a run can use.",
                                description="Every scorer in the registry, with what it needs.")
    actions.add_parser("list", help="Print every scorer name with one line of description.").set_defaults(func=_list)
