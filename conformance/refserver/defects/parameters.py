"""Planted defects of the 'parameters' area: parameters accepted (and echoed) but without their effect."""

from __future__ import annotations

import json
import time

from conformance.refserver.defects import defect
from conformance.refserver.engine import ApiError, text_of_content

# What vLLM's `include` Literal accepts (protocol.py @c0bc596): newer documented values are 400.
VLLM_INCLUDE = {"code_interpreter_call.outputs", "computer_call_output.output.image_url", "file_search_call.results",
                "message.input_image.image_url", "message.output_text.logprobs", "reasoning.encrypted_content"}


def _body(ctx) -> dict:
    return ctx.body if isinstance(ctx.body, dict) else {}


def _swap(body, ctx, key: str, applies, replacement) -> dict:
    """Replace a request parameter before the engine sees it, remembering what the client sent (to echo it)."""
    if isinstance(body, dict) and key in body and applies(body[key]):
        ctx.state[key] = body[key]
        body = {**body}
        if replacement is _DROP:
            del body[key]
        else:
            body[key] = replacement
    return body


def _echo(ctx, resp, key: str) -> dict:
    if key in ctx.state:
        resp[key] = ctx.state[key]
    return resp


_DROP = object()


@defect("truncation-reported-completed", targets=["PARAM-MAXTOK-001", "PARAM-MAXTOK-004"],
        modelled_on="vLLM #24184 (max_output_tokens cut reported as status completed, incomplete_details null); "
        "SGLang serving_responses.py (status always completed, §3 #44)")
class TruncationReportedCompleted:
    """An output cut by max_output_tokens is reported as status completed, incomplete_details null."""

    def response(ctx, resp):
        if resp.get("status") == "incomplete":
            resp.update(status="completed", incomplete_details=None, completed_at=int(time.time()))
        return resp


@defect("stream-truncation-reported-completed", targets=["PARAM-MAXTOK-004"],
        modelled_on="vllm-project/agentic-api#273 (the stream of an incomplete response ends with response.completed)")
class StreamTruncationReportedCompleted:
    """A streamed response cut by max_output_tokens ends with response.completed saying status completed."""

    def events(ctx, events):
        for ev in events:
            if ev.get("type") == "response.incomplete":
                ev["type"] = "response.completed"
                ev["response"] = {**ev["response"], "status": "completed", "incomplete_details": None}
        return events


@defect("limit-excludes-reasoning", targets=["PARAM-MAXTOK-002"],
        modelled_on="bridges that map max_output_tokens to the answer's max_tokens with a separate thinking budget; "
        "the spec counts reasoning tokens in the limit")
class LimitExcludesReasoning:
    """max_output_tokens bounds only the answer: reasoning tokens come on top, usage exceeds the limit."""

    def request(ctx, body):
        limit = body.get("max_output_tokens") if isinstance(body, dict) else None
        if isinstance(limit, int) and not isinstance(limit, bool):
            ctx.state["max_output_tokens"] = limit
            body = {**body, "max_output_tokens": limit + 40}  # the thinking budget on top
        return body

    def response(ctx, resp):
        return _echo(ctx, resp, "max_output_tokens")


@defect("truncated-item-completed", targets=["PARAM-MAXTOK-003"],
        modelled_on="vLLM #57998 (message and function_call items say completed inside an incomplete response)")
class TruncatedItemCompleted:
    """Inside a response cut by max_output_tokens, the cut item still says status completed."""

    def response(ctx, resp):
        if resp.get("status") == "incomplete":
            for item in resp.get("output", []):
                if "status" in item:
                    item["status"] = "completed"
        return resp


@defect("instructions-not-echoed", targets=["PARAM-INSTR-001"],
        modelled_on="echo gaps of Responses bridges (vLLM from_request echoes computed values, §3 #34)")
class InstructionsNotEchoed:
    """The response's instructions field is null although the request gave instructions."""

    def response(ctx, resp):
        resp["instructions"] = None
        return resp


@defect("instructions-ignored", targets=["PARAM-INSTR-002"],
        modelled_on="vLLM Harmony path: new instructions ignored with previous_response_id (FIXME in serving.py, "
        "notes §1.7)")
class InstructionsIgnored:
    """instructions are echoed but never reach the model (input tokens do not change)."""

    def request(ctx, body):
        return _swap(body, ctx, "instructions", lambda v: v is not None, _DROP)

    def response(ctx, resp):
        return _echo(ctx, resp, "instructions")


def _previous(ctx) -> dict:
    prev = _body(ctx).get("previous_response_id")
    with ctx.server.lock:
        return dict(ctx.server.responses.get(prev) or {}) if isinstance(prev, str) else {}


@defect("instructions-carried-over", targets=["PARAM-INSTR-003"],
        modelled_on="vLLM #37697 -> PR #37727 (the previous response's instructions leak into the next prompt)")
