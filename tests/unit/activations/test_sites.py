"""Hook sites: parsing, validation, and capture equal to a full forward pass, with an early stop."""

from __future__ import annotations

import pytest
import torch

from autointerp.activations.sites import HookSite, capture
from autointerp.errors import ConfigError

KINDS = ("resid_pre", "resid_post", "mlp", "attn_out", "mlp_in", "mlp_out")


def _batch(subject, n_tokens=7, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    vocab = subject.model.config.vocab_size
    ids = torch.randint(5, vocab, (batch, n_tokens), generator=g)
    mask = torch.ones_like(ids)
    mask[1, -2:] = 0  # a padded row
    return ids, mask


def _reference(subject, site: HookSite, ids, mask) -> torch.Tensor:
    """The activation at ``site`` from a FULL forward pass (hidden states, or a plain hook on the module)."""
    with torch.inference_mode():
        if site.kind == "resid_pre":
            return subject.base(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[site.layer]
        if site.kind == "resid_post" and site.layer < subject.n_layers - 1:  # last entry is after the final norm
            out = subject.base(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            return out.hidden_states[site.layer + 1]
        tap = site.tap(subject)
        seen = {}
        if tap.side == "input":
            h = tap.module.register_forward_pre_hook(
                lambda m, a, k: seen.update(x=(a[0] if a else k["hidden_states"]).clone()), with_kwargs=True
            )
        else:
            h = tap.module.register_forward_hook(
                lambda m, a, o: seen.setdefault("x", (o[0] if isinstance(o, tuple) else o).clone())
            )
        try:
            subject.base(input_ids=ids, attention_mask=mask)
        finally:
            h.remove()
        return seen["x"]


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_bert"])
@pytest.mark.parametrize("kind", KINDS)
def test_capture_equals_full_forward(request, model, kind):
    subject = request.getfixturevalue(model)
    ids, mask = _batch(subject)
    for layer in (0, subject.n_layers - 1):
        site = HookSite(layer, kind)
        got = capture(subject, [site], ids, mask)[site]
        assert got.shape == (2, 7, site.width(subject))
        torch.testing.assert_close(got, _reference(subject, site, ids, mask), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_bert"])
def test_capture_stops_after_deepest_site(request, model):
    subject = request.getfixturevalue(model)
    blocks = subject.spec.blocks(subject.base)
    fired = []
    handles = [b.register_forward_hook(lambda m, a, o, i=i: fired.append(i)) for i, b in enumerate(blocks)]
    try:
        ids, mask = _batch(subject)
        got = capture(subject, ["layers.1.mlp", "layers.0.resid_post", "layers.1.attn_out"], ids, mask)
    finally:
        for h in handles:
            h.remove()
    assert list(map(str, got)) == ["layers.1.mlp", "layers.0.resid_post", "layers.1.attn_out"]
    assert fired == [0]  # block 1 stopped inside its MLP; blocks 2.. never ran


def test_capture_leaves_no_hooks(tiny_llama):
    def hooks():
        return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in tiny_llama.model.modules()]

    ids, mask = _batch(tiny_llama)
    before = hooks()
    capture(tiny_llama, ["layers.2.mlp", "layers.1.attn_out"], ids, mask)
    assert hooks() == before


def test_parse_and_str_round_trip():
    for text in ("layers.0.resid_post", "layers.12.mlp", "layers.3.attn_out"):
        assert str(HookSite.parse(text)) == text
    assert HookSite.parse(" layers.6.mlp ") == HookSite(6, "mlp")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("blocks.6.hook_resid_post", "expected 'layers.<i>.<kind>'"),
        ("layers.x.mlp", "expected 'layers.<i>.<kind>'"),
        ("layers.1.mlp_post", "unknown kind 'mlp_post'"),
    ],
)
def test_parse_rejects_bad_sites(text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        HookSite.parse(text)


def test_validate_lists_valid_sites(tiny_llama):
    with pytest.raises(ConfigError) as err:
        HookSite.parse("layers.4.mlp").width(tiny_llama)
    assert "4 layers" in str(err.value) and "layers.{0..3}.{attn_out,mlp,mlp_in,mlp_out,resid_post,resid_pre}" in str(err.value)


def test_widths(tiny_llama, tiny_bert):
    assert HookSite(1, "mlp").width(tiny_llama) == 48 and HookSite(1, "resid_post").width(tiny_llama) == 32
    assert HookSite(1, "mlp").width(tiny_bert) == 64 and HookSite(1, "attn_out").width(tiny_bert) == 32
