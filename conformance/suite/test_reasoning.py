"""Reasoning: the reasoning item's shape, reasoning kept out of the answer, and reasoning handed back.

Turn 1 asks a question that invites thinking (shared by every test that needs it).  The ways a
client hands reasoning back are the variants of the seed scenario (test_seed.py has the basic
one: the whole output plus a new question):

- `reasoning-only`: the question and only the reasoning items (vLLM's example client);
- `summary-only`: reasoning items with a summary and no content (what the OpenAI API returns);
- `encrypted`: `include: ["reasoning.encrypted_content"]`, `store: false`, items handed back with it;
- `three-turns`: the conversation carried over three turns;
- `tool-calls`: reasoning items followed by a function_call and its function_call_output;
- `roles`: developer and system messages, the assistant message as returned, a new question.

Whether the history reaches the model is measured by `usage.input_tokens` against the same
request without it, which needs no model cooperation (a model that always answers the same text
is fine).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.judge.checks import MISSING, Collector, ConformanceFailure, check, show
from conformance.judge.responses import (
    ANSWER,
    WEATHER_TOOL,
    items_of,
    output_text,
    post_ok,
    post_shared,
    request,
    stream_shared,
    user,
)
from conformance.judge.schema import Schemas
from conformance.judge.stream import Stream
from conformance.suite.requirements import MUST, SHOULD, requirement

THINK = "What is the capital of France? Think it through, then answer in one sentence."
NEXT = "And which river flows through that city? Answer in one sentence."
LAST = "Name one famous bridge over that river. Answer in one sentence."
ENCRYPTED = {"include": ["reasoning.encrypted_content"], "store": False}
SUMMARY = {"reasoning": {"summary": "auto"}}

# Raw markup of a reasoning model or its chat template: never part of an answer.
MARKUP = ("<think>", "</think>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|channel|>", "<|message|>",
          "<|start|>", "<|end|>", "<|return|>", "<|eot_id|>", "<|start_header_id|>")


def ask(api: Any, model: str, inputs: list[dict[str, Any]], what: str, **extra: Any) -> dict[str, Any]:
    """One turn, shared by every test that sends the same input (`stream: false` said explicitly)."""
    return post_shared(api, request(model, inputs, ANSWER, stream=False, **extra), what)


def thinking_turn(api: Any, model: str, **extra: Any) -> dict[str, Any]:
    """Turn 1 with at least one reasoning item (asked twice, then skipped)."""
    resp = ask(api, model, [user(THINK)], "turn 1", **extra)
    if not items_of(resp, "reasoning"):
        resp = post_ok(api, request(model, [user(THINK)], ANSWER, stream=False, **extra), "turn 1 (asked again)")
        if not items_of(resp, "reasoning"):
            pytest.skip("model did not cooperate: no reasoning item in turn 1 (asked twice; see SEED-001)")
    return resp


def reasoning_of(resp: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(i, it) for i, it in enumerate(resp.get("output") or [])
            if isinstance(it, dict) and it.get("type") == "reasoning"]


def reasoning_texts(item: dict[str, Any]) -> list[str]:
    return [p.get("text") for key in ("content", "summary") for p in item.get(key) or []
            if isinstance(p, dict) and isinstance(p.get("text"), str) and p.get("text").strip()]


# -- the reasoning item ---------------------------------------------------------------------------


@requirement("REASON-ITEM-001", MUST)
@pytest.mark.parametrize("ask_summary", [False, True], ids=["default", "summary-auto"])
def test_reasoning_item_has_id_and_summary(api, model, ask_summary):
    resp = thinking_turn(api, model, **(SUMMARY if ask_summary else {}))
    c = Collector()
    for i, item in reasoning_of(resp):
        c.check(isinstance(item.get("id"), str) and item["id"].strip() != "", f"$.output[{i}].id",
                item.get("id", MISSING), "a non-empty id")
        c.check(isinstance(item.get("summary"), list), f"$.output[{i}].summary", item.get("summary", MISSING),
                "an array of summary parts: [] when there is no summary (required, not null)")
    c.raise_if_any()


@requirement("REASON-ITEM-002", MUST)
@pytest.mark.parametrize("ask_summary", [False, True], ids=["default", "summary-auto"])
def test_reasoning_parts_are_typed(api, model, ask_summary):
    resp = thinking_turn(api, model, **(SUMMARY if ask_summary else {}))
    schemas = Schemas.load()
    c = Collector()
    for i, item in reasoning_of(resp):
        for key, schema, part_type in (("content", "ReasoningTextContent", "reasoning_text"),
                                       ("summary", "SummaryTextContent", "summary_text")):
            parts = item.get(key)
            if parts is None:
                continue  # content is optional; a missing summary is REASON-ITEM-001's
            if not isinstance(parts, list):
                c.check(False, f"$.output[{i}].{key}", parts, f"an array of {part_type} parts")
                continue
            for j, part in enumerate(parts):
                c.extend_violations(schemas.check(schema, part, f"$.output[{i}].{key}[{j}]"),
                                    f'a {part_type} part: {{"type": "{part_type}", "text": ...}}')
    c.raise_if_any()


# -- reasoning kept out of the answer -------------------------------------------------------------


def answer_and_reasoning(api: Any, model: str, mode: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The answer's texts (where, text) and the final response, from turn 1 as JSON or streamed."""
    if mode == "json":
        resp = ask(api, model, [user(THINK)], "turn 1")
        return [("$.output[?type=message].content[?type=output_text].text", output_text(resp))], resp
    s = Stream.from_reply(stream_shared(api, request(model, [user(THINK)], ANSWER), "turn 1 (stream: true)"))
    final = s.final or {}
    return [("the response.output_text.delta events, joined", s.joined("output_text")),
            ("the terminal event's response: output_text parts", output_text(final))], final


