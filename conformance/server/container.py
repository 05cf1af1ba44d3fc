"""The server under test in a Docker container (`--server-image`, `--server-preset`).

`DockerServer` pulls the image when it is not present locally, creates a labelled container
with the preset's command line, publishes its port on 127.0.0.1 at a port Docker picks, follows
its log, and waits (one deadline) until the health path answers and `GET /v1/models` lists the
model. A container that exits, or a deadline that passes, ends the start with one message
holding the exit code and the last log lines. `stop()` saves the log and `docker inspect` facts
as evidence and removes the container; see `conformance.server.lifecycle` for every other way out.

Only 127.0.0.1 and the published port are ever used: the container network itself may not be
reachable from where the suite runs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.base.redact import REDACTOR, redact_env
from conformance.server import lifecycle
from conformance.server.lifecycle import LogTail, Probe, Progress
from conformance.server.preflight import Server, ServerHandle, ServerProblem
from conformance.server.presets import (
    GENERIC,
    Preset,
    PresetError,
    container_command,
    get_preset,
    gpu_request,
    parse_env,
    parse_volume,
    split_args,
)

LABEL = "responses-conformance"
LABEL_SESSION = f"{LABEL}.session"
LABEL_PID = f"{LABEL}.pid"
LABEL_PID_START = f"{LABEL}.pid-start"
LABEL_HOST = f"{LABEL}.host"
LABEL_PRESET = f"{LABEL}.preset"
LABEL_KEEP = f"{LABEL}.keep"
STOP_GRACE = 10  # seconds between SIGTERM and SIGKILL when the container is stopped
API_TIMEOUT = 120  # seconds for one Docker API call (stop/remove of a big server can be slow)


@dataclass
class ContainerConfig:
    """Everything needed to create the container; built from pytest options, testable without Docker."""

    image: str
    preset: Preset
    model: str | None
    command: list[str] | None  # None: the image's own CMD
    env: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    gpus: dict[str, Any] | None = None  # DeviceRequest fields, see presets.gpu_request
    gpus_option: str | None = None
    ipc: str | None = None
    shm_size: str | None = None
    port: int = 8000
    startup_timeout: float = 1800.0
    keep: bool = False
    api_key: str | None = None
    evidence_dir: Path | None = None

    @classmethod
    def from_options(cls, opt: Any, evidence_dir: Path | None = None) -> ContainerConfig:
        """From the plugin's options (`--server-image`, `--server-preset`, `--server-args`, ...)."""
        preset = get_preset(opt.server_preset)
        image = opt.server_image or preset.image
        if not image:
            example = f" (e.g. {preset.example_image})" if preset.example_image else ""
            raise PresetError(f"--server-preset {preset.name} needs --server-image IMAGE{example}, "
                              "or --server-cmd to start the server as a local process")
        model = opt.model or preset.model
        user_args = split_args(opt.server_args)
        # a generic image: like `docker run IMAGE ARGS...`, ARGS replace the image's CMD
        command = (user_args or None) if preset is GENERIC else container_command(preset, model or "", user_args)
        env = {**preset.env, **parse_env(opt.server_env)}
        gpus_option = opt.gpus if opt.gpus is not None else preset.gpus
        shm_size = opt.shm_size
        # --shm-size sizes a private /dev/shm, which --ipc host would replace
        ipc = opt.ipc if opt.ipc is not None else (None if shm_size else preset.ipc)
        timeout = opt.server_startup_timeout if opt.server_startup_timeout is not None else preset.startup_timeout
        return cls(image=image, preset=preset, model=model, command=command, env=env,
                   volumes=[parse_volume(v) for v in opt.server_volume or ()],
                   gpus=gpu_request(gpus_option) if gpus_option else None, gpus_option=gpus_option,
                   ipc=ipc or None, shm_size=shm_size or None, port=preset.port, startup_timeout=timeout,
                   keep=bool(opt.keep_server), api_key=opt.api_key, evidence_dir=evidence_dir)

    def labels(self, session: str) -> dict[str, str]:
        pid = os.getpid()
        labels = {LABEL_SESSION: session, LABEL_PID: str(pid), LABEL_HOST: socket.gethostname(),
                  LABEL_PRESET: self.preset.name}
        start = lifecycle.process_start_time(pid)
        if start:
            labels[LABEL_PID_START] = start
        if self.keep:
            labels[LABEL_KEEP] = "1"
        return labels

    def create_kwargs(self, session: str) -> dict[str, Any]:
        """Keyword arguments of `client.containers.create` (the docker SDK), as `docker run` would
        send them: port published on 127.0.0.1 at a free host port ("HostPort": "")."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "command": self.command,
            "name": f"{LABEL}-{self.preset.name}-{session[:12]}",
            "detach": True,
            "labels": self.labels(session),
            "environment": dict(self.env),
            "ports": {f"{self.port}/tcp": ("127.0.0.1", None)},
            "volumes": list(self.volumes),
            "ipc_mode": self.ipc,
            "shm_size": self.shm_size,
            "device_requests": [device_request(self.gpus)] if self.gpus else None,
        }
        return {k: v for k, v in kwargs.items() if v not in (None, [], {})}


class DockerServer(Server):
    """Starts on construction; on any failure it removes what it created before raising."""

    def __init__(self, config: ContainerConfig, progress: Progress = lifecycle.quiet) -> None:
        self.config = config
        self.progress = progress
        self.session = uuid.uuid4().hex
        self.container: Any = None
        self.client: Any = None
        self.logs = LogTail()
        self.facts: dict[str, Any] = {}
        self._reaper: lifecycle.Reaper | None = None
        self._image: Any = None
        self._stopped = False
        self._log_thread: threading.Thread | None = None
        self._last_check = 0.0
        lifecycle.launch(self, config.env, config.api_key)

    # -- start ------------------------------------------------------------------------------

    def _start(self) -> None:
        cfg = self.config
        import docker
        from docker.errors import APIError, DockerException

        try:
            self.client = docker.from_env(timeout=API_TIMEOUT)
            self.client.ping()
        except DockerException as exc:
            raise ServerProblem(f"cannot reach the Docker engine ({_first_line(exc)}); is dockerd running "
                                "and DOCKER_HOST right? (ci/docker/start-dockerd.sh starts one)") from None
        remove_leftovers(self.client, self.progress)
        image = self._image = self._ensure_image()
        if cfg.preset is GENERIC:
            cfg.port = _exposed_port(image) or cfg.port
        try:
            self.container = self.client.containers.create(**cfg.create_kwargs(self.session))
        except APIError as exc:
            raise ServerProblem(f"docker could not create a container from {cfg.image}: {_explain(exc)}") from None
        if not cfg.keep:
            self._reaper = lifecycle.Reaper("container", self.container.id)
        what = f"container {self.container.short_id} ({cfg.image})"
        t0 = time.monotonic()
        try:
            self.container.start()
        except APIError as exc:
            raise ServerProblem(f"docker could not start {what}: {_explain(exc)}{_gpu_hint(exc, cfg)}") from None
        host_port = _host_port(self.container, cfg.port)
        if host_port is None:  # no binding: it has exited already (or docker could not publish)
            gone = self._exited()
            if gone:
                raise ServerProblem(f"{what} {gone} after {time.monotonic() - t0:.1f} s, before it was ready. "
                                    f"Last log lines:\n{lifecycle.indent(self._last_lines())}{self._log_hint()}")
            raise ServerProblem(f"docker did not publish port {cfg.port} of {what} on 127.0.0.1")
        self.progress(f"started {what} as {self.container.name}; port {cfg.port} -> 127.0.0.1:{host_port}; "
                      f"waiting up to {cfg.startup_timeout:.0f} s for it to be ready")
        self._follow_logs()
        probe = Probe(f"http://127.0.0.1:{host_port}", cfg.preset.health_path, cfg.model, cfg.api_key)
        hint = self._log_hint()
        lifecycle.wait_ready(probe, what=what, timeout=cfg.startup_timeout, exited=self._exited,
                             logs=self._last_lines, progress=self.progress, ready_log=cfg.preset.ready_log,
                             log_hint=hint)
        took = time.monotonic() - t0  # from `docker start` to ready
        self.facts = self._inspect_facts(image)
        self.facts["startup_seconds"] = round(took, 2)
        info = {"server": f"docker ({cfg.preset.name})", "image": cfg.image, "image_id": image.id,
                "digest": self.facts["digest"], "container": self.container.short_id,
                "container_name": self.container.name, "preset": cfg.preset.name,
                "command": self.facts["command"], "startup_seconds": round(took, 1)}
        if cfg.gpus_option:
            info["gpus"] = cfg.gpus_option
        self.handle = ServerHandle(url=f"http://127.0.0.1:{host_port}/v1", model=cfg.model or "",
                                   api_key=cfg.api_key, kind="docker", info=info)
        self.facts["info"] = info  # the same dict: the version the preflight adds shows up too
        lifecycle.write_evidence(cfg.evidence_dir, "container", self.facts, None)
        self.progress(f"{what} ready after {took:.1f} s at {self.handle.url}")

    def _ensure_image(self) -> Any:
        """The image, pulled (with progress) only when it is not present locally."""
        from docker.errors import APIError, ImageNotFound
        from docker.utils import parse_repository_tag

        name = self.config.image
        with contextlib.suppress(ImageNotFound):
            return self.client.images.get(name)
        repo, tag = parse_repository_tag(name)
        self.progress(f"image {name} is not present locally; pulling it")
        t0 = time.monotonic()
        next_note = t0 + 5.0
        layers: dict[str, tuple[int, int]] = {}
        try:
            for event in self.client.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    raise ServerProblem(f"cannot pull {name}: {event['error']}")
                detail = event.get("progressDetail") or {}
                lid = event.get("id")
                if lid and detail.get("total"):
                    layers[lid] = (detail.get("current", 0), detail["total"])
                elif lid and event.get("status") in ("Download complete", "Pull complete") and lid in layers:
                    layers[lid] = (layers[lid][1], layers[lid][1])
                if time.monotonic() >= next_note:
                    done = sum(c for c, _ in layers.values()) / 1e6
                    total = sum(t for _, t in layers.values()) / 1e6
                    self.progress(f"pulling {name}: {done:,.0f} of {total:,.0f} MB in {len(layers)} layers "
                                  f"({time.monotonic() - t0:.0f} s)")
                    next_note = time.monotonic() + 10.0
        except APIError as exc:
            raise ServerProblem(f"cannot pull {name}: {_explain(exc)}; check the name and tag, or build or "
                                "load the image locally (`docker images` lists what is here)") from None
        try:
            image = self.client.images.get(name)
        except ImageNotFound:
            raise ServerProblem(f"pulled {name} but the engine does not list it") from None
        self.progress(f"pulled {name} in {time.monotonic() - t0:.0f} s")
        return image

    def _follow_logs(self) -> None:
        container = self.container

        def follow() -> None:
            with contextlib.suppress(Exception):  # the stream ends when the container is removed
                for chunk in container.logs(stream=True, follow=True):
                    self.logs.feed(chunk)
            self.logs.close()

        self._log_thread = threading.Thread(target=follow, name="rc-container-logs", daemon=True)
        self._log_thread.start()

    def _exited(self) -> str | None:
        self.container.reload()
        state = self.container.attrs.get("State", {})
        if state.get("Status") not in ("exited", "dead"):
            return None
        text = f"exited with code {state.get('ExitCode')}"
        if state.get("OOMKilled"):
            text += " (killed: out of memory)"
        if state.get("Error"):
            text += f" ({state['Error']})"
        return text

    def _last_lines(self, n: int = lifecycle.LAST_LINES) -> list[str]:
        """The container's last lines straight from the engine (the follower thread may lag)."""
        try:
            raw = self.container.logs(tail=n)
        except Exception:
            return self.logs.last(n)
        tail = LogTail(keep=n)
        tail.feed(raw)
        tail.close()
        return tail.last(n)

    def _log_hint(self) -> str:
        d = self.config.evidence_dir
        return f"\nFull log: {d / 'container.log'}" if d else ""

    def _inspect_facts(self, image: Any) -> dict[str, Any]:
        """`docker inspect` facts worth keeping as evidence (secrets redacted)."""
        c = self.container
        with contextlib.suppress(Exception):
            c.reload()
        attrs = c.attrs
        conf, host = attrs.get("Config", {}), attrs.get("HostConfig", {})
        image_attrs = image.attrs if image is not None else {}
        digests = image_attrs.get("RepoDigests") or []
        return {
            "container_id": c.id,
            "name": c.name,
            "image": self.config.image,
            "image_id": image.id if image is not None else attrs.get("Image"),
            "digest": digests[0] if digests else None,
            "image_created": image_attrs.get("Created"),
            "image_labels": image_attrs.get("Config", {}).get("Labels") or {},
            "entrypoint": conf.get("Entrypoint"),
            "command": [REDACTOR.text(a) for a in conf.get("Cmd") or []],
            "env": redact_env(conf.get("Env") or [], REDACTOR),
            "labels": conf.get("Labels") or {},
            "ports": (attrs.get("NetworkSettings") or {}).get("Ports"),
            "ipc_mode": host.get("IpcMode"),
            "shm_size": host.get("ShmSize"),
            "device_requests": host.get("DeviceRequests"),
            "binds": host.get("Binds"),
            "state": attrs.get("State"),
            "created": attrs.get("Created"),
            "engine": _engine_version(self.client),
        }

    def died(self, force: bool = False) -> str | None:
        """After a successful start: how the container ended, if it did (checked at most twice a second, or
        now when `force`: after a failed test, where tests that fail fast would otherwise pile up unexplained)."""
        if self._stopped or getattr(self, "handle", None) is None:
            return None
        if not force and time.monotonic() - self._last_check < 0.5:
            return None
        self._last_check = time.monotonic()
        try:
            gone = self._exited()
        except Exception as exc:
            gone = None if "No such container" not in str(exc) else "was removed by someone else"
        if not gone:
            return None
        return (f"container {self.container.short_id} ({self.config.image}) {gone} during the run; the remaining "
                f"tests cannot run. Last log lines:\n{lifecycle.indent(self._last_lines())}{self._log_hint()}")

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        lifecycle.unregister(self)
        try:
            if self.container is not None:
                self._save_evidence()
                if self.config.keep:
                    self.progress(f"kept container {self.container.name} (--keep-server); "
                                  f"remove it with: docker rm -f {self.container.name}")
                else:
                    self._remove()
        finally:
            if self._reaper is not None:
                self._reaper.close()

    def _remove(self) -> None:
        from docker.errors import NotFound

        try:
            with contextlib.suppress(NotFound):
                self.container.stop(timeout=STOP_GRACE)
        finally:
            with contextlib.suppress(NotFound):
                self.container.remove(force=True, v=True)

    def _save_evidence(self) -> None:
        if self.config.evidence_dir is None:
            return
        with contextlib.suppress(Exception):
            facts = {**self._inspect_facts(self._image), **self.facts}  # the start-up facts, and how it ended
            facts["state"] = self.container.attrs.get("State")
            log = self.container.logs(timestamps=True).decode("utf-8", "replace")
            lifecycle.write_evidence(self.config.evidence_dir, "container", facts, log)


