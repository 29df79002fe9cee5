"""In-memory SAE objects, models and corpora are read by the same audited readers as their files."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autointerp.activations.corpus import stream_corpus
from autointerp.activations.in_memory import (
    ModuleDictionary,
    dictionary_from_object,
    documents_from,
    stated_site,
    subject_from_model,
)
from autointerp.activations.models import load_subject
from autointerp.activations.sae_formats import load_sae
from autointerp.dictionaries.output import residual_direction
from autointerp.errors import ConfigError, InputError
from tests.support import peer_checkpoints as pc
from tests.support.sae_objects import BareEncoder, SAELensStyleSAE, SparsifyStyleSae, dictionary_learning_object


def _same_encoding(a, b):
    x = pc.inputs()
    assert (a.d_in, a.d_sae) == (b.d_in, b.d_sae)
    assert torch.equal(a.encode(x), b.encode(x))
    assert torch.equal(a.decode(a.encode(x), x), b.decode(b.encode(x), x))


@pytest.mark.parametrize("arch", ["standard", "topk", "jumprelu"])
def test_saelens_object_reads_as_its_checkpoint(tmp_path, arch):
    w = pc.weights()
    extra = {"k": 8} if arch == "topk" else {}
    obj = SAELensStyleSAE(pc.saelens_v6_cfg(arch, training=arch == "topk", **extra), w)
    if arch == "jumprelu":
        obj.threshold = nn.Parameter(w["threshold"].clone())
    sae, label = dictionary_from_object(obj)
    disk = load_sae(obj.save(tmp_path / "sae"))
    _same_encoding(sae, disk)
    assert sae.hook_name == disk.hook_name == "blocks.1.hook_resid_post"
    assert sae.summary == disk.summary and sae.format == "saelens object"
    assert label.startswith("memory:SAELensStyleSAE@")
    assert stated_site(sae) == "layers.1.resid_post" and stated_site(dictionary_from_object(BareEncoder(w))[0]) is None


def test_sparsify_object_reads_as_its_checkpoint(tmp_path):
    obj = SparsifyStyleSae(pc.sparsify_cfg(k=5), pc.weights())
    sae, _ = dictionary_from_object(obj)
    _same_encoding(sae, load_sae(obj.save(tmp_path / "not_a_hookpoint")))
    assert sae.k == 5 and sae.hook_name is None and "sparsify object does not state it" in sae.summary


@pytest.mark.parametrize(("trainer", "cls"), [("TopKTrainer", "AutoEncoderTopK"), ("StandardTrainer", "AutoEncoder")])
def test_dictionary_learning_object_reads_as_its_checkpoint(tmp_path, trainer, cls):
    sd = pc.dl_state_dict(cls, pc.weights())
    sae, _ = dictionary_from_object(dictionary_learning_object(cls, sd))
    folder = pc.write_dictionary_learning(tmp_path / "dl", pc.dl_trainer_config(trainer, cls), sd)
    _same_encoding(sae, load_sae(folder))


def test_unknown_config_key_is_refused_naming_the_object():
    obj = SAELensStyleSAE(pc.saelens_v6_cfg("standard", mystery_knob=3), pc.weights())
    with pytest.raises(ConfigError, match=r"SAELensStyleSAE\.cfg: config key 'mystery_knob' is unknown"):
        dictionary_from_object(obj)


def test_dataset_scaling_factor_it_cannot_know_is_refused():
    obj = SAELensStyleSAE(pc.saelens_v6_cfg("standard", normalize_activations="expected_average_only_in"),
                          pc.weights())  # fmt: skip
    with pytest.raises(ConfigError, match="not part of the SAE object"):
        dictionary_from_object(obj)


def test_object_tensors_are_copied_and_fingerprinted():
    obj = BareEncoder(pc.weights())
    _, label1 = dictionary_from_object(obj)
    _, again = dictionary_from_object(obj)
    with torch.no_grad():
        obj.b_enc += 1.0  # a training loop goes on
    _, label2 = dictionary_from_object(obj)
    assert label1 == again != label2
    sae_obj = SAELensStyleSAE(pc.saelens_v6_cfg("standard"), pc.weights())
    sae, _ = dictionary_from_object(sae_obj)
    before = sae.encode(pc.inputs())
    with torch.no_grad():
        sae_obj.W_enc.mul_(2)
    assert torch.equal(sae.encode(pc.inputs()), before)


def test_bare_module_encodes_as_itself_with_directions_from_W_dec():
    w = pc.weights()
    obj = BareEncoder(w)
    d, _ = dictionary_from_object(obj)
    assert isinstance(d, ModuleDictionary) and (d.d_in, d.d_sae) == (pc.D_IN, pc.D_SAE)
    x = pc.inputs()
    assert torch.equal(d.encode(x), obj.encode(x).detach())
    assert torch.equal(d.encode(x, [3, 1]), obj.encode(x).detach()[:, [3, 1]])
    assert torch.equal(d.write_direction(4), w["W_dec"][4])


class _EncodeOnly(nn.Module):
    def __init__(self, d_in=None):
        super().__init__()
        self.lin = nn.Linear(pc.D_IN, 7)
        if d_in is not None:
            self.d_in = d_in

    def encode(self, x):
        return torch.relu(self.lin(x))


def test_encode_only_module_widths_and_no_directions(tiny_llama):
    d = ModuleDictionary(_EncodeOnly(d_in=pc.D_IN))
    assert d.d_sae == 7 and not d.has_directions  # d_sae found by encoding one zero vector
    with pytest.raises(InputError, match="no W_dec and no decode"):
        d.decode(torch.zeros(7))
    from autointerp.activations.sites import HookSite

    assert residual_direction(tiny_llama, HookSite.parse("layers.1.resid_post"), d, 0) is None
    with pytest.raises(InputError, match="cannot tell the width it reads; give it a d_in attribute"):
        ModuleDictionary(_EncodeOnly())


def test_module_output_checked():
    class Bad(_EncodeOnly):
        def encode(self, x):
            return x.sum().item()

    with pytest.raises(InputError, match=r"encode\(x\) returned float, expected a tensor"):
        ModuleDictionary(Bad(d_in=pc.D_IN))


@pytest.mark.parametrize("obj", [42, nn.Linear(3, 4)])
def test_objects_that_are_not_saes_are_refused_in_one_line(obj):
    with pytest.raises(InputError, match=r"^sae: a (int|Linear) is not an SAE autointerp can read"):
        dictionary_from_object(obj)


def test_strings_corpus():
    docs, label = documents_from(["a b", "c d e"])
    assert [(d.doc_id, d.text) for d in docs()] == [("text:0", "a b"), ("text:1", "c d e")]
    assert list(docs()) == list(docs())  # a fresh pass per call
    assert label == documents_from(iter(["a b", "c d e"]))[1] != documents_from(["a b", "c d"])[1]
    with pytest.raises(InputError, match="corpus: item 1 is int, expected a string"):
        documents_from(["a", 3])
    with pytest.raises(InputError, match="expected a name, a path, an iterable of strings"):
        documents_from(12)


def test_dataset_corpus():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"body": ["x y", "z"], "id": [1, 2]})
    docs, label = documents_from(ds, "body")
    assert [d.text for d in docs()] == ["x y", "z"] and label.startswith("memory:dataset-2@")
    with pytest.raises(InputError, match=r"no column 'text' \(text_field\); columns: body, id"):
        documents_from(ds)


def test_loaded_model_needs_its_tokenizer(tiny_llama):
    with pytest.raises(InputError, match="needs its tokenizer"):
        subject_from_model(tiny_llama.model, None)
    subject, label = subject_from_model(tiny_llama.model, tiny_llama.tokenizer)
    assert (subject.arch, subject.n_layers, subject.d_model) == (tiny_llama.arch, 4, 32)
    assert label.startswith("memory:") and label == subject_from_model(tiny_llama.model, tiny_llama.tokenizer)[1]


def test_blank_texts_are_skipped_as_in_files():
    docs, _ = documents_from(["a b", "  ", "c"])
    assert [d.doc_id for d in docs()] == ["text:0", "text:2"]
    with pytest.raises(InputError, match="the 2 strings given are all blank"):
        documents_from(["", " "])


@pytest.mark.parametrize(("load", "what"), [(load_subject, "model"), (load_sae, "SAE"), (stream_corpus, "corpus")])
def test_a_memory_label_read_back_by_name_is_one_line(load, what):
    with pytest.raises(InputError, match=rf"^{what} 'memory:X@ab' was handed over in memory \(autointerp.evaluate\)"):
        load("memory:X@ab")
