"""Every supported architecture, as a tiny random-weight model built from its transformers config (no Hub).

For each: the activation captured with the early stop equals the one read from a full forward pass at every site
kind; what the sub-block taps say is added to the residual stream really sums to the block's output; and capture
stops at the deepest hooked layer.
"""

from __future__ import annotations

import pytest
import torch

from autointerp.activations.models import load_subject
from autointerp.activations.sites import SITE_KINDS, HookSite, capture
from tests.conftest import TINY_WORDS

SMALL = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4)
GQA = dict(SMALL, num_key_value_heads=2)


def _configs():
    import transformers as T

    return {
        "llama": lambda: T.LlamaConfig(**GQA),
        "mistral": lambda: T.MistralConfig(**GQA),
        "qwen2": lambda: T.Qwen2Config(**GQA),
        "qwen3": lambda: T.Qwen3Config(**GQA, head_dim=8),
        "gemma": lambda: T.GemmaConfig(**GQA, head_dim=8),
        "gemma2": lambda: T.Gemma2Config(**GQA, head_dim=8),
        "gemma3_text": lambda: T.Gemma3TextConfig(**GQA, head_dim=8),
        "phi3": lambda: T.Phi3Config(**GQA, pad_token_id=0),
        "olmo2": lambda: T.Olmo2Config(**GQA),
        "gpt_neox": lambda: T.GPTNeoXConfig(**SMALL, max_position_embeddings=128),
        "gpt2": lambda: T.GPT2Config(vocab_size=64, n_embd=32, n_inner=48, n_layer=3, n_head=4, n_positions=128),
    }


ARCHS = sorted(_configs())


def _save(arch: str, folder) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    config = _configs()[arch]()
    config.bos_token_id = config.eos_token_id = None
    config.pad_token_id = 1
    words = ["<unk>", "<pad>"] + list(dict.fromkeys(TINY_WORDS))
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words[: config.vocab_size])}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # random norm weights, so a wrongly placed tap cannot hide behind an all-ones norm
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.3 * torch.randn_like(p))
    model.save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>").save_pretrained(folder)


@pytest.fixture(scope="module", params=ARCHS)
def subject(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    _save(request.param, folder)
    return load_subject(folder)


def _batch(subject, n_tokens=6):
    g = torch.Generator().manual_seed(1)
    return torch.randint(2, subject.model.config.vocab_size, (2, n_tokens), generator=g)


def _full_forward(subject, site: HookSite, ids) -> torch.Tensor:
    """The activation at ``site`` read during a complete forward pass (hidden states, or a hook that never stops)."""
    with torch.inference_mode():
        if site.kind == "resid_pre":
            return subject.base(input_ids=ids, output_hidden_states=True).hidden_states[site.layer]
        if site.kind == "resid_post" and site.layer < subject.n_layers - 1:  # the last entry is after the final norm
            return subject.base(input_ids=ids, output_hidden_states=True).hidden_states[site.layer + 1]
        tap, seen = site.tap(subject), {}
        if tap.side == "input":
            h = tap.module.register_forward_pre_hook(
                lambda m, a, k: seen.update(x=(a[0] if a else k["hidden_states"]).clone()), with_kwargs=True
            )
        else:
            h = tap.module.register_forward_hook(
                lambda m, a, o: seen.update(x=(o[0] if isinstance(o, tuple) else o).clone())
            )
        try:
            subject.base(input_ids=ids)
        finally:
            h.remove()
        return seen["x"]


def test_arch_is_registered(subject):
    assert subject.is_decoder and subject.unembed is not None and subject.d_mlp == 48


@pytest.mark.parametrize("kind", sorted(SITE_KINDS.names()))
def test_capture_equals_full_forward(subject, kind):
    ids = _batch(subject)
    for layer in (0, subject.n_layers - 1):
        site = HookSite(layer, kind)
        got = capture(subject, [site], ids)[site]
        assert got.shape == (2, 6, site.width(subject))
        torch.testing.assert_close(got, _full_forward(subject, site, ids), rtol=1e-5, atol=1e-5)


def test_resid_pre_of_layer_0_is_the_embedding_output(subject):
    ids = _batch(subject)
    got = capture(subject, ["layers.0.resid_pre"], ids)[HookSite(0, "resid_pre")]
    with torch.inference_mode():
        emb = subject.base(input_ids=ids, output_hidden_states=True).hidden_states[0]
    torch.testing.assert_close(got, emb)


def test_sub_block_outputs_sum_to_the_residual_update(subject):
    """resid_post = resid_pre + attn_out + mlp_out: the taps are exactly what each sub-block adds."""
    ids, layer = _batch(subject), 1
    sites = [HookSite(layer, k) for k in ("resid_pre", "attn_out", "mlp_out", "resid_post")]
    got = capture(subject, sites, ids)
    pre, attn, mlp, post = (got[s] for s in sites)
    torch.testing.assert_close(pre + attn + mlp, post, rtol=1e-4, atol=1e-4)


def test_capture_stops_after_deepest_site(subject):
    blocks = subject.spec.blocks(subject.base)
    fired = []
    handles = [b.register_forward_hook(lambda m, a, o, i=i: fired.append(i)) for i, b in enumerate(blocks)]
    try:
        capture(subject, ["layers.1.mlp_in", "layers.0.resid_post"], _batch(subject))
        assert fired == [0]  # block 1 stopped inside its MLP; block 2 never ran
        fired.clear()
        capture(subject, ["layers.1.resid_pre"], _batch(subject))
        assert fired == [0]  # stopped on entering block 1
    finally:
        for h in handles:
            h.remove()
