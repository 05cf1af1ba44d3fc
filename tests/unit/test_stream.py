"""The stream grammar (`conformance.judge.stream`): silent on every valid stream, precise on broken ones.

Valid streams come from the reference server's event writer (`refserver.events`) and from the
valid variations the spec and SSE allow (no `event:` field, CRLF/CR framing, comments, no
`response.in_progress`, reasoning parts without content_part events, gaps in sequence numbers,
extra fields...).  Each broken stream is a clean one with one realistic defect, and must break
exactly the rules named.  The recorded peer streams in `data/` pin what the grammar says about
real servers.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from conformance.judge.stream import Stream, check_deltas_join, problems_by_rule
from conformance.refserver import engine, events

DATA = Path(__file__).parent / "data"
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}}, "required": ["city"]}}


def reference(kind: str = "answer") -> list[dict[str, Any]]:
    """A clean event list from the reference server's writer."""
    req: dict[str, Any] = {"model": "ref-reasoner", "reasoning": {"summary": "auto"}}
    prompt, limit = "What is the weather in Paris today?", 256
    if kind == "tool":
        req["tools"], prompt = [TOOL], "Call the get_weather tool for Paris."
    elif kind == "truncated":
        limit = 16
    elif kind == "plain":
        req = {"model": "ref-plain"}
    ctx = engine.Context()
    ctx.add("user", prompt)
    ctx.last_user = prompt
    output, usage = engine.build_output(engine.make_plan(req, ctx), req, limit)
    resp = engine.response_skeleton(req, engine.new_id("resp"))
    engine.finish(resp, output, usage, ctx.n_tokens)
    return json.loads(json.dumps(events.number(events.stream_events(resp))))  # no shared objects


def encode(evs: list[Any], *, names: bool = True, eol: str = "\n", extra: str = "") -> bytes:
    out = ""
    for ev in evs:
        if isinstance(ev, str):  # a raw data payload
            out += f"data: {ev}{eol}{eol}"
            continue
        if names:
            out += f"event: {ev.get('type')}{eol}"
        out += extra + f"data: {json.dumps(ev)}{eol}{eol}"
    return out.encode()


def broken(s: Stream) -> dict[str, list[str]]:
    return {rule: [str(p) for p in found] for rule, found in problems_by_rule(s).items()}


def rules_of(evs: list[Any], **kw: Any) -> set[str]:
    return set(broken(Stream.from_bytes(encode(evs, **kw))))


def find(evs: list[dict[str, Any]], type_: str, nth: int = 0) -> dict[str, Any]:
    return [e for e in evs if e.get("type") == type_][nth]


