"""End to end: a run against a server with a failing MUST requirement, through ci/run-suite.sh.

The reference server is started with an API key and one planted defect (reasoning-not-surfaced:
SEED-001 fails); the whole suite runs against it with --api-key and -n 2 and writes every report
format.  Then: the gate rejects the run against an empty baseline and accepts it against the
baseline written from it, and the API key appears in no file of the report directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.refserver import start_in_thread

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-rc-Secret-7f3a9c2e51"
DEFECT = "reasoning-not-surfaced"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report-run")
    server = start_in_thread(defect=DEFECT, api_key=SECRET)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("GITHUB_STEP_SUMMARY", None)
        env.pop("OPENAI_API_KEY", None)
        env["PYTHON"] = sys.executable
        proc = subprocess.run(
            ["bash", str(ROOT / "ci/run-suite.sh"), "--report-dir", str(out / "reports"), "--",
             "--server-url", server.url, "--model", "ref-reasoner", "--api-key", SECRET,
             "--request-timeout", "10", "-p", "no:randomly", "-n", "2", "-q"],
            capture_output=True, text=True, timeout=1200, env=env, cwd=str(out))
    finally:
        server.shutdown()
        server.server_close()
    return out / "reports", proc


def test_run_suite_writes_every_format_and_the_gate_rejects(run):
    reports, proc = run
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]  # rejected by the gate, no baseline given
    assert "conformance gate: REJECTED" in proc.stdout and "SEED-001 MUST failed" in proc.stdout
    assert "responses-conformance score" in proc.stdout and "MUST: " in proc.stdout  # terminal summary
    for name in ("report.json", "report.md", "report.html", "junit.xml"):
        assert (reports / name).stat().st_size > 0, name
    assert list((reports / "allure-results").glob("*-result.json"))
    report = json.loads((reports / "report.json").read_text())
    seed = {e["id"]: e for e in report["requirements"]}["SEED-001"]
    assert seed["outcome"] == "failed" and seed["level"] == "MUST" and seed["area"] == "seed"
    assert seed["evidence"] and seed["curl"].startswith("curl") and "at: $.output" in seed["message"]
    assert report["server"]["url"].startswith("http://127.0.0.1:") and report["model"] == "ref-reasoner"
    assert report["spec"]["commit"] and report["summary"]["levels"]["MUST"]["passed"] > 10
    assert "SEED-001" in (reports / "junit.xml").read_text()
    assert "<b>SEED-001</b> MUST (failed)" in (reports / "report.md").read_text()


def test_allure_results_carry_area_requirement_level_and_spec(run):
    reports, _ = run
    for path in (reports / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        if result["name"] == "test_reasoning_item_precedes_message":
            break
    else:
        pytest.fail("no Allure result for test_reasoning_item_precedes_message")
    labels = {(lab["name"], lab["value"]) for lab in result["labels"]}
    assert ("epic", "seed") in labels and ("severity", "critical") in labels
    assert any(name == "story" and value.startswith("SEED-001: ") for name, value in labels)
    assert result["status"] == "failed"
    assert any("openai-openapi/blob/" in link["url"] for link in result["links"])
    assert (reports / "allure-results" / "environment.properties").read_text().count("=") >= 3


def test_gate_rejects_against_an_empty_baseline_and_accepts_the_written_one(run, tmp_path):
    reports, _ = run
    empty = tmp_path / "empty.json"
    empty.write_text('{"known_failures": {}}')
    gate = [sys.executable, "-m", "conformance", "gate"]
    rejected = subprocess.run([*gate, "--baseline", str(empty), str(reports / "report.json")],
                              capture_output=True, text=True, timeout=60)
    assert rejected.returncode == 1 and "SEED-001" in rejected.stdout
    baseline = tmp_path / "known-failures.json"
    written = subprocess.run([*gate, "--write-baseline", str(baseline), str(reports / "report.json")],
                             capture_output=True, text=True, timeout=60)
    assert written.returncode == 0, written.stderr
    assert "SEED-001" in json.loads(baseline.read_text())["known_failures"]
    accepted = subprocess.run([*gate, "--baseline", str(baseline), str(reports / "report.json")],
                              capture_output=True, text=True, timeout=60)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.startswith("conformance gate: ACCEPTED")


def test_the_api_key_is_in_no_report_file(run):
    reports, _ = run
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert len(files) > 10
    leaked = [str(p.relative_to(reports)) for p in files if SECRET.encode() in p.read_bytes()]
    assert not leaked, f"the API key is written in {leaked}"
    report = json.loads((reports / "report.json").read_text())
    assert "--api-key" in report["command"] and SECRET not in report["command"]
    # the key was really used: authenticated requests were recorded, with the header redacted
    headers = [ex["request"]["headers"] for e in report["requirements"] for ex in e["evidence"]]
    assert any(h.get("authorization") == "[REDACTED]" for h in headers)


def test_report_dir_outside_the_project_keeps_the_tests_collected(tmp_path):
    """pytest reads `--report-dir DIR` before the plugin loads: DIR must not become a test path (xdist workers
    start after DIR exists), and a DIR that already exists stops the run with a one-line hint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env.pop("PYTEST_ADDOPTS", None)
    out = tmp_path / "reports"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:randomly", "--requirements", "SEED-003", "-n", "2",
           "--report-dir", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=str(ROOT))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    nodeids = [t["nodeid"] for t in report["tests"]]
    assert nodeids and all(n.startswith("conformance/suite/") for n in nodeids), nodeids  # not tests/unit etc.
    assert {t["requirement"] for t in report["tests"]} == {"SEED-003"}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=str(ROOT))
    assert again.returncode == 4, again.stdout[-3000:]
    assert f"write --report-dir={out} (with '=')" in again.stderr
