"""Errors: every class of bad request gets a 4xx (never a 2xx, never a 5xx) with the spec's error body.

The spec does not say which 4xx, so none is required.  The bad requests are data (below); the
error-body requirements read the replies of a representative few, shared with the status checks.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from conformance.judge.checks import MISSING, Collector, ConformanceFailure, check, fail, show
from conformance.judge.responses import TRUNCATED_LIMIT, send_shared
from conformance.judge.schema import Schemas
from conformance.suite.requirements import MUST, SHOULD, requirement
from conformance.wire.http import Reply

JSON = "application/json"
PROMPT = "Say hi."


class Bad(NamedTuple):
    """A bad request: its body (`{model}` is filled in), how it is sent, and the field at fault."""

    name: str
    body: Any = None  # a JSON value, sent as JSON; or bytes / str, sent as they are
    content_type: str = JSON
    field: str | None = None  # the top-level parameter at fault, when there is one
    may_succeed: bool = False  # schema-valid input the server may serve (ERROR-008)

    def content(self, model: str) -> bytes:
        if isinstance(self.body, bytes | str):
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            return raw.replace(b"{model}", model.encode())
        return json.dumps(_fill(self.body, model)).encode()


def _fill(value: Any, model: str) -> Any:
    if value == "{model}":
        return model
    if isinstance(value, dict):
        return {k: _fill(v, model) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, model) for v in value]
    return value


def body(**fields: Any) -> dict[str, Any]:
    """A valid small request with `fields` set (a field set to MISSING is left out)."""
    out = {"model": "{model}", "input": PROMPT, "max_output_tokens": TRUNCATED_LIMIT, **fields}
    return {k: v for k, v in out.items() if v is not MISSING}


def user_then(*items: dict[str, Any]) -> dict[str, Any]:
    return body(input=[{"type": "message", "role": "user", "content": PROMPT}, *items])


TOOL = {"type": "function", "name": "get_weather", "strict": False,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}

MALFORMED = [
    Bad("truncated-json", b'{"model": "{model}", "input": "Say hi.", "max_output_tokens": 16'),
    Bad("not-json", b"model={model} input=hello, this is not JSON"),
    Bad("empty-body", b""),
    Bad("json-array", [body()]),
    Bad("json-string", b'"Say hi."'),
]

WRONG_TYPES = [
    Bad(f"{key}-as-{type(value).__name__}", body(**{key: value}), field=key) for key, value in [
        ("model", 42),
        ("input", 42),
        ("instructions", 42),
        ("max_output_tokens", "sixteen"),
        ("temperature", "hot"),
        ("top_p", "high"),
        ("tools", "get_weather"),
        ("tool_choice", 42),
        ("metadata", "suite=responses-conformance"),
        ("stream", "maybe"),
        ("store", "maybe"),
        ("parallel_tool_calls", "maybe"),
        ("text", "json"),
        ("reasoning", "high"),
    ]
] + [Bad("input-item-as-int", body(input=[42]), field="input")]

UNDEFINED = [
    Bad("item-type", user_then({"type": "not_a_real_item_type", "text": PROMPT}), field="input"),
    Bad("content-part-type", body(input=[{"type": "message", "role": "user",
                                          "content": [{"type": "input_bogus", "text": PROMPT}]}]), field="input"),
    Bad("role", body(input=[{"type": "message", "role": "wizard", "content": PROMPT}]), field="input"),
]

UNKNOWN_MODEL = Bad("unknown-model", body(model="no-such-model-responses-conformance-0"), field="model")

MISSING_FIELDS = [
    Bad("message-without-content", body(input=[{"type": "message", "role": "user"}]), field="input"),
    Bad("function-tool-without-name", body(tools=[{k: v for k, v in TOOL.items() if k != "name"}]), field="tools"),
    Bad("json-schema-format-without-schema", body(text={"format": {"type": "json_schema", "name": "answer"}}),
        field="text"),
    Bad("function-call-output-without-output", user_then(
        {"type": "function_call", "call_id": "call_rc1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_rc1"}), field="input"),
]

OUT_OF_RANGE = [
    Bad("temperature=5", body(temperature=5), field="temperature"),
    Bad("top_p=3", body(top_p=3), field="top_p"),
    Bad("max_output_tokens=-10", body(max_output_tokens=-10), field="max_output_tokens"),
]

FORM = Bad("form-encoded", b"model={model}&input=Say+hi.&max_output_tokens=16", "application/x-www-form-urlencoded")

UNIMPLEMENTED = [
    Bad("item_reference-unknown-id", user_then({"type": "item_reference", "id": "msg_rc_no_such_item_0000"}),
        field="input"),
    Bad("computer_call_output", user_then({
        "type": "computer_call_output", "call_id": "call_rc_computer",
        "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="}}),
        may_succeed=True),
    Bad("mcp_call", user_then({"type": "mcp_call", "id": "mcp_rc1", "server_label": "docs", "name": "search",
                               "arguments": "{}", "output": "nothing found"}), may_succeed=True),
    Bad("mcp_list_tools", user_then({"type": "mcp_list_tools", "id": "mcpl_rc1", "server_label": "docs",
                                     "tools": []}), may_succeed=True),
    Bad("web_search_call", user_then({"type": "web_search_call", "id": "ws_rc1", "status": "completed",
                                      "action": {"type": "search", "query": "weather in Paris"}}),
        may_succeed=True),
    Bad("assistant-message-empty-content", user_then({"type": "message", "role": "assistant", "content": []}),
        may_succeed=True),
    Bad("assistant-refusal-part", user_then({"type": "message", "role": "assistant", "id": "msg_rc_refusal",
                                             "status": "completed", "content": [
        {"type": "refusal", "refusal": "I cannot help with that."}]}), may_succeed=True),
]

# The error replies whose bodies are checked (ERROR-009..011): one of each kind, shared above.
REPRESENTATIVE = [bad for bad in [*MALFORMED, *WRONG_TYPES, *UNDEFINED, UNKNOWN_MODEL, *MISSING_FIELDS, *OUT_OF_RANGE]
                  if bad.name in ("truncated-json", "temperature-as-str", "item-type", "unknown-model",
                                  "function-tool-without-name", "temperature=5")]


def send(api: Any, model: str, bad: Bad) -> Reply:
    # Each bad request on a connection of its own: a server that breaks a kept-alive connection
    # after an error reply must not fail the next, unrelated request.
    return send_shared(api, "POST", "responses", content=bad.content(model),
                       headers={"Content-Type": bad.content_type, "Connection": "close"})


def expect_4xx(reply: Reply, what: str) -> None:
    status = reply.status
    if 400 <= status < 500:
        return
    if status >= 500:
        fail("HTTP status", f"{status} {show(reply.body[:300])}",
             f"a 4xx: {what} is the client's mistake, not a server failure (5xx)")
    fail("HTTP status", f"{status} {show(reply.body[:300])}",
         f"a 4xx: {what} must be rejected, not served"
         + (" (a 2xx with an error in the body is still a success to every client)" if b'"error"' in reply.body
            else ""))


def ids(cases: list[Bad]) -> list[str]:
    return [c.name for c in cases]


@requirement("ERROR-001", MUST)
@pytest.mark.parametrize("bad", MALFORMED, ids=ids(MALFORMED))
def test_malformed_body(api, model, bad):
    expect_4xx(send(api, model, bad), f"a body that is not a JSON object ({bad.name})")


@requirement("ERROR-002", MUST)
@pytest.mark.parametrize("bad", WRONG_TYPES, ids=ids(WRONG_TYPES))
def test_wrong_parameter_type(api, model, bad):
    expect_4xx(send(api, model, bad), f"a parameter of the wrong type ({bad.name})")


@requirement("ERROR-003", MUST)
@pytest.mark.parametrize("bad", UNDEFINED, ids=ids(UNDEFINED))
def test_undefined_item_part_or_role(api, model, bad):
    expect_4xx(send(api, model, bad), f"an input {bad.name.replace('-', ' ')} the spec does not define")


@requirement("ERROR-004", MUST)
def test_unknown_model(api, model):
    expect_4xx(send(api, model, UNKNOWN_MODEL),
               f"a model the server does not have ({UNKNOWN_MODEL.body['model']!r})")


@requirement("ERROR-005", MUST)
@pytest.mark.parametrize("bad", MISSING_FIELDS, ids=ids(MISSING_FIELDS))
def test_missing_required_field(api, model, bad):
    expect_4xx(send(api, model, bad), f"a request missing a required field ({bad.name})")


@requirement("ERROR-006", MUST)
@pytest.mark.parametrize("bad", OUT_OF_RANGE, ids=ids(OUT_OF_RANGE))
def test_out_of_range_value(api, model, bad):
    expect_4xx(send(api, model, bad), f"a value outside the spec's range ({bad.name})")


@requirement("ERROR-007", MUST)
def test_form_encoded_body(api, model):
    reply = send(api, model, FORM)
    if 200 <= reply.status < 300 and b'"output"' in reply.body and not isinstance(error_object(reply), dict):
        return  # the server reads form bodies too: beyond the spec, not against it
    expect_4xx(reply, "a form-encoded body (the API takes application/json)")


@requirement("ERROR-008", MUST)
@pytest.mark.parametrize("bad", UNIMPLEMENTED, ids=ids(UNIMPLEMENTED))
def test_unimplemented_input_items(api, model, bad):
    reply = send(api, model, bad)
    if bad.may_succeed and 200 <= reply.status < 300:
        # Served: how the reply looks is other requirements' business, unless it is an error in disguise.
        check(not isinstance(error_object(reply), dict) or b'"output"' in reply.body, "HTTP status",
              f"{reply.status} {show(reply.body[:300])}",
              "a 4xx for an input the server cannot serve (an error object in a 2xx reply is still a success)")
        return
    expect_4xx(reply, f"a schema-valid input item the server does not serve ({bad.name})"
               if bad.may_succeed else f"a reference to an item that does not exist ({bad.name})")


def error_replies(api: Any, model: str) -> list[tuple[Bad, Reply]]:
    """The representative bad requests that got an error status (4xx/5xx); 2xx ones are other tests' failures."""
    found = [(bad, reply) for bad in REPRESENTATIVE if (reply := send(api, model, bad)).status >= 400]
    if not found:
        pytest.skip("no bad request got an error status (ERROR-001..006 report it)")
    return found


