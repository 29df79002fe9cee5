"""The run's guard around every stage's backend: the run budget, stop-the-run errors, per-unit spending.

:class:`GuardedBackend` is the outermost layer of each stage's backend stack (outside the response cache).
For every request it

- admits it under the run budget ``llm.max_cost`` (:class:`RunGuard`): the ledger's spent total (all
  invocations of this run folder) plus the estimated cost of the requests in flight plus its own must stay
  within the budget. A request that does not fit waits while others are in flight (their answers may cost
  less than estimated); with none in flight it is refused with BudgetExceeded, so the run ends with exit 4
  when the next request would pass the cap. Whether any are in flight is a count, not a float sum of
  estimates (a residue like 3e-17 once kept a request waiting for a settle that never came);
- sends the first request of each backend alone (the *probe*): until one answer has come back, a wrong
  key or model name costs one doomed request, not one per unit in flight;
- turns authentication / permission / unknown-model errors (401/403/404), and a server that cannot be
  connected to before it ever answered (:class:`~autointerp.backends.faults.Unreachable`), into
  :class:`RunHalted`, which the stages do not swallow: the first one stops the run, and every later request is
  refused unsent;
- writes every answered, uncached request to the run's :class:`~autointerp.runs.spend.Ledger` and adds it to
  the usage of the unit being judged (``current_unit``), so failed units' tokens are recorded too.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections import defaultdict
from dataclasses import dataclass, field

from autointerp.backends import BACKENDS, CostBackend, find_layer
from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.backends.faults import Unreachable
from autointerp.backends.wrapper import Wrapper
from autointerp.errors import BackendError, BudgetExceeded, RunHalted
from autointerp.runs.spend import Ledger
from autointerp.secrets import redact_text
from autointerp.types import Usage

current_unit: contextvars.ContextVar[str | None] = contextvars.ContextVar("autointerp_current_unit", default=None)

FATAL_STATUS = {401: "authentication", 403: "permission", 404: "model or endpoint not found"}
CHARS_PER_TOKEN = 4


def fatal_status(exc: BaseException) -> int | None:
    """The HTTP status of an error no retry or other unit can get past (401/403/404), else None."""
    status = getattr(exc, "status", None)
    if status is None:  # a backend that did not attach it: read the translated message
        m = re.search(r"API error (\d{3})\b", str(exc))
        status = int(m.group(1)) if m else None
    return status if status in FATAL_STATUS else None


def key_hint(spec: str, api_key_env: str | None = None) -> str:
    """Where the key of ``spec`` comes from, for messages: '(check ANTHROPIC_API_KEY)'."""
    prefix = spec.partition(":")[0]
    kind = BACKENDS.get(prefix) if prefix in BACKENDS else None
    variable = api_key_env or (kind.key_env if kind is not None else None)
    return f"check {variable}" if variable else "check the server's API key"


def halt_message(stage: str, spec: str, exc: BaseException, status: int, api_key_env: str | None) -> str:
    hint = {
        401: key_hint(spec, api_key_env),
        403: "the key lacks permission for this model",
        404: f"check the model name in backend spec {spec!r}",
    }[status]
    return f"{stage}: stopped at the first {status} {FATAL_STATUS[status]} error from {spec}: {exc} ({hint})"


@dataclass
class Probe:
    """Per backend spec: the first request goes alone until one answer has come back."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    verified: bool = False


class RunGuard:
    """Shared by every stage of one invocation: budget, halt state, probes, per-unit usage."""

    def __init__(self, ledger: Ledger, max_cost: float | None, api_key_env: str | None = None):
        self.ledger = ledger
        self.max_cost = max_cost
        self.api_key_env = api_key_env
        self.reserved = 0.0  # estimated dollars of the requests in flight
        self.in_flight = 0  # admitted under the budget and not yet settled
        self.halted: RunHalted | None = None
        self.budget_hit = False
        self.probes: dict[str, Probe] = defaultdict(Probe)
        self.scale: dict[str, float] = defaultdict(lambda: 1.0)  # per spec: largest actual / estimated cost seen
        self.unit_usage: dict[tuple[str, str], Usage] = defaultdict(Usage)
        self._settled = asyncio.Condition()

    def budget_error(self, estimate: float | None = None) -> BudgetExceeded:
        self.budget_hit = True
        spent = self.ledger.spent
        why = "reached" if estimate is None or spent >= self.max_cost else (
            f"reached: the next request (~${estimate:.4f}) would pass it")
        return BudgetExceeded(
            f"budget llm.max_cost=${self.max_cost:.4f} {why} (this run folder has spent ${spent:.4f} "
            "over all invocations); no new requests are sent"
        )

    async def admit(self, estimate: float) -> float:
        """Reserve ``estimate`` dollars for one request: at once if it fits, after in-flight requests settle
        if it may fit then, else BudgetExceeded. Every call returns or raises once nothing is in flight."""
        if self.halted is not None:
            raise self.halted
        if self.max_cost is None:
            return 0.0
        async with self._settled:
            while True:
                if self.halted is not None:
                    raise self.halted
                spent = self.ledger.spent
                if spent >= self.max_cost:
                    raise self.budget_error()
                if spent + self.reserved + estimate <= self.max_cost:
                    break
                if self.in_flight == 0:  # nothing will settle: it does not fit, now or later
                    raise self.budget_error(estimate)
                await self._settled.wait()
            self.in_flight += 1
            self.reserved += estimate
            return estimate

    async def settle(self, reserved: float) -> None:
        if self.max_cost is None:
            return
        async with self._settled:
            self.in_flight -= 1
            self.reserved = max(0.0, self.reserved - reserved) if self.in_flight else 0.0
            self._settled.notify_all()

    def usage_of_unit(self, stage: str, unit: str) -> Usage:
        return self.unit_usage.get((stage, unit), Usage())

    def wrap(self, stage: str, backend: Backend) -> GuardedBackend:
        return GuardedBackend(backend, stage=stage, guard=self)


