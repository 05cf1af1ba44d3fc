"""The event stream of `stream: true`, read from the raw SSE bytes and held to the stream grammar.

Three streams are read once each and shared by every requirement (`stream_shared`): an answer
(the plainest request), a tool call, and an answer cut short by max_output_tokens=16.  Each
requirement is one rule of `conformance.judge.stream` applied to each of them; the rules say what the
spec fixes and leave open what it leaves open (see that module).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.judge.checks import MISSING, Collector, ConformanceFailure, check, fail, nothing_to_judge, show
from conformance.judge.responses import (
    ANSWER,
    LONG_PROMPT,
    TOOL_PROMPT,
    TRUNCATED_LIMIT,
    WEATHER_TOOL,
    ok_object,
    post_ok,
    post_shared,
    request,
    send_shared,
    stream_ok,
    stream_shared,
)
from conformance.judge.schema import Schemas
from conformance.judge.stream import (
    Problem,
    Stream,
    check_deltas_join,
    check_done_values,
    check_event_names,
    check_final_items,
    check_indexes,
    check_item_ids,
    check_item_pairing,
    check_json,
    check_known_types,
    check_nesting,
    check_no_sentinel,
    check_response_id,
    check_schemas,
    check_sequence,
    check_start,
    check_terminal_status,
    check_termination,
    final_keys,
    indexes_carried,
)
from conformance.suite.requirements import MUST, SHOULD, requirement
from conformance.wire.ahead import runs_ahead

# The streamed requests, by kind; the same bodies as the other areas' so replies are shared.
BODIES = {
    "answer": lambda model: request(model),
    "tool_call": lambda model: request(model, TOOL_PROMPT, ANSWER, tools=[WEATHER_TOOL]),
    "truncated": lambda model: request(model, LONG_PROMPT, TRUNCATED_LIMIT),
}


def read_stream(api: Any, model: str, kind: str, config: pytest.Config) -> Stream:
    """The shared stream of this kind (the tool-call case is dropped when the server does not claim tools)."""
    try:
        reply = stream_shared(api, BODIES[kind](model), f"the {kind} request (stream: true)")
    except ConformanceFailure as exc:
        if kind == "tool_call" and "HTTP 4" in str(exc):
            pytest.skip(f"the server rejected a function tool ({str(exc).splitlines()[1][:200]}); see the tools area")
        raise
    s = Stream.from_reply(reply)
    s.meta["kind"] = kind
    return s


@pytest.fixture(params=[pytest.param(k, marks=pytest.mark.feature("tools")) if k == "tool_call" else k
                        for k in BODIES])
@runs_ahead  # a shared reply: its test can run ahead of its turn (--concurrency)
def stream(request: pytest.FixtureRequest, api: Any, model: str) -> Stream:
    return read_stream(api, model, request.param, request.config)


def report(s: Stream, problems: list[Problem], rule: str) -> None:
    """Fail with every problem found, under a header naming the stream and its events."""
    if problems:
        c = Collector()
        for p in problems:
            c.add(str(p))
        note = s.location_note()
        c.raise_if_any(f"the {s.meta.get('kind', '')} stream breaks the rule: {rule}\n"
                       f"stream: {show(s.summary(), 700)}" + (f"\n{note}" if note else ""))


KNOWN_TYPES = Schemas.load().dispatch["stream_event"]


# -- HTTP -----------------------------------------------------------------------------------------


@requirement("STREAM-HTTP-001", MUST)
def test_stream_content_type(api, model):
    reply = stream_shared(api, BODIES["answer"](model), "the answer request (stream: true)")
    ctype = reply.content_type
    check(ctype.split(";")[0].strip().lower() == "text/event-stream", "response header Content-Type",
          ctype or MISSING, "text/event-stream (the spec's streaming media type; SSE clients require it)")


@requirement("STREAM-HTTP-002", MUST)
def test_no_stream_without_stream(api, model):
    body = BODIES["answer"](model)  # no `stream` field: the default, false
    reply = send_shared(api, "POST", "responses", json_body=body)
    streamed = "event-stream" in reply.content_type.lower() or reply.body.lstrip().startswith((b"data:", b"event:"))
    check(not streamed, "the reply to a request without `stream`",
          f"HTTP {reply.status}, Content-Type {reply.content_type or '(none)'}: {show(reply.body[:160])}",
          "the response object as application/json: `stream` defaults to false",
          note="the official SDK's responses.create() without stream= then returns a str, not a Response")
    resp = ok_object(reply, "POST /v1/responses without `stream`")
    check("json" in reply.content_type.lower(), "response header Content-Type", reply.content_type or MISSING,
          "application/json")
    check(resp.get("object") == "response", "$.object", resp.get("object", MISSING), '"response"')


# -- framing and events ---------------------------------------------------------------------------


@requirement("STREAM-SSE-001", MUST)
def test_well_formed_sse(stream):
    report(stream, check_json(stream), "well-formed SSE, each event's data one JSON object")


@requirement("STREAM-SSE-002", MUST)
def test_event_field_names_the_type(stream):
    report(stream, check_event_names(stream), "the SSE event: field equals the data's type")


@requirement("STREAM-EVENT-001", MUST)
def test_event_types_from_the_spec(stream):
    report(stream, check_known_types(stream, KNOWN_TYPES), "only the spec's event types")


@requirement("STREAM-EVENT-002", MUST)
def test_events_match_their_schema(stream):
    report(stream, check_schemas(stream, KNOWN_TYPES), "every event valid against its schema")


@requirement("STREAM-SEQ-001", MUST)
def test_sequence_numbers_increase(stream):
    report(stream, check_sequence(stream), "sequence_number on every event, strictly increasing")


@requirement("STREAM-ORDER-001", MUST)
def test_created_comes_first(stream):
    report(stream, check_start(stream), "response.created first")


# -- the end --------------------------------------------------------------------------------------


@requirement("STREAM-TERM-001", MUST)
def test_one_terminal_event_ends_the_stream(stream):
    report(stream, check_termination(stream), "exactly one terminal event, last")


@requirement("STREAM-TERM-002", MUST)
def test_terminal_event_matches_status(stream):
    report(stream, check_terminal_status(stream), "the terminal event's type matches the final status")


@requirement("STREAM-TERM-003", SHOULD)
def test_no_done_sentinel(stream):
    report(stream, check_no_sentinel(stream), "no [DONE] sentinel")


# -- items, ids, indexes --------------------------------------------------------------------------


@requirement("STREAM-ITEM-001", MUST)
def test_items_added_then_done(stream):
    report(stream, check_item_pairing(stream), "each output_item.added closed by its output_item.done")


@requirement("STREAM-ITEM-002", MUST)
def test_final_output_is_the_streamed_items(stream):
    report(stream, check_final_items(stream), "the final output is the items finished by output_item.done")


@requirement("STREAM-ID-001", MUST)
def test_item_ids_are_stable(stream):
    report(stream, check_item_ids(stream), "non-empty item ids; item_id names the item at output_index")


@requirement("STREAM-ID-002", MUST)
def test_response_id_is_stable(stream):
    report(stream, check_response_id(stream), "one response id across lifecycle events")


@requirement("STREAM-INDEX-001", MUST)
def test_indexes_point_at_the_final_parts(stream):
    if not indexes_carried(stream):
        nothing_to_judge(f"no item or part event of the {stream.meta.get('kind')} stream carries an output_index "
                         "(their absence is STREAM-EVENT-002's finding)")
    report(stream, check_indexes(stream), "output_index / content_index / summary_index point at the final part")


@requirement("STREAM-NEST-001", MUST)
def test_events_nest_inside_their_item_and_part(stream):
    report(stream, check_nesting(stream), "events inside their item; message text inside its content part")


REASONING_KINDS = ("reasoning_text", "reasoning_summary_text")


@requirement("STREAM-TEXT-001", MUST)
def test_reasoning_deltas_join_to_done_and_final(stream):
    streamed = stream.of_type("response.reasoning_text.delta", "response.reasoning_text.done",
                              "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done")
    # reasoning text in the final response must have been streamed; a stream with none, in its events or
    # its final response (a tool call the model made without thinking), has nothing for this requirement
    in_final = [k for k in REASONING_KINDS if final_keys(stream, k)]
    if not streamed and not in_final:
        nothing_to_judge(f"the {stream.meta.get('kind')} stream has no reasoning text, streamed or final")
    report(stream, check_deltas_join(stream, REASONING_KINDS, required=in_final)
           + check_done_values(stream, REASONING_KINDS, required=in_final),
           "reasoning deltas join to their .done value and to the final item")


# -- the final response against the same request unstreamed ----------------------------------------


def item_kinds(resp: dict[str, Any] | None) -> list[str]:
    """The kinds of output items, reasoning left out (a model may think more or less from run to run)."""
    return sorted({it.get("type") for it in (resp or {}).get("output") or []
                   if isinstance(it, dict) and it.get("type") != "reasoning"})


@requirement("STREAM-FINAL-001", MUST)
@pytest.mark.parametrize("kind", ["answer", pytest.param("tool_call", marks=pytest.mark.feature("tools"))])
def test_stream_gives_the_same_kinds_of_items(api, model, kind, pytestconfig):
    s = read_stream(api, model, kind, pytestconfig)
    body = {**BODIES[kind](model), "stream": False}  # said explicitly: STREAM-HTTP-002 judges the default
    resp = post_shared(api, body, f"the {kind} request (stream: false)")
    if s.final is None:
        fail("the terminal event's response", MISSING, "the final response (see STREAM-TERM-001)")
    if item_kinds(s.final) != item_kinds(resp):
        # a sampling model may answer differently twice: ask both ways once more before judging
        resp = post_ok(api, body, f"the {kind} request (stream: false, asked again)")
        s = Stream.from_reply(stream_ok(api, body, f"the {kind} request (stream: true, asked again)"))
    check(item_kinds(s.final) == item_kinds(resp), "streamed response.output[*].type", item_kinds(s.final),
          f"the kinds of items of the same request unstreamed: {item_kinds(resp)} (asked twice each way)",
          note="a stream must not turn a function_call item into text (e.g. <tool_call> markup in "
               "output_text deltas), nor drop or add items")


@requirement("STREAM-FINAL-002", SHOULD)
def test_stream_final_response_has_the_fields_of_the_json_one(api, model, pytestconfig):
    s = read_stream(api, model, "answer", pytestconfig)
    resp = post_shared(api, {**BODIES["answer"](model), "stream": False}, "the answer request (stream: false)")
    final = s.final
    if final is None:
        fail("the terminal event's response", MISSING, "the final response (see STREAM-TERM-001)")
    c = Collector()
    c.check(isinstance(final.get("usage"), dict), "terminal event .response.usage", final.get("usage", MISSING),
            "the usage object, as in the unstreamed response (clients read usage from the terminal event)")
    missing = sorted(k for k, v in resp.items() if v is not None and final.get(k) is None and k != "output_text")
    c.check(not missing, "terminal event .response", missing,
            "every field the unstreamed response sets (these are absent or null in the stream)")
    c.raise_if_any()
