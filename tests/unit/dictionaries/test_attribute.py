"""Context ablation on a planted unit that fires on 'xray' only when 'yak' came before it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from autointerp.activations.model_source import Basis
from autointerp.activations.models import load_subject
from autointerp.activations.sae_formats import load_sae
from autointerp.activations.sites import HookSite
from autointerp.cli import main
from autointerp.dictionaries.attribute import AttributeConfig, attribute_context
from tests.unit.dictionaries.planted_model import build_planted_llama, planted_sae


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    build_planted_llama(root / "model")
    planted_sae(root / "sae")
    return root


@pytest.fixture(scope="module")
def subject(planted):
    return load_subject(planted / "model")


def _ids(subject, text):
    return subject.tokenizer(text, add_special_tokens=False)["input_ids"], text.split()


@pytest.mark.parametrize("mode", ["replace", "remove"])
def test_planted_and_unit_attributes_to_the_preceding_token(planted, subject, mode):
    basis = Basis(HookSite(0, "resid_post"), load_sae(planted / "sae"))
    ids, toks = _ids(subject, "the dog yak sat on a red xray and the cat")
    res = attribute_context(subject, basis, 0, ids, toks, AttributeConfig(mode=mode))
    assert res.max_position == 7 and res.tokens[res.max_position] == "xray"
    assert res.activation > 1.0
    assert [t.position for t in res.tokens_attributed] == list(range(7))  # earlier tokens only
    top = res.top()
    assert top.token == "yak" and top.drop == pytest.approx(res.activation)  # without yak it cannot fire
    others = [t.drop for t in res.tokens_attributed if t.token != "yak"]
    if mode == "replace":
        assert max(abs(d) for d in others) < 1e-5  # any other token swapped for 'the' changes nothing
    else:
        assert max(others) < 0  # removing a filler raises the yak fraction, so the unit fires more


def test_replace_needs_a_one_token_neutral(planted, subject):
    from autointerp.errors import ConfigError

    basis = Basis(HookSite(0, "resid_post"), load_sae(planted / "sae"))
    ids, toks = _ids(subject, "yak xray")
    with pytest.raises(ConfigError, match="exactly one"):
        attribute_context(subject, basis, 0, ids, toks, AttributeConfig(neutral="the cat"))


def test_attribute_cli_on_a_sampled_run(planted, tmp_path, capsys):
    docs = ["the dog yak sat on a red xray and the cat ran", "a big xray was very good and we go up",
            "old man see yak it was xray in the house", "we go to the mat with a dog and xray"] * 6  # fmt: skip
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, d in enumerate(docs):
        (corpus / f"d{i:02d}.txt").write_text(d)
    cfg = {
        "name": "planted", "results_dir": str(tmp_path / "results"), "model": str(planted / "model"),
        "corpus": str(corpus), "window": 12, "max_tokens": 2000, "sae": str(planted / "sae"),
        "sae_site": "layers.0.resid_post", "features": [0], "neuron_site": None,
        "sampler": {"top_k": 3},
    }  # fmt: skip
    from autointerp.runs.config import RunConfig
    from autointerp.runs.pipeline import prepare, write_run_metadata

    config = RunConfig.model_validate(cfg)
    write_run_metadata(config, config.run_dir)
    prepare(config, progress=False)
    run = str(config.run_dir)
    assert main(["attribute", run, "--unit", "feature#0", "--contexts", "4"]) == 0
    (out,) = (config.run_dir / "report" / "attribution").iterdir()
    assert out.name == "sae_sae_0"  # basis 'sae:sae' (the checkpoint folder's name), unit 0
    frame = pd.read_csv(out / "attribution.csv")
    assert frame["context_id"].nunique() >= 2
    for _, ctx in frame.groupby("context_id"):
        assert ctx.loc[ctx["drop"].idxmax(), "token"].strip() == "yak"
    record = json.loads((out / "attribution.json").read_text())
    assert record["config"]["mode"] == "replace" and record["site"] == "layers.0.resid_post"
    assert (out / "heatmap.png").stat().st_size > 0 and (out / "heatmap.svg").is_file()
    assert "top ' yak'" in capsys.readouterr().out

    assert main(["report", run]) == 0  # the unit's card embeds the heat map and links the CSV
    html = (config.run_dir / "report" / "report.html").read_text()
    assert "context attribution" in html and "data:image/png;base64," in html
    assert 'href="attribution/sae_sae_0/attribution.csv"' in html
    capsys.readouterr()

    assert main(["attribute", run, "--unit", "neuron#0"]) == 2
    assert "no matching basis" in capsys.readouterr().err
    assert main(["attribute", run, "--unit", "feature0"]) == 2
    capsys.readouterr()
    assert main(["attribute", run, "--unit", "feature#5"]) == 2  # not sampled: say which units were
    err = capsys.readouterr().err
    assert "unit 5 of sae:sae was not sampled" in err and "sampled units: feature#0" in err and len(err.splitlines()) == 1

    import shutil  # a new attribution shows up in an existing report without a separate `report`

    shutil.rmtree(config.run_dir / "report" / "attribution")
    assert main(["report", run]) == 0
    assert "context attribution" not in (config.run_dir / "report" / "report.html").read_text()
    assert main(["attribute", run, "--unit", "feature#0", "--contexts", "2"]) == 0
    assert "rewritten with this attribution" in capsys.readouterr().out
    assert "context attribution" in (config.run_dir / "report" / "report.html").read_text()


def test_card_extras_show_token_change(tmp_path):
    from autointerp.dictionaries.card import unit_card_extras

    ev = {"sae:x#3": {"raised": [{"token": " zebra", "value": 0.9}], "lowered": [{"token": "<b>", "value": -0.1}],
                      "alpha": 4.0}}  # fmt: skip
    (tmp_path / "output_evidence.json").write_text(json.dumps(ev))
    html = unit_card_extras(tmp_path, "sae:x#3")
    assert "TokenChange (alpha 4)" in html and "&#x27; zebra&#x27;" in html and "&lt;b&gt;" in html
    assert unit_card_extras(tmp_path, "sae:x#4") == ""
