"""The README's Python example runs as written.

Offline, the environment plays the outside world and the code is not touched: the Hub model id resolves from a
local Hugging Face cache (huggingface_hub's own layout, HF_HUB_OFFLINE=1) holding the packaged SmolLM2 files, and
the Anthropic backend talks to the loopback server (ANTHROPIC_BASE_URL), which answers every judge from the prompt.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import judge_answers
from tests.support.api_server import ApiServer

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def python_example() -> str:
    section = README.read_text(encoding="utf-8").split("### From Python: notebooks and training loops", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def _hub_cache(cache: Path, repo_id: str, folder: Path) -> None:
    """``repo_id`` as one cached commit whose files are the packaged model's (symlinked, nothing copied)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0" * 39 + "1"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for f in folder.iterdir():
        if f.is_file():
            (snap / f.name).symlink_to(f.resolve())


def test_readme_python_example_runs(tmp_path, monkeypatch):
    from autointerp.activations.models import fetch_model

    code = python_example()
    assert len(code.strip().splitlines()) <= 16 and "autointerp.evaluate(" in code and ".summary()" in code
    _hub_cache(tmp_path / "hub", "HuggingFaceTB/SmolLM2-135M-Instruct", fetch_model("smollm2-135m"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.chdir(tmp_path)
    with ApiServer(handler=judge_answers.handler) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        scope: dict = {}
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - running the README's own example is the test
        assert server.requests
    results = scope["results"]
    stats = results.stats()
    assert not results.summary().empty and set(stats["group"]) == {"feature", "neuron"} and stats["n"].gt(0).all()
    assert results.run_dir == Path("results/run") and results.scores["ok"].any()
