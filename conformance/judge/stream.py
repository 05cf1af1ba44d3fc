"""The grammar of a Responses event stream: pure checks over parsed SSE events.

`Stream` holds the events of one streamed reply (from `ApiClient.stream`, or bytes in a unit
test), each with its data parsed as JSON.  Every `check_*` function takes a `Stream` and returns
the `Problem`s it finds (an empty list: the rule holds); none raises, none touches the network.

What is checked comes from the spec (the `ResponseStreamEvent` union and the event
descriptions), the SSE standard, the official SDK's stream accumulator (openai-python
`lib/streaming/responses`), and the spec's example stream.  Orderings the spec leaves open are
NOT checked, because a correct server may differ from the reference server there:

- `response.in_progress` (and `response.queued`) are optional;
- reasoning content parts may come with or without `response.content_part.added/.done`;
  reasoning summaries with or without summary parts; a function call's argument deltas may be
  absent (one `.done` only);
- items may follow each other in any order and output indexes may have gaps;
- `sequence_number` need not start at 0 or grow by exactly 1 (it must grow);
- the SSE `event:` field may be absent (the SDK reads `data` only); keep-alive comments,
  `id:`/`retry:` fields and any valid line ending are fine;
- extra fields on any event or object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.judge.checks import MISSING, describe, show
from conformance.wire.sse import SSEEvent, SSEParser

TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
LIFECYCLE = ("response.created", "response.queued", "response.in_progress", *TERMINAL)
SENTINEL = "[DONE]"

# Text-like streams: (delta event, done event, field of the done event, index field, where the final value lives)
TEXT_KINDS: dict[str, tuple[str, str, str, str | None, str]] = {
    "output_text": ("response.output_text.delta", "response.output_text.done", "text", "content_index", "content"),
    "refusal": ("response.refusal.delta", "response.refusal.done", "refusal", "content_index", "content"),
    "reasoning_text": ("response.reasoning_text.delta", "response.reasoning_text.done", "text", "content_index",
                       "content"),
    "reasoning_summary_text": ("response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
                               "text", "summary_index", "summary"),
    "function_call_arguments": ("response.function_call_arguments.delta", "response.function_call_arguments.done",
                                "arguments", None, "arguments"),
}
# Which item an event's output_index must point at, and which part its content_index must point at.
ITEM_KIND = {
    "response.output_text.delta": "message", "response.output_text.done": "message",
    "response.output_text.annotation.added": "message",
    "response.refusal.delta": "message", "response.refusal.done": "message",
    "response.reasoning_text.delta": "reasoning", "response.reasoning_text.done": "reasoning",
    "response.reasoning_summary_part.added": "reasoning", "response.reasoning_summary_part.done": "reasoning",
    "response.reasoning_summary_text.delta": "reasoning", "response.reasoning_summary_text.done": "reasoning",
    "response.function_call_arguments.delta": "function_call",
    "response.function_call_arguments.done": "function_call",
}
PART_KIND = {
    "response.output_text.delta": "output_text", "response.output_text.done": "output_text",
    "response.output_text.annotation.added": "output_text",
    "response.refusal.delta": "refusal", "response.refusal.done": "refusal",
    "response.reasoning_text.delta": "reasoning_text", "response.reasoning_text.done": "reasoning_text",
}


@dataclass(frozen=True)
class Problem:
    """One broken rule, in the suite's failure shape."""

    at: str
    received: Any
    expected: str

    def __str__(self) -> str:
        return describe(self.at, self.received, self.expected)


@dataclass
class Event:
    index: int  # position among the stream's dispatched SSE events
    name: str | None  # the SSE `event:` field, None when absent
    raw: str  # the SSE data
    data: Any = None  # the data parsed as JSON (a dict for a well-formed event)
    error: str | None = None  # why the data is not a JSON object

    @property
    def type(self) -> str | None:
        t = self.data.get("type") if isinstance(self.data, dict) else None
        return t if isinstance(t, str) else None

    @property
    def is_sentinel(self) -> bool:
        return self.raw.strip() == SENTINEL

    def get(self, key: str, default: Any = MISSING) -> Any:
        return self.data.get(key, default) if isinstance(self.data, dict) else default

    @property
    def label(self) -> str:
        seq = self.get("sequence_number", None)
        tail = f" (sequence_number {seq})" if isinstance(seq, int) else ""
        return f"event[{self.index}] {self.type or ('[DONE]' if self.is_sentinel else '?')}{tail}"


