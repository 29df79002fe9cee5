"""Run-level hardening through the real SDKs against the loopback API server (no SDK mocks).

Exit codes and one-line causes, the first 401/404 stopping the run, backend specs validated before any
sampling (and ``--check``), the run budget across invocations, the run-folder lock, totals after a resume,
storage failures, and passwords kept out of everything written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from autointerp.backends import PriceTable
from autointerp.cli import main
from autointerp.errors import RunLocked
from autointerp.runs.rundir import RunLock
from autointerp.runs.spend import spend_by_stage
from autointerp.runs.store import RunStore
from tests.conftest import TINY_WORDS
from tests.integration.test_run_pipeline import _stage_answer
from tests.support.api_server import ApiServer, RecordedRequest, anthropic_message, error, openai_chat

REPO = Path(__file__).resolve().parents[2]
N_NEURONS = 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "docs.jsonl"
    rows = [{"text": " ".join(TINY_WORDS[(i * 7 + j) % len(TINY_WORDS)] for j in range(80))} for i in range(8)]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


@pytest.fixture
def base(tmp_path, tiny_llama_dir, corpus):
    """Neurons only (4 MLP neurons of a tiny LLaMA): small, and independent of SAE readers."""
    return {
        "results_dir": str(tmp_path / "results"),
        "model": str(tiny_llama_dir),
        "corpus": str(corpus),
        "max_tokens": 400,
        "window": 16,
        "sae": None,
        "neuron_site": "layers.1.mlp",
        "neurons": N_NEURONS,
        "explain": {"n_top": 3, "n_quantile": 2, "n_logit_tokens": 0, "max_retries": 0},
        "rubric": {"per_level": 1, "n_random": 1, "contexts_per_prompt": 4, "max_retries": 0},
        "simulate": {"method": "json-list", "n_top": 1, "n_random": 1, "contexts_per_prompt": 2, "max_retries": 0},
        "llm": {"max_concurrency": 8, "max_retries": 1, "retry_wait": 0.01, "retry_max_wait": 0.05},
    }


def _write(tmp_path: Path, cfg: dict, name: str = "run.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _with_backend(cfg: dict, spec: str, cache: Path | None = None) -> dict:
    llm = dict(cfg["llm"])
    if cache is not None:
        llm["cache_dir"] = str(cache)
    return {**cfg, "backends": {"explain": spec, "rubric": spec, "simulate": spec}, "llm": llm}


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main([*argv, "--no-progress"])
    cap = capsys.readouterr()
    return code, cap.out, cap.err.strip()


def answering(request: RecordedRequest):
    """Stage answers in both wire formats (the OpenAI handler of test_run_pipeline, plus Anthropic)."""
    body = request.json
    if request.path.endswith("/messages"):
        msgs = [
            {
                "role": "system",
                "content": body.get("system", "")
                if isinstance(body.get("system"), str)
                else " ".join(b.get("text", "") for b in body.get("system") or []),
            }
        ]
        for m in body["messages"]:
            content = m["content"]
            text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
            msgs.append({"role": m["role"], "content": text})
        return anthropic_message(_stage_answer({"messages": msgs}), model=body.get("model", "fake"))
    return openai_chat(_stage_answer(body), model=body.get("model", "fake"))


# ------------------------------------------------------------------------------------------ stop at the first


@pytest.mark.parametrize(
    "status, kind, words",
    [(401, "authentication_error", "ANTHROPIC_API_KEY"), (404, "not_found_error", "model name")],
)
def test_auth_or_missing_model_stops_the_run_at_the_first_request(
    tmp_path, capsys, monkeypatch, base, status, kind, words
):
    key = "sk-ant-wrong-key-0123456789"
    with ApiServer(handler=lambda r: error(status, f"{kind}: nope")) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        cfg = _with_backend(base, "anthropic:claude-sonnet-4-5")
        code, out, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg)])
        sent = len(server.requests)
    assert code == 3, (out, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("autointerp: error: explain: stopped at the first") and str(status) in err and words in err
    assert sent == 1, f"{sent} requests after a {status}"  # not one per unit in flight (max_concurrency 8)
    run_dir = tmp_path / "results" / "run"
    assert key not in "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------ validate first


@pytest.mark.parametrize(
    "spec, env, words",
    [
        ("opnai:gpt-4.1-mini", {}, "unknown backend 'opnai'"),
        ("openai:", {"OPENAI_API_KEY": "k"}, "names no model"),
        ("openai:gpt-4.1-mini", {"OPENAI_API_KEY": ""}, "OPENAI_API_KEY"),
        ("openai-compatible:m@http://127.0.0.1:notaport/v1", {}, "malformed base URL"),
        ("openai-compatible:m@ftp://host/v1", {}, "malformed base URL"),
        ("openai:gpt-4.1-mini", {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://:99/v1"}, "OPENAI_BASE_URL"),
    ],
)
@pytest.mark.parametrize("dry", [False, True])
def test_backend_specs_are_validated_before_sampling(tmp_path, capsys, monkeypatch, base, spec, env, words, dry):
    if dry and env.get("OPENAI_API_KEY") == "":
        pytest.skip("a dry run sends nothing and needs no key: test_dry_run_needs_no_api_key")
    for k, v in env.items():
        monkeypatch.setenv(k, v) if v else monkeypatch.delenv(k, raising=False)
    argv = ["run", "--config", _write(tmp_path, _with_backend(base, spec))] + (["--dry-run"] if dry else [])
    code, _, err = _run(capsys, argv)
    assert code == 2 and len(err.splitlines()) == 1 and words in err and "'backends.explain'" in err, err
    assert not (tmp_path / "results" / "run" / "units.jsonl").exists()  # nothing was sampled


def test_dry_run_needs_no_api_key(tmp_path, capsys, monkeypatch, base):
    """A dry run plans the requests and sends none, so it runs without the key; the spec itself is still checked,
    and the key is demanded again once --check would send a request."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = _with_backend(base, "openai:gpt-4.1-mini")
    code, out, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg), "--dry-run"])
    assert code == 0 and "nothing will be sent" in out, err
    cfg["name"] = "checked"
    code, _, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg), "--dry-run", "--check"])
    assert code == 2 and "OPENAI_API_KEY" in err and len(err.splitlines()) == 1, err


