"""Planted defects of the 'tools' area: function calls lost, mangled, or not accepted back."""

from __future__ import annotations

import json

from conformance.refserver.defects import defect
from conformance.refserver.engine import ApiError, new_id


def _input(body) -> list:
    items = body.get("input") if isinstance(body, dict) else None
    return items if isinstance(items, list) else []


@defect("function-tools-rejected", targets=["TOOLS-CALL-001"],
        modelled_on="vLLM #28173 (function tools rejected on the non-Harmony path, v0.11.0); SGLang #13967")
class FunctionToolsRejected:
    """Any request declaring a function tool is rejected with 400."""

    def request(ctx, body):
        tools = body.get("tools") if isinstance(body, dict) else None
        for i, tool in enumerate(tools if isinstance(tools, list) else []):
            if isinstance(tool, dict) and tool.get("type") == "function":
                raise ApiError(400, "Only 'web_search_preview' and 'code_interpreter' tools are supported.",
                               f"tools[{i}]")
        return body


@defect("leaked-parameter-arguments", targets=["TOOLS-CALL-002", "TOOLS-REPLAY-001"],
        modelled_on="vLLM #55495 (function_call.arguments with a leaked '</parameter'; replaying it is 400 "
        "'Expecting value' on every later turn)")
class LeakedParameterArguments:
    """function_call.arguments end with a leaked '</parameter' tag, and such arguments are 400 as input."""

    def response(ctx, resp):
        for item in resp.get("output", []):
            if item.get("type") == "function_call":
                item["arguments"] += "</parameter"
        return resp

    def request(ctx, body):
        for i, item in enumerate(_input(body)):
            if isinstance(item, dict) and item.get("type") == "function_call":
                try:
                    json.loads(item.get("arguments") or "")
                except ValueError as exc:
                    raise ApiError(400, f"Expecting value: {exc}", f"input[{i}].arguments") from None
        return body


@defect("tool-arguments-missing-required", targets=["TOOLS-CALL-002"],
        modelled_on="tool parsers that fall back to '{}' when they cannot parse the model's arguments, "
        "dropping required parameters of a strict tool")
class ToolArgumentsMissingRequired:
    """function_call.arguments is '{}': the tool's required parameters are missing."""

    def response(ctx, resp):
        for item in resp.get("output", []):
            if item.get("type") == "function_call":
                item["arguments"] = "{}"
        return resp


@defect("tool-arguments-as-object", targets=["TOOLS-CALL-002"],
        modelled_on="Ollama-style chat APIs return tool arguments as a JSON object; bridges pass it through "
        "(the spec asks for a JSON string)")
class ToolArgumentsAsObject:
    """function_call.arguments is a JSON object, not a JSON string."""

    @staticmethod
    def _objects(output: list) -> list:
        return [{**it, "arguments": json.loads(it["arguments"])} if it.get("type") == "function_call" else it
                for it in output]

    def json_reply(ctx, resp):
        return {**resp, "output": ToolArgumentsAsObject._objects(resp.get("output", []))}

    def events(ctx, events):
        # the stream's deltas still carry text; the items it hands over carry the object
        for ev in events:
            if isinstance(ev.get("response"), dict) and ev["response"].get("output"):
                ev["response"] = {**ev["response"], "output": ToolArgumentsAsObject._objects(ev["response"]["output"])}
            elif ev.get("type") == "response.output_item.done":
                ev["item"] = ToolArgumentsAsObject._objects([ev["item"]])[0]
        return events


def _markup(item: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": item["name"], "arguments": json.loads(item["arguments"])}) \
        + "\n</tool_call>"


@defect("tool-call-as-text", targets=["TOOLS-CALL-003"],
        modelled_on="vLLM without a matching --tool-call-parser: the model's <tool_call> markup returned as "
        "message text (vLLM #29725, #36435)")
class ToolCallAsText:
    """A tool call comes back as <tool_call> markup in a message instead of a function_call item."""

    def response(ctx, resp):
        for i, item in enumerate(resp.get("output", [])):
            if item.get("type") == "function_call":
                resp["output"][i] = {
                    "id": new_id("msg"), "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": _markup(item), "annotations": [], "logprobs": []}]}
        return resp


