"""Issue 19, defect 2: at ``-v`` and ``-vv`` no log line of any library (httpx, httpcore, openai, anthropic) shows a
URL password or an API key: every handler the CLI configures redacts, not only autointerp's own lines."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_WORDS
from tests.integration.test_run_hardening import answering
from tests.support.api_server import ApiServer

REPO = Path(__file__).resolve().parents[2]
SECRET = "hunter2-very-secret"
KEY = "sk-ant-verbose-key-0123456789abcdef"


@pytest.fixture
def config(tmp_path, tiny_llama_dir):
    corpus = tmp_path / "docs.jsonl"
    rows = [{"text": " ".join(TINY_WORDS[(i * 7 + j) % len(TINY_WORDS)] for j in range(60))} for i in range(4)]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    return {
        "results_dir": str(tmp_path / "results"), "model": str(tiny_llama_dir), "corpus": str(corpus),
        "max_tokens": 200, "window": 16, "sae": None, "neuron_site": "layers.1.mlp", "neurons": 2,
        "explain": {"n_top": 2, "n_quantile": 1, "n_logit_tokens": 0, "max_retries": 0},
        "rubric": {"per_level": 1, "n_random": 1, "contexts_per_prompt": 4, "max_retries": 0},
        "simulate": {"method": "json-list", "n_top": 1, "n_random": 1, "contexts_per_prompt": 2, "max_retries": 0},
        "llm": {"max_concurrency": 4, "max_retries": 0},
    }


@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
def test_no_password_or_key_in_verbose_logs(tmp_path, config, verbosity):
    with ApiServer(handler=answering) as server:
        url = server.openai_base_url.replace("http://", f"http://alice:{SECRET}@")
        openai = f"openai-compatible:fake-model@{url}"
        config["backends"] = {"explain": openai, "rubric": openai, "simulate": "anthropic:claude-haiku-4-5"}
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "PYTHONPATH": str(REPO), "ANTHROPIC_API_KEY": KEY,
               "ANTHROPIC_BASE_URL": server.base_url.replace("http://", f"http://bob:{SECRET}@")}
        done = subprocess.run([sys.executable, "-m", "autointerp", verbosity, "run", "--config", str(path),
                               "--no-progress"], check=False, env=env, capture_output=True, text=True, timeout=300)
    err = done.stderr
    assert done.returncode == 0, err[-2000:]
    assert "HTTP Request: POST" in err  # httpx's own lines are shown ...
    assert "alice:***@" in err  # ... with the password redacted
    if verbosity == "-vv":
        assert "DEBUG httpcore" in err and "DEBUG anthropic" in err and "DEBUG openai" in err  # debug lines too
    leaks = [line for line in err.splitlines() if SECRET in line or KEY in line]
    assert leaks == [], leaks[:3]


def test_the_filter_redacts_arguments_and_exceptions_of_any_logger(caplog):
    from autointerp.secrets import RedactingFilter, register_secret

    register_secret(KEY)
    handler = logging.StreamHandler(stream := __import__("io").StringIO())
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("httpx.test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("HTTP Request: %s %s", "POST", f"http://alice:{SECRET}@h/v1?key={SECRET}&x=1")
        logger.warning("headers %r", {"x-api-key": KEY})
        try:
            raise ValueError(f"cannot reach http://alice:{SECRET}@h")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text and KEY not in text, text
    assert "alice:***@h/v1?key=***&x=1" in text and "cannot reach http://alice:***@h" in text
