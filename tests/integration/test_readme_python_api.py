"""The README's Python example runs as written.

Offline, the environment plays the outside world and the code is not touched: the Hub model id resolves from a
local Hugging Face cache (huggingface_hub's own layout, HF_HUB_OFFLINE=1) holding the packaged SmolLM2 files, and
the Anthropic backend talks to the loopback server (ANTHROPIC_BASE_URL), which answers every judge from the prompt.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import judge_answers
from tests.support.api_server import ApiServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


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


CHECKS = """
import json
stats = results.stats()
print(json.dumps({"summary_empty": bool(results.summary().empty), "groups": sorted(set(stats["group"])),
                  "all_n": bool(stats["n"].gt(0).all()), "run_dir": str(results.run_dir),
                  "any_ok": bool(results.scores["ok"].any())}))
"""


def test_readme_python_example_runs(tmp_path):
    """In a fresh interpreter, as a user runs it: huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE when it is
    first imported, so inside the test process (where other tests imported it already) they would be ignored."""
    from autointerp.activations.models import fetch_model

    code = python_example()
    assert len(code.strip().splitlines()) <= 16 and "autointerp.evaluate(" in code and ".summary()" in code
    _hub_cache(tmp_path / "hub", "HuggingFaceTB/SmolLM2-135M-Instruct", fetch_model("smollm2-135m"))
    script = tmp_path / "example.py"
    script.write_text(code + CHECKS, encoding="utf-8")
    with ApiServer(handler=judge_answers.handler) as server:
        env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
               "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": server.base_url,
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=1200, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert server.requests
    checks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert checks == {"summary_empty": False, "groups": ["feature", "neuron"], "all_n": True,
                      "run_dir": "results/run", "any_ok": True}  # fmt: skip