def words(text: str) -> str:
    return " ".join(text.split())


@requirement("REASON-LEAK-001", MUST)
@pytest.mark.parametrize("mode", ["json", pytest.param("stream", marks=pytest.mark.feature("streaming"))])
def test_no_reasoning_markup_in_the_answer(api, model, mode):
    texts, _ = answer_and_reasoning(api, model, mode)
    if not any(t.strip() for _, t in texts):
        pytest.skip("no answer text to look at (see OTEXT-001)")
    c = Collector()
    for where, text in texts:
        found = [m for m in MARKUP if m in text.lower()]
        c.check(not found, where, text, f"the answer alone, without reasoning markup or special tokens {found}: "
                "reasoning belongs in reasoning items")
    c.raise_if_any()


@requirement("REASON-LEAK-002", SHOULD)
@pytest.mark.parametrize("mode", ["json", pytest.param("stream", marks=pytest.mark.feature("streaming"))])
def test_reasoning_not_repeated_in_the_answer(api, model, mode):
    texts, resp = answer_and_reasoning(api, model, mode)
    thoughts = [words(t) for _, item in reasoning_of(resp) for t in reasoning_texts(item)]
    # short thoughts ("Paris.") may well be the answer too: only a sentence-long one is telling
    thoughts = [t for t in thoughts if len(t) >= 24 and len(t.split()) >= 5]
    if not thoughts:
        pytest.skip("model did not cooperate: no reasoning text of a sentence or more to look for")
    c = Collector()
    for where, text in texts:
        for thought in thoughts:
            c.check(thought not in words(text), where, text,
                    f"an answer that does not repeat the reasoning {show(thought, 160)} "
                    "(it is in the reasoning item already)")
    c.raise_if_any()