def device_request(fields: dict[str, Any]) -> Any:
    """The docker SDK's DeviceRequest with exactly these fields (the SDK would turn a null
    DeviceIDs into [], where `docker run --gpus all` sends null)."""
    from docker.types import DeviceRequest

    req = DeviceRequest(**fields)
    req["DeviceIDs"] = fields.get("DeviceIDs")
    return req


def remove_leftovers(client: Any, progress: Progress = lifecycle.quiet) -> list[str]:
    """Remove containers an earlier run on this host left behind (its pid is gone: killed run,
    e.g. SIGKILL with the reaper disabled). Containers kept with --keep-server stay."""
    removed = []
    host = socket.gethostname()
    # ignore_removed: a container another run is removing right now is no concern of ours
    for c in client.containers.list(all=True, filters={"label": LABEL_SESSION}, ignore_removed=True):
        labels = c.labels or {}
        if labels.get(LABEL_HOST) != host or labels.get(LABEL_KEEP) == "1":
            continue
        try:
            pid = int(labels.get(LABEL_PID, "0"))
        except ValueError:
            pid = 0
        if lifecycle.process_alive(pid, labels.get(LABEL_PID_START)):
            continue
        with contextlib.suppress(Exception):
            c.remove(force=True, v=True)
            removed.append(c.name)
            progress(f"removed container {c.name} left behind by an earlier run (its pid {pid} is gone)")
    return removed


def _host_port(container: Any, port: int) -> str | None:
    container.reload()
    bindings = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
    for b in bindings:
        if b.get("HostIp") in ("127.0.0.1", "") and b.get("HostPort"):
            return b["HostPort"]
    return None


def _exposed_port(image: Any) -> int | None:
    ports = [p for p in (image.attrs.get("Config", {}).get("ExposedPorts") or {}) if p.endswith("/tcp")]
    return int(ports[0].split("/")[0]) if len(ports) == 1 else None


def _engine_version(client: Any) -> dict[str, Any]:
    try:
        v = client.version()
    except Exception:
        return {}
    return {k: v.get(k) for k in ("Version", "ApiVersion", "Os", "Arch")}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _explain(exc: Any) -> str:
    return REDACTOR.text(str(getattr(exc, "explanation", None) or _first_line(exc)))


def _gpu_hint(exc: Any, cfg: ContainerConfig) -> str:
    text = _explain(exc).lower()
    if cfg.gpus and ("device driver" in text or "gpu" in text or "nvidia" in text):
        return (f" (--gpus {cfg.gpus_option} needs an NVIDIA GPU and the NVIDIA Container Toolkit on the "
                "Docker host; pass --gpus none to start without GPUs)")
    return ""
