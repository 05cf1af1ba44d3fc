"""The report formats, built from one synthetic run with every outcome (see report_fixtures)."""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

from report_fixtures import SECRET, demo_report

from conformance.base.redact import REDACTED, redact_command, redactor_for, scrub_dir
from conformance.plugin import reporting as plugin_reporting
from conformance.reports import allure, junit
from conformance.reports import html as report_html
from conformance.reports import markdown as report_md
from conformance.reports import report as reporting
from conformance.reports.model import FORMAT


def by_id(report):
    return {e["id"]: e for e in report["requirements"]}


def test_requirement_outcomes_are_the_worst_of_their_tests():
    reqs = by_id(demo_report())
    assert {k: v["outcome"] for k, v in reqs.items()} == {
        "DEMO-001": "passed", "DEMO-002": "failed", "DEMO-003": "unsupported", "DEMO-004": "failed",
        "DEMO-005": "skipped", "DEMO-006": "passed", "DEMO-007": "error", "DEMO-008": "passed",
        "DEMO-009": "not-run"}
    assert reqs["DEMO-005"]["reason"].startswith("model did not cooperate")
    assert reqs["DEMO-006"]["reason"] == "passed although its feature was declared unsupported"
    assert reqs["DEMO-002"]["evidence"] and reqs["DEMO-002"]["curl"].startswith("curl")
    assert reqs["DEMO-001"]["evidence"] == [] and reqs["DEMO-001"]["message"] == ""


def test_scores_per_level_count_skips_against_and_keep_unsupported_apart():
    summary = demo_report()["summary"]
    must = summary["levels"]["MUST"]
    # judged: 001 passed, 002 failed, 005 skipped, 007 error; 003 unsupported and 009 not run are apart
    assert (must["passed"], must["judged"], must["score"]) == (1, 4, "1/4")
    assert (must["unsupported"], must["not-run"]) == (1, 1)
    assert summary["levels"]["SHOULD"]["score"] == "1/2"
    assert summary["levels"]["MAY"]["score"] == "1/1"
    assert summary["lines"][0] == "MUST: 1/4 (1 failed, 1 error, 1 skipped) · 1 unsupported, 1 not run"
    assert summary["lines"][1] == "SHOULD: 1/2 (1 failed)"
    assert summary["verdict"] == "fail"
    assert summary["areas"]["streaming"]["MUST"]["score"] == "0/1"


def test_report_json_has_the_run_metadata():
    report = demo_report()
    assert report["format"] == FORMAT
    assert report["spec"]["commit"] and report["spec"]["url"].endswith("/openapi.yaml")
    assert report["server"]["url"] == "http://127.0.0.1:9/v1" and report["model"] == "m"
    assert report["started"] == "2023-11-14T22:13:20Z" and report["duration_s"] == 42.5
    assert len(report["tests"]) == 10
    entry = by_id(report)["DEMO-002"]
    for key in ("id", "level", "area", "statement", "spec", "basis", "outcome", "message", "evidence", "spec_url"):
        assert key in entry


def test_secrets_are_removed_everywhere():
    text = json.dumps(demo_report())
    assert SECRET not in text
    report = demo_report()
    assert report["command"] == ["pytest", "--server-url", "http://127.0.0.1:9/v1", "--api-key", REDACTED,
                                 f"--api-key={REDACTED}", "--model", "m"]
    assert report["server"]["info"]["api_key"] == REDACTED


def test_evidence_bodies_are_trimmed():
    body = by_id(demo_report())["DEMO-002"]["evidence"][0]["request"]["body"]
    assert len(body) < reporting.REPORT_BODY + 200 and "more characters" in body


def test_all_files_are_written_and_free_of_secrets(tmp_path):
    paths = reporting.write_all(tmp_path, demo_report(), [SECRET])
    assert sorted(p.name for p in paths.values()) == ["junit.xml", "report.html", "report.json", "report.md"]
    (tmp_path / "extra.txt").write_text(f"leaked {SECRET}")  # e.g. an Allure attachment
    scrub_dir(tmp_path, redactor_for([SECRET]))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(), path