@dataclass
class Stream:
    """The events of one streamed reply, and how the reply ended."""

    events: list[Event]
    transport_error: str | None = None  # stalled / dropped / too long; None when the server closed cleanly
    partial_event_at_end: bool = False
    invalid_utf8: bool = False
    content_type: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_sse(cls, events: Iterable[SSEEvent], **kw: Any) -> Stream:
        out = []
        for i, ev in enumerate(events):
            item = Event(i, ev.event if ev.had_event_field else None, ev.data)
            if not item.is_sentinel:
                try:
                    item.data = json.loads(ev.data)
                    if not isinstance(item.data, dict):
                        item.error = f"JSON {type(item.data).__name__}, not an object"
                except ValueError as exc:
                    item.error = f"not JSON ({exc})"
            out.append(item)
        return cls(out, **kw)

    @classmethod
    def from_reply(cls, reply: Any) -> Stream:
        """From an `http.StreamReply`."""
        return cls.from_sse(reply.events, transport_error=reply.error, partial_event_at_end=reply.partial_event_at_end,
                            invalid_utf8=reply.invalid_utf8, content_type=reply.content_type)

    @classmethod
    def from_bytes(cls, raw: bytes, chunks: Iterable[bytes] | None = None) -> Stream:
        parser = SSEParser()
        events = parser.feed_all(chunks if chunks is not None else [raw])
        return cls.from_sse(events, partial_event_at_end=parser.has_partial_event, invalid_utf8=parser.invalid_utf8,
                            content_type="text/event-stream")

    @property
    def objects(self) -> list[Event]:
        """The events whose data is a JSON object."""
        return [e for e in self.events if isinstance(e.data, dict)]

    def of_type(self, *types: str) -> list[Event]:
        return [e for e in self.objects if e.type in types]

    def before_end(self, *types: str) -> list[Event]:
        """Events of these types up to the first terminal event (what the response is made of)."""
        end = self.terminal.index if self.terminal else len(self.events)
        return [e for e in self.of_type(*types) if e.index < end]

    @property
    def terminals(self) -> list[Event]:
        return self.of_type(*TERMINAL)

    @property
    def terminal(self) -> Event | None:
        terms = self.terminals
        return terms[0] if terms else None

    @property
    def final(self) -> dict[str, Any] | None:
        """The response of the (first) terminal event."""
        term = self.terminal
        resp = term.get("response", None) if term else None
        return resp if isinstance(resp, dict) else None

    def final_item(self, output_index: Any) -> dict[str, Any] | None:
        output = (self.final or {}).get("output")
        if isinstance(output, list) and _is_int(output_index) and 0 <= output_index < len(output):
            item = output[output_index]
            return item if isinstance(item, dict) else None
        return None

    def joined(self, kind: str, output_index: int | None = None) -> str:
        """The deltas of one kind (e.g. "output_text"), joined in order, optionally of one item."""
        delta_type = TEXT_KINDS[kind][0]
        return "".join(str(e.get("delta", "")) for e in self.of_type(delta_type)
                       if output_index is None or self.item_position(e) == output_index)

    # -- where an event belongs ---------------------------------------------------------------------
    # The spec's events carry output_index (and content_index/summary_index) and item_id. A server that
    # leaves the indexes out (llama.cpp) still names the item: its events are then located by item_id,
    # and by the item's only part, so one missing field stays one finding (STREAM-EVENT-002's), not a
    # wrong verdict in every check that matches events to items. `located_by` records what was used.

    def _id_positions(self) -> dict[str, int]:
        cached = self.meta.get("_id_positions")
        if cached is None:
            cached = {}
            output = (self.final or {}).get("output")
            for i, item in enumerate(output if isinstance(output, list) else []):
                if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                    cached.setdefault(item["id"], i)
            if not cached:  # no final output to place items by: the order the stream announced them in
                for e in self.of_type("response.output_item.added"):
                    item = e.get("item")
                    if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                        cached.setdefault(item["id"], len(cached))
            self.meta["_id_positions"] = cached
        return cached

    @property
    def located_by(self) -> set[str]:
        return self.meta.setdefault("_located_by", set())

    def item_position(self, e: Event) -> Any:
        """The output index of the item an event is about: its output_index, else found by the item's id."""
        oi = e.get("output_index")
        if _is_int(oi):
            return oi
        item = e.get("item")
        item_id = e.get("item_id") if "item_id" in e.data else item.get("id") if isinstance(item, dict) else None
        pos = self._id_positions().get(item_id) if isinstance(item_id, str) else None
        if pos is not None:
            self.located_by.add("item_id")
        return pos

    def part_position(self, e: Event, index_key: str | None) -> Any:
        """The part index of a part event: its content_index/summary_index, else the item's only part."""
        if index_key is None:
            return None
        idx = e.get(index_key)
        if _is_int(idx):
            return idx
        item = self.final_item(self.item_position(e))
        parts = item.get("summary" if index_key == "summary_index" else "content") if item else None
        if isinstance(parts, list) and len(parts) == 1:
            self.located_by.add("the item's only part")
            return 0
        return None

    def location_note(self) -> str:
        """What a failure says when events were placed without their own indexes."""
        if not self.located_by:
            return ""
        return ("Note: events without output_index/content_index were matched to items by "
                f"{' and '.join(sorted(self.located_by))} (the missing fields are STREAM-EVENT-002's finding)")

    def summary(self) -> str:
        types = [e.type or ("[DONE]" if e.is_sentinel else "?") for e in self.events]
        counts: list[str] = []
        for t in types:
            if counts and counts[-1].split(" x")[0] == t:
                n = int(counts[-1].split(" x")[1]) + 1 if " x" in counts[-1] else 2
                counts[-1] = f"{t} x{n}"
            else:
                counts.append(t)
        end = f"; then: {self.transport_error}" if self.transport_error else ""
        return f"{len(types)} events: " + ", ".join(counts) + end


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _grouped(problems: list[tuple[Any, Problem]]) -> list[Problem]:
    """One problem per key: the first, saying how many more events broke the rule the same way."""
    first: dict[Any, Problem] = {}
    count: dict[Any, int] = {}
    for key, p in problems:
        if key not in first:
            first[key] = p
        count[key] = count.get(key, 0) + 1
    out = []
    for key, p in first.items():
        more = count[key] - 1
        out.append(p if not more else Problem(p.at, p.received, f"{p.expected} [and {more} more event(s) alike]"))
    return out


