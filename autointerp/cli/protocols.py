"""`autointerp protocols list`: every protocol preset, its reference and the fields it sets."""

from __future__ import annotations

import argparse


def _list(args: argparse.Namespace) -> int:
    from autointerp.scorers.protocols import TABLE, describe

    for preset in TABLE:
        print("\n".join(describe(preset)))
    print("\npick one with `protocol: NAME` in a run config or --protocol NAME (default: ours); any field you set "
          "yourself wins, and the run is labelled 'NAME protocol, modified: FIELD VALUE'. Details: docs/protocols.md")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("protocols", help="List the protocol presets (ours, delphi, saebench, openai).",
                              description="Every protocol preset: where it comes from and which run fields it sets.")
    sub = p.add_subparsers(dest="protocols_command", metavar="ACTION", parser_class=subparsers._parser_class)
    lst = sub.add_parser("list", help="Print every preset with its reference and the fields it sets.")
    lst.set_defaults(func=_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
