"""Output items: known types valid as their variant, ids, messages and their parts, statuses.

The checks read the shared plain and cut-short replies; the function_call shape check asks for a
tool call (the tools area tests function calling end to end).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.judge.checks import MISSING, SERVER_AT_FAULT, Collector, nothing_to_judge, show
from conformance.judge.responses import ANSWER, ok_object, plain_response, request, server_fault, truncated_response
from conformance.judge.schema import Schemas
from conformance.suite.requirements import MUST, requirement

STATUSES = ("in_progress", "completed", "incomplete")
PART_TYPES = ("output_text", "refusal")
WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
    "strict": True,
}
TOOL_PROMPT = "What is the weather in Paris right now? Call the get_weather tool to find out."


def outputs(api: Any, model: str) -> list[tuple[str, int, dict[str, Any]]]:
    """(label, index, item) for every object item of the plain and the cut-short replies."""
    found = []
    for label, resp in (("plain", plain_response(api, model)), ("truncated", truncated_response(api, model))):
        for i, item in enumerate(resp.get("output") or []):
            found.append((label, i, item))
    if not found:
        nothing_to_judge("the plain and the cut-short replies have no output item (output: []; OTEXT-001 "
                         "judges a missing answer)")
    return found


def known(item: Any) -> str | None:
    """The schema definition of the item's type, or None for an unknown type."""
    return Schemas.load().definition_for("output_item", item.get("type")) if isinstance(item, dict) else None


def messages(api: Any, model: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(f"{label}$.output[{i}]", item) for label, i, item in outputs(api, model)
             if isinstance(item, dict) and item.get("type") == "message"]
    if not found:
        pytest.skip("model did not cooperate: no message item in the plain or the cut-short reply")
    return found


@requirement("OUTPUT-ITEM-001", MUST)
def test_items_match_their_schema(api, model):
    c = Collector()
    judged = 0
    for label, i, item in outputs(api, model):
        if not isinstance(item, dict):
            c.check(False, f"{label}$.output[{i}]", item, "an output item object")
        elif known(item):  # unknown types: OUTPUT-ITEM-002
            judged += 1
            c.extend_violations(Schemas.load().check_union("output_item", item, f"{label}$.output[{i}]"),
                                f"a valid {known(item)} per the OpenAPI schema")
    c.raise_if_any("output items break the schema of their type")
    if not judged:
        nothing_to_judge("no output item of a type the spec defines (OUTPUT-ITEM-002 judges the types)")


@requirement("OUTPUT-ITEM-002", MUST)
def test_item_types_are_defined(api, model):
    c = Collector()
    defined = Schemas.load().known_types("output_item")
    for label, i, item in outputs(api, model):
        kind = item.get("type", MISSING) if isinstance(item, dict) else MISSING
        c.check(known(item) is not None, f"{label}$.output[{i}].type", kind,
                f"an output item type the spec defines: {', '.join(defined)}")
    c.raise_if_any()


@requirement("OUTPUT-ITEM-003", MUST)
def test_item_ids_are_unique(api, model):
    c = Collector()
    seen: dict[str, str] = {}
    for label, i, item in outputs(api, model):
        if not isinstance(item, dict):
            continue
        at = f"{label}$.output[{i}].id"
        definition = known(item)
        required = definition is not None and "id" in Schemas.load().defs[definition].get("required", [])
        if "id" not in item:
            c.check(not required, at, MISSING, f"an id (required for {item.get('type')} items)")
            continue
        value = item["id"]
        if not c.check(isinstance(value, str) and value.strip() != "", at, value, "a non-empty string id"):
            continue
        c.check(value not in seen, at, value, f"an id of its own, but {seen.get(value)} has the same id")
        seen.setdefault(value, at)
    c.raise_if_any()