# -- framing --------------------------------------------------------------------------------------


def check_json(s: Stream) -> list[Problem]:
    """Every event's data is one JSON object; UTF-8; no event cut off at a clean close."""
    out = [Problem(e.label, e.raw[:300], f"data holding one JSON event object ({e.error})")
           for e in s.events if e.error is not None and not e.is_sentinel]
    if s.invalid_utf8:
        out.append(Problem("the stream's bytes", "bytes that are not UTF-8", "UTF-8 (an event stream is always UTF-8)"))
    if s.partial_event_at_end and s.transport_error is None:
        out.append(Problem("end of stream", "an event without the blank line that ends it (SSE discards it)",
                           "every event ended by a blank line before the server closes the stream"))
    return out


def check_event_names(s: Stream) -> list[Problem]:
    """The SSE `event:` field, when present, names the event's type."""
    return _grouped([((e.name, e.type), Problem(f"{e.label}: SSE field `event:`", e.name,
                                                f"{e.type!r}, the type in its data (or no event: field at all)"))
                     for e in s.objects if e.name is not None and e.name != e.type])


def check_known_types(s: Stream, known: Collection[str]) -> list[Problem]:
    """Every event type is one the spec defines."""
    found = []
    for e in s.objects:
        if e.type is None:
            found.append(("no type", Problem(f"{e.label}.type", e.get("type"), "the event's type, a string")))
        elif e.type not in known:
            found.append((e.type, Problem(f"{e.label}.type", e.type,
                                          "an event type of the spec's ResponseStreamEvent union (vendor events are "
                                          "not part of the API)")))
    return _grouped(found)


def check_schemas(s: Stream, known: Collection[str] | None = None) -> list[Problem]:
    """Every event of a known type validates against its schema."""
    from conformance.judge.schema import Schemas

    schemas = Schemas.load()
    known = known if known is not None else schemas.dispatch["stream_event"]
    found = []
    for e in s.objects:
        if e.type not in known:
            continue
        for v in schemas.check_union("stream_event", e.data, f"{e.label} $"):
            suffix = v.path.split(" $", 1)[-1]
            found.append(((suffix, v.rule),
                          Problem(v.path, v.message, f"valid {known[e.type] if isinstance(known, dict) else e.type} "
                                  f"per the spec ({v.rule})")))
    return _grouped(found)


# -- order ----------------------------------------------------------------------------------------


