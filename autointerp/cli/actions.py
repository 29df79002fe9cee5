"""A verb with actions (`autointerp scorers list`, `rubrics validate`): the verb alone prints its help, exit 2."""

from __future__ import annotations

import argparse


def verb_with_actions(
    subparsers: argparse._SubParsersAction, name: str, *, help: str, description: str
) -> argparse._SubParsersAction:
    """Add verb ``name`` and return the subparsers its actions are added to."""
    verb = subparsers.add_parser(name, help=help, description=description)
    verb.set_defaults(func=lambda args: (verb.print_help(), 2)[1])
    return verb.add_subparsers(dest=f"{name}_command", metavar="ACTION", parser_class=subparsers._parser_class)
