"""The release gate: new MUST failures and stale baseline entries reject; bad inputs exit 2 in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from report_fixtures import demo_report

from conformance.reports import gate


@pytest.fixture
def report_file(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(demo_report()))
    return path


def run(*args):
    return gate.main([str(a) for a in args])


def write(path, data):
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_no_baseline_rejects_a_must_failure(report_file, capsys):
    assert run(report_file) == 1
    out = capsys.readouterr().out
    assert out.startswith("conformance gate: REJECTED")
    assert "DEMO-002 MUST failed" in out and "DEMO-007 MUST error" in out  # failures and errors gate
    assert "DEMO-004 SHOULD failed" in out and "warnings" in out  # SHOULD only warns by default
    assert "MUST: 1/4" in out


def test_empty_baseline_rejects_and_written_baseline_accepts(report_file, tmp_path, capsys):
    empty = write(tmp_path / "empty.json", {"known_failures": {}})
    assert run("--baseline", empty, report_file) == 1
    baseline = tmp_path / "known-failures.json"
    assert run("--write-baseline", baseline, report_file) == 0
    data = json.loads(baseline.read_text())
    assert data["format"] == gate.BASELINE_FORMAT
    assert set(data["known_failures"]) == {"DEMO-002", "DEMO-004", "DEMO-007"}  # every level, failed or error
    entry = data["known_failures"]["DEMO-002"]
    assert entry["expected"] == "failed" and entry["level"] == "MUST" and entry["reason"] == gate.PLACEHOLDER
    assert data["known_failures"]["DEMO-007"]["expected"] == "error"
    capsys.readouterr()
    assert run("--baseline", baseline, report_file) == 0
    out = capsys.readouterr().out
    assert out.startswith("conformance gate: ACCEPTED") and "known failures" in out


def test_stale_entry_rejects_and_names_what_was_fixed(report_file, tmp_path, capsys):
    baseline = write(tmp_path / "b.json", {"known_failures": {
        "DEMO-002": {"expected": "failed", "reason": "bug 1"}, "DEMO-007": {"expected": "error", "reason": "x"},
        "DEMO-001": {"expected": "failed", "reason": "fixed upstream in 1.2"}}})
    assert run("--baseline", baseline, report_file) == 1
    out = capsys.readouterr().out
    assert "1 baseline entry stale" in out
    assert "fixed (stale baseline entries" in out and "DEMO-001 MUST" in out


def test_flaky_entry_is_never_stale(report_file, tmp_path):
    baseline = write(tmp_path / "b.json", {"known_failures": {
        "DEMO-002": {"expected": "failed"}, "DEMO-007": {"expected": "error"},
        "DEMO-001": {"expected": ["failed", "passed"], "reason": "flaky under load"}}})
    assert run("--baseline", baseline, report_file) == 0


def test_strict_should_gates_should_failures(report_file, tmp_path, capsys):
    baseline = write(tmp_path / "b.json", {"known_failures": {"DEMO-002": {}, "DEMO-007": {}}})
    assert run("--baseline", baseline, report_file) == 0
    assert run("--baseline", baseline, "--strict-should", report_file) == 1
    assert "1 new SHOULD failure" in capsys.readouterr().out
    # a SHOULD entry that passes again is stale only when SHOULD gates
    baseline = write(tmp_path / "b.json", {"known_failures": {"DEMO-002": {}, "DEMO-007": {}, "DEMO-004": {},
                                                              "DEMO-008": {"expected": "failed"}}})
    assert run("--baseline", baseline, report_file) == 0
    assert run("--baseline", baseline, "--strict-should", report_file) == 1


def test_entries_not_judged_are_kept_not_stale(report_file, tmp_path, capsys):
    baseline = write(tmp_path / "b.json", {"known_failures": {
        "DEMO-002": {}, "DEMO-007": {}, "DEMO-005": {"expected": "failed"}, "DEMO-003": {"expected": "failed"},
        "DEMO-009": {"expected": "failed"}, "GONE-001": {"expected": "failed"}}})
    assert run("--baseline", baseline, report_file) == 0
    out = capsys.readouterr().out
    for rid in ("DEMO-005: skipped", "DEMO-003: unsupported", "DEMO-009: not-run", "GONE-001: not in this report"):
        assert rid in out


def test_failing_differently_is_noted_not_gating(report_file, tmp_path, capsys):
    baseline = write(tmp_path / "b.json", {"known_failures": {"DEMO-002": {"expected": "error"}, "DEMO-007": {}}})
    assert run("--baseline", baseline, report_file) == 0
    assert "DEMO-002: expected error, now failed" in capsys.readouterr().out


def test_write_baseline_keeps_human_reasons(report_file, tmp_path):
    baseline = write(tmp_path / "b.json", {"known_failures": {
        "DEMO-002": {"expected": ["failed", "passed"], "reason": "vLLM #123"}, "DEMO-001": {"reason": "old"}}})
    assert run("--write-baseline", baseline, report_file) == 0
    known = json.loads(baseline.read_text())["known_failures"]
    assert known["DEMO-002"]["reason"] == "vLLM #123" and known["DEMO-002"]["expected"] == ["failed", "passed"]
    assert "DEMO-001" not in known  # it passes now


def test_a_run_that_judged_no_must_requirement_is_rejected(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(demo_report([])))
    assert run(path) == 1
    assert "judged no MUST requirement" in capsys.readouterr().out


def test_markdown_verdict(report_file, capsys):
    assert run("--markdown", report_file) == 1
    out = capsys.readouterr().out
    assert out.startswith("### ❌ Conformance gate: REJECTED") and "```" in out


@pytest.mark.parametrize("content, words", [
    (None, "does not exist"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"known_failures": []}', "must be an object keyed by requirement id"),
    ('{"known_failures": {"X-1": "failed"}}', "entry 'X-1' must be an object"),
    ('{"known_failures": {"X-1": {"expected": "broken"}}}', "`expected` must be one of"),
    ('{"known_failures": {"X-1": {"reason": 3}}}', "`reason` must be a string"),
])
def test_bad_baseline_is_one_line_and_exit_2(report_file, tmp_path, capsys, content, words):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    assert run("--baseline", path, report_file) == 2
    err = capsys.readouterr().err
    assert err.startswith("conformance gate: error: ") and words in err and err.count("\n") == 1


@pytest.mark.parametrize("content, words", [
    (None, "does not exist"),
    ("", "not a valid report.json"),
    ('{"requirements": 3}', "no `requirements` list"),
    ('{"requirements": [{"id": "A"}]}', "lacks `id` or `outcome`"),
    ('{"requirements": [{"id": "A", "outcome": "great"}]}', "unknown outcome"),
    ('{"requirements": [{"id": "A", "outcome": "failed", "level": "MUSTY"}]}', "level must be one of"),
    ("\udcff".encode("utf-8", "surrogateescape"), "not a valid report.json"),
])
def test_bad_report_is_one_line_and_exit_2(tmp_path, capsys, content, words):
    path = tmp_path / "report.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert run(path) == 2
    err = capsys.readouterr().err
    assert err.startswith("conformance gate: error: ") and words in err and err.count("\n") == 1


def test_a_minimal_report_is_judged(tmp_path, capsys):
    path = tmp_path / "report.json"
    path.write_text('{"requirements": [{"id": "A-1", "level": "MUST", "outcome": "failed"}], "server": 3}')
    assert run(path) == 1
    assert "A-1 MUST failed" in capsys.readouterr().out


def test_module_entry_point_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conformance", "gate", "--baseline", str(tmp_path / "nope.json"),
                           str(tmp_path / "nope-report.json")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("conformance gate: error: report")
