"""Concurrent requests for the load requirements (ROBUST-LOAD-001 / -002).

`run()` sends `concurrency` create requests at once (half of them streamed, when the server
streams), then — when the server stores responses — a GET of each and a follow-up chained with
`previous_response_id`, each phase all at once.  Requests go only to the server under test, each
with the suite's per-request deadlines, so the whole run is bounded by three request timeouts.

Every request carries a nonce of its own in `metadata` and in `instructions`, so mixing is
detected without reading model text: a response (or GET, or follow-up) that echoes another
request's nonce, a response id given twice, a stream whose `response.created` id differs from
its final id, a follow-up whose `previous_response_id` is not the one it was sent.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from conformance.judge.checks import ConformanceFailure, show
from conformance.wire.http import ApiClient, Exchange, StreamReply

TERMINAL = ("response.completed", "response.incomplete", "response.failed", "error")
CLEAN_REFUSALS = (429, 503)  # rate limited / overloaded: a clean way to decline under load
NONCE_KEY = "rc_nonce"


@dataclass
class Outcome:
    phase: str  # create | get | follow-up
    index: int
    nonce: str
    streamed: bool = False
    status: int | None = None
    response: dict[str, Any] | None = None  # the response object (body, or the stream's final one)
    created_id: str | None = None  # a stream's response.created id
    problem: str | None = None  # did not complete cleanly (ROBUST-LOAD-001)
    refused: bool = False  # 429 / 503
    exchange: Exchange | None = None
    asked_id: str | None = None  # the id a GET asked for, or a follow-up's previous_response_id
    parent_nonce: str | None = None  # a follow-up's predecessor's nonce

    @property
    def label(self) -> str:
        kind = "streamed, " if self.streamed else ""
        return f"{self.phase} #{self.index} ({kind}nonce {self.nonce})"


@dataclass
class LoadRun:
    concurrency: int
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def phase(self, name: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.phase == name]


def _nonce() -> str:
    return "n" + uuid.uuid4().hex[:12]


def _body(model: str, nonce: str, index: int, **extra: Any) -> dict[str, Any]:
    # `stream: false` said explicitly (streamed creates override it): the default is STREAM-HTTP-002's to
    # judge, not a load failure
    return {"model": model, "input": f"Reply with one short sentence about the number {index}.",
            "instructions": f"Be brief. (request tag {nonce})", "metadata": {NONCE_KEY: nonce},
            "max_output_tokens": 16, "stream": False, **extra}


def _create(api: ApiClient, model: str, index: int, streamed: bool) -> Outcome:
    out = Outcome("create", index, _nonce(), streamed=streamed)
    body = _body(model, out.nonce, index)
    try:
        if streamed:
            _judge_stream(out, api.stream("responses", {**body, "stream": True}))
        else:
            reply = api.post("responses", body)
            out.exchange, out.status = reply.exchange, reply.status
            _judge_object(out, reply.status, reply.body, reply.json_object, "the body")
    except ConformanceFailure as exc:
        out.problem = str(exc)
    return out


def _get(api: ApiClient, created: Outcome, index: int) -> Outcome:
    out = Outcome("get", index, created.nonce, asked_id=created.response["id"])  # type: ignore[index]
    try:
        reply = api.get(f"responses/{out.asked_id}")
        out.exchange, out.status = reply.exchange, reply.status
        if reply.status < 500 and not 200 <= reply.status < 300:
            return out  # a server that keeps nothing: the state area judges that, not this one
        _judge_object(out, reply.status, reply.body, reply.json_object, "the body")
    except ConformanceFailure as exc:
        out.problem = str(exc)
    return out


def _follow_up(api: ApiClient, model: str, created: Outcome, index: int) -> Outcome:
    out = Outcome("follow-up", index, _nonce(), asked_id=created.response["id"],  # type: ignore[index]
                  parent_nonce=created.nonce)
    body = _body(model, out.nonce, index, previous_response_id=out.asked_id)
    body["input"] = "And one more short sentence."
    try:
        reply = api.post("responses", body)
        out.exchange, out.status = reply.exchange, reply.status
        if reply.status < 500 and not 200 <= reply.status < 300:
            return out
        _judge_object(out, reply.status, reply.body, reply.json_object, "the body")
    except ConformanceFailure as exc:
        out.problem = str(exc)
    return out


def _judge_object(out: Outcome, status: int, body: bytes, parse: Any, what: str) -> None:
    if status in CLEAN_REFUSALS:
        out.refused = True
        return
    if not 200 <= status < 300:
        out.problem = f"Received: HTTP {status} {show(body[:400])}\nExpected: HTTP 2xx (or a clean 429/503)"
        return
    data = parse(what)
    if not isinstance(data.get("id"), str):
        out.problem = f"Received: a 2xx body without a string id: {show(data)}\nExpected: a response object"
        return
    out.response = data


def _judge_stream(out: Outcome, reply: StreamReply) -> None:
    out.exchange, out.status = reply.exchange, reply.status
    if reply.status in CLEAN_REFUSALS:
        out.refused = True
        return
    if not 200 <= reply.status < 300:
        out.problem = f"Received: HTTP {reply.status} {show(reply.raw[:400])}\nExpected: HTTP 2xx (or a clean 429/503)"
        return
    if reply.error or reply.partial_event_at_end:
        why = reply.error or "the stream ended in the middle of an event"
        out.problem = f"Received: {why}\nExpected: the whole stream, to its terminal event"
        return
    types = []
    for ev, data in reply.payloads():
        if ev.data.strip() == "[DONE]":
            continue  # Chat Completions' end sentinel: the SDK skips it, STREAM-TERM-003 (SHOULD) reports it
        if not isinstance(data, dict):
            out.problem = f"Received: an event whose data is not a JSON object: {show(ev.data)}\nExpected: JSON"
            return
        types.append(data.get("type"))
        response = data.get("response")
        if data.get("type") == "response.created" and isinstance(response, dict):
            out.created_id = response.get("id")
        if data.get("type") in TERMINAL and isinstance(response, dict):
            out.response = response
    if not types or types[-1] not in TERMINAL:
        out.problem = (f"Received: the stream ended after {len(types)} events, the last {show(types[-1:])}\n"
                       f"Expected: a terminal event ({', '.join(TERMINAL)}) at its end")
    elif out.response is None or not isinstance(out.response.get("id"), str):
        out.response = None
        if types[-1] != "error":
            out.problem = "Received: a terminal event without a response object\nExpected: the final response"


def _all_at_once(concurrency: int, jobs: list[Any]) -> list[Outcome]:
    """Run the jobs on `concurrency` threads, started together, each in a copy of this context
    (so each request is recorded as evidence of the running test)."""
    barrier = threading.Barrier(min(concurrency, len(jobs)) or 1)

    def start(job: Any) -> Outcome:
        with contextlib.suppress(threading.BrokenBarrierError):  # start anyway, just not together
            barrier.wait(timeout=10)
        return job()

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="rc-load") as pool:
        futures = [pool.submit(contextvars.copy_context().run, start, job) for job in jobs]
        return [f.result() for f in futures]


def run(api: ApiClient, model: str, concurrency: int, streaming: bool = True, store: bool = True) -> LoadRun:
    """The load run: creates at once; then (when stored) GETs at once and follow-ups at once."""
    started = time.monotonic()
    result = LoadRun(concurrency)
    creates = _all_at_once(concurrency, [
        (lambda i=i: _create(api, model, i, streamed=streaming and i % 2 == 1)) for i in range(concurrency)])
    result.outcomes.extend(creates)
    stored = [o for o in creates if o.response is not None and o.problem is None]
    if store and stored:
        result.outcomes.extend(_all_at_once(concurrency, [
            (lambda o=o, i=i: _get(api, o, i)) for i, o in enumerate(stored)]))
        result.outcomes.extend(_all_at_once(concurrency, [
            (lambda o=o, i=i: _follow_up(api, model, o, i)) for i, o in enumerate(stored)]))
    result.seconds = time.monotonic() - started
    return result


def mixing(run: LoadRun) -> list[tuple[Outcome, str]]:
    """Every sign that concurrent requests got mixed up (ROBUST-LOAD-002), with the outcome showing it."""
    problems: list[tuple[Outcome, str]] = []
    nonces = {o.nonce: o for o in run.outcomes if o.phase != "get"}
    run_ids = {o.response["id"]: o for o in run.outcomes
               if o.response is not None and o.phase != "get" and isinstance(o.response.get("id"), str)}
    seen: dict[str, Outcome] = {}
    for o in run.outcomes:
        resp = o.response
        if resp is None:
            continue
        found: list[str] = []
        rid = resp.get("id")
        if o.phase in ("create", "follow-up"):
            if rid in seen:
                found.append(f"at: {o.label} $.id\nReceived: {show(rid)}, the id {seen[rid].label} got too\n"
                             "Expected: a new, unique id for every response")
            seen[rid] = o
        if o.created_id is not None and o.created_id != rid:
            found.append(f"at: {o.label} response.created.response.id\nReceived: {show(o.created_id)}, "
                         f"but the final response's id is {show(rid)}\nExpected: one id through the stream")
        if o.phase == "get" and rid != o.asked_id:
            found.append(f"at: {o.label} GET /responses/{o.asked_id} $.id\nReceived: {show(rid)}\n"
                         f"Expected: {show(o.asked_id)}, the response asked for")
        previous = resp.get("previous_response_id")
        # mixed means another request's id; an id of the server's own making is STATE-PREV-001's finding
        if o.phase == "follow-up" and isinstance(previous, str) and previous != o.asked_id and previous in run_ids:
            found.append(f"at: {o.label} $.previous_response_id\nReceived: {show(previous)}, the id of "
                         f"{run_ids[previous].label}\nExpected: {show(o.asked_id)}, the id this request chained to")
        meta = resp.get("metadata")
        echoed = meta.get(NONCE_KEY) if isinstance(meta, dict) else None
        if echoed is not None and echoed != o.nonce:
            owner = nonces.get(echoed)
            whose = f"the nonce of {owner.label}" if owner else "a nonce no request of this run sent"
            found.append(f"at: {o.label} $.metadata.{NONCE_KEY}\nReceived: {show(echoed)} ({whose})\n"
                         f"Expected: {show(o.nonce)}, this request's own metadata")
        instructions = resp.get("instructions")
        if isinstance(instructions, str):
            # a predecessor's instructions carried over is the state area's finding, not mixing
            foreign = [n for n in nonces if n in instructions and n not in (o.nonce, o.parent_nonce)]
            if foreign:
                found.append(f"at: {o.label} $.instructions\nReceived: {show(instructions)} (the tag of "
                             f"{nonces[foreign[0]].label})\nExpected: this request's own instructions")
        problems.extend((o, text) for text in found)
    return problems


def checked_fields(run: LoadRun) -> int:
    """How many responses echoed a nonce the mixing check could compare (metadata or instructions)."""
    n = 0
    for o in run.outcomes:
        resp = o.response or {}
        meta = resp.get("metadata")
        if (isinstance(meta, dict) and NONCE_KEY in meta) or isinstance(resp.get("instructions"), str):
            n += 1
    return n
