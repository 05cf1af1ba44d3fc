"""The stream of events for a finished response, in the order and shape the API sends them."""

from __future__ import annotations

import copy
from typing import Any

from conformance.refserver.engine import _TOKEN_RE


def _chunks(text: str, size: int = 3) -> list[str]:
    """Split text into deltas of a few tokens; their concatenation is exactly `text`."""
    ends = [m.end() for m in _TOKEN_RE.finditer(text)][size - 1::size]
    out, pos = [], 0
    for end in ends:
        out.append(text[pos:end])
        pos = end
    if pos < len(text) or not out:
        out.append(text[pos:])
    return [d for d in out if d] or ([text] if text else [])


def _in_progress(item: dict[str, Any]) -> dict[str, Any]:
    added = copy.deepcopy(item)
    added["status"] = "in_progress"
    if added["type"] == "message":
        added["content"] = []
    elif added["type"] == "reasoning":
        added["summary"] = []
        added["content"] = []
        added.pop("encrypted_content", None)
    elif added["type"] == "function_call":
        added["arguments"] = ""
    return added


def stream_events(final: dict[str, Any]) -> list[dict[str, Any]]:
    """Events for `final` (a finished response); sequence numbers are set by the writer."""
    start = copy.deepcopy(final)
    start.update(status="in_progress", output=[], usage=None, incomplete_details=None, completed_at=None)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": copy.deepcopy(start)},
    ]
    for index, item in enumerate(final["output"]):
        base = {"item_id": item["id"], "output_index": index}
        events.append({"type": "response.output_item.added", "output_index": index, "item": _in_progress(item)})
        if item["type"] == "reasoning":
            for s, part in enumerate(item.get("summary") or []):
                events.append({"type": "response.reasoning_summary_part.added", **base, "summary_index": s,
                               "part": {"type": "summary_text", "text": ""}})
                for delta in _chunks(part["text"]):
                    events.append({"type": "response.reasoning_summary_text.delta", **base,
                                   "summary_index": s, "delta": delta})
                events.append({"type": "response.reasoning_summary_text.done", **base, "summary_index": s,
                               "text": part["text"]})
                events.append({"type": "response.reasoning_summary_part.done", **base, "summary_index": s,
                               "part": part})
            for c, part in enumerate(item.get("content") or []):
                events.append({"type": "response.content_part.added", **base, "content_index": c,
                               "part": {"type": "reasoning_text", "text": ""}})
                for delta in _chunks(part["text"]):
                    events.append({"type": "response.reasoning_text.delta", **base, "content_index": c,
                                   "delta": delta})
                events.append({"type": "response.reasoning_text.done", **base, "content_index": c,
                               "text": part["text"]})
                events.append({"type": "response.content_part.done", **base, "content_index": c, "part": part})
        elif item["type"] == "message":
            for c, part in enumerate(item["content"]):
                empty = {"type": part["type"], "text": "", "annotations": [], "logprobs": []}
                events.append({"type": "response.content_part.added", **base, "content_index": c, "part": empty})
                for delta in _chunks(part.get("text", "")):
                    events.append({"type": "response.output_text.delta", **base, "content_index": c,
                                   "delta": delta, "logprobs": []})
                events.append({"type": "response.output_text.done", **base, "content_index": c,
                               "text": part.get("text", ""), "logprobs": []})
                events.append({"type": "response.content_part.done", **base, "content_index": c, "part": part})
        elif item["type"] == "function_call":
            for delta in _chunks(item["arguments"], 4):
                events.append({"type": "response.function_call_arguments.delta", **base, "delta": delta})
            events.append({"type": "response.function_call_arguments.done", **base, "name": item["name"],
                           "arguments": item["arguments"]})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete",
                "failed": "response.failed"}.get(final["status"], "response.completed")
    events.append({"type": terminal, "response": final})
    return events


def number(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for i, ev in enumerate(events):
        ev["sequence_number"] = i
    return events
