"""Parameters whose effect can be observed.

`max_output_tokens` cuts the output and says so (status, reason, usage, the cut item's status,
the streamed final response); `instructions` are echoed, reach the model (input tokens grow) and
are not carried over by `previous_response_id`; `text.format` gives bare JSON; `tool_choice` and
`parallel_tool_calls` govern function calls; documented `include` values, `temperature` and
`top_p` are accepted and echoed.  Token counts are compared with each other, never with our own
tokenizer, so the checks hold for any model and tokenizer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conformance.judge.checks import MISSING, Collector, check, fail
from conformance.judge.responses import (
    ANSWER,
    LONG_PROMPT,
    SHORT,
    TIME_TOOL,
    TOOL_PROMPT,
    TRUNCATED_LIMIT,
    WEATHER_TOOL,
    cooperate,
    final_response,
    function_calls,
    output_text,
    post_ok,
    post_shared,
    request,
    send_shared,
    stream_ok,
    truncated_response,
)
from conformance.judge.schema import Schemas
from conformance.suite.requirements import MUST, SHOULD, requirement

LIMIT = TRUNCATED_LIMIT
INSTRUCTIONS = (
    "You are a patient assistant for a small travel agency that plans walking tours of old European "
    "cities. Answer in plain, friendly English, and keep every answer short unless the traveller asks "
    "for detail. Prefer concrete advice over general remarks: name streets, squares, bridges, markets, "
    "museums and cafes, and give opening hours only when you are sure of them. Never invent prices. "
    "When a traveller mentions a date, consider the season, the weather and public holidays. When a "
    "traveller mentions children, suggest parks and short walks. When a traveller mentions a budget, "
    "suggest free sights first. Always end with one practical tip about shoes, water or public "
    "transport, and sign every answer with the agency's name, Old Streets Walking Tours."
)
QUESTION = "Say hello in five words."


def usage_int(resp: dict[str, Any], *path: str) -> int | None:
    value: Any = resp.get("usage")
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def needs_usage(resp: dict[str, Any], *path: str) -> int:
    value = usage_int(resp, *path)
    if value is None:
        pytest.skip(f"cannot judge: the response reports no usage.{'.'.join(path)} (see the usage requirements)")
    return value


def judge_truncation(resp: dict[str, Any], limit: int, longer: Callable[[int], dict[str, Any]],
                     where: str = "$") -> None:
    """A long essay asked with a tiny budget is cut: status incomplete, reason max_output_tokens.

    A response that says completed after using the whole budget was cut, unless the model's
    answer happens to be exactly that long: `longer(budget)` asks again with a larger budget
    to tell the two apart.
    """
    status = resp.get("status")
    if status == "incomplete":
        details = resp.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else details
        check(reason == "max_output_tokens", f"{where}.incomplete_details.reason", reason,
              '"max_output_tokens" (the output was cut by max_output_tokens)')
        return
    if status != "completed":
        fail(f"{where}.status", status, '"incomplete" with incomplete_details.reason "max_output_tokens"')
    used = usage_int(resp, "output_tokens")
    if used is not None and used >= limit:
        budget = limit * 4
        natural = usage_int(longer(budget), "output_tokens")
        if natural is not None and natural > limit:
            fail(f"{where}.status", status,
                 f'"incomplete" with incomplete_details.reason "max_output_tokens": the output used the whole '
                 f"budget (usage.output_tokens {used}, max_output_tokens {limit}) and the same request with "
                 f"max_output_tokens={budget} uses {natural} tokens, so this one was cut")
    pytest.skip(f"model did not cooperate: it finished an 800-word essay request within max_output_tokens="
                f"{limit} (usage.output_tokens {used})")


def essay(api: Any, model: str, budget: int) -> dict[str, Any]:
    return post_shared(api, request(model, LONG_PROMPT, budget), f"an 800-word essay with max_output_tokens={budget}")


@requirement("PARAM-MAXTOK-001", MUST)
def test_truncation_reported_as_incomplete(api, model):
    judge_truncation(truncated_response(api, model), LIMIT, lambda budget: essay(api, model, budget))


@requirement("PARAM-MAXTOK-002", MUST)
def test_output_tokens_within_limit(api, model):
    resp = truncated_response(api, model)
    used = needs_usage(resp, "output_tokens")
    reasoning = usage_int(resp, "output_tokens_details", "reasoning_tokens")
    c = Collector()
    c.check(used <= LIMIT, "$.usage.output_tokens", used,
            f"at most max_output_tokens = {LIMIT} (the limit includes reasoning tokens: {reasoning})")
    if reasoning is not None:
        c.check(reasoning <= LIMIT, "$.usage.output_tokens_details.reasoning_tokens", reasoning,
                f"at most max_output_tokens = {LIMIT}: reasoning tokens count toward the limit")
    c.raise_if_any()


@requirement("PARAM-MAXTOK-003", SHOULD)
def test_cut_item_status_incomplete(api, model):
    # The cut must fall inside a message or a call: a reasoning model may spend a small budget
    # thinking, so the budget grows until the last item is one that carries a status.
    for limit in (LIMIT, SHORT, ANSWER):
        resp = truncated_response(api, model) if limit == LIMIT else essay(api, model, limit)
        if resp.get("status") == "completed":
            used = usage_int(resp, "output_tokens")
            if used is not None and used >= limit:
                pytest.skip(f"cannot judge: the response says completed after using the whole budget "
                            f"(max_output_tokens={limit}); PARAM-MAXTOK-001 judges whether it was cut")
            pytest.skip(f"model did not cooperate: it finished within max_output_tokens={limit}")
        if resp.get("status") != "incomplete":
            continue  # PARAM-MAXTOK-001 judges the response status
        output = [it for it in resp.get("output") or [] if isinstance(it, dict)]
        if output and output[-1].get("type") in ("message", "function_call"):
            last = output[-1]
            check(last.get("status") != "completed", f"$.output[{len(output) - 1}].status", last.get("status"),
                  f'"incomplete": this {last.get("type")} was cut off by max_output_tokens={limit} '
                  f"(the response is incomplete)")
            return
    pytest.skip("model did not cooperate: at every budget tried the output was cut before a message began")


@requirement("PARAM-MAXTOK-004", MUST)
def test_streamed_truncation_reported(api, model):
    reply = stream_ok(api, request(model, LONG_PROMPT, LIMIT), "a streamed 800-word essay with max_output_tokens=16")
    final = final_response(reply)
    if final is None:
        types = [d.get("type") for _, d in reply.payloads() if isinstance(d, dict)]
        fail("events[*].type", types[-5:], "a terminal event (response.incomplete) carrying the response, "
             "so the client learns the output was cut")

    def longer(budget: int) -> dict[str, Any]:
        return final_response(stream_ok(api, request(model, LONG_PROMPT, budget))) or {}

    judge_truncation(final, LIMIT, longer, "<terminal event>.response")


def instructed(model: str, with_instructions: bool = True, **extra: Any) -> dict[str, Any]:
    body = request(model, QUESTION, LIMIT, **extra)
    if with_instructions:
        body["instructions"] = INSTRUCTIONS
    return body


def instruction_text(value: Any) -> str | None:
    """The instructions as echoed: the string, or the text of echoed input items."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, list):
        texts = []
        for item in value:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [p.get("text", "") for p in content if isinstance(p, dict)]
        return "".join(texts)
    return None


