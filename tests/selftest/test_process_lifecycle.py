"""The server under test as a local process (`--server-cmd`): the suite runs green through the
reference server started on a free port, start-up failures end the session at once with one
clear message, and the process group never outlives the run (success, Ctrl-C, SIGKILL).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path

import pytest
from managed_server_kit import SUITE, interrupt, output, probe_file, run_pytest, start_pytest, wait_for

from conformance.reports.results import load_json
from conformance.server.lifecycle import process_alive

REFSERVER_CMD = f"{shlex.quote(sys.executable)} -m conformance.refserver --port {{port}}"
PROCESS_PID = re.compile(r"server process (\d+)")


def pid_gone(pid: int) -> bool:
    return not process_alive(pid)


def test_suite_is_green_through_a_local_refserver_process(tmp_path: Path):
    results, logs = tmp_path / "results.json", tmp_path / "server"
    t0 = time.monotonic()
    run = run_pytest(str(SUITE), "-q", "--server-cmd", REFSERVER_CMD, "--server-preset", "refserver",
                     "--results-json", str(results), "--server-log-dir", str(logs))
    elapsed = time.monotonic() - t0
    text = output(run)
    assert run.returncode == 0, text[-6000:]
    outcomes = [r.outcome for r in load_json(results)]
    assert outcomes and "failed" not in outcomes and "error" not in outcomes
    assert "ready after" in text  # progress on stderr, even under -q
    facts = json.loads((logs / "process.json").read_text())
    assert facts["returncode"] is not None and facts["info"]["version"]
    assert "refserver listening on http://127.0.0.1:" in (logs / "process.log").read_text()
    assert pid_gone(facts["pid"])
    print(f"process refserver suite run: {elapsed:.1f} s, {len(outcomes)} tests, "
          f"server ready in {facts['info']['startup_seconds']} s")


def test_command_that_exits_at_once_ends_the_session_with_its_code_and_output():
    cmd = f"{shlex.quote(sys.executable)} -c \"print('boom: unknown flag --port'); raise SystemExit(7)\" {{port}}"
    t0 = time.monotonic()
    run = run_pytest(str(SUITE), "-q", "--server-cmd", cmd)
    elapsed = time.monotonic() - t0
    text = output(run)
    assert run.returncode == 4, text[-3000:]
    assert text.count("exited with code 7") == 1 and "boom: unknown flag --port" in text, text[-3000:]
    assert " passed" not in text
    assert elapsed < 30
    print(f"process that exits at once reported in {elapsed:.1f} s")


def test_missing_executable_is_one_clear_message():
    run = run_pytest(str(SUITE), "-q", "--server-cmd", "no-such-server-binary --port {port}")
    assert run.returncode == 4
    assert "cannot run --server-cmd: 'no-such-server-binary' was not found" in output(run)


def test_process_that_never_becomes_ready_times_out_and_is_killed():
    cmd = f"{shlex.quote(sys.executable)} -c \"import time; print('warming up', flush=True); time.sleep(300)\""
    run = run_pytest(str(SUITE), "-q", "--server-cmd", cmd, "--server-startup-timeout", "2",
                     "--server-url", "http://127.0.0.1:9/v1")
    text = output(run)
    assert run.returncode == 4, text[-3000:]
    assert "was not ready within 2 s (--server-startup-timeout)" in text and "warming up" in text
    assert "last probe: GET /v1/models -> connection refused" in text
    assert pid_gone(int(PROCESS_PID.search(text).group(1)))


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_server_process_group_does_not_outlive_the_run(how, tmp_path: Path):
    marker, log = tmp_path / "running", tmp_path / "pytest.log"
    proc = start_pytest(str(SUITE / "test_seed.py"), str(probe_file(tmp_path)), "-k", "rc_probe_running",
                        "--server-cmd", REFSERVER_CMD, "--server-preset", "refserver", log=log, RC_MARKER=str(marker))
    wait_for("the probe test to run", marker.exists, proc=proc, log=log)
    server_pid = json.loads(marker.read_text())["pid"]
    assert process_alive(server_pid)
    if how == "sigint":
        assert interrupt(proc, signal.SIGINT) == 2
        assert pid_gone(server_pid), "the server process outlived Ctrl-C"
    else:
        time.sleep(1.0)  # let the reaper finish importing
        proc.kill()
        proc.wait()
        wait_for("the reaper to stop the server process", lambda: pid_gone(server_pid), timeout=30)
    with pytest.raises(ProcessLookupError):
        os.killpg(server_pid, 0)  # nothing of its process group is left either


def test_process_dying_mid_run_ends_the_session_at_once(tmp_path: Path):
    run = run_pytest(str(SUITE / "test_seed.py"), str(probe_file(tmp_path)), "-k", "rc_probe_kill or rc_probe_after",
                     "--server-cmd", REFSERVER_CMD, "--server-preset", "refserver")
    text = output(run)
    assert run.returncode == 3, text[-4000:]
    assert text.count("was killed by SIGKILL during the run") == 1, text[-4000:]
    assert " failed" not in text
