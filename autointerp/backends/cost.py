"""CostBackend: token and dollar accounting from ``autointerp/data/prices.yaml``, and a budget."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autointerp.backends.base import Backend, LLMRequest, LLMResponse
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


class CostBackend(Wrapper):
    """Prices every response (``usage.cost_usd``), keeps running totals in ``usage``, enforces ``max_cost``.

    Once ``usage.cost_usd >= max_cost`` new requests raise BudgetExceeded; requests already in
    flight finish and are counted. Requests waiting in a LimitBackend below are refused too when
    :meth:`check_budget` is that layer's gate (``build_backend`` wires it).
    """

    def __init__(self, inner: Backend, *, prices: PriceTable | None = None, max_cost: float | None = None,
                 batch: bool = False, free: bool = False):
        super().__init__(inner)
        self.free = free  # a local model: every call costs 0, no price lookup
        self.prices = prices or PriceTable.load()
        self.max_cost = max_cost
        self.factor = self.prices.batch_discount if batch else 1.0
        self.usage = Usage()
        self._warned: set[str] = set()

    def price(self, model: str) -> ModelPrice | None:
        found = self.prices.lookup(model)
        if found is None and model not in self._warned:
            self._warned.add(model)
            log.warning("no price for model %r in the price table; its cost is recorded as 0", model)
        return found

    def check_budget(self) -> None:
        """Raise BudgetExceeded if ``max_cost`` is reached (also usable as a LimitBackend gate)."""
        if self.max_cost is not None and self.usage.cost_usd >= self.max_cost:
            raise BudgetExceeded(
                f"budget max_cost=${self.max_cost:.4f} reached (spent ${self.usage.cost_usd:.4f}); "
                "no new requests are sent"
            )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.check_budget()
        response = await self.inner.complete(request)
        if response.cached:
            return response
        price = None if self.free else self.price(self.model)
        cost = price.cost(response.usage) * self.factor if price else 0.0
        usage = response.usage.model_copy(update={"cost_usd": cost})
        self.usage = self.usage + usage
        return response.model_copy(update={"usage": usage})
