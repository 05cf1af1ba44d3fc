"""Hostile and unusual servers against the whole suite (issue 14): a correct server behind gzip scores
exactly what it scores without it; servers that trickle, bomb, nest deep or send control characters
end the run within a stated bound, with no traceback, no INTERNALERROR, no error outcome and no
control sequence of theirs on the terminal.

Bounds (with --request-timeout T and the liveness threshold 3): a server that trickles every answer
costs at most 3 deadlines and one probe deadline before the rest fail at once, so the run ends
within ~5 T plus the tests before it; the others cost no timeout at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from robustness_kit import ROOT, SUITE, pytest_run

from tools.selftest import clean_problems, run_suite

TIMEOUT = 10.0  # --request-timeout of these runs, as in the issue


def test_a_correct_server_behind_gzip_scores_exactly_what_it_scores_without():
    # the live client libraries and the Codex CLI bring their own HTTP stacks (not the suite's transport):
    # left out here; the suite's own requests are the subject
    live = ["--unsupported", "clients.live"]
    plain, gzipped = run_suite(None, live), run_suite(None, live, compress=True)
    assert plain.results and gzipped.results, gzipped.output
    assert gzipped.outcomes == plain.outcomes, {k: (plain.outcomes.get(k), v) for k, v in gzipped.outcomes.items()
                                                if plain.outcomes.get(k) != v}
    # nothing fails or errors (what is declared unsupported, or not applicable on the clean server, is not a fault)
    assert {k: v for k, v in clean_problems(gzipped).items() if v != "unsupported"} == {}, gzipped.output


def test_a_defect_behind_gzip_is_caught_the_same():
    # compression changes no verdict: a planted defect's requirements fail the same with it
    targets = ["ROBUST-HTTP-001", "RESP-OBJECT-001"]
    plain = run_suite("python-repr-body", requirements=targets)
    gzipped = run_suite("python-repr-body", requirements=targets, compress=True)
    assert gzipped.outcomes == plain.outcomes, (plain.output[-2000:], gzipped.output[-2000:])
    assert gzipped.outcomes.get("ROBUST-HTTP-001") == "failed", gzipped.output[-3000:]


@pytest.mark.parametrize("defect,bound", [
    ("trickles-headers-mid-run", 6 * TIMEOUT + 60),
    ("trickles-bodies-mid-run", 6 * TIMEOUT + 60),
    ("gzip-huge-reply", 120),
    ("deep-nested-reply", 120),
    ("control-chars-in-ids", 120),
])
def test_a_hostile_server_ends_the_run_in_bounded_time_and_cleanly(defect, bound, tmp_path):
    out = tmp_path / "results.json"
    run = pytest_run(str(SUITE), "-q", "--refserver-defect", defect, "--request-timeout", str(TIMEOUT),
                     "--results-json", str(out), f"--report-dir={tmp_path / 'reports'}", timeout=900)
    results = json.loads(out.read_text())
    assert results, run.output[-3000:]
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, run.output[-5000:]
    errors = [r["nodeid"] for r in results if r["outcome"] == "error"]
    assert not errors, f"the suite itself errored: {errors}"
    assert "\x1b" not in run.output and "\x07" not in run.output, "a control sequence reached the terminal"
    for name in ("report.md", "junit.xml", "report.json"):
        text = (tmp_path / "reports" / name).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\x07" not in text, f"a control character reached {name}"
    json.loads((tmp_path / "reports" / "report.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert run.seconds < bound, f"{defect}: the run took {run.seconds:.0f} s (bound {bound:.0f} s)"
    print(f"{defect}: {len(results)} tests in {run.seconds:.0f} s")


def test_a_request_that_breaks_the_server_runs_last_and_is_named(tmp_path):
    """A valid fuzz request kills the engine: everything judged before it keeps its verdict (risky
    requirements run last), and the failures after it name that request as the likely cause."""
    out = tmp_path / "results.json"
    run = pytest_run(str(SUITE), "-q", "--refserver-defect", "edge-temperature-kills-engine", "--request-timeout",
                     str(TIMEOUT), "--results-json", str(out), timeout=900)
    results = json.loads(out.read_text())
    failed = {r["requirement"] for r in results if r["outcome"] == "failed"}
    assert "ROBUST-FUZZ-001" in failed, run.output[-3000:]
    assert all(rid.startswith(("ROBUST-FUZZ-", "ROBUST-LOAD-")) for rid in failed), sorted(failed)
    named = [r for r in results if r["outcome"] == "failed" and "likely cause" in r["message"]]
    assert named and all('"temperature": 2' in r["message"] for r in named), [r["message"][-800:] for r in named]
    assert "Traceback" not in run.output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupted_run_leaves_a_report_marked_incomplete(sig, tmp_path):
    """A CI timeout (SIGTERM) or Ctrl-C (SIGINT) mid-run: the reports of the tests that ran are written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_API_KEY"))}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts=",
           "--rootdir", str(ROOT), str(SUITE), "-q", "--refserver-defect", "trickles-bodies-mid-run",
           "--request-timeout", str(TIMEOUT), f"--report-dir={tmp_path}"]
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(8)  # the first tests pass, then the server trickles
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=120)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data.get("incomplete") is True, output[-3000:]
    assert sig.name in data["notes"][0]
    assert any(e["outcome"] == "passed" for e in data["requirements"])  # what ran is kept
    assert "INCOMPLETE" in output and "Traceback" not in output.split("KeyboardInterrupt")[0], output[-3000:]