def check_sequence(s: Stream) -> list[Problem]:
    """Every event has an integer sequence_number, strictly increasing."""
    found: list[tuple[Any, Problem]] = []
    prev: tuple[int, Event] | None = None
    for e in s.objects:
        sn = e.get("sequence_number")
        if not _is_int(sn):
            found.append(("missing", Problem(f"{e.label}.sequence_number", sn, "an integer sequence_number")))
            continue
        if prev is not None and sn <= prev[0]:
            found.append((e.index, Problem(f"{e.label}.sequence_number", sn,
                                           f"a number greater than {prev[0]}, the sequence_number of {prev[1].label}")))
        prev = (sn, e)
    return _grouped(found)


def check_start(s: Stream) -> list[Problem]:
    """The first event is response.created, with the response just created (in_progress or queued)."""
    objs = s.objects
    if not objs:
        return [Problem("the stream", s.summary(), "events, the first one response.created")]
    first = objs[0]
    if first.type != "response.created":
        return [Problem(first.label, first.type, "response.created as the first event (the official SDK raises "
                        "\"Expected to have received `response.created` before ...\" otherwise)")]
    status = (first.get("response", {}) or {}).get("status", MISSING) if isinstance(first.get("response"), dict) \
        else MISSING
    if status is not MISSING and status not in ("in_progress", "queued"):
        return [Problem(f"{first.label}.response.status", status,
                        '"in_progress" or "queued": the response was just created, it is not finished')]
    return []


def check_termination(s: Stream) -> list[Problem]:
    """Exactly one terminal event, and nothing after it but an optional [DONE]; the server closes the stream."""
    terms = s.terminals
    if not terms:
        last = s.events[-1].label if s.events else "no event at all"
        how = s.transport_error or "the server closed the stream"
        if s.partial_event_at_end:
            how += " in the middle of an event"
        return [Problem("end of stream", f"last: {last}; {how}",
                        "a terminal event (response.completed, response.incomplete or response.failed) ending "
                        "the stream")]
    out = [Problem(t.label, t.type, f"exactly one terminal event; {terms[0].label} already ended the stream")
           for t in terms[1:]]
    after = [e for e in s.events if e.index > terms[0].index and not e.is_sentinel and e.type not in TERMINAL]
    if after:
        out.append(Problem(after[0].label, [e.type or e.raw[:40] for e in after[:8]],
                           f"nothing after the terminal event {terms[0].label} (at most a [DONE] sentinel)"))
    if s.transport_error:
        out.append(Problem("after the terminal event", s.transport_error,
                           "the server closes the stream once the terminal event is sent"))
    return out


def check_terminal_status(s: Stream) -> list[Problem]:
    """The terminal event's type matches its response's status."""
    out = []
    for t in s.terminals:
        resp = t.get("response")
        status = resp.get("status", MISSING) if isinstance(resp, dict) else MISSING
        if status is not MISSING and status != TERMINAL[t.type or ""]:
            right = next((k for k, v in TERMINAL.items() if v == status), None)
            out.append(Problem(f"{t.label}.response.status", status,
                               f'"{TERMINAL[t.type or ""]}" in a {t.type} event'
                               + (f" (a {status} response ends with {right})" if right else "")))
    return out


def check_no_sentinel(s: Stream) -> list[Problem]:
    """No `data: [DONE]` (Chat Completions' end marker; Responses streams end with the terminal event)."""
    return [Problem(e.label, "data: [DONE]", "no [DONE] sentinel: a Responses stream ends with its terminal event")
            for e in s.events if e.is_sentinel][:1]


# -- items ----------------------------------------------------------------------------------------


def _added_done(s: Stream) -> tuple[dict[int, Event], dict[int, Event], list[Problem]]:
    added: dict[int, Event] = {}
    done: dict[int, Event] = {}
    out = []
    for e in s.of_type("response.output_item.added", "response.output_item.done"):
        oi = s.item_position(e) if isinstance(e.get("item"), dict) else None
        if not _is_int(oi) or not isinstance(e.get("item"), dict):
            out.append(Problem(e.label, {"output_index": e.get("output_index"), "item": show(e.get("item"), 80)},
                               "an integer output_index and the item object"))
            continue
        table = added if e.type == "response.output_item.added" else done
        if oi in table:
            out.append(Problem(f"{e.label}.output_index", oi,
                               f"a new output_index ({table[oi].label} already used {oi})"))
            continue
        table[oi] = e
    return added, done, out


