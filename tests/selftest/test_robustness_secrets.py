"""The API key given with --api-key is never in the console output (-vv, --tb=long, -rA, -l) nor in
any file the run writes (results JSON, JUnit, Allure, the report directory), even when the server
echoes the Authorization header into its error bodies."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from robustness_kit import SUITE, pytest_run

from conformance.refserver import start_in_thread


def _files_containing(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)} contains {n!r}" for n in needles if n.encode() in data]
    return found


@pytest.mark.parametrize("defect", [None, "echoes-api-key", "echoes-api-key-encoded"])
def test_the_api_key_is_never_written_anywhere(defect, tmp_path):
    key = "sk-SECRET-" + uuid.uuid4().hex
    # the key, a piece of it (a partial echo is a leak too), and its usual encodings
    needles = [key, key[10:30], key.upper(), key[10:30].upper(), key.replace("-", "\\u002d"),
               base64.b64encode(f"user:{key}".encode()).decode()[8:40]]
    server = start_in_thread(defect=defect, api_key=key)
    out = tmp_path / "out"
    out.mkdir()
    try:
        args = [str(SUITE), "--server-url", server.url, "--api-key", key, "--model", "ref-reasoner",
                "--request-timeout", "20", "-vv", "--tb=long", "-rA", "-l",
                "--results-json", str(out / "results.json"), "--junitxml", str(out / "junit.xml"),
                "--alluredir", str(out / "allure")]
        if defect is None:  # the clean run: a subset keeps it short; the defect run is the whole suite
            args += ["--requirements", "SEED-004,ROBUST-SECRET-001,ROBUST-FUZZ-002,ROBUST-HTTP-001"]
        if "--report-dir" in pytest_run("--help", timeout=120).output:
            args += ["--report-dir", str(out / "report")]
        run = pytest_run(*args, timeout=900)
    finally:
        server.shutdown()
        server.server_close()
    assert "passed" in run.output or "failed" in run.output, run.output[-3000:]
    leaks = [n for n in needles if n in run.output]
    assert not leaks, f"the console output shows the key: {leaks}"
    assert not _files_containing(out, needles)
    written = sorted(p.name for p in out.iterdir())
    assert "results.json" in written and "junit.xml" in written, written
    if defect:  # the server did echo it: the evidence shows it redacted
        assert "[REDACTED]" in (out / "results.json").read_text()
        assert "ROBUST-SECRET-001" in run.output


LEAKY_TESTS = '''
from conformance.judge.checks import ConformanceFailure
from conformance.suite.requirements import MUST, SHOULD, requirement


@requirement("ROBUST-SECRET-001", SHOULD)
def test_a_failure_message_quotes_the_key(server):
    raise ConformanceFailure("at: the body\\nReceived: Authorization: Bearer " + server.api_key + "\\nExpected: -")


@requirement("ROBUST-HTTP-001", MUST)
def test_an_assertion_and_locals_show_the_key(server):
    key = server.api_key
    print("captured stdout:", key)
    assert key == "something else"


def test_an_exception_from_our_code_carries_the_key(server):
    raise RuntimeError("a library error quoting " + server.api_key)


def test_a_skip_reason_quotes_the_key(server):
    import pytest

    pytest.skip("skipped because of " + server.api_key)
'''


def test_every_report_channel_is_redacted(tmp_path):
    """Failure texts, assertion rewriting, -l locals, captured output, skip reasons, JUnit and Allure."""
    key = "sk-SECRET-" + uuid.uuid4().hex
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS)
    out = tmp_path / "out"
    server = start_in_thread(api_key=key)
    try:
        run = pytest_run(str(tmp_path / "test_leaky.py"), "--server-url", server.url, "--api-key", key,
                         "--model", "ref-reasoner", "-vv", "--tb=long", "-rA", "-l",
                         "--results-json", str(out / "results.json"), "--junitxml", str(out / "junit.xml"),
                         "--alluredir", str(out / "allure"), timeout=300, cwd=tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert "3 failed" in run.output and "1 skipped" in run.output, run.output[-3000:]
    assert "[REDACTED]" in run.output
    assert key not in run.output, [ln for ln in run.output.splitlines() if key in ln][:5]
    assert not _files_containing(out, [key])