@defect("tool-calls-as-markup-text", targets=["TOOLS-CALL-003"],
        modelled_on="vLLM serving Qwen/Hermes models without --enable-auto-tool-choice / a matching "
        "--tool-call-parser: every call is answered as <tool_call> text, streamed or not (vLLM #29725)")
class ToolCallsAsMarkupText:
    """The model's tool calls are never parsed: they come back as <tool_call> markup in the answer text."""

    def plan(ctx, plan):
        if plan.calls:
            plan.text = "".join(_markup(c) for c in plan.calls)
            plan.calls = []
        return plan


@defect("stream-tool-call-as-text", targets=["TOOLS-CALL-003"],
        modelled_on="vLLM #29725, #36435 (non-Harmony streaming with tools emits raw <tool_call> XML as "
        "response.output_text.delta)")
class StreamToolCallAsText:
    """While streaming a tool call, the raw <tool_call> markup is also sent as output_text deltas."""

    def events(ctx, events):
        out = []
        for ev in events:
            item = ev.get("item") or {}
            if ev.get("type") == "response.output_item.done" and item.get("type") == "function_call":
                out.append({"type": "response.output_text.delta", "item_id": item["id"],
                            "output_index": ev["output_index"], "content_index": 0, "delta": _markup(item),
                            "logprobs": []})
            out.append(ev)
        return out


@defect("tool-output-dropped", targets=["TOOLS-OUTPUT-001"],
        modelled_on="chat bridges that turn function_call_output into a tool message without its content "
        "(vLLM #43244 class: tool items lost from the prompt)")
class ToolOutputDropped:
    """function_call_output items are accepted but never reach the model."""

    def context(ctx, item, where):
        return None if item.get("type") == "function_call_output" else item


@defect("replayed-call-rejected", targets=["TOOLS-REPLAY-001"],
        modelled_on="strict input models that refuse the server's own output fields (vLLM PR #35508 / "
        "test_replayed_input_items.py: returned items not accepted back)")
class ReplayedCallRejected:
    """A function_call input item carrying the id and status the server returned is rejected with 400."""

    def request(ctx, body):
        for i, item in enumerate(_input(body)):
            if isinstance(item, dict) and item.get("type") == "function_call" and "status" in item:
                raise ApiError(400, f"Unknown parameter: 'input[{i}].status'.", f"input[{i}].status",
                               "unknown_parameter")
        return body


@defect("streamed-arguments-first-delta-lost", targets=["TOOLS-STREAM-001"],
        modelled_on="streaming tool parsers that lose the first argument chunk (the opening brace) while the "
        "final item is complete")
class StreamedArgumentsFirstDeltaLost:
    """The first function_call_arguments.delta of each call is not sent."""

    def events(ctx, events):
        seen: set = set()
        out = []
        for ev in events:
            if ev.get("type") == "response.function_call_arguments.delta" and ev.get("item_id") not in seen:
                seen.add(ev.get("item_id"))
                continue
            out.append(ev)
        return out


@defect("streamed-arguments-only-in-done", targets=["TOOLS-STREAM-001"],
        modelled_on="servers whose tool parser buffers the whole call and sends its arguments only in "
        "function_call_arguments.done, with no delta (the SDK's stream accumulator builds them from the deltas)")
class StreamedArgumentsOnlyInDone:
    """No function_call_arguments.delta is sent: the arguments arrive only whole, in .done."""

    def events(ctx, events):
        return [ev for ev in events if ev.get("type") != "response.function_call_arguments.delta"]


@defect("streamed-call-id-mismatch", targets=["TOOLS-STREAM-001"],
        modelled_on="vLLM PR #47916 (a streamed function_call's call_id differs between output_item.done and "
        "response.completed)")
class StreamedCallIdMismatch:
    """The streamed function_call items carry another call_id than the final response's."""

    def events(ctx, events):
        for ev in events:
            item = ev.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                ev["item"] = {**item, "call_id": "call_" + item["call_id"][-12:]}
        return events
