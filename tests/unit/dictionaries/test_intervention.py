"""Steering and the intervention scorer on a planted unit whose decoder direction raises 'zebra'."""

from __future__ import annotations

import asyncio
import re

import pytest
import torch

from autointerp.activations.models import load_subject
from autointerp.activations.sae import IdentityDict
from autointerp.activations.sae_formats import load_sae
from autointerp.activations.sites import HookSite
from autointerp.dictionaries.records import SteerConfig
from autointerp.dictionaries.steer import neutral_prompts, steer_unit, steering, unit_direction
from autointerp.scorers import SCORERS, ScoreInput, summarise
from autointerp.scorers.intervention import InterventionConfig
from autointerp.types import Explanation, Provenance, UnitId, UnitSamples, UnitStats
from tests.support.scripted_backend import ScriptedBackend
from tests.unit.dictionaries.planted_model import build_planted_llama, planted_sae

PROMPTS = ["the cat sat on", "we go up to the", "old man see a", "a big red house", "it was very good", "dog ran to"]
UNIT = UnitId(basis="sae:sae", index=1)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted_steer")
    build_planted_llama(root / "model")
    planted_sae(root / "sae")
    return load_subject(root / "model"), load_sae(root / "sae")


@pytest.fixture(scope="module")
def steered(planted):
    subject, sae = planted
    return steer_unit(subject, HookSite(0, "resid_post"), sae, UNIT, 1.0, SteerConfig(alpha_scale=4.0), PROMPTS)


def test_steering_pushes_generations_to_the_planted_token(steered):
    assert steered.ok and steered.alpha == pytest.approx(4.0) and steered.alpha_scale == 4.0
    assert all("zebra" in c for c in steered.steered)
    assert not any("zebra" in c for c in steered.unsteered)


def test_steering_hook_is_removed_and_neuron_directions_are_one_hot(planted, steered):
    subject, sae = planted
    from autointerp.dictionaries.steer import generate

    assert generate(subject, PROMPTS, 16) == list(steered.unsteered)  # nothing left behind by the hook
    assert torch.equal(unit_direction(IdentityDict(5), 3), torch.tensor([0.0, 0, 0, 1, 0]))
    assert torch.allclose(unit_direction(sae, 1), torch.eye(16)[6])
    with steering(subject, HookSite(1, "mlp"), 100 * torch.ones(4)):  # input-side tap (down_proj's input)
        assert generate(subject, PROMPTS[:1], 4) == generate(subject, PROMPTS[:1], 4)  # layer 1 is all zeros


def test_dead_unit_is_not_steerable(planted):
    subject, sae = planted
    rec = steer_unit(subject, HookSite(0, "resid_post"), sae, UNIT, 0.0, SteerConfig(n_prompts=2))
    assert not rec.ok and "never fired" in rec.error and rec.prompts == neutral_prompts()[:2]


def _samples() -> UnitSamples:
    stats = UnitStats(n_tokens=100, n_windows=10, n_active_tokens=3, firing_frequency=0.03, max_activation=1.0,
                      mean_activation=0.03, mean_active_activation=1.0, histogram_edges=(0.0, 1.0),
                      histogram_counts=(3,))  # fmt: skip
    return UnitSamples(unit=UNIT, stats=stats, bin_edges=(0.0, 1.0), explain=(), heldout=())


def _oracle(request) -> str:
    """Picks the continuations containing a word of the description (what a sensible judge would do)."""
    user = request.messages[-1].content
    words = set(re.search(r"component: (.*)", user).group(1).lower().split()) - {"the", "word", "words", "and"}
    picked = [cid for cid, cont in re.findall(r'<context id="(c\d+)">\n.*?<<(.*?)>>', user, re.DOTALL)
              if words & set(cont.lower().split())]  # fmt: skip
    return "Answer: " + (", ".join(picked) or "none")


def _score(steered, text: str, seed: int = 0):
    prov = Provenance(backend="scripted:test", model="m", prompt_id="explain", prompt_version="1", prompt_hash="h")
    exp = Explanation(unit=UNIT, ok=True, text=text, provenance=prov)
    inp = ScoreInput(samples=_samples(), explanation=exp, steering=steered)
    backend = ScriptedBackend(_oracle)
    return asyncio.run(SCORERS.get("intervention").score(inp, backend, InterventionConfig(), seed)), backend


