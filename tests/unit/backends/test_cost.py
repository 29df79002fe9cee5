"""CostBackend: exact token and dollar totals, budget, unknown models."""

from __future__ import annotations

import asyncio
import logging

import pytest

from autointerp.backends import PriceTable, build_backend, usage_of
from autointerp.errors import BackendError, BudgetExceeded
from tests.support.api_server import anthropic_message, openai_chat
from tests.unit.backends.conftest import run
from tests.unit.backends.helpers import ask, complete_all


def test_openai_totals_are_exact(keys, server):
    server.handler = lambda req: openai_chat("x", prompt_tokens=1000, completion_tokens=200, cached_tokens=400)
    responses, backend = run(complete_all("openai:gpt-4.1-mini", [ask(str(i)) for i in range(3)]))
    # gpt-4.1-mini: $0.40 in, $1.60 out, $0.10 cached, per Mtok
    one = (600 * 0.40 + 200 * 1.60 + 400 * 0.10) / 1e6
    assert all(r.usage.cost_usd == pytest.approx(one, rel=1e-12) for r in responses)
    total = usage_of(backend)
    assert (total.requests, total.input_tokens, total.output_tokens, total.cache_read_tokens) == (3, 1800, 600, 1200)
    assert total.cost_usd == pytest.approx(3 * one, rel=1e-12)


def test_anthropic_cache_tokens_are_priced(keys, server):
    server.handler = lambda req: anthropic_message("x", input_tokens=100, output_tokens=50,
                                                   cache_read_input_tokens=3000, cache_creation_input_tokens=1000)
    (response,), backend = run(complete_all("anthropic:claude-sonnet-4-5-20250929", [ask("q")]))
    # dated snapshot -> claude-sonnet-4-5 row: $3 in, $15 out, $0.30 cache read, $3.75 cache write
    expected = (100 * 3 + 50 * 15 + 3000 * 0.30 + 1000 * 3.75) / 1e6
    assert response.usage.cost_usd == pytest.approx(expected, rel=1e-12)
    assert usage_of(backend).cost_usd == pytest.approx(expected, rel=1e-12)


def test_unknown_model_costs_zero_and_warns_once(keys, server, caplog):
    with caplog.at_level(logging.WARNING, logger="autointerp.backends.cost"):
        _, backend = run(complete_all(f"openai-compatible:my-finetune@{server.openai_base_url}",
                                              [ask("a"), ask("b")]))
    assert usage_of(backend).cost_usd == 0 and usage_of(backend).requests == 2
    warnings = [r for r in caplog.records if "my-finetune" in r.getMessage()]
    assert len(warnings) == 1


def test_budget_stops_new_requests_but_lets_in_flight_finish(keys, server):
    server.handler = lambda req: openai_chat("x", prompt_tokens=1_000_000, completion_tokens=0)  # $0.40 each
    server.latency = 0.05

    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", max_cost=0.5)
        in_flight = await asyncio.gather(*(backend.complete(ask(f"{i}")) for i in range(3)))
        with pytest.raises(BudgetExceeded, match=r"max_cost=\$0.5000 reached \(spent \$1.2000\)"):
            await backend.complete(ask("one more"))
        await backend.aclose()
        return in_flight, backend

    in_flight, backend = run(scenario())
    assert len(in_flight) == 3 and len(server.requests) == 3  # started before the budget was spent: all finished
    assert usage_of(backend).cost_usd == pytest.approx(1.2)


def test_price_table_lookup_and_discount():
    table = PriceTable.load()
    assert table.lookup("gpt-4.1-mini").input == 0.40
    assert table.lookup("gpt-4.1-mini-2025-04-14").input == 0.40  # longest prefix, not gpt-4.1
    assert table.lookup("no-such-model") is None
    assert table.batch_discount == 0.5


def test_budget_refuses_requests_still_queued_for_a_slot(keys, server):
    server.handler = lambda req: openai_chat("x", prompt_tokens=1_000_000, completion_tokens=0)  # $0.40 each

    async def scenario():
        backend = build_backend("openai:gpt-4.1-mini", max_cost=0.5, max_concurrency=1)
        results = await asyncio.gather(*(backend.complete(ask(f"{i}")) for i in range(5)), return_exceptions=True)
        await backend.aclose()
        return results

    results = run(scenario())
    assert [type(r).__name__ for r in results] == ["LLMResponse"] * 2 + ["BudgetExceeded"] * 3
    assert len(server.requests) == 2


