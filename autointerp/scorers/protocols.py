"""Protocol presets: a peer's whole protocol as data, so a number can stand beside the peer's published one.

A preset is a row of :data:`TABLE`: where it comes from (paper, repository, commit), the peer's headline number
and how it aggregates units, which scorers it covers, and the RunConfig fields it sets (dotted, e.g.
``sampler.bins``). ``protocol: <name>`` (``--protocol``) applies a preset *under* whatever the user sets: a field
given in the config file, a flag or ``--set`` always wins, and the run's :class:`~autointerp.types.ProtocolLabel`
then names it ("delphi protocol, modified: window 64"). ``ours`` sets nothing: the project's own defaults.

To add or change a preset, edit its row; nothing else reads preset values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from autointerp.registry import Registry
from autointerp.types import ModifiedField, ProtocolLabel

Aggregation = Literal["mean", "median", "pooled"]


@dataclass(frozen=True)
class Protocol:
    """One preset: a peer's sampling, prompting and aggregation defaults, as RunConfig field values."""

    name: str
    reference: str  # paper, repository and the commit its values were read from
    headline: str  # the peer's headline number, e.g. "accuracy over 14 documents"
    aggregation: Aggregation  # how the peer aggregates units into that number
    scorers: tuple[str, ...] = ()  # the peer's default scorers (a run's scorers under the preset unless set)
    also_covers: tuple[str, ...] = ()  # further scorers whose settings the preset sets, run only when asked for
    sets: Mapping[str, Any] = field(default_factory=dict)  # dotted RunConfig field -> value
    differs: str = ""  # what still differs from the peer when every value is as set


