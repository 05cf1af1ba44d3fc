"""Stored responses and conversation state.

`store` defaults to true: a created response (streamed or not) is retrievable as it was created,
its input items are listed with ids (newest first by default), DELETE removes it, `store: false`
keeps nothing, `store: null` is the default, unknown ids are 404.  `previous_response_id` is
echoed and its context is used: input tokens grow by the earlier turn, a tool round trip chained
by id keeps the call and its output, and an unknown id is rejected.

A server that keeps nothing runs with `--unsupported store` (or `--profile stateless`); these
requirements are then reported as unsupported, not failed.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from conformance.judge.checks import MISSING, Collector, check, fail, nothing_to_judge, show
from conformance.judge.responses import (
    ANSWER,
    SHORT,
    TOOL_PROMPT,
    TRUNCATED_LIMIT,
    WEATHER_TOOL,
    cooperate,
    final_response,
    function_calls,
    output_text,
    post_ok,
    request,
    stream_ok,
    user,
)
from conformance.judge.schema import Schemas
from conformance.suite.requirements import MUST, requirement
from conformance.wire.http import ApiClient, Reply

QUESTION = "Say hello in five words."
NOT_STORED_HINT = ("store defaults to true; a server that keeps no responses should be run with "
                   "--unsupported store (or --profile stateless)")
PENDING = ("in_progress", "queued")


def create(api: ApiClient, model: str, prompt: Any = QUESTION, limit: int = SHORT, **extra: Any) -> dict[str, Any]:
    return post_ok(api, request(model, prompt, limit, **extra), "POST /v1/responses (the response to keep)")


def retrieve(api: ApiClient, resp_id: Any, path: str = "", *, until_found: bool = True) -> Reply:
    """GET /v1/responses/{id}[path]; a moment's grace for a store that writes after replying."""
    reply = api.get(f"responses/{resp_id}{path}")
    for _ in range(4 if until_found else 0):
        if reply.status != 404:
            break
        time.sleep(0.5)
        reply = api.get(f"responses/{resp_id}{path}")
    return reply


def stored(api: ApiClient, resp_id: Any, path: str = "", what: str = "the stored response") -> dict[str, Any]:
    reply = retrieve(api, resp_id, path)
    if not 200 <= reply.status < 300:
        fail(f"GET /v1/responses/{resp_id}{path}", f"HTTP {reply.status} {show(reply.body[:300])}",
             f"HTTP 200 with {what}", NOT_STORED_HINT)
    return reply.json_object(f"the body of GET /v1/responses/{resp_id}{path}")


@requirement("STATE-STORE-001", MUST)
def test_store_defaults_to_true(api, model):
    resp = create(api, model)
    got = stored(api, resp.get("id"))
    check(got.get("id") == resp.get("id"), "GET.$.id", got.get("id"), f"{resp.get('id')!r}, the id asked for")


def item_ids(resp: dict[str, Any]) -> list[Any]:
    return [it.get("id") for it in resp.get("output") or [] if isinstance(it, dict)]


@requirement("STATE-GET-001", MUST)
@pytest.mark.parametrize("stream", [False, pytest.param(True, marks=pytest.mark.feature("streaming"))],
                         ids=["json", "stream"])
def test_get_returns_what_was_created(api, model, stream):
    body = request(model, QUESTION, SHORT)
    if stream:
        reply = stream_ok(api, body, "a streamed response to keep")
        created = final_response(reply)
        if created is None:
            fail("events[*].type", [d.get("type") for _, d in reply.payloads() if isinstance(d, dict)][-5:],
                 "a terminal event carrying the final response (to compare the stored one with)")
    else:
        created = post_ok(api, body, "a response to keep")
    got = stored(api, created.get("id"))
    # A store may finish writing just after the reply; a finished response must not stay pending.
    deadline = time.monotonic() + 3
    while got.get("status") in PENDING and created.get("status") not in PENDING and time.monotonic() < deadline:
        time.sleep(0.5)
        got = stored(api, created.get("id"))
    c = Collector()
    c.check(got.get("id") == created.get("id"), "GET.$.id", got.get("id"), f"{created.get('id')!r}")
    c.check(got.get("status") == created.get("status"), "GET.$.status", got.get("status"),
            f"{created.get('status')!r}, the status the {'stream ended with' if stream else 'POST returned'} "
            "(not a snapshot taken while it was in progress)")
    c.check(item_ids(got) == item_ids(created), "GET.$.output[*].id", item_ids(got),
            f"the output item ids as created: {item_ids(created)}")
    c.check(output_text(got) == output_text(created), "GET output_text", output_text(got),
            f"the output_text as created: {show(output_text(created))}")
    c.raise_if_any()


