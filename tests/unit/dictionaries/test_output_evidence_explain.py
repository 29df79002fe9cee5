"""explain.output_evidence: TokenChange tokens reach the explainer only when asked, and missing ones fail visibly."""

from __future__ import annotations

import asyncio

from autointerp.judging.explain import ExplainConfig, LogitTokens, explain_unit
from tests.support.scripted_backend import ScriptedBackend
from tests.unit.stages.conftest import make_samples

CHANGE = LogitTokens(promoted=(" zebra", " stripes"), suppressed=(" the",))


def _explain(config: ExplainConfig, change: LogitTokens | None):
    backend = ScriptedBackend(lambda r: "Explanation: animals with stripes")
    exp = asyncio.run(explain_unit(make_samples(), backend, config, token_change=change))
    return exp, backend


def test_token_change_is_shown_when_asked():
    exp, backend = _explain(ExplainConfig(output_evidence=True), CHANGE)
    user = backend.requests[0].messages[-1].content
    assert exp.ok
    assert "probability rises most for: zebra, stripes" in user and "falls most for: the" in user


def test_token_change_is_not_shown_by_default():
    exp, backend = _explain(ExplainConfig(), CHANGE)
    assert exp.ok and "rises most" not in backend.requests[0].messages[-1].content


def test_missing_token_change_fails_visibly():
    exp, backend = _explain(ExplainConfig(output_evidence=True), None)
    assert not exp.ok and "explain.output_evidence: no TokenChange" in exp.error and backend.requests == []
