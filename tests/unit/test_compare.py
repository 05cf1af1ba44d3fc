"""Comparing runs: the servers x requirements matrix and the regressed/fixed diff of two runs."""

from __future__ import annotations

import copy
import json

from report_fixtures import demo_report

from conformance.reports import compare
from conformance.reports.report import summarize


def with_outcomes(report, changes, **server):
    r = copy.deepcopy(report)
    for e in r["requirements"]:
        if e["id"] in changes:
            e["outcome"] = changes[e["id"]]
    r["server"].update(server)
    r["summary"] = summarize(r["requirements"])
    return r


def save(tmp_path, name, report):
    path = tmp_path / name / "report.json"
    path.parent.mkdir()
    path.write_text(json.dumps(report))
    return str(path)


def test_diff_of_two_runs():
    old = demo_report()
    new = with_outcomes(old, {"DEMO-001": "failed", "DEMO-002": "passed", "DEMO-008": "skipped"})
    d = compare.diff(old, new)
    assert [r["id"] for r in d["regressed"]] == ["DEMO-001"]
    assert [r["id"] for r in d["fixed"]] == ["DEMO-002"]
    assert [(r["id"], r["was"], r["now"]) for r in d["changed"]] == [("DEMO-008", "passed", "skipped")]


def test_two_reports_of_one_server_get_a_diff(tmp_path, capsys):
    old = demo_report()
    new = with_outcomes(old, {"DEMO-001": "failed"})
    out = tmp_path / "out"
    code = compare.main([save(tmp_path, "a", old), save(tmp_path, "b", new), "--out", str(out),
                         "--fail-on-regression"])
    assert code == 1
    assert (out / "diff.md").exists() and "Regressed" in (out / "diff.md").read_text()
    assert "1 regressed" in capsys.readouterr().out


def test_matrix_of_several_servers(tmp_path):
    a = demo_report()
    b = with_outcomes(a, {"DEMO-002": "passed"}, url="http://127.0.0.1:8000/v1", model="other")
    c = with_outcomes(a, {"DEMO-001": "error"}, image="vllm/vllm-openai:v0.11", model="q")
    out = tmp_path / "out"
    assert compare.main([save(tmp_path, "a", a), save(tmp_path, "b", b), save(tmp_path, "c", c),
                         "--out", str(out)]) == 0
    md = (out / "matrix.md").read_text()
    assert "vllm/vllm-openai:v0.11 · q" in md and "http://127.0.0.1:8000/v1 · other" in md
    assert "| `DEMO-002` | MUST | ❌ | ✅ | ❌ |" in md
    assert "| MUST | 1/4 (1 unsupported) | 2/4 (1 unsupported) | 0/4 (1 unsupported) |" in md
    page = (out / "matrix.html").read_text()
    assert 'class="r differs"' in page and "<script src" not in page
    assert not (out / "diff.md").exists()  # three servers: no diff


def test_two_different_servers_get_no_diff_unless_asked(tmp_path):
    a = demo_report()
    b = with_outcomes(a, {}, url="http://127.0.0.1:1/v1")
    out = tmp_path / "out"
    assert compare.main([save(tmp_path, "a", a), save(tmp_path, "b", b), "--out", str(out)]) == 0
    assert not (out / "diff.md").exists()
    assert compare.main([save(tmp_path, "c", a), save(tmp_path, "d", b), "--out", str(out), "--diff",
                         "--labels", "old,new"]) == 0
    assert (out / "diff.md").read_text().startswith("# Conformance diff: old → new")


def test_bad_input_exits_2(tmp_path, capsys):
    assert compare.main([str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("conformance compare: error: report")
    a = save(tmp_path, "a", demo_report())
    assert compare.main([a, "--labels", "x,y", "--out", str(tmp_path / "o")]) == 2
