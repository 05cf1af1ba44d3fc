"""Helpers for the self-tests of started servers (test_docker_*.py, test_process_*.py):
run pytest in a subprocess, find our containers, wait for things, build the local images once.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "conformance" / "suite"
REFSERVER_IMAGE = "responses-conformance/refserver:local"
EXITS_IMAGE = "responses-conformance/exits-at-start:local"
NEVER_HEALTHY_IMAGE = "responses-conformance/never-healthy:local"
REQUIRE_DOCKER = os.environ.get("RC_REQUIRE_DOCKER") == "1"  # ci/test.sh: no engine is a failure, not a skip
PID_LABEL = "responses-conformance.pid"

# A test file run *with* the suite directory (so the plugin starts the server on the controller)
# and selected with -k: it signals that tests are running, then waits to be interrupted.
PROBE_TESTS = '''
import json, os, signal, time
from pathlib import Path
import pytest

def test_rc_probe_running(server):
    Path(os.environ["RC_MARKER"]).write_text(json.dumps(server.info))
    time.sleep(120)

def test_rc_probe_crash_worker(server):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.kill(os.getpid(), signal.SIGKILL)

def test_rc_probe_ok(server, api):
    assert api.request("GET", "/models").status == 200

def test_rc_probe_kill_server(server):
    if "container" in server.info:
        import docker
        docker.from_env().containers.get(server.info["container"]).kill()
    else:
        os.killpg(server.info["pid"], signal.SIGKILL)
    time.sleep(1.0)

@pytest.mark.parametrize("i", range(40))
def test_rc_probe_after_kill(api, i):
    assert api.request("GET", "/models").status == 200
'''


def options(**given: object) -> argparse.Namespace:
    """The plugin's server options as pytest parses them (every default), with `given` set."""
    base = dict(server_url=None, server_image=None, server_preset=None, server_args=None, server_env=None,
                server_volume=None, gpus=None, shm_size=None, ipc=None, server_startup_timeout=None,
                keep_server=False, server_cmd=None, server_log_dir=None, model=None, api_key=None)
    base.update(given)
    return argparse.Namespace(**base)


def env_for_child(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(extra)
    return env


def pytest_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(REPO),
            *args]


def run_pytest(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(pytest_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          env=env_for_child(**env))


def start_pytest(*args: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(pytest_cmd(*args), stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                            env=env_for_child(**env))


def probe_file(tmp_path: Path) -> Path:
    path = tmp_path / "test_rc_probe.py"
    path.write_text(PROBE_TESTS)
    return path


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, proc: subprocess.Popen[bytes] | None = None,
             log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    output = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    pytest.fail(f"gave up waiting for {what} (pytest exit status {proc.poll() if proc else '-'}):\n{output}")


def interrupt(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 60) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"pytest did not exit within {timeout} s of signal {sig}")


def output(run: subprocess.CompletedProcess[str]) -> str:
    return run.stdout + run.stderr


# -- docker ---------------------------------------------------------------------------------------


def docker_client() -> Any:
    """A client of a reachable engine, or skip (fail under ci/test.sh) with the reason."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except Exception as exc:
        reason = (f"no Docker engine reachable ({str(exc).splitlines()[0][:200]}); "
                  "start one with: bash ci/docker/start-dockerd.sh")
        if REQUIRE_DOCKER:
            pytest.fail(reason)
        pytest.skip(reason)


def build_images() -> None:
    """Build (or confirm) the local images once per machine at a time; the scripts are no-ops
    when nothing changed (about a second)."""
    lock = Path("/tmp/responses-conformance-image-build.lock")
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        for script in ("build-refserver-image.sh", "build-test-images.sh"):
            run = subprocess.run(["bash", str(REPO / "ci" / "docker" / script)], capture_output=True, text=True,
                                 timeout=900)
            if run.returncode != 0:
                reason = f"ci/docker/{script} failed:\n{run.stderr[-3000:]}"
                if REQUIRE_DOCKER:
                    pytest.fail(reason)
                pytest.skip(reason)


@contextlib.contextmanager
def engine_lock(exclusive: bool = False) -> Iterator[None]:
    """Docker tests run side by side (xdist) holding this shared; a test whose subject is the
    removal of a dead run's leftovers holds it alone, or a concurrent run would remove them first."""
    with Path("/tmp/responses-conformance-engine-tests.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def containers_of(client: Any, pid: int) -> list[Any]:
    """Containers (any state) started by the pytest process `pid`."""
    return client.containers.list(all=True, filters={"label": f"{PID_LABEL}={pid}"}, ignore_removed=True)


def running_container_of(client: Any, pid: int) -> Any:
    found = [c for c in containers_of(client, pid) if c.status == "running"]
    return found[0] if found else None


def created_count(client: Any, pid: int, since: float) -> int:
    """How many containers the pytest process `pid` created since `since` (engine events)."""
    events = client.events(since=int(since) - 1, until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "create", "label": f"{PID_LABEL}={pid}"})
    return sum(1 for _ in events)


def remove_all_of(client: Any, pid: int) -> list[str]:
    names = []
    for c in containers_of(client, pid):
        names.append(c.name)
        with contextlib.suppress(Exception):
            c.remove(force=True)
    return names