def check_item_pairing(s: Stream) -> list[Problem]:
    """Each output_item.added is closed by one output_item.done with the same index, id and type."""
    added, done, out = _added_done(s)
    for oi, d in done.items():
        a = added.get(oi)
        if a is None or a.index > d.index:
            out.append(Problem(d.label, f"output_index {oi} not announced before",
                               f"a response.output_item.added for output_index {oi} before its output_item.done"))
            continue
        for key in ("id", "type"):
            av, dv = a.data["item"].get(key), d.data["item"].get(key)
            if av != dv and (key == "type" or av not in (None, "")):
                out.append(Problem(f"{d.label}.item.{key}", dv, f"{av!r}, as announced by {a.label}"))
    for oi, a in added.items():
        if oi not in done:
            out.append(Problem(a.label, f"output_index {oi} ({a.data['item'].get('type')}) never done",
                               f"a response.output_item.done for output_index {oi} before the terminal event"))
    return out


def _parts(item: dict[str, Any], key: str) -> list[tuple[Any, Any]]:
    value = item.get(key)
    if not isinstance(value, list):
        return []
    return [(p.get("type"), p.get("refusal") if p.get("type") == "refusal" else p.get("text"))
            if isinstance(p, dict) else (None, p) for p in value]


def projection(item: dict[str, Any]) -> dict[str, Any]:
    """The parts of an item that must not change between output_item.done and the final response."""
    out: dict[str, Any] = {}
    for key in ("type", "id", "call_id", "name", "arguments", "role"):
        if item.get(key) is not None:
            out[key] = item[key]
    for key in ("content", "summary"):
        parts = _parts(item, key)
        if parts:
            out[key] = parts
    return out


def check_final_items(s: Stream) -> list[Problem]:
    """The terminal response's output is exactly the items the stream finished, unchanged."""
    term, final = s.terminal, s.final
    if term is None or final is None:
        return []
    output = final.get("output")
    where = f"{term.label}.response.output"
    if not isinstance(output, list):
        return [Problem(where, output, "the output array of the finished response")]
    _, done, _ = _added_done(s)
    out = []
    for oi, d in sorted(done.items()):
        streamed = d.data["item"]
        if oi >= len(output) or not isinstance(output[oi], dict):
            out.append(Problem(f"{where}[{oi}]", output[oi] if oi < len(output) else MISSING,
                               f"the {streamed.get('type')} item {streamed.get('id')!r} finished by {d.label}"))
            continue
        want, got = projection(streamed), projection(output[oi])
        for key in sorted(set(want) | set(got)):
            if want.get(key, MISSING) != got.get(key, MISSING):
                want_v = want.get(key, MISSING)
                out.append(Problem(f"{where}[{oi}].{key}", got.get(key, MISSING),
                                   f"{'(absent)' if want_v is MISSING else show(want_v, 200)}, as in {d.label}"))
        for key in ("status", "encrypted_content"):
            if key in streamed and key in output[oi] and streamed[key] != output[oi][key]:
                out.append(Problem(f"{where}[{oi}].{key}", output[oi][key], f"{streamed[key]!r}, as in {d.label}"))
    for i, item in enumerate(output):
        if i not in done and isinstance(item, dict):
            out.append(Problem(f"{where}[{i}]", {"type": item.get("type"), "id": item.get("id")},
                               "only items the stream announced and finished (output_item.added/done); this one "
                               "was never streamed"))
    return out


def _item_events(s: Stream) -> list[Event]:
    """Events about a part of one item: they carry item_id and output_index."""
    return [e for e in s.objects if "item_id" in e.data and e.type not in LIFECYCLE
            and e.type not in ("response.output_item.added", "response.output_item.done")]


def check_item_ids(s: Stream) -> list[Problem]:
    """Item ids are non-empty, and every part/delta event's item_id names the item at its output_index."""
    added, done, _ = _added_done(s)
    found: list[tuple[Any, Problem]] = []
    for e in [*added.values(), *done.values()]:
        item = e.data["item"]
        if ("id" in item or item.get("type") in ("message", "reasoning")) and \
                not (isinstance(item.get("id"), str) and item["id"].strip()):
            found.append(((e.type, "id"), Problem(f"{e.label}.item.id", item.get("id", MISSING),
                                                  "a non-empty item id")))
    ids = {oi: a.data["item"].get("id") for oi, a in added.items()}
    announced = {i for i in ids.values() if isinstance(i, str) and i}
    for e in _item_events(s):
        item_id, oi = e.get("item_id"), e.get("output_index")
        if not (isinstance(item_id, str) and item_id.strip()):
            found.append(((e.type, "empty"), Problem(f"{e.label}.item_id", item_id, "a non-empty item_id")))
        elif not _is_int(oi) and announced and item_id not in announced:
            found.append(((e.type, "unknown"), Problem(
                f"{e.label}.item_id", item_id, f"the id of an item the stream announced ({sorted(announced)})")))
        elif isinstance(ids.get(oi), str) and ids[oi] and item_id != ids[oi]:
            found.append(((e.type, "other"), Problem(f"{e.label}.item_id", item_id,
                                                     f"{ids[oi]!r}, the id of the item at output_index {oi} "
                                                     f"({added[oi].label})")))
    return _grouped(found)


