"""A hand-wired 2-layer LLaMA whose behaviour is known exactly, and an SAE with two planted units.

Residual dimensions (d_model 16): 0 = "xray" marker, 1 = "yak" marker, 2 = fraction of
earlier "yak"s (written by layer 0's uniform attention), 3 = AND of the two (layer 0's
gated MLP: silu(fraction) * xray, exactly 0 unless both), 5 = "zebra" marker, 6 = a
direction the unembedding reads as "zebra"; filler words live in dims 7-15. Layer 1 is
all zeros, so the residual stream passes through to the unembedding.

SAE at ``layers.0.resid_post`` (ReLU):
* unit 0 reads dim 3: fires on "xray" only when a "yak" came before it;
* unit 1 reads dim 5 (fires on "zebra") and writes dim 6: adding it raises "zebra"'s logit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.unit.dictionaries.ckpt import write_saelens

_FILLER_TEXT = "the cat sat on a mat and dog ran to big red house it was very good day of in with we go up see old man"
FILLERS = tuple(_FILLER_TEXT.split(" "))
WORDS = ("<unk>", "<pad>", "xray", "yak", "zebra", *FILLERS)
D = 16


def build_planted_llama(folder: Path, seed: int = 0) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=D, intermediate_size=4, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=128, pad_token_id=1, bos_token_id=None, eos_token_id=None,
        tie_word_embeddings=False, rms_norm_eps=1e-8,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    rng = np.random.default_rng(seed)
    sd = {
        k: (torch.ones_like if k.endswith("norm.weight") else torch.zeros_like)(v)
        for k, v in model.state_dict().items()
    }
    emb = torch.zeros(len(vocab), D)
    for w, i in vocab.items():
        v = np.zeros(D)
        if w == "xray":
            v[0] = 1
        elif w == "yak":
            v[1] = 1
        elif w == "zebra":
            v[5] = 1
        else:
            v[7:] = rng.normal(size=D - 7)
        emb[i] = torch.tensor(v / np.linalg.norm(v), dtype=torch.float32)
    sd["model.embed_tokens.weight"] = emb
    # layer 0 attention: q = k = 0 (uniform over positions <= t); value slot 0 = yak marker -> residual dim 2
    sd["model.layers.0.self_attn.v_proj.weight"][0, 1] = 1.0
    sd["model.layers.0.self_attn.o_proj.weight"][2, 0] = 1.0
    # layer 0 MLP: down(silu(gate) * up) with gate = dim 2 (yak fraction), up = dim 0 (xray) -> dim 3
    sd["model.layers.0.mlp.gate_proj.weight"][0, 2] = 1.0
    sd["model.layers.0.mlp.up_proj.weight"][0, 0] = 1.0
    sd["model.layers.0.mlp.down_proj.weight"][3, 0] = 1.0
    head = torch.zeros(len(vocab), D)
    head[:, 7:] = torch.tensor(rng.normal(size=(len(vocab), D - 7)), dtype=torch.float32)
    head[vocab["zebra"]] = 0.0
    head[vocab["zebra"], 6] = 10.0
    head[vocab["<unk>"]] = head[vocab["<pad>"]] = 0.0
    head[vocab["<unk>"], 7:] = head[vocab["<pad>"], 7:] = -30.0 * emb[vocab["the"], 7:]  # never generated much
    sd["lm_head.weight"] = head
    model.load_state_dict(sd)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def planted_sae(folder: Path) -> Path:
    W_enc = torch.zeros(D, 2)
    W_enc[3, 0] = 1.0
    W_enc[5, 1] = 1.0
    W_dec = torch.zeros(2, D)
    W_dec[0, 3] = 1.0
    W_dec[1, 6] = 1.0
    write_saelens(folder, {"W_enc": W_enc, "b_enc": torch.zeros(2), "W_dec": W_dec, "b_dec": torch.zeros(D)},
                  hook_name="layers.0.resid_post")  # fmt: skip
    return folder
