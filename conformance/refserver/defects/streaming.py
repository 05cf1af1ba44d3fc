"""Planted defects of the 'streaming' area: the event stream, from HTTP headers to the final event."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from conformance.refserver import engine
from conformance.refserver.defects import defect

TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def _final_copy(evs: list[dict[str, Any]]) -> dict[str, Any]:
    """The terminal event's response, unshared (stream events reference the final items)."""
    evs[-1]["response"] = copy.deepcopy(evs[-1]["response"])
    return evs[-1]["response"]


def _reframe(chunks: Iterator[bytes], fn: Any) -> Iterator[bytes]:
    """Rewrite each `event: T\\ndata: JSON\\n\\n` chunk as fn(type, event) -> bytes."""
    for chunk in chunks:
        data = json.loads(chunk.split(b"data: ", 1)[1])
        yield fn(data.get("type"), data)


# -- HTTP and framing -----------------------------------------------------------------------------


@defect("stream-content-type-missing", targets=["STREAM-HTTP-001"],
        modelled_on="Starlette/FastAPI StreamingResponse created without media_type= (no Content-Type header)")
class StreamContentTypeMissing:
    """The event stream is sent without a Content-Type header."""

    def stream_headers(ctx, headers):
        return {k: v for k, v in headers.items() if k.lower() != "content-type"}


@defect("streams-when-stream-omitted", targets=["STREAM-HTTP-002"],
        modelled_on="transformers serve 5.24 (`body.get(\"stream\", True)` in cli/serving/response.py)")
class StreamsWhenStreamOmitted:
    """A request without `stream` is answered with an event stream."""

    def request(ctx, body):
        if isinstance(body, dict) and "stream" not in body:
            body["stream"] = True
        return body


@defect("python-repr-data", targets=["STREAM-SSE-001"],
        modelled_on="hand-written SSE endpoints yielding f\"data: {event}\\n\\n\" with a dict (Python repr, not JSON)")
class PythonReprData:
    """Event data is the Python repr of the event (single quotes, True/None), not JSON."""

    def sse(ctx, chunks):
        return _reframe(chunks, lambda t, ev: f"event: {t}\ndata: {ev!r}\n\n".encode())


@defect("last-event-unterminated", targets=["STREAM-SSE-001", "STREAM-TERM-001"],
        modelled_on="SSE writers that join events with a blank-line separator (\"\\n\\n\".join(...)), so the last "
        "event lacks its terminating blank line and SSE discards it")
class LastEventUnterminated:
    """The last event (the terminal one) is sent without its closing blank line."""

    def sse(ctx, chunks):
        items = list(chunks)
        if items:
            items[-1] = items[-1][:-2]
        return iter(items)


@defect("event-field-is-class-name", targets=["STREAM-SSE-002"],
        modelled_on="SSE writers naming each event after its model class (type(event).__name__) instead of its type")
class EventFieldIsClassName:
    """The SSE `event:` field holds a class name (ResponseOutputTextDeltaEvent), not the event type."""

    def sse(ctx, chunks):
        def name(t: str) -> str:
            return "".join(w.capitalize() for w in re.split(r"[._]", t)) + "Event"

        return _reframe(chunks, lambda t, ev: f"event: {name(t)}\ndata: {json.dumps(ev)}\n\n".encode())


@defect("done-sentinel", targets=["STREAM-TERM-003"],
        modelled_on="LiteLLM 1.108 Responses bridge (a Chat Completions habit): data: [DONE] after response.completed")
class DoneSentinel:
    """The stream ends with `data: [DONE]` after the terminal event."""

    def sse(ctx, chunks):
        yield from chunks
        yield b"data: [DONE]\n\n"


# -- events ---------------------------------------------------------------------------------------


@defect("vendor-reasoning-part-events", targets=["STREAM-EVENT-001"],
        modelled_on="vLLM PR #24938: response.reasoning_part.added/done instead of response.content_part.*")
class VendorReasoningPartEvents:
    """Reasoning content parts are announced with vLLM's own response.reasoning_part.* events."""

    def events(ctx, evs):
        for ev in evs:
            if ev["type"].startswith("response.content_part.") and ev["part"]["type"] == "reasoning_text":
                ev["type"] = ev["type"].replace("content_part", "reasoning_part")
        return evs