def check_response_id(s: Stream) -> list[Problem]:
    """One response, one id: the same response.id in every lifecycle event."""
    first: tuple[Any, Event] | None = None
    out = []
    for e in s.of_type(*LIFECYCLE):
        resp = e.get("response")
        rid = resp.get("id", MISSING) if isinstance(resp, dict) else MISSING
        if first is None:
            first = (rid, e)
        elif rid != first[0]:
            out.append(Problem(f"{e.label}.response.id", rid,
                               f"{show(first[0])}, the id in {first[1].label} (the SDK raises \"Lifecycle response "
                               "identity changed\")"))
    return out


def check_indexes(s: Stream) -> list[Problem]:
    """output_index points at an item of the event's kind; content/summary_index at a part of its kind."""
    if s.final is None:
        return []
    found: list[tuple[Any, Problem]] = []
    for e in _item_events(s):
        oi = e.get("output_index")
        item = s.final_item(oi)
        if item is None:
            continue  # an item missing from the final output: check_final_items reports it
        want_item = ITEM_KIND.get(e.type or "")
        if want_item and item.get("type") != want_item:
            found.append(((e.type, "item"), Problem(f"{e.label}.output_index", oi,
                                                    f"the index of a {want_item} item; output[{oi}] is a "
                                                    f"{item.get('type')} item")))
            continue
        for index_key, list_key in (("content_index", "content"), ("summary_index", "summary")):
            if index_key not in e.data:
                continue
            ci = e.get(index_key)
            parts = item.get(list_key) if isinstance(item.get(list_key), list) else []
            if not _is_int(ci) or not 0 <= ci < len(parts):
                found.append(((e.type, index_key), Problem(
                    f"{e.label}.{index_key}", ci,
                    f"an index into the {len(parts)} {list_key} part(s) of the final item at output_index {oi} "
                    f"(it counts parts of that item, from 0)")))
                continue
            part = parts[ci] if isinstance(parts[ci], dict) else {}
            want_part = PART_KIND.get(e.type or "")
            if e.type in ("response.content_part.added", "response.content_part.done"):
                want_part = (e.get("part") or {}).get("type") if isinstance(e.get("part"), dict) else None
            if want_part and part.get("type") != want_part:
                found.append(((e.type, "part"), Problem(f"{e.label}.{index_key}", ci,
                                                        f"the index of a {want_part} part; output[{oi}].{list_key}"
                                                        f"[{ci}] is a {part.get('type')} part")))
    return _grouped(found)


def check_nesting(s: Stream) -> list[Problem]:
    """Part and text events come inside their item; message text inside its content part."""
    found: list[tuple[Any, Problem]] = []
    items: dict[Any, str] = {}  # output_index -> "open" / "done"
    parts: dict[tuple[str, Any, Any], tuple[str, Event]] = {}  # (family, oi, index) -> state, event
    text_done: dict[tuple[str, Any, Any], Event] = {}
    had_delta: set[tuple[str, Any, Any]] = set()

    def bad(e: Event, received: Any, expected: str) -> None:
        found.append(((e.type, expected[:40]), Problem(e.label, received, expected)))

    for e in s.objects:
        t, oi = e.type or "", s.item_position(e)
        if t == "response.output_item.added":
            items[oi] = "open"
            continue
        if t == "response.output_item.done":
            items[oi] = "done"
            continue
        if t in LIFECYCLE or oi is None or "item_id" not in e.data:
            continue
        if items.get(oi) != "open":
            bad(e, f"output_index {oi} is {'already done' if items.get(oi) == 'done' else 'not yet added'}",
                "events of an item between its response.output_item.added and response.output_item.done")
            continue
        if t.startswith("response.content_part.") or t.startswith("response.reasoning_summary_part."):
            family = "content" if t.startswith("response.content_part.") else "summary"
            key = (family, oi, s.part_position(e, "content_index" if family == "content" else "summary_index"))
            state = parts.get(key)
            if t.endswith(".added"):
                if state is not None:
                    bad(e, f"{family} part {key[2]} of output_index {oi} added again", "each part added once")
                elif any(k[1:] == key[1:] and k[0] in _FAMILY_KINDS[family] for k in had_delta):
                    bad(e, "the part's text was streamed before it was added", f"{t} before the part's deltas")
                parts[key] = ("open", e)
            else:
                if state is None:
                    bad(e, f"no {t.replace('.done', '.added')} for this part",
                        f"{t.replace('.done', '.added')} before {t}")
                elif state[0] == "done":
                    bad(e, "the part is already done", "each part done once")
                parts[key] = ("done", e)
            continue
        kind = next((k for k, v in TEXT_KINDS.items() if t in v[:2]), None)
        if kind is None:
            continue
        index_key = TEXT_KINDS[kind][3]
        tkey = (kind, oi, s.part_position(e, index_key))
        if tkey in text_done:
            bad(e, f"after {text_done[tkey].label}", f"no {kind} event after its .done")
        if t.endswith(".done"):
            text_done[tkey] = e
        else:
            had_delta.add(tkey)
        family = "summary" if kind == "reasoning_summary_text" else "content" if index_key else None
        if family is None:
            continue
        state = parts.get((family, oi, tkey[2]))
        if state is not None and state[0] == "done":
            bad(e, f"after {state[1].label} closed the part", f"{kind} events before the part's .done event")
        elif state is None and kind in ("output_text", "refusal"):
            bad(e, f"no response.content_part.added for content_index {tkey[2]} of output_index {oi}",
                "response.content_part.added before the part's text (the official SDK indexes the message's "
                "parts by it)")
    for key, (state, e) in parts.items():
        if state == "open":
            bad(e, f"{key[0]} part {key[2]} of output_index {key[1]} never done",
                "every part added is done before its item is done")
    return _grouped(found)