TABLE: tuple[Protocol, ...] = (
    Protocol(
        name="ours",
        reference="autointerp's own defaults (README, docs/protocols.md)",
        headline="each scorer's primary metric",
        aggregation="median",
        differs="not a peer's protocol: compare only with runs of autointerp",
    ),
    Protocol(
        name="delphi",
        reference="Paulo et al. 2024, 'Automatically Interpreting Millions of Features in LLMs'; "
        "github.com/EleutherAI/delphi at 3c2e139 (PyPI eai-delphi 0.1.3)",
        headline="balanced accuracy of detection and fuzzing",
        aggregation="pooled",
        scorers=("detection", "fuzzing"),
        also_covers=("intruder", "embedding"),
        sets={
            # windows: delphi cuts its token stream into 32-token windows (example_ctx_len) and shows the whole
            # window holding the activation (center_examples=True pools fixed windows)
            "window": 32,
            # test examples: 5 from each of 10 equal-count quantiles, drawn from the ranked top + level contexts;
            # a large uniform level pool and top_k 1 keep the ranking close to the corpus's (delphi ranks all)
            "sampler.bins": "quantile",
            "sampler.threshold": 0.0,  # delphi: a window is activating when the unit is non-zero anywhere in it
            "sampler.n_bins": 10,
            "sampler.per_bin": 20,
            "sampler.top_k": 1,
            # non-activating: 50 per unit, drawn with replacement for each unit from the held-out random windows
            # where it is silent (delphi: torch.randint over every silent window of the cache)
            "sampler.n_random": 200,
            # explainer: delphi's train set is 40 examples, 4 from each quantile, no top examples
            "explain.n_top": 0,
            "explain.n_quantile": 40,
            **{f"{s}.{k}": v for s in ("detection", "fuzzing") for k, v in {
                "prompt": f"{s}-delphi", "selection": "quantiles", "n_quantiles": 10, "per_level": 5,
                "n_negatives": 50, "negatives_replace": True, "contexts_per_prompt": 5, "max_retries": 0,
                "min_active_windows": 200}.items()},
            "fuzzing.variant": "default",
            "fuzzing.threshold": 0.3,
            "intruder.intruder": "random",
            "intruder.selection": "quantiles",
            "intruder.n_trials": 50,
            "intruder.n_activating": 4,
            "intruder.threshold": 0.3,
            "intruder.failed_as_wrong": True,
            "intruder.max_retries": 0,
            "intruder.min_active_windows": 200,
            "embedding.selection": "quantiles",
            "embedding.n_quantiles": 10,
            "embedding.per_level": 5,
            "embedding.n_negatives": 50,
            "embedding.negatives_replace": True,
            "embedding.min_active_windows": 200,
            "embedding.query_prefix": "Instruct: Find text passages that fit this description of a feature.\nQuery:",
        },
        differs="windows never cross documents (delphi's 32-token windows cut a stream of joined documents); test "
        "quantiles rank the sampler's kept windows, not every activating window, and test windows never overlap "
        "the explainer's (delphi draws both from the same windows); non-activating windows come from a pool of "
        "200 held-out random windows (delphi: every silent window of the cache, with torch's seed 42 for each "
        "unit); a unit needs 200 activating windows in our corpus as in delphi's cache (a smaller corpus leaves fewer units); "
        "prompts in our words; the embedding prefix says the same in other words",
    ),
    Protocol(
        name="saebench",
        reference="Karvonen et al. 2025, 'SAEBench'; github.com/adamkarvonen/SAEBench sae_bench/evals/autointerp "
        "(main.py, eval_config.py at 8042bb3)",
        headline="autointerp score: accuracy over 14 documents (2 top, 2 importance-weighted, 10 random), with std",
        aggregation="mean",
        scorers=("saebench",),
        sets={
            "max_tokens": 2_000_000,  # total_tokens
            "features": 1000,  # n_latents
            "window": 128,  # llm_context_size: the sequences documents are cut from
            "sampler.n_random": 50,  # a pool of random windows; each unit draws its own 10 random tokens from it
            "saebench.buffer": 10,  # 21-token documents centred on their token
            "saebench.iw_power": 2.0,  # get_iw_sample_indices(use_squared_values=True)
            "saebench.split": "random",  # top 12 and weighted 7 split at random 10/2 and 5/2
            "saebench.min_firings": 15,  # dead_latent_threshold: latents that fired more than 15 times
            "saebench.explain_max_tokens": 30,  # max_tokens_in_explanation
            "saebench.answer_max_tokens": 33,  # max_tokens_in_prediction = 2 * 14 + 5
            "saebench.temperature": 1.0,  # the API's default: SAEBench sets none
            "saebench.max_retries": 0,  # one request; an unreadable answer drops the latent
            "saebench.backend": "openai:gpt-4o-mini",
        },
        differs="corpus (SAEBench: the Pile, uncopyrighted, 128-token sequences); the 1,000 latents are drawn before "
        "sampling, so latents that fired 15 times or fewer fail as 'not scored' instead of being replaced; "
        "importance-weighted documents are drawn from the sampler's kept windows (weights scaled to the corpus "
        "histogram), not from every token; random documents come from a pool of 50 windows per split",
    ),
    Protocol(
        name="openai",
        reference="Bills et al. 2023, 'Language models can explain neurons in language models'; "
        "github.com/openai/automated-interpretability neuron-explainer (activations.py, scoring.py, simulator.py at "
        "e4aa21b)",
        headline="simulation score: correlation of simulated and true activations over the tokens of 5 top and 5 "
        "random sequences pooled (all-at-once logprob expected values)",
        aggregation="mean",
        scorers=("simulation",),
        sets={
            "window": 64,  # 64-token sequences
            "sampler.n_random": 50,  # a pool of random windows; each unit draws its own 5 from it
            "explain.n_top": 5,  # train split: 5 top records (n_examples_per_split=5) ...
            "explain.top_from": "interleaved",  # ... ranks 1, 5, 9, 13, 17 of the top records
            "explain.n_quantile": 0,  # top records only
            "explain.n_logit_tokens": 0,
            "simulate.n_top": 5,  # valid split: 5 top records, ranks 3, 7, 11, 15, 19 ...
            "simulate.top_from": "interleaved",
            "simulate.n_quantile": 0,
            "simulate.n_random": 5,  # ... and 5 random records
            "simulate.method": "logprobs-all-at-once",  # ExplanationNeuronSimulator: EV over 0-10 from logprobs
        },
        differs="prompts in our words (their explainer and simulator few-shot prompts are not copied) and the "
        "explainer's 0-10 levels round half up (OpenAI floors); corpus and subject model (OpenAI: GPT-2 XL on its "
        "WebText-like dataset); random sequences come from a pool of 50 windows; the estimator needs prompt "
        "logprobs (a local simulation backend): a chat-API judge is refused before sampling",
    ),
)

