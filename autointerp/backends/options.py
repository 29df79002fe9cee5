"""Options of :func:`autointerp.backends.build_backend` as one typed model."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autointerp.errors import ConfigError


class BackendOptions(BaseModel):
    """How a backend stack is built. Field descriptions double as help text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_dir: Path | None = Field(
        default=None, description="Directory of the on-disk response cache (SQLite) and batch state; None: no cache."
    )
    max_concurrency: int = Field(default=16, ge=1, description="Requests in flight at once.")
    rpm: float | None = Field(default=None, gt=0, description="Requests per minute limit (None: unlimited).")
    tpm: float | None = Field(
        default=None, gt=0, description="Tokens per minute limit, estimated as prompt chars/4 + max_tokens."
    )
    max_cost: float | None = Field(default=None, ge=0, description="Budget in USD; new requests fail once reached.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds before one HTTP request is abandoned (retried).")
    max_retries: int = Field(default=6, ge=0, description="Retries of a transient failure before giving up.")
    retry_wait: float = Field(
        default=1.0, ge=0, description="Initial backoff in seconds (doubles, with jitter, up to retry_max_wait)."
    )
    retry_max_wait: float = Field(default=60.0, ge=0, description="Longest single wait between retries.")
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key (default: the provider's usual one)."
    )
    batch: bool = Field(default=False, description="Send requests through the provider's batch API (half price).")
    batch_size: int = Field(
        default=2000, ge=1,
        description="Batch mode: most requests per batch (independent of max_concurrency, which limits live requests).",
    )
    batch_flush_s: float = Field(
        default=2.0, ge=0, description="Batch mode: send the queued requests once none arrived for this many seconds."
    )
    batch_poll_s: float = Field(default=10.0, gt=0, description="First poll interval of a batch (doubles, max 300 s).")

    @property
    def units_in_flight(self) -> int:
        """How many units a stage may work on at once: ``max_concurrency``, or in batch mode ``batch_size``
        (every pending request of a stage must reach the batch collector, or a small ``max_concurrency``
        would make many small batches one after another, each with the provider's turnaround)."""
        return self.batch_size if self.batch else self.max_concurrency

    @classmethod
    def parse(cls, **options: object) -> BackendOptions:
        try:
            return cls(**options)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "options"
            if err["type"] == "extra_forbidden":
                raise ConfigError(
                    f"unknown backend option {field!r}; expected one of: {', '.join(cls.model_fields)}"
                ) from None
            raise ConfigError(f"backend option {field!r}: {err['msg']} (got {err.get('input')!r})") from None
