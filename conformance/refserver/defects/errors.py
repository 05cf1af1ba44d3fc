"""Planted defects of the 'errors' area: how bad requests are answered."""

from __future__ import annotations

import json

from conformance.refserver import engine
from conformance.refserver.defects import defect

KNOWN_ITEMS = ("message", "reasoning", "function_call", "function_call_output")


def _create(ctx) -> bool:
    return ctx.method == "POST" and ctx.path.rstrip("/") == "/v1/responses"


def _error(body: bytes) -> dict | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else None


def _items(body) -> list:
    items = body.get("input") if isinstance(body, dict) else None
    return [it for it in items if isinstance(it, dict)] if isinstance(items, list) else []


def _crash(what: str) -> Exception:
    return KeyError(what)  # an uncaught exception: the server answers 500, as a real one would


@defect("malformed-json-500", targets=["ERROR-001"],
        modelled_on="servers calling json.loads / body['model'] on the raw body with no handler (500 on bad JSON)")
class MalformedJson500:
    """A body that is not JSON, or not a JSON object, crashes the handler: 500."""

    def reply(ctx, value):
        status, _, body = value
        error = _error(body) or {}
        unparsed = ctx.body is None and "parse the JSON" in str(error.get("message"))
        if _create(ctx) and status == 400 and (unparsed or (ctx.body is not None and not isinstance(ctx.body, dict))):
            return 500, {"Content-Type": "application/json"}, json.dumps(
                {"error": {"message": "Internal Server Error", "type": "server_error", "param": None,
                           "code": None}}).encode()
        return value


# Parameter -> the types it may have; values of another type are dropped before validation.
TYPES = {"model": (str,), "input": (str, list), "instructions": (str, list), "max_output_tokens": (int,),
         "temperature": (int, float), "top_p": (int, float), "tools": (list,), "tool_choice": (str, dict),
         "metadata": (dict,), "stream": (bool,), "store": (bool,), "parallel_tool_calls": (bool,),
         "text": (dict,), "reasoning": (dict,)}


@defect("wrong-types-ignored", targets=["ERROR-002"],
        modelled_on="servers that silently drop parameters they cannot use instead of rejecting the request")
class WrongTypesIgnored:
    """A parameter of the wrong type is silently ignored: the request is served (200)."""

    def request(ctx, body):
        if isinstance(body, dict):
            for key, types in TYPES.items():
                value = body.get(key)
                if value is not None and key != "model" and (not isinstance(value, types) or (
                        isinstance(value, bool) and bool not in types)):
                    del body[key]
            if isinstance(body.get("input"), list):
                body["input"] = [it for it in body["input"] if isinstance(it, dict)]
        return body


@defect("error-status-200", targets=["ERROR-001", "ERROR-002", "ERROR-003", "ERROR-004", "ERROR-005",
                                     "ERROR-006", "ERROR-007", "ERROR-008"],
        modelled_on="gateways that wrap upstream errors in a 200 reply with an error body")
class ErrorStatus200:
    """Bad requests are answered 200 with the error object as the body."""

    def reply(ctx, value):
        status, headers, body = value
        return (200, headers, body) if _create(ctx) and 400 <= status < 500 else value


@defect("odd-input-items-500", targets=["ERROR-003", "ERROR-008"],
        modelled_on="vLLM before PR #55974: item_reference / computer_call_output / mcp_call -> 500 \"'role'\" "
        "(catalogue #13)")
class OddInputItems500:
    """Any input item type other than message, reasoning and function calls crashes the server: 500."""

    def request(ctx, body):
        for item in _items(body):
            if item.get("type", "message") not in KNOWN_ITEMS:
                raise _crash("role")
        return body


@defect("empty-assistant-content-500", targets=["ERROR-008"],
        modelled_on="vLLM PR #48237: replayed assistant message with content [] -> IndexError -> 500 (catalogue #12)")
class EmptyAssistantContent500:
    """An assistant message with empty content crashes the server: 500."""

    def request(ctx, body):
        for item in _items(body):
            if item.get("role") == "assistant" and item.get("content") == []:
                raise IndexError("list index out of range")
        return body


@defect("unknown-model-served", targets=["ERROR-004"],
        modelled_on="single-model servers that ignore the model field (llama.cpp llama-server serves any name)")
class UnknownModelServed:
    """A request for a model the server does not have is served by its default model."""

    def request(ctx, body):
        if isinstance(body, dict) and isinstance(body.get("model"), str) and body["model"] not in engine.MODELS:
            body["model"] = engine.DEFAULT_MODEL
        return body


@defect("missing-field-500", targets=["ERROR-005"],
        modelled_on="handlers indexing item['content'] / tool['name'] without validation (vLLM #12-style crashes)")