@defect("text-events-without-logprobs", targets=["STREAM-EVENT-002"],
        modelled_on="llama.cpp llama-server /v1/responses before PR #24957 (required event fields missing)")
class TextEventsWithoutLogprobs:
    """output_text delta/done events lack the required `logprobs` array."""

    def events(ctx, evs):
        for ev in evs:
            if ev["type"] in ("response.output_text.delta", "response.output_text.done"):
                ev.pop("logprobs", None)
        return evs


@defect("no-sequence-number", targets=["STREAM-SEQ-001", "STREAM-EVENT-002"],
        modelled_on="codex-relay 0.5.8 (no sequence_number on any event)")
class NoSequenceNumber:
    """Events carry no sequence_number."""

    number_first = True

    def events(ctx, evs):
        for ev in evs:
            ev.pop("sequence_number", None)
        return evs


@defect("sequence-number-per-item", targets=["STREAM-SEQ-001"],
        modelled_on="llama.cpp before PR #24957 (a shared monotonic sequence_number): counters restart per item")
class SequenceNumberPerItem:
    """sequence_number restarts at 0 with every output item."""

    number_first = True

    def events(ctx, evs):
        n = 0
        for ev in evs:
            if ev["type"] == "response.output_item.added":
                n = 0
            ev["sequence_number"] = n
            n += 1
        return evs


@defect("created-carries-final-response", targets=["STREAM-ORDER-001"],
        modelled_on="fake streaming that replays a finished response: response.created already `completed`")
class CreatedCarriesFinalResponse:
    """response.created carries the finished response (status completed, full output)."""

    def events(ctx, evs):
        evs[0]["response"] = copy.deepcopy(evs[-1]["response"])
        return evs


@defect("stream-ends-without-terminal", targets=["STREAM-TERM-001"],
        modelled_on="vLLM #22341 (gpt-oss stream dies: \"response already started\"), no terminal event")
class StreamEndsWithoutTerminal:
    """The stream closes after the last item, without a terminal event."""

    def events(ctx, evs):
        return [ev for ev in evs if ev["type"] not in TERMINAL]


@defect("terminal-event-twice", targets=["STREAM-TERM-001"],
        modelled_on="Chat->Responses bridges that emit response.completed from both the finish chunk and the usage "
        "chunk")
class TerminalEventTwice:
    """The terminal event is sent twice."""

    def events(ctx, evs):
        return [*evs, copy.deepcopy(evs[-1])]


@defect("incomplete-ends-with-completed", targets=["STREAM-TERM-002"],
        modelled_on="vLLM serving.py / vllm-project/agentic-api#273: incomplete streams end with response.completed")
class IncompleteEndsWithCompleted:
    """A stream whose response is incomplete ends with response.completed."""

    def events(ctx, evs):
        if evs[-1]["type"] == "response.incomplete":
            evs[-1]["type"] = "response.completed"
        return evs


@defect("terminal-event-stale-status", targets=["STREAM-TERM-002"],
        modelled_on="servers that send the response object of response.created again in the terminal event: "
        "response.completed carrying status in_progress (gateways re-emitting a cached snapshot)")
class TerminalEventStaleStatus:
    """The terminal event's response keeps the status of response.created ("in_progress"), whatever the stream."""

    def events(ctx, evs):
        last = evs[-1]
        if isinstance(last.get("response"), dict):
            last["response"] = {**last["response"], "status": "in_progress"}
        return evs


# -- items and ids --------------------------------------------------------------------------------


@defect("reasoning-item-never-done", targets=["STREAM-ITEM-001"],
        modelled_on="Llama Stack 0.7 / OGX: no output_item.done for the reasoning item of a stream")
class ReasoningItemNeverDone:
    """The reasoning item's output_item.done is never sent."""

    def events(ctx, evs):
        return [ev for ev in evs if not (ev["type"] == "response.output_item.done"
                                         and ev["item"]["type"] == "reasoning")]


@defect("final-output-ids-regenerated", targets=["STREAM-ITEM-002"],
        modelled_on="vLLM #23218 / PR #24788: the completed response rebuilt with new rs_/msg_/fc_ ids")
class FinalOutputIdsRegenerated:
    """The terminal event's output items have other ids than the streamed items."""

    def events(ctx, evs):
        for item in _final_copy(evs).get("output", []):
            item["id"] = engine.new_id(item["id"].split("_")[0])
        return evs


