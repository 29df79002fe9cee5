"""`autointerp protocols list`: every protocol preset, its reference and the fields it sets."""

from __future__ import annotations

import argparse

from autointerp.cli.actions import verb_with_actions


def _list(args: argparse.Namespace) -> int:
    from autointerp.scorers.protocols import TABLE, describe

    for preset in TABLE:
        print("\n".join(describe(preset)))
    print("\npick one with `protocol: NAME` in a run config or --protocol NAME (default: ours); any field you set "
          "yourself wins, and the run is labelled 'NAME protocol, modified: FIELD VALUE'. Details: docs/protocols.md")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    actions = verb_with_actions(subparsers, "protocols", help="List the protocol presets (ours, delphi, saebench, "
                                "openai).", description="Every protocol preset: where it comes from and which run "
                                "fields it sets.")  # fmt: skip
    actions.add_parser("list", help="Print every preset with its reference and the fields it sets.").set_defaults(
        func=_list)
