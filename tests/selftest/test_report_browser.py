"""The HTML report in a real headless browser (Chromium, no driver): it loads without a script
error, shows the scores, and its filters work (driven by the query string the page reads).

A screenshot is kept as a test artifact: under the pytest tmp dir and copied to
reports/report-browser/screenshot.png (uploaded by CI).  Chromium comes from Debian's package
(ci/test.sh installs it); without it the test skips and says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.reports import html as report_html
from conformance.reports.report import RunContext, build_report
from conformance.reports.results import TestResult as Record
from conformance.suite.requirements import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "google-chrome", "google-chrome-stable", "chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND"]
CYCLE = ("passed", "failed", "passed", "skipped", "passed", "unsupported", "error", "passed", "xpassed")


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium: install Debian's `chromium` package (ci/test.sh does, as root or with sudo)")


def sample_report() -> dict:
    """A run over the real registry with every outcome (the last requirements not run)."""
    reqs = list(REGISTRY)
    keep = reqs[: max(len(reqs) - 3, 1)]
    records = []
    for i, req in enumerate(keep):
        outcome = CYCLE[i % len(CYCLE)]
        message = {"failed": f"[{req.id}] {req.level}: {req.statement}\nat: $.output[0].type\nReceived: \"x\"\n"
                             f"Expected: a <known> type\nSpec: {req.spec}",
                   "error": "fixture 'api' raised ConnectError", "skipped": "model did not cooperate: no tool call",
                   "unsupported": "unsupported: the server does not claim feature 'store'"}.get(outcome, "")
        evidence = [{"request": {"method": "POST", "url": "http://127.0.0.1:8000/v1/responses",
                                 "headers": {"authorization": "[REDACTED]", "content-type": "application/json"},
                                 "body": '{"model": "m", "input": "hi", "max_output_tokens": 16}'},
                     "response": {"status": 200, "headers": {"content-type": "application/json"},
                                  "body": '{"id": "resp_1", "output": [{"type": "x"}]}', "events": None},
                     "error": None, "elapsed_ms": 8.2,
                     "curl": "curl -sS -X POST http://127.0.0.1:8000/v1/responses"}] if outcome == "failed" else []
        records.append(Record(f"tests/conformance/test_{req.area}.py::test_{i}", req.id, req.level.value,
                                  outcome, message, 0.05, evidence))
    context = RunContext(server={"url": "http://127.0.0.1:8000/v1", "kind": "docker", "model": "Qwen/Qwen3-0.6B",
                                 "image": "vllm/vllm-openai:v0.11.0", "version": {"version": "0.11.0"}},
                         started=1_795_600_000.0, finished=1_795_600_093.0, exit_status=1,
                         command=["pytest", "--server-image", "vllm/vllm-openai:v0.11.0", "--report-dir=reports"])
    return build_report(records, context)


def chrome(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    exe = browser()
    tmp = tmp_path_factory.mktemp("report-browser")
    report = sample_report()
    (tmp / "report.html").write_text(report_html.render(report), encoding="utf-8")
    return exe, tmp, report


def dom(page, query: str = "") -> str:
    exe, tmp, _ = page
    profile = tmp / f"profile-{abs(hash(query))}"
    proc = chrome(exe, profile, "--virtual-time-budget=3000", "--dump-dom", (tmp / "report.html").as_uri() + query)
    assert "<html" in proc.stdout, f"chromium printed no DOM (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    return proc.stdout


def visible_rows(html: str) -> list[tuple[str, str, str]]:
    rows = re.findall(r'<tbody class="req"(?: id="[^"]*")? data-outcome="([^"]+)" data-level="([^"]+)" '
                      r'data-id="([^"]+)"([^>]*)>', html)
    return [(o, lv, rid) for o, lv, rid, rest in rows if "hidden" not in rest]


def test_page_loads_without_script_errors_and_shows_the_scores(page):
    html = dom(page)
    _, _, report = page
    head = re.search(r"<html[^>]*>", html).group(0)
    assert 'data-ready="1"' in head, f"the page script did not finish: {head}"
    assert "data-js-errors" not in head, re.search(r'<div id="js-errors"[^>]*>[^<]*', html).group(0)
    for level in ("MUST", "SHOULD"):
        score = report["summary"]["levels"][level]["score"]
        assert f'data-score="{level}">{score}<' in html
    assert len(visible_rows(html)) == len(report["requirements"])


def test_a_script_error_would_be_seen(page, tmp_path):
    exe, _, report = page
    broken = tmp_path / "broken.html"
    broken.write_text(report_html.render(report).replace("(function () {", "(function () { notDefined();", 1))
    proc = chrome(exe, tmp_path / "profile", "--virtual-time-budget=3000", "--dump-dom", broken.as_uri())
    head = re.search(r"<html[^>]*>", proc.stdout).group(0)
    assert 'data-js-errors="1"' in head and 'data-ready="0"' in head
    assert "notDefined" in re.search(r'<div id="js-errors"[^>]*>[^<]*', proc.stdout).group(0)


def test_filter_by_outcome_and_level_from_the_query_string(page):
    _, _, report = page
    html = dom(page, "?outcome=failed,error&level=MUST")
    want = sorted(e["id"] for e in report["requirements"] if e["outcome"] in ("failed", "error")
                  and e["level"] == "MUST")
    assert want, "the sample has no MUST failure"
    assert sorted(rid for _, _, rid in visible_rows(html)) == want
    assert f'data-shown="{len(want)}"' in html


def test_text_filter(page):
    _, _, report = page
    target = report["requirements"][0]["id"]
    html = dom(page, f"?q={target.lower()}")
    assert target in [rid for _, _, rid in visible_rows(html)]
    assert len(visible_rows(html)) < len(report["requirements"])


def test_screenshot_is_kept(page):
    exe, tmp, _ = page
    shot = tmp / "screenshot.png"
    proc = chrome(exe, tmp / "profile-shot", "--window-size=1280,1800", f"--screenshot={shot}",
                  (tmp / "report.html").as_uri() + "?open=1")
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    keep = ROOT / "reports" / "report-browser"
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "screenshot.png")
    shutil.copy(tmp / "report.html", keep / "report.html")