@defect("call-id-churn", targets=["STREAM-ITEM-002"],
        modelled_on="vLLM PR #47916: call_id of a streamed function_call differs between output_item.done and "
        "response.completed")
class CallIdChurn:
    """The terminal event's function_call items have another call_id than output_item.done's."""

    def events(ctx, evs):
        for item in _final_copy(evs).get("output", []):
            if item["type"] == "function_call":
                item["call_id"] = engine.new_id("call")
        return evs


@defect("completed-with-empty-output", targets=["STREAM-ITEM-002"],
        modelled_on="vLLM PR #30223: non-Harmony stream's response.completed has an empty output")
class CompletedWithEmptyOutput:
    """The terminal event's response has an empty output."""

    def events(ctx, evs):
        _final_copy(evs)["output"] = []
        return evs


@defect("empty-stream-item-ids", targets=["STREAM-ID-001"],
        modelled_on="vLLM before PR #24788 (PR #23927 log): streamed items with id \"\" and events with item_id \"\"")
class EmptyStreamItemIds:
    """Streamed items have empty ids and part/delta events an empty item_id."""

    def events(ctx, evs):
        _final_copy(evs)
        for ev in evs:
            if "item_id" in ev:
                ev["item_id"] = ""
            if ev["type"] in ("response.output_item.added", "response.output_item.done"):
                ev["item"] = {**ev["item"], "id": ""}
        return evs


@defect("response-id-changes", targets=["STREAM-ID-002"],
        modelled_on="bridges that name the response before the upstream answers (placeholder id in "
        "response.created)")
class ResponseIdChanges:
    """response.created and response.in_progress carry another response id than the terminal event."""

    def events(ctx, evs):
        for ev in evs:
            if ev["type"] in ("response.created", "response.in_progress"):
                ev["response"] = {**ev["response"], "id": "resp_pending"}
        return evs


@defect("content-index-across-items", targets=["STREAM-INDEX-001"],
        modelled_on="vLLM Harmony StreamingState (streaming_events.py): content_index counts parts across items")
class ContentIndexAcrossItems:
    """content_index keeps counting from item to item (the message's only part gets index 1)."""

    def events(ctx, evs):
        base, seen, current = 0, 0, None
        for ev in evs:
            if ev["type"] == "response.output_item.added":
                base, current = base + seen, ev["output_index"]
                seen = 0
            if "content_index" in ev and ev.get("output_index") == current:
                seen = max(seen, ev["content_index"] + 1)
                ev["content_index"] += base
        return evs


@defect("stream-items-share-output-index", targets=["STREAM-ITEM-001"],
        modelled_on="transformers serve 5.24: the function_call item and the message after it are both streamed "
        "at output_index 1 (peer run, docs/compatibility.md)")
class StreamItemsShareOutputIndex:
    """The last output item is streamed with the output_index of the item before it (ids stay distinct)."""

    def events(ctx, evs):
        added = [ev["output_index"] for ev in evs if ev["type"] == "response.output_item.added"]
        if len(added) < 2:
            return evs
        last, previous = added[-1], added[-2]
        for ev in evs:
            if ev.get("output_index") == last and ev["type"] not in TERMINAL:
                ev["output_index"] = previous
        return evs


@defect("part-events-point-at-previous-item", targets=["STREAM-INDEX-001"],
        modelled_on="streaming state that advances output_index only on output_item.done (vLLM's Harmony "
        "StreamingState class of bug): the part and delta events of an item carry the previous item's index")
class PartEventsPointAtPreviousItem:
    """Part and delta events (not output_item.added/done) carry output_index - 1 (the item before theirs);
    those of the first item, which has none before it, count their parts from 1."""

    def events(ctx, evs):
        for ev in evs:
            if "item_id" not in ev or ev["type"].startswith("response.output_item."):
                continue
            if ev.get("output_index", 0) > 0:
                ev["output_index"] -= 1
            elif "content_index" in ev:
                ev["content_index"] += 1
        return evs


@defect("deltas-before-item-added", targets=["STREAM-NEST-001"],
        modelled_on="Llama Stack 0.7: deltas attributed to an item before that item's output_item.added")
