"""Domain helpers over raw Responses API calls, shared by the conformance tests.

They turn "the call did not work" into a clear failure (status, body, what was expected) so a
test body states only what its requirement checks.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from conformance.base.once import Once
from conformance.judge.checks import SERVER_AT_FAULT, ConformanceFailure, show
from conformance.wire.http import KEEP_BODY, ApiClient, Reply, StreamReply, record

# Output budgets: as small as each kind of check allows (a reasoning model needs room to think
# and then answer; the OpenAI API's minimum is 16).
SHORT = 64
ANSWER = 256


def post_ok(api: ApiClient, body: dict[str, Any], what: str = "POST /v1/responses") -> dict[str, Any]:
    """POST /v1/responses and return the response object; fail unless 2xx with a JSON object."""
    reply = api.post("responses", body)
    return ok_object(reply, what)


def ok_object(reply: Reply, what: str) -> dict[str, Any]:
    if not 200 <= reply.status < 300:
        raise ConformanceFailure(
            f"{what} was rejected\nReceived: HTTP {reply.status} {show(reply.body[:800])}\n"
            "Expected: HTTP 2xx with the response object")
    if "text/event-stream" in reply.content_type:
        raise ConformanceFailure(
            f"{what} was answered with an event stream, but the request did not set stream: true\n"
            f"Received: HTTP {reply.status}, Content-Type: {reply.content_type}, {show(reply.body[:300])}\n"
            "Expected: the response object as JSON (`stream` defaults to false)")
    return reply.json_object(f"the body of {what}")


_SHARED = Once()  # replies several tests read; fetched once even when the tests run together


def _shared(key: tuple[Any, ...], fetch: Callable[[], Reply | StreamReply]) -> Any:
    """The reply for `key`, fetched once; a reader that did not fetch it records its exchange as evidence."""
    reply, fetched = _SHARED.get(key, fetch)
    if not fetched:
        record(reply.exchange)
    return reply


def send_shared(api: ApiClient, method: str, path: str, *, json_body: Any = None, content: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> Reply:
    """One request per distinct (method, path, body, headers) per test process, its reply shared.

    Several requirements read the same reply (one base response, one error reply) so a slow model
    is asked once; the exchange is recorded again in each test that reads it, as evidence.
    """
    key = (id(api), method, path, json.dumps(json_body, sort_keys=True), content,
           json.dumps(headers or {}, sort_keys=True))

    def fetch() -> Reply:
        reply = api.request(method, path, json_body=json_body, content=content, headers=headers)
        # a reply cut at the cap is judged by its start only: keep that, not megabytes per cached reply
        return dataclasses.replace(reply, body=reply.body[:KEEP_BODY]) if reply.truncated else reply

    return _shared(key, fetch)


def post_shared(api: ApiClient, body: dict[str, Any], what: str = "POST /v1/responses") -> dict[str, Any]:
    """`post_ok` through `send_shared`: a fresh parse of a shared reply (callers may change it)."""
    return ok_object(send_shared(api, "POST", "responses", json_body=body), what)


LONG_PROMPT = ("Write a detailed essay of at least 800 words on the history of Paris, from its founding "
               "to the present day.")
TRUNCATED_LIMIT = 16  # the spec's minimum max_output_tokens: a long essay is surely cut at 16


def plain_response(api: ApiClient, model: str) -> dict[str, Any]:
    """The plainest request (`request(model)`), asked once per test process and shared."""
    return post_shared(api, request(model), "a plain request")


def truncated_response(api: ApiClient, model: str) -> dict[str, Any]:
    """A long essay asked with max_output_tokens=16, so the output is cut short; shared."""
    return post_shared(api, request(model, LONG_PROMPT, TRUNCATED_LIMIT),
                       "a request cut short by max_output_tokens=16")


def stream_ok(api: ApiClient, body: dict[str, Any], what: str = "POST /v1/responses (stream)") -> StreamReply:
    reply = api.stream("responses", {**body, "stream": True})
    if not 200 <= reply.status < 300:
        raise ConformanceFailure(
            f"{what} was rejected\nReceived: HTTP {reply.status} {show(reply.raw[:800])}\n"
            "Expected: HTTP 2xx with an event stream")
    return reply


def stream_shared(api: ApiClient, body: dict[str, Any], what: str = "POST /v1/responses (stream)") -> StreamReply:
    """`stream_ok`, one request per distinct body per test process; the exchange re-recorded per reader."""
    return _shared(("stream", id(api), json.dumps(body, sort_keys=True)), lambda: stream_ok(api, body, what))


def output_text(resp: dict[str, Any]) -> str:
    """What the SDK's `Response.output_text` computes: every `output_text` part of every message."""
    return "".join(
        part.get("text", "")
        for item in resp.get("output") or [] if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or [] if isinstance(part, dict) and part.get("type") == "output_text"
    )


