"""Where and in which precision the subject model runs.

``device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (the first GPU when there is one, else the CPU).
``dtype``: ``float32``, ``bfloat16`` or ``float16`` for the subject model's weights and activations. SAE encoding
runs in ``sae_dtype`` (float32 unless asked): captured activations are cast to it before encoding, so a bfloat16
model does not silently coarsen the features' pre-activations.
"""

from __future__ import annotations

import torch

from autointerp.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """``auto`` -> cuda if available else cpu; an unavailable GPU is a one-line error, never a silent CPU run."""
    text = "cpu" if spec is None else str(spec).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device: expected cpu, cuda, cuda:N or auto, got {spec!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: expected cpu, cuda, cuda:N or auto, got {spec!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {spec!r} asked for, but torch sees no CUDA GPU here (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device: {spec!r} asked for, but there are {torch.cuda.device_count()} GPUs")
    return device


def resolve_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[str(name)]
    except KeyError:
        raise ConfigError(f"dtype: expected one of {', '.join(DTYPES)}, got {name!r}") from None


def fit_batch_size(requested: int, device: torch.device, bytes_per_window: int, headroom: float = 0.5) -> int:
    """Windows per forward pass: ``requested``, lowered on a GPU so one batch's activations fit in ``headroom`` of
    the free memory (results do not depend on the batch size; only speed and memory do)."""
    if device.type != "cuda" or bytes_per_window <= 0:
        return requested
    free, _total = torch.cuda.mem_get_info(device)
    return max(1, min(requested, int(free * headroom) // bytes_per_window))
