"""Prompt and rubric files: loading, validation and content hashing.

Every LLM stage reads its wording from a YAML file under ``rubrics/`` (or any
path a config names). A file is validated against :class:`PromptSpec` (its JSON
schema: ``PromptSpec.model_json_schema()``), and every judgement records the
file's id, version and :func:`content_hash` so a result can be traced to the
exact wording that produced it.

File layout (see ``rubrics/*.yaml``)::

    id: specificity            # referenced from stage configs
    version: "1"
    stage: specificity         # explain | specificity | simulate
    description: one line for `autointerp rubrics list`
    system: |                  # system text
    user_template: |           # live question; {placeholders} depend on the stage
    retry_template: |          # sent after an unreadable answer; {error}
    examples: [...]            # few-shot examples as structured data (rendered like the live question)
    parser: {name: ..., options: {...}}
    notes: |                   # design choices, e.g. what is highlighted in a zero-activation context
"""

from __future__ import annotations

import hashlib
import json
import os
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from autointerp.backends.base import Backend, LLMRequest, LLMResponse, Message
from autointerp.errors import ConfigError, InputError
from autointerp.judging.parser_catalog import PARSERS, build_parser
from autointerp.judging.parsers import ParseError, Parser
from autointerp.types import Frozen, Provenance, Usage

Stage = Literal[
    "explain", "specificity", "simulate", "detection", "fuzzing", "saebench_explain", "saebench", "intruder",
    "intervention",
]

RUBRICS_ENV = "AUTOINTERP_RUBRICS_DIR"

#: Placeholders each stage fills in its user template (all must be known; the required ones must appear).
TEMPLATE_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # stage: (allowed, required)
    "explain": (frozenset({"contexts", "logit_tokens"}), frozenset({"contexts"})),
    "specificity": (frozenset({"explanation", "contexts", "n_contexts"}), frozenset({"explanation", "contexts"})),
    "simulate": (frozenset({"explanation", "contexts", "tokens", "n_tokens"}), frozenset({"explanation"})),
    # the scorers in autointerp/scorers/
    "detection": (frozenset({"explanation", "contexts", "n_contexts"}), frozenset({"explanation", "contexts"})),
    "fuzzing": (frozenset({"explanation", "contexts", "n_contexts"}), frozenset({"explanation", "contexts"})),
    "saebench_explain": (frozenset({"contexts"}), frozenset({"contexts"})),
    "saebench": (
        frozenset({"explanation", "contexts", "n_contexts", "example_answer"}), frozenset({"explanation", "contexts"})
    ),
    "intruder": (frozenset({"contexts", "n_contexts"}), frozenset({"contexts"})),
    "intervention": (
        frozenset({"explanation", "contexts", "n_contexts", "n_steered"}), frozenset({"explanation", "contexts"})
    ),
}


#: Snippets a stage knows, with the placeholders each may use.
SNIPPET_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("explain", "logit_tokens"): frozenset({"promoted", "suppressed"}),
    ("explain", "token_change"): frozenset({"raised", "lowered"}),
}


class ExampleContext(Frozen):
    """One context of a few-shot example, given as tokens (and activations where the stage shows them)."""

    tokens: tuple[str, ...] = Field(min_length=1, description="Token strings, as a tokenizer would split the text.")
    activations: tuple[float, ...] | None = Field(
        default=None, description="Activation per token on a 0-10 scale (explain and simulate examples)."
    )
    highlight: int | None = Field(
        default=None, ge=0, description="Index of the highlighted token (specificity examples)."
    )

    @model_validator(mode="after")
    def _lengths(self) -> ExampleContext:
        if self.activations is not None and len(self.activations) != len(self.tokens):
            raise ValueError(f"example context has {len(self.tokens)} tokens but {len(self.activations)} activations")
        if self.highlight is not None and self.highlight >= len(self.tokens):
            raise ValueError(f"highlight index {self.highlight} is outside the {len(self.tokens)} tokens")
        return self