@requirement("OUTPUT-ITEM-004", MUST)
def test_message_items(api, model):
    c = Collector()
    for at, item in messages(api, model):
        c.check(item.get("role", MISSING) == "assistant", f"{at}.role", item.get("role", MISSING), '"assistant"')
        c.check(item.get("status", MISSING) in STATUSES, f"{at}.status", item.get("status", MISSING),
                f"one of {show(STATUSES)} (required on an output message)")
        content = item.get("content", MISSING)
        if not c.check(isinstance(content, list), f"{at}.content", content, "an array of content parts"):
            continue
        for j, part in enumerate(content):
            kind = part.get("type", MISSING) if isinstance(part, dict) else part
            c.check(kind in PART_TYPES, f"{at}.content[{j}].type", kind,
                    '"output_text" or "refusal" (an output message\'s parts are not chat-style "text")')
    c.raise_if_any()


@requirement("OUTPUT-ITEM-005", MUST)
def test_output_text_parts(api, model):
    c = Collector()
    parts = [(f"{at}.content[{j}]", part) for at, item in messages(api, model)
             for j, part in enumerate(item.get("content") or [])
             if isinstance(part, dict) and part.get("type") == "output_text"]
    if not parts:
        pytest.skip("model did not cooperate: no output_text part in the messages")
    for at, part in parts:
        c.check(isinstance(part.get("text", MISSING), str), f"{at}.text", part.get("text", MISSING), "a string")
        for key in ("annotations", "logprobs"):
            c.check(isinstance(part.get(key, MISSING), list), f"{at}.{key}", part.get(key, MISSING),
                    f"an array (required on every output_text part; [] when there are no {key})")
    c.raise_if_any()


@requirement("OUTPUT-ITEM-006", MUST)
def test_item_status_values(api, model):
    c = Collector()
    judged = 0
    for label, i, item in outputs(api, model):
        if isinstance(item, dict) and "status" in item and item.get("type") in ("message", "reasoning",
                                                                                  "function_call"):
            judged += 1
            c.check(item["status"] in STATUSES, f"{label}$.output[{i}].status", item["status"],
                    f"one of {show(STATUSES)}; the field may be absent on a {item['type']} item, but not null")
    c.raise_if_any()
    if not judged:
        nothing_to_judge("no message, reasoning or function_call item carries a status field")


def tool_calls(api: Any, model: str) -> list[tuple[str, dict[str, Any]]]:
    """function_call items from a request built to get one: tool_choice auto, then required."""
    fault = None
    for extra in ({}, {"tool_choice": "required"}):
        body = request(model, TOOL_PROMPT, ANSWER, tools=[WEATHER_TOOL], **extra)
        reply = api.post("responses", body)
        if extra and 400 <= reply.status < 500:
            break  # the server does not take tool_choice "required"; the first try stands
        resp = ok_object(reply, "a request inviting a call of the get_weather tool")
        calls = [(f"$.output[{i}]", it) for i, it in enumerate(resp.get("output") or [])
                 if isinstance(it, dict) and it.get("type") == "function_call"]
        if calls:
            return calls
        fault = server_fault(resp)
    if fault:
        pytest.skip(f"{SERVER_AT_FAULT}{fault}")
    pytest.skip("model did not cooperate: no function_call item after two requests inviting one")


@requirement("OUTPUT-ITEM-007", MUST)
def test_function_call_item_shape(api, model):
    c = Collector()
    for at, item in tool_calls(api, model):
        # OUTPUT-ITEM-001 reads replies without tools: a function_call item's schema is judged here
        c.extend_violations(Schemas.load().check("FunctionToolCall", item, at), "a valid FunctionToolCall")
        for key in ("call_id", "name"):
            value = item.get(key, MISSING)
            c.check(isinstance(value, str) and value.strip() != "", f"{at}.{key}", value, "a non-empty string")
        args = item.get("arguments", MISSING)
        c.check(isinstance(args, str), f"{at}.arguments", args,
                "a string holding JSON (not a JSON object): the arguments as the model wrote them")
    c.raise_if_any()
