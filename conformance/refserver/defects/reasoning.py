"""Planted defects of the 'reasoning' area: reasoning items out, and handed back in."""

from __future__ import annotations

import itertools

from conformance.refserver.defects import defect
from conformance.refserver.engine import ApiError


def _input(body: object) -> list:
    items = body.get("input") if isinstance(body, dict) else None
    return items if isinstance(items, list) else []


@defect("reasoning-summary-missing", targets=["REASON-ITEM-001"],
        modelled_on="LiteLLM 1.108 Responses->Chat bridge: reasoning items without `summary`")
class ReasoningSummaryMissing:
    """Reasoning items have no summary field."""

    def response(ctx, resp):
        for item in resp["output"]:
            if item["type"] == "reasoning":
                item.pop("summary", None)
        return resp


@defect("reasoning-content-typed-output-text", targets=["REASON-ITEM-002"],
        modelled_on="LiteLLM 1.108 Responses->Chat bridge: reasoning content parts typed output_text")
class ReasoningContentTypedOutputText:
    """A reasoning item's content parts are typed output_text instead of reasoning_text."""

    def response(ctx, resp):
        for item in resp["output"]:
            if item["type"] == "reasoning":
                item["content"] = [{"type": "output_text", "text": p["text"], "annotations": []}
                                   for p in item.get("content") or []]
        return resp


@defect("think-tags-in-answer", targets=["REASON-LEAK-001"],
        modelled_on="vLLM/SGLang serving a reasoning model without --reasoning-parser: <think>...</think> in the "
        "answer")
class ThinkTagsInAnswer:
    """The reasoning is left in the answer between <think> tags (no reasoning item)."""

    def plan(ctx, plan):
        if plan.reasoning is not None and plan.text:
            plan.text = f"<think>\n{plan.reasoning}\n</think>\n\n{plan.text}"
            plan.reasoning = None
        return plan


@defect("reasoning-repeated-in-answer", targets=["REASON-LEAK-002"],
        modelled_on="reasoning parsers that extract reasoning_content but leave it in content too (DeepSeek-R1 "
        "templates opening <think> in the prompt)")
class ReasoningRepeatedInAnswer:
    """The answer's text starts with the reasoning text, which is also in the reasoning item."""

    def plan(ctx, plan):
        if plan.reasoning is not None and plan.text:
            plan.text = f"{plan.reasoning}\n\n{plan.text}"
        return plan


@defect("reasoning-tokens-zero", targets=["REASON-USAGE-001"],
        modelled_on="transformers serve 5.24, Llama Stack 0.7, LiteLLM bridge; vLLM #43395: reasoning_tokens 0")
class ReasoningTokensZero:
    """usage.output_tokens_details.reasoning_tokens is 0 although reasoning text is returned."""

    def response(ctx, resp):
        if resp.get("usage"):
            resp["usage"]["output_tokens_details"]["reasoning_tokens"] = 0
        return resp


@defect("summary-only-reasoning-crashes", targets=["REASON-TURN-001"],
        modelled_on="vLLM harmony.py (assert len(content) == 1, notes #39); TensorRT-LLM #17738: 5xx on a "
        "reasoning input item without content")
class SummaryOnlyReasoningCrashes:
    """A reasoning input item without content makes the server fail (500)."""

    def context(ctx, item, where):
        if item.get("type") == "reasoning":
            assert len(item["content"]) == 1  # KeyError on a summary-only item: a 500, as in the original
        return item


@defect("encrypted-reasoning-input-rejected", targets=["REASON-TURN-001"],
        modelled_on="vLLM responses/utils.py: ValueError(\"Encrypted content is not supported.\") -> 400 (notes #23)")
class EncryptedReasoningInputRejected:
    """A reasoning input item carrying encrypted_content is rejected with 400."""

    def request(ctx, body):
        for i, item in enumerate(_input(body)):
            if isinstance(item, dict) and item.get("type") == "reasoning" and item.get("encrypted_content"):
                raise ApiError(400, "Encrypted content is not supported.", f"input[{i}].encrypted_content")
        return body


@defect("encrypted-content-not-returned", targets=["REASON-ENC-001"],
        modelled_on="vLLM mainline (notes #23), transformers serve, LiteLLM: include reasoning.encrypted_content "
        "accepted and ignored")
class EncryptedContentNotReturned:
    """include: ["reasoning.encrypted_content"] is accepted but no encrypted_content is returned."""

    def response(ctx, resp):
        for item in resp["output"]:
            item.pop("encrypted_content", None)
        return resp


