"""Presets and server options: command lines, env, volumes and the full container create call.

The vLLM/SGLang containers need GPUs, which CI does not have: the exact `containers.create`
arguments (and the HostConfig the docker SDK makes of them) are checked here without starting.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

from conformance.base.redact import redact_env
from conformance.server import lifecycle, managed
from conformance.server.container import LABEL_HOST, LABEL_PID, LABEL_PRESET, LABEL_SESSION, ContainerConfig
from conformance.server.preflight import ServerProblem
from conformance.server.presets import (
    PRESETS,
    PresetError,
    container_command,
    get_preset,
    merge_args,
    parse_env,
    parse_volume,
    split_args,
)
from conformance.server.process import ProcessConfig

SESSION = "0123456789abcdef0123456789abcdef"


def options(**given: object) -> argparse.Namespace:
    """The plugin's options as pytest parses them (defaults of every server option)."""
    base = dict(server_url=None, server_image=None, server_preset=None, server_args=None, server_env=None,
                server_volume=None, gpus=None, shm_size=None, ipc=None, server_startup_timeout=None,
                keep_server=False, server_cmd=None, server_log_dir=None, model=None, api_key=None)
    base.update(given)
    return argparse.Namespace(**base)


def test_vllm_container_create_call_is_complete():
    opt = options(server_image="vllm/vllm-openai:v0.11.0", server_preset="vllm",
                  server_args=["--max-model-len 8192"], server_env=["HF_TOKEN=hf_abcdefgh", "EXTRA=1"],
                  server_volume=["/srv/hf:/root/.cache/huggingface", "vllm-cache:/root/.cache/vllm:rw"])
    kwargs = ContainerConfig.from_options(opt).create_kwargs(SESSION)
    labels = kwargs.pop("labels")
    assert kwargs.pop("device_requests") == [
        {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}]
    assert kwargs == {
        "image": "vllm/vllm-openai:v0.11.0",
        "command": ["--model", "Qwen/Qwen3-0.6B", "--host", "0.0.0.0", "--port", "8000",
                    "--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
                    "--max-model-len", "8192"],
        "name": "responses-conformance-vllm-0123456789ab",
        "detach": True,
        "environment": {"VLLM_ENABLE_RESPONSES_API_STORE": "1", "HF_TOKEN": "hf_abcdefgh", "EXTRA": "1"},
        "ports": {"8000/tcp": ("127.0.0.1", None)},  # loopback only, host port picked by Docker
        "volumes": ["/srv/hf:/root/.cache/huggingface", "vllm-cache:/root/.cache/vllm:rw"],
        "ipc_mode": "host",
    }
    assert labels[LABEL_SESSION] == SESSION
    assert labels[LABEL_PID] == str(os.getpid())
    assert labels[LABEL_PRESET] == "vllm"
    assert LABEL_HOST in labels


def test_vllm_create_call_becomes_the_host_config_docker_run_sends():
    from docker.models.containers import _create_container_args

    opt = options(server_image="vllm/vllm-openai:v0.11.0", server_preset="vllm", gpus="0,1", shm_size="16g",
                  server_volume=["/srv/hf:/root/.cache/huggingface:ro"])
    args = _create_container_args({**ContainerConfig.from_options(opt).create_kwargs(SESSION), "version": "1.41"})
    host = args["host_config"]
    assert host["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert host["DeviceRequests"] == [
        {"Driver": "", "Count": 0, "DeviceIDs": ["0", "1"], "Capabilities": [["gpu"]], "Options": {}}]
    assert host["ShmSize"] == 16 * 1024 ** 3
    assert "IpcMode" not in host  # --shm-size needs the private IPC namespace, not vLLM's default host
    assert host["Binds"] == ["/srv/hf:/root/.cache/huggingface:ro"]
    assert args["ports"] == [("8000", "tcp")]


def test_sglang_command_starts_the_server_module_with_its_parsers():
    opt = options(server_image="lmsysorg/sglang:v0.5.3", server_preset="sglang", model="Qwen/Qwen3-8B",
                  ipc="private")
    cfg = ContainerConfig.from_options(opt)
    assert cfg.command == ["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-8B",
                           "--host", "0.0.0.0", "--port", "30000", "--reasoning-parser", "qwen3",
                           "--tool-call-parser", "qwen25"]
    kwargs = cfg.create_kwargs(SESSION)
    assert kwargs["ports"] == {"30000/tcp": ("127.0.0.1", None)}
    assert kwargs["ipc_mode"] == "private"
    assert cfg.startup_timeout == 1800