def error_object(reply: Reply) -> Any:
    try:
        data = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        return MISSING
    return data.get("error", MISSING) if isinstance(data, dict) else MISSING


@requirement("ERROR-009", MUST)
def test_error_body_shape(api, model):
    c = Collector()
    for bad, reply in error_replies(api, model):
        at = f"[{bad.name}: HTTP {reply.status}]"
        try:
            data = reply.json(f"the error body ({bad.name})")
        except ConformanceFailure:
            c.add(f"at: {at} body\nReceived: {show(reply.body[:500])} (Content-Type: "
                  f"{reply.content_type or '(none)'})\nExpected: a JSON ErrorResponse: "
                  '{"error": {"message", "type", "param", "code"}}')
            continue
        c.extend_violations(Schemas.load().check("ErrorResponse", data, f"{at} $"),
                            'an ErrorResponse: {"error": {"message": string, "type": string, "param": string|null, '
                            '"code": string|null}}')
    c.raise_if_any("error replies do not carry the spec's error body")


@requirement("ERROR-010", MUST)
def test_error_code_is_string_or_null(api, model):
    c = Collector()
    seen = 0
    for bad, reply in error_replies(api, model):
        error = error_object(reply)
        if not isinstance(error, dict) or "code" not in error:
            continue  # ERROR-009 reports the shape
        seen += 1
        c.check(error["code"] is None or isinstance(error["code"], str), f"[{bad.name}] $.error.code",
                error["code"], 'a string (e.g. "invalid_value") or null, not the HTTP status as a number')
    if not seen:
        pytest.skip("no error body with an error.code to check (ERROR-009 reports the shape)")
    c.raise_if_any()


