"""The response object: its identity, timestamps, status, echoed parameters and usage.

Most checks read two shared replies (`plain_response`, `truncated_response`), so a slow model is
asked once; the requests that set or omit parameters are their own.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from conformance.judge.checks import MISSING, Collector, ConformanceFailure, check, fail, nothing_to_judge, show
from conformance.judge.responses import (
    ANSWER,
    LONG_PROMPT,
    TRUNCATED_LIMIT,
    ok_object,
    plain_response,
    post_ok,
    post_shared,
    request,
    send_shared,
    truncated_response,
)
from conformance.judge.schema import Schemas
from conformance.suite.requirements import MUST, SHOULD, requirement

CLOCK_SKEW = 15 * 60  # seconds of clock difference tolerated between the suite and the server
FINISHED = ("completed", "incomplete", "failed")
ITEM_STATUSES = ("in_progress", "completed", "incomplete")
WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
    "strict": True,
}


def both(api: Any, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The plain reply and the reply cut short, each with the label its failures carry."""
    return [("plain", plain_response(api, model)), ("truncated", truncated_response(api, model))]


def number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@requirement("RESP-OBJECT-001", MUST)
def test_response_matches_schema(api, model):
    c = Collector()
    for label, resp in both(api, model):
        c.extend_violations(Schemas.load().check("Response", resp, f"{label}$"),
                            "valid Response per the OpenAPI schema")
    c.raise_if_any("the response object breaks the spec's Response schema")


@requirement("RESP-OBJECT-002", MUST)
def test_id_is_non_empty_string(api, model):
    c = Collector()
    ids = []
    for label, resp in both(api, model):
        value = resp.get("id", MISSING)
        c.check(isinstance(value, str) and value.strip() != "", f"{label}$.id", value, "a non-empty string")
        ids.append(value)
    c.check(ids[0] != ids[1] or not isinstance(ids[0], str), "plain$.id, truncated$.id", ids,
            "two different ids for two responses (the id is a unique identifier)")
    c.raise_if_any()


@requirement("RESP-OBJECT-003", SHOULD)
def test_id_has_resp_prefix(api, model):
    value = plain_response(api, model).get("id", MISSING)
    check(isinstance(value, str) and value.startswith("resp_"), "$.id", value,
          'an id starting with "resp_", as the official API returns',
          "the spec does not mandate the prefix; clients and proxies that route by it expect it")


@requirement("RESP-OBJECT-004", MUST)
def test_object_is_response(api, model):
    c = Collector()
    for label, resp in both(api, model):
        c.check(resp.get("object", MISSING) == "response", f"{label}$.object", resp.get("object", MISSING),
                '"response"')
    c.raise_if_any()


@requirement("RESP-OBJECT-005", MUST)
def test_timestamps_are_unix_seconds(api, model):
    before = time.time()
    resp = post_ok(api, request(model, "Say hi.", TRUNCATED_LIMIT))
    after = time.time()
    low, high = before - CLOCK_SKEW, after + CLOCK_SKEW
    window = f"Unix seconds between {low:.0f} and {high:.0f} (the request ran at {before:.0f}..{after:.0f}, " \
             f"{CLOCK_SKEW // 60} minutes of clock skew allowed)"
    c = Collector()
    created = resp.get("created_at", MISSING)
    if c.check(number(created), "$.created_at", created, "a number (Unix timestamp in seconds)"):
        hint = " - it looks like milliseconds" if created > high * 100 else ""
        c.check(low <= created <= high, "$.created_at", created, window + hint)
    completed = resp.get("completed_at", MISSING)
    if completed is not MISSING and completed is not None:
        if c.check(number(completed), "$.completed_at", completed, "null or a number (Unix seconds)"):
            c.check(low <= completed <= high, "$.completed_at", completed, window)
            if number(created):
                c.check(completed >= math.floor(created), "$.completed_at", completed,
                        f"no earlier than created_at ({created})")
        c.check(resp.get("status") == "completed", "$.completed_at", completed,
                f'null or absent while status is {show(resp.get("status"))} '
                '("Only present when the status is `completed`.")')
    c.raise_if_any()