def renumber(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return events.number(evs)


# -- valid streams --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["answer", "tool", "truncated", "plain"])
def test_reference_streams_break_no_rule(kind):
    s = Stream.from_bytes(encode(reference(kind)))
    assert broken(s) == {}


def _no_in_progress(evs):
    return renumber([e for e in evs if e["type"] != "response.in_progress"])


def _no_reasoning_parts(evs):
    drop = {"response.reasoning_summary_part.added", "response.reasoning_summary_part.done"}
    out = []
    for e in evs:
        if e["type"] in drop:
            continue
        if e["type"] in ("response.content_part.added", "response.content_part.done") and \
                e["part"]["type"] == "reasoning_text":
            continue
        out.append(e)
    return renumber(out)


def _no_reasoning_deltas(evs):
    return renumber([e for e in evs if not e["type"].startswith("response.reasoning")])


def _args_in_one_done(evs):
    return renumber([e for e in evs if e["type"] != "response.function_call_arguments.delta"])


def _sequence_with_gaps(evs):
    for i, e in enumerate(evs):
        e["sequence_number"] = 100 + 3 * i
    return evs


def _extra_fields(evs):
    for e in evs:
        e["obfuscation"] = "xYz"
        e["x_vendor"] = {"any": 1}
    return evs


def _queued_first(evs):
    evs[0]["response"]["status"] = "queued"
    return evs


def _keepalives(evs):
    return evs  # see the `extra` framing argument below


VALID_VARIANTS = {
    "no in_progress": (_no_in_progress, {}),
    "no event: field": (lambda e: e, {"names": False}),
    "CRLF framing": (lambda e: e, {"eol": "\r\n"}),
    "CR framing": (lambda e: e, {"eol": "\r"}),
    "comment and id/retry lines": (lambda e: e, {"extra": ": keep-alive\nid: 7\nretry: 1000\n"}),
    "no reasoning part events": (_no_reasoning_parts, {}),
    "reasoning not streamed": (_no_reasoning_deltas, {}),
    "sequence numbers with gaps": (_sequence_with_gaps, {}),
    "extra fields": (_extra_fields, {}),
    "created as queued": (_queued_first, {}),
}


@pytest.mark.parametrize("kind", ["answer", "tool"])
@pytest.mark.parametrize("variant", list(VALID_VARIANTS))
def test_valid_variants_break_no_rule(variant, kind):
    change, framing = VALID_VARIANTS[variant]
    assert rules_of(change(reference(kind)), **framing) == set()


def test_function_arguments_in_a_single_done_event_are_valid():
    assert rules_of(_args_in_one_done(reference("tool"))) == set()


def test_multi_line_data_and_tiny_chunks_are_valid():
    evs = reference()
    raw = b"".join(b"".join(b"data: " + line + b"\n" for line in json.dumps(e, indent=2).encode().split(b"\n"))
                   + b"\n" for e in evs)
    s = Stream.from_bytes(raw, chunks=[raw[i:i + 3] for i in range(0, len(raw), 3)])
    assert len(s.events) == len(evs)
    assert broken(s) == {}


def test_bom_and_keepalive_comments_between_events_are_valid():
    raw = b"\xef\xbb\xbf: open\n\n" + encode(reference(), extra=": ping\n") + b": bye\n\n"
    assert broken(Stream.from_bytes(raw)) == {}


# -- broken streams: one realistic defect each ----------------------------------------------------


def d_no_sequence(evs):  # codex-relay
    for e in evs:
        del e["sequence_number"]
    return evs


def d_sequence_per_item(evs):  # llama.cpp before #24957: counters restart per part
    n = 0
    for e in evs:
        if e["type"] == "response.output_item.added":
            n = 0
        e["sequence_number"] = n
        n += 1
    return evs


def d_vendor_reasoning_parts(evs):  # vLLM #24938
    for e in evs:
        if e["type"].startswith("response.content_part.") and e["part"]["type"] == "reasoning_text":
            e["type"] = e["type"].replace("content_part", "reasoning_part")
    return evs


def d_done_sentinel(evs):
    return [*evs, "[DONE]"]


def d_incomplete_as_completed(evs):  # vLLM agentic-api #273
    evs[-1]["type"] = "response.completed"
    return evs


def d_no_terminal(evs):  # vLLM #22341
    return evs[:-1]


def d_terminal_twice(evs):
    return renumber([*evs, copy.deepcopy(evs[-1])])


def d_event_after_terminal(evs):
    late = copy.deepcopy(find(evs, "response.output_text.delta"))
    return renumber([*evs, late])


def d_no_created(evs):
    return renumber(evs[1:])


def d_created_finished(evs):  # a finished response replayed as a stream
    evs[0]["response"] = copy.deepcopy(evs[-1]["response"])
    return evs


def d_item_never_done(evs):  # Llama Stack: no output_item.done for the reasoning item
    done = find(evs, "response.output_item.done")
    return renumber([e for e in evs if e is not done])


def d_final_ids_regenerated(evs):  # vLLM #7: the completed response rebuilt with new ids
    for item in evs[-1]["response"]["output"]:
        item["id"] = engine.new_id(item["id"].split("_")[0])
    return evs


def d_call_id_churn(evs):  # vLLM PR #47916
    for item in evs[-1]["response"]["output"]:
        if item["type"] == "function_call":
            item["call_id"] = engine.new_id("call")
    return evs


def d_empty_ids(evs):  # vLLM PR #23927 log
    for e in evs:
        if "item_id" in e:
            e["item_id"] = ""
        if e["type"].startswith("response.output_item."):
            e["item"]["id"] = ""
    return evs


def d_completed_empty_output(evs):  # vLLM PR #30223
    evs[-1]["response"]["output"] = []
    return evs


def d_content_index_across_items(evs):  # vLLM #32: the message's only part gets index 1
    msg = find(evs, "response.output_item.added", 1)["item"]["id"]
    for e in evs:
        if e.get("item_id") == msg and "content_index" in e:
            e["content_index"] += 1
    return evs


def d_delta_before_item(evs):  # Llama Stack: deltas before output_item.added
    added = find(evs, "response.output_item.added", 1)
    evs.remove(added)
    first_delta = evs.index(find(evs, "response.output_text.delta"))
    evs.insert(first_delta + 1, added)
    return renumber(evs)


def d_no_content_part_added(evs):  # codex-relay
    return renumber([e for e in evs if not (e["type"] == "response.content_part.added"
                                            and e["part"]["type"] == "output_text")])


def d_stripped_deltas(evs):  # token-by-token detokenizing that drops leading spaces
    for e in evs:
        if e["type"] == "response.output_text.delta":
            e["delta"] = e["delta"].strip()
    return evs


def d_no_text_done(evs):  # Llama Stack #5309
    return renumber([e for e in evs if e["type"] != "response.output_text.done"])


def d_text_done_last_delta(evs):
    last = [e for e in evs if e["type"] == "response.output_text.delta"][-1]
    find(evs, "response.output_text.done")["text"] = last["delta"]
    return evs


def d_reasoning_done_differs(evs):
    find(evs, "response.reasoning_text.done")["text"] = "something else"
    return evs


def d_response_id_changes(evs):
    evs[0]["response"]["id"] = "resp_placeholder"
    return evs


def d_name_is_class(evs):
    return evs  # see the framing below


def d_python_repr(evs):
    return [str(e) for e in evs]


def d_missing_logprobs(evs):  # llama.cpp #24957: required fields missing
    for e in evs:
        if e["type"].startswith("response.output_text."):
            e.pop("logprobs", None)
    return evs


BROKEN = {
    "no sequence_number": ("answer", d_no_sequence, {"sequence", "schemas"}),
    "sequence restarts per item": ("answer", d_sequence_per_item, {"sequence"}),
    "vendor reasoning_part events": ("answer", d_vendor_reasoning_parts, {"known_types"}),
    "[DONE] sentinel": ("answer", d_done_sentinel, {"no_sentinel"}),
    "incomplete ends with completed": ("truncated", d_incomplete_as_completed, {"terminal_status"}),
    "no terminal event": ("answer", d_no_terminal, {"termination"}),
    "terminal event twice": ("answer", d_terminal_twice, {"termination"}),
    "event after the terminal": ("answer", d_event_after_terminal, {"termination", "nesting"}),
    "no response.created": ("answer", d_no_created, {"start"}),
    "created already completed": ("answer", d_created_finished, {"start"}),
    "item never done": ("answer", d_item_never_done, {"item_pairing", "final_items"}),
    "final ids regenerated": ("answer", d_final_ids_regenerated, {"final_items"}),
    "call_id churn": ("tool", d_call_id_churn, {"final_items"}),
    "empty ids": ("answer", d_empty_ids, {"item_ids", "final_items"}),
    "completed with empty output": ("answer", d_completed_empty_output, {"final_items"}),
    "content_index across items": ("answer", d_content_index_across_items, {"indexes", "deltas_join", "done_values"}),
    "delta before its item": ("answer", d_delta_before_item, {"nesting"}),
    "no content_part.added": ("answer", d_no_content_part_added, {"nesting"}),
    "deltas lose spaces": ("answer", d_stripped_deltas, {"deltas_join"}),
    "no output_text.done": ("answer", d_no_text_done, {"done_values"}),
    "output_text.done is the last delta": ("answer", d_text_done_last_delta, {"done_values"}),
    "reasoning .done differs": ("answer", d_reasoning_done_differs, {"done_values"}),
    "response id changes": ("answer", d_response_id_changes, {"response_id"}),
    "python repr data": ("answer", d_python_repr, {"json", "start", "termination"}),
    "missing logprobs": ("answer", d_missing_logprobs, {"schemas"}),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_defect_breaks_exactly_its_rules(name):
    kind, change, want = BROKEN[name]
    got = broken(Stream.from_bytes(encode(change(reference(kind)))))
    assert set(got) == want, got


def test_event_name_differing_from_type():
    evs = reference()
    raw = "".join(f"event: {type(e).__name__}\ndata: {json.dumps(e)}\n\n" for e in evs).encode()
    assert set(broken(Stream.from_bytes(raw))) == {"event_names"}


def test_event_cut_off_at_the_end():
    raw = encode(reference())[:-2]  # the terminal event loses its blank line
    got = broken(Stream.from_bytes(raw))
    assert set(got) == {"json", "termination"}, got
    assert "in the middle of an event" in got["termination"][0]


def test_invalid_utf8_is_a_framing_problem():
    raw = encode(reference()).replace(b'"ref-reasoner"', b'"ref-\xffreasoner"', 1)
    assert set(broken(Stream.from_bytes(raw))) == {"json"}


def test_a_stall_after_the_terminal_event_is_reported():
    s = Stream.from_bytes(encode(reference()))
    s.transport_error = "stream stalled after 36 events: no byte for 10 s"
    assert set(broken(s)) == {"termination"}


def test_repeated_problems_are_grouped():
    got = broken(Stream.from_bytes(encode(d_no_sequence(reference()))))
    assert len(got["sequence"]) == 1 and "more event(s) alike" in got["sequence"][0]


def test_deltas_of_optional_kinds_are_compared_only_when_streamed():
    s = Stream.from_bytes(encode(_no_reasoning_deltas(reference())))
    assert check_deltas_join(s, ["reasoning_text", "reasoning_summary_text"]) == []
    assert check_deltas_join(s, ["reasoning_text"], required=["reasoning_text"]) != []


# -- recorded peer streams ------------------------------------------------------------------------


RECORDED = {
    "refserver-stream.sse": set(),
    # float created_at, missing required fields in the lifecycle responses
    "hfserve-stream.sse": {"schemas"},
    # [DONE]; summary_part.done without .added; the done item (summary) differs from the final one (content)
    "litellm-bridge-stream.sse": {"schemas", "no_sentinel", "final_items", "indexes", "nesting"},
    # no sequence_number, no content_part events, no output_text.done (its deltas carry no content_index:
    # they are matched to the message's only part, and they join)
    "codex-relay-stream.sse": {"schemas", "sequence", "nesting", "done_values"},
    # llama.cpp build 11434: no sequence_number, output_index or content_index anywhere (events located by
    # item_id: no false verdict on items, nesting or text), lifecycle responses without required fields,
    # no reasoning_text.done
    "llamacpp-stream.sse": {"schemas", "sequence", "done_values"},
}


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_peer_streams(name):
    got = broken(Stream.from_bytes((DATA / name).read_bytes()))
    assert set(got) == RECORDED[name], json.dumps(got, indent=1)[:3000]


# -- end to end: valid wire variants through HTTP, the client and the grammar ---------------------


def _crlf(ctx, chunks):
    return (c.replace(b"\n", b"\r\n") for c in chunks)


def _cr_in_bytes(ctx, chunks):
    for c in chunks:  # CR framing, one byte per chunk
        yield from (bytes([b]) for b in c.replace(b"\n", b"\r"))


def _data_only_with_keepalives(ctx, chunks):
    yield b": stream opened\n\n"
    for c in chunks:
        yield b": keep-alive\nretry: 3000\n" + c.split(b"\n", 1)[1]  # no event: line


WIRE_VARIANTS = {"CRLF": _crlf, "CR, byte by byte": _cr_in_bytes, "data only, keep-alives": _data_only_with_keepalives}


@pytest.mark.parametrize("variant", list(WIRE_VARIANTS))
def test_valid_wire_variants_over_http(variant):
    from conformance.refserver import start_in_thread
    from conformance.refserver.defects import Defect
    from conformance.wire.http import ApiClient

    server = start_in_thread()
    server.defect = Defect("wire-variant", ("none",), variant, "", "unit", {"sse": WIRE_VARIANTS[variant]})
    client = ApiClient(server.url, timeout=20)
    try:
        reply = client.stream("responses", {"model": "ref-reasoner", "input": "Hi", "stream": True,
                                            "reasoning": {"summary": "auto"}})
        s = Stream.from_reply(reply)
        assert reply.error is None and len(s.events) > 20
        assert broken(s) == {}
    finally:
        client.close()
        server.shutdown()
        server.server_close()
