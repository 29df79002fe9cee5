"""The activation side on the real packaged models (fetched once per machine into the cache)."""

from __future__ import annotations

import pytest
import torch

from autointerp.activations.corpus import token_windows
from autointerp.activations.model_source import Basis, MultiSource, special_tokens
from autointerp.activations.sae import IdentityDict, make_sae
from autointerp.activations.sites import HookSite, capture

pytestmark = pytest.mark.slow


def _reference(subject, site, ids, mask):
    """Activation at ``site`` from a full forward pass: hidden states for resid_post, a plain hook otherwise."""
    with torch.inference_mode():
        if site.kind == "resid_post":
            return subject.base(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[
                site.layer + 1
            ]
        tap, seen = site.tap(subject), {}
        if tap.side == "input":
            h = tap.module.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0].clone()))
        else:
            h = tap.module.register_forward_hook(lambda m, a, o: seen.setdefault("x", o.clone()))
        try:
            subject.base(input_ids=ids, attention_mask=mask)
        finally:
            h.remove()
        return seen["x"]


@pytest.mark.parametrize("model, dims", [("smollm2", ("llama", 30, 576, 1536)), ("minilm", ("bert", 6, 384, 1536))])
def test_real_model_sites(request, model, dims):
    subject = request.getfixturevalue(model)
    assert (subject.arch, subject.n_layers, subject.d_model, subject.d_mlp) == dims
    enc = subject.tokenizer(
        ["The jury said the election was conducted fairly.", "A dog ran."], return_tensors="pt", padding=True
    )
    sites = [HookSite(3, "resid_post"), HookSite(3, "mlp"), HookSite(2, "attn_out")]
    fired = []
    above = subject.spec.blocks(subject.base)[4]
    handle = above.register_forward_hook(lambda m, a, o: fired.append(True))
    try:
        got = capture(subject, sites, enc["input_ids"], enc["attention_mask"])
    finally:
        handle.remove()
    assert not fired  # block 4 and above never ran
    for site in sites:
        torch.testing.assert_close(
            got[site], _reference(subject, site, enc["input_ids"], enc["attention_mask"]), rtol=1e-4, atol=1e-4
        )


def test_smollm2_is_a_working_instruct_model(smollm2):
    assert smollm2.unembed.shape == (576, 49152)
    assert smollm2.tokenizer.chat_template  # the local LLM backend needs it
    ids = smollm2.tokenizer("The capital of France is", return_tensors="pt")
    out = smollm2.model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in smollm2.tokenizer.decode(out[0, ids["input_ids"].shape[1] :])


def test_brown_windows_through_both_bases(minilm, brown_docs):
    windows = list(token_windows(brown_docs, minilm.tokenizer, window=32, max_tokens=512))
    assert sum(len(w.token_ids) for w in windows) == 512 and {w.doc_id for w in windows} == {"ca01"}
    g = torch.Generator().manual_seed(0)
    sae = make_sae("topk", torch.randn(384, 1024, generator=g), torch.zeros(1024), None, torch.zeros(384), k=16)
    multi = MultiSource(minilm, [Basis(HookSite(3, "resid_post"), sae), Basis(HookSite(3, "mlp"), IdentityDict(1536))])
    assert special_tokens(minilm.tokenizer) == ((101,), (102,))
    n = 0
    for feats, neurons in multi.batches(windows, 8):
        assert feats.activations.shape[-1] == 1024 and neurons.activations.shape[-1] == 1536
        assert ((feats.activations > 0).sum(-1) <= 16).all() and feats.mask.all()
        n += len(feats.window_indices)
    assert n == len(windows) == 16