@requirement("REASON-USAGE-001", SHOULD)
def test_reasoning_tokens_counted(api, model):
    resp = thinking_turn(api, model)
    shown = [t for _, item in reasoning_of(resp) for t in reasoning_texts(item)]
    if not shown:
        pytest.skip("model did not cooperate: the reasoning items hold no text")
    usage = resp.get("usage")
    details = usage.get("output_tokens_details") if isinstance(usage, dict) else None
    count = details.get("reasoning_tokens", MISSING) if isinstance(details, dict) else MISSING
    check(isinstance(count, int) and not isinstance(count, bool) and count > 0,
          "$.usage.output_tokens_details.reasoning_tokens", count,
          f"the number of reasoning tokens, > 0: the response shows {len(' '.join(shown).split())} words of "
          "reasoning", note="every output token spent thinking is a reasoning token; the OpenAI API counts them")


# -- reasoning handed back ------------------------------------------------------------------------

TOOL_CALL = {"type": "function_call", "call_id": "call_rc_weather_1", "name": WEATHER_TOOL["name"],
             "arguments": '{"city": "Paris"}'}
TOOL_OUTPUT = {"type": "function_call_output", "call_id": "call_rc_weather_1",
               "output": '{"temperature_c": 18, "sky": "clear"}'}


def summary_only(item: dict[str, Any]) -> dict[str, Any]:
    """The reasoning item as the OpenAI API returns it: id and summary, no content."""
    summary = item.get("summary") or [{"type": "summary_text", "text": t}
                                      for p in item.get("content") or [] if isinstance(p, dict)
                                      for t in [p.get("text")] if isinstance(t, str) and t]
    return {"type": "reasoning", "id": item.get("id"), "summary": summary}