class InstructionsCarriedOver:
    """previous_response_id brings the previous response's instructions back into the model's context."""

    def context(ctx, item, where):
        old = _previous(ctx).get("instructions")
        if where == "previous[0]" and isinstance(old, str) and item.get("type", "message") == "message":
            return {**item, "content": f"{old} {text_of_content(item.get('content'))}"}
        return item


@defect("instructions-echo-carried-over", targets=["PARAM-INSTR-003"],
        modelled_on="vLLM #37697 (a continuation reports the previous response's instructions as its own)")
class InstructionsEchoCarriedOver:
    """A continuation without instructions echoes the previous response's instructions."""

    def response(ctx, resp):
        if _body(ctx).get("instructions") is None and _previous(ctx).get("instructions") is not None:
            resp["instructions"] = _previous(ctx)["instructions"]
        return resp


def _format(ctx) -> str | None:
    fmt = (_body(ctx).get("text") or {}).get("format") if isinstance(_body(ctx).get("text"), dict) else None
    return fmt.get("type") if isinstance(fmt, dict) else None


@defect("json-schema-fenced", targets=["PARAM-JSON-001"],
        modelled_on="servers without constrained decoding (chat bridges, vLLM without a structured-output backend): "
        "the model answers JSON inside a Markdown code fence")
class JsonSchemaFenced:
    """With text.format json_schema the JSON comes wrapped in a ```json Markdown fence."""

    def plan(ctx, plan):
        if _format(ctx) == "json_schema" and plan.text is not None:
            plan.text = f"```json\n{plan.text}\n```"
        return plan


@defect("json-schema-not-enforced", targets=["PARAM-JSON-001"],
        modelled_on="json_schema passed to the model as a prompt hint only (no constrained decoding): JSON that "
        "misses required keys")
class JsonSchemaNotEnforced:
    """With text.format json_schema the JSON lacks a required property of the schema."""

    def plan(ctx, plan):
        if _format(ctx) == "json_schema" and plan.text is not None:
            value = json.loads(plan.text)
            if isinstance(value, dict) and value:
                value.pop(sorted(value)[0])
            plan.text = json.dumps(value)
        return plan


@defect("json-object-ignored", targets=["PARAM-JSON-002"],
        modelled_on="vLLM PR #47831 (text.format json_object echoed but not enforced)")
class JsonObjectIgnored:
    """text.format json_object is echoed but the answer is prose."""

    def plan(ctx, plan):
        if _format(ctx) == "json_object" and plan.text is not None:
            plan.text = "Sure! Here is a short greeting for you: hello there, and have a pleasant day."
        return plan


@defect("tool-choice-none-ignored", targets=["PARAM-TOOLCHOICE-001"],
        modelled_on="vLLM chat path before --exclude-tools-when-tool-choice-none: tool calls parsed although "
        "tool_choice is none")
class ToolChoiceNoneIgnored:
    """tool_choice none is echoed but the model still calls the tool the prompt names."""

    def request(ctx, body):
        return _swap(body, ctx, "tool_choice", lambda v: v == "none", "auto")

    def response(ctx, resp):
        return _echo(ctx, resp, "tool_choice")


@defect("forced-tool-choice-ignored", targets=["PARAM-TOOLCHOICE-002", "PARAM-TOOLCHOICE-003"],
        modelled_on="vLLM #49712 / PR #49785 (required and named tool_choice silently treated as auto)")
class ForcedToolChoiceIgnored:
    """tool_choice required or naming a function is treated as auto."""

    def request(ctx, body):
        return _swap(body, ctx, "tool_choice", lambda v: v == "required" or isinstance(v, dict), "auto")

    def response(ctx, resp):
        return _echo(ctx, resp, "tool_choice")


@defect("named-tool-choice-any-tool", targets=["PARAM-TOOLCHOICE-003"],
        modelled_on="vLLM #49712 (a named tool_choice enforced only as 'some call is required')")
class NamedToolChoiceAnyTool:
    """A tool_choice naming one function forces a call, but of whichever tool comes first."""

    def request(ctx, body):
        return _swap(body, ctx, "tool_choice", lambda v: isinstance(v, dict), "required")

    def response(ctx, resp):
        return _echo(ctx, resp, "tool_choice")


@defect("parallel-tool-calls-ignored", targets=["PARAM-PARALLEL-001"],
        modelled_on="vLLM: parallel_tool_calls echoed but not enforced (notes §1.3; tenstorrent review notes)")
class ParallelToolCallsIgnored:
    """parallel_tool_calls false is echoed, but several calls still come in one response."""

    def request(ctx, body):
        return _swap(body, ctx, "parallel_tool_calls", lambda v: v is False, _DROP)

    def response(ctx, resp):
        return _echo(ctx, resp, "parallel_tool_calls")


