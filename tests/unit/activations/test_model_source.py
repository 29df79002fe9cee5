"""ModelActivationSource / MultiSource: padding, special tokens, unit selection, one forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autointerp.activations.corpus import Document, token_windows
from autointerp.activations.model_source import Basis, ModelActivationSource, MultiSource, special_tokens
from autointerp.activations.sae import IdentityDict, make_sae
from autointerp.activations.sites import HookSite, capture
from autointerp.activations.source import ActivationSource
from autointerp.errors import ConfigError, InputError

DOCS = [
    Document("d0", "the cat sat on a mat and the dog ran to a big red house"),
    Document("d1", "it was a very good day"),
    Document("d2", "the cat ran in the house with a dog " * 2),
]


def _windows(subject, window=6):
    return list(token_windows(DOCS, subject.tokenizer, window=window))


def _alone(subject, site, window):
    """The site's activations for one window run alone: special tokens added, then dropped."""
    pre, post = special_tokens(subject.tokenizer)
    ids = torch.tensor([[*pre, *window.token_ids, *post]])
    return capture(subject, [site], ids, torch.ones_like(ids))[HookSite.parse(site)][
        0, len(pre) : len(pre) + len(window.token_ids)
    ]


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_bert"])
def test_batched_equals_each_window_alone(request, model):
    subject = request.getfixturevalue(model)
    windows = _windows(subject)
    source = ModelActivationSource(subject, "layers.1.mlp", IdentityDict(subject.d_mlp))
    assert isinstance(source, ActivationSource) and source.n_units == subject.d_mlp
    batches = list(source.batches(windows, batch_size=4))
    assert [len(b.window_indices) for b in batches] == [4] * (len(windows) // 4) + (
        [len(windows) % 4] if len(windows) % 4 else []
    )
    seen = 0
    for batch in batches:
        B, T, U = batch.activations.shape
        assert batch.mask.shape == (B, T) and batch.activations.dtype == torch.float32 and U == subject.d_mlp
        for row, idx in enumerate(batch.window_indices):
            w = windows[idx]
            n = len(w.token_ids)
            assert batch.mask[row].tolist() == [True] * n + [False] * (T - n)
            torch.testing.assert_close(
                batch.activations[row, :n], _alone(subject, "layers.1.mlp", w), rtol=1e-4, atol=1e-5
            )
            assert not batch.activations[row, n:].any()  # padding is 0
            seen += 1
    assert seen == len(windows)


def test_special_tokens(tiny_llama, tiny_bert):
    assert special_tokens(tiny_llama.tokenizer) == ((), ())
    cls, sep = tiny_bert.tokenizer.cls_token_id, tiny_bert.tokenizer.sep_token_id
    assert special_tokens(tiny_bert.tokenizer) == ((cls,), (sep,))


def test_units_and_sae(tiny_llama):
    g = torch.Generator().manual_seed(0)
    sae = make_sae(
        "topk",
        torch.randn(32, 80, generator=g),
        torch.zeros(80),
        torch.randn(80, 32, generator=g),
        torch.zeros(32),
        k=8,
    )
    windows = _windows(tiny_llama)
    units = [79, 3, 10]
    full = next(ModelActivationSource(tiny_llama, "layers.2.resid_post", sae).batches(windows, 8))
    some = next(ModelActivationSource(tiny_llama, "layers.2.resid_post", sae, units=units).batches(windows, 8))
    torch.testing.assert_close(some.activations, full.activations[..., units])
    assert ((full.activations > 0).sum(-1) <= 8).all() and full.activations.shape[-1] == 80
    np.testing.assert_array_equal(some.window_indices, full.window_indices)


def test_multisource_is_one_forward_pass(tiny_llama):
    g = torch.Generator().manual_seed(1)
    sae = make_sae("relu", torch.randn(32, 50, generator=g), torch.zeros(50), None, torch.zeros(32))
    bases = [
        Basis(HookSite.parse("layers.1.resid_post"), sae, (0, 5)),
        Basis(HookSite.parse("layers.1.mlp"), IdentityDict(48), None),
    ]
    multi = MultiSource(tiny_llama, bases)
    assert multi.n_units == (2, 48)
    embeds = []
    handle = tiny_llama.base.embed_tokens.register_forward_hook(lambda m, a, o: embeds.append(1))
    try:
        out = list(multi.batches(_windows(tiny_llama), 100))
    finally:
        handle.remove()
    assert len(out) == 1 and len(embeds) == 1  # one batch, one forward pass for both bases
    feats, neurons = out[0]
    single = next(
        ModelActivationSource(tiny_llama, "layers.1.mlp", IdentityDict(48)).batches(_windows(tiny_llama), 100)
    )
    torch.testing.assert_close(neurons.activations, single.activations)
    single = next(
        ModelActivationSource(tiny_llama, "layers.1.resid_post", sae, [0, 5]).batches(_windows(tiny_llama), 100)
    )
    torch.testing.assert_close(feats.activations, single.activations)


def test_source_errors(tiny_llama, tiny_bert):
    with pytest.raises(InputError, match="hook site layers.1.mlp has width 48"):
        ModelActivationSource(tiny_llama, "layers.1.mlp", IdentityDict(32))
    with pytest.raises(ConfigError, match="unit indices"):
        ModelActivationSource(tiny_llama, "layers.1.mlp", IdentityDict(48), units=[48])
    with pytest.raises(ConfigError, match="out of range"):
        ModelActivationSource(tiny_llama, "layers.9.mlp", IdentityDict(48))
    source = ModelActivationSource(tiny_bert, "layers.0.mlp", IdentityDict(64))
    with pytest.raises(ConfigError, match="exceed the model's 128 positions"):
        next(source.batches(token_windows([Document("long", "the cat " * 200)], tiny_bert.tokenizer, window=200), 2))
