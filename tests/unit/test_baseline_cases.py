"""Baselines per test case: a known failing case hides no new failure in another case of the same
requirement; a listed case that passes is fixed (stale); requirement-level entries work as before;
`--write-baseline` writes cases; the pytest outcome of a known failure stays the server's failure."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest
from report_fixtures import demo_report

from conformance.reports import gate
from conformance.reports.results import ResultCollector

CASE_A, CASE_B = "test_types[a]", "test_types[b]"


def report_with(outcomes: dict[str, str]) -> dict:
    """The demo report with DEMO-002's two cases set to these outcomes (and the requirement's worst)."""
    report = copy.deepcopy(demo_report())
    entry = next(e for e in report["requirements"] if e["id"] == "DEMO-002")
    for t in entry["tests"]:
        t["outcome"] = outcomes[gate.case_name(t["nodeid"])]
    for t in report["tests"]:
        if t["requirement"] == "DEMO-002":
            t["outcome"] = outcomes[gate.case_name(t["nodeid"])]
            t["message"] = f"case {gate.case_name(t['nodeid'])} failed" if t["outcome"] == "failed" else ""
    entry["outcome"] = "failed" if "failed" in outcomes.values() else "passed"
    return report


def baseline(**cases) -> dict[str, gate.Entry]:
    others = {"DEMO-007": {"expected": "error", "reason": "x"}, "DEMO-004": {"expected": "failed", "reason": "y"}}
    return gate.parse_baseline({"known_failures": {"DEMO-002": {"expected": "failed", "reason": "bug 1", **cases},
                                                   **others}})


def test_case_name_drops_the_path():
    assert gate.case_name("conformance/suite/test_streaming.py::test_x[tool_call]") == "test_x[tool_call]"
    assert gate.case_name("../site-packages/conformance/suite/test_a.py::Cls::test_y") == "Cls::test_y"


def test_a_known_case_is_accepted():
    v = gate.evaluate(report_with({CASE_A: "passed", CASE_B: "failed"}), baseline(cases=[CASE_B]))
    assert v.accepted, v.reasons
    assert "DEMO-002" in [en.id for en, _ in v.known]


def test_a_new_failure_in_another_case_of_a_known_requirement_rejects():
    v = gate.evaluate(report_with({CASE_A: "failed", CASE_B: "failed"}), baseline(cases={CASE_B: "failed"}))
    assert not v.accepted
    assert [(e["id"], e["cases"]) for e in v.new] == [("DEMO-002", [CASE_A])]
    assert v.new[0]["message"] == f"case {CASE_A} failed"  # the new case's own message, not the known one's
    text = gate.render(v, report_with({CASE_A: "failed", CASE_B: "failed"}), "b.json", False)
    assert f"DEMO-002 MUST failed (case {CASE_A})" in text and "known failures" in text


def test_the_same_run_against_a_requirement_level_entry_is_accepted():
    v = gate.evaluate(report_with({CASE_A: "failed", CASE_B: "failed"}), baseline())
    assert v.accepted and not v.new  # an old baseline (no cases) covers every case, as before


def test_a_listed_case_that_passes_is_fixed():
    v = gate.evaluate(report_with({CASE_A: "failed", CASE_B: "passed"}), baseline(cases=[CASE_A, CASE_B]))
    assert not v.accepted and "stale" in v.reasons[0]
    assert [(en.id, list(en.cases)) for en, _ in v.stale] == [("DEMO-002", [CASE_B])]


def test_a_flaky_case_is_never_stale():
    v = gate.evaluate(report_with({CASE_A: "passed", CASE_B: "passed"}),
                      baseline(cases={CASE_B: ["failed", "passed"]}))
    assert v.accepted, v.reasons


def test_write_baseline_lists_the_failing_cases(tmp_path):
    report = report_with({CASE_A: "passed", CASE_B: "failed"})
    data = gate.baseline_from(report)
    assert data["known_failures"]["DEMO-002"]["cases"] == {CASE_B: "failed"}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    assert gate.evaluate(report, gate.load_baseline(path)).accepted
    # the written baseline is per case: the other case failing later is new
    assert not gate.evaluate(report_with({CASE_A: "failed", CASE_B: "failed"}), gate.load_baseline(path)).accepted


def test_old_baselines_still_load():
    entries = gate.load_baseline(gate.Path(__file__).resolve().parents[2] / "ci/peers/hfserve-baseline.json")
    assert entries and all(e.cases is None for e in entries.values())


@pytest.mark.parametrize("cases", [5, {"test_x": "maybe"}, [1, 2]])
def test_malformed_cases_are_one_input_error(cases):
    with pytest.raises(gate.InputError, match="DEMO-002"):
        gate.parse_baseline({"known_failures": {"DEMO-002": {"expected": "failed", "cases": cases}}})


def test_annotate_tells_known_from_new_and_fixed():
    section = gate.annotate(report_with({CASE_A: "failed", CASE_B: "failed"}), baseline(cases=[CASE_B]), "b.json")
    assert [(r["id"], r["case"]) for r in section["known"] if r["id"] == "DEMO-002"] == [("DEMO-002", CASE_B)]
    assert ("DEMO-002", CASE_A) in [(r["id"], r["case"]) for r in section["new"]]
    fixed = gate.annotate(report_with({CASE_A: "passed", CASE_B: "passed"}), baseline(cases=[CASE_B]))["fixed"]
    assert ("DEMO-002", CASE_B) in [(r["id"], r["case"]) for r in fixed]


def _report(when, outcome, props, wasxfail=None, longrepr="boom"):
    rep = SimpleNamespace(nodeid="t.py::test_x", when=when, outcome=outcome, passed=outcome == "passed",
                          skipped=outcome == "skipped", failed=outcome == "failed", duration=0.1,
                          user_properties=[("requirement", "R-1"), ("level", "MUST"), *props],
                          longrepr=longrepr, longreprtext=longrepr if isinstance(longrepr, str) else "")
    if wasxfail is not None:
        rep.wasxfail = wasxfail
    return rep


@pytest.mark.parametrize(("when", "outcome", "props", "wasxfail", "expected"), [
    # --baseline: pytest's xfailed/XPASS, but the server's outcome in the results
    ("call", "skipped", [("known_failure", "bug")], "known failure", "failed"),
    ("call", "passed", [("known_failure", "bug")], "known failure", "passed"),
    ("setup", "skipped", [("known_failure", "bug")], "known failure", "error"),
    # a known failure whose test skips (the model did not cooperate) is skipped, not failed
    ("call", "skipped", [("known_failure", "bug")], None, "skipped"),
    # a skip inside a feature declared unsupported is unsupported, not a skip against the score
    ("call", "skipped", [("unsupported", "store")], None, "unsupported"),
    ("setup", "skipped", [("unsupported", "store")], None, "unsupported"),
    ("setup", "skipped", [("unsupported", "store")], "[NOTRUN] unsupported", "unsupported"),
    ("call", "skipped", [], None, "skipped"),
])
def test_outcome_of_pytest_reports(when, outcome, props, wasxfail, expected):
    collector = ResultCollector()
    collector.add_report(_report(when, outcome, props, wasxfail,
                                 ("f", 1, "Skipped: x") if outcome == "skipped" and wasxfail is None else "boom"))
    assert [r.outcome for r in collector.records()] == [expected]
