"""The server under test as a local process (`--server-cmd "..."`), for bare-metal CI.

The command is split like a shell would split it (no shell runs it: write `sh -c '...'` for
shell syntax) and `--server-args` is appended. `{port}` is replaced by a free loopback port and
`{model}` by the model; without `{port}` the server is expected on `--server-url`, else on the
preset's port. The process runs in its own process group, which `stop()` terminates as a whole
(SIGTERM, then SIGKILL), so servers that spawn workers leave nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.base.redact import REDACTOR
from conformance.server import lifecycle
from conformance.server.lifecycle import LogTail, Probe, Progress
from conformance.server.preflight import Server, ServerHandle, ServerProblem, check_url
from conformance.server.presets import Preset, PresetError, fill, get_preset, parse_env, split_args

STOP_GRACE = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ProcessConfig:
    command: str
    preset: Preset
    model: str | None
    user_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None  # where the server listens when the command has no {port}
    startup_timeout: float = 1800.0
    keep: bool = False
    api_key: str | None = None
    evidence_dir: Path | None = None
    cwd: str | None = None

    @classmethod
    def from_options(cls, opt: Any, evidence_dir: Path | None = None) -> ProcessConfig:
        preset = get_preset(opt.server_preset)
        timeout = opt.server_startup_timeout if opt.server_startup_timeout is not None else preset.startup_timeout
        user_args = split_args(opt.server_args)
        # the command is the user's: the preset's default model counts only if the command asks for
        # it ({model}) or the server always serves it; else any listed model will do (see preflight)
        uses_model = preset.fixed_model or "{model}" in opt.server_cmd or any("{model}" in a for a in user_args)
        return cls(command=opt.server_cmd, preset=preset, model=opt.model or (preset.model if uses_model else None),
                   user_args=user_args, env={**preset.env, **parse_env(opt.server_env)},
                   url=opt.server_url, startup_timeout=timeout, keep=bool(opt.keep_server),
                   api_key=opt.api_key, evidence_dir=evidence_dir)

    def argv(self, port: int) -> list[str]:
        try:
            tokens = shlex.split(self.command)
        except ValueError as exc:
            raise PresetError(f"cannot split --server-cmd {self.command!r}: {exc}") from None
        if not tokens:
            raise PresetError("--server-cmd is empty")
        return fill([*tokens, *self.user_args], port=port, model=self.model or "", host="127.0.0.1")

    def base_url(self) -> tuple[str, int]:
        """The API base URL and the port to fill into `{port}`."""
        if "{port}" in self.command or any("{port}" in a for a in self.user_args):
            port = free_port()
            return f"http://127.0.0.1:{port}/v1", port
        if self.url:
            check_url(self.url)
            return self.url.rstrip("/"), urlsplit(self.url).port or 80
        return f"http://127.0.0.1:{self.preset.port}/v1", self.preset.port


class ProcessServer(Server):
    """Starts on construction; on any failure it kills what it started before raising."""

    def __init__(self, config: ProcessConfig, progress: Progress = lifecycle.quiet) -> None:
        self.config = config
        self.progress = progress
        self.proc: subprocess.Popen[bytes] | None = None
        self._reaper: lifecycle.Reaper | None = None
        self._reader: threading.Thread | None = None
        self._stopped = False
        self.facts: dict[str, Any] = {}
        log_path = config.evidence_dir / "process.log" if config.evidence_dir else None
        if log_path:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        self.logs = LogTail(path=log_path)
        lifecycle.launch(self, config.env, config.api_key)

    def _start(self) -> None:
        cfg = self.config
        url, port = cfg.base_url()
        argv = cfg.argv(port)
        shown = REDACTOR.text(shlex.join(argv))
        t0 = time.monotonic()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env={**os.environ, **cfg.env},
                                         cwd=cfg.cwd, start_new_session=True)
        except FileNotFoundError:
            raise ServerProblem(f"cannot run --server-cmd: {argv[0]!r} was not found (command: {shown})") from None
        except OSError as exc:
            raise ServerProblem(f"cannot run --server-cmd {shown}: {exc.strerror or exc}") from None
        if not cfg.keep:
            self._reaper = lifecycle.Reaper("pgid", str(self.proc.pid))
        self._reader = threading.Thread(target=self._read, name="rc-process-log", daemon=True)
        self._reader.start()
        what = f"server process {self.proc.pid} ({argv[0]})"
        self.progress(f"started {what}: {shown}; waiting up to {cfg.startup_timeout:.0f} s for {url}")
        root = url[: -len("/v1")] if url.endswith("/v1") else url
        hint = f"\nFull log: {self.logs.path}" if self.logs.path else ""
        lifecycle.wait_ready(Probe(root, cfg.preset.health_path, cfg.model, cfg.api_key), what=what,
                             timeout=cfg.startup_timeout, exited=self._exited, logs=self._last_lines,
                             progress=self.progress, ready_log=cfg.preset.ready_log, log_hint=hint)
        took = time.monotonic() - t0
        info = {"server": "local process" + (f" ({cfg.preset.name})" if cfg.preset.name != "generic" else ""),
                "command": shown, "pid": self.proc.pid, "preset": cfg.preset.name,
                "startup_seconds": round(took, 1)}
        self.handle = ServerHandle(url=url, model=cfg.model or "", api_key=cfg.api_key, kind="process", info=info)
        self.facts = {"argv": [REDACTOR.text(a) for a in argv], "pid": self.proc.pid, "url": url,
                      "env_overrides": sorted(cfg.env), "info": info}
        lifecycle.write_evidence(cfg.evidence_dir, "process", self.facts, None)
        self.progress(f"{what} ready after {took:.1f} s at {url}")

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            for line in iter(self.proc.stdout.readline, b""):
                self.logs.feed(line)
        self.logs.close()

    def _exited(self) -> str | None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is None:
            return None
        if self.proc.stdout is not None and self._reader is not None:
            self._reader.join(timeout=2.0)  # the last lines it printed belong in the message
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def _last_lines(self, n: int = lifecycle.LAST_LINES) -> list[str]:
        return self.logs.last(n)

    def died(self, force: bool = False) -> str | None:  # `force`: as the container's (polling is free here)
        """After a successful start: how the process ended, if it did."""
        if self._stopped or getattr(self, "handle", None) is None or self.proc is None or self.proc.poll() is None:
            return None
        hint = f"\nFull log: {self.logs.path}" if self.logs.path else ""
        return (f"server process {self.proc.pid} {self._exited()} during the run; the remaining tests cannot run. "
                f"Last log lines:\n{lifecycle.indent(self._last_lines())}{hint}")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        lifecycle.unregister(self)
        try:
            if self.proc is None:
                return
            if self.config.keep and self.proc.poll() is None:
                self.progress(f"kept server process {self.proc.pid} (--keep-server); "
                              f"stop it with: kill -TERM -- -{self.proc.pid}")
                return
            lifecycle.kill_process_group(self.proc.pid, STOP_GRACE, reap=self.proc.poll)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self._reader is not None:
                self._reader.join(timeout=2.0)
            self.logs.close()
            if self.facts:
                self.facts["returncode"] = self.proc.returncode
                lifecycle.write_evidence(self.config.evidence_dir, "process", self.facts, None)
        finally:
            if self._reaper is not None:
                self._reaper.close()
