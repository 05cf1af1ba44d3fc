"""Planted defects of the seed scenario (reasoning items across turns)."""

from __future__ import annotations

from conformance.refserver.defects import defect
from conformance.refserver.engine import ApiError


@defect("reasoning-not-surfaced", targets=["SEED-001"],
        modelled_on="vLLM #43395 (gemma4 parser: no reasoning item on /v1/responses)")
class ReasoningNotSurfaced:
    """A reasoning model's thinking is not returned as a reasoning item."""

    def response(ctx, resp):
        resp["output"] = [it for it in resp["output"] if it["type"] != "reasoning"]
        return resp


@defect("reasoning-input-rejected", targets=["SEED-002", "SEED-004"],
        modelled_on="responses.js c0ac6ee (400 on any reasoning input item); vLLM before PR #28248")
class ReasoningInputRejected:
    """Any reasoning item in the input is rejected with 400."""

    def request(ctx, body):
        for i, item in enumerate(body.get("input") or [] if isinstance(body, dict) else []):
            if isinstance(item, dict) and item.get("type") == "reasoning":
                raise ApiError(400, f"Invalid input[{i}]: unsupported item type 'reasoning'.", f"input[{i}]")
        return body


@defect("empty-answer-after-reasoning-input", targets=["SEED-003"],
        modelled_on="transformers serve / vLLM: reasoning attached to the next assistant turn, "
        "answer lost when history ends with a reasoning item")
class EmptyAnswerAfterReasoningInput:
    """When the input holds a reasoning item, the answer message has empty text."""

    def response(ctx, resp):
        body = ctx.body if isinstance(ctx.body, dict) else {}
        items = body.get("input") if isinstance(body.get("input"), list) else []
        if any(isinstance(it, dict) and it.get("type") == "reasoning" for it in items):
            for item in resp["output"]:
                if item["type"] == "message":
                    for part in item["content"]:
                        part["text"] = ""
        return resp


@defect("stream-by-default", targets=["SEED-004"],
        modelled_on="transformers serve 5.24 (`body.get(\"stream\", True)` in cli/serving/response.py): "
        "the SDK's responses.create() without stream gets SSE text")
class StreamByDefault:
    """A request that does not set `stream` is answered with an event stream instead of JSON."""

    def request(ctx, body):
        if isinstance(body, dict) and "stream" not in body:
            body = {**body, "stream": True}
        return body


@defect("reasoning-item-chat-shape", targets=["SEED-001"],
        modelled_on="LiteLLM 1.108.7 Responses->Chat bridge: reasoning item without `summary`, its text in a "
        "content part typed `output_text` (peer run, docs/compatibility.md)")
class ReasoningItemChatShape:
    """Reasoning items lack `summary` and carry their text as an `output_text` content part."""

    def response(ctx, resp):
        for item in resp["output"]:
            if item["type"] == "reasoning":
                item.pop("summary", None)
                item["content"] = [{"type": "output_text", "text": "".join(
                    p.get("text", "") for p in item.get("content") or [])}]
        return resp


@defect("response-without-output", targets=["SEED-001", "SEED-003", "SEED-004"],
        modelled_on="a server that streams its output and leaves the final object's `output` out (or a "
        "gateway dropping empty-looking fields): a required property of Response is absent")
class ResponseWithoutOutput:
    """The response object lacks `output` (JSON replies, stream events, stored copies)."""

    def response(ctx, resp):
        resp.pop("output", None)
        return resp
