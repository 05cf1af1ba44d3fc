"""pytest wiring of the started server: its options, progress lines, the watch that ends a run when it dies."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from conformance.server.lifecycle import Progress
from conformance.server.presets import PRESETS


def add_options(group: Any) -> None:
    """The options that start the server under test (a pytest option group)."""
    group.addoption("--server-image", help="start the server under test in a Docker container from this image "
                    "(e.g. vllm/vllm-openai:v0.11.0); pulled if not present, removed after the run")
    group.addoption("--server-preset", choices=sorted(PRESETS), help="command line, port, health path and "
                    "readiness line of a known server: " + "; ".join(f"{p.name}: {p.summary}"
                                                                     for p in PRESETS.values()))
    group.addoption("--server-args", action="append", metavar="ARGS", help="arguments appended to the "
                    "preset's command line; a flag given here replaces the preset's (write --server-args=\"--x\" "
                    "when the value starts with a dash)")
    group.addoption("--server-env", action="append", metavar="K=V", help="environment variable of the started "
                    "server (repeatable; K alone passes K from this environment, as docker run -e does)")
    group.addoption("--server-volume", action="append", metavar="HOST:CONTAINER[:MODE]",
                    help="mount into the container, e.g. the model cache (repeatable)")
    group.addoption("--gpus", help="GPUs of the container, as `docker run --gpus`: all, a count, device ids "
                    "(0,1), or none (default: all for the vllm and sglang presets)")
    group.addoption("--shm-size", help="size of the container's /dev/shm, e.g. 16g (with a private IPC namespace)")
    group.addoption("--ipc", help="IPC mode of the container: host (vllm/sglang default), private, shareable")
    group.addoption("--server-startup-timeout", type=float, metavar="SECONDS", help="time the started server "
                    "may take to be ready (default: the preset's: 1800 for GPU servers, 120 for refserver)")
    group.addoption("--keep-server", action="store_true",
                    help="leave the started container or process running after the run (debugging)")
    group.addoption("--server-cmd", metavar="COMMAND", help="start the server as a local process with this "
                    "command; {port} becomes a free port (e.g. \"python -m conformance.refserver --port {port}\")")
    group.addoption("--server-log-dir", metavar="DIR", help="save the started server's log and facts "
                    "(docker inspect, command, version) here (default: the report directory, if any)")


def pytest_progress(config: Any) -> Progress:
    """Progress lines on stderr, visible under `pytest -q` and while output is captured."""
    capman = config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        ctx = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
        with ctx:
            sys.stderr.write(f"responses-conformance: {message}\n")
            sys.stderr.flush()

    return say


class Watch:
    """A pytest plugin object (controller only): when the started server dies mid-run, end the
    session at once with how it ended and its last log lines, not with one failure per test."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def pytest_runtest_logreport(self, report: Any) -> None:
        died = getattr(self.server, "died", None)
        problem = died(force=bool(getattr(report, "failed", False))) if died else None
        if problem:
            import pytest

            pytest.exit(f"responses-conformance: {problem}", returncode=3)


def header_lines(info: dict[str, Any]) -> list[str]:
    """Report-header lines about a server the suite started."""
    if "image" in info:
        ident = info.get("digest") or info.get("image_id") or "?"
        return [f"responses-conformance: image {info['image']} ({ident}), container {info.get('container')}, "
                f"ready in {info.get('startup_seconds')} s"]
    if info.get("server", "").startswith("local process"):
        return [f"responses-conformance: process {info.get('pid')}: {info.get('command')}, "
                f"ready in {info.get('startup_seconds')} s"]
    return []