@requirement("RESP-OBJECT-006", MUST)
def test_status_is_final_without_background(api, model):
    c = Collector()
    for label, resp in both(api, model):
        status = resp.get("status", MISSING)
        c.check(status in FINISHED, f"{label}$.status", status,
                'one of "completed", "incomplete", "failed": a request without `background` returns the '
                "finished response (not queued / in_progress)")
    c.raise_if_any()


@requirement("RESP-OBJECT-007", MUST)
def test_finished_response_has_no_item_in_progress(api, model):
    c = Collector()
    judged = 0
    for label, resp in both(api, model):
        status = resp.get("status")
        if status not in FINISHED:
            continue  # RESP-OBJECT-006 reports it
        for i, item in enumerate(resp.get("output") or []):
            if isinstance(item, dict):
                judged += 1
                c.check(item.get("status") != "in_progress", f"{label}$.output[{i}].status", item.get("status"),
                        f'"completed" or "incomplete": the response is {status}, so no item is still in progress')
    c.raise_if_any()
    if not judged:
        nothing_to_judge("no finished response with an output item (output: [] or not finished; RESP-OBJECT-006 "
                         "and OTEXT-001 judge those)")


@requirement("RESP-OBJECT-008", MUST)
def test_truncated_output_is_incomplete(api, model):
    resp = truncated_response(api, model)
    status = resp.get("status", MISSING)
    details = resp.get("incomplete_details", MISSING)
    usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
    out_tokens = usage.get("output_tokens")
    if status == "incomplete":
        reason = details.get("reason", MISSING) if isinstance(details, dict) else MISSING
        check(reason == "max_output_tokens", "$.incomplete_details.reason", reason,
              f'"max_output_tokens": the only limit on this request is max_output_tokens={TRUNCATED_LIMIT}')
        return
    if status == "completed":
        if number(out_tokens) and out_tokens > 2 * TRUNCATED_LIMIT:
            pytest.skip(f"not applicable: the server did not apply max_output_tokens={TRUNCATED_LIMIT} "
                        f"({out_tokens} output tokens), nothing was cut short (the parameters area checks the limit)")
        reached = number(out_tokens) and out_tokens >= TRUNCATED_LIMIT
        empty = not (resp.get("output") or []) and out_tokens in (0, None)
        if not (reached or empty):
            pytest.skip(f"model did not cooperate: it finished its essay in {out_tokens} output tokens, "
                        f"under max_output_tokens={TRUNCATED_LIMIT}")
        why = (f"usage.output_tokens is {out_tokens}, the limit of {TRUNCATED_LIMIT}" if reached
               else "the output is empty and no output token is counted")
    else:
        why = f"status {show(status)} does not say the output was cut (RESP-OBJECT-006 checks the status itself)"
    fail("$.status", status, f'"incomplete" with incomplete_details.reason "max_output_tokens": the request '
         f"asked for an essay of 800 words with max_output_tokens={TRUNCATED_LIMIT} ({LONG_PROMPT!r})",
         f"{why}; incomplete_details is {show(details)}")


@requirement("RESP-OBJECT-009", MUST)
def test_error_is_null_on_success(api, model):
    c = Collector()
    for label, resp in both(api, model):
        if "error" not in resp:
            c.check(False, f"{label}$.error", MISSING, "present (required by the Response schema): null unless the "
                    "response failed")
        elif resp.get("status") != "failed":
            c.check(resp["error"] is None, f"{label}$.error", resp["error"],
                    f'null: the response did not fail (status {show(resp.get("status"))})')
        else:
            c.check(isinstance(resp["error"], dict), f"{label}$.error", resp["error"],
                    'an error object {"code", "message"}: the response failed')
    c.raise_if_any()


