import asyncio
import json

import pytest

from autointerp.backends.base import Capabilities
from autointerp.errors import BackendError, BudgetExceeded, ConfigError
from autointerp.scorers.simulation import SimulateConfig, choose_method, simulate_unit
from autointerp.types import Explanation, Provenance
from tests.support.scripted_backend import (
    CAPS_LOGPROBS,
    CAPS_PLAIN,
    CAPS_PROMPT_LOGPROBS,
    ScriptedBackend,
    candidate_response,
    lines_response,
    replies,
    value_logprobs,
)

from .conftest import CONTEXT_RE, first_user_of_live_turn, json_lengths

PROV = Provenance(backend="x", model="x", prompt_id="explain", prompt_version="1", prompt_hash="h")
CATS = {"cat", "cats", "kitten", "lion", "tabby"}


def expl(samples, ok=True):
    return Explanation(unit=samples.unit, ok=ok, text="cat words" if ok else None, provenance=PROV)


def run(samples, backend, config=None, ok=True):
    return asyncio.run(simulate_unit(samples, expl(samples, ok), backend, config or SimulateConfig()))


def value(token: str) -> int:
    return 9 if token.strip() in CATS else 0


def listed_tokens(request) -> list[str]:
    return first_user_of_live_turn(request).split("one per line):\n", 1)[1].split("\n")


def prompt_oracle(request):
    tokens = [seg.rsplit("\n", 1)[-1][:-1] for seg in request.prefill]
    return candidate_response(value_logprobs(value(t), spread=0.5) for t in tokens)


def generated_oracle(request):
    return lines_response([(t, value_logprobs(value(t))) for t in listed_tokens(request)])


def json_oracle(request):
    out = {}
    for m in CONTEXT_RE.finditer(first_user_of_live_turn(request)):
        tokens = json.loads(m.group(2).split(" tokens: ", 1)[1])
        out[m.group(1)] = [10 if value(t) else 0 for t in tokens]  # the JSON scale is 0-10
    return json.dumps(out)


def test_method_is_chosen_by_capabilities():
    assert choose_method(CAPS_PROMPT_LOGPROBS).name == "logprobs-all-at-once"
    assert choose_method(CAPS_LOGPROBS).name == "logprobs-generated"
    assert choose_method(CAPS_PLAIN).name == "json-list"
    assert choose_method(CAPS_PROMPT_LOGPROBS, "json-list").name == "json-list"
    with pytest.raises(ConfigError, match="not supported"):
        choose_method(Capabilities(), "logprobs-generated")
    with pytest.raises(ConfigError, match="unknown simulation method"):
        choose_method(Capabilities(), "psychic")


@pytest.mark.parametrize(
    ("caps", "handler", "method"),
    [
        (CAPS_PROMPT_LOGPROBS, prompt_oracle, "logprobs-all-at-once"),
        (CAPS_LOGPROBS, generated_oracle, "logprobs-generated"),
        (CAPS_PLAIN, json_oracle, "json-list"),
    ],
)
def test_each_method_scores_a_good_simulation(samples, caps, handler, method):
    backend = ScriptedBackend(handler, capabilities=caps)
    sim = run(samples, backend)
    assert sim.ok and sim.method == method and sim.explanation == "cat words"
    assert [c.context_id for c in sim.contexts] == ["w11", "w12", "w16", "w17", "w18"]
    assert sim.score is not None and sim.score > 0.95 and sim.score_note is None
    for c in sim.contexts:
        assert len(c.predicted) == len(c.true) and all(0 <= p <= 10 for p in c.predicted)
    cat = sim.contexts[0].predicted[1]  # ' cat' in 'Her cat purred': the top of the answer scale is 10 on the record
    assert cat == pytest.approx(10.0, abs=0.2)
    assert sim.contexts[2].correlation is None  # random context: constant truth
    assert sim.usage.requests == len(backend.requests)
    assert sim.provenance.prompt_id == ("simulate-json" if method == "json-list" else "simulate-lines")


