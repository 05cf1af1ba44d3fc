"""What container and local-process servers share: the log tail, the readiness wait under one
deadline, progress lines, evidence files, and cleanup that survives Ctrl-C, SIGTERM and SIGKILL.

Cleanup has three layers, so a server the suite started never outlives the run:
1. the server's `stop()` (pytest_unconfigure, or the failing start itself);
2. `atexit` and SIGTERM/SIGHUP handlers calling `stop()` of every server still running;
3. a reaper: a small detached process (`python -m conformance.server.lifecycle reap ...`) holding the
   read end of a pipe. When this process dies in any way, even SIGKILL, the pipe closes and the
   reaper removes the container / kills the process group. (Set RESPONSES_CONFORMANCE_REAPER=0 to
   disable it; a later run then removes leftovers of a dead run by their labels.)
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from conformance.base.redact import REDACTOR, secret_env_values
from conformance.base.safejson import loads
from conformance.server.preflight import ServerProblem, model_ids
from conformance.wire.guard import Unrecorded, guarded_client

Progress = Callable[[str], None]
LAST_LINES = 30  # log lines shown in a start-up failure message
PROGRESS_EVERY = 10.0  # seconds between "still waiting" lines
WRONG_MODEL_GRACE = 30.0  # seconds /v1/models may list other models only before we give up


def quiet(_: str) -> None:
    """A progress sink that says nothing."""


class LogTail:
    """What a server printed: the last lines in memory, every line in a file when one is given."""

    def __init__(self, keep: int = 500, path: Path | None = None) -> None:
        self._lines: deque[str] = deque(maxlen=keep)
        self._partial = ""
        self._lock = threading.Lock()
        self._file = path.open("w", encoding="utf-8") if path else None
        self.path = path
        self.count = 0

    def feed(self, chunk: bytes | str) -> None:
        text = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
        with self._lock:
            # progress bars redraw with \r: each redraw counts as a line
            parts = re.split(r"\r\n|\r|\n", self._partial + text)
            self._partial = parts.pop()
            for line in parts:
                self._add(line)

    def _add(self, line: str) -> None:
        line = REDACTOR.text(line.rstrip())
        if not line:
            return
        self._lines.append(line)
        self.count += 1
        if self._file:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._partial:
                self._add(self._partial)
                self._partial = ""
            if self._file:
                self._file.close()
                self._file = None

    def last(self, n: int = LAST_LINES) -> list[str]:
        with self._lock:
            return list(self._lines)[-n:]


def indent(lines: list[str], empty: str = "(it printed nothing)") -> str:
    return "\n".join("    " + line[:400] for line in lines) if lines else "    " + empty


@dataclass
class Probe:
    """How readiness is judged: the health path answers 200, then `GET /v1/models` lists the model."""

    root: str  # http://127.0.0.1:PORT, no /v1
    health_path: str | None
    model: str | None
    api_key: str | None = None
    state: str = "not probed yet"
    other_models: list[str] | None = None  # what /v1/models lists instead of the model
    other_since: float = 0.0

    def ready(self, client: httpx.Client) -> bool:
        if self.health_path and not self._get(client, self.health_path, "health"):
            return False
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            reply = client.get(self.root + "/v1/models", headers=headers)
        except httpx.HTTPError as exc:
            self.state = f"GET /v1/models -> {_error(exc)}"
            return False
        if reply.status_code in (401, 403):
            return True  # up; the preflight explains the key problem in one line
        if reply.status_code != 200:
            self.state = f"GET /v1/models -> HTTP {reply.status_code}"
            return False
        try:
            models = model_ids(loads(reply.content))
        except (ValueError, UnicodeDecodeError):
            models = None
        if models is None:
            self.state = "GET /v1/models -> 200 but not a model list"
            return False
        if self.model and self.model not in models:
            self.state = f"GET /v1/models lists {models or 'no model'}, not {self.model!r} (yet)"
            if models and models != self.other_models:
                self.other_models, self.other_since = models, time.monotonic()
            return False
        self.other_models = None
        if not self.model and not models:
            self.state = "GET /v1/models lists no model (yet)"
            return False
        return True

    def _get(self, client: httpx.Client, path: str, what: str) -> bool:
        try:
            reply = client.get(self.root + path)
        except httpx.HTTPError as exc:
            self.state = f"GET {path} -> {_error(exc)}"
            return False
        if reply.status_code != 200:
            self.state = f"GET {path} ({what}) -> HTTP {reply.status_code}"
            return False
        return True


def _error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "connection closed without an answer"  # e.g. docker's proxy with nothing listening
    return type(exc).__name__


def wait_ready(probe: Probe, *, what: str, timeout: float, exited: Callable[[], str | None],
               logs: Callable[[], list[str]], progress: Progress, ready_log: str | None = None,
               log_hint: str = "") -> float:
    """Poll until ready; return the seconds it took. Raise one `ServerProblem` (with the last log
    lines) as soon as the server exits, or when the deadline passes."""
    start = time.monotonic()
    deadline = start + timeout
    next_note = start + 5.0
    seen_ready_log = False
    pattern = re.compile(ready_log) if ready_log else None
    delay = 0.1
    # the transport policy: each probe ends within 5 s even if the server trickles; its own liveness record
    with guarded_client(5.0, connect=2.0, liveness=Unrecorded(), max_body=4 * 1024 * 1024) as client:
        while True:
            now = time.monotonic()
            gone = exited()
            if gone:
                raise ServerProblem(f"{what} {gone} after {now - start:.1f} s, before it was ready. "
                                    f"Last log lines:\n{indent(logs())}{log_hint}")
            if probe.ready(client):
                return time.monotonic() - start
            now = time.monotonic()
            if probe.other_models and now - probe.other_since >= WRONG_MODEL_GRACE:
                raise ServerProblem(
                    f"{what} is up but serves {', '.join(probe.other_models)}, not {probe.model!r} "
                    f"(for {WRONG_MODEL_GRACE:.0f} s); pass the served name with --model")
            if now >= deadline:
                raise ServerProblem(
                    f"{what} was not ready within {timeout:.0f} s (--server-startup-timeout); "
                    f"last probe: {probe.state}. Last log lines:\n{indent(logs())}{log_hint}")
            last = logs()[-1:] if (pattern and not seen_ready_log) or now >= next_note else []
            if pattern and not seen_ready_log and last and pattern.search(last[0]):
                seen_ready_log = True
                progress(f"{what}: log says ready after {now - start:.0f} s; checking the API")
            elif now >= next_note:
                tail = f"; last log line: {last[0][:160]}" if last else "; no log output yet"
                progress(f"waiting for {what}: {now - start:.0f} s of {timeout:.0f} s, {probe.state}{tail}")
                next_note = now + PROGRESS_EVERY
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 1.5, 1.0)


def write_evidence(directory: Path | None, stem: str, facts: dict[str, Any], log_text: str | None) -> list[Path]:
    """`<dir>/<stem>.json` (facts) and `<dir>/<stem>.log` (redacted log); nothing without a directory."""
    if directory is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    path = directory / f"{stem}.json"
    path.write_text(REDACTOR.text(json.dumps(facts, indent=2, default=str)) + "\n", encoding="utf-8")
    written.append(path)
    if log_text is not None:
        path = directory / f"{stem}.log"
        path.write_text(REDACTOR.text(log_text), encoding="utf-8")
        written.append(path)
    return written


# -- cleanup on every way out ---------------------------------------------------------------------


class Stoppable(Protocol):
    def stop(self) -> None: ...


_ACTIVE: list[Stoppable] = []
_INSTALLED = False


def register(server: Stoppable) -> None:
    """Stop this server at interpreter exit and on SIGTERM/SIGHUP, whatever else happens."""
    global _INSTALLED
    _ACTIVE.append(server)
    if _INSTALLED:
        return
    _INSTALLED = True
    atexit.register(stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)
        signal.signal(sig, _on_signal(sig, previous))


def launch(server: Any, env: Mapping[str, str], api_key: str | None) -> None:
    """Start a container or process server: its secrets known to the redactor first, registered for cleanup,
    and stopped again if the start fails or is interrupted (then the exception goes on)."""
    for secret in [*secret_env_values(env), api_key]:
        REDACTOR.add(secret)
    register(server)
    try:
        server._start()
    except BaseException:
        server.stop()
        raise


def unregister(server: Stoppable) -> None:
    with contextlib.suppress(ValueError):
        _ACTIVE.remove(server)


def stop_all() -> None:
    for server in list(reversed(_ACTIVE)):
        with contextlib.suppress(Exception):
            server.stop()


def _on_signal(sig: signal.Signals, previous: Any) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        stop_all()
        if callable(previous):
            previous(signum, frame)
            return
        # die of the signal as if we had not caught it (the exit status tells the caller)
        signal.signal(sig, signal.SIG_DFL if previous in (None, signal.SIG_DFL) else previous)
        os.kill(os.getpid(), sig)

    return handler


class Reaper:
    """A detached process that cleans up when this process dies (see the module docstring)."""

    def __init__(self, *target: str) -> None:
        self._write: int | None = None
        if os.environ.get("RESPONSES_CONFORMANCE_REAPER", "1") == "0":
            return
        read, write = os.pipe()
        try:
            subprocess.Popen([sys.executable, "-m", "conformance.server.lifecycle", "reap", *target],
                             stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True,  # Ctrl-C to our process group must not reach it
                             close_fds=True, env={**os.environ, "PYTHONPATH": _package_root()})
        except OSError:
            os.close(write)
            return
        finally:
            os.close(read)
        self._write = write  # not inheritable: xdist workers and servers do not hold it open

    def close(self) -> None:
        """Our own cleanup is done (or failed): let the reaper check once and exit."""
        if self._write is not None:
            with contextlib.suppress(OSError):
                os.close(self._write)
            self._write = None


def _package_root() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    extra = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{extra}" if extra else root


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process (to tell a live pid from a reused one); None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after "pid (comm)"


def process_alive(pid: int, start_time: str | None = None) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start_time:
        now = process_start_time(pid)
        if now is not None and now != start_time:
            return False  # the pid was reused by another process
    return True


def kill_process_group(pgid: int, grace: float = 10.0, reap: Callable[[], object] | None = None) -> None:
    """SIGTERM the whole group, wait up to `grace` s until no member is left, then SIGKILL.
    `reap` collects our own child's exit status (a zombie still counts as a group member)."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if reap is not None:
            reap()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _reap(argv: list[str]) -> int:
    """`reap container ID` | `reap pgid N`: wait for stdin to close, then clean up."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    kind, target = argv[0], argv[1]
    if kind == "container":
        try:
            import docker

            client = docker.from_env(timeout=60)
            client.containers.get(target).remove(force=True, v=True)
        except Exception:
            return 0  # already gone (the normal case) or no engine: nothing we can do
    elif kind == "pgid":
        kill_process_group(int(target), grace=5.0)
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "reap":
        sys.exit(_reap(sys.argv[2:]))
    sys.exit("usage: python -m conformance.server.lifecycle reap container ID | reap pgid N")
