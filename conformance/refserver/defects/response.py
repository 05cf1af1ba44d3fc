"""Planted defects of the 'response' area: the response object's fields, echo and usage."""

from __future__ import annotations

import time
import uuid

from conformance.refserver.defects import defect


def _req(ctx) -> dict:
    return ctx.body if isinstance(ctx.body, dict) else {}


@defect("response-status-never-incomplete", targets=["RESP-OBJECT-008"],
        modelled_on="vLLM #24184 (max_output_tokens hit -> status completed, incomplete_details null)")
class StatusNeverIncomplete:
    """Output cut short by max_output_tokens is reported as completed."""

    def response(ctx, resp):
        if resp["status"] == "incomplete":
            resp.update(status="completed", incomplete_details=None, completed_at=int(time.time()))
        return resp


@defect("response-without-error-key", targets=["RESP-OBJECT-009", "RESP-OBJECT-001"],
        modelled_on="vLLM protocol.py ResponsesResponse: the `error` field is commented out (catalogue #33)")
class WithoutErrorKey:
    """The response object has no `error` key at all."""

    def response(ctx, resp):
        resp.pop("error", None)
        return resp


@defect("response-computed-max-output-tokens", targets=["RESP-OBJECT-013"],
        modelled_on="vLLM ResponsesResponse.from_request echoes sampling_params.max_tokens (catalogue #34)")
class ComputedMaxOutputTokens:
    """When the request omits max_output_tokens, the response reports context length minus prompt."""

    def response(ctx, resp):
        if _req(ctx).get("max_output_tokens") is None:
            resp["max_output_tokens"] = 32768 - (resp.get("usage") or {}).get("input_tokens", 0)
        return resp


@defect("response-created-at-milliseconds", targets=["RESP-OBJECT-005"],
        modelled_on="JavaScript servers using Date.now() (milliseconds) for created_at")
class CreatedAtMilliseconds:
    """created_at is a float in milliseconds since the epoch."""

    def response(ctx, resp):
        resp["created_at"] = time.time() * 1000
        return resp


@defect("response-completed-at-on-incomplete", targets=["RESP-OBJECT-005"],
        modelled_on="servers stamping completed_at whenever generation stops, whatever the status")
class CompletedAtOnIncomplete:
    """completed_at is set on an incomplete response too."""

    def response(ctx, resp):
        if resp["completed_at"] is None:
            resp["completed_at"] = int(time.time())
        return resp


@defect("usage-chat-completions-names", targets=["RESP-OBJECT-016", "RESP-OBJECT-001"],
        modelled_on="sgl-project/sglang#10012 (prompt_tokens/completion_tokens names, catalogue #42)")
class UsageChatNames:
    """usage uses chat-completions names (prompt_tokens, completion_tokens)."""

    def response(ctx, resp):
        u = resp.get("usage")
        if u:
            resp["usage"] = {"prompt_tokens": u["input_tokens"], "completion_tokens": u["output_tokens"],
                             "total_tokens": u["output_tokens"]}
        return resp


@defect("usage-total-is-output", targets=["RESP-OBJECT-017"],
        modelled_on="sgl-project/sglang#10012 (total_tokens == completion tokens, catalogue #42)")
class UsageTotalIsOutput:
    """usage.total_tokens counts the output tokens only."""

    def response(ctx, resp):
        if resp.get("usage"):
            resp["usage"]["total_tokens"] = resp["usage"]["output_tokens"]
        return resp


@defect("usage-null", targets=["RESP-OBJECT-015"],
        modelled_on="chat-completions bridges that drop usage (vLLM streams usage only on response.completed)")
class UsageNull:
    """A finished response reports usage: null."""

    def response(ctx, resp):
        resp["usage"] = None
        return resp


@defect("response-id-without-prefix", targets=["RESP-OBJECT-003"],
        modelled_on="vLLM: the response id is the client's request_id, any string (bare uuid)")
class IdWithoutPrefix:
    """The response id is a bare uuid, without the resp_ prefix."""

    def response(ctx, resp):
        resp["id"] = str(uuid.uuid4())
        return resp