CONVERSATION = [("user", "Please remember the number seven."), ("assistant", "I will remember the number seven."),
                ("user", "Which number did I ask you to remember?")]


def conversation() -> list[dict[str, Any]]:
    return [{"type": "message", "role": role, "content": text} for role, text in CONVERSATION]


def item_text(item: Any) -> str:
    content = item.get("content") if isinstance(item, dict) else None
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and isinstance(p.get("text"), str))


def listed(api: ApiClient, resp_id: Any, query: str = "") -> dict[str, Any]:
    return stored(api, resp_id, f"/input_items{query}", "the list of input items (ResponseItemList)")


def item_definition(item: dict[str, Any]) -> str:
    """The ItemResource variant an input item is listed as: a message's variant depends on its role."""
    if item.get("type") == "message":
        return "OutputMessage" if item.get("role") == "assistant" else "InputMessageResource"
    return "ItemResource"


@requirement("STATE-INPUT-001", MUST)
def test_input_items_listed_with_ids(api, model):
    resp = create(api, model, conversation(), TRUNCATED_LIMIT)
    page = listed(api, resp.get("id"))
    data = page.get("data") if isinstance(page.get("data"), list) else []
    c = Collector()
    c.check(isinstance(page.get("data"), list), "GET input_items.$.data", page.get("data"), "an array of items")
    for i, item in enumerate(data):
        if not c.check(isinstance(item, dict), f"GET input_items.$.data[{i}]", item, "an item object"):
            continue
        c.check(isinstance(item.get("id"), str) and bool(item.get("id")), f"GET input_items.$.data[{i}].id",
                item.get("id"), "a non-empty id (input items are listed as resources)")
        violations = Schemas.load().check(item_definition(item), item, f"GET input_items.$.data[{i}]")
        c.extend_violations([v for v in violations if not v.path.endswith(".id")],
                            f"a valid {item_definition(item)} (ItemResource) per the OpenAPI schema")
    c.extend_violations(Schemas.load().check("ResponseItemList", {**page, "data": []}, "GET input_items.$"),
                        "a valid ResponseItemList per the OpenAPI schema")
    sent = sorted(text for _, text in CONVERSATION)
    got = sorted(item_text(it) for it in data)
    c.check(got == sent, "GET input_items.$.data[*] (texts, sorted)", got,
            f"the {len(sent)} input items of the request: {sent}")
    c.raise_if_any()


@requirement("STATE-INPUT-002", MUST)
def test_input_items_order(api, model):
    resp = create(api, model, conversation(), TRUNCATED_LIMIT)
    sent = [text for _, text in CONVERSATION]
    default = [item_text(it) for it in listed(api, resp.get("id")).get("data") or []]
    ascending = [item_text(it) for it in listed(api, resp.get("id"), "?order=asc").get("data") or []]
    c = Collector()
    c.check(default == sent[::-1], "GET input_items.$.data[*] (no order given)", default,
            f"newest first, as order=desc is the default: {sent[::-1]}")
    c.check(ascending == sent, "GET input_items?order=asc .$.data[*]", ascending, f"oldest first: {sent}")
    c.raise_if_any()