@requirement("RESP-OBJECT-010", MUST)
def test_incomplete_details_matches_status(api, model):
    c = Collector()
    reasons = Schemas.load().defs["Response"]["allOf"][2]["properties"]["incomplete_details"]["anyOf"][0][
        "properties"]["reason"]["enum"]
    for label, resp in both(api, model):
        status = resp.get("status")
        if "incomplete_details" not in resp:
            c.check(False, f"{label}$.incomplete_details", MISSING,
                    "present (required by the Response schema): null unless status is incomplete")
            continue
        details = resp["incomplete_details"]
        if status == "completed":
            c.check(details is None, f"{label}$.incomplete_details", details, "null: the response is completed")
        elif status == "incomplete":
            reason = details.get("reason", MISSING) if isinstance(details, dict) else details
            c.check(reason in reasons, f"{label}$.incomplete_details.reason", reason,
                    f"one of {show(reasons)}: the response is incomplete, so it says why")
    c.raise_if_any()


@requirement("RESP-OBJECT-011", MUST)
def test_model_is_named(api, model):
    c = Collector()
    for label, resp in both(api, model):
        value = resp.get("model", MISSING)
        c.check(isinstance(value, str) and value.strip() != "", f"{label}$.model", value,
                f"a non-empty string naming the model (requested: {show(model)})")
    c.raise_if_any()


ECHOED: dict[str, Any] = {
    "instructions": "Answer in plain words.",
    "metadata": {"suite": "responses-conformance", "case": "echo"},
    "temperature": 0.5,
    "top_p": 0.9,
    "parallel_tool_calls": False,
    "tools": [WEATHER_TOOL],
    "tool_choice": "none",
    "text": {"format": {"type": "text"}},
}


# Groups a server may legitimately refuse for a model (the official API rejects temperature / top_p
# for reasoning models; a server without function calling rejects tools): dropped and asked again.
OPTIONAL_GROUPS = {"sampling": ("temperature", "top_p"), "tools": ("tools", "tool_choice", "parallel_tool_calls")}


def _refused_group(reply: Any) -> str | None:
    """The optional group a 4xx names (in error.param or error.message), if any."""
    if not 400 <= reply.status < 500:
        return None
    try:
        error = reply.json().get("error") or {}
    except (ConformanceFailure, AttributeError):
        return None
    said = f"{error.get('param')} {error.get('message')}" if isinstance(error, dict) else ""
    return next((g for g, keys in OPTIONAL_GROUPS.items() if any(k in said for k in keys)), None)


ECHO_EQUAL = ("instructions", "metadata", "max_output_tokens", "parallel_tool_calls", "tool_choice")


def _echo_problems(c: Collector, resp: dict[str, Any], sent: dict[str, Any]) -> None:
    for key in (k for k in ECHO_EQUAL if k in sent):
        got = resp.get(key, MISSING)
        c.check(got == sent[key], f"$.{key}", got, f"{show(sent[key])}, as the request set it")
    for key in (k for k in OPTIONAL_GROUPS["sampling"] if k in sent):
        got = resp.get(key, MISSING)
        c.check(number(got) and abs(got - sent[key]) < 1e-6, f"$.{key}", got, f"{sent[key]}, as the request set it")
    text = resp.get("text", MISSING)
    if text is not MISSING and text is not None:  # `text` is optional in the Response schema
        fmt = text.get("format", MISSING) if isinstance(text, dict) else MISSING
        got = fmt.get("type", MISSING) if isinstance(fmt, dict) else fmt
        c.check(got == "text", "$.text.format.type", got, '"text", as the request set it')
    if "tools" not in sent:
        return  # refused by the server for this model, and dropped
    tools = resp.get("tools", MISSING)
    names = [(t.get("type"), t.get("name")) for t in tools if isinstance(t, dict)] if isinstance(tools, list) else None
    c.check(names == [("function", WEATHER_TOOL["name"])], "$.tools", tools,
            f"the one function tool the request declared ({WEATHER_TOOL['name']!r}), defaults may be filled in")


