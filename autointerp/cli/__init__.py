"""`autointerp` command line.

Each command group lives in its own module under ``autointerp/cli/`` and is
listed in ``COMMAND_MODULES``; a module exposes ``register(subparsers)`` which
adds its sub-command(s) and sets ``func`` (``func(args) -> int``) as default.

Errors a user can cause are :class:`~autointerp.errors.AutointerpError`: they
print one line ``autointerp: error: ...`` and exit non-zero, no traceback.

Argument parsing only: every verb calls runs/report/dictionaries functions (the Python API calls the same);
may import every package.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys

from autointerp.errors import AutointerpError, StorageError
from autointerp.secrets import redact_logging

COMMAND_MODULES = (
    "autointerp.cli.models",
    "autointerp.cli.sample",
    "autointerp.cli.merge",
    "autointerp.cli.rubrics",
    "autointerp.cli.scorers",
    "autointerp.cli.protocols",
    "autointerp.cli.run",
    "autointerp.cli.report",
    "autointerp.cli.compare_dicts",
    "autointerp.cli.attribute",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"autointerp: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="autointerp", description="Automated interpretability evaluation of SAE features and neurons.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="More logging: -v info (every HTTP request), -vv debug. Passwords and keys are redacted.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command group not built yet
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    redact_logging()  # every library's lines (httpx prints request URLs) pass through the same redaction
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from autointerp.activations.allocator import keep_freed_memory

    keep_freed_memory()  # batch after batch reuses the same large buffers
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # the reader went away (`autointerp rubrics list | head`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot raise again
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe
    except AutointerpError as exc:
        print(f"autointerp: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (OSError, sqlite3.OperationalError) as exc:  # a write that failed outside a guarded block
        from autointerp.runs.rundir import describe_os_error, is_storage_error

        if not is_storage_error(exc):
            raise
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"autointerp: error: cannot write{where}: {describe_os_error(exc)}", file=sys.stderr)
        return StorageError.exit_code
    except KeyboardInterrupt:
        print("autointerp: interrupted; finished records are saved, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