class DeltasBeforeItemAdded:
    """Each item's output_item.added comes after the item's first part/delta events."""

    def events(ctx, evs):
        out = list(evs)
        for added in [ev for ev in evs if ev["type"] == "response.output_item.added"]:
            later = [ev for ev in out if ev.get("output_index") == added["output_index"] and "item_id" in ev]
            if later:
                out.remove(added)
                out.insert(out.index(later[0]) + 1, added)
        return out


@defect("no-content-part-events", targets=["STREAM-NEST-001", "OTEXT-005"],
        modelled_on="codex-relay 0.5.8: output_text deltas without response.content_part.added/done")
class NoContentPartEvents:
    """Message text is streamed without content_part.added/done events."""

    def events(ctx, evs):
        return [ev for ev in evs if not (ev["type"].startswith("response.content_part.")
                                         and ev["part"]["type"] == "output_text")]


@defect("reasoning-deltas-lose-spaces", targets=["STREAM-TEXT-001"],
        modelled_on="token-by-token detokenizing that drops the leading space of SentencePiece/BPE tokens "
        "(reasoning channel)")
class ReasoningDeltasLoseSpaces:
    """Reasoning text deltas lose their leading and trailing spaces, so they do not join to the .done text."""

    def events(ctx, evs):
        for ev in evs:
            if ev["type"] in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
                ev["delta"] = ev["delta"].strip()
        return evs


@defect("stream-events-without-indexes", targets=["STREAM-EVENT-002", "STREAM-SEQ-001"],
        modelled_on="llama.cpp llama-server build 11434: no sequence_number, output_index or content_index on any "
        "event; item and part events name their item by item_id (tools/server, the responses stream)")
class StreamEventsWithoutIndexes:
    """Events carry no sequence_number, output_index, content_index or summary_index (item_id only)."""

    number_first = True

    def events(ctx, evs):
        for ev in evs:
            for key in ("sequence_number", "output_index", "content_index", "summary_index"):
                ev.pop(key, None)
        return evs


@defect("stream-without-reasoning-text-done", targets=["STREAM-TEXT-001"],
        modelled_on="llama.cpp llama-server build 11434: reasoning_text deltas, then the message, with no "
        "response.reasoning_text.done")
class StreamWithoutReasoningTextDone:
    """The reasoning text is streamed by deltas but never closed by response.reasoning_text.done."""

    def events(ctx, evs):
        return [ev for ev in evs if ev["type"] != "response.reasoning_text.done"]


# -- the final response against the unstreamed one ----------------------------------------------


@defect("tool-call-as-text-when-streaming", targets=["STREAM-FINAL-001"],
        modelled_on="vLLM #29725 / #36435: non-Harmony streaming with tools emits raw <tool_call> XML as text")
class ToolCallAsTextWhenStreaming:
    """When streaming, a function call comes out as <tool_call> markup in a message, not a function_call item."""

    def response(ctx, resp):
        if not ctx.stream:
            return resp
        calls = [it for it in resp["output"] if it["type"] == "function_call"]
        if calls:
            text = "".join(f"<tool_call>\n{json.dumps({'name': c['name'], 'arguments': json.loads(c['arguments'])})}"
                           "\n</tool_call>" for c in calls)
            resp["output"] = [it for it in resp["output"] if it["type"] != "function_call"] + [{
                "id": engine.new_id("msg"), "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}]
        return resp


@defect("stream-answer-as-reasoning", targets=["STREAM-FINAL-001"],
        modelled_on="vLLM Qwen3 reasoning parser in streaming mode: with no <think> tag in the output, every "
        "delta is taken for reasoning, so the streamed answer has no message while the JSON one has")
class StreamAnswerAsReasoning:
    """When streaming, a plain answer (no tool call) comes out as reasoning: the stream has no message item."""

    def plan(ctx, plan):
        if ctx.stream and plan.text and not plan.calls:
            plan.reasoning = f"{plan.reasoning} {plan.text}" if plan.reasoning else plan.text
            plan.text = None
        return plan


@defect("stream-final-without-usage", targets=["STREAM-FINAL-002"],
        modelled_on="open-responses-server 0.4.1: usage null in the stream's response.completed")
class StreamFinalWithoutUsage:
    """The terminal event's response has usage null."""

    def events(ctx, evs):
        _final_copy(evs)["usage"] = None
        return evs
