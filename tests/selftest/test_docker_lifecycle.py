"""The server under test in a Docker container, against the real engine: the suite runs green
in the reference-server image (one container shared by xdist workers), start-up failures end
the session at once with one clear message, and no container outlives its run (success,
failure, Ctrl-C, a crashed worker, SIGKILL).

Needs a Docker engine and the local images (ci/docker/*.sh, which ci/test.sh runs first);
skips with the reason when no engine is reachable (fails instead under RC_REQUIRE_DOCKER=1).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from managed_server_kit import (
    EXITS_IMAGE,
    NEVER_HEALTHY_IMAGE,
    REFSERVER_IMAGE,
    SUITE,
    build_images,
    containers_of,
    created_count,
    docker_client,
    engine_lock,
    interrupt,
    options,
    output,
    probe_file,
    remove_all_of,
    run_pytest,
    running_container_of,
    start_pytest,
    wait_for,
)

from conformance.reports.results import load_json

REFSERVER = ("--server-image", REFSERVER_IMAGE, "--server-preset", "refserver")


@pytest.fixture(scope="module")
def engine():
    client = docker_client()
    build_images()
    return client


@pytest.fixture
def leftovers(engine, request):
    """Collects the pids of the pytest runs a test starts; fails the test if any of them left a container."""
    pids: list[int] = []
    with engine_lock(exclusive="alone" in request.fixturenames):
        yield pids
        left = {pid: remove_all_of(engine, pid) for pid in pids}
    left = {pid: names for pid, names in left.items() if names}
    assert not left, f"containers left behind (docker ps -a), now removed: {left}"


@pytest.fixture
def alone():
    """No other docker self-test runs meanwhile (see managed_server_kit.engine_lock)."""


def test_suite_is_green_in_the_refserver_container_shared_by_xdist_workers(engine, leftovers, tmp_path: Path):
    since = time.time()
    results, logs = tmp_path / "results.json", tmp_path / "server"
    t0 = time.monotonic()
    run = run_pytest(str(SUITE), "-q", "-n", "2", *REFSERVER, "--results-json", str(results),
                     "--server-log-dir", str(logs))
    elapsed = time.monotonic() - t0
    text = output(run)
    assert run.returncode == 0, text[-6000:]
    outcomes = [r.outcome for r in load_json(results)]
    assert outcomes and "failed" not in outcomes and "error" not in outcomes, text[-4000:]
    assert f"({REFSERVER_IMAGE}) ready after" in text  # progress on stderr, even under -q
    pid = json.loads((logs / "container.json").read_text())["labels"]["responses-conformance.pid"]
    leftovers.append(int(pid))
    assert created_count(engine, int(pid), since) == 1, "the xdist workers must share one container"
    facts = json.loads((logs / "container.json").read_text())
    assert facts["image_id"].startswith("sha256:") and facts["state"]["Status"] in ("running", "exited")
    assert facts["info"]["version"], "GET /version of the server belongs in the evidence"
    assert "refserver listening on" in (logs / "container.log").read_text()
    print(f"docker refserver suite run (-n 2): {elapsed:.1f} s, {len(outcomes)} tests, "
          f"container ready in {facts['startup_seconds']} s")


def test_container_that_exits_at_start_ends_the_session_with_its_exit_code_and_log(engine, leftovers, tmp_path):
    t0 = time.monotonic()
    proc_log = tmp_path / "server"
    run = run_pytest(str(SUITE), "-q", "--server-image", EXITS_IMAGE, "--server-preset", "refserver",
                     "--server-log-dir", str(proc_log))
    elapsed = time.monotonic() - t0
    text = output(run)
    assert run.returncode == 4, text[-4000:]  # usage error: no test ran
    assert text.count("exited with code 3") == 1, text[-4000:]
    assert "fatal: simulated startup failure" in text and "exits-at-start: booting" in text
    assert " passed" not in text and " failed" not in text
    assert elapsed < 30, f"took {elapsed:.1f} s"
    facts = json.loads((proc_log / "container.json").read_text())
    leftovers.append(int(facts["labels"]["responses-conformance.pid"]))
    assert facts["state"]["ExitCode"] == 3
    print(f"exits-at-start reported in {elapsed:.1f} s")


def test_container_that_never_becomes_ready_times_out_with_one_message(engine, leftovers, tmp_path):
    t0 = time.monotonic()
    logs = tmp_path / "server"
    run = run_pytest(str(SUITE), "-q", "--server-image", NEVER_HEALTHY_IMAGE, "--server-preset", "refserver",
                     "--server-startup-timeout", "6", "--server-log-dir", str(logs))
    elapsed = time.monotonic() - t0
    text = output(run)
    assert run.returncode == 4, text[-4000:]
    assert text.count("was not ready within 6 s (--server-startup-timeout)") == 1, text[-4000:]
    assert "last probe: GET /health ->" in text and "never-healthy: still warming up" in text
    assert "waiting for container" in text  # a progress line while it waited
    assert elapsed < 40, f"took {elapsed:.1f} s"
    leftovers.append(int(json.loads((logs / "container.json").read_text())["labels"]["responses-conformance.pid"]))
    print(f"never-healthy timeout (6 s) reported after {elapsed:.1f} s")


def test_missing_image_that_cannot_be_pulled_is_one_clear_message(engine):
    run = run_pytest(str(SUITE), "-q", "--server-image", "responses-conformance/no-such-image:local", timeout=120)
    text = output(run)
    assert run.returncode == 4, text[-3000:]
    assert "is not present locally; pulling it" in text
    assert "cannot pull responses-conformance/no-such-image:local" in text


def test_ctrl_c_while_tests_run_removes_the_container(engine, leftovers, tmp_path):
    marker, log = tmp_path / "running", tmp_path / "pytest.log"
    proc = start_pytest(str(SUITE / "test_seed.py"), str(probe_file(tmp_path)), "-k", "rc_probe_running",
                        *REFSERVER, log=log, RC_MARKER=str(marker))
    leftovers.append(proc.pid)
    wait_for("the probe test to run", marker.exists, proc=proc, log=log)
    assert running_container_of(engine, proc.pid)
    t0 = time.monotonic()
    code = interrupt(proc, signal.SIGINT)
    assert code == 2, log.read_text()[-3000:]  # pytest: interrupted
    assert containers_of(engine, proc.pid) == [], "the container outlived Ctrl-C"
    print(f"Ctrl-C mid-run: pytest exited and the container was gone {time.monotonic() - t0:.1f} s later")


def test_ctrl_c_during_start_up_removes_the_container(engine, leftovers, tmp_path):
    log = tmp_path / "pytest.log"
    proc = start_pytest(str(SUITE), "-q", "--server-image", NEVER_HEALTHY_IMAGE, "--server-preset", "refserver",
                        "--server-startup-timeout", "300", log=log)
    leftovers.append(proc.pid)
    wait_for("the container to run", lambda: running_container_of(engine, proc.pid), proc=proc, log=log)
    code = interrupt(proc, signal.SIGINT)
    assert code != 0
    assert containers_of(engine, proc.pid) == [], "the container outlived Ctrl-C during start-up"


def test_sigterm_removes_the_container(engine, leftovers, tmp_path):
    marker, log = tmp_path / "running", tmp_path / "pytest.log"
    proc = start_pytest(str(SUITE / "test_seed.py"), str(probe_file(tmp_path)), "-k", "rc_probe_running",
                        *REFSERVER, log=log, RC_MARKER=str(marker), RESPONSES_CONFORMANCE_REAPER="0")
    leftovers.append(proc.pid)
    wait_for("the probe test to run", marker.exists, proc=proc, log=log)
    code = interrupt(proc, signal.SIGTERM)
    # handled (cleanup, then the partial report of an interrupted run: plugin/interrupts.py), exit status 2 as
    # for Ctrl-C; or died of the signal
    assert code in (2, -signal.SIGTERM), code
    assert containers_of(engine, proc.pid) == [], "the container outlived SIGTERM"


def test_crashed_xdist_worker_leaves_nothing_behind(engine, leftovers, tmp_path):
    since, logs = time.time(), tmp_path / "server"
    run = run_pytest(str(SUITE / "test_seed.py"), str(probe_file(tmp_path)), "-k", "rc_probe_crash or rc_probe_ok",
                     "-n", "2", "--max-worker-restart", "0", *REFSERVER, "--server-log-dir", str(logs),
                     timeout=300)
    text = output(run)
    assert run.returncode == 1 and "crashed" in text, text[-4000:]
    assert " 1 passed" in text, text[-4000:]  # the other test still ran against the shared container
    pid = int(json.loads((logs / "container.json").read_text())["labels"]["responses-conformance.pid"])
    leftovers.append(pid)
    assert created_count(engine, pid, since) == 1


def test_sigkilled_run_is_cleaned_by_the_reaper(engine, leftovers, tmp_path):
    log = tmp_path / "pytest.log"
    proc = start_pytest(str(SUITE), "-q", "--server-image", NEVER_HEALTHY_IMAGE, "--server-preset", "refserver",
                        "--server-startup-timeout", "300", log=log)
    leftovers.append(proc.pid)
    wait_for("the container to run", lambda: running_container_of(engine, proc.pid), proc=proc, log=log)
    time.sleep(1.0)  # let the reaper finish importing
    proc.kill()
    proc.wait()
    t0 = time.monotonic()
    wait_for("the reaper to remove the container", lambda: not containers_of(engine, proc.pid), timeout=30)
    print(f"SIGKILL: reaper removed the container {time.monotonic() - t0:.1f} s after the run died")


def test_sigkilled_runs_leftover_is_removed_by_the_next_run(engine, alone, leftovers, tmp_path):
    log = tmp_path / "pytest.log"
    proc = start_pytest(str(SUITE), "-q", "--server-image", NEVER_HEALTHY_IMAGE, "--server-preset", "refserver",
                        "--server-startup-timeout", "300", log=log, RESPONSES_CONFORMANCE_REAPER="0")
    leftovers.append(proc.pid)
    container = wait_for("the container to run", lambda: running_container_of(engine, proc.pid), proc=proc, log=log)
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    assert [c.id for c in containers_of(engine, proc.pid)] == [container.id], "expected a leftover to clean"
    run = run_pytest(str(SUITE), "-q", "--server-image", EXITS_IMAGE, "--server-preset", "refserver")
    text = output(run)
    assert f"removed container {container.name} left behind by an earlier run" in text, text[-3000:]
    assert containers_of(engine, proc.pid) == []


def test_unreachable_engine_is_one_clear_message():
    # no engine needed: the point is what happens without one
    run = run_pytest(str(SUITE / "test_seed.py"), "-q", *REFSERVER, DOCKER_HOST="unix:///nonexistent/docker.sock")
    text = output(run)
    assert run.returncode == 4, text[-3000:]
    assert "cannot reach the Docker engine" in text and "ci/docker/start-dockerd.sh" in text


def test_container_dying_mid_run_ends_the_session_at_once(engine, leftovers, tmp_path):
    logs = tmp_path / "server"
    run = run_pytest(str(SUITE / "test_seed.py"), str(probe_file(tmp_path)), "-k", "rc_probe_kill or rc_probe_after",
                     "-n", "2", *REFSERVER, "--server-log-dir", str(logs), timeout=300)
    text = output(run)
    leftovers.append(int(json.loads((logs / "container.json").read_text())["labels"]["responses-conformance.pid"]))
    assert run.returncode == 3, text[-4000:]
    assert text.count("exited with code 137 during the run") == 1, text[-4000:]
    failed = re.search(r"(\d+) failed", text)
    assert not failed or int(failed.group(1)) < 20, "expected the session to end, not one failure per test"


def test_gpu_request_reaches_the_engine_and_its_refusal_is_one_clear_message(engine, leftovers, tmp_path):
    # the engine evaluates the DeviceRequest we send; without the NVIDIA toolkit it refuses it
    if "nvidia" in (engine.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime: a GPU request would succeed here")
    logs = tmp_path / "server"
    run = run_pytest(str(SUITE / "test_seed.py"), "-q", *REFSERVER, "--gpus", "all", "--server-log-dir", str(logs))
    text = output(run)
    leftovers.append(int(json.loads((logs / "container.json").read_text())["labels"]["responses-conformance.pid"]))
    assert run.returncode == 4, text[-3000:]
    assert 'could not select device driver "" with capabilities: [[gpu]]' in text, text[-3000:]
    assert "--gpus all needs an NVIDIA GPU and the NVIDIA Container Toolkit" in text
    facts = json.loads((logs / "container.json").read_text())
    assert facts["device_requests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}]


@pytest.mark.parametrize(("ours", "cli"), [
    ("all", "all"), ("2", "2"), ("0,1", '"device=0,1"'), ("GPU-0a1b", "device=GPU-0a1b"),
    ("driver=nvidia", "driver=nvidia"),
    ('"capabilities=compute,utility",count=all', '"capabilities=compute,utility",count=all'),
])
def test_gpus_are_requested_exactly_as_docker_run_does(engine, ours, cli):
    """Create (never start) one container with our request and one with `docker create --gpus`:
    the engine stores the same DeviceRequests for both."""
    if not shutil.which("docker"):
        pytest.skip("no docker CLI to compare with")
    from conformance.server.container import ContainerConfig
    from conformance.server.presets import REFSERVER, gpu_request

    cfg = ContainerConfig(image=REFSERVER_IMAGE, preset=REFSERVER, model=None, command=None, gpus=gpu_request(ours))
    mine = engine.containers.create(**cfg.create_kwargs(uuid.uuid4().hex))  # labelled with this pid
    theirs = subprocess.run(["docker", "create", "--gpus", cli, REFSERVER_IMAGE], capture_output=True, text=True)
    try:
        assert theirs.returncode == 0, theirs.stderr
        want = engine.api.inspect_container(theirs.stdout.strip())["HostConfig"]["DeviceRequests"]
        assert engine.api.inspect_container(mine.id)["HostConfig"]["DeviceRequests"] == want
    finally:
        for cid in (mine.id, theirs.stdout.strip()):
            if cid:
                with contextlib.suppress(Exception):
                    engine.api.remove_container(cid, force=True)


def test_vllm_preset_creates_what_the_docker_run_recipe_creates(engine, tmp_path):
    """The vLLM recipe (`docker run --gpus all --ipc=host -p ... -v ... -e ... IMAGE ARGS`) and our
    vllm preset give the engine the same container settings. Created, never started (no GPU here);
    the refserver image stands in for vllm/vllm-openai, which is not present."""
    if not shutil.which("docker"):
        pytest.skip("no docker CLI to compare with")
    from conformance.server.container import ContainerConfig

    cache = tmp_path / "hf"
    opt = options(server_image=REFSERVER_IMAGE, server_preset="vllm", model="Qwen/Qwen3-8B",
                  server_volume=[f"{cache}:/root/.cache/huggingface"], server_env=["HF_TOKEN=hf_x0x0x0"],
                  server_args=["--max-model-len 8192"])
    cfg = ContainerConfig.from_options(opt)
    mine = engine.containers.create(**cfg.create_kwargs(uuid.uuid4().hex))
    recipe = ["docker", "create", "--gpus", "all", "--ipc=host", "-p", "127.0.0.1::8000",
              "-v", f"{cache}:/root/.cache/huggingface", "-e", "VLLM_ENABLE_RESPONSES_API_STORE=1",
              "-e", "HF_TOKEN=hf_x0x0x0", REFSERVER_IMAGE, "--model", "Qwen/Qwen3-8B", "--host", "0.0.0.0",
              "--port", "8000", "--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser",
              "hermes", "--max-model-len", "8192"]
    theirs = subprocess.run(recipe, capture_output=True, text=True)
    try:
        assert theirs.returncode == 0, theirs.stderr
        want = engine.api.inspect_container(theirs.stdout.strip())
        got = engine.api.inspect_container(mine.id)
        for key in ("PortBindings", "IpcMode", "ShmSize", "Binds", "DeviceRequests"):
            assert got["HostConfig"][key] == want["HostConfig"][key], key
        assert got["Config"]["Cmd"] == want["Config"]["Cmd"]
        assert sorted(got["Config"]["Env"]) == sorted(want["Config"]["Env"])
        assert got["Config"]["ExposedPorts"] == want["Config"]["ExposedPorts"]
    finally:
        for cid in (mine.id, theirs.stdout.strip()):
            if cid:
                with contextlib.suppress(Exception):
                    engine.api.remove_container(cid, force=True)
