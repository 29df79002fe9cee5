"""`autointerp sample` end to end on a tiny random LLaMA, and the sampler wired to the real activation source."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from autointerp.activations.model_source import ModelActivationSource
from autointerp.activations.sae import make_sae
from autointerp.activations.sae_formats import load_sae, save_saelens
from autointerp.cli import main
from autointerp.sampling import SamplerConfig, SampleSet, TokenDecoder, sample
from autointerp.sampling.batchview import _TokenGather
from autointerp.types import UnitSamples

TEXT = ("the cat sat on a mat and the dog ran to the big red house it was a very good day of "
        "a dog and a cat sat in the house with the big red mat ")  # words of the tiny model's vocabulary


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for i in range(6):
        (folder / f"doc{i}.txt").write_text(TEXT * (3 + i), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def sae_dir(tmp_path_factory):
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(32, 64, generator=gen)
    sae = make_sae("topk", W, torch.zeros(64), W.T.contiguous(), torch.zeros(32), k=4)
    return save_saelens(sae, tmp_path_factory.mktemp("sae") / "tiny_topk", hook_name="layers.2.resid_post")


def run_cli(*args: str) -> int:
    return main(["sample", *args, "--no-progress"])


def test_sample_command_writes_a_reloadable_sample_set(tiny_llama_dir, corpus, sae_dir, tmp_path, capsys):
    common = ["--model", str(tiny_llama_dir), "--site", "layers.2.resid_post", "--sae", str(sae_dir),
              "--units", "0-5,9", "--corpus", str(corpus), "--max-tokens", "600", "--window", "16", "--top-k", "4"]
    assert run_cli(*common, "--out", str(tmp_path / "a"), "--jsonl") == 0
    assert "sampled 7 units of sae:tiny_topk over 600 tokens" in capsys.readouterr().out
    samples = SampleSet.load(tmp_path / "a")
    assert [u.index for u in samples.units] == [0, 1, 2, 3, 4, 5, 9]
    lines = (tmp_path / "a" / "units.jsonl").read_text().splitlines()
    records = [UnitSamples.model_validate(json.loads(line)) for line in lines]
    assert [r.unit.index for r in records] == [0, 1, 2, 3, 4, 5, 9]
    live = [r for r in records if "dead" not in r.stats.flags]
    assert live and all(r.explain_contexts() and r.heldout_contexts() for r in live)
    # tokens are the text each adds to its decoded window: a word-level tokenizer puts a space before each word
    assert {t.strip() for r in live for c in r.explain for t in c.tokens} <= set(TEXT.split())

    assert run_cli(*common, "--out", str(tmp_path / "b")) == 0  # same seed: identical files
    saved = [(tmp_path / d / "samples.safetensors").read_bytes() for d in ("a", "b")]
    assert saved[0] == saved[1]


def test_neurons_with_random_units(tiny_llama_dir, corpus, tmp_path, capsys):
    args = ["--model", str(tiny_llama_dir), "--site", "layers.1.mlp", "--neurons", "--n-units", "5",
            "--corpus", str(corpus), "--max-tokens", "300", "--out", str(tmp_path / "n"), "--seed", "3"]
    assert run_cli(*args) == 0
    samples = SampleSet.load(tmp_path / "n")
    assert samples.basis == "neurons:layers.1.mlp" and len(samples.units) == 5
    assert all(0 <= u.index < 48 for u in samples.units) and samples.config.seed == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--units", "0,999"], "--units: unit 999 out of range"),
        (["--n-units", "0"], "--n-units"),
        (["--heldout-fraction", "1.5"], "--heldout-fraction"),
        (["--corpus", "/nonexistent/corpus.txt"], "not found"),
        (["--site", "layers.99.mlp"], "out of range"),
    ],
)
def test_bad_input_is_one_line(tiny_llama_dir, corpus, tmp_path, capsys, extra, message):
    args = ["--model", str(tiny_llama_dir), "--site", "layers.1.mlp", "--neurons", "--corpus", str(corpus),
            "--max-tokens", "50", "--out", str(tmp_path / "x")]
    for i in range(0, len(extra), 2):  # later flags override earlier ones
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i:i + 2]
    assert run_cli(*args) != 0
    err = capsys.readouterr().err
    assert err.startswith("autointerp: error:") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_contexts_match_the_model_activations(tiny_llama, sae_dir, corpus):
    """Stored per-token activations of kept contexts equal a fresh forward pass on that window alone."""
    from autointerp.activations.corpus import load_corpus, token_windows

    sae = load_sae(sae_dir)
    units = [1, 3, 7, 60]
    windows = list(token_windows(load_corpus(str(corpus)), tiny_llama.tokenizer, 12, 400))
    source = ModelActivationSource(tiny_llama, "layers.2.resid_post", sae, units=units)
    samples = sample(source, windows, SamplerConfig(top_k=3, acts_dtype="float32", batch_size=5), basis="sae:t",
                     unit_ids=units, progress=False)
    decoder = TokenDecoder(tiny_llama.tokenizer)
    by_index = {w.index: w for w in windows}
    checked = 0
    for col, unit in enumerate(units):
        for c in samples.unit_samples(unit, decoder).explain[:2]:
            (batch,) = list(source.batches([by_index[c.window_index]], 1))
            np.testing.assert_allclose(c.activations, batch.activations[0, :, col].numpy(), rtol=1e-5, atol=1e-5)
            checked += 1
    assert checked >= 4


def test_sparse_token_gather_equals_dense_reads():
    gen = torch.Generator().manual_seed(0)
    acts = torch.rand(4, 9, 300, generator=gen)
    acts[acts < 0.99] = 0
    acts[1, 3, 7] = -0.5  # negative values survive too
    b, t, u = acts.nonzero(as_tuple=True)
    gather = _TokenGather(acts, (b, t, u, acts[b, t, u]), tuple(acts.shape))
    assert gather.sparse
    rows, units = torch.tensor([0, 1, 1, 3, 2]), torch.tensor([5, 7, 299, 0, 5])
    assert torch.equal(gather(rows, units), acts[rows, :, units])
