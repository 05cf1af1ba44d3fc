"""The server the options ask the suite to start: a Docker container (`--server-image`) or a local process
(`--server-cmd`), or none (a running server, or the embedded one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.server.container import ContainerConfig, DockerServer
from conformance.server.lifecycle import Progress
from conformance.server.preflight import ServerProblem
from conformance.server.process import ProcessConfig, ProcessServer

DOCKER_ONLY = ("server_volume", "gpus", "shm_size", "ipc")



def start_managed(opt: Any, progress: Progress, evidence_dir: Path | None = None) -> Any:
    """The container or process server the options ask for, started and ready; None when the
    options name no server to start (a running server or the embedded one)."""
    if opt.server_image and opt.server_cmd:
        raise ServerProblem("--server-image starts a container and --server-cmd a local process: give one")
    if opt.server_url and (opt.server_image or (opt.server_preset and not opt.server_cmd)):
        raise ServerProblem("--server-url names a running server; --server-image/--server-preset start one: "
                            "give one of them")
    if opt.server_cmd:
        given = [f"--{o.replace('_', '-')}" for o in DOCKER_ONLY if getattr(opt, o, None)]
        if given:
            raise ServerProblem(f"{', '.join(given)} only apply to containers (--server-image), not to --server-cmd")
        return ProcessServer(ProcessConfig.from_options(opt, evidence_dir), progress)
    if opt.server_image or opt.server_preset:
        return DockerServer(ContainerConfig.from_options(opt, evidence_dir), progress)
    return None


def evidence_dir(opt: Any) -> Path | None:
    """Where the started server's evidence goes: <--report-dir>/server, else --server-log-dir."""
    report = getattr(opt, "report_dir", None)
    if report:
        return Path(report) / "server"
    return Path(opt.server_log_dir) if getattr(opt, "server_log_dir", None) else None