@defect("include-newer-values-rejected", targets=["PARAM-INCLUDE-001"],
        modelled_on="vLLM protocol.py include Literal (§3 #40): web_search_call.action.sources and other newer "
        "values are 400")
class IncludeNewerValuesRejected:
    """Documented include values newer than the server's list are rejected with 400."""

    def request(ctx, body):
        include = body.get("include") if isinstance(body, dict) else None
        for i, value in enumerate(include if isinstance(include, list) else []):
            if value not in VLLM_INCLUDE:
                raise ApiError(400, f"1 validation error: include.{i}: Input should be "
                               + ", ".join(repr(v) for v in sorted(VLLM_INCLUDE)), f"include[{i}]")
        return body


@defect("sampling-range-narrowed", targets=["PARAM-SAMPLING-001"],
        modelled_on="bridges to providers whose temperature range is 0..1 (e.g. LiteLLM to Anthropic) reject "
        "OpenAI's 0..2")
class SamplingRangeNarrowed:
    """temperature above 1 is rejected with 400, although the spec allows up to 2."""

    def request(ctx, body):
        value = body.get("temperature") if isinstance(body, dict) else None
        if isinstance(value, int | float) and value > 1:
            raise ApiError(400, "temperature: must be between 0 and 1.", "temperature", "invalid_value")
        return body


@defect("sampling-echo-defaults", targets=["PARAM-SAMPLING-002"],
        modelled_on="vLLM ResponsesResponse.from_request echoes sampler values, not the request's (§3 #34)")
class SamplingEchoDefaults:
    """temperature and top_p are echoed as the server defaults (1.0), whatever the request gave."""

    def response(ctx, resp):
        resp.update(temperature=1.0, top_p=1.0)
        return resp


@defect("sampling-echo-null", targets=["PARAM-SAMPLING-002", "RESP-OBJECT-012"],
        modelled_on="servers that accept temperature/top_p but report null, as if the request had omitted them")
class SamplingEchoNull:
    """temperature and top_p are accepted and applied, but echoed as null."""

    def response(ctx, resp):
        resp.update(temperature=None, top_p=None)
        return resp


@defect("include-encrypted-content-rejected", targets=["PARAM-INCLUDE-001"],
        modelled_on="Llama Stack / OGX: include reasoning.encrypted_content refused with 400 (peers run), the other "
        "documented values accepted")
class IncludeEncryptedContentRejected:
    """include reasoning.encrypted_content is rejected with 400."""

    def request(ctx, body):
        include = body.get("include") if isinstance(body, dict) else None
        if isinstance(include, list) and "reasoning.encrypted_content" in include:
            raise ApiError(400, "include reasoning.encrypted_content is not supported.", "include")
        return body


@defect("include-only-encrypted-content", targets=["PARAM-INCLUDE-001"],
        modelled_on="servers that implement one include value (reasoning.encrypted_content) and reject every other "
        "documented one with 400, hosted-tool and logprobs values included")
class IncludeOnlyEncryptedContent:
    """Every include value but reasoning.encrypted_content is rejected with 400."""

    def request(ctx, body):
        include = body.get("include") if isinstance(body, dict) else None
        for i, value in enumerate(include if isinstance(include, list) else []):
            if value != "reasoning.encrypted_content":
                raise ApiError(400, f"include value {value!r} is not supported.", f"include[{i}]")
        return body


@defect("sampling-bounds-exclusive", targets=["PARAM-SAMPLING-001"],
        modelled_on="Hugging Face text-generation-inference validation: `temperature` must be strictly positive, "
        "`top_p` must be > 0.0 and < 1.0 (the OpenAI range includes 0 and 1)")
class SamplingBoundsExclusive:
    """temperature 0 and top_p 1, both in the documented range, are rejected with 400."""

    def request(ctx, body):
        if isinstance(body, dict):
            if body.get("temperature") == 0:
                raise ApiError(400, "`temperature` must be strictly positive", "temperature", "invalid_value")
            if body.get("top_p") == 1:
                raise ApiError(400, "`top_p` must be > 0.0 and < 1.0", "top_p", "invalid_value")
        return body


@defect("top-p-floor-for-thinking", targets=["PARAM-SAMPLING-001"],
        modelled_on="LiteLLM to Anthropic with extended thinking: top_p must be between 0.95 and 1 when thinking is "
        "enabled, so a documented top_p of 0.1 is 400")
class TopPFloorForThinking:
    """top_p below 0.95 is rejected with 400 (the spec allows 0..1)."""

    def request(ctx, body):
        value = body.get("top_p") if isinstance(body, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0.95:
            raise ApiError(400, "top_p must be between 0.95 and 1 when thinking is enabled.", "top_p",
                           "invalid_value")
        return body
