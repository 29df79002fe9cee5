"""Issue 19, defect 1: a budgeted run rerun with a higher cap must end (exit 4 at the cap, or finish), never hang.

The scenario of the report: the loopback Anthropic server, minilm-l6, 6 features + 4 neurons, every LLM scorer;
``--max-cost 0.02`` (exit 4), then the same command with ``--max-cost 0.04``. Each invocation runs in a subprocess
with a timeout, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autointerp.runs.spend import spend_by_stage
from tests.support.api_server import ApiServer
from tests.support.judge_answers import handler
from tests.support.minilm_run import minilm_config, tiny_topk_sae

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _run(config: Path, cost: float, server: ApiServer, timeout: float = 240) -> tuple[int, str]:
    """Exit code and stderr of ``autointerp run --config config --max-cost cost``; a hang fails the test."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANTHROPIC_BASE_URL": server.base_url,
           "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
    argv = [sys.executable, "-m", "autointerp", "run", "--config", str(config), "--no-progress", "--max-cost", str(cost)]
    err = config.with_name(f"stderr_{cost}.txt")
    with open(err, "w") as fh:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=fh)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"--max-cost {cost}: no exit after {timeout} s (hung) after {len(server.requests)} requests; "
                        f"stderr: {err.read_text()[-400:]!r}")
    return code, err.read_text()


def test_rerun_with_a_higher_cap_ends(tmp_path):
    sae = tiny_topk_sae(tmp_path / "sae")
    with ApiServer(handler=handler) as server:
        cfg = minilm_config(tmp_path, "budget", sae, "anthropic:claude-sonnet-4-5")
        spent = []
        for cap in (0.02, 0.04, 0.06):
            code, err = _run(cfg, cap, server)
            assert code in (0, 4, 5), (cap, code, err[-800:])
            total = sum(u.cost_usd for u in spend_by_stage(tmp_path / "results" / "budget").values())
            spent.append(total)
            if code == 4:
                assert "budget llm.max_cost" in err and "Traceback" not in err, err
                assert total <= cap, (cap, total)  # exit 4 *before* a request would pass the cap
            print(f"cap ${cap}: exit {code}, ledger ${total:.4f}, server {len(server.requests)} requests")
    assert spent[1] > spent[0]  # the higher cap continued the run
