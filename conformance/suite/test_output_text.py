"""output_text: the answer's text, whole (JSON) and streamed (deltas, .done events, the SDK helper).

`output_text` is what the SDK's `Response.output_text` computes: every `output_text` part of
every assistant message, joined.  The JSON and streamed replies are the shared ones of the plain
request.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.judge.checks import Collector, ConformanceFailure, check, fail, nothing_to_judge, show
from conformance.judge.responses import (
    ANSWER,
    items_of,
    output_text,
    post_shared,
    request,
    stream_shared,
)
from conformance.judge.stream import Stream, check_deltas_join, check_done_values
from conformance.suite.requirements import MUST, requirement

PROMPT = "Say hello in five words."  # the plain request's prompt (shared replies)
STREAMS = {"answer": lambda model: request(model)}  # the plain request, as test_streaming streams it


def answer(api: Any, model: str, mode: str) -> tuple[dict[str, Any], str]:
    """The plain request's response (JSON with `stream: false`, or the stream's final) and where it came from."""
    if mode == "json":
        return post_shared(api, {**request(model), "stream": False}, "the plain request (stream: false)"), "$"
    s = Stream.from_reply(stream_shared(api, STREAMS["answer"](model), "the plain request (stream: true)"))
    if s.final is None:
        fail("the stream's terminal event", s.summary(), "a terminal event with the final response (STREAM-TERM-001)")
    return s.final, f"{s.terminal.label}.response"


def skip_if_cut_short(resp: dict[str, Any]) -> None:
    """A model that spends the whole budget thinking gives no answer: not the server's fault."""
    if resp.get("status") == "incomplete" and not output_text(resp):
        reason = (resp.get("incomplete_details") or {}).get("reason")
        pytest.skip(f"model did not cooperate: the response is incomplete ({reason}) before any answer text")


@requirement("OTEXT-001", MUST)
@pytest.mark.parametrize("mode", ["json", pytest.param("stream", marks=pytest.mark.feature("streaming"))])
def test_answer_has_output_text(api, model, mode):
    resp, where = answer(api, model, mode)
    skip_if_cut_short(resp)
    messages = items_of(resp, "message")
    types = [it.get("type") for it in resp.get("output") or [] if isinstance(it, dict)]
    check(bool(messages), f"{where}.output[*].type", types, "an assistant message answering the prompt",
          note=f"prompt: {PROMPT!r}; status {resp.get('status')!r}")
    parts = [p.get("type") for m in messages for p in m.get("content") or [] if isinstance(p, dict)]
    text = output_text(resp)
    check(text.strip() != "", f"{where}.output[?type=message].content[?type=output_text].text", text,
          f"non-empty answer text in output_text parts (the message's parts: {parts})",
          note=f"status {resp.get('status')!r}; the SDK's Response.output_text would be {text!r}")


@requirement("OTEXT-002", MUST)
@pytest.mark.parametrize("mode", ["json", pytest.param("stream", marks=pytest.mark.feature("streaming"))])
def test_output_text_field_matches_parts(api, model, mode):
    resp, where = answer(api, model, mode)
    if resp.get("output_text") is None:
        nothing_to_judge("the response has no output_text field (an SDK-only property; the official API "
                         "does not send it)")
    check(resp["output_text"] == output_text(resp), f"{where}.output_text", resp["output_text"],
          f"{show(output_text(resp))}: the text of every output_text part of every message, joined "
          "(no reasoning, no refusal)")


def streamed(api: Any, model: str, kind: str) -> Stream:
    s = Stream.from_reply(stream_shared(api, STREAMS[kind](model), f"the {kind} request (stream: true)"))
    if s.final is None:
        fail("the stream's terminal event", s.summary(), "a terminal event with the final response (STREAM-TERM-001)")
    if not output_text(s.final) and not s.of_type("response.output_text.delta"):
        skip_if_cut_short(s.final)
        pytest.skip(f"no output_text in the {kind} stream's final response (see OTEXT-001)")
    return s


def report(s: Stream, problems: list[Any], kind: str) -> None:
    c = Collector()
    for p in problems:
        c.add(str(p))
    note = s.location_note()
    c.raise_if_any(f"the {kind} stream: {show(s.summary(), 600)}" + (f"\n{note}" if note else ""))


@requirement("OTEXT-003", MUST)
def test_deltas_join_to_the_final_text(api, model):
    kind = "answer"
    s = streamed(api, model, kind)
    problems = check_deltas_join(s, ["output_text"], required=["output_text"])
    joined = s.joined("output_text")
    if joined != output_text(s.final):
        problems.append(f"at: all response.output_text.delta events, joined\nReceived: {show(joined)}\n"
                        f"Expected: {show(output_text(s.final))}, the final response's output_text")
    report(s, problems, kind)


@requirement("OTEXT-004", MUST)
def test_done_events_carry_the_final_text(api, model):
    kind = "answer"
    s = streamed(api, model, kind)
    report(s, check_done_values(s, ["output_text"], required=["output_text"]), kind)


@requirement("OTEXT-005", MUST)
def test_sdk_stream_helper_agrees(sdk, model):
    import openai

    deltas: list[str] = []
    seen: list[str] = []
    try:
        with sdk.responses.stream(model=model, input=PROMPT, max_output_tokens=ANSWER) as events:
            for event in events:
                seen.append(event.type)
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
            if "response.incomplete" in seen and "response.completed" not in seen:
                pytest.skip("model did not cooperate: the response ended incomplete (the SDK's "
                            "get_final_response needs response.completed)")
            final = events.get_final_response()
    except openai.APIStatusError as exc:
        fail("responses.stream(...)", f"HTTP {exc.status_code}: {exc.message}", "an event stream")
    except (openai.APIError, RuntimeError, AssertionError, IndexError, KeyError, ValueError, TypeError) as exc:
        raise ConformanceFailure(
            f"at: openai-python responses.stream(...) after {len(seen)} events (last: {seen[-1:]})\n"
            f"Received: {exc.__class__.__name__}: {show(str(exc), 500)}\n"
            "Expected: a stream the official SDK can follow to its final response "
            "(response.created first, items added before their parts, parts before their deltas, a "
            "response.completed at the end)") from None
    c = Collector()
    c.check(final.output_text.strip() != "", "get_final_response().output_text", final.output_text,
            "the answer's text")
    c.check("".join(deltas) == final.output_text, "the SDK's response.output_text.delta events, joined",
            "".join(deltas), f"{show(final.output_text)}, get_final_response().output_text")
    c.raise_if_any()