@requirement("PARAM-INSTR-001", MUST)
def test_instructions_echoed(api, model):
    resp = post_shared(api, instructed(model), "a request with instructions")
    echoed = resp.get("instructions")
    check(instruction_text(echoed) == INSTRUCTIONS, "$.instructions", echoed,
          "the instructions of the request, unchanged")


@requirement("PARAM-INSTR-002", MUST)
def test_instructions_reach_the_model(api, model):
    with_ = post_shared(api, instructed(model), "a request with instructions")
    without = post_shared(api, instructed(model, False), "the same request without instructions")
    a, b = needs_usage(with_, "input_tokens"), needs_usage(without, "input_tokens")
    words = len(INSTRUCTIONS.split())
    check(a - b >= words // 2, "$.usage.input_tokens", {"with instructions": a, "without": b},
          f"more input tokens with the instructions ({words} words) than without: at least {words // 2} more")


@requirement("PARAM-INSTR-003", MUST)
def test_instructions_not_carried_over(api, model):
    first = post_shared(api, instructed(model), "turn 1 with instructions")
    plain = post_shared(api, instructed(model, False), "turn 1 without instructions")
    follow = "And now in three words?"
    second = post_ok(api, request(model, follow, LIMIT, previous_response_id=first.get("id")),
                     "turn 2 with previous_response_id (turn 1 had instructions) and none of its own")
    control = post_ok(api, request(model, follow, LIMIT, previous_response_id=plain.get("id")),
                      "turn 2 with previous_response_id (turn 1 had no instructions)")
    c = Collector()
    c.check(instruction_text(second.get("instructions")) != INSTRUCTIONS, "turn2.$.instructions",
            second.get("instructions"), "null: turn 2 gave no instructions, and turn 1's are not carried over")
    cost = needs_usage(first, "input_tokens") - needs_usage(plain, "input_tokens")
    chained, chained_plain = needs_usage(second, "input_tokens"), needs_usage(control, "input_tokens")
    if chained_plain <= needs_usage(plain, "input_tokens"):
        c.raise_if_any()
        pytest.skip("cannot judge: a turn chained by previous_response_id has no more input tokens than the "
                    "turn it continues, so the previous context is not used at all (STATE-PREV-002 judges that)")
    # The two turn-2 contexts differ only by turn 1's outputs (at most the larger output count)
    # unless turn 1's instructions came along.
    slack = max(needs_usage(first, "output_tokens"), needs_usage(plain, "output_tokens"))
    c.check(chained - chained_plain - slack <= cost / 2, "turn2.$.usage.input_tokens",
            {"chained to turn 1 with instructions": chained, "chained to turn 1 without": chained_plain},
            f"about the same input tokens (within turn 1's output tokens, {slack}); turn 1's instructions cost "
            f"{cost} input tokens, and carried over they would add about that much")
    c.raise_if_any()


CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "country", "population"],
    "additionalProperties": False,
}
FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.S)


def refused(resp: dict[str, Any]) -> bool:
    return any(isinstance(p, dict) and p.get("type") == "refusal"
               for it in resp.get("output") or [] if isinstance(it, dict) and it.get("type") == "message"
               for p in it.get("content") or [])


def parsed_json(resp: dict[str, Any], what: str) -> Any:
    if refused(resp):
        pytest.skip("model did not cooperate: it refused")
    text = output_text(resp)
    try:
        return json.loads(text)
    except ValueError:
        note = ""
        fenced = FENCE.match(text)
        if fenced:
            try:
                json.loads(fenced.group(1))
                note = "the JSON is wrapped in a Markdown code fence; text.format asks for the bare JSON"
            except ValueError:
                pass
        fail("output_text", text, f"{what}: json.loads(output_text) succeeds", note)


def json_answer(api: Any, model: str, prompt: str, fmt: dict[str, Any]) -> dict[str, Any]:
    body = request(model, prompt, ANSWER, text={"format": fmt})
    return cooperate(lambda: post_ok(api, body, f"a request with text.format {fmt['type']}"),
                     lambda r: r.get("status") != "incomplete",
                     f"the JSON did not fit in max_output_tokens={ANSWER}")


@requirement("PARAM-JSON-001", MUST)
def test_json_schema_output(api, model):
    fmt = {"type": "json_schema", "name": "city_facts", "schema": CITY_SCHEMA, "strict": True}
    resp = json_answer(api, model, "Name the largest city of France, its country and its population.", fmt)
    value = parsed_json(resp, "bare JSON valid against the text.format schema")
    c = Collector()
    for err in Draft202012Validator(CITY_SCHEMA).iter_errors(value):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        c.check(False, f"json.loads(output_text){path}", err.instance, f"valid against the schema ({err.message})")
    c.raise_if_any()


@requirement("PARAM-JSON-002", MUST)
def test_json_object_output(api, model):
    prompt = 'Reply in JSON: an object whose key "greeting" holds a short greeting.'
    resp = json_answer(api, model, prompt, {"type": "json_object"})
    value = parsed_json(resp, "a bare JSON object")
    check(isinstance(value, dict), "json.loads(output_text)", value, "a JSON object (text.format json_object)")


WEATHER_QUESTION = "What is the weather like in Paris right now?"


@requirement("PARAM-TOOLCHOICE-001", MUST)
def test_tool_choice_none(api, model):
    resp = post_ok(api, request(model, TOOL_PROMPT, ANSWER, tools=[WEATHER_TOOL], tool_choice="none"),
                   'a request with tool_choice "none"')
    calls = function_calls(resp)
    check(not calls, "$.output[?type=function_call]", calls,
          'no function_call: tool_choice "none" forbids tool calls, whatever the prompt asks')


