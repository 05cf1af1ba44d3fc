"""Planted defects of the 'items' area: the items of a response's output."""

from __future__ import annotations

import json

from conformance.refserver.defects import defect


def _parts(resp):
    for item in resp["output"]:
        if item["type"] == "message":
            yield from item["content"]


@defect("item-ids-repeated", targets=["OUTPUT-ITEM-003"],
        modelled_on="servers numbering items per response (msg_0, rs_0...) or reusing one id for every item")
class ItemIdsRepeated:
    """Every output item has the same id, in every response."""

    def response(ctx, resp):
        for item in resp["output"]:
            item["id"] = "item_0"
        return resp


@defect("item-ids-empty", targets=["OUTPUT-ITEM-003"],
        modelled_on='vLLM before PR #24788: items with id "" (catalogue #8)')
class ItemIdsEmpty:
    """Output items have empty ids."""

    def response(ctx, resp):
        for item in resp["output"]:
            item["id"] = ""
        return resp


@defect("message-part-typed-text", targets=["OUTPUT-ITEM-004", "OUTPUT-ITEM-001"],
        modelled_on='chat-completions bridges emitting content parts {"type": "text"}')
class MessagePartTypedText:
    """Message content parts are typed "text" instead of "output_text"."""

    def response(ctx, resp):
        for part in _parts(resp):
            part["type"] = "text"
        return resp


@defect("output-text-without-annotations", targets=["OUTPUT-ITEM-005"],
        modelled_on="servers that leave out empty arrays (annotations omitted when there are none)")
class OutputTextWithoutAnnotations:
    """output_text parts have no annotations array."""

    def response(ctx, resp):
        for part in _parts(resp):
            part.pop("annotations", None)
        return resp


@defect("output-text-without-logprobs", targets=["OUTPUT-ITEM-005"],
        modelled_on="vLLM: logprobs set on output_text only when message.output_text.logprobs is included")
class OutputTextWithoutLogprobs:
    """output_text parts have no logprobs array unless logprobs were asked for."""

    def response(ctx, resp):
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if "message.output_text.logprobs" not in (body.get("include") or []):
            for part in _parts(resp):
                part.pop("logprobs", None)
        return resp


@defect("reasoning-status-null", targets=["OUTPUT-ITEM-006"],
        modelled_on='vLLM abstract_parser.py: reasoning items get status None ("only the last output item has '
        'status"); Harmony function_call status null (#46940)')
class ReasoningStatusNull:
    """Reasoning items carry status: null."""

    def response(ctx, resp):
        for item in resp["output"]:
            if item["type"] == "reasoning":
                item["status"] = None
        return resp


@defect("reasoning-item-typed-thinking", targets=["OUTPUT-ITEM-002"],
        modelled_on='proxies that pass another vendor\'s item through ("thinking" blocks) as an output item')
class ReasoningTypedThinking:
    """Reasoning items are typed "thinking", a type the spec does not define."""

    def response(ctx, resp):
        for item in resp["output"]:
            if item["type"] == "reasoning":
                item["type"] = "thinking"
        return resp


@defect("function-call-arguments-object", targets=["OUTPUT-ITEM-007"],
        modelled_on="bridges from APIs whose tool-call arguments are objects (Ollama's native tool_calls)")
class FunctionCallArgumentsObject:
    """function_call arguments are a JSON object, not a string."""

    def response(ctx, resp):
        for item in resp["output"]:
            if item["type"] == "function_call":
                item["arguments"] = json.loads(item["arguments"])
        return resp


@defect("function-call-null-fields", targets=["OUTPUT-ITEM-007"],
        modelled_on="vLLM 0.32.0: function_call items carry `namespace: null` (the SDK's model serialised "
        "without dropping None; peer run, docs/compatibility.md)")
class FunctionCallNullFields:
    """function_call items carry `namespace: null`, which FunctionToolCall allows only as a string or absent."""

    def response(ctx, resp):
        for item in resp["output"]:
            if item["type"] == "function_call":
                item["namespace"] = None
        return resp