PROTOCOLS: Registry[Protocol] = Registry("protocol")
for _p in TABLE:
    PROTOCOLS.add(_p.name, _p)

DEFAULT_PROTOCOL = "ours"


def _json(value: Any) -> Any:
    """A value as it appears in a dumped config (tuples -> lists, paths -> strings)."""
    return json.loads(json.dumps(value, default=str))


def _nested(dotted: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *head, last = key.split(".")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    return out


def _has(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for k in dotted.split("."):
        if not isinstance(node, Mapping) or k not in node:
            return False
        node = node[k]
    return True


def _get(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for k in dotted.split("."):
        node = node[k]
    return node


def preset_values(name: str, explicit: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dotted values preset ``name`` sets, given what the user set explicitly (nested).

    A preset's judge (``<scorer>.backend``) is the peer's default judge: a judge the user chose for every stage
    (``--backend``, ``backends.rubric``) replaces it, as an explicit choice always beats a preset."""
    p = PROTOCOLS.get(name)
    explicit = explicit or {}
    values = dict(p.sets)
    if p.scorers:
        values["scorers"] = list(p.scorers)
    if _has(explicit, "backends.rubric"):
        for key in values:
            if key.endswith(".backend") and not _has(explicit, key):
                values[key] = _get(explicit, "backends.rubric")
    return values


def preset_layer(explicit: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """The values preset ``name`` (default: the one ``explicit`` names) sets, nested like raw config data, to lay
    under what the user set; empty for ``ours`` or a name the protocol field's own validator will refuse."""
    name = name or explicit.get("protocol") or DEFAULT_PROTOCOL
    if not isinstance(name, str) or name not in PROTOCOLS:
        return {}
    return _nested(preset_values(name, explicit))


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(_shown(v) for v in value)
    return str(value).replace("\n", "\\n")  # one line per preset field, as `protocols list` prints it


def protocol_label(config: Any) -> ProtocolLabel:
    """Which preset a (validated) run config follows, and which of the preset's fields it changed."""
    name = getattr(config, "protocol", DEFAULT_PROTOCOL)
    data = config.model_dump(mode="json")
    modified = []
    for key, want in PROTOCOLS.get(name).sets.items():
        got = _get(data, key)
        if got != _json(want):
            modified.append(ModifiedField(field=key, value=_shown(got), preset=_shown(_json(want))))
    return ProtocolLabel(name=name, modified=tuple(modified))


def covers(protocol: str, scorer: str) -> bool:
    """Whether ``scorer``'s numbers follow ``protocol`` (a scorer a preset does not cover is run as ours)."""
    p = PROTOCOLS.get(protocol)
    return p.name == DEFAULT_PROTOCOL or scorer in (*p.scorers, *p.also_covers)


def describe(p: Protocol) -> list[str]:
    """Lines of ``autointerp protocols list`` for one preset."""
    lines = [f"{p.name}", f"  reference:   {p.reference}", f"  headline:    {p.headline} ({p.aggregation} over units)"]
    if p.scorers:
        lines.append(f"  scorers:     {', '.join(p.scorers)} by default"
                     + (f"; also {', '.join(p.also_covers)} when asked for" if p.also_covers else "")
                     + " (others run as ours)")
    if p.sets:
        lines.append("  sets:        " + "; ".join(f"{k} {_shown(_json(v))}" for k, v in p.sets.items()))
    elif p.name != DEFAULT_PROTOCOL:
        lines.append("  sets:        (no values yet)")
    if p.differs:
        lines.append(f"  differs:     {p.differs}")
    return lines


__all__ = ["DEFAULT_PROTOCOL", "PROTOCOLS", "TABLE", "Protocol", "covers", "describe", "preset_layer", "preset_values",
           "protocol_label"]