@requirement("ERROR-011", SHOULD)
def test_error_param_names_the_field(api, model):
    c = Collector()
    for bad, reply in error_replies(api, model):
        error = error_object(reply)
        param = error.get("param") if isinstance(error, dict) else None
        if bad.field is None or not isinstance(param, str) or not param.strip():
            continue  # no field at fault, or the server names none: nothing to judge
        c.check(bad.field in param, f"[{bad.name}] $.error.param", param,
                f"null, or the parameter at fault: {bad.field!r} (or a path into it, like {bad.field + '[0]'!r})")
    c.raise_if_any()


@requirement("ERROR-012", SHOULD)
def test_error_body_is_bounded(api, model):
    parts = [{"type": "message", "role": "user", "content": [{"type": "input_bogus", "text": f"{i} " + "x" * 80}]}
             for i in range(100)]
    content = json.dumps({"model": model, "input": parts, "max_output_tokens": TRUNCATED_LIMIT}).encode()
    try:
        reply = api.request("POST", "responses", content=content, headers={"Content-Type": JSON, "Connection": "close"})
    except ConformanceFailure as exc:
        if "timeout" in str(exc) or "deadline" in str(exc):
            # A server that does not validate parts feeds them all to the model: slow, not an error body.
            pytest.skip(f"the request with 100 malformed parts was not rejected in time ({exc}); ERROR-003 "
                        "checks the rejection")
        raise
    if reply.status < 400:
        pytest.skip("the request with 100 malformed parts was not rejected (ERROR-003 reports it)")
    limit = 4 * len(content) + 64 * 1024
    size = len(reply.body)
    check(not reply.truncated and size <= limit, "error body size",
          f"{'more than ' if reply.truncated else ''}{size} bytes for a {len(content)}-byte request",
          f"at most {limit} bytes (4 x the request + 64 KiB): the error need not echo each bad part many times")