@pytest.mark.parametrize("spec", ["openai:gpt-4.1-mini", "anthropic:claude-haiku-4-5"])
def test_an_unreadable_paid_answer_is_still_counted(keys, server, spec):
    """A 200 whose body has usage but not the expected shape is retried; its tokens were billed and count."""
    from tests.support.api_server import Reply

    server.script(Reply(body={"id": "x", "usage": {"prompt_tokens": 700, "completion_tokens": 30,
                                                     "input_tokens": 700, "output_tokens": 30}}))
    (response,), backend = run(complete_all(spec, [ask("word")], retry_wait=0.01))
    assert response.text == "echo: word" and len(server.requests) == 2
    total = usage_of(backend)
    assert total.requests == 2  # the unreadable answer and the good one
    assert response.usage == total  # the returned usage carries the discarded paid answer too
    assert total.input_tokens > 700 and total.output_tokens > 30 and total.cost_usd > 0


def test_answers_before_a_final_failure_are_counted(keys, server):
    from autointerp.backends import Budget
    from tests.support.api_server import Reply

    bad = Reply(body={"usage": {"prompt_tokens": 1000, "completion_tokens": 0}})  # billed, unreadable
    server.script(bad, bad, bad)
    budget = Budget()
    with pytest.raises(BackendError, match="gave up after 3 attempts"):
        run(complete_all("openai:gpt-4.1-mini", [ask("x")], retry_wait=0.01, max_retries=2, budget=budget))
    assert budget.spent == pytest.approx(3 * 1000 * 0.40 / 1e6)  # three paid answers, no usable one


def test_shared_budget_spans_stacks_and_invocations(keys, server):
    """One Budget for every stack of a run, starting from what earlier invocations spent and persisted."""
    from autointerp.backends import Budget
    from tests.support.api_server import Reply

    server.handler = lambda req: openai_chat("x", prompt_tokens=1_000_000, completion_tokens=0)  # $0.40 each
    persisted: list[float] = []
    budget = Budget(1.0, spent=0.3, on_spend=persisted.append)  # $0.30 spent by an earlier invocation

    async def scenario():
        a = build_backend("openai:gpt-4.1-mini", budget=budget, max_cost=99.0)  # the budget's limit wins
        b = build_backend("anthropic:claude-haiku-4-5", budget=budget)
        await a.complete(ask("1"))
        server.script(Reply(body={"usage": {"prompt_tokens": 250_000, "completion_tokens": 0}}))  # unreadable, paid
        await a.complete(ask("2"))
        with pytest.raises(BudgetExceeded):
            await b.complete(ask("3"))
        await a.aclose()
        await b.aclose()

    run(scenario())
    assert budget.spent == pytest.approx(0.3 + 0.4 + 0.1 + 0.4)
    assert persisted == pytest.approx([0.7, 0.8, 1.2])
    assert len(server.requests) == 3


def test_run_ledger_counts_paid_answers_the_retry_layer_discarded(keys, server, tmp_path):
    """The run's guard (outermost layer) writes the ledger: answers paid for and then discarded as unreadable
    reach it too, both when a retry finally succeeds and when the request fails for good; so does the unit's usage."""
    from autointerp.runs.guard import RunGuard, current_unit
    from autointerp.runs.spend import Ledger
    from tests.support.api_server import Reply

    bad = Reply(body={"usage": {"prompt_tokens": 1000, "completion_tokens": 0}})  # billed, unreadable: $0.0004
    server.script(bad)  # first request: one discarded paid answer, then the good one

    async def scenario():
        guard = RunGuard(Ledger(tmp_path), max_cost=None)
        backend = guard.wrap("explain", build_backend("openai:gpt-4.1-mini", retry_wait=0.01, max_retries=2))
        try:
            current_unit.set("sae:x#1")
            good = await backend.complete(ask("one"))
            server.script(bad, bad, bad)
            current_unit.set("sae:x#2")
            with pytest.raises(BackendError, match="gave up after 3 attempts"):
                await backend.complete(ask("two"))
        finally:
            await backend.aclose()
        return guard, good

    guard, good = run(scenario())
    one_bad = 1000 * 0.40 / 1e6
    assert good.usage.requests == 2 and good.usage.cost_usd > one_bad
    assert guard.usage_of_unit("explain", "sae:x#1").requests == 2
    assert guard.usage_of_unit("explain", "sae:x#2").cost_usd == pytest.approx(3 * one_bad)
    ledger = Ledger(tmp_path)  # as the next invocation reads it
    assert ledger.spent == pytest.approx(good.usage.cost_usd + 3 * one_bad)
    assert ledger.totals()["explain"].requests == 5
