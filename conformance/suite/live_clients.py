"""The client libraries people run, driven live against the server under test.

Each driver runs four steps the way the library's own documentation does: a plain call, a
stream, a tool loop with one function tool (a Python function of ours that only returns a
string: nothing runs on the machine), and a second turn that hands the first turn's items back
(reasoning included) the way that library does.  A step that raises is reported with the
library's own error; a model that does not call the tool is a skip, not a failure.  The clients
get their own `openai` clients, with no retries, the run's timeout, and every exchange recorded
as the test's evidence.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from conformance.base.redact import REDACTOR
from conformance.judge.checks import ModelDidNotCooperate
from conformance.judge.replay import CONTEXT_EXCEEDED
from conformance.judge.responses import ANSWER
from conformance.wire.guard import LIVENESS
from conformance.wire.http import Exchange, record

PLAIN = "Say hello in five words."
TOOL = "What is the weather in Paris? Use get_weather."
SECOND = "Thanks. Now say goodbye in five words."
KEEP = 4000


class LiveProblem(Exception):
    """A client library step failed: the message names the client, its version, the step and its error."""


@dataclass(frozen=True)
class LiveClient:
    name: str
    package: str
    module: str
    distribution: str
    requirement: str

    def installed(self) -> bool:
        if self.name == "codex":
            return codex_binary() is not None
        return importlib.util.find_spec(self.module) is not None

    @property
    def version(self) -> str:
        if self.name == "codex":
            return codex_version()
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return "?"


LIVE_CLIENTS = (
    LiveClient("openai-agents", "openai-agents", "agents", "openai-agents", "CLIENT-AGENTS-002"),
    LiveClient("langchain", "langchain-openai", "langchain_openai", "langchain-openai", "CLIENT-LANGCHAIN-002"),
    LiveClient("pydantic-ai", "pydantic-ai-slim[openai]", "pydantic_ai", "pydantic-ai-slim", "CLIENT-PYDANTIC-002"),
    LiveClient("codex", "the Codex CLI (npm @openai/codex)", "", "@openai/codex", "CLIENT-CODEX-002"),
)


def codex_binary() -> str | None:
    """`codex` from $RC_CODEX or PATH, when node is there to run it."""
    found = os.environ.get("RC_CODEX") or shutil.which("codex")
    return found if found and os.access(found, os.X_OK) and shutil.which("node") else None


def codex_version() -> str:
    binary = codex_binary()
    if binary is None:
        return "?"
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out[-1] if out else "?"


def weather(city: str) -> str:
    return f"Sunny, 21 C in {city}"


# -- evidence ------------------------------------------------------------------------------------


def _text(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return REDACTOR.text(text if len(text) <= KEEP else text[:KEEP] + f"\n... [{len(text) - KEEP} more characters]")


def _on_request(request: httpx.Request) -> None:
    request.extensions["rc_exchange"] = record(Exchange(
        method=request.method, url=str(request.url), request_headers=REDACTOR.headers(request.headers.multi_items()),
        request_body=_text(request.content) if request.content else None))
    request.extensions["rc_started"] = time.monotonic()


def _on_response(response: httpx.Response) -> None:
    ex = response.request.extensions.get("rc_exchange")
    if ex is not None:
        ex.status = response.status_code
        ex.response_headers = REDACTOR.headers(response.headers.multi_items())
        ex.elapsed_ms = (time.monotonic() - response.request.extensions.get("rc_started", time.monotonic())) * 1000
        kept = _Kept(ex, response.headers.get("content-encoding", ""))
        inner = response.stream
        response.stream = (_KeptAsync(inner, kept) if isinstance(inner, httpx.AsyncByteStream)
                           else _KeptSync(inner, kept))


class _Kept:
    """The body as the client library reads it, kept as the exchange's evidence: its head and its tail
    (whether a stream reached response.completed is at its end), bounded however long the answer.
    The library reads the raw bytes through its own HTTP stack, so gzip/deflate are decoded here."""

    HALF = KEEP // 2

    def __init__(self, ex: Exchange, encoding: str) -> None:
        self.ex, self.head, self.tail, self.skipped, self.kept = ex, bytearray(), bytearray(), 0, False
        coding = encoding.strip().lower()
        self.note = ""
        self.decoder: Any = None
        if coding in ("gzip", "x-gzip"):
            self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self.decoder = zlib.decompressobj()
        elif coding and coding != "identity":
            self.note = f"[content-encoding {coding}: kept as received] "

    def add(self, chunk: bytes) -> None:
        if self.decoder is None:
            self._keep(chunk)
            return
        try:
            while chunk:  # in bounded pieces: a bomb cannot grow memory here, and nothing is dropped
                self._keep(self.decoder.decompress(chunk, KEEP))
                chunk = self.decoder.unconsumed_tail
        except zlib.error:
            self.decoder, self.note = None, "[could not be decoded: kept as received] "
            self._keep(chunk)

    def _keep(self, chunk: bytes) -> None:
        room = self.HALF - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.HALF:
            self.skipped += len(self.tail) - self.HALF
            del self.tail[:-self.HALF]

    def done(self) -> None:
        if self.kept:
            return
        self.kept = True
        gap = f"\n... [{self.skipped} bytes not kept] ...\n" if self.skipped else ""
        self.ex.response_body = REDACTOR.text(self.note + (bytes(self.head) + gap.encode() + bytes(self.tail))
                                              .decode("utf-8", "replace"))


class _KeptSync(httpx.SyncByteStream):
    def __init__(self, inner: Any, kept: _Kept) -> None:
        self.inner, self.kept = inner, kept

    def __iter__(self) -> Any:
        for chunk in self.inner:
            self.kept.add(chunk)
            yield chunk
        self.kept.done()

    def close(self) -> None:
        self.kept.done()
        self.inner.close()


class _KeptAsync(httpx.AsyncByteStream):
    def __init__(self, inner: Any, kept: _Kept) -> None:
        self.inner, self.kept = inner, kept

    async def __aiter__(self) -> Any:
        async for chunk in self.inner:
            self.kept.add(chunk)
            yield chunk
        self.kept.done()

    async def aclose(self) -> None:
        self.kept.done()
        await self.inner.aclose()


async def _on_request_async(request: httpx.Request) -> None:
    _on_request(request)


async def _on_response_async(response: httpx.Response) -> None:
    _on_response(response)
    if response.status_code >= 400:
        await response.aread()  # kept even when the library does not read an error's body


def _on_response_sync(response: httpx.Response) -> None:
    _on_response(response)
    if response.status_code >= 400:
        response.read()


def async_openai(url: str, api_key: str | None, timeout: float) -> Any:
    import openai

    http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0),
                             event_hooks={"request": [_on_request_async], "response": [_on_response_async]})
    return openai.AsyncOpenAI(base_url=url, api_key=api_key or "none", max_retries=0, timeout=timeout,
                              http_client=http)


def sync_http(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0),
                        event_hooks={"request": [_on_request], "response": [_on_response_sync]})


def answered(text: Any, step: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise AssertionError(f"the {step} ended without answer text (got {text!r})")


# -- openai-agents -------------------------------------------------------------------------------


def _agents(url: str, api_key: str | None, model: str, timeout: float) -> list[tuple[str, Callable[[], Any]]]:
    from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # traces would go to OpenAI's servers
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return weather(city)

    def agent(tools: list[Any]) -> Any:
        return Agent(name="assistant", instructions="Answer briefly.", tools=tools,
                     model=OpenAIResponsesModel(model=model, openai_client=async_openai(url, api_key, timeout)),
                     model_settings=ModelSettings(max_tokens=ANSWER))

    state: dict[str, Any] = {}

    async def stream() -> None:
        run = Runner.run_streamed(agent([]), PLAIN)
        async for _ in run.stream_events():
            pass
        answered(run.final_output, "stream")

    async def tool_loop() -> None:
        state["run"] = await Runner.run(agent([get_weather]), TOOL)
        if not calls:
            raise ModelDidNotCooperate(f"no get_weather call for {TOOL!r}")
        answered(state["run"].final_output, "tool loop")

    async def second() -> None:
        history = [*state["run"].to_input_list(), {"role": "user", "content": SECOND}]
        answered((await Runner.run(agent([get_weather]), history)).final_output, "second turn")

    return [("plain call", lambda: answered(asyncio.run(Runner.run(agent([]), PLAIN)).final_output, "plain call")),
            ("stream", lambda: asyncio.run(stream())),
            ("tool loop", lambda: asyncio.run(tool_loop())),
            ("second turn (to_input_list, reasoning included)", lambda: asyncio.run(second()))]


# -- langchain-openai ----------------------------------------------------------------------------


def _langchain(url: str, api_key: str | None, model: str, timeout: float) -> list[tuple[str, Callable[[], Any]]]:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return weather(city)

    llm = ChatOpenAI(model=model, base_url=url, api_key=api_key or "none", use_responses_api=True, max_retries=0,
                     timeout=timeout, max_tokens=ANSWER, http_client=sync_http(timeout))
    bound = llm.bind_tools([get_weather])
    history: list[Any] = [HumanMessage(TOOL)]

    def stream() -> None:
        answered("".join(chunk.text for chunk in llm.stream(PLAIN)), "stream")

    def tool_loop() -> None:
        ai = bound.invoke(history)
        if not ai.tool_calls:
            raise ModelDidNotCooperate(f"no get_weather call for {TOOL!r}")
        history.append(ai)
        for call in ai.tool_calls:
            history.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
        final = bound.invoke(history)  # the call, its output and the reasoning, handed back LangChain's way
        answered(final.text, "tool loop")
        history.append(final)

    def second() -> None:
        reply = bound.invoke([*history, HumanMessage(SECOND)])
        if not reply.tool_calls:  # a model that calls the tool again has accepted the history too
            answered(reply.text, "second turn")

    return [("plain call", lambda: answered(llm.invoke(PLAIN).text, "plain call")), ("stream", stream),
            ("tool loop (bind_tools)", tool_loop), ("second turn (messages, reasoning included)", second)]


# -- pydantic-ai ---------------------------------------------------------------------------------


def _pydantic(url: str, api_key: str | None, model: str, timeout: float) -> list[tuple[str, Callable[[], Any]]]:
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    def agent() -> Any:
        provider = OpenAIProvider(openai_client=async_openai(url, api_key, timeout))
        return Agent(OpenAIResponsesModel(model, provider=provider), instructions="Answer briefly.",
                     model_settings={"max_tokens": ANSWER})

    calls: list[str] = []
    tooled = agent()

    @tooled.tool_plain
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return weather(city)

    state: dict[str, Any] = {}

    async def stream() -> None:
        async with agent().run_stream(PLAIN) as run:
            answered(await run.get_output(), "stream")

    def tool_loop() -> None:
        state["run"] = tooled.run_sync(TOOL)
        if not calls:
            raise ModelDidNotCooperate(f"no get_weather call for {TOOL!r}")
        answered(state["run"].output, "tool loop")

    def second() -> None:
        answered(tooled.run_sync(SECOND, message_history=state["run"].all_messages()).output, "second turn")

    return [("plain call", lambda: answered(agent().run_sync(PLAIN).output, "plain call")),
            ("stream (run_stream)", lambda: asyncio.run(stream())), ("tool loop", tool_loop),
            ("second turn (message_history, reasoning included)", second)]


# -- the Codex CLI ---------------------------------------------------------------------------------


def _codex(url: str, api_key: str | None, model: str, timeout: float) -> list[tuple[str, Callable[[], Any]]]:
    """`codex exec` with HOME and CODEX_HOME in a temp dir, a read-only sandbox, approvals never and no shell
    tool: the model can call Codex's own bookkeeping tools (get_goal), never run a command."""
    home = Path(tempfile.mkdtemp(prefix="rc-codex-"))
    (home / ".codex").mkdir()
    (home / "work").mkdir()
    (home / ".codex" / "config.toml").write_text(
        f'model = {json.dumps(model)}\nmodel_provider = "rc"\n[model_providers.rc]\nname = "server under test"\n'
        f'base_url = {json.dumps(url)}\nwire_api = "responses"\nenv_key = "RC_CODEX_API_KEY"\n')
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "CODEX_HOME": str(home / ".codex"),
           "RC_CODEX_API_KEY": api_key or "none"}
    base = [str(codex_binary()), "exec", "--skip-git-repo-check", "--sandbox", "read-only", "-c",
            'approval_policy="never"', "--disable", "shell_tool", "--json"]

    def run(*args: str) -> str:
        proc = subprocess.run([*base, *args], cwd=home / "work", env=env, capture_output=True, text=True,
                              timeout=timeout * 4, stdin=subprocess.DEVNULL)
        events = []
        for line in proc.stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        failed = [e for e in events if e.get("type") in ("error", "turn.failed")]
        said = [e["item"].get("text") for e in events if e.get("type") == "item.completed"
                and isinstance(e.get("item"), dict) and e["item"].get("type") == "agent_message"]
        if CONTEXT_EXCEEDED.search(json.dumps(failed)):
            raise ModelDidNotCooperate(f"its context is too short for the Codex CLI's prompt: "
                                       f"{json.dumps(failed)[:300]}")
        if proc.returncode != 0 or failed or not any(e.get("type") == "turn.completed" for e in events):
            raise RuntimeError(f"codex exec exited {proc.returncode}; events: {json.dumps(failed)[:1200]}; "
                               f"stderr: {REDACTOR.text(proc.stderr[-1200:])}")
        return " ".join(t for t in said if isinstance(t, str))

    return [("codex exec (streamed, as Codex always streams)", lambda: answered(run(PLAIN), "codex exec")),
            ("tool loop (its get_goal tool)",
             lambda: answered(run("Please use get_goal, then tell me the weather in Paris."), "tool loop")),
            ("second turn (exec resume --last: reasoning handed back encrypted)",
             lambda: answered(run("resume", "--last", SECOND), "second turn")),
            ("cleanup", lambda: shutil.rmtree(home, ignore_errors=True))]


