"""Server presets: how to start a known inference server, and how to tell it is ready.

A preset gives the container's command line (after the image's entrypoint), the port the server
listens on, its health path, the log line it prints once it serves, a default model, environment
and the docker settings it needs (GPUs, IPC). With `--server-cmd` the command is the user's; the
preset still gives readiness, the default model, environment and the start-up timeout.

`--server-args "..."` is appended to the preset's arguments; a flag given there replaces the
preset's flag of the same name (so `--server-args "--reasoning-parser deepseek_r1"` wins over
the preset's choice). Placeholders `{model}`, `{host}` and `{port}` are filled in.

This module is pure (no docker, no processes), so every command line can be unit-tested.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from conformance.server.preflight import ServerProblem

Args = tuple[tuple[str, ...], ...]  # groups: ("--flag", "value") or ("--switch",) or ("positional",)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    port: int  # where the server listens inside the container
    args: Args = ()
    model: str | None = None  # default model (--model overrides)
    fixed_model: bool = False  # the server always serves `model` (else the preset's command loads it)
    image: str | None = None  # default image; None: --server-image is required
    example_image: str | None = None  # shown in messages when --server-image is missing
    command_prefix: tuple[str, ...] = ()  # starts the command when the image has no server entrypoint
    health_path: str | None = "/health"  # None: readiness is `GET /v1/models` alone
    ready_log: str | None = None  # regex of the log line a ready server prints (progress only)
    env: Mapping[str, str] = field(default_factory=dict)
    gpus: str | None = None  # default --gpus
    ipc: str | None = None  # default --ipc
    startup_timeout: float = 1800.0
    reasoning_parsers: tuple[tuple[str, str | None], ...] = ()  # (model regex, parser or None)
    tool_parsers: tuple[tuple[str, Args], ...] = ()  # (model regex, extra arg groups)

    def reasoning_parser(self, model: str) -> str | None:
        for pattern, parser in self.reasoning_parsers:
            if re.search(pattern, model, re.IGNORECASE):
                return parser
        return None

    def knows_reasoning(self, model: str) -> bool:
        return any(re.search(p, model, re.IGNORECASE) for p, _ in self.reasoning_parsers)

    def model_args(self, model: str) -> Args:
        """Arguments that depend on the model (reasoning and tool-call parsers)."""
        groups: list[tuple[str, ...]] = []
        parser = self.reasoning_parser(model)
        if parser:
            groups.append(("--reasoning-parser", parser))
        for pattern, extra in self.tool_parsers:
            if re.search(pattern, model, re.IGNORECASE):
                groups.extend(extra)
                break
        return tuple(groups)


# vLLM: `vllm serve` is the image's entrypoint; `--model` works for both the old api_server
# entrypoint and `vllm serve`. Store is opt-in by environment (notes §1.7); --ipc=host is what
# vLLM's Docker recipe uses for PyTorch shared memory (notes §1.11).
VLLM = Preset(
    name="vllm",
    summary="vLLM OpenAI-compatible server (`vllm serve`, image vllm/vllm-openai)",
    port=8000,
    args=(("--model", "{model}"), ("--host", "{host}"), ("--port", "{port}")),
    model="Qwen/Qwen3-0.6B",
    example_image="vllm/vllm-openai:v0.11.0",
    health_path="/health",
    ready_log=r"Application startup complete",
    env={"VLLM_ENABLE_RESPONSES_API_STORE": "1"},
    gpus="all",
    ipc="host",
    startup_timeout=1800.0,
    reasoning_parsers=((r"qwen3", "qwen3"), (r"deepseek-r1|r1-distill|qwq", "deepseek_r1"),
                       (r"gpt-oss", None)),  # gpt-oss: Harmony, no parser flag
    tool_parsers=((r"qwen3|qwen2\.5|hermes", (("--enable-auto-tool-choice",), ("--tool-call-parser", "hermes"))),),
)

# SGLang's image has no server entrypoint: the command starts with `python3 -m sglang.launch_server`.
SGLANG = Preset(
    name="sglang",
    summary="SGLang server (`python3 -m sglang.launch_server`, image lmsysorg/sglang)",
    port=30000,
    args=(("--model-path", "{model}"), ("--host", "{host}"), ("--port", "{port}")),
    model="Qwen/Qwen3-0.6B",
    example_image="lmsysorg/sglang:<pinned tag>",
    command_prefix=("python3", "-m", "sglang.launch_server"),
    health_path="/health",
    ready_log=r"The server is fired up and ready to roll",
    gpus="all",
    ipc="host",
    startup_timeout=1800.0,
    reasoning_parsers=((r"qwen3", "qwen3"), (r"deepseek-r1|r1-distill", "deepseek-r1"), (r"gpt-oss", "gpt-oss")),
    tool_parsers=((r"qwen3|qwen2\.5", (("--tool-call-parser", "qwen25"),)),),
)

# llama.cpp's server image runs `llama-server`; `-hf` fetches a GGUF repo, `--alias` makes
# /v1/models list the name the suite sends. Only builds with /v1/responses can pass the suite.
LLAMACPP = Preset(
    name="llamacpp",
    summary="llama.cpp `llama-server` (image ghcr.io/ggml-org/llama.cpp:server; CPU by default)",
    port=8080,
    args=(("-hf", "{model}"), ("--alias", "{model}"), ("--host", "{host}"), ("--port", "{port}"), ("--jinja",)),
    model="ggml-org/Qwen3-0.6B-GGUF",
    example_image="ghcr.io/ggml-org/llama.cpp:server",
    health_path="/health",
    ready_log=r"server is listening on",
    startup_timeout=900.0,
)

# The reference server: its image's entrypoint already binds 0.0.0.0:8000.
REFSERVER = Preset(
    name="refserver",
    summary="the suite's reference server (image built by ci/docker/build-refserver-image.sh)",
    port=8000,
    model="ref-reasoner",
    fixed_model=True,
    image="responses-conformance/refserver:local",
    health_path="/health",
    ready_log=r"refserver listening on",
    startup_timeout=120.0,
)

# Any other image: its own command, the one port it exposes (8000 if it says nothing), and
# readiness by `GET /v1/models` only (health paths differ between servers).
GENERIC = Preset(
    name="generic",
    summary="any image: its own entrypoint and command; ready when GET /v1/models answers 200",
    port=8000,
    health_path=None,
    startup_timeout=1800.0,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (VLLM, SGLANG, LLAMACPP, REFSERVER, GENERIC)}


class PresetError(ServerProblem):
    """A server option is malformed: one sentence saying which and how to fix it."""


def get_preset(name: str | None) -> Preset:
    if not name:
        return GENERIC
    try:
        return PRESETS[name]
    except KeyError:
        raise PresetError(f"unknown --server-preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def _flag_name(token: str) -> str | None:
    return token.split("=", 1)[0] if token.startswith("-") and len(token) > 1 else None


def merge_args(preset_args: Args, user_args: Sequence[str]) -> list[str]:
    """The preset's arguments minus every flag the user gives again, then the user's arguments."""
    given = {f for f in (_flag_name(t) for t in user_args) if f}
    out: list[str] = []
    for group in preset_args:
        if _flag_name(group[0]) in given:
            continue
        out.extend(group)
    return [*out, *user_args]


def fill(tokens: Sequence[str], **values: object) -> list[str]:
    """Fill `{model}`, `{host}`, `{port}` in each token (other braces are left alone)."""
    out = []
    for t in tokens:
        for key, value in values.items():
            t = t.replace("{" + key + "}", str(value))
        out.append(t)
    return out


def split_args(text: str | Sequence[str] | None) -> list[str]:
    """`--server-args` may be given several times; each value is split like a shell would."""
    if not text:
        return []
    parts = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for part in parts:
        try:
            out.extend(shlex.split(part))
        except ValueError as exc:
            raise PresetError(f"cannot split --server-args {part!r}: {exc}") from None
    return out


def container_command(preset: Preset, model: str, user_args: Sequence[str]) -> list[str]:
    """The container's command (after the image's entrypoint): prefix, preset args, model-dependent
    args, user args. The server listens on 0.0.0.0 inside the container, on the preset's port."""
    base = preset.args + preset.model_args(model)
    return fill([*preset.command_prefix, *merge_args(base, user_args)], model=model, host="0.0.0.0",
                port=preset.port)


