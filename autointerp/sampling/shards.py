"""Splitting one corpus pass over several processes, and joining the results exactly.

A window belongs to shard ``window.index % count``: every process tokenises the same corpus into the same
window stream (indices are stable for a given corpus + tokenizer + window), keeps its own windows, and samples
them into a :class:`SamplerState`. The states are folded with the sampler's exact, order-free
:meth:`SamplerState.merge`, so the merged result equals one process over the whole corpus (contexts, counts and
levels exactly; sums, hence means, up to float64 addition order).

Two ways to run the shards: ``torchrun`` (ranks of one ``torch.distributed`` job, gloo on CPU / nccl on GPU;
rank 0 receives every state and merges) or independent jobs (``autointerp sample --shard I/N`` each, then
``autointerp merge``), e.g. a Slurm array.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from autointerp.activations.source import TokenWindow
from autointerp.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` as ``--shard`` takes it; anything else is one line naming the expected form."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
            raise ConfigError(f"--shard: expected I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    def take(self, windows: Iterable[TokenWindow]) -> Iterator[TokenWindow]:
        """This shard's windows, in stream order."""
        return (w for w in windows if w.index % self.count == self.index)


def torchrun_shard() -> Shard | None:
    """The shard of this process when started by ``torchrun`` with more than one rank, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return Shard(int(os.environ["RANK"]), world)


def init_distributed() -> None:
    """Join the torchrun job: nccl when this rank has a GPU, gloo otherwise."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def gather_states(payload: bytes) -> list[bytes] | None:
    """Send this rank's encoded state to rank 0; rank 0 gets every rank's (in rank order), the others None."""
    import torch.distributed as dist

    received: list[bytes] | None = [b""] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(payload, received, dst=0)
    return received


def broadcast_from_rank0(value):
    """Rank 0's ``value`` on every rank (e.g. whether the run still needs sampling)."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def merge_on_rank0(states: list) -> list | None:
    """Every rank's per-basis sampler states folded exactly on rank 0 (in rank order); other ranks get None."""
    from autointerp.sampling.persist import state_bytes, state_from_bytes

    received = gather_states(state_bytes(states))
    if received is None:
        return None
    merged = state_from_bytes(received[0])[0]
    for payload in received[1:]:
        for mine, theirs in zip(merged, state_from_bytes(payload)[0], strict=True):
            mine.merge(theirs)
    return merged


def finish_distributed() -> None:
    """Leave the job (after the last collective call, so no rank waits on another's LLM stages)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