DRIVERS = {"openai-agents": _agents, "langchain": _langchain, "pydantic-ai": _pydantic, "codex": _codex}


def run_live(client: LiveClient, url: str, api_key: str | None, model: str, timeout: float) -> list[str]:
    """Run the client's steps in order; the names of the steps that completed."""
    done: list[str] = []
    try:
        steps = DRIVERS[client.name](url, api_key, model, timeout)
    except Exception as exc:  # an incompatible install: the client's own error, never a traceback of the suite
        raise LiveProblem(f"{client.package} {client.version} could not be set up\n"
                          f"Received: {type(exc).__module__}.{type(exc).__qualname__}: {str(exc)[:1500]}\n"
                          "Expected: the client library imports and accepts the server's URL") from None
    cleanup = [run for step, run in steps if step == "cleanup"]
    try:
        _run_steps(client, [(step, run) for step, run in steps if step != "cleanup"], done, timeout * STEP_REQUESTS)
    finally:
        for run in cleanup:
            run()
    return done


STEP_REQUESTS = 4  # a step's share of the deadline, in request timeouts (a tool loop makes two or three requests)


def _within(run: Callable[[], Any], seconds: float) -> None:
    """Run the client's steps with one total deadline. The clients' own HTTP stacks time out per read, so a
    server that trickles bytes would hold them for hours (issue 14): the steps run, in order and on one
    thread (clients keep per-thread event loops), in a daemon thread abandoned at the deadline."""
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            run()
        except BaseException as exc:  # handed to the caller, re-raised there
            box["error"] = exc

    context = contextvars.copy_context()  # the test's evidence record lives in a context variable
    worker = threading.Thread(target=context.run, args=(target,), name="rc-live-client", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no end within {seconds:.0f} s, the client's whole deadline")
    if "error" in box:
        raise box["error"]


def _raised_at(exc: BaseException, frames: int = 3) -> str:
    """The innermost frames of the client's error, paths from the package on: where in the library it failed
    is what a triager needs first (the message alone, e.g. "'dict' object has no attribute 'type'", is not)."""
    tb = traceback.extract_tb(exc.__traceback__)[-frames:]
    def short(path: str) -> str:
        for cut in ("site-packages/", "dist-packages/"):
            if cut in path:
                return path.rsplit(cut, 1)[1]
        return Path(path).name
    return " <- ".join(f"{short(f.filename)}:{f.lineno} {f.name}" for f in reversed(tb)) or "(no traceback)"


def _run_steps(client: LiveClient, steps: list[tuple[str, Callable[[], Any]]], done: list[str],
               deadline: float) -> None:
    if LIVENESS.dead:  # the guard found the server gone: fail at once, as every other test does
        raise LiveProblem(f"{client.package} {client.version} not run\nReceived: {LIVENESS.dead}\n"
                          "Expected: a server that answers for the whole run")
    current: list[str] = []

    def all_steps() -> None:
        for step, run in steps:
            current[:] = [step]
            run()
            done.append(step)

    try:
        _within(all_steps, deadline * max(1, len(steps)))
    except ModelDidNotCooperate:
        raise
    except Exception as exc:  # the client's own error is the finding: report it, never a traceback
        step = current[0] if current else "set-up"
        raise LiveProblem(
            f"{client.package} {client.version}, step {step!r} failed with the client's own error\n"
            f"Received: {type(exc).__module__}.{type(exc).__qualname__}: {str(exc)[:1500]}\n"
            f"Raised at: {_raised_at(exc)}\n"
            f"Expected: the step completes, as it does against the OpenAI API"
            + (f"\nSteps that completed: {', '.join(done)}" if done else "")) from None