def history(api: Any, model: str, variant: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """(the input of the last turn, extra request fields, what it is) for one way of handing back."""
    if variant == "encrypted":
        try:
            first = thinking_turn(api, model, **ENCRYPTED)
        except ConformanceFailure as exc:
            if "HTTP 4" not in str(exc):
                raise
            # the include itself refused: REASON-ENC-001 reports it; nothing to hand back here
            pytest.skip(f"turn 1 with include reasoning.encrypted_content was refused (see REASON-ENC-001): "
                        f"{str(exc).splitlines()[1][:160]}")
        if not all(item.get("encrypted_content") for _, item in reasoning_of(first)):
            pytest.skip("the server returned no encrypted_content to hand back (see REASON-ENC-001)")
        return [user(THINK), *first["output"], user(NEXT)], ENCRYPTED, "turn 2 with encrypted reasoning"
    # the variants about reasoning need it in turn 1; the others work with any model
    needs_reasoning = variant in ("reasoning-only", "summary-only", "tool-calls")
    first = thinking_turn(api, model) if needs_reasoning else ask(api, model, [user(THINK)], "turn 1")
    out = list(first.get("output") or [])
    reasoning = [item for _, item in reasoning_of(first)]
    if variant == "reasoning-only":
        return [user(THINK), *reasoning], {}, "the question and only turn 1's reasoning items"
    if variant == "whole-output":
        return [user(THINK), *out, user(NEXT)], {}, "turn 2 (turn 1's output and a new question)"
    if variant == "summary-only":
        back = [summary_only(it) if it.get("type") == "reasoning" else it for it in out]
        return [user(THINK), *back, user(NEXT)], {}, "turn 2 with summary-only reasoning items"
    if variant == "three-turns":
        second_input = [user(THINK), *out, user(NEXT)]
        second = ask(api, model, second_input, "turn 2 (turn 1's output and a new question)")
        return [*second_input, *(second.get("output") or []), user(LAST)], {}, "turn 3 (turns 1 and 2 given back)"
    if variant == "tool-calls":
        return [user(THINK), *reasoning, TOOL_CALL, TOOL_OUTPUT], {"tools": [WEATHER_TOOL]}, \
            "reasoning items, a function_call and its output"
    if variant == "roles":
        return [{"type": "message", "role": "developer", "content": "Answer in one short sentence."},
                {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be precise."}]},
                user(THINK), *out, user(NEXT)], {}, "developer and system messages, turn 1's output, a question"
    if variant == "no-ids":
        bare = []
        for it in out:
            it = {k: v for k, v in it.items() if k != "status"}
            if it.get("type") in ("message", "function_call"):
                it.pop("id", None)
            bare.append(it)
        return [user(THINK), *bare, user(NEXT)], {}, "turn 1's output without status, messages without id"
    raise AssertionError(variant)


def accepted(api: Any, model: str, variant: str) -> dict[str, Any]:
    inputs, extra, what = history(api, model, variant)
    resp = ask(api, model, inputs, what, **extra)
    # accepted and served; a missing or odd status is the response area's (RESP-OBJECT-006)
    check(resp.get("status") not in ("failed", "cancelled"), "$.status", resp.get("status", MISSING),
          f'"completed" (or "incomplete"): {what} answered', note=show(resp.get("error"), 300))
    return resp


@requirement("REASON-TURN-001", MUST)
@pytest.mark.parametrize("variant", [
    "reasoning-only", "summary-only",
    pytest.param("encrypted", marks=pytest.mark.feature("reasoning.encrypted_content")),
    "three-turns", pytest.param("tool-calls", marks=pytest.mark.feature("tools")), "roles"])
def test_reasoning_histories_accepted(api, model, variant):
    # a variant of a feature declared unsupported is dropped (the `feature` marker), not skipped
    accepted(api, model, variant)


@requirement("REASON-TURN-002", SHOULD)
def test_items_without_ids_accepted(api, model):
    accepted(api, model, "no-ids")


@requirement("REASON-ENC-001", MUST)
def test_encrypted_content_included(api, model):
    resp = thinking_turn(api, model, **ENCRYPTED)
    c = Collector()
    for i, item in reasoning_of(resp):
        value = item.get("encrypted_content", MISSING)
        c.check(isinstance(value, str) and value.strip() != "", f"$.output[{i}].encrypted_content", value,
                'the encrypted reasoning, a non-empty string (include: ["reasoning.encrypted_content"] asked '
                "for it; with store: false it is the only way to hand the reasoning back)")
    c.raise_if_any()


def input_tokens(resp: dict[str, Any], what: str) -> int:
    usage = resp.get("usage")
    value = usage.get("input_tokens") if isinstance(usage, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        pytest.skip(f"usage.input_tokens not reported for {what} ({show(usage, 120)}): what reaches the model "
                    "cannot be measured (see RESP-OBJECT-015)")
    return value


@requirement("REASON-CTX-001", MUST)
@pytest.mark.parametrize("variant", ["whole-output", "three-turns", "roles"])
def test_history_reaches_the_model(api, model, variant):
    inputs, extra, what = history(api, model, variant)
    with_history = ask(api, model, inputs, what, **extra)
    alone = ask(api, model, [inputs[-1]], "the last message alone", **extra)
    n_with, n_alone = input_tokens(with_history, what), input_tokens(alone, "the last message alone")
    check(n_with > n_alone, "$.usage.input_tokens", n_with,
          f"more than {n_alone}, the input tokens of the last message alone: {what} "
          f"({len(inputs) - 1} earlier items) must reach the model",
          note="the same count means the server dropped the history (or reports a made-up usage)")


@requirement("REASON-CTX-002", SHOULD)
def test_trailing_reasoning_reaches_the_model(api, model):
    first = thinking_turn(api, model)
    inputs, extra, what = history(api, model, "reasoning-only")
    resp = ask(api, model, inputs, what, **extra)
    n_with, n_alone = input_tokens(resp, what), input_tokens(first, "turn 1")
    check(n_with > n_alone, "$.usage.input_tokens", n_with,
          f"more than {n_alone}, turn 1's input tokens (the same question without its reasoning): reasoning handed "
          "back after the last user message is the turn in progress, and the model continues from it",
          note="the same count means the reasoning items were dropped (e.g. attached to a next assistant message "
               "that does not exist)")