def test_prompt_logprobs_request_shape(samples):
    backend = ScriptedBackend(prompt_oracle, capabilities=CAPS_PROMPT_LOGPROBS)
    run(samples, backend)
    req = backend.requests[0]
    assert req.candidates == tuple(str(i) for i in range(10))  # single digits: one token in every tokenizer
    assert req.prefill == ("Her\t", "unknown\n cat\t", "unknown\n purred\t")
    assert req.messages[1].content.endswith(" Monday\t9\n to\t0\n Friday\t8\n from\t0\n nine\t0\n.\t0")


def test_prompt_logprobs_wrong_count_fails_the_unit(samples):
    backend = ScriptedBackend(lambda r: candidate_response([value_logprobs(0)]), capabilities=CAPS_PROMPT_LOGPROBS)
    sim = run(samples, backend)
    assert not sim.ok and sim.score is None and "candidate sets" in sim.error


def test_generated_misalignment_is_reasked(samples):
    short = lines_response([("Her", value_logprobs(0))])
    backend = ScriptedBackend(replies(short, *[generated_oracle] * 6), capabilities=CAPS_LOGPROBS)
    sim = run(samples, backend)
    assert sim.ok and len(backend.requests) == 6
    backend = ScriptedBackend(lambda r: short, capabilities=CAPS_LOGPROBS)
    sim = run(samples, backend, SimulateConfig(max_retries=1))
    assert not sim.ok and "expected 3 lines" in sim.error and len(backend.requests) == 10


@pytest.mark.parametrize("last", [" ", "  ", "", "\n"])
def test_final_blank_token_keeps_its_line(samples, last):
    """A context ending in a whitespace-only (or empty) token is listed in full, so the answer can match it."""
    ends_blank = samples.model_copy(update={"heldout": tuple(
        c.model_copy(update={"tokens": (*c.tokens[:-1], last)}) for c in samples.heldout
    )})
    backend = ScriptedBackend(generated_oracle, capabilities=CAPS_LOGPROBS)
    sim = run(ends_blank, backend)
    assert sim.ok, sim.error
    listed = listed_tokens(backend.requests[0])
    assert len(listed) == 3 and listed[-1] == {" ": "␣", "  ": "␣␣", "": "∅", "\n": "\\n"}[last]
    backend = ScriptedBackend(prompt_oracle, capabilities=CAPS_PROMPT_LOGPROBS)
    assert run(ends_blank, backend).ok


def test_json_wrong_length_reasks_only_that_context_then_fails(samples):
    def bad_c2(request):
        good = json.loads(json_oracle(request))
        if "c2" in good:
            good["c2"] = good["c2"][:-1]
        return json.dumps(good)

    backend = ScriptedBackend(replies(bad_c2, json_oracle), capabilities=CAPS_PLAIN)
    sim = run(samples, backend)
    assert sim.ok and len(backend.requests) == 2
    assert "c2: expected 3 values, got 2" in backend.requests[1].messages[-1].content

    backend = ScriptedBackend(bad_c2, capabilities=CAPS_PLAIN)
    sim = run(samples, backend)
    assert not sim.ok and sim.score is None and "1 of 5 contexts failed" in sim.error
    assert len(backend.requests) == 3 and "w12" not in {c.context_id for c in sim.contexts}  # never coerced


def test_constant_prediction_gives_no_score(samples):
    backend = ScriptedBackend(
        lambda r: json.dumps({cid: [0] * n for cid, n in json_lengths(r).items()}), capabilities=CAPS_PLAIN
    )
    sim = run(samples, backend)
    assert sim.ok and sim.score is None and sim.score_note == "predictions are constant"


def test_backend_errors_budget_and_missing_explanation(samples):
    sim = run(samples, ScriptedBackend(lambda r: BackendError("HTTP 404 no such model"), capabilities=CAPS_PLAIN))
    assert not sim.ok and sim.error == "backend error: HTTP 404 no such model"
    with pytest.raises(BudgetExceeded):
        run(samples, ScriptedBackend(lambda r: BudgetExceeded("spent"), capabilities=CAPS_LOGPROBS))
    backend = ScriptedBackend(replies())
    sim = run(samples, backend, ok=False)
    assert not sim.ok and backend.requests == []
