"""Device and precision of the subject model; SAE encoding stays float32 unless asked."""

from __future__ import annotations

import pytest
import torch

from autointerp.activations.device import fit_batch_size, resolve_device, resolve_dtype
from autointerp.activations.model_source import ModelActivationSource
from autointerp.activations.models import load_subject
from autointerp.activations.sae import IdentityDict, make_sae
from autointerp.activations.sites import HookSite
from autointerp.activations.source import TokenWindow
from autointerp.errors import ConfigError


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="expected cpu, cuda, cuda:N or auto, got 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            resolve_device("cuda:0")


def test_dtypes():
    assert resolve_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ConfigError, match="expected one of float32, bfloat16, float16, got 'fp8'"):
        resolve_dtype("fp8")


def test_batch_size_is_only_fitted_on_a_gpu():
    assert fit_batch_size(16, torch.device("cpu"), 10**12) == 16


def _windows(n=6, T=7, vocab=40):
    g = torch.Generator().manual_seed(0)
    return [TokenWindow(i, "d", tuple(torch.randint(2, vocab, (T,), generator=g).tolist())) for i in range(n)]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_model_feeds_a_float32_sae(tiny_llama_dir, tiny_llama, dtype):
    """A bfloat16/float16 subject model on CPU: activations are cast to float32 before the float32 SAE encodes them,
    and stay close to the float32 model's."""
    low = load_subject(tiny_llama_dir, dtype=resolve_dtype(dtype))
    assert next(low.model.parameters()).dtype == resolve_dtype(dtype)
    site = HookSite(2, "resid_post")
    g = torch.Generator().manual_seed(3)
    W = torch.randn(32, 16, generator=g)
    sae = make_sae("relu", W, torch.zeros(16), W.T.contiguous(), torch.zeros(32))
    feats = {}
    for name, subject in (("full", tiny_llama), ("low", low)):
        batch = next(iter(ModelActivationSource(subject, site, sae).batches(_windows(), 6)))
        feats[name] = batch.activations
        assert batch.activations.dtype == torch.float32
    torch.testing.assert_close(feats["low"], feats["full"], rtol=0.1, atol=0.15)
    neurons = next(iter(ModelActivationSource(low, HookSite(1, "mlp"), IdentityDict(48)).batches(_windows(), 6)))
    assert neurons.activations.dtype == torch.float32