def test_check_sends_one_request_per_backend_before_sampling(tmp_path, capsys, monkeypatch, base):
    with ApiServer(handler=answering) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "wrong")
        cfg = {**_with_backend(base, "openai:gpt-4.1-mini"), "name": "good"}
        code, out, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg), "--dry-run", "--check"])
        assert code == 0, err
        assert len(server.requests) == 1 and "check openai:gpt-4.1-mini: ok" in out
        server.reset()
        server.handler = lambda r: error(401, "invalid x-api-key") if r.path.endswith("/messages") else answering(r)
        cfg["backends"]["simulate"] = "anthropic:claude-haiku-4-5"
        cfg["name"] = "bad"
        code, out, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg), "--check"])
        assert code == 3 and len(err.splitlines()) == 1 and "401" in err and "ANTHROPIC_API_KEY" in err, err
        assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/messages"]
    assert not (tmp_path / "results" / "bad" / "units.jsonl").exists()


# ------------------------------------------------------------------------------------------ money


def test_budget_holds_across_invocations_and_raising_it_continues(tmp_path, capsys, monkeypatch, base):
    price = PriceTable.load().lookup("gpt-4.1-mini")
    paid: list[float] = []

    def costly(request: RecordedRequest):
        reply = answering(request)
        usage = reply.body["usage"]
        usage["prompt_tokens"] = 20_000  # every request costs real money under the price table
        paid.append((usage["prompt_tokens"] * price.input + usage["completion_tokens"] * price.output) / 1e6)
        return reply

    with ApiServer(handler=costly) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        one = 20_000 * price.input / 1e6
        budget = 2.5 * one
        cfg = _with_backend(base, "openai:gpt-4.1-mini", cache=tmp_path / "cache")
        path = _write(tmp_path, cfg)
        for _ in range(3):
            code, out, err = _run(capsys, ["run", "--config", path, "--max-cost", f"{budget:.8f}"])
            assert code == 4, (out, err)
            assert "budget llm.max_cost" in err and "rerun" in err
        with capsys.disabled():
            print(f"\nbudget ${budget:.4f}: three invocations paid ${sum(paid):.4f} for {len(paid)} requests")
        assert sum(paid) <= budget + max(paid) + 1e-12, (sum(paid), budget, paid)
        assert len(paid) <= 4
        run_dir = tmp_path / "results" / "run"
        ledger = sum(u.cost_usd for u in spend_by_stage(run_dir).values())
        assert ledger == pytest.approx(sum(paid))
        # raising the budget continues the same run to the end
        code, out, err = _run(capsys, ["run", "--config", path, "--max-cost", "100"])
        assert code in (0, 5), (out, err)
        assert "cost:" in out and "for the run" in out
        store = RunStore(run_dir)
        assert len(store.latest("explain")) == N_NEURONS