@defect("replayed-message-without-id-rejected", targets=["REASON-TURN-002"],
        modelled_on="vLLM before PR #35508 / test_replayed_input_items.py: replayed items without id/status -> 400")
class ReplayedMessageWithoutIdRejected:
    """An assistant message handed back without id (or status) is rejected with 400."""

    def request(ctx, body):
        for i, item in enumerate(_input(body)):
            if isinstance(item, dict) and item.get("role") == "assistant" and isinstance(item.get("content"), list):
                for key in ("id", "status"):
                    if key not in item:
                        raise ApiError(400, f"1 validation error: input[{i}].{key} Field required", f"input[{i}].{key}")
        return body


@defect("history-ignored", targets=["REASON-CTX-001"],
        modelled_on="SGLang serving_responses (notes #44), mlx-vlm: only the last user message reaches the model")
class HistoryIgnored:
    """Only the last user message of the input reaches the model; earlier turns are dropped."""

    def request(ctx, body):
        items = _input(body)
        users = [it for it in items if isinstance(it, dict) and it.get("role") == "user"]
        if users and len(items) > 1:
            body["input"] = [users[-1]]
        return body


@defect("trailing-reasoning-dropped", targets=["REASON-CTX-002"],
        modelled_on="transformers serve 5.24: a reasoning item is attached to the next assistant message, so one "
        "ending the input is silently dropped")
class TrailingReasoningDropped:
    """Reasoning items at the end of the input (after the last message) are silently dropped."""

    def request(ctx, body):
        items = _input(body)
        while items and isinstance(items[-1], dict) and items[-1].get("type") == "reasoning":
            items.pop()
        return body


# -- one defect per way of handing reasoning back (REASON-TURN-001's variants) --------------------


@defect("trailing-reasoning-item-crashes", targets=["REASON-TURN-001"],
        modelled_on="vLLM responses/utils.py merges a reasoning input item into the assistant message after it; "
        "with none after it the lookup fails: 500 'list index out of range' (the class of ERROR-008's vLLM 500)")
class TrailingReasoningItemCrashes:
    """An input whose last item is a reasoning item (no message after it) makes the server fail (500)."""

    def request(ctx, body):
        items = _input(body)
        if items and isinstance(items[-1], dict) and items[-1].get("type") == "reasoning":
            raise ApiError(500, "list index out of range", None, None, "server_error")
        return body


@defect("second-reasoning-item-rejected", targets=["REASON-TURN-001"],
        modelled_on="chat-template bridges that keep one reasoning_content per conversation (the last assistant "
        "turn's) and reject a history holding reasoning from two turns")
class SecondReasoningItemRejected:
    """A history with reasoning items from two turns (separated by a message) is rejected with 400."""

    def request(ctx, body):
        kinds = [it.get("type") for it in _input(body) if isinstance(it, dict)]
        turns = [i for i, k in enumerate(kinds) if k == "reasoning" and (i == 0 or kinds[i - 1] != "reasoning")]
        if len(turns) > 1:
            raise ApiError(400, "Only one reasoning turn is supported in the conversation history.", "input")
        return body


@defect("reasoning-before-function-call-crashes", targets=["REASON-TURN-001"],
        modelled_on="vLLM harmony.py: a reasoning input item is attached to the assistant message that follows; "
        "a function_call in its place crashes the conversion (500), as in vLLM #39 / TensorRT-LLM #17738")
class ReasoningBeforeFunctionCallCrashes:
    """A reasoning input item followed by a function_call item (not a message) makes the server fail (500)."""

    def request(ctx, body):
        items = [it for it in _input(body) if isinstance(it, dict)]
        for this, after in itertools.pairwise(items):
            if this.get("type") == "reasoning" and after.get("type") == "function_call":
                raise ApiError(500, "'NoneType' object has no attribute 'content'", None, None, "server_error")
        return body


@defect("developer-role-rejected", targets=["REASON-TURN-001"],
        modelled_on="chat templates and bridges without a developer role (Chat Completions' older roles only): "
        "400 'Invalid role developer'")
class DeveloperRoleRejected:
    """An input message with role developer is rejected with 400."""

    def request(ctx, body):
        for i, item in enumerate(_input(body)):
            if isinstance(item, dict) and item.get("role") == "developer":
                raise ApiError(400, "Invalid role 'developer': expected one of user, assistant, system.",
                               f"input[{i}].role")
        return body
