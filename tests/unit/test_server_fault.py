"""Skips that point at the server: `cooperate` names the judging requirement when the reply shows the server's fault."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conformance.judge.checks import SERVER_AT_FAULT
from conformance.judge.responses import cooperate, server_fault
from conformance.wire.http import StreamReply
from conformance.wire.sse import SSEEvent

MARKUP = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def message(text: str) -> dict[str, Any]:
    return {"output": [{"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}]}


def stream(events: list[dict[str, Any]], error: str | None = None) -> StreamReply:
    evs = [SSEEvent(e["type"], json.dumps(e)) for e in events]
    return StreamReply(200, httpx.Headers({"content-type": "text/event-stream"}), evs, None, error=error)  # type: ignore[arg-type]


def test_tool_call_markup_in_the_answer_is_the_servers_fault():
    assert "TOOLS-CALL-003" in (server_fault(message(MARKUP)) or "")
    assert server_fault(message("It is sunny in Paris.")) is None


def test_markup_split_over_streamed_deltas_is_found():
    deltas = [{"type": "response.output_text.delta", "delta": MARKUP[:5]},
              {"type": "response.output_text.delta", "delta": MARKUP[5:]},
              {"type": "response.completed", "response": {"status": "completed", "output": []}}]
    assert "TOOLS-CALL-003" in (server_fault(stream(deltas)) or "")


def test_a_broken_or_unterminated_stream_is_the_servers_fault():
    assert "ROBUST-STREAM-001" in (server_fault(stream([], error="stalled: no event for 5 s")) or "")
    assert "STREAM-TERM-001" in (server_fault(stream([{"type": "response.created", "response": {}}])) or "")


def test_cooperate_skips_naming_the_judge_not_the_model():
    with pytest.raises(pytest.skip.Exception) as info:
        cooperate(lambda: message(MARKUP), lambda r: False, "no function_call")
    assert str(info.value).startswith(SERVER_AT_FAULT) and "TOOLS-CALL-003" in str(info.value)
    with pytest.raises(pytest.skip.Exception) as info:
        cooperate(lambda: message("Hello."), lambda r: False, "no function_call")
    assert str(info.value).startswith("model did not cooperate")