def parse_env(items: Sequence[str] | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`--server-env K=V` (repeatable); `--server-env K` takes K from this process's environment,
    as `docker run -e K` does (and is left out when unset)."""
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
            raise PresetError(f"--server-env {item!r} is not K=V (or K to pass K from this environment)")
        if sep:
            out[key] = value
        elif key in environ:
            out[key] = environ[key]
    return out


def parse_volume(spec: str, cwd: str | None = None) -> str:
    """`host:container[:mode]` as `docker run -v` takes it; a host path is made absolute, a name
    without a slash is a named volume."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].startswith("/"):
        raise PresetError(f"--server-volume {spec!r} is not HOST:CONTAINER[:MODE] "
                          "(e.g. ~/.cache/huggingface:/root/.cache/huggingface)")
    host = parts[0]
    if host.startswith(("/", ".", "~")):
        host = os.path.abspath(os.path.join(cwd or os.getcwd(), os.path.expanduser(host)))
    if len(parts) == 3 and not re.fullmatch(r"[a-zA-Z,]+", parts[2]):
        raise PresetError(f"--server-volume {spec!r}: mode {parts[2]!r} is not like ro, rw or ro,z")
    return ":".join([host, *parts[1:]])




# -- GPUs ----------------------------------------------------------------------------------------


def gpu_request(value: str) -> dict[str, object] | None:
    """`--gpus` as the fields of one Docker DeviceRequest, exactly as `docker run --gpus` builds it
    (docker/cli opts/gpus.go): `all` -> Count -1; `N` -> Count N; Capabilities [["gpu"]];
    Driver "" (the engine picks the driver that offers "gpu", i.e. nvidia); Options {}.

    Also accepted: `ID,ID` (device ids or UUIDs, what docker spells `--gpus '"device=ID,ID"'`),
    docker's own syntax (`device=0,1`, `count=2`, `driver=nvidia`, `capabilities=compute,utility`,
    `options=k=v`), and `none`/`0`/empty for no GPU request at all (returns None).
    """
    value = value.strip()
    if value.lower() in ("", "none", "0"):
        return None
    if value == "all" or re.fullmatch(r"-?\d+", value):
        count = -1 if value == "all" else int(value)
        if count < -1:
            raise PresetError(f"--gpus {value!r}: a count must be all or a positive number")
        return _device_request(count=count)
    if "=" not in value:
        ids = [i.strip() for i in value.split(",")]
        if not all(ids):
            raise PresetError(f"--gpus {value!r}: expected all, a count, or device ids like 0,1")
        return _device_request(device_ids=ids)
    return _docker_gpu_syntax(value)


def _device_request(driver: str = "", count: int = 0, device_ids: list[str] | None = None,
                    capabilities: list[list[str]] | None = None,
                    options: dict[str, str] | None = None) -> dict[str, object]:
    # DeviceIDs null unless devices are named: what docker's CLI sends (a nil Go slice)
    return {"Driver": driver, "Count": count, "DeviceIDs": device_ids,
            "Capabilities": capabilities or [["gpu"]], "Options": options or {}}


def _docker_gpu_syntax(value: str) -> dict[str, object]:
    """docker/cli's GpuOpts.Set: CSV fields, key=value or a bare count."""
    import csv

    fields = next(csv.reader([value]))
    req = _device_request()
    req["Capabilities"] = None
    seen: set[str] = set()
    ids: list[str] | None = None
    for f in fields:
        key, sep, val = f.partition("=")
        if key in seen:
            raise PresetError(f"--gpus {value!r}: key {key!r} can be given only once")
        seen.add(key)
        if not sep:
            seen.add("count")
            req["Count"] = _count(key, value)
        elif key == "driver":
            req["Driver"] = val
        elif key == "count":
            req["Count"] = _count(val, value)
        elif key == "device":
            ids = val.split(",")
        elif key == "capabilities":
            req["Capabilities"] = [[*val.split(","), "gpu"]]
        elif key == "options":
            opts = next(csv.reader([val]))
            req["Options"] = dict(o.partition("=")[::2] for o in opts)
        else:
            raise PresetError(f"--gpus {value!r}: unexpected key {key!r}")
    if ids is not None:
        req["DeviceIDs"] = ids
    if "count" not in seen and ids is None:
        req["Count"] = 1
    if req["Capabilities"] is None:
        req["Capabilities"] = [["gpu"]]
    return req


def _count(text: str, value: str) -> int:
    if text == "all":
        return -1
    try:
        return int(text)
    except ValueError:
        raise PresetError(f"--gpus {value!r}: invalid count {text!r}: must be all or an integer") from None
