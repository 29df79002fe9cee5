"""CostBackend: token and dollar accounting from ``autointerp/data/prices.yaml``, and a budget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
from autointerp.backends.faults import TransientBackendError
from autointerp.backends.wrapper import Wrapper
from autointerp.errors import BudgetExceeded, ConfigError
from autointerp.types import Usage

log = logging.getLogger(__name__)


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0, description="Uncached prompt tokens.")
    output: float = Field(ge=0, description="Generated tokens.")
    cache_read: float = Field(default=0.0, ge=0, description="Prompt tokens read from the prompt cache.")
    cache_write: float = Field(default=0.0, ge=0, description="Prompt tokens written to the prompt cache.")

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        ) / 1e6


class PriceTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_discount: float = Field(default=0.5, gt=0, le=1, description="Fraction of the price billed in batch mode.")
    models: dict[str, ModelPrice]

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The packaged table, or the YAML file at ``path``."""
        try:
            text = (Path(path).read_text() if path is not None
                    else resources.files("autointerp").joinpath("data", "prices.yaml").read_text())
            return cls.model_validate(yaml.safe_load(text))
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"price table {path or 'prices.yaml'}: {' '.join(str(exc).split())[:300]}") from None

    def lookup(self, model: str) -> ModelPrice | None:
        """Exact name, else the longest listed name that ``model`` starts with."""
        if model in self.models:
            return self.models[model]
        prefixes = [name for name in self.models if model.startswith(name)]
        return self.models[max(prefixes, key=len)] if prefixes else None


class Budget:
    """A spending limit and its running total, shareable by every backend stack of a run.

    ``spent`` starts at what earlier invocations of the run already spent; ``on_spend(total)`` runs after
    every priced answer (e.g. to persist the total in the run folder, so the budget holds across
    invocations). Once ``spent >= max_cost``, :meth:`check` raises BudgetExceeded.
    """

    def __init__(self, max_cost: float | None = None, *, spent: float = 0.0,
                 on_spend: Callable[[float], None] | None = None):
        self.max_cost = max_cost
        self.spent = float(spent)
        self.on_spend = on_spend

    def check(self) -> None:
        if self.max_cost is not None and self.spent >= self.max_cost:
            raise BudgetExceeded(
                f"budget max_cost=${self.max_cost:.4f} reached (spent ${self.spent:.4f}); no new requests are sent"
            )

    def add(self, cost: float) -> None:
        if cost:
            self.spent += cost
            if self.on_spend is not None:
                self.on_spend(self.spent)


class CostBackend(Wrapper):
    """Prices every answer (``usage.cost_usd``), keeps running totals in ``usage``, enforces a :class:`Budget`.

    Every paid answer counts: also one whose body could not be read (a retried TransientBackendError
    carrying the billed ``usage``); ``build_backend`` puts this layer below the retry layer, so answers
    a later failure discards are counted too. Once the budget is spent new requests raise
    BudgetExceeded; requests already in flight finish and are counted. Requests waiting in a
    LimitBackend below are refused too when :meth:`check_budget` is that layer's gate.
    """

    def __init__(self, inner: Backend, *, prices: PriceTable | None = None, max_cost: float | None = None,
                 batch: bool = False, free: bool = False, budget: Budget | None = None):
        super().__init__(inner)
        self.free = free  # a local model: every call costs 0, no price lookup
        self.prices = prices or PriceTable.load()
        self.budget = budget if budget is not None else Budget(max_cost)
        self.factor = self.prices.batch_discount if batch else 1.0
        self.usage = Usage()
        self._warned: set[str] = set()

    @property
    def max_cost(self) -> float | None:
        return self.budget.max_cost

    def price(self, model: str) -> ModelPrice | None:
        found = self.prices.lookup(model)
        if found is None and model not in self._warned:
            self._warned.add(model)
            log.warning("no price for model %r in the price table; its cost is recorded as 0", model)
        return found

    def check_budget(self) -> None:
        """Raise BudgetExceeded if the budget is spent (also usable as a LimitBackend gate)."""
        self.budget.check()

    def account(self, usage: Usage) -> Usage:
        """``usage`` priced, added to the totals and the budget."""
        price = None if self.free else self.price(self.model)
        cost = price.cost(usage) * self.factor if price else 0.0
        usage = usage.model_copy(update={"cost_usd": cost})
        self.usage = self.usage + usage
        self.budget.add(cost)
        return usage

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.check_budget()
        try:
            response = await self.inner.complete(request)
        except TransientBackendError as exc:
            if exc.usage is not None:  # paid for, then unreadable: still money spent
                exc.paid = self.account(exc.usage)  # priced, for the retry layer to carry up
            raise
        if response.cached:
            return response
        return response.model_copy(update={"usage": self.account(response.usage)})
