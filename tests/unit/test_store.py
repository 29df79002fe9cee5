"""RunStore: durable append, resume lookups, torn lines from a killed write, clear errors."""

from __future__ import annotations

import pytest

from autointerp.errors import InputError
from autointerp.runs.store import RunStore
from autointerp.types import Explanation, Provenance, UnitId

PROV = Provenance(backend="b", model="m", prompt_id="explain", prompt_version="1", prompt_hash="h")


def _exp(index: int, ok: bool, text: str | None = None) -> Explanation:
    return Explanation(unit=UnitId(basis="sae:x", index=index), ok=ok, text=text,
                       error=None if ok else "bad answer", provenance=PROV)


def test_latest_prefers_last_ok_and_done_is_per_params(tmp_path):
    store = RunStore(tmp_path)
    store.append("explain", _exp(1, False), "p1")
    store.append("explain", _exp(1, True, "cats"), "p1")
    store.append("explain", _exp(1, False), "p1")  # a later failure does not hide the success
    store.append("explain", _exp(2, False), "p1")
    store.append("explain", _exp(2, True, "dogs"), "p2")
    latest = store.latest("explain", "p1")
    assert latest["sae:x#1"].text == "cats" and latest["sae:x#2"].ok is False
    assert store.done("explain", "p1") == {"sae:x#1"}
    assert store.done("explain", "p2") == {"sae:x#2"}
    assert [r.unit.index for r in store.records("explain")] == [1, 1, 1, 2, 2]


def test_torn_line_from_a_killed_write_is_skipped_and_next_append_starts_fresh(tmp_path):
    store = RunStore(tmp_path)
    store.append("explain", _exp(1, True, "cats"), "p")
    with open(store.path("explain"), "a", encoding="utf-8") as fh:
        fh.write('{"unit": "sae:x#2", "params": "p", "ok": tr')  # process died mid-line
    store.append("explain", _exp(3, True, "birds"), "p")
    assert sorted(store.done("explain", "p")) == ["sae:x#1", "sae:x#3"]


def test_corrupt_line_is_a_one_line_error_naming_file_and_line(tmp_path):
    store = RunStore(tmp_path)
    store.append("explain", _exp(1, True, "cats"), "p")
    with open(store.path("explain"), "a", encoding="utf-8") as fh:
        fh.write('{"unit": "sae:x#2", "record": {"bogus": 1}}\n')
    with pytest.raises(InputError, match=r"explanations.jsonl: record 2 does not match Explanation"):
        store.records("explain")


def test_wrong_record_type_for_stage_is_refused(tmp_path):
    with pytest.raises(TypeError):
        RunStore(tmp_path).append("rubric", _exp(1, True, "x"))


def test_unknown_stage_lists_choices(tmp_path):
    with pytest.raises(Exception, match=r"unknown stage .explainer.; expected one of: .*explain, .*units"):
        RunStore(tmp_path).latest("explainer")


def test_torn_last_line_ending_in_brace_does_not_block_resume(tmp_path):
    """A kill can cut a line right after a '}' inside the record: still torn, skipped on read, cut on append."""
    store = RunStore(tmp_path)
    store.append("explain", _exp(1, True, "cats"), "p")
    full = store.path("explain").read_text(encoding="utf-8")
    torn = full.splitlines()[0][: full.index('"provenance"') + 40]
    torn = torn[: torn.rindex("}") + 1] if "}" in torn else torn + "}"
    with open(store.path("explain"), "a", encoding="utf-8") as fh:
        fh.write(torn.replace("sae:x#1", "sae:x#2"))  # unterminated, ends in '}'
    assert store.done("explain", "p") == {"sae:x#1"}  # reading skips it
    store.append("explain", _exp(3, True, "birds"), "p")  # appending cuts it off
    lines = store.path("explain").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "sae:x#2" not in "".join(lines)
    assert sorted(store.done("explain", "p")) == ["sae:x#1", "sae:x#3"]


def test_complete_corrupt_line_ending_in_brace_is_still_an_error(tmp_path):
    store = RunStore(tmp_path)
    store.append("explain", _exp(1, True, "cats"), "p")
    with open(store.path("explain"), "a", encoding="utf-8") as fh:
        fh.write('{"unit": "sae:x#2", oops}\n')
    store.append("explain", _exp(3, True, "birds"), "p")
    with pytest.raises(InputError, match=r"explanations.jsonl:2: not valid JSON"):
        store.records("explain")


def test_spend_ledger_survives_a_torn_line(tmp_path):
    from autointerp.runs.spend import Ledger, spend_by_stage
    from autointerp.types import Usage

    ledger = Ledger(tmp_path)
    ledger.add("explain", "u#1", "openai:m", "m", Usage(input_tokens=10, requests=1, cost_usd=0.5))
    with open(ledger.path, "a", encoding="utf-8") as fh:
        fh.write('{"stage": "explain", "cost_usd": 9, "x": {"a": 1}')  # killed mid-line, ends in '}'
    again = Ledger(tmp_path)
    assert again.spent == 0.5
    again.add("rubric", "u#1", "openai:m", "m", Usage(input_tokens=5, requests=1, cost_usd=0.25))
    totals = spend_by_stage(tmp_path)
    assert totals["explain"].cost_usd == 0.5 and totals["rubric"].cost_usd == 0.25 and Ledger(tmp_path).spent == 0.75