def forced(api: Any, model: str, choice: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = request(model, WEATHER_QUESTION, ANSWER, tools=tools, tool_choice=choice)
    resp = cooperate(lambda: post_ok(api, body, f"a request with tool_choice {json.dumps(choice)}"),
                     lambda r: bool(function_calls(r)) or r.get("status") != "incomplete",
                     f"the output was cut by max_output_tokens={ANSWER} before any call")
    calls = function_calls(resp)
    check(bool(calls), "$.output[*].type", [it.get("type") for it in resp.get("output") or []],
          f"at least one function_call: tool_choice {json.dumps(choice)} forces a tool call")
    return calls


@requirement("PARAM-TOOLCHOICE-002", MUST)
def test_tool_choice_required(api, model):
    forced(api, model, "required", [WEATHER_TOOL])


@requirement("PARAM-TOOLCHOICE-003", MUST)
def test_tool_choice_named(api, model):
    # The question is about the weather; the named function is the other one.
    calls = forced(api, model, {"type": "function", "name": TIME_TOOL["name"]}, [WEATHER_TOOL, TIME_TOOL])
    names = [c.get("name") for c in calls]
    check(all(n == TIME_TOOL["name"] for n in names), "$.output[?type=function_call].name", names,
          f'only "{TIME_TOOL["name"]}", the function tool_choice names')


@requirement("PARAM-PARALLEL-001", MUST)
def test_parallel_tool_calls_false(api, model):
    prompt = "Call the get_weather tool for Paris and the get_time tool for Tokyo."
    # only a model that makes two calls when allowed can show that `false` holds it to one: otherwise
    # the check below could not fail, whatever the server does with the flag
    allowed = request(model, prompt, ANSWER, tools=[WEATHER_TOOL, TIME_TOOL], parallel_tool_calls=True)
    cooperate(lambda: post_ok(api, allowed, "a request with parallel_tool_calls true"),
              lambda r: len(function_calls(r)) >= 2,
              "fewer than two function_call items for a prompt asking for two, with parallel_tool_calls true: "
              "without two calls when allowed, `false` cannot be judged")
    body = request(model, prompt, ANSWER, tools=[WEATHER_TOOL, TIME_TOOL], parallel_tool_calls=False)
    resp = cooperate(lambda: post_ok(api, body, "a request with parallel_tool_calls false"),
                     lambda r: bool(function_calls(r)), "no function_call for a prompt asking for two")
    calls = function_calls(resp)
    check(len(calls) <= 1, "$.output[?type=function_call]", [(c.get("name"), c.get("arguments")) for c in calls],
          "at most one function_call: parallel_tool_calls is false")


def documented_include_values() -> list[str]:
    """IncludeEnum values that CreateResponse.include lists as currently supported.

    The enum keeps `web_search_call.results`, which the request's own description no longer
    lists; a server may reject a value the spec no longer calls supported.
    """
    defs = Schemas.load().defs
    enum = defs["IncludeEnum"]["enum"]
    variants = defs["CreateResponse"]["allOf"][2]["properties"]["include"].get("anyOf", [])
    text = next((v.get("description", "") for v in variants if v.get("type") == "array"), "")
    listed = set(re.findall(r"^- `([a-z_.]+)`", text, re.M))
    return [v for v in enum if v in listed] or enum


INCLUDE_VALUES = documented_include_values()


@requirement("PARAM-INCLUDE-001", MUST)
@pytest.mark.parametrize("value", INCLUDE_VALUES)
def test_include_value_accepted(api, model, value):
    post_ok(api, request(model, QUESTION, LIMIT, include=[value]), f"a request with include [{value!r}]")


SAMPLING = [("temperature", 0), ("temperature", 2), ("top_p", 0.1), ("top_p", 1)]


def sampled(api: Any, model: str, name: str, value: float) -> Any:
    return send_shared(api, "POST", "responses", json_body=request(model, QUESTION, LIMIT, **{name: value}))


@requirement("PARAM-SAMPLING-001", SHOULD)
@pytest.mark.parametrize(("name", "value"), SAMPLING, ids=[f"{n}={v}" for n, v in SAMPLING])
def test_sampling_in_range_accepted(api, model, name, value):
    reply = sampled(api, model, name, value)
    check(200 <= reply.status < 300, "HTTP status", f"{reply.status} {reply.body[:300]!r}",
          f"2xx: {name}={value} is within the documented range")


@requirement("PARAM-SAMPLING-002", MUST)
@pytest.mark.parametrize(("name", "value"), SAMPLING, ids=[f"{n}={v}" for n, v in SAMPLING])
def test_sampling_echoed(api, model, name, value):
    reply = sampled(api, model, name, value)
    if not 200 <= reply.status < 300:
        pytest.skip(f"{name}={value} was not accepted (PARAM-SAMPLING-001)")
    echoed = reply.json_object().get(name, MISSING)
    ok = isinstance(echoed, int | float) and not isinstance(echoed, bool) and abs(echoed - value) < 1e-6
    check(ok, f"$.{name}", echoed, f"{value}, the value the request gave (not null or absent: RESP-OBJECT-012)")