def test_failed_unit_is_counted_and_totals_after_resume(tmp_path, capsys, base):
    """A unit failing for good: exit 5 and one cause line with its count; the rerun reports all done in total."""
    state = {"fail": True, "failed": False}

    def flaky(request: RecordedRequest):
        system = " ".join(m["content"] for m in request.json["messages"] if m["role"] == "system")
        explain = "You judge how well" not in system and "You predict how strongly" not in system
        if state["fail"] and explain and not state["failed"]:
            state["failed"] = True
            return error(400, "context too long for this model")
        return answering(request)

    with ApiServer(handler=flaky) as server:
        spec = f"openai-compatible:fake-model@{server.openai_base_url}"
        path = _write(tmp_path, _with_backend(base, spec, cache=tmp_path / "cache"))
        code, out, err = _run(capsys, ["run", "--config", path])
        assert code == 5, (out, err)
        assert err.splitlines() == [
            "autointerp: error: explain: 1 unit failed: openai-compatible API error 400: context too long for this model",
            "autointerp: error: rubric, simulate: not run for 1 unit without an explanation (see explain above)",
        ], err
        assert f"explain {N_NEURONS - 1}/{N_NEURONS} ok (1 failed)" in out, out
        state["fail"] = False
        code, out, err = _run(capsys, ["run", "--config", path])
        assert code == 0, (out, err)
        assert f"explain {N_NEURONS}/{N_NEURONS} ok ({N_NEURONS - 1} from earlier invocations)" in out, out


def test_failed_units_keep_their_paid_usage(tmp_path, capsys, base):
    """Answers that were paid for but unreadable: the failed record carries their tokens."""
    with ApiServer(handler=lambda r: openai_chat("I cannot say.", prompt_tokens=123)) as server:
        spec = f"openai-compatible:fake-model@{server.openai_base_url}"
        cfg = _with_backend(base, spec)
        cfg["explain"] = {**cfg["explain"], "max_retries": 1}
        code, out, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg)])
    assert code == 5, (out, err)
    recs = RunStore(tmp_path / "results" / "run").latest("explain")
    assert recs and all(not r.ok and r.usage.requests == 2 and r.usage.input_tokens == 246 for r in recs.values())
    ledger = spend_by_stage(tmp_path / "results" / "run")
    assert ledger["explain"].requests == 2 * N_NEURONS and ledger["explain"].input_tokens == 246 * N_NEURONS


def test_duplicate_unit_ids_are_judged_once(tmp_path, capsys, base):
    with ApiServer(handler=answering) as server:
        spec = f"openai-compatible:fake-model@{server.openai_base_url}"
        cfg = _with_backend(base, spec)
        code, out, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg), "--neurons", "3,3,5"])
    assert code == 0, (out, err)
    meta = json.loads((tmp_path / "results" / "run" / "run.json").read_text())
    assert meta["units"] == ["neurons:layers.1.mlp#3", "neurons:layers.1.mlp#5"]
    assert "explain 2/2 ok" in out


# ------------------------------------------------------------------------------------------ the run folder


def test_second_invocation_on_a_folder_in_use_refuses(tmp_path, capsys, base):
    run_dir = tmp_path / "results" / "run"
    run_dir.mkdir(parents=True)
    with RunLock(run_dir):
        code, _, err = _run(capsys, ["run", "--config", _write(tmp_path, base)])
    assert code == 6 and len(err.splitlines()) == 1 and "in use by another autointerp process" in err, err
    assert f"pid {os.getpid()}" in err
    assert not (run_dir / "units.jsonl").exists()