@requirement("STATE-DELETE-001", MUST)
def test_delete_removes_the_response(api, model):
    resp = create(api, model, limit=TRUNCATED_LIMIT)
    stored(api, resp.get("id"))  # it was there
    reply = api.delete(f"responses/{resp.get('id')}")
    check(200 <= reply.status < 300, f"DELETE /v1/responses/{resp.get('id')}",
          f"HTTP {reply.status} {show(reply.body[:300])}", "HTTP 200 (deleteResponse)")
    gone = retrieve(api, resp.get("id"), until_found=False)
    for _ in range(4):  # a moment's grace for a store that deletes after replying
        if gone.status != 200:
            break
        time.sleep(0.5)
        gone = retrieve(api, resp.get("id"), until_found=False)
    check(gone.status == 404, f"GET /v1/responses/{resp.get('id')} after DELETE",
          f"HTTP {gone.status} {show(gone.body[:300])}", "HTTP 404: the deleted response is gone")


@requirement("STATE-NOSTORE-001", MUST)
def test_store_false_not_retrievable(api, model):
    resp = create(api, model, limit=TRUNCATED_LIMIT, store=False)
    reply = retrieve(api, resp.get("id"), until_found=False)
    check(400 <= reply.status < 500, f"GET /v1/responses/{resp.get('id')} (created with store false)",
          f"HTTP {reply.status} {show(reply.body[:300])}", "HTTP 404: a response created with store false is not kept")


@requirement("STATE-NULLSTORE-001", MUST)
def test_store_null_is_default(api, model):
    resp = create(api, model, limit=TRUNCATED_LIMIT, store=None)
    got = stored(api, resp.get("id"), what="the response (store null means the default, true)")
    check(got.get("id") == resp.get("id"), "GET.$.id", got.get("id"), f"{resp.get('id')!r}")


def unknown_id() -> str:
    return f"resp_{uuid.uuid4().hex}{uuid.uuid4().hex[:16]}"


@requirement("STATE-UNKNOWN-001", MUST)
def test_unknown_response_is_404(api, model):
    resp_id = unknown_id()
    reply = api.get(f"responses/{resp_id}")
    check(reply.status == 404, f"GET /v1/responses/{resp_id}", f"HTTP {reply.status} {show(reply.body[:300])}",
          "HTTP 404 for an id the server never issued")
    # the error object, not its field types: a numeric `code` is ERROR-010's finding, judged on every error
    body = reply.json_object("the 404 body")
    error = body.get("error")
    check(isinstance(error, dict), "GET (unknown id).$.error", body, 'an error object {"error": {"message", ...}}')
    check(isinstance(error.get("message"), str) and error["message"].strip() != "", "GET (unknown id).$.error.message",
          error.get("message", MISSING), "a non-empty message saying what went wrong")


def usage_int(resp: dict[str, Any], *path: str) -> int:
    value: Any = resp.get("usage")
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        pytest.skip(f"cannot judge: a response reports no usage.{'.'.join(path)} (see the usage requirements)")
    return value


def chained(api: ApiClient, model: str, prev: Any, prompt: Any, limit: int = TRUNCATED_LIMIT,
            **extra: Any) -> dict[str, Any]:
    return post_ok(api, request(model, prompt, limit, previous_response_id=prev, **extra),
                   f"POST /v1/responses with previous_response_id {prev!r}")


@requirement("STATE-PREV-001", MUST)
def test_previous_response_id_echoed(api, model):
    first = create(api, model, limit=TRUNCATED_LIMIT)
    second = chained(api, model, first.get("id"), "And now in three words?")
    check(second.get("previous_response_id") == first.get("id"), "turn2.$.previous_response_id",
          second.get("previous_response_id"), f"{first.get('id')!r}, the previous_response_id of the request")


STORY = ("Marta keeps a small bakery on the corner of Linden Street. Every morning at five she lights the old "
         "oven, bakes forty loaves of rye bread and twelve trays of cinnamon rolls, and sets aside three loaves "
         "for the neighbours who cannot pay. Her cat, a grey tom called Pepper, sleeps on the flour sacks until "
         "the first customer rings the bell. On Sundays she closes at noon and walks to the river with her "
         "brother to feed the ducks and argue about football. Please read this story carefully; I will ask "
         "you a question about it afterwards.")


