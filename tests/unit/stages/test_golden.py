"""Golden tests of the exact prompts each stage sends. ``UPDATE_GOLDEN=1 pytest ...`` rewrites the files."""

import asyncio
import os
from pathlib import Path

import pytest

from autointerp.backends.base import LLMRequest
from autointerp.judging.explain import ExplainConfig, LogitTokens, explain_unit
from autointerp.scorers.simulation import SimulateConfig, simulate_unit
from autointerp.scorers.specificity import RubricConfig, score_specificity
from autointerp.types import Explanation
from tests.support.scripted_backend import CAPS_LOGPROBS, CAPS_PLAIN, CAPS_PROMPT_LOGPROBS, ScriptedBackend

from .conftest import make_samples
from .test_rubric import oracle as rubric_oracle
from .test_simulate import PROV, generated_oracle, json_oracle, prompt_oracle

GOLDEN = Path(__file__).parent / "golden"


def serialise(request: LLMRequest) -> str:
    parts = [f"=== system ===\n{request.system}"]
    for m in request.messages:
        parts.append(f"=== {m.role} ===\n{m.content}")
    if request.prefill:
        parts.append("=== prefill (segments) ===\n" + "\n".join(repr(s) for s in request.prefill))
    if request.candidates:
        parts.append("=== candidates ===\n" + " ".join(request.candidates))
    knobs = {k: getattr(request, k) for k in ("max_tokens", "json_mode", "top_logprobs", "cache_prefix_messages")}
    parts.append(f"=== request ===\n{knobs}")
    return "\n".join(parts) + "\n"


def _explain():
    backend = ScriptedBackend(lambda r: "Explanation: cat words")
    logits = LogitTokens(promoted=(" meow", " purr"), suppressed=(" bark",))
    asyncio.run(explain_unit(make_samples(), backend, ExplainConfig(), logit_tokens=logits))
    return backend.requests[0]


def _expl(samples):
    return Explanation(unit=samples.unit, ok=True, text="cat words", provenance=PROV)


def _specificity():
    s = make_samples()
    backend = ScriptedBackend(rubric_oracle)
    asyncio.run(score_specificity(s, _expl(s), backend, RubricConfig()))
    return backend.requests[0]


def _simulate(caps, handler):
    def build():
        s = make_samples()
        backend = ScriptedBackend(handler, capabilities=caps)
        asyncio.run(simulate_unit(s, _expl(s), backend, SimulateConfig(n_top=1, n_random=1)))
        return backend.requests[0]

    return build


CASES = {
    "explain": _explain,
    "specificity": _specificity,
    "simulate_prompt_logprobs": _simulate(CAPS_PROMPT_LOGPROBS, prompt_oracle),
    "simulate_generated_logprobs": _simulate(CAPS_LOGPROBS, generated_oracle),
    "simulate_json": _simulate(CAPS_PLAIN, json_oracle),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_prompt_matches_golden(name):
    text = serialise(CASES[name]())
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")