class Example(Frozen):
    """A few-shot example: structured inputs, rendered exactly like a live question, plus the ideal answer."""

    explanation: str | None = Field(default=None, description="The description being judged (specificity, simulate).")
    contexts: tuple[ExampleContext, ...] = Field(min_length=1)
    logit_tokens: tuple[str, ...] = Field(default=(), description="Promoted output tokens (explain, optional).")
    assistant: str | None = Field(
        default=None,
        description="The ideal answer text. Omit for simulate examples: the answer is rendered from the activations.",
    )


class ParserSpec(Frozen):
    """How to read the model's answer: a parser name and its options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class PromptSpec(Frozen):
    """One prompt/rubric file."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Stable id, referenced from stage configs.")
    version: str = Field(min_length=1, description="Bump when the wording changes.")
    stage: Stage
    description: str = Field(min_length=1, description="One line shown by `autointerp rubrics list`.")
    system: str = Field(min_length=1)
    user_template: str = Field(min_length=1, description="The live question; str.format placeholders per stage.")
    retry_template: str = Field(
        default="Your answer could not be read: {error}. Please answer again in exactly the requested format.",
        description="Sent after an unreadable answer; placeholder {error}.",
    )
    snippets: dict[str, str] = Field(
        default_factory=dict,
        description="Named text pieces a stage fills in and inserts, e.g. explain's 'logit_tokens' line.",
    )
    examples: tuple[Example, ...] = ()
    parser: ParserSpec
    notes: str = Field(default="", description="Design choices worth recording with the wording.")
    content_hash: str = Field(default="", description="sha256 of the canonical file content (set by the loader).")

    @model_validator(mode="after")
    def _check(self) -> PromptSpec:
        allowed, required = TEMPLATE_FIELDS[self.stage]
        used = _template_fields(self.user_template, "user_template")
        if unknown := used - allowed:
            raise ValueError(f"user_template uses unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if missing := required - used:
            raise ValueError(f"user_template lacks required placeholder(s) {sorted(missing)}")
        if bad := _template_fields(self.retry_template, "retry_template") - {"error"}:
            raise ValueError(f"retry_template uses unknown placeholder(s) {sorted(bad)}; allowed: ['error']")
        for name, text in self.snippets.items():
            allowed_snip = SNIPPET_FIELDS.get((self.stage, name))
            if allowed_snip is None:
                known = sorted(n for st, n in SNIPPET_FIELDS if st == self.stage)
                raise ValueError(f"unknown snippet {name!r} for stage {self.stage!r}; allowed: {known}")
            if bad := _template_fields(text, f"snippets.{name}") - allowed_snip:
                raise ValueError(f"snippets.{name} uses unknown placeholder(s) {sorted(bad)}")
        fitting = sorted(n for n in PARSERS if self.stage in _parser_stages(PARSERS.get(n)))
        if self.parser.name not in fitting:
            raise ValueError(f"parser {self.parser.name!r} does not fit stage {self.stage!r}; expected one of {fitting}")
        try:
            build_parser(self.parser.name, self.parser.options)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        for i, ex in enumerate(self.examples):
            if self.stage not in ("simulate",) and not ex.assistant:
                raise ValueError(f"examples[{i}] needs an 'assistant' answer for stage {self.stage}")
            if self.stage in ("specificity", "simulate", "detection", "fuzzing", "saebench", "intervention") and not \
                    ex.explanation:
                raise ValueError(f"examples[{i}] needs an 'explanation' for stage {self.stage}")
            if self.stage in ("explain", "simulate") and any(c.activations is None for c in ex.contexts):
                raise ValueError(f"examples[{i}] contexts need 'activations' for stage {self.stage}")
        return self

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"

    def build_parser(self) -> Parser:
        return build_parser(self.parser.name, self.parser.options)


def _parser_stages(parser: type[Parser]) -> tuple[str, ...]:
    """The stage(s) a parser serves (a parser may declare one stage or a tuple of them)."""
    return parser.stage if isinstance(parser.stage, tuple) else (parser.stage,)


def _template_fields(template: str, name: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise ValueError(f"{name} is not a valid format string: {exc}") from None


def rubrics_dir() -> Path:
    """Folder of the shipped prompt files (``$AUTOINTERP_RUBRICS_DIR`` overrides)."""
    env = os.environ.get(RUBRICS_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "rubrics"


def content_hash(data: Any) -> str:
    """sha256 of the canonical JSON form of a file's parsed content (key order and YAML layout don't matter)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "file"
    msg = err["msg"].removeprefix("Value error, ")
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {msg}{extra}"


def load_prompt_file(path: str | Path) -> PromptSpec:
    """Read and validate one prompt file; raises InputError naming the file and the first problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read prompt file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"prompt file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InputError(f"prompt file {path}: expected a mapping at the top level, got {type(data).__name__}")
    data.pop("content_hash", None)
    try:
        spec = PromptSpec.model_validate({**data, "content_hash": content_hash(data)})
    except ValidationError as exc:
        raise InputError(f"prompt file {path}: {_first_error(exc)}") from None
    return spec


def prompt_files(folder: str | Path | None = None) -> list[Path]:
    folder = Path(folder) if folder else rubrics_dir()
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> PromptSpec:
    return load_prompt_file(path)


def load_prompt(ref: str | Path, stage: Stage | None = None) -> PromptSpec:
    """Load a prompt by id (a file ``<id>.yaml`` in :func:`rubrics_dir`) or by path; check its stage."""
    ref_str = str(ref)
    path = Path(ref_str)
    if not (ref_str.endswith((".yaml", ".yml")) or path.is_file()):
        path = rubrics_dir() / f"{ref_str}.yaml"
        if not path.is_file():
            known = ", ".join(p.stem for p in prompt_files()) or "(none)"
            raise ConfigError(f"unknown prompt id {ref_str!r}; expected one of: {known} (or a path to a .yaml file)")
    if not path.is_file():
        raise InputError(f"prompt file {path} does not exist")
    spec = _load_cached(str(path.resolve()), path.stat().st_mtime_ns)
    if stage is not None and spec.stage != stage:
        raise ConfigError(f"prompt {spec.id!r} ({path}) is for stage {spec.stage!r}, expected {stage!r}")
    return spec


# --- asking: shared by the three stages -------------------------------------------------------------------------


def config_hash(config: BaseModel) -> str:
    """Short sha256 of a stage config (JSON with sorted keys)."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def provenance(spec: PromptSpec, backend: Backend, config: BaseModel, seed: int, model: str = "") -> Provenance:
    return Provenance(
        backend=backend.spec,
        model=model or backend.model,
        prompt_id=spec.id,
        prompt_version=spec.version,
        prompt_hash=spec.content_hash,
        config_hash=config_hash(config),
        seed=seed,
    )


def build_request(
    spec: PromptSpec, examples: Sequence[tuple[str, str]], user: str, **fields: Any
) -> LLMRequest:
    """System text, few-shot turns (a stable, cacheable prefix), then the live question."""
    messages: list[Message] = []
    for ex_user, ex_answer in examples:
        messages += [Message(role="user", content=ex_user), Message(role="assistant", content=ex_answer)]
    messages.append(Message(role="user", content=user))
    return LLMRequest(
        system=spec.system.strip(), messages=tuple(messages), cache_prefix_messages=2 * len(examples), **fields
    )


T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """Outcome of :func:`ask`: the parsed value, or None and the last problem."""

    value: T | None
    error: str | None
    usage: Usage
    model: str


async def ask(
    backend: Backend,
    request: LLMRequest,
    parse: Callable[[LLMResponse], T],
    *,
    retries: int,
    retry_template: str,
) -> Answer[T]:
    """Send ``request``; on an unreadable answer, show the model its answer and the problem, up to ``retries`` times.

    Backend errors propagate (the stages record them); parse problems never do.
    """
    usage, model, error = Usage(), "", "no answer"
    for _ in range(retries + 1):
        response = await backend.complete(request)
        usage, model = usage + response.usage, response.model or model
        try:
            return Answer(parse(response), None, usage, model)
        except ParseError as exc:
            error = str(exc)
        follow_up = (
            Message(role="assistant", content=response.text or "(empty)"),
            Message(role="user", content=retry_template.format(error=error).strip()),
        )
        request = request.model_copy(update={"messages": request.messages + follow_up})
    return Answer(None, f"unreadable answer after {retries + 1} attempt(s): {error}", usage, model)