class MissingField500:
    """A message without content or a function tool without name crashes the server: 500."""

    def request(ctx, body):
        for item in _items(body):
            if item.get("type", "message") == "message" and "content" not in item:
                raise _crash("content")
            if item.get("type") == "function_call_output" and "output" not in item:
                raise _crash("output")
        for tool in (body.get("tools") if isinstance(body, dict) and isinstance(body.get("tools"), list) else []):
            if isinstance(tool, dict) and tool.get("type") == "function" and "name" not in tool:
                raise _crash("name")
        fmt = ((body.get("text") or {}) if isinstance(body, dict) and isinstance(body.get("text"), dict) else {})
        if isinstance(fmt.get("format"), dict) and fmt["format"].get("type") == "json_schema" \
                and "schema" not in fmt["format"]:
            raise _crash("schema")
        return body


@defect("out-of-range-clamped", targets=["ERROR-006"],
        modelled_on="servers that clamp sampling values into range instead of rejecting them")
class OutOfRangeClamped:
    """temperature, top_p and max_output_tokens outside their range are clamped and served."""

    def request(ctx, body):
        if isinstance(body, dict):
            for key, low, high in (("temperature", 0, 2), ("top_p", 0, 1), ("max_output_tokens", 16, None)):
                value = body.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    body[key] = max(low, value if high is None else min(high, value))
        return body


@defect("form-body-500", targets=["ERROR-007"],
        modelled_on="servers that parse every body as JSON whatever its Content-Type, and crash when it is not")
class FormBody500:
    """A body sent with a non-JSON Content-Type crashes the server: 500."""

    def reply(ctx, value):
        status, _, body = value
        if _create(ctx) and status == 400 and "content type" in str((_error(body) or {}).get("message")):
            return 500, {"Content-Type": "text/plain"}, b"Internal Server Error"
        return value


@defect("error-body-flat", targets=["ERROR-009"],
        modelled_on='vLLM before PR #22099: flat {"object": "error", "message", ...} body (#12886, catalogue #35)')
class ErrorBodyFlat:
    """Error bodies are flat: {"object": "error", "message", "type", "param", "code"}."""

    def reply(ctx, value):
        status, headers, body = value
        error = _error(body)
        if status >= 400 and error is not None:
            return status, headers, json.dumps({"object": "error", **error}).encode()
        return value


@defect("error-body-html", targets=["ERROR-009"],
        modelled_on="reverse proxies and web frameworks answering errors with an HTML page")
class ErrorBodyHtml:
    """Error replies are HTML pages, not JSON."""

    def reply(ctx, value):
        status = value[0]
        if status >= 400:
            page = f"<html><head><title>{status}</title></head><body><h1>{status} Bad Request</h1></body></html>"
            return status, {"Content-Type": "text/html"}, page.encode()
        return value


@defect("error-code-integer", targets=["ERROR-010"],
        modelled_on="vLLM ErrorInfo: error.code is the HTTP status as an integer (PR #37011, catalogue #36)")
class ErrorCodeInteger:
    """error.code is the HTTP status as a number."""

    def reply(ctx, value):
        status, headers, body = value
        error = _error(body)
        if status >= 400 and error is not None:
            return status, headers, json.dumps({"error": {**error, "code": status}}).encode()
        return value


@defect("error-param-body", targets=["ERROR-011"],
        modelled_on="FastAPI validation errors mapped to param = loc[0] ('body') instead of the field")
class ErrorParamBody:
    """error.param is "body" whatever field was at fault."""

    def reply(ctx, value):
        status, headers, body = value
        error = _error(body)
        if status >= 400 and error is not None:
            return status, headers, json.dumps({"error": {**error, "param": "body"}}).encode()
        return value


@defect("error-body-huge", targets=["ERROR-012"],
        modelled_on="vLLM #49239: pydantic errors echo the input once per union variant (bodies > 100 MB)")
class ErrorBodyHuge:
    """A validation error echoes every input item once per input item variant."""

    def reply(ctx, value):
        status, headers, body = value
        error = _error(body)
        items = _items(ctx.body)
        if status == 400 and error is not None and len(items) > 1:
            details = [{"loc": ["body", "input", i, variant], "msg": "Input should be a valid item", "input": item}
                       for i, item in enumerate(items) for variant in range(25)]
            return status, headers, json.dumps({"error": {**error, "message": json.dumps(details)}}).encode()
        return value


@defect("assistant-refusal-part-crashes", targets=["ERROR-008"],
        modelled_on="Responses->Chat bridges that read part['text'] from every assistant content part: a refusal "
        "part (which has `refusal`, not `text`) raises KeyError, a 500")
class AssistantRefusalPartCrashes:
    """An assistant input message with a refusal content part makes the server fail (500)."""

    def request(ctx, body):
        items = body.get("input") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            parts = item.get("content") if isinstance(item, dict) and item.get("role") == "assistant" else None
            if isinstance(parts, list) and any(isinstance(p, dict) and p.get("type") == "refusal" for p in parts):
                raise engine.ApiError(500, "KeyError: 'text'", None, None, "server_error")
        return body