def test_user_args_replace_the_presets_flag_and_are_appended():
    cmd = container_command(PRESETS["vllm"], "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
                            split_args(["--reasoning-parser=deepseek_r1 --enforce-eager", "--max-model-len 4096"]))
    assert cmd == ["--model", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "--host", "0.0.0.0", "--port", "8000",
                   "--reasoning-parser=deepseek_r1", "--enforce-eager", "--max-model-len", "4096"]
    assert merge_args((("--a", "1"), ("--b",), ("--c", "3")), ["--b", "--c", "4"]) == ["--a", "1", "--b", "--c", "4"]


@pytest.mark.parametrize(("model", "parser"), [
    ("Qwen/Qwen3-0.6B", "qwen3"), ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek_r1"),
    ("Qwen/QwQ-32B", "deepseek_r1"), ("openai/gpt-oss-20b", None), ("meta-llama/Llama-3.1-8B-Instruct", None),
])
def test_vllm_reasoning_parser_follows_the_model(model, parser):
    cmd = container_command(PRESETS["vllm"], model, [])
    assert (cmd[cmd.index("--reasoning-parser") + 1] if "--reasoning-parser" in cmd else None) == parser


def test_refserver_and_generic_presets():
    cfg = ContainerConfig.from_options(options(server_preset="refserver"))
    assert cfg.image == "responses-conformance/refserver:local"
    assert cfg.command == [] and cfg.gpus is None and cfg.ipc is None and cfg.startup_timeout == 120
    assert cfg.model == "ref-reasoner"
    cfg = ContainerConfig.from_options(options(server_image="example/server:1", server_args=["serve --x 1"]))
    assert cfg.preset is get_preset(None) and cfg.command == ["serve", "--x", "1"] and cfg.model is None
    assert ContainerConfig.from_options(options(server_image="example/server:1")).command is None


def test_options_override_the_preset():
    cfg = ContainerConfig.from_options(options(server_image="x/vllm:1", server_preset="vllm", gpus="none",
                                               ipc="private", server_startup_timeout=30.0, keep_server=True))
    kwargs = cfg.create_kwargs(SESSION)
    assert "device_requests" not in kwargs and kwargs["ipc_mode"] == "private" and cfg.startup_timeout == 30
    assert kwargs["labels"]["responses-conformance.keep"] == "1"


def test_gpu_preset_without_image_says_what_to_give():
    with pytest.raises(PresetError, match=r"needs --server-image IMAGE \(e.g. vllm/vllm-openai:v0.11.0\)"):
        ContainerConfig.from_options(options(server_preset="vllm"))
    with pytest.raises(PresetError, match="unknown --server-preset 'tgi'"):
        get_preset("tgi")


def test_env_volume_and_args_parsing(tmp_path: Path):
    assert parse_env(["A=1", "B=x=y", "C=", "HOME_TOKEN", "MISSING"], {"HOME_TOKEN": "t0ken"}) == {
        "A": "1", "B": "x=y", "C": "", "HOME_TOKEN": "t0ken"}
    with pytest.raises(PresetError, match="K=V"):
        parse_env(["=1"])
    assert parse_volume("./cache:/root/.cache", cwd=str(tmp_path)) == f"{tmp_path}/cache:/root/.cache"
    assert parse_volume("named:/data:ro") == "named:/data:ro"
    for bad in ("/only-host", "/h:relative", "/h:/c:r o", "/h:/c:ro:extra"):
        with pytest.raises(PresetError, match="--server-volume"):
            parse_volume(bad)
    with pytest.raises(PresetError, match="cannot split --server-args"):
        split_args(["--x 'unclosed"])
    assert redact_env(["HF_TOKEN=hf_abc", "PATH=/bin", "MY_API_KEY=k", "EMPTY_TOKEN="]) == [
        "HF_TOKEN=[REDACTED]", "PATH=/bin", "MY_API_KEY=[REDACTED]", "EMPTY_TOKEN="]


def test_process_command_fills_port_and_model():
    opt = options(server_cmd=f"{sys.executable} -m conformance.refserver --port {{port}}", server_preset="refserver",
                  server_args=["--defect x"])
    cfg = ProcessConfig.from_options(opt)
    url, port = cfg.base_url()
    assert url == f"http://127.0.0.1:{port}/v1" and port > 0
    assert cfg.argv(port) == [sys.executable, "-m", "conformance.refserver", "--port", str(port), "--defect", "x"]
    assert cfg.model == "ref-reasoner" and cfg.startup_timeout == 120
    # the preset's default model only when the command asks for it, or the server always serves it
    vllm = ProcessConfig.from_options(options(server_cmd="vllm serve X --port {port}", server_preset="vllm"))
    assert vllm.model is None
    vllm = ProcessConfig.from_options(options(server_cmd="vllm serve {model}", server_preset="vllm"))
    assert vllm.model == "Qwen/Qwen3-0.6B"
    # without {port}: --server-url says where it listens
    cfg = ProcessConfig.from_options(options(server_cmd="my-server", server_url="http://127.0.0.1:9999/v1"))
    assert cfg.base_url() == ("http://127.0.0.1:9999/v1", 9999)


