"""Running the suite against a real peer server from a self-test: install (or wait for CI's background
install), start, run, stop what was started, and gate the run on the peer's committed baseline."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.peers import PEERS, REPO, Recipes, answers


@contextlib.contextmanager
def peer_port(recipes: Recipes, name: str):
    """One run at a time per recipe: `vllm` and `vllm-nostore` are one server on one port (xdist workers
    would otherwise start them together)."""
    recipes.peers_dir.mkdir(parents=True, exist_ok=True)
    with (recipes.peers_dir / f".run-{PEERS[name].script_name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass
class PeerResult:
    peer: dict  # peer.json: status, version, times
    report: dict | None  # report.json
    output: str  # the tools.peers command's output
    out_dir: Path


def recipes_or_skip() -> Recipes:
    if os.environ.get("RC_PEERS") == "skip":
        pytest.skip("RC_PEERS=skip")
    recipes = Recipes.locate(peers_dir=os.environ.get("RC_PEERS_DIR", "/tmp/rc-peers"))
    problem = recipes.problem()
    if problem:
        pytest.skip(problem)
    return recipes


def run_peer(recipes: Recipes, name: str, report_dir: Path, *, suite_options: tuple[str, ...] = (),
             tests: tuple[str, ...] = (), install_timeout: float = 1500, start_timeout: float = 600,
             suite_timeout: float = 900) -> PeerResult:
    """`python -m tools.peers run NAME --install` in a subprocess; SIGTERM (which stops what it started) on timeout."""
    with peer_port(recipes, name):
        return _run_peer(recipes, name, report_dir, suite_options, tests, install_timeout, start_timeout,
                         suite_timeout)


def _run_peer(recipes: Recipes, name: str, report_dir: Path, suite_options: tuple[str, ...], tests: tuple[str, ...],
              install_timeout: float, start_timeout: float, suite_timeout: float) -> PeerResult:
    base, _, _ = recipes.url(name)
    was_up = answers(base)
    cmd = [sys.executable, "-m", "tools.peers", "run", name, "--install", "--peers-dir", str(recipes.peers_dir),
           "--peers-sh", str(recipes.script), "--report-dir", str(report_dir),
           "--install-timeout", str(install_timeout), "--start-timeout", str(start_timeout),
           "--suite-timeout", str(suite_timeout)]
    if tests:
        cmd += ["--tests", *tests]
    cmd += ["--", *suite_options]
    total = install_timeout + start_timeout + suite_timeout + 120
    proc = subprocess.Popen(cmd, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=total)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"`tools.peers run {name}` took more than {total:.0f} s:\n{out[-3000:]}")
    finally:
        if not was_up and answers(base):
            recipes.stop(PEERS[name])  # never leave it running
    out_dir = report_dir / name
    peer = json.loads((out_dir / "peer.json").read_text())
    report_path = out_dir / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return PeerResult(peer, report, out, out_dir)


def gate(report_json: Path, baseline: Path, strict_should: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "conformance", "gate", "--baseline", str(baseline), str(report_json)]
    if strict_should:
        cmd.insert(-1, "--strict-should")
    return subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True, timeout=120)


def outcomes(report: dict) -> dict[str, str]:
    return {e["id"]: e["outcome"] for e in report["requirements"]}