def test_junit_has_requirement_properties_and_outcomes():
    root = ET.fromstring(junit.render(demo_report()))
    assert root.get("tests") == "10" and root.get("failures") == "2" and root.get("errors") == "1"
    assert root.get("skipped") == "2"  # the skip and the unsupported one
    cases = {c.get("name"): c for c in root.iter("testcase")}
    failed = cases["test_types[b]"]
    props = {p.get("name"): p.get("value") for p in failed.find("properties")}
    assert props["requirement"] == "DEMO-002" and props["level"] == "MUST" and props["area"] == "seed"
    assert failed.find("failure") is not None and "at: $.output[0].type" in failed.find("failure").text
    assert cases["test_reasoning"].find("skipped").get("type") == "unsupported"
    assert cases["test_error_json"].find("error") is not None
    assert {s.get("name") for s in root.iter("testsuite")} >= {"responses-conformance.seed",
                                                                 "responses-conformance.errors"}


def test_junit_survives_control_characters():
    report = demo_report()
    report["tests"][2]["message"] = "bad \x00\x1b[31m byte"
    ET.fromstring(junit.render(report))


def test_markdown_has_scores_failures_and_skips():
    text = report_md.render(demo_report())
    assert "| MUST | **1/4** | 1 | 1 | 1 | 1 | 0 | 1 | 1 |" in text
    assert "<b>DEMO-002</b> MUST (failed)" in text and "DEMO-007" in text
    assert "model did not cooperate" in text  # the skip reason
    assert "Unsupported (declared): 1" in text and "Not run: 1" in text
    assert "❌" in text.splitlines()[0]


def test_markdown_stays_under_the_comment_limit():
    report = demo_report()
    bad = by_id(report)["DEMO-002"]
    report["requirements"] = [dict(bad, id=f"DEMO-{i:04}", message="x" * 5000) for i in range(200)]
    text = report_md.render(report)
    assert len(text) < 65536 and "more, see report.html" in text


def test_html_is_self_contained_and_escaped():
    page = report_html.render(demo_report())
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page), "external asset"
    assert "@import" not in page and "url(" not in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'data-score="MUST">1/4<' in page
    assert page.count('<tbody class="req"') == 9
    assert 'data-outcome="not-run"' in page and "<details" in page


def test_terminal_lines_list_what_did_not_pass(tmp_path):
    report = demo_report()
    report["_dir"] = str(tmp_path)
    lines = plugin_reporting.terminal_lines(report)
    assert lines[0].startswith("MUST: 1/4")
    assert any("skipped" in ln and "DEMO-005" in ln for ln in lines)
    assert lines[-1].startswith(f"reports: {tmp_path}/report.html")


def test_command_redaction_keeps_other_args():
    red = redactor_for(["abcd1234"])
    assert redact_command(["--token", "t0k", "--x=abcd1234", "--server-url", "u"], red) == [
        "--token", REDACTED, f"--x={REDACTED}", "--server-url", "u"]


def test_allure_marks_map_levels_to_severities():
    from conformance.suite.requirements import REGISTRY

    req = next(iter(REGISTRY))
    marks = allure.allure_marks(req, "abc")
    labels = {kw["label_type"]: args[0] for name, args, kw in marks if name == "allure_label" and
              kw["label_type"] != "tag"}
    assert labels == {"epic": req.area, "story": f"{req.id}: {req.statement}",
                      "severity": allure.ALLURE_SEVERITY[req.level.value]}
    links = [args[0] for name, args, kw in marks if name == "allure_link"]
    assert links == ["https://github.com/openai/openai-openapi/blob/abc/openapi.yaml"]
    assert allure.ALLURE_SEVERITY == {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}


def test_cli_renders_from_results_json_and_from_report_json(tmp_path, capsys):
    from conformance.reports.results import TestResult as Record

    results = tmp_path / "results.json"
    results.write_text(json.dumps([Record("t.py::test_x", "SEED-001", "MUST", "failed", "at: $.output").as_dict()]))
    assert reporting.main([str(results), "--out", str(tmp_path / "a"), "--server-url", "http://h:1/v1",
                           "--model", "m"]) == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["server"]["url"] == "http://h:1/v1"
    assert {e["id"]: e["outcome"] for e in report["requirements"]}["SEED-001"] == "failed"
    assert reporting.main([str(tmp_path / "a" / "report.json"), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "report.html").exists() and (tmp_path / "b" / "junit.xml").exists()
    assert reporting.main([str(tmp_path / "missing.json"), "--out", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err.startswith("conformance report: error: ")


def test_a_long_message_keeps_its_closing_note():
    """The note naming the request that broke the server comes last; a long message is cut before it."""
    from conformance.reports.results import MAX_MESSAGE, _shortened

    note = "\nNote: the server answered normally until ... the likely cause"
    text = _shortened("x" * (MAX_MESSAGE * 2) + note)
    assert len(text) <= MAX_MESSAGE and text.endswith(note) and "[... cut]" in text
    assert _shortened("short" + note) == "short" + note
