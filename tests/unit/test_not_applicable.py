"""The honest outcome for "nothing to judge": a `nothing_to_judge()` skip is `not-applicable`, never a pass."""

from __future__ import annotations

from types import SimpleNamespace

from conformance.judge.checks import NOT_APPLICABLE
from conformance.reports import html, junit, markdown
from conformance.reports.results import ResultCollector
from conformance.reports.results import TestResult as Result
from tests.unit.report_fixtures import demo_report, records


def _skip_report(reason: str) -> SimpleNamespace:
    return SimpleNamespace(nodeid="suite/test_x.py::test_x", when="call", passed=False, skipped=True, failed=False,
                           longrepr=("x.py", 1, f"Skipped: {reason}"), duration=0.01,
                           user_properties=[("requirement", "DEMO-001"), ("level", "MUST")])


def test_a_nothing_to_judge_skip_is_not_applicable_and_keeps_its_reason():
    c = ResultCollector()
    c.add_report(_skip_report(NOT_APPLICABLE + "the server sent no output_text"))
    (r,) = c.records()
    assert r.outcome == "not-applicable"
    assert r.message == "not applicable: the server sent no output_text"


def test_other_skips_stay_skipped():
    c = ResultCollector()
    c.add_report(_skip_report("model did not cooperate: no tool call in two tries"))
    assert c.records()[0].outcome == "skipped"


def _report_with_not_applicable() -> dict:
    recs = [r for r in records() if r.requirement != "DEMO-001"]
    recs.append(Result("t.py::test_id", "DEMO-001", "MUST", "not-applicable",
                           NOT_APPLICABLE + "the server sent no output_text", 0.1))
    return demo_report(recs)


def test_not_applicable_is_left_out_of_the_score_and_said_in_the_score_line():
    report = _report_with_not_applicable()
    must = report["summary"]["levels"]["MUST"]
    assert (must["passed"], must["judged"], must["not-applicable"]) == (0, 3, 1)
    assert report["summary"]["lines"][0] == ("MUST: 0/3 (1 failed, 1 error, 1 skipped) · 1 not applicable, "
                                             "1 unsupported, 1 not run")
    entry = next(e for e in report["requirements"] if e["id"] == "DEMO-001")
    assert entry["outcome"] == "not-applicable" and entry["reason"].endswith("no output_text")


def test_a_requirement_with_one_passed_and_one_not_applicable_case_is_not_applicable():
    recs = [*records(), Result("t.py::test_id[b]", "DEMO-001", "MUST", "not-applicable",
                               NOT_APPLICABLE + "no deltas", 0.1)]
    entry = next(e for e in demo_report(recs)["requirements"] if e["id"] == "DEMO-001")
    assert entry["outcome"] == "not-applicable"


def test_every_format_shows_not_applicable_with_its_reason():
    report = _report_with_not_applicable()
    md = markdown.render(report)
    assert "Not applicable (nothing to judge, not counted as passed): 1" in md
    assert "the server sent no output_text" in md
    page = html.render(report)
    assert 'data-outcome="not-applicable"' in page and "the server sent no output_text" in page
    xml = junit.render(report)
    assert 'type="not-applicable"' in xml