@requirement("RESP-OBJECT-012", MUST)
def test_set_parameters_are_echoed(api, model):
    sent = request(model, "Say hello in five words.", ANSWER, **ECHOED)
    what = "a request setting instructions, metadata, sampling and tool parameters"
    reply = send_shared(api, "POST", "responses", json_body=sent)
    dropped = []
    while (group := _refused_group(reply)) and group not in dropped:
        dropped.append(group)
        sent = {k: v for k, v in sent.items() if k not in OPTIONAL_GROUPS[group]}
        reply = send_shared(api, "POST", "responses", json_body=sent)
    if dropped:
        what += f" (without the {' and '.join(dropped)} parameters, which the server refused for this model)"
    resp = ok_object(reply, what)
    c = Collector()
    _echo_problems(c, resp, sent)
    c.raise_if_any("the response does not echo what the request set")


# Omitted from the request -> allowed in the response (MISSING = absent).
OMITTED: dict[str, tuple[Any, ...]] = {
    "max_output_tokens": (MISSING, None),
    "instructions": (MISSING, None, ""),
    "previous_response_id": (MISSING, None),
    "max_tool_calls": (MISSING, None),
    "tools": (MISSING, None, []),
    "metadata": (MISSING, None, {}),
    "top_logprobs": (MISSING, None, 0),
    "background": (MISSING, None, False),
    "truncation": (MISSING, None, "disabled"),
}


@requirement("RESP-OBJECT-013", SHOULD)
def test_omitted_parameters_are_not_invented(api, model):
    # No max_output_tokens on purpose: that is what is checked. A model that rambles past the
    # deadline is a model problem, not a protocol violation.
    body = {"model": model, "input": "Reply with just the word OK."}
    try:
        resp = post_shared(api, body, "a request with no optional parameter")
    except ConformanceFailure as exc:
        if "deadline" in str(exc) or "read timeout" in str(exc):
            pytest.skip(f"model did not cooperate: no answer in time without max_output_tokens ({exc})")
        raise
    c = Collector()
    for key, allowed in OMITTED.items():
        got = resp.get(key, MISSING)
        c.check(any(got is a if a is MISSING else (got is not MISSING and got == a and type(got) is type(a))
                    for a in allowed),
                f"$.{key}", got, "absent, or " + " / ".join(show(a) for a in allowed if a is not MISSING)
                + " (the request did not set it; the official API echoes null or the default)")
    c.raise_if_any("the response reports values the request did not set")


@requirement("RESP-OBJECT-014", SHOULD)
def test_store_and_reasoning_are_reflected(api, model):
    c = Collector()
    judged = []
    resp = post_ok(api, request(model, "Say hi.", TRUNCATED_LIMIT, store=False), "a request with store: false")
    store = resp.get("store", MISSING)
    if store is not MISSING:  # `store` is not in the Response schema; the official API reports it
        judged.append("store")
        c.check(store is False, "$.store", store, "false, as the request set store: false")
    reply = api.post("responses", request(model, "Say hi.", TRUNCATED_LIMIT, reasoning={"effort": "low"}))
    if not 400 <= reply.status < 500:  # a model without reasoning may reject reasoning settings
        resp = ok_object(reply, 'a request with reasoning: {"effort": "low"}')
        reasoning = resp.get("reasoning", MISSING)
        effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
        if effort is not None or _reasoned(resp):
            judged.append("reasoning.effort")
            c.check(effort == "low", "$.reasoning.effort", effort,
                    '"low", as the request set it' + ("" if effort is not None else
                                                       " (the model reasoned, so the setting applied)"))
    c.raise_if_any()
    if not judged:
        nothing_to_judge("the response reports neither store nor reasoning.effort, and the model did not reason")


def _reasoned(resp: dict[str, Any]) -> bool:
    """The response shows reasoning: a reasoning item, or reasoning tokens counted in usage."""
    items = any(isinstance(it, dict) and it.get("type") == "reasoning" for it in resp.get("output") or [])
    usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
    details = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), dict) else {}
    tokens = details.get("reasoning_tokens")
    return items or (number(tokens) and tokens > 0)


