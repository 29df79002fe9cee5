"""`autointerp scorers list`: every registered scorer with one line of description."""

from __future__ import annotations

import argparse


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
    p = subparsers.add_parser("scorers", help="List the scorers a run can use.",
                              description="Every scorer in the registry, with what it needs.")
    sub = p.add_subparsers(dest="scorers_command", metavar="ACTION", parser_class=subparsers._parser_class)
    lst = sub.add_parser("list", help="Print every scorer name with one line of description.")
    lst.set_defaults(func=_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
