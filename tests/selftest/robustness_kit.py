"""Running the conformance suite in a subprocess and a reference server as a real process, for the
robustness self-tests (bad options, secrets, a server that dies or hangs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SUITE = ROOT / "conformance" / "suite"


@dataclass
class Run:
    returncode: int
    output: str  # stdout + stderr, whole
    seconds: float


def pytest_run(*args: str, timeout: float = 900, cwd: Path = ROOT) -> Run:
    """`python -m pytest <args>` in a fresh process, without the caller's pytest environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_API_KEY"))}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts=",
           "--rootdir", str(ROOT), *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(cwd))
    return Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


@contextmanager
def refserver_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m conformance.refserver --port 0 <args>` as a real process; yields (process, base URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "conformance.refserver", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"listening on (\S+)", line)
        assert found, f"the reference server did not start: {line!r}"
        yield proc, found.group(1)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout:
            proc.stdout.close()


def one_clear_error(run: Run, words: str) -> None:
    """The run stopped before any test with exactly one `responses-conformance:` line naming `words`,
    and no Python traceback."""
    assert run.returncode != 0, run.output
    assert "Traceback" not in run.output, run.output
    # pytest's own option parser adds its usage line before the error; that is still one error
    lines = [ln for ln in run.output.splitlines()
             if ("responses-conformance:" in ln or "error:" in ln.lower()) and "usage:" not in ln]
    assert len(lines) == 1, f"expected one error line, got {lines}\n{run.output}"
    assert words in lines[0], f"{words!r} not in {lines[0]!r}"
    assert " passed" not in run.output and " failed" not in run.output, run.output