def test_kill_9_leaves_no_stale_lock(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    code = (
        f"from autointerp.runs.rundir import RunLock; RunLock({str(run_dir)!r}).acquire(); print('locked', flush=True); "
        "import time; time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    try:
        assert proc.stdout.readline().strip() == b"locked"
        with pytest.raises(RunLocked, match="in use"):
            RunLock(run_dir).acquire()
        proc.kill()  # SIGKILL
        proc.wait(10)
        deadline = time.time() + 5
        while True:
            try:
                RunLock(run_dir).acquire().release()
                break
            except RunLocked:
                assert time.time() < deadline, "lock still held after kill -9"
                time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize(
    "setup, argv, words",
    [
        (lambda t: (t / "results").write_text("x"), [], "is a file, not a folder"),
        (lambda t: (t / "results").mkdir() or (t / "results" / "run").write_text("x"), [], "is a file, not a folder"),
        (lambda t: None, ["--name", "../.."], "plain folder name"),
        (lambda t: None, ["--name", "/etc"], "plain folder name"),
    ],
)
def test_bad_results_folder_is_one_line(tmp_path, capsys, base, setup, argv, words):
    setup(tmp_path)
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    code, _, err = _run(capsys, ["run", "--config", _write(tmp_path, base), *argv])
    assert code in (2, 7) and len(err.splitlines()) == 1 and words in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before  # nothing written outside


@contextmanager
def tmpfs(mnt: Path, options: str):
    """A tmpfs mounted at ``mnt`` with ``options`` (needs root / CAP_SYS_ADMIN; the test is skipped elsewhere)."""
    mnt.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)]
    if subprocess.run(mount, capture_output=True, check=False).returncode:
        pytest.skip(f"cannot mount a tmpfs ({options}) here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs."""
    with tmpfs(tmp_path / "disk", "size=4m") as mnt:
        yield mnt


def _fill(folder: Path) -> None:
    # unbuffered: a buffered file would try to flush its unwritten rest again at close, and raise there
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass


def test_disk_full_is_one_line(tmp_path, capsys, base, small_disk):
    """The disk fills up between runs: the next run's first write (records, ledger, SQLite cache) fails with
    one line and exit 7, and the finished records of the first run are intact."""
    with ApiServer(handler=answering) as server:
        cfg = _with_backend(
            {**base, "results_dir": str(small_disk / "results")},
            f"openai-compatible:fake-model@{server.openai_base_url}",
        )
        path = _write(tmp_path, cfg)
        code, out, err = _run(capsys, ["run", "--config", path])
        assert code == 0, (out, err)
        _fill(small_disk)
        code, out, err = _run(capsys, ["run", "--config", path, "--set", "explain.n_top=2"])
    assert code == 7 and len(err.splitlines()) == 1 and "disk full" in err and "Traceback" not in err, err
    assert len(RunStore(small_disk / "results" / "run").done("explain")) == N_NEURONS


def test_unwritable_results_folder_is_one_line(tmp_path, capsys, base):
    """A read-only file system under the results folder (EROFS; root ignores permission bits) is one line."""
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        code, _, err = _run(capsys, ["run", "--config", _write(tmp_path, {**base, "results_dir": str(ro / "results")})])
    assert code == 7 and len(err.splitlines()) == 1 and "read-only file system" in err, err


def test_sqlite_disk_full_is_a_storage_error(tmp_path):
    """SQLite's own 'database or disk is full' (a real one: max_page_count reached) becomes one line."""
    import sqlite3

    from autointerp.errors import StorageError
    from autointerp.runs.rundir import storage_errors

    db = sqlite3.connect(tmp_path / "c.sqlite")
    db.execute("PRAGMA max_page_count=2")
    with pytest.raises(StorageError, match=r"cannot write to the cache: disk full"), storage_errors("the cache"):
        db.execute("CREATE TABLE t (x BLOB)")
        for _ in range(50):
            db.execute("INSERT INTO t VALUES (?)", (b"x" * 4096,))
        db.commit()


# ------------------------------------------------------------------------------------------ secrets


def test_url_password_is_written_nowhere(tmp_path, capsys, base):
    secret = "hunter2-very-secret"
    with ApiServer(handler=answering) as server:
        url = server.openai_base_url.replace("http://", f"http://alice:{secret}@")
        cfg = _with_backend(base, f"openai-compatible:fake-model@{url}", cache=tmp_path / "cache")
        code, out, err = _run(capsys, ["run", "--config", _write(tmp_path, cfg, "cfg.yaml")])
    assert code == 0, (out, err)
    assert secret not in out + err
    run_dir = tmp_path / "results" / "run"
    assert (run_dir / "report" / "summary.json").exists()
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaks == []  # config.yaml, run.json, records, spend ledger, report, summary.json
    assert "alice:***@" in (tmp_path / "results" / "run" / "config.yaml").read_text()
