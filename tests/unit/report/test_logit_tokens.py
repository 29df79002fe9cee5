"""The pipeline saves each unit's top logit tokens for the report's cards; the report reads them back."""

from __future__ import annotations

import json

import pytest

from autointerp.activations.model_source import Basis
from autointerp.activations.sae import IdentityDict
from autointerp.activations.sites import HookSite
from autointerp.errors import InputError
from autointerp.report.load import LOGIT_TOKENS_FILE, _read_logit_tokens
from autointerp.runs.bases import RunBasis, logit_tokens
from autointerp.runs.logits import write_logit_tokens


def test_written_tokens_are_the_bases_logit_tokens_and_read_back(tiny_llama, tmp_path):
    mlp = RunBasis("neurons:layers.1.mlp", "neuron", Basis(HookSite.parse("layers.1.mlp"), IdentityDict(48), (5, 7)))
    keys = ["neurons:layers.1.mlp#5", "neurons:layers.1.mlp#7", "sae:unknown#1"]  # a basis not in the run: skipped
    assert write_logit_tokens(tmp_path, tiny_llama, [mlp], keys, n=3) == 2
    data = json.loads((tmp_path / LOGIT_TOKENS_FILE).read_text())
    expected = logit_tokens(tiny_llama, mlp, 5, 3)
    assert data["neurons:layers.1.mlp#5"] == {"promoted": list(expected.promoted),
                                             "suppressed": list(expected.suppressed)}  # fmt: skip
    assert set(data) == set(keys[:2])
    assert _read_logit_tokens(tmp_path / LOGIT_TOKENS_FILE)["neurons:layers.1.mlp#7"]["promoted"] == \
        list(logit_tokens(tiny_llama, mlp, 7, 3).promoted)


def test_a_malformed_file_is_a_one_line_error(tmp_path):
    path = tmp_path / LOGIT_TOKENS_FILE
    path.write_text('{"sae:x#1": ["not", "an", "object"]}')
    with pytest.raises(InputError, match="expected an object with 'promoted' and 'suppressed'"):
        _read_logit_tokens(path)
    assert _read_logit_tokens(tmp_path / "absent.json") == {}