_FAMILY_KINDS = {"content": ("output_text", "refusal", "reasoning_text"), "summary": ("reasoning_summary_text",)}


# -- text -----------------------------------------------------------------------------------------


def _final_value(s: Stream, kind: str, oi: Any, idx: Any) -> Any:
    item = s.final_item(oi)
    if item is None:
        return MISSING
    _, _, field_name, _, where = TEXT_KINDS[kind]
    if where == "arguments":
        return item.get("arguments", MISSING)
    parts = item.get(where)
    if not isinstance(parts, list) or not _is_int(idx) or not 0 <= idx < len(parts) or not isinstance(parts[idx], dict):
        return MISSING
    return parts[idx].get(field_name, MISSING)


def _keys(s: Stream, kind: str) -> list[tuple[Any, Any]]:
    """(output_index, index) of every part of this kind the stream or the final response has."""
    delta_t, done_t, _, index_key, _ = TEXT_KINDS[kind]
    keys: list[tuple[Any, Any]] = []
    for e in s.before_end(delta_t, done_t):
        k = (s.item_position(e), s.part_position(e, index_key))
        if k not in keys:
            keys.append(k)
    return keys


def final_keys(s: Stream, kind: str) -> list[tuple[int, Any]]:
    part_type = {"output_text": "output_text", "refusal": "refusal", "reasoning_text": "reasoning_text",
                 "reasoning_summary_text": "summary_text"}.get(kind)
    item_type = "message" if kind in ("output_text", "refusal") else \
        "function_call" if kind == "function_call_arguments" else "reasoning"
    out: list[tuple[int, Any]] = []
    for oi, item in enumerate((s.final or {}).get("output") or []):
        if not isinstance(item, dict) or item.get("type") != item_type:
            continue
        if kind == "function_call_arguments" and item.get("type") == "function_call":
            out.append((oi, None))
        where = TEXT_KINDS[kind][4]
        for ci, part in enumerate(item.get(where) or [] if where != "arguments" else []):
            if isinstance(part, dict) and part.get("type") == part_type:
                out.append((oi, ci))
    return out


def _at(s: Stream, e: Event, index_key: str | None, key: tuple[Any, Any]) -> bool:
    """Whether a part event is about the part at (output index, part index)."""
    return s.item_position(e) == key[0] and (index_key is None or s.part_position(e, index_key) == key[1])


def indexes_carried(s: Stream) -> bool:
    """Whether any item or part event carries an output_index (else there is no index to judge)."""
    return any(_is_int(e.get("output_index")) for e in s.objects
               if e.type not in LIFECYCLE and ("item_id" in e.data or "item" in e.data))


