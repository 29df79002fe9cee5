"""RunConfig: one typed model for a whole run.

Field descriptions double as CLI help (``autointerp run --help`` and
``autointerp config show``). A config comes from a YAML file and/or flags
(``--features 16``, ``--set sampler.top_k=30``); the resolved config is saved
with every run, and hashes of its parts key the stored results so a changed
parameter re-runs exactly the stages it affects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autointerp.backends.options import BackendOptions
from autointerp.errors import AutointerpError, ConfigError, InputError
from autointerp.judging.explain import ExplainConfig
from autointerp.sampling import SamplerConfig
from autointerp.scorers.detection import DetectionConfig
from autointerp.scorers.embedding import EmbeddingConfig
from autointerp.scorers.fuzzing import FuzzingConfig
from autointerp.scorers.intervention import InterventionConfig
from autointerp.scorers.intruder import IntruderConfig
from autointerp.scorers.protocols import DEFAULT_PROTOCOL, PROTOCOLS, preset_layer, protocol_label
from autointerp.scorers.saebench import SaebenchConfig
from autointerp.scorers.simulation import SimulateConfig
from autointerp.scorers.specificity import RubricConfig
from autointerp.types import ProtocolLabel

DEFAULT_BACKEND = "local:smollm2-135m"

UnitSpec = int | list[int] | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BackendsConfig(_Strict):
    """Which LLM answers each stage (a backend spec string, see docs/backends.md)."""

    explain: str = Field(default=DEFAULT_BACKEND, description="Backend spec for the explainer.")
    rubric: str = Field(default=DEFAULT_BACKEND, description="Backend spec for the 0-3 specificity scorer.")
    simulate: str = Field(default=DEFAULT_BACKEND, description="Backend spec for the activation simulator.")


LOCAL_ANSWER_PREFILL = "Explanation:"  # the explain prompt's answer line (rubrics/explain.yaml)


class RunConfig(_Strict):
    """Everything that defines a run."""

    name: str = Field(default="run", description="Run name: results go to <results_dir>/<name>/.")
    protocol: str = Field(
        default=DEFAULT_PROTOCOL,
        description="Protocol preset: ours (autointerp's defaults), delphi, saebench or openai (autointerp protocols "
        "list). A preset sets the peer's sampling, prompting and aggregation; any field you set yourself wins and "
        "the run is labelled as modified.",
    )
    results_dir: Path = Field(default=Path("results"), description="Folder holding run folders.")
    model: str = Field(
        default="smollm2-135m",
        description="Subject model: a packaged name (smollm2-135m), a local transformers folder, or a Hugging Face "
        "Hub id (google/gemma-2-2b).",
    )
    device: str = Field(default="cpu", description="Torch device for the subject model: cpu, cuda, cuda:N or auto.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        default="float32", description="Precision of the subject model; SAEs always encode in float32."
    )
    corpus: str = Field(
        default="brown", description="'brown' (packaged Brown Corpus) or a .txt/.jsonl/.parquet file or folder."
    )
    text_field: str = Field(default="text", description="Text field of .jsonl/.parquet corpora.")
    window: int = Field(default=64, ge=4, description="Tokens per context window (windows never cross documents).")
    max_tokens: int = Field(default=100_000, ge=1, description="Token budget read from the corpus.")
    sae: str | None = Field(
        default=None,
        description="SAE checkpoint: a folder or file (SAELens, sparsify, dictionary_learning, safetensors), "
        "saelens:RELEASE/SAE_ID (SAELens's pretrained registry) or hf:OWNER/REPO/PATH (a Hub folder); none (flag) / "
        "null (YAML): no features are scored. (compare-dicts also takes neurons:MODEL@SITE.)",
    )
    sae_format: str = Field(
        default="auto", description="Checkpoint format: auto, saelens, sparsify, dictionary_learning, safetensors."
    )
    sae_site: str = Field(
        default="layers.6.resid_post", description="Hook site the SAE reads, e.g. layers.6.resid_post."
    )
    sae_site_override: bool = Field(
        default=False,
        description="Read the SAE at sae_site even when its checkpoint names another hook (otherwise refused).",
    )
    features: UnitSpec = Field(
        default=16,
        description="Features to score: N random, a list 1,5,9 (YAML: [1, 5, 9]), or a range 0-99. "
        "0 needs sae: none.",
    )
    neuron_site: str | None = Field(
        default="layers.6.mlp", description="Hook site of the neuron baseline (none: no neurons), e.g. layers.6.mlp."
    )
    neurons: UnitSpec = Field(
        default=16,
        description="Neurons to score: N random, a list 1,5,9 (YAML: [1, 5, 9]), or a range 0-99. "
        "To score no neurons use neuron_site: none.",
    )
    seed: int = Field(default=0, description="Seed of every random choice in the run.")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig, description="Context sampling.")
    explain: ExplainConfig = Field(default_factory=ExplainConfig, description="Explainer stage.")
    rubric: RubricConfig = Field(default_factory=RubricConfig, description="Specificity rubric stage.")
    simulate: SimulateConfig = Field(default_factory=SimulateConfig, description="Simulator stage.")
    scorers: list[str] = Field(
        default_factory=lambda: ["specificity", "simulation"],
        description="Scorers to run (autointerp scorers list): specificity, simulation, detection, fuzzing, embedding, "
        "intruder, saebench, intervention; a flag takes a comma-separated list.",
    )
    negatives: Literal["random", "neighbours"] = Field(
        default="random",
        description="Non-activating contexts of detection/embedding and intruder sources: random windows, or 'neighbours' (other units nearest in decoder direction, where this unit is silent).",
    )
    reseeds: int = Field(
        default=1, ge=1, description="Repeat every scorer's seeded choices with N seeds and report the spread."
    )
    detection: DetectionConfig = Field(default_factory=DetectionConfig, description="Detection scorer (delphi).")
    fuzzing: FuzzingConfig = Field(default_factory=FuzzingConfig, description="Fuzzing scorer (delphi).")
    saebench: SaebenchConfig = Field(default_factory=SaebenchConfig, description="SAEBench autointerp preset.")
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig, description="Embedding scorer (no LLM).")
    intruder: IntruderConfig = Field(default_factory=IntruderConfig, description="Intruder scorer (no explanation).")
    intervention: InterventionConfig = Field(
        default_factory=InterventionConfig, description="Intervention scorer: steering (alpha scale, prompts) and judge."
    )
    backends: BackendsConfig = Field(default_factory=BackendsConfig, description="Backend per stage.")
    llm: BackendOptions = Field(
        default_factory=lambda: BackendOptions(max_concurrency=8),
        description="LLM wrapper stack: concurrency, rpm/tpm limits, max_cost budget, retries, timeout, batch API.",
    )
    cache: bool = Field(
        default=True, description="Cache LLM responses on disk (llm.cache_dir, default <results_dir>/.llm_cache)."
    )

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        """The protocol preset under the fields given (given fields always win)."""
        return _deep_merge(preset_layer(data), data) if isinstance(data, dict) else data

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, v: str) -> str:
        if v not in PROTOCOLS:
            raise ValueError(f"unknown protocol {v!r}; expected one of: {', '.join(PROTOCOLS.names())}")
        return v

    @property
    def protocol_label(self) -> ProtocolLabel:
        """The preset this config follows and the preset fields it changed ('delphi protocol, modified: window 64')."""
        return protocol_label(self)

    @model_validator(mode="after")
    def _one_seed(self) -> RunConfig:
        """``seed`` seeds everything unless sampler.seed is set explicitly."""
        if "seed" not in self.sampler.model_fields_set and self.sampler.seed != self.seed:
            object.__setattr__(self, "sampler", self.sampler.model_copy(update={"seed": self.seed}))
        return self

    @model_validator(mode="after")
    def _local_prefill(self) -> RunConfig:
        """A local explainer (a small transformers model) has its reply started with the prompt's 'Explanation:'
        line unless ``explain.answer_prefill`` is given: small models rarely write that line unaided, and the strict
        parser would fail most units. API and served models answer in format and keep the prompt as written. The
        resolved value is what config.yaml records."""
        if self.backends.explain.split(":", 1)[0] == "local" and "answer_prefill" not in self.explain.model_fields_set:
            explain = self.explain.model_copy(update={"answer_prefill": LOCAL_ANSWER_PREFILL})
            object.__setattr__(self, "explain", explain)
        return self

    @property
    def cache_dir(self) -> Path | None:
        if not self.cache:
            return None
        return self.llm.cache_dir or self.results_dir / ".llm_cache"

    @field_validator("features", "neurons", mode="before")
    @classmethod
    def _no_bool_units(cls, v: Any) -> Any:
        if isinstance(v, bool) or (isinstance(v, list) and any(isinstance(u, bool) for u in v)):
            raise ValueError(f"expected N, a list of unit indices or a range 'a-b', got {v!r}")
        return v

    @field_validator("features", "neurons")
    @classmethod
    def _check_units(cls, v: UnitSpec) -> UnitSpec:
        if isinstance(v, int) and v < 0:
            raise ValueError(f"must be >= 0, got {v}")
        if isinstance(v, list):
            bad = [u for u in v if u < 0]
            if bad:
                raise ValueError(f"unit indices must be >= 0, got {bad[0]}")
            return list(dict.fromkeys(v))  # each unit once: --features 3,3,5 scores 3 and 5
        if isinstance(v, str):
            _parse_range(v)
        return v

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        from autointerp.runs.rundir import check_name

        return check_name(v)

    @model_validator(mode="after")
    def _zero_units(self) -> RunConfig:
        """0 units of a basis that is switched on is almost surely a mistake: say how to switch it off."""
        if self.neuron_site is not None and self.neurons in (0, []):
            raise ValueError("field 'neurons': 0 scores no neurons; to drop the neuron baseline set neuron_site: none "
                             "(--neuron-site none)")
        if self.sae is not None and self.features in (0, []):
            raise ValueError("field 'features': 0 scores no features; to drop the SAE set sae: none (--sae none)")
        return self

    @field_validator("scorers", mode="before")
    @classmethod
    def _scorer_names(cls, v: Any) -> Any:
        """'detection,fuzzing' (a flag) -> a list; every name must be a registered scorer, each once."""
        from autointerp.scorers import SCORERS

        names = [n.strip() for n in v.split(",") if n.strip()] if isinstance(v, str) else v
        if isinstance(names, (list, tuple)):
            unknown = [n for n in names if not isinstance(n, str) or n not in SCORERS]
            if unknown:
                raise ValueError(f"unknown scorer {unknown[0]!r}; expected some of: {', '.join(SCORERS.names())}")
            if not names:
                raise ValueError("needs at least one scorer")
            return list(dict.fromkeys(names))
        return v

    @property
    def run_dir(self) -> Path:
        return self.results_dir / self.name

    def part_hash(self, *fields: str) -> str:
        """Hash of some fields (the parameters one stage depends on), prompts included by content: a prompt or
        rubric file named in these fields (``prompt``, ``*_prompt``), or fixed by a scorer that reads one of them,
        counts by its content hash, so editing a prompt file re-runs the stages that use it."""
        data = _with_prompt_hashes(self.model_dump(mode="json", include=set(fields)))
        data["__fixed_prompts__"] = {f: [_prompt_hash(p) for p in FIXED_PROMPTS[f]] for f in fields if f in FIXED_PROMPTS}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def config_hash(self) -> str:
        return self.part_hash(*[f for f in type(self).model_fields if f not in ("name", "results_dir", "llm", "cache")])


# Prompt files a config section's stage always reads (the scorer fixes them; no config field names them).
FIXED_PROMPTS = {"detection": ("detection",), "fuzzing": ("fuzzing",)}


def _prompt_hash(ref: str) -> str:
    from autointerp.judging.prompts import load_prompt

    try:
        return f"{ref}@{load_prompt(ref).content_hash}"
    except AutointerpError:  # a bad reference is reported where the prompt is loaded, in one line
        return ref


def _with_prompt_hashes(node):
    if isinstance(node, dict):
        return {k: _prompt_hash(v) if isinstance(v, str) and (k == "prompt" or k.endswith("_prompt"))
                else _with_prompt_hashes(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_with_prompt_hashes(v) for v in node]
    return node


# Which config fields each stage's results depend on (a change re-runs that stage and those after it).
SAMPLING_FIELDS = (
    "model",
    "corpus",
    "text_field",
    "window",
    "max_tokens",
    "sae",
    "sae_format",
    "sae_site",
    "features",
    "neuron_site",
    "neurons",
    "seed",
    "sampler",
)
STAGE_FIELDS = {
    "explain": (*SAMPLING_FIELDS, "explain", "backends"),
    "rubric": (*SAMPLING_FIELDS, "explain", "rubric", "backends"),
    "simulate": (*SAMPLING_FIELDS, "explain", "simulate", "backends"),
    "detection": (*SAMPLING_FIELDS, "explain", "detection", "negatives", "backends"),
    "fuzzing": (*SAMPLING_FIELDS, "explain", "fuzzing", "backends"),
    "saebench": (*SAMPLING_FIELDS, "saebench", "backends"),
    "embedding": (*SAMPLING_FIELDS, "explain", "embedding", "negatives", "backends"),
    "intruder": (*SAMPLING_FIELDS, "intruder", "negatives", "backends"),
    "intervention": (*SAMPLING_FIELDS, "explain", "intervention", "backends"),
}


def _parse_range(text: str) -> range:
    try:
        a, b = (int(p) for p in text.split("-"))
    except ValueError:
        raise ValueError(f"expected a range 'a-b', got {text!r}") from None
    if b < a or a < 0:
        raise ValueError(f"expected a range 'a-b' with 0 <= a <= b, got {text!r}")
    return range(a, b + 1)


def select_units(spec: UnitSpec, n_available: int, seed: int, field: str) -> list[int]:
    """Resolve a unit spec against a basis of n_available units (seeded for 'N random')."""
    if isinstance(spec, int):
        if spec > n_available:
            raise ConfigError(f"field '{field}': asked for {spec} random units, the basis has only {n_available}")
        rng = np.random.default_rng([seed, n_available, 7])
        return sorted(int(i) for i in rng.choice(n_available, size=spec, replace=False))
    units = list(dict.fromkeys(_parse_range(spec) if isinstance(spec, str) else spec))  # each unit once
    bad = [u for u in units if not 0 <= u < n_available]
    if bad:
        raise ConfigError(
            f"field '{field}': unit {bad[0]} out of range; the basis has {n_available} units (0..{n_available - 1})"
        )
    return units


def _validation_message(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("int", "list", "str", "function")))
    got = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{source}: unknown field '{loc}'"
    if kind == "missing":
        return f"{source}: missing field '{loc}'"
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a whole-config rule; its message names the fields
        return f"{source}: {msg}"
    got_text = "" if isinstance(got, dict) or repr(got) in msg or "got " in msg else f" (got {got!r})"
    more = f" [+{len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    return f"{source}: field '{loc}': {msg}{got_text}{more}"


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: '{k}' is not a section")
    node[keys[-1]] = value


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    kept: tuple[str, ...] = (),
    source: str = "config",
) -> RunConfig:
    """Validate ``defaults`` < the protocol preset < the YAML file (optional) < ``overrides``, each a layer over the
    one before (the preset is the one the file, the overrides or the defaults name; see scorers/protocols.py).

    ``defaults`` and ``overrides`` are dotted (``{'sampler.top_k': 30}``); None is a real value. The ``kept``
    defaults sit over the preset (the demo keeps its size and its local judge under any preset; the run's protocol
    label then names them as modified)."""
    base: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in (defaults or {}).items():
        _set_dotted(data if key in kept else base, key, value)
    if path is not None:
        p = Path(path)
        source = str(p)
        if not p.is_file():
            raise InputError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of fields at the top level, got {type(loaded).__name__}")
        data = _deep_merge(data, loaded or {})
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    data = _deep_merge(base, _deep_merge(preset_layer(data, data.get("protocol") or base.get("protocol")), data))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_message(exc, source)) from None


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``['sampler.top_k=30', 'sae=null']`` -> dict, values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(raw)
    return out


def save_config(config: RunConfig, path: Path) -> None:
    """The resolved config as YAML, with any password in a backend URL redacted."""
    from autointerp.secrets import redact_tree

    path.parent.mkdir(parents=True, exist_ok=True)
    data = redact_tree(config.model_dump(mode="json"))
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


# Top-level scalar RunConfig fields get a flag of their own (sections and booleans: --set section.field=value).
FLAG_FIELDS = tuple(
    name
    for name, info in RunConfig.model_fields.items()
    if not (isinstance(info.annotation, type) and issubclass(info.annotation, (BaseModel, bool)))
)


def backend_overrides(spec: str | None) -> dict[str, str]:
    """One backend spec for every judge stage (``--backend``, ``evaluate(backend=...)``) as dotted overrides."""
    return {f"backends.{stage}": spec for stage in ("explain", "rubric", "simulate")} if spec else {}


def config_from_flags(given: Mapping[str, Any], defaults: dict | None = None, kept: tuple[str, ...] = ()) -> RunConfig:
    """A RunConfig from parsed flag values: ``defaults`` (dotted) < the ``config`` file < flags and ``set`` items.

    ``given`` holds only the flags the user gave (the CLI's parser leaves the rest out), under their field names,
    plus ``config`` (a YAML path or None), ``backend`` (one spec for every stage), ``max_cost`` and ``set``."""
    overrides: dict = {name: given[name] for name in FLAG_FIELDS if name in given}  # None included ('--sae none')
    overrides.update(backend_overrides(given.get("backend")))
    if given.get("max_cost") is not None:
        overrides["llm.max_cost"] = given["max_cost"]
    overrides.update(parse_set(given.get("set")))
    return load_config(given.get("config"), overrides, defaults=defaults, kept=kept)
