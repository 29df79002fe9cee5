"""``sample()``: one streaming pass of an ActivationSource over token windows into a SampleSet."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from tqdm.auto import tqdm

from autointerp.activations.source import ActivationBatch, ActivationSource, TokenWindow
from autointerp.errors import ConfigError, InputError
from autointerp.sampling.config import SamplerConfig
from autointerp.sampling.finalize import finalize
from autointerp.sampling.sampleset import SampleSet
from autointerp.sampling.state import SamplerState

FOLD_WINDOWS = 64  # windows per sampler update (source batches are joined up to this)

BatchesOf = Callable[[Iterable[TokenWindow], int], Iterator[tuple[ActivationBatch, ...]]]


def run_passes(
    batches_of: BatchesOf,
    n_units: Sequence[int],
    windows: Iterable[TokenWindow],
    config: SamplerConfig,
    *,
    progress: bool = True,
    total_tokens: int | None = None,
) -> list[SamplerState]:
    """One pass feeding one state per basis: ``batches_of(windows, batch_size)`` yields, per batch of windows,
    one ActivationBatch per basis (e.g. ``MultiSource.batches``: features and neurons from one forward pass)."""
    states = [SamplerState(config, n) for n in n_units]
    pending: dict[int, TokenWindow] = {}

    def tap(ws: Iterable[TokenWindow]) -> Iterator[TokenWindow]:
        for w in ws:
            pending[w.index] = w
            yield w

    # The sampler's result does not depend on how windows are grouped into batches (SamplerState is exact and
    # order-free), so it folds several source batches at once: fewer, larger tensor operations.
    buffered: list[tuple[tuple[ActivationBatch, ...], list[TokenWindow]]] = []

    def fold() -> None:
        rows = [w for _, ws in buffered for w in ws]
        for i, state in enumerate(states):
            state.update(ActivationBatch.cat([batches[i] for batches, _ in buffered]), rows)
        buffered.clear()

    with tqdm(total=total_tokens, unit="tok", unit_scale=True, desc="sampling", disable=not progress,
              dynamic_ncols=True) as bar:
        for batches in batches_of(tap(windows), config.batch_size):
            try:
                rows = [pending.pop(int(i)) for i in batches[0].window_indices]
            except KeyError as exc:
                raise InputError(f"activation source returned window {exc.args[0]} that was not in its input") from None
            buffered.append((batches, rows))
            if sum(len(ws) for _, ws in buffered) >= max(FOLD_WINDOWS, config.batch_size):
                fold()
            bar.update(int(batches[0].mask.sum()))
        if buffered:
            fold()
    return states


def run_pass(
    source: ActivationSource,
    windows: Iterable[TokenWindow],
    config: SamplerConfig,
    *,
    progress: bool = True,
    total_tokens: int | None = None,
) -> SamplerState:
    """Stream every window through the source once and return the filled state."""

    def batches_of(ws: Iterable[TokenWindow], size: int) -> Iterator[tuple[ActivationBatch, ...]]:
        return ((batch,) for batch in source.batches(ws, size))

    (state,) = run_passes(batches_of, [source.n_units], windows, config, progress=progress, total_tokens=total_tokens)
    return state


def sample(
    source: ActivationSource,
    windows: Iterable[TokenWindow],
    config: SamplerConfig,
    *,
    basis: str,
    unit_ids: Sequence[int],
    progress: bool = True,
    total_tokens: int | None = None,
) -> SampleSet:
    """Sample contexts and statistics for every unit (column) of ``source`` in one pass over ``windows``.

    ``unit_ids`` are the real unit indices of the source's columns; ``total_tokens``
    (optional) sizes the progress bar.
    """
    if len(unit_ids) != source.n_units:
        raise ConfigError(f"unit_ids: expected {source.n_units} ids (one per source column), got {len(unit_ids)}")
    state = run_pass(source, windows, config, progress=progress, total_tokens=total_tokens)
    return finalize(state, basis=basis, unit_ids=unit_ids)