@defect("response-id-empty", targets=["RESP-OBJECT-002"],
        modelled_on="vLLM before PR #24788: empty ids in stream objects (catalogue #8)")
class IdEmpty:
    """The response id is an empty string."""

    def response(ctx, resp):
        resp["id"] = ""
        return resp


@defect("response-object-chat-completion", targets=["RESP-OBJECT-004"],
        modelled_on="chat-completions bridges that keep object: chat.completion")
class ObjectChatCompletion:
    """object is "chat.completion" instead of "response"."""

    def response(ctx, resp):
        resp["object"] = "chat.completion"
        return resp


@defect("response-returned-in-progress", targets=["RESP-OBJECT-006"],
        modelled_on="servers answering a synchronous create with the creation snapshot (status in_progress)")
class ReturnedInProgress:
    """A synchronous (non-background) reply says status in_progress though the output is final."""

    def json_reply(ctx, resp):
        resp.update(status="in_progress", completed_at=None, incomplete_details=None)
        return resp


@defect("item-left-in-progress", targets=["RESP-OBJECT-007"],
        modelled_on="vLLM #57998 (item status does not follow the response status); "
        "output_item.added status copied into the final output")
class ItemLeftInProgress:
    """The last output item of a finished response is still in_progress."""

    def response(ctx, resp):
        if resp["output"]:
            resp["output"][-1]["status"] = "in_progress"
        return resp


@defect("incomplete-without-details", targets=["RESP-OBJECT-010", "RESP-OBJECT-008"],
        modelled_on="servers that set status incomplete but never fill incomplete_details (SGLang, llama.cpp)")
class IncompleteWithoutDetails:
    """An incomplete response has incomplete_details: null."""

    def response(ctx, resp):
        if resp["status"] == "incomplete":
            resp["incomplete_details"] = None
        return resp


@defect("response-without-incomplete-details-key", targets=["RESP-OBJECT-010", "RESP-OBJECT-001"],
        modelled_on="catalogue #33 pattern: nullable required keys left out instead of null")
class WithoutIncompleteDetailsKey:
    """The response object has no `incomplete_details` key when it completed."""

    def response(ctx, resp):
        if resp["incomplete_details"] is None:
            del resp["incomplete_details"]
        return resp


@defect("response-model-null", targets=["RESP-OBJECT-011", "RESP-OBJECT-001"],
        modelled_on="servers that echo the request's optional model field (null when the request omits it)")
class ModelNull:
    """The response's model is null."""

    def response(ctx, resp):
        resp["model"] = None
        return resp


@defect("echo-sampling-defaults", targets=["RESP-OBJECT-012"],
        modelled_on="servers building the echo from their defaults, not the request (vLLM echoes effective values)")
class EchoSamplingDefaults:
    """temperature and top_p are echoed as 1.0 whatever the request set."""

    def response(ctx, resp):
        resp["temperature"] = 1.0
        resp["top_p"] = 1.0
        return resp


@defect("echo-drops-metadata-and-instructions", targets=["RESP-OBJECT-012"],
        modelled_on="chat-completions bridges that drop Responses-only fields (LiteLLM bridge mode)")
class EchoDropsMetadata:
    """metadata and instructions set in the request come back empty."""

    def response(ctx, resp):
        resp["metadata"] = {}
        resp["instructions"] = None
        return resp


@defect("echo-store-always-true", targets=["RESP-OBJECT-014"],
        modelled_on="servers echoing the default store: true after ignoring the request's store: false")
class EchoStoreAlwaysTrue:
    """store is echoed as true even when the request set store: false."""

    def response(ctx, resp):
        resp["store"] = True
        return resp


@defect("echo-reasoning-effort-default", targets=["RESP-OBJECT-014"],
        modelled_on="servers that report their default reasoning effort, not the request's")
class EchoReasoningEffortDefault:
    """reasoning.effort is echoed as "medium" whatever the request set."""

    def response(ctx, resp):
        if isinstance(resp.get("reasoning"), dict):
            resp["reasoning"]["effort"] = "medium"
        return resp
