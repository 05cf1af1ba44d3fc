"""A server that dies, hangs or stalls its streams mid-run: the whole suite still finishes in bounded
time, the rest of the tests fail fast with one stated cause, and nothing in the suite errors."""

from __future__ import annotations

import json
import time

import pytest
from robustness_kit import SUITE, pytest_run, refserver_process


def _results(path) -> list[dict]:
    return json.loads(path.read_text())


def _outcomes(results: list[dict]) -> dict[str, str]:
    worst: dict[str, str] = {}
    order = ("passed", "xpassed", "not-applicable", "skipped", "unsupported", "failed", "error")
    for r in results:
        if r["requirement"] and order.index(r["outcome"]) >= order.index(worst.get(r["requirement"], "passed")):
            worst[r["requirement"]] = r["outcome"]
    return worst


def test_a_server_process_that_exits_mid_run(tmp_path):
    out = tmp_path / "results.json"
    with refserver_process("--defect", "dies-mid-run") as (proc, url):
        run = pytest_run(str(SUITE), "-q", "--server-url", url, "--model", "ref-reasoner",
                         "--request-timeout", "5", "--results-json", str(out), timeout=600)
        time.sleep(0.5)
        assert proc.poll() is not None, "the planted defect should have made the server process exit"
    assert run.returncode == 1, run.output[-3000:]
    results = _results(out)
    assert _outcomes(results).get("ROBUST-ALIVE-001") == "failed"
    failed = [r for r in results if r["outcome"] == "failed"]
    fast = [r for r in failed if "server stopped responding at" in r["message"]]
    assert len(fast) >= len(failed) // 2, f"{len(fast)} of {len(failed)} failures state the cause"
    assert max(r["duration"] for r in fast) < 5, "a test after the death waited instead of failing fast"
    assert "Traceback" not in run.output
    assert run.seconds < 300, f"the run took {run.seconds:.0f} s"


def test_a_server_that_stops_answering_mid_run(tmp_path):
    out = tmp_path / "results.json"
    run = pytest_run(str(SUITE), "-q", "--refserver-defect", "hangs-mid-run", "--request-timeout", "2",
                     "--results-json", str(out), timeout=600)
    results = _results(out)
    assert _outcomes(results).get("ROBUST-ALIVE-001") == "failed", run.output[-3000:]
    fast = [r for r in results if "server stopped responding at" in r["message"]]
    assert len(fast) > len(results) // 2, f"only {len(fast)} of {len(results)} tests failed fast"
    slow = [r for r in results if r["duration"] > 1.5]
    assert len(slow) <= 10, f"{len(slow)} tests waited out a timeout: {[r['nodeid'] for r in slow]}"
    assert "Traceback" not in run.output
    assert run.seconds < 300, f"the run took {run.seconds:.0f} s"


@pytest.mark.parametrize("defect", ["stream-stalls", "python-repr-body"])
def test_a_garbling_server_gets_findings_not_a_hung_run(defect, tmp_path):
    """The whole suite against a server that stalls every stream (or answers non-JSON) ends in
    bounded time with the robustness requirements failed, the rest reported, and no harness error."""
    out = tmp_path / "results.json"
    run = pytest_run(str(SUITE), "-q", "--refserver-defect", defect, "--request-timeout", "3",
                     "--results-json", str(out), timeout=900)
    results = _results(out)
    outcomes = _outcomes(results)
    target = "ROBUST-STREAM-001" if defect == "stream-stalls" else "ROBUST-HTTP-001"
    assert outcomes.get(target) == "failed", run.output[-3000:]
    assert "Traceback" not in run.output
    errors = [r["nodeid"] for r in results if r["outcome"] == "error"]
    assert not errors, f"the suite itself errored: {errors}"
    assert run.seconds < 600, f"the run took {run.seconds:.0f} s"
    print(f"{defect}: {len(results)} tests in {run.seconds:.0f} s")
