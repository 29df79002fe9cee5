"""Sharded sampling: `sample --shard I/N` + `merge`, and torchrun with 2 gloo processes, equal one process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autointerp.cli import main
from autointerp.errors import ConfigError
from autointerp.sampling.sampleset import saved_differences
from autointerp.sampling.shards import Shard
from tests.support.sample_digest import saved_digest

TEXT = ("the cat sat on a mat and the dog ran to the big red house it was a very good day of "
        "a dog and a cat sat in the house with the big red mat ")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shard_corpus")
    for i in range(7):
        (folder / f"doc{i}.txt").write_text(TEXT * (2 + i), encoding="utf-8")
    return folder


def _common(tiny_llama_dir, corpus):
    return ["--model", str(tiny_llama_dir), "--site", "layers.1.mlp", "--neurons", "--units", "0-11",
            "--corpus", str(corpus), "--max-tokens", "700", "--window", "12", "--top-k", "3", "--per-bin", "2",
            "--n-bins", "4", "--no-progress"]


def assert_same_sample_set(a, b):
    """Contexts, counts and levels exactly; float statistics (sums, means) to 1e-9."""
    assert saved_differences(a, b) == []


@pytest.fixture(scope="module")
def one_process(tiny_llama_dir, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    assert main(["sample", *_common(tiny_llama_dir, corpus), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("count", [2, 3])
def test_shards_then_merge_equal_one_process(tiny_llama_dir, corpus, one_process, tmp_path, count):
    shards = []
    for i in range(count):
        shards.append(tmp_path / f"s{i}")
        assert main(["sample", *_common(tiny_llama_dir, corpus), "--shard", f"{i}/{count}", "--out",
                     str(shards[-1])]) == 0
    merged = tmp_path / "merged"
    assert main(["merge", *map(str, reversed(shards)), "--out", str(merged)]) == 0  # order does not matter
    assert_same_sample_set(one_process, merged)


def test_merge_refuses_incomplete_or_mixed_shards(tiny_llama_dir, corpus, tmp_path, capsys):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["sample", *_common(tiny_llama_dir, corpus), "--shard", "0/2", "--out", str(a)]) == 0
    assert main(["sample", *_common(tiny_llama_dir, corpus), "--shard", "1/2", "--out", str(b),
                 "--window", "10"]) == 0
    assert main(["sample", *_common(tiny_llama_dir, corpus), "--shard", "1/2", "--out", str(c)]) == 0
    capsys.readouterr()
    assert main(["merge", str(a), "--out", str(tmp_path / "m1")]) == 2
    assert "shards 1/2 are missing" in capsys.readouterr().err
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m2")]) == 2
    assert "--window ('10' vs '12') differs" in capsys.readouterr().err
    assert main(["merge", str(a), str(c), str(c), "--out", str(tmp_path / "m3")]) == 2
    assert "given twice" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m4")]) == 2
    assert "state.pt not found" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["2/2", "x", "1/0", "-1/3"])
def test_bad_shard_spec(text):
    with pytest.raises(ConfigError, match="expected I/N"):
        Shard.parse(text)


def test_torchrun_two_gloo_processes_equal_one_process(tiny_llama_dir, corpus, one_process, tmp_path):
    out = tmp_path / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "autointerp", "sample", *_common(tiny_llama_dir, corpus), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "merged 2 ranks" in proc.stderr
    assert_same_sample_set(one_process, out)


def test_torchrun_run_dry_run_samples_like_one_process(tiny_llama_dir, corpus, tmp_path):
    """`torchrun -m autointerp run`: both ranks sample their shard, rank 0 merges and alone writes the run folder."""
    import yaml

    cfg = {"model": str(tiny_llama_dir), "corpus": str(corpus), "max_tokens": 700, "window": 12,
           "neuron_site": "layers.1.mlp", "neurons": 6, "sae": None,
           "backends": {s: "openai-compatible:m@http://127.0.0.1:9/v1" for s in ("explain", "rubric", "simulate")}}
    outs = {}
    for name, launcher in (("one", []), ("two", ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"])):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**cfg, "results_dir": str(tmp_path / name)}))
        proc = subprocess.run(
            [sys.executable, *launcher, *([] if launcher else ["-m"]), *(["-m"] if launcher else []), "autointerp",
             "run", "--config", str(path), "--dry-run", "--no-progress"],
            env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600,
        )
        errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
        assert proc.returncode == 0, errors[:5]
        assert proc.stdout.count("nothing will be sent") == 1  # rank 0 alone plans
        (outs[name],) = (tmp_path / name / "run" / "samples").iterdir()
    assert_same_sample_set(outs["one"], outs["two"])


def test_saved_differences_names_what_differs(one_process, tmp_path):
    """The comparison the merge tests (and benchmarks/sharding.py) rely on does see a difference."""
    import shutil

    from safetensors.torch import load_file, save_file

    copy = tmp_path / "copy"
    shutil.copytree(one_process, copy)
    assert saved_differences(one_process, copy) == []
    tensors = load_file(str(copy / "samples.safetensors"))
    stat = next(k for k in sorted(tensors) if k.startswith("stats.") and tensors[k].dtype.is_floating_point)
    other = next(k for k in sorted(tensors) if not k.startswith("stats."))
    tensors[stat] = tensors[stat] * (1 + 1e-6) + 1e-6  # beyond 1e-9
    tensors[other] = tensors[other].clone()
    tensors[other].view(-1)[0] += 1
    save_file(tensors, str(copy / "samples.safetensors"))
    assert saved_differences(one_process, copy) == sorted([stat, other])


def test_a_saved_state_holds_its_entries_not_its_reserved_storage(tmp_path):
    """A wide dictionary reserves per-token storage for every unit; a shard file holds only what was kept, and
    loads back into a state whose finalized sample set is byte for byte the original's."""
    import io

    import numpy as np
    import torch

    from autointerp.activations.source import ActivationBatch, TokenWindow
    from autointerp.errors import InputError
    from autointerp.sampling import SamplerConfig, SamplerState
    from autointerp.sampling.persist import state_bytes, state_from_bytes

    units, T = 4096, 16
    state = SamplerState(SamplerConfig(batch_size=4), units)
    gen = torch.Generator().manual_seed(0)
    for start in range(0, 8, 4):
        acts = torch.zeros(4, T, units)
        acts[:, :, :40] = torch.rand(4, T, 40, generator=gen)  # 40 of 4096 units ever fire
        ws = [TokenWindow(index=i, doc_id="d", token_ids=tuple(range(T))) for i in range(start, start + 4)]
        state.update(ActivationBatch(np.arange(start, start + 4), acts, torch.ones(4, T, dtype=torch.bool)), ws)
    blob = state_bytes(state)
    assert len(blob) < state.nbytes() / 10  # what remains: per-unit statistics and every unit's random windows
    loaded, _ = state_from_bytes(blob)

    assert saved_digest(loaded, tmp_path / "loaded", range(units)) == saved_digest(state, tmp_path / "original",
                                                                                 range(units))
    broken = torch.load(io.BytesIO(blob), weights_only=True)
    del broken["state"]["vars"]["topk"]["items"][0]["__reservoir__"]["prio"]  # a field lost
    buf = io.BytesIO()
    torch.save(broken, buf)
    with pytest.raises(InputError, match="malformed sampler state"):
        state_from_bytes(buf.getvalue())