@requirement("STATE-PREV-002", MUST)
def test_previous_response_context_used(api, model):
    first = create(api, model, STORY, TRUNCATED_LIMIT)
    follow = "What is the name of the cat?"
    second = chained(api, model, first.get("id"), follow)
    alone = post_ok(api, request(model, follow, TRUNCATED_LIMIT), "the same question without previous_response_id")
    earlier = usage_int(first, "input_tokens") - usage_int(alone, "input_tokens")
    if earlier < 20:
        pytest.skip(f"cannot judge: a long story costs only {earlier} more input tokens than a short question")
    grown = usage_int(second, "input_tokens") - usage_int(alone, "input_tokens")
    check(grown >= earlier / 2, "turn2.$.usage.input_tokens",
          {"with previous_response_id": usage_int(second, "input_tokens"),
           "without": usage_int(alone, "input_tokens"), "turn 1": usage_int(first, "input_tokens")},
          f"about {earlier} more input tokens with previous_response_id (turn 1's input, the story, is in context)")


FORECAST = json.dumps({"city": "Paris", "days": [
    {"day": day, "summary": f"{day}: {sky}, highs near {high} degrees, winds from the {wind}, "
                            f"{rain} percent chance of rain in the late afternoon near the river."}
    for day, sky, high, wind, rain in (
        ("Monday", "mild and mostly cloudy", 18, "west", 20), ("Tuesday", "bright and breezy", 21, "north", 5),
        ("Wednesday", "grey with light drizzle", 15, "south-west", 70), ("Thursday", "clearing slowly", 17,
        "west", 35), ("Friday", "warm and sunny", 24, "south", 0), ("Saturday", "humid with thunder", 26,
        "south-east", 60), ("Sunday", "cool and fresh", 16, "north-west", 15))]})


@requirement("STATE-PREV-003", MUST)
def test_chained_tool_round_trip_kept(api, model):
    body = request(model, [user(TOOL_PROMPT)], ANSWER, tools=[WEATHER_TOOL])
    first = cooperate(lambda: post_ok(api, body, "turn 1: a request naming a function tool"),
                      lambda r: bool(function_calls(r)), f"no function_call for {TOOL_PROMPT!r}")
    outputs = [{"type": "function_call_output", "call_id": c.get("call_id"), "output": FORECAST}
               for c in function_calls(first)]
    second = chained(api, model, first.get("id"), outputs, tools=[WEATHER_TOOL])
    third = chained(api, model, second.get("id"), "Thanks. Which day is the warmest?", tools=[WEATHER_TOOL])
    # Turn 3's context holds all of turn 2's; a chat template may drop turn 1's reasoning once a
    # new user message arrives, so that much (and a little template noise) may go.
    droppable = usage_int(first, "output_tokens") + 8
    before, after = usage_int(second, "input_tokens"), usage_int(third, "input_tokens")
    check(after >= before - droppable, "turn3.$.usage.input_tokens", {"turn 2": before, "turn 3": after},
          f"at least turn 2's input tokens less turn 1's output ({before} - {droppable}): turn 3 continues turn 2, "
          "whose context holds the function_call and its long function_call_output")


@requirement("STATE-PREV-004", MUST)
def test_unknown_previous_response_rejected(api, model):
    # a server that rejects every previous_response_id would pass without judging anything: a known id
    # must be taken first (its rejection is STATE-PREV-001's finding)
    known = post_ok(api, request(model, QUESTION, TRUNCATED_LIMIT), "a response to continue").get("id")
    follow = api.post("responses", request(model, QUESTION, TRUNCATED_LIMIT, previous_response_id=known))
    if not 200 <= follow.status < 300:
        nothing_to_judge(f"the server rejects previous_response_id {known!r}, an id it issued (HTTP {follow.status}; "
                         "STATE-PREV-001 judges that): rejecting an unknown id tells nothing")
    prev = unknown_id()
    reply = api.post("responses", request(model, QUESTION, TRUNCATED_LIMIT, previous_response_id=prev))
    check(400 <= reply.status < 500, "HTTP status", f"HTTP {reply.status} {show(reply.body[:300])}",
          f"a 4xx error: previous_response_id {prev!r} names no response the server has")