def check_deltas_join(s: Stream, kinds: Iterable[str], required: Collection[str] = ()) -> list[Problem]:
    """The deltas of each part, joined, equal the part's final value.

    For kinds in `required`, every part of that kind in the final response must be streamed by
    deltas; for the others, only parts that had deltas are compared (a value may come whole, in
    its .done event).
    """
    out = []
    for kind in kinds:
        delta_t, _, _, index_key, _ = TEXT_KINDS[kind]
        keys = [k for k in _keys(s, kind) if any(_at(s, e, index_key, k) for e in s.before_end(delta_t))]
        if kind in required:
            keys += [k for k in final_keys(s, kind) if k not in keys]
        for oi, idx in keys:
            final = _final_value(s, kind, oi, idx)
            if final is MISSING:
                continue  # no such part in the final response: check_indexes / check_final_items report it
            deltas = [e for e in s.before_end(delta_t) if _at(s, e, index_key, (oi, idx))]
            joined = "".join(str(e.get("delta", "")) for e in deltas)
            if joined != final:
                where = f"{kind} of output[{oi}]" + (f" {index_key} {idx}" if index_key else "")
                got = joined if deltas else f"no {delta_t} event"
                out.append(Problem(f"{where}: {len(deltas)} delta(s) joined", got,
                                   f"{show(final, 300)}, the final response's value"))
    return out


def check_done_values(s: Stream, kinds: Iterable[str], required: Collection[str] = ()) -> list[Problem]:
    """Each part's .done event (one) and its content_part.done carry the part's final value.

    For kinds in `required`, every part of that kind in the final response needs its .done event;
    for the others, parts that were streamed by deltas do.
    """
    out = []
    for kind in kinds:
        _, done_t, field_name, index_key, where = TEXT_KINDS[kind]
        keys = _keys(s, kind)
        if kind in required:
            keys += [k for k in final_keys(s, kind) if k not in keys]
        for oi, idx in keys:
            final = _final_value(s, kind, oi, idx)
            if final is MISSING:
                continue
            label = f"{kind} of output[{oi}]" + (f" {index_key} {idx}" if index_key else "")
            dones = [e for e in s.before_end(done_t) if _at(s, e, index_key, (oi, idx))]
            if not dones:
                out.append(Problem(label, f"no {done_t} event", f"one {done_t} carrying {show(final, 200)}"))
                continue
            if len(dones) > 1:
                out.append(Problem(dones[1].label, "a second .done for the same part", f"one {done_t} per part"))
            got = dones[0].get(field_name)
            if got != final:
                out.append(Problem(f"{dones[0].label}.{field_name}", got, f"{show(final, 300)}, the final value"))
            if where == "content":
                for e in s.before_end("response.content_part.done"):
                    part = e.get("part")
                    if _at(s, e, "content_index", (oi, idx)) and isinstance(part, dict) \
                            and part.get(field_name) != final:
                        out.append(Problem(f"{e.label}.part.{field_name}", part.get(field_name, MISSING),
                                           f"{show(final, 300)}, the final value"))
            if where == "summary":
                for e in s.before_end("response.reasoning_summary_part.done"):
                    part = e.get("part")
                    if _at(s, e, "summary_index", (oi, idx)) and isinstance(part, dict) \
                            and part.get("text") != final:
                        out.append(Problem(f"{e.label}.part.text", part.get("text", MISSING),
                                           f"{show(final, 300)}, the final value"))
    return out


# -- all together (unit tests, reports) ------------------------------------------------------------


def all_checks(known: Collection[str] | None = None) -> dict[str, Callable[[Stream], list[Problem]]]:
    """Every rule, by name, as a one-argument function."""
    from conformance.judge.schema import Schemas

    types = known if known is not None else Schemas.load().dispatch["stream_event"]
    every = tuple(TEXT_KINDS)
    return {
        "json": check_json,
        "event_names": check_event_names,
        "known_types": lambda s: check_known_types(s, types),
        "schemas": lambda s: check_schemas(s, types if isinstance(types, dict) else None),
        "sequence": check_sequence,
        "start": check_start,
        "termination": check_termination,
        "terminal_status": check_terminal_status,
        "no_sentinel": check_no_sentinel,
        "item_pairing": check_item_pairing,
        "final_items": check_final_items,
        "item_ids": check_item_ids,
        "response_id": check_response_id,
        "indexes": check_indexes,
        "nesting": check_nesting,
        "deltas_join": lambda s: check_deltas_join(s, every, required=("output_text",)),
        "done_values": lambda s: check_done_values(s, every, required=("output_text",)),
    }


def problems_by_rule(s: Stream, known: Collection[str] | None = None) -> dict[str, list[Problem]]:
    """Every rule the stream breaks, with its problems."""
    return {name: found for name, fn in all_checks(known).items() if (found := fn(s))}
