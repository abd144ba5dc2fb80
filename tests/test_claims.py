"""``ct.claim``: prints the measurement beside the claim, asserts it, records it; and the
``convtrain claims`` table built from the records."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import convtrain as ct
from convtrain import claims
from convtrain.instructor import claims_table


@pytest.fixture
def record_file(tmp_path, monkeypatch):
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv(claims.CLAIMS_FILE_VARIABLE, str(path))
    monkeypatch.delenv(claims.REHEARSAL_VARIABLE, raising=False)
    monkeypatch.setenv("CONVTRAIN_PROFILE", "fast")
    return path


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_held_claim_prints_value_and_claim_and_returns_the_value(record_file, capsys):
    value = torch.tensor(0.41)
    assert ct.claim("ratio", value, expect="< 0.6", why="loss ratio after 60 steps") is value
    assert capsys.readouterr().out == "✓ loss ratio after 60 steps: 0.41 (claim: < 0.6)\n"
    [entry] = records(record_file)
    assert entry["held"] is True and entry["value"] == pytest.approx(0.41)
    assert entry["profile"] == "fast" and entry["kind"] == "measurement"


@pytest.mark.parametrize(("value", "expect", "holds"), [
    (0.5, "< 0.5", False), (0.5, "<= 0.5", True), (2, "> 1", True), (1, ">= 1.5", False),
    (0, "== 0", True), (0.3, "between 0.2 and 0.5", True), (0.6, "between 0.2 and 0.5", False),
    (np.float32(3.0), "> 2", True), (True, "true", True), (np.bool_(False), "true", False),
    (float("nan"), "< 1", False), (float("nan"), "> 1", False),
])
def test_expectations_are_read_as_written(record_file, value, expect, holds):
    if holds:
        ct.claim("c", value, expect=expect, why="w")
    else:
        with pytest.raises(claims.ClaimError, match=r"measured .* but the lesson claims"):
            ct.claim("c", value, expect=expect, why="w")
    assert records(record_file)[-1]["held"] is holds


def test_a_failed_claim_says_what_to_do_and_is_still_recorded(record_file):
    with pytest.raises(AssertionError) as raised:
        ct.claim("gap", 0.9, expect="< 0.5", why="the train-validation gap")
    text = str(raised.value)
    assert "0.9" in text and "< 0.5" in text and "Restart & Run All" in text and "'gap'" in text
    assert records(record_file)[0]["held"] is False


@pytest.mark.parametrize("expect", ["about 3", "< x", "between 1 and", ""])
def test_unreadable_expectations_are_errors(record_file, expect):
    with pytest.raises(ValueError, match="expect"):
        ct.claim("c", 1.0, expect=expect, why="w")


def test_values_that_are_not_numbers_are_refused(record_file):
    with pytest.raises(ValueError, match="number or a bool"):
        ct.claim("c", "0.4", expect="< 1", why="w")
    with pytest.raises(ValueError, match="number or a bool"):
        ct.claim("c", torch.ones(2), expect="< 1", why="w")


def test_checks_are_labelled_apart_from_measurements(record_file, capsys):
    ct.claim("same", 0.0, expect="< 1e-6", why="two formulations agree", kind="check")
    assert capsys.readouterr().out.startswith("✓ check: two formulations agree")
    with pytest.raises(ValueError, match="kind"):
        ct.claim("x", 1.0, expect="> 0", why="w", kind="proof")


def test_in_a_rehearsal_a_claim_needing_real_weights_is_not_checkable(record_file, monkeypatch,
                                                                      capsys):
    monkeypatch.setenv(claims.REHEARSAL_VARIABLE, "1")
    ct.claim("acc", 0.2, expect="> 0.9", why="pretrained accuracy", needs="pretrained weights")
    assert "not checkable in a rehearsal" in capsys.readouterr().out
    assert records(record_file)[0]["held"] is None
    with pytest.raises(claims.ClaimError):  # a claim that needs nothing is still asserted
        ct.claim("shape", 3.0, expect="== 4", why="an output width")


def test_the_lesson_is_the_notebook_folder(record_file, tmp_path, monkeypatch):
    folder = tmp_path / "03_batch_normalization"
    folder.mkdir()
    monkeypatch.chdir(folder)
    ct.claim("c", 1.0, expect="> 0", why="w")
    assert records(record_file)[0]["lesson"] == "03_batch_normalization"


def test_table_keeps_the_last_run_and_check_counts_claims_per_lesson(record_file, tmp_path):
    for lesson in ("00_a", "01_b"):
        for index in range(3):
            ct.claim(f"c{index}", 1.0, expect="> 0", why=f"why {index}", lesson=lesson)
    ct.claim("c0", 2.0, expect="> 0", why="why 0, again", lesson="00_a")  # a second run
    entries = claims_table.read([record_file])
    assert len(entries) == 6
    assert claims_table.problems(entries, ["00_a", "01_b"], 3) == []
    assert claims_table.problems(entries, ["00_a", "01_b", "02_c"], 3) == [
        "02_c: 0 claim(s), at least 3 wanted"]
    table = claims_table.markdown(entries)
    assert "why 0, again" in table and table.count("| held |") == 6


def test_check_fails_on_a_failed_claim(record_file):
    with pytest.raises(claims.ClaimError):
        ct.claim("bad", 1.0, expect="< 0", why="w", lesson="00_a")
    found = claims_table.problems(claims_table.read([record_file]), ["00_a"], 0)
    assert found == ["00_a: claim 'bad' did not hold (1.0 vs < 0)"]