def items_of(resp: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [it for it in resp.get("output") or [] if isinstance(it, dict) and it.get("type") == kind]


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def request(model: str, prompt: str | list[dict[str, Any]] = "Say hello in five words.",
            max_output_tokens: int | None = ANSWER, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": prompt}
    if max_output_tokens is not None:
        body["max_output_tokens"] = max_output_tokens
    body.update(extra)
    return body


# -- cooperation, function tools, final stream response (parameters, tools, state) --------------

T = TypeVar("T")


def cooperate(attempt: Callable[[], T], ok: Callable[[T], bool], wanted: str) -> T:
    """Run `attempt` until `ok` (twice at most), else skip: the model did not do what the test needs.

    Unless the last reply shows the server at fault (a tool call returned as markup text, a stream that
    broke or has no terminal event): then the skip says so and names the requirement that judges it.
    """
    result = attempt()
    if not ok(result):
        result = attempt()
        if not ok(result):
            import pytest

            fault = server_fault(result)
            if fault:
                pytest.skip(f"{SERVER_AT_FAULT}{fault}; {wanted} (asked twice)")
            pytest.skip(f"model did not cooperate: {wanted} (asked twice)")
    return result


# The tool-call markup of common chat templates and parsers (Hermes/Qwen, Llama, Mistral): a model's
# call that the server's tool-call parser should have turned into a function_call item.
TOOL_CALL_MARKUP = re.compile(r"<tool_call>|</tool_call>|<\|tool_call|<function=|<function_call>|\[TOOL_CALLS\]"
                              r"|<\|python_tag\|>")


def texts_of(result: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The response object in a result (a response, a stream reply, or a tuple starting with one) and its
    message texts (a stream's output_text deltas included)."""
    texts: list[str] = []
    resp: Any = result[0] if isinstance(result, tuple) and result else result
    if isinstance(resp, StreamReply):
        texts.append("".join(str(d.get("delta", "")) for _, d in resp.payloads()
                             if isinstance(d, dict) and d.get("type") == "response.output_text.delta"))
        resp = final_response(resp)
    if not isinstance(resp, dict):
        return None, texts
    texts += [p.get("text", "") for it in resp.get("output") or [] if isinstance(it, dict)
              and it.get("type") == "message" for p in it.get("content") or []
              if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return resp, texts


def server_fault(result: Any) -> str | None:
    """Evidence in a reply that the server, not the model, kept the test from judging, naming the judge."""
    reply = result[0] if isinstance(result, tuple) and result else result
    if isinstance(reply, StreamReply):
        if reply.error:
            return f"the stream broke ({show(reply.error, 160)}; ROBUST-STREAM-001 judges it)"
        if final_response(reply) is None:
            return "the stream has no terminal event with the final response (STREAM-TERM-001 judges it)"
    _, texts = texts_of(result)
    markup = next((t for t in texts if TOOL_CALL_MARKUP.search(t)), None)
    if markup is not None:
        return (f"the tool call came back as markup text {show(markup, 160)}, not as a function_call item "
                "(TOOLS-CALL-003 judges it)")
    return None


def function_tool(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A strict function tool: every property required, no others (what strict mode accepts)."""
    return {"type": "function", "name": name, "description": description, "strict": True,
            "parameters": {"type": "object", "properties": properties, "required": list(properties),
                           "additionalProperties": False}}


CITY = {"city": {"type": "string", "description": "The name of the city, e.g. Paris"}}
WEATHER_TOOL = function_tool("get_weather", "Get the current weather in a city.", CITY)
TIME_TOOL = function_tool("get_time", "Get the current local time in a city.", CITY)
TOOL_PROMPT = "Call the get_weather tool for Paris."


def function_calls(resp: dict[str, Any]) -> list[dict[str, Any]]:
    return items_of(resp, "function_call")


TERMINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")


def final_response(reply: StreamReply) -> dict[str, Any] | None:
    """The response object of the stream's last terminal event, or None when there is none."""
    final = None
    for _, data in reply.payloads():
        if isinstance(data, dict) and data.get("type") in TERMINAL_EVENTS and isinstance(data.get("response"), dict):
            final = data["response"]
    return final