@pytest.mark.parametrize(("given", "message"), [
    (dict(server_image="a", server_cmd="b"), "give one"),
    (dict(server_image="a", server_url="http://x/v1"), "give one of them"),
    (dict(server_preset="vllm", server_url="http://x/v1"), "give one of them"),
    (dict(server_cmd="b", gpus="all"), "--gpus only apply to containers"),
    (dict(server_cmd="b", server_volume=["/a:/b"], shm_size="1g"), "--server-volume, --shm-size only apply"),
])
def test_conflicting_server_options_are_one_clear_error(given, message):
    with pytest.raises(ServerProblem, match=message):
        managed.start_managed(options(**given), lifecycle.quiet)


def test_no_server_to_start():
    assert managed.start_managed(options(), lifecycle.quiet) is None
    assert managed.start_managed(options(server_url="http://127.0.0.1:1/v1"), lifecycle.quiet) is None


def test_evidence_dir_prefers_the_report_dir(tmp_path: Path):
    assert managed.evidence_dir(options(server_log_dir=str(tmp_path))) == tmp_path
    both = argparse.Namespace(report_dir=str(tmp_path), server_log_dir="x")
    assert managed.evidence_dir(both) == tmp_path / "server"
    assert managed.evidence_dir(options()) is None


def test_log_tail_splits_lines_redacts_and_keeps_the_last(tmp_path: Path):
    from conformance.base.redact import REDACTOR

    REDACTOR.add("s3cr3t-value")
    tail = lifecycle.LogTail(keep=3, path=tmp_path / "log")
    tail.feed(b"one\ntwo\r\nthr")
    tail.feed("ee\rfour s3cr3t-value\n\nfive")
    assert tail.last() == ["two", "three", "four [REDACTED]"]  # "five" has no line end yet
    tail.close()
    assert tail.last() == ["three", "four [REDACTED]", "five"]
    assert (tmp_path / "log").read_text().splitlines() == ["one", "two", "three", "four [REDACTED]", "five"]


def test_dead_and_reused_pids_are_not_alive():
    me = os.getpid()
    assert lifecycle.process_alive(me, lifecycle.process_start_time(me))
    assert not lifecycle.process_alive(me, "1")  # same pid, another start time: reused
    assert not lifecycle.process_alive(0) and not lifecycle.process_alive(2 ** 22 + 1)


def test_readiness_waits_for_health_and_the_model_and_names_other_models(monkeypatch):
    from conformance.refserver import start_in_thread

    server = start_in_thread()
    try:
        root = server.url[: -len("/v1")]
        took = lifecycle.wait_ready(lifecycle.Probe(root, "/health", "ref-reasoner"), what="refserver", timeout=10,
                                    exited=lambda: None, logs=list, progress=lifecycle.quiet)
        assert took < 5
        monkeypatch.setattr(lifecycle, "WRONG_MODEL_GRACE", 0.3)
        with pytest.raises(ServerProblem, match=r"is up but serves ref-reasoner, ref-plain, not 'other'.*--model"):
            lifecycle.wait_ready(lifecycle.Probe(root, "/health", "other"), what="refserver", timeout=10,
                                 exited=lambda: None, logs=list, progress=lifecycle.quiet)
        with pytest.raises(ServerProblem, match=r"refserver exited with code 1 after .* Last log lines:\n    boom"):
            lifecycle.wait_ready(lifecycle.Probe(root, "/nope", None), what="refserver", timeout=10,
                                 exited=lambda: "exited with code 1", logs=lambda: ["boom"], progress=lifecycle.quiet)
        with pytest.raises(ServerProblem, match=r"not ready within 1 s .*last probe: GET /nope \(health\) -> HTTP 404"):
            lifecycle.wait_ready(lifecycle.Probe(root, "/nope", None), what="refserver", timeout=1,
                                 exited=lambda: None, logs=list, progress=lifecycle.quiet)
    finally:
        server.shutdown()
        server.server_close()