@requirement("RESP-OBJECT-015", SHOULD)
def test_usage_is_reported(api, model):
    c = Collector()
    for label, resp in both(api, model):
        usage = resp.get("usage", MISSING)
        c.check(isinstance(usage, dict), f"{label}$.usage", usage,
                "a usage object: the official API reports token usage on every finished response")
    c.raise_if_any()


def _usages(api: Any, model: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(label, resp["usage"]) for label, resp in both(api, model) if isinstance(resp.get("usage"), dict)]
    if not found:
        pytest.skip("no usage object to check (RESP-OBJECT-015 reports its absence)")
    return found


COUNTS = ("input_tokens", "output_tokens", "total_tokens", "input_tokens_details.cached_tokens",
          "output_tokens_details.reasoning_tokens")


def _count(usage: dict[str, Any], path: str) -> Any:
    cur: Any = usage
    for part in path.split("."):
        cur = cur.get(part, MISSING) if isinstance(cur, dict) else MISSING
    return cur


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@requirement("RESP-OBJECT-016", MUST)
def test_usage_fields(api, model):
    c = Collector()
    for label, usage in _usages(api, model):
        for path in COUNTS:
            value = _count(usage, path)
            c.check(_is_count(value), f"{label}$.usage.{path}", value, "a non-negative integer token count")
        c.extend_violations(Schemas.load().check("ResponseUsage", usage, f"{label}$.usage"),
                            "valid ResponseUsage per the OpenAPI schema")
    c.raise_if_any("usage is not the Responses API's usage object")


@requirement("RESP-OBJECT-017", MUST)
def test_usage_adds_up(api, model):
    c = Collector()
    checked = 0
    # each relation is judged where its counts are there (a missing count is RESP-OBJECT-016's finding):
    # llama.cpp has no output_tokens_details, yet its total must still be input + output
    for label, resp in both(api, model):
        usage = resp.get("usage")
        if not isinstance(usage, dict):
            continue
        n = {p: _count(usage, p) for p in COUNTS}
        ok = {p for p, v in n.items() if _is_count(v)}
        at = f"{label}$.usage"
        def judged(*needs: str, ok: set[str] = ok) -> bool:
            nonlocal checked
            if set(needs) <= ok:
                checked += 1
                return True
            return False

        if judged("total_tokens", "input_tokens", "output_tokens"):
            c.check(n["total_tokens"] == n["input_tokens"] + n["output_tokens"], f"{at}.total_tokens",
                    n["total_tokens"], f"input_tokens + output_tokens = {n['input_tokens'] + n['output_tokens']}")
        if judged("output_tokens_details.reasoning_tokens", "output_tokens"):
            c.check(n["output_tokens_details.reasoning_tokens"] <= n["output_tokens"],
                    f"{at}.output_tokens_details.reasoning_tokens", n["output_tokens_details.reasoning_tokens"],
                    f"at most output_tokens ({n['output_tokens']}): reasoning tokens are part of the output")
        if judged("input_tokens_details.cached_tokens", "input_tokens"):
            c.check(n["input_tokens_details.cached_tokens"] <= n["input_tokens"],
                    f"{at}.input_tokens_details.cached_tokens", n["input_tokens_details.cached_tokens"],
                    f"at most input_tokens ({n['input_tokens']}): cached tokens are part of the input")
        if judged("input_tokens"):
            c.check(n["input_tokens"] > 0, f"{at}.input_tokens", n["input_tokens"],
                    "more than 0: the request had a prompt")
        if resp.get("output") and judged("output_tokens"):
            c.check(n["output_tokens"] > 0, f"{at}.output_tokens", n["output_tokens"],
                    f"more than 0: the model produced {len(resp['output'])} output item(s)")
    if not checked:
        nothing_to_judge("no usage count to relate (RESP-OBJECT-015/016 report the usage object)")
    c.raise_if_any("the usage counts do not add up")