class GuardedBackend(Wrapper):
    """One stage's view of a backend stack, under the run's :class:`RunGuard`."""

    def __init__(self, inner: Backend, *, stage: str, guard: RunGuard):
        super().__init__(inner)
        self.stage = stage
        self.guard = guard
        self._cost = find_layer(inner, CostBackend)
        prefix = self.spec.partition(":")[0]
        self._probe = BACKENDS.get(prefix).remote if prefix in BACKENDS else True  # a local model has no key

    def estimate(self, request: LLMRequest) -> float:
        """Dollar cost of ``request`` before it is sent: prompt chars/4 in, ``max_tokens`` out, scaled up by
        the largest actual/estimated ratio this backend has shown (the probe answers first, so it calibrates)."""
        return self.base_estimate(request) * self.guard.scale[self.spec]

    def base_estimate(self, request: LLMRequest) -> float:
        layer = self._cost
        if layer is None or layer.free:
            return 0.0
        price = layer.prices.lookup(self.model)
        if price is None:
            return 0.0
        chars = len(request.system) + sum(len(m.content) for m in request.messages) + sum(map(len, request.prefill))
        return (chars / CHARS_PER_TOKEN * price.input + request.max_tokens * price.output) / 1e6 * layer.factor

    async def complete(self, request: LLMRequest) -> LLMResponse:
        probe = self.guard.probes[self.spec]
        if self._probe and not probe.verified:
            async with probe.lock:
                if not probe.verified:
                    response = await self._send(request)
                    probe.verified = probe.verified or not response.cached
                    return response
        return await self._send(request)

    async def _send(self, request: LLMRequest) -> LLMResponse:
        guard = self.guard
        if guard.halted is not None:
            raise guard.halted
        base = self.base_estimate(request)
        reserved = await guard.admit(base * guard.scale[self.spec])
        try:
            response = await self.inner.complete(request)
            if not response.cached and base > 0 and response.usage.cost_usd > base * guard.scale[self.spec]:
                guard.scale[self.spec] = response.usage.cost_usd / base
            unit = current_unit.get()
            if unit is not None:
                key = (self.stage, unit)
                guard.unit_usage[key] = guard.unit_usage[key] + response.usage
            if not response.cached:  # counted before the reservation is released
                guard.ledger.add(self.stage, unit, self.spec, response.model or self.model, response.usage)
            return response
        except BudgetExceeded:
            guard.budget_hit = True
            raise
        except BackendError as exc:
            paid = getattr(exc, "paid", None)
            if paid is not None:  # answers paid for before this failure: the run spent that money
                unit = current_unit.get()
                if unit is not None:
                    guard.unit_usage[(self.stage, unit)] = guard.unit_usage[(self.stage, unit)] + paid
                guard.ledger.add(self.stage, unit, self.spec, self.model, paid)
            if isinstance(exc, Unreachable):
                if guard.halted is None:
                    guard.halted = RunHalted(redact_text(
                        f"{self.stage}: stopped at the first request: cannot connect to {self.spec} ({exc}); "
                        "check that the server is running and the URL is right"))
                raise guard.halted from None
            status = fatal_status(exc)
            if status is not None:
                if guard.halted is None:
                    guard.halted = RunHalted(
                        redact_text(halt_message(self.stage, self.spec, exc, status, guard.api_key_env))
                    )
                raise guard.halted from None
            raise
        finally:
            await guard.settle(reserved)
