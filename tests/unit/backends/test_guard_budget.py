"""The run guard's budget admission ends: exit 4 when the next request would pass the cap, never a wait forever.

Issue 19, defect 1: reservations were a float sum; after requests of different estimates settled in another order
than they were admitted, a residue like 2.8e-17 was left "in flight" with nothing in flight, and a request that did
not fit waited for a settle that never came (the run sat idle for good).
"""

from __future__ import annotations

import asyncio

import pytest

from autointerp.errors import BudgetExceeded
from autointerp.runs.guard import RunGuard
from autointerp.runs.spend import Ledger
from autointerp.types import Usage


def _pay(ledger: Ledger, cost: float) -> None:
    ledger.add("explain", None, "anthropic:m", "m", Usage(requests=1, cost_usd=cost))


def test_a_request_that_does_not_fit_after_everything_settled_is_refused_not_parked(tmp_path):
    async def scenario() -> None:
        guard = RunGuard(Ledger(tmp_path), max_cost=1.0)
        a = await guard.admit(0.1)
        b = await guard.admit(0.2)
        _pay(guard.ledger, 0.1)
        await guard.settle(a)
        _pay(guard.ledger, 0.2)
        await guard.settle(b)
        _pay(guard.ledger, 0.6)  # spent 0.9: below the cap, but the next request (0.2) would pass it
        with pytest.raises(BudgetExceeded, match="would pass"):
            await asyncio.wait_for(guard.admit(0.2), timeout=5)
        assert guard.budget_hit

    asyncio.run(scenario())


def test_requests_wait_while_others_are_in_flight_then_fit_or_are_refused(tmp_path):
    async def scenario() -> None:
        guard = RunGuard(Ledger(tmp_path), max_cost=1.0)
        first = await guard.admit(0.6)
        waiting = asyncio.ensure_future(guard.admit(0.6))  # 0.6 + 0.6 > 1: waits for the first to settle
        await asyncio.sleep(0.01)
        assert not waiting.done()
        _pay(guard.ledger, 0.3)  # the first cost less than estimated
        await guard.settle(first)
        assert await asyncio.wait_for(waiting, 5) == 0.6  # 0.3 + 0.6 fits
        _pay(guard.ledger, 0.6)
        await guard.settle(0.6)
        with pytest.raises(BudgetExceeded, match="reached"):  # 0.9 + 0.6 would pass and nothing is in flight
            await asyncio.wait_for(guard.admit(0.6), 5)

    asyncio.run(scenario())


def test_many_requests_of_mixed_estimates_all_end(tmp_path):
    """Random estimates, settled out of order: every admit returns or raises; none is left waiting."""
    import random

    async def one(guard: RunGuard, rng: random.Random) -> bool:
        est = rng.choice([0.013, 0.017, 0.029, 0.031, 0.0071])
        try:
            reserved = await guard.admit(est)
        except BudgetExceeded:
            return False
        await asyncio.sleep(rng.random() / 1000)
        _pay(guard.ledger, est * rng.uniform(0.3, 1.0))
        await guard.settle(reserved)
        return True

    async def scenario() -> None:
        rng = random.Random(0)
        guard = RunGuard(Ledger(tmp_path), max_cost=1.0)
        sent = await asyncio.wait_for(asyncio.gather(*(one(guard, rng) for _ in range(400))), 30)
        assert 0 < sum(sent) < 400 and guard.ledger.spent <= 1.0

    asyncio.run(scenario())
