"""The public surface: cheap import, argument checks with one-line typed errors, the event-loop helper."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from torch import nn

import autointerp
from autointerp.api import _eval_mode
from autointerp.errors import ConfigError
from autointerp.runs.aio import run_sync


def test_import_is_cheap_and_all_names_resolve():
    code = ("import sys, autointerp\n"
            "assert 'torch' not in sys.modules and 'autointerp.runs' not in sys.modules, 'heavy import'\n"
            "missing = [n for n in autointerp.__all__ if getattr(autointerp, n, None) is None]\n"
            "assert not missing, missing\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_unknown_field_gets_a_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match=r"^evaluate: unknown field 'featurs'; did you mean 'features'\?$"):
        autointerp.evaluate("minilm-l6", featurs=8, results_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"unknown field 'colour'; expected one of: backend, backends, cache, check,"):
        autointerp.evaluate("minilm-l6", colour=1)


def test_bad_values_are_the_configs_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^evaluate: field 'window'"):
        autointerp.evaluate("minilm-l6", window=2, results_dir=tmp_path)
    with pytest.raises(ConfigError, match="tokenizer= goes with a loaded model"):
        autointerp.evaluate("minilm-l6", tokenizer=object(), results_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was started


async def _answer(x):
    await asyncio.sleep(0)
    if x < 0:
        raise ConfigError("negative")
    return x * 2


def test_run_sync_outside_and_inside_a_running_loop():
    assert run_sync(_answer(2)) == 4

    async def notebook_cell():
        asyncio.get_running_loop()  # a loop runs here, as in Jupyter: asyncio.run would refuse
        with pytest.raises(ConfigError, match="negative"):
            run_sync(_answer(-1))
        return run_sync(_answer(3))

    assert asyncio.run(notebook_cell()) == 6


def test_eval_mode_restores_each_submodules_mode():
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 2))
    model.train()
    model[1].eval()
    with _eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and model[0].training and not model[1].training