def test_true_description_scores_far_above_a_wrong_one(steered):
    right, backend = _score(steered, "the word zebra")
    wrong, _ = _score(steered, "the words red and very")
    assert right.ok and wrong.ok
    s_right, s_wrong = summarise("intervention", right), summarise("intervention", wrong)
    assert s_right.value == 1.0 and s_wrong.value == 0.0
    assert len(right.items) == 12 and sum(i.label for i in right.items) == 6
    user = backend.requests[0].messages[-1].content
    assert "6 of these 12 continuations" in user and "Description of the strengthened component: the word zebra" in user
    assert right.provenance.prompt_id == "intervention" and right.provenance.seed == 0


def test_order_is_seeded(steered):
    a, _ = _score(steered, "the word zebra", seed=1)
    b, _ = _score(steered, "the word zebra", seed=1)
    c, _ = _score(steered, "the word zebra", seed=2)
    labels = [[i.label for i in r.items] for r in (a, b, c)]
    assert labels[0] == labels[1] and labels[0] != labels[2]


def test_failures_are_records(steered):
    prov = Provenance(backend="scripted:test", model="m", prompt_id="explain", prompt_version="1", prompt_hash="h")
    exp = Explanation(unit=UNIT, ok=True, text="zebra", provenance=prov)
    scorer = SCORERS.get("intervention")
    backend = ScriptedBackend(lambda r: "I am not sure.")
    res = asyncio.run(scorer.score(ScoreInput(samples=_samples(), explanation=exp, steering=steered), backend,
                                   InterventionConfig(max_retries=1), 0))  # fmt: skip
    assert not res.ok and "unreadable answer after 2 attempt(s)" in res.error and len(backend.requests) == 2
    res = asyncio.run(scorer.score(ScoreInput(samples=_samples(), explanation=exp), backend, InterventionConfig(), 0))
    assert not res.ok and "no steered continuations" in res.error


def test_output_evidence_vocab_proj_and_token_change(planted):
    from autointerp.dictionaries.output import output_evidence

    subject, sae = planted
    ev = output_evidence(subject, HookSite(0, "resid_post"), sae, UNIT, 1.0, prompts=PROMPTS, n=3)
    assert ev.promoted[0].token == "zebra" and ev.promoted[0].value > 0
    assert ev.raised[0].token == "zebra" and 0.5 < ev.raised[0].value <= 1.0  # probability gained on average
    assert ev.lowered[0].value < 0 and ev.alpha == 4.0 and ev.note is None
    dead = output_evidence(subject, HookSite(0, "resid_post"), sae, UNIT, 0.0, prompts=PROMPTS)
    assert dead.raised == () and "never fired" in dead.note and dead.promoted[0].token == "zebra"


def test_generation_without_a_pad_token(planted, steered):
    from autointerp.dictionaries.steer import generate

    subject, _ = planted
    tok = subject.tokenizer
    tok.pad_token = None
    try:
        assert generate(subject, PROMPTS, 16) == list(steered.unsteered)  # padding is masked either way
        assert tok.pad_token is None
    finally:
        tok.pad_token = "<pad>"


def test_run_output_evidence_computes_the_unsteered_probabilities_once(planted, monkeypatch):
    """The unsteered next-token probabilities are the same for every unit: one forward pass, not one per unit; the
    steered passes of several units share a batch; the evidence is each unit's own computation (up to rounding)."""
    from types import SimpleNamespace

    from autointerp.activations.model_source import Basis
    from autointerp.dictionaries import output

    subject, sae = planted
    site = HookSite(0, "resid_post")
    units = [SimpleNamespace(unit=UnitId(basis="sae:p", index=i), stats=SimpleNamespace(max_activation=1.0))
             for i in (UNIT.index, 0)]  # fmt: skip
    bases = [SimpleNamespace(name="sae:p", basis=Basis(site, sae))]
    calls = []
    real = output.next_token_probs
    monkeypatch.setattr(output, "next_token_probs", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = output.run_output_evidence(subject, bases, units, alpha_scale=4.0, n=3)
    assert len(calls) == 2  # the base once, one steered pass for both units (one batch)
    for us in units:
        alone = output.output_evidence(subject, site, sae, us.unit, 1.0, 4.0, 3)
        both = got[us.unit.key]
        assert both.model_dump(exclude={"raised", "lowered"}) == alone.model_dump(exclude={"raised", "lowered"})
        for b, a in zip((*both.raised, *both.lowered), (*alone.raised, *alone.lowered)):
            assert b.token == a.token and b.value == pytest.approx(a.value, abs=1e-6)
