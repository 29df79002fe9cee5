"""`autointerp rubrics validate [PATHS]` and `autointerp rubrics list`."""

from __future__ import annotations

import argparse
from pathlib import Path

from autointerp.cli.actions import verb_with_actions
from autointerp.errors import AutointerpError, InputError


def _paths(args_paths: list[str]) -> list[Path]:
    from autointerp.judging.prompts import prompt_files, rubrics_dir

    if not args_paths:
        found = prompt_files()
        if not found:
            raise InputError(f"no prompt files (*.yaml) in {rubrics_dir()}")
        return found
    out: list[Path] = []
    for p in map(Path, args_paths):
        if p.is_dir():
            out += prompt_files(p)
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"prompt file {p} does not exist")
    return out


def _validate(args: argparse.Namespace) -> int:
    from autointerp.judging.prompts import load_prompt_file

    paths = _paths(args.paths)
    failures = 0
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            spec = load_prompt_file(path)
            if spec.id in seen:
                raise InputError(f"prompt file {path}: id {spec.id!r} is also used by {seen[spec.id]}")
            seen[spec.id] = path
        except AutointerpError as exc:
            failures += 1
            print(f"FAIL {exc}")
            continue
        print(f"ok   {spec.label:<22} {spec.stage:<12} sha256:{spec.content_hash[:12]}  {path}")
    if failures:
        raise InputError(f"{failures} of {len(paths)} prompt file(s) are invalid")
    return 0


def _list(args: argparse.Namespace) -> int:
    from autointerp.judging.prompts import load_prompt_file, prompt_files, rubrics_dir

    paths = prompt_files(args.dir)
    if not paths:
        raise InputError(f"no prompt files (*.yaml) in {args.dir or rubrics_dir()}")
    specs = [load_prompt_file(path) for path in paths]
    rows = [("id", "version", "stage", "sha256", "description")]
    rows += [(s.id, s.version, s.stage, s.content_hash[:12], s.description) for s in specs]
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]  # columns as wide as their longest cell
    for row in rows:
        print("  ".join(f"{v!s:<{w}}" for v, w in zip(row[:4], widths)) + f"  {row[4]}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from autointerp.judging.prompts import PromptSpec

    print(json.dumps(PromptSpec.model_json_schema(), indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = verb_with_actions(
        subparsers,
        "rubrics",
        help="Validate and list the prompt/rubric files (rubrics/*.yaml).",
        description="Prompt and rubric files are data: YAML validated against a schema; every judgement records the "
        "file's id, version and sha256 content hash.",
    )
    validate = sub.add_parser("validate", help="Check prompt files against the schema (default: all shipped files).")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="Files or folders (default: the rubrics folder).")
    validate.set_defaults(func=_validate)
    lst = sub.add_parser("list", help="List prompt files: id, version, stage, hash, description.")
    lst.add_argument("--dir", default=None, help="Folder to list (default: the rubrics folder).")
    lst.set_defaults(func=_list)
    schema = sub.add_parser("schema", help="Print the JSON schema of a prompt file.")
    schema.set_defaults(func=_schema)
