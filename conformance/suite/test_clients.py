"""The request shapes of real clients, replayed; and the client libraries themselves, run live.

Each captured conversation (`clients/<client>/NN-<step>.json`, see `clients/README.md`) is replayed
once per test process, turn by turn, with the model replaced by the run's, `max_output_tokens`
kept small and the ids the server returned on the turn before handed back in place of the captured
ones (`judge.replay`).  Several requirements read the same replay: the client's (every turn
accepted) and the shape's (item_reference, reasoning in the client's form).  When a turn is
refused, the suite sends it again without one part at a time to name what the server refused;
`client_metadata` (outside the spec, judged at SHOULD by CLIENT-PARAM-001) and a built-in tool
refused with a clear 4xx (allowed, judged by CLIENT-TOOL-002) are set aside and the replay goes on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.judge.checks import (
    ConformanceFailure,
    ModelDidNotCooperate,
    check,
    fail,
    nothing_to_judge,
    skip_before_any_request,
)
from conformance.judge.profiles import declared_unsupported, unsupported_feature
from conformance.judge.replay import Replay, Scenario, Sent, inputs_of, is_hosted, load, replay, send, small
from conformance.suite.live_clients import LIVE_CLIENTS, LiveClient, LiveProblem, run_live
from conformance.suite.requirements import MUST, SHOULD, requirement

SCENARIOS = load(Path(__file__).parent / "clients")
PROMPT = "Say hello in five words."


def of(client: str) -> list[Scenario]:
    return [sc for sc in SCENARIOS if sc.client.name == client]


def later_turns_have(kind: str) -> list[Scenario]:
    return [sc for sc in SCENARIOS if any(isinstance(it, dict) and it.get("type") == kind
                                          for t in sc.turns[1:] for it in inputs_of(t.request))]


def ids(scenarios: list[Scenario]) -> list[str]:
    return [sc.name for sc in scenarios]


def judged(api: Any, model: str, scenario: Scenario, pytestconfig: pytest.Config) -> Replay:
    if scenario.needs_store:
        declared = declared_unsupported(pytestconfig.option.unsupported, getattr(pytestconfig.option, "profile", ""))
        missing = unsupported_feature("store", declared)
        if missing:
            pytest.xfail(f"unsupported: {scenario.name} hands back stored items (previous_response_id or "
                         f"item_reference) and the server does not claim feature {missing!r} (--unsupported/--profile)")
    done = replay(api, model, scenario)
    if done.refused:
        raise ConformanceFailure(done.refused)
    if done.too_long:
        pytest.skip(f"cannot judge: {done.too_long}")
    if done.not_cooperating:
        pytest.skip(f"model did not cooperate: {done.not_cooperating}")
    return done


# -- the clients' conversations ------------------------------------------------------------------


def turns_accepted(api: Any, model: str, scenario: Scenario, pytestconfig: pytest.Config) -> None:
    done = judged(api, model, scenario, pytestconfig)
    check(len(done.turns) == len(scenario.turns), "turns", len(done.turns),
          f"{len(scenario.turns)} turns replayed and accepted")


@requirement("CLIENT-AGENTS-001", MUST)
@pytest.mark.parametrize("scenario", of("openai-agents"), ids=ids(of("openai-agents")))
def test_agents_turns_accepted(api, model, scenario, pytestconfig):
    turns_accepted(api, model, scenario, pytestconfig)


@requirement("CLIENT-LANGCHAIN-001", MUST)
@pytest.mark.parametrize("scenario", of("langchain"), ids=ids(of("langchain")))
def test_langchain_turns_accepted(api, model, scenario, pytestconfig):
    turns_accepted(api, model, scenario, pytestconfig)


@requirement("CLIENT-PYDANTIC-001", MUST)
@pytest.mark.parametrize("scenario", of("pydantic-ai"), ids=ids(of("pydantic-ai")))
def test_pydantic_turns_accepted(api, model, scenario, pytestconfig):
    turns_accepted(api, model, scenario, pytestconfig)


@requirement("CLIENT-AISDK-001", MUST)
@pytest.mark.parametrize("scenario", of("ai-sdk"), ids=ids(of("ai-sdk")))
def test_aisdk_turns_accepted(api, model, scenario, pytestconfig):
    turns_accepted(api, model, scenario, pytestconfig)


@requirement("CLIENT-CODEX-001", MUST)
@pytest.mark.parametrize("scenario", of("codex"), ids=ids(of("codex")))
def test_codex_turns_accepted(api, model, scenario, pytestconfig):
    turns_accepted(api, model, scenario, pytestconfig)


@requirement("CLIENT-ITEM-001", MUST)
@pytest.mark.parametrize("scenario", later_turns_have("item_reference"), ids=ids(later_turns_have("item_reference")))
def test_item_reference_accepted(api, model, scenario, pytestconfig):
    done = judged(api, model, scenario, pytestconfig)
    handed = [t for t in done.turns if any(isinstance(i, dict) and i.get("type") == "item_reference"
                                           for i in inputs_of(t.sent.body))]
    if not handed:
        nothing_to_judge("the server's turns produced nothing the client would hand back as an item_reference")


@requirement("CLIENT-REASON-001", MUST)
@pytest.mark.parametrize("scenario", later_turns_have("reasoning"), ids=ids(later_turns_have("reasoning")))
def test_reasoning_in_client_form_accepted(api, model, scenario, pytestconfig):
    done = judged(api, model, scenario, pytestconfig)
    if not any(reasoning_items(t.sent.body) for t in done.turns):
        pytest.skip(f"model did not cooperate: no reasoning item to hand back in {scenario.client.name}'s form")


def reasoning_items(body: dict[str, Any]) -> list[int]:
    return [i for i, it in enumerate(inputs_of(body)) if isinstance(it, dict) and it.get("type") == "reasoning"]


def carries_text(item: dict[str, Any]) -> bool:
    parts = [p for key in ("content", "summary") for p in item.get(key) or [] if isinstance(p, dict)]
    return any(isinstance(p.get("text"), str) and p["text"].strip() for p in parts) \
        or bool(item.get("encrypted_content"))


def trailing_reasoning(body: dict[str, Any]) -> list[int]:
    """Reasoning items with something to read, after the last user message."""
    items = inputs_of(body)
    last_user = max((i for i, it in enumerate(items) if isinstance(it, dict) and it.get("role") == "user"), default=-1)
    return [i for i in reasoning_items(body) if i > last_user and carries_text(items[i])]


def input_tokens(resp: dict[str, Any] | None) -> Any:
    usage = resp.get("usage") if isinstance(resp, dict) else None
    return usage.get("input_tokens") if isinstance(usage, dict) else None


# the conversations where a client hands back reasoning with something to read after the last user message
TRAILING = [sc for sc in SCENARIOS if any(trailing_reasoning(t.request) for t in sc.turns[1:])]


@requirement("CLIENT-REASON-002", SHOULD)
@pytest.mark.parametrize("scenario", TRAILING, ids=ids(TRAILING))
def test_reasoning_in_client_form_reaches_the_model(api, model, scenario, pytestconfig):
    done = judged(api, model, scenario, pytestconfig)
    turns = [t for t in done.turns if trailing_reasoning(t.sent.body)]
    if not turns:
        nothing_to_judge(f"no turn of {scenario.name} hands back reasoning with text after the last user message")
    turn = turns[0]
    drop = set(trailing_reasoning(turn.sent.body))
    without = {**turn.sent.body, "input": [it for i, it in enumerate(inputs_of(turn.sent.body)) if i not in drop],
               "stream": False}
    probe = send(api, without)
    if not probe.accepted:
        nothing_to_judge(f"the turn without its reasoning items was refused ({probe.text[:200]})")
    n_with, n_without = input_tokens(turn.sent.response), input_tokens(probe.response)
    if not isinstance(n_with, int) or not isinstance(n_without, int):
        nothing_to_judge("usage.input_tokens not reported: what reaches the model cannot be measured")
    check(n_with > n_without, f"{turn.file}: $.usage.input_tokens", {"with": n_with, "without": n_without},
          f"more input tokens with the reasoning item(s) {sorted(drop)} handed back in {scenario.client}'s form "
          "than without them: the item must reach the model")


# -- shapes: client_metadata and tool types ------------------------------------------------------


CODEX = next(sc for sc in SCENARIOS if sc.client.name == "codex")


def codex_metadata() -> Any:
    return next(t.request["client_metadata"] for sc in of("codex") for t in sc.turns if "client_metadata" in t.request)


@requirement("CLIENT-PARAM-001", SHOULD)
def test_client_metadata_accepted(api, model):
    sent = send(api, small({"input": PROMPT, "client_metadata": codex_metadata()}, model))
    fits(sent)
    if not sent.accepted:
        fail("client_metadata", sent.text, f"HTTP 2xx: {CODEX.client} sends client_metadata on every request "
             "(the official API accepts it; a server refusing it fails every Codex request)")


def fits(sent: Sent) -> None:
    if sent.too_long:
        pytest.skip(f"cannot judge: the request exceeds the model's context ({sent.text[:300]})")


def tool_shapes(hosted: bool) -> list[Any]:
    """The first tool of each type (function: each client's form) the captured clients declare."""
    seen: dict[tuple[str, str], Any] = {}
    for sc in SCENARIOS:
        for t in sc.turns:
            for tool in t.request.get("tools") or []:
                if isinstance(tool, dict) and is_hosted(tool) == hosted:
                    seen.setdefault((sc.client.name, str(tool.get("type"))), (sc, tool))
    return [pytest.param(sc, tool, id=f"{client}-{kind}") for (client, kind), (sc, tool) in seen.items()]


def describe_tool(tool: dict[str, Any]) -> str:
    fmt = tool.get("format") if isinstance(tool.get("format"), dict) else {}
    extra = f" with a {fmt.get('syntax')} grammar" if fmt.get("type") == "grammar" else ""
    return f"a `{tool.get('type')}` tool{extra} ({json.dumps(tool)[:160]})"


@requirement("CLIENT-TOOL-001", MUST)
@pytest.mark.parametrize(("scenario", "tool"), tool_shapes(hosted=False))
def test_client_tool_accepted(api, model, scenario, tool):
    sent = send(api, small({"input": PROMPT, "tools": [tool]}, model))
    fits(sent)
    if not sent.accepted:
        fail("tools[0]", sent.text, f"HTTP 2xx: {scenario.client} declares {describe_tool(tool)}; the spec's Tool "
             "union defines it and the client runs it itself, so the server only relays the call")


@requirement("CLIENT-TOOL-002", MUST)
@pytest.mark.parametrize(("scenario", "tool"), tool_shapes(hosted=True))
def test_builtin_tool_accepted_or_clearly_refused(api, model, scenario, tool):
    sent = send(api, small({"input": PROMPT, "tools": [tool]}, model))
    fits(sent)
    if sent.accepted:
        return
    check(sent.clear_4xx, "HTTP status / $.error", sent.text,
          f"HTTP 2xx, or a 4xx with an error object saying why: {scenario.client} declares {describe_tool(tool)}, a "
          "built-in tool the server may not provide, but a 5xx or an unexplained refusal leaves the client no way "
          "to tell what to drop")


# -- the libraries, live -------------------------------------------------------------------------


LIVE = {c.name: c for c in LIVE_CLIENTS}


def live(server: Any, model: str, client: LiveClient, pytestconfig: pytest.Config) -> None:
    if not client.installed():
        how = "npm install @openai/codex; RC_CODEX=<its bin/codex>" if client.name == "codex" \
            else "pip install 'responses-conformance[clients]'"
        skip_before_any_request(f"client library not installed: {client.package} ({how})")
    try:
        steps = run_live(client, server.url, server.api_key, model, pytestconfig.option.request_timeout)
    except LiveProblem as exc:
        raise ConformanceFailure(str(exc)) from None
    except ModelDidNotCooperate as exc:
        pytest.skip(f"model did not cooperate: {exc}")
    check(len(steps) >= 3, "steps", steps, "the plain call, the stream, the tool loop and the second turn completed")


@requirement("CLIENT-AGENTS-002", MUST)
def test_agents_live(server, model, pytestconfig):
    live(server, model, LIVE["openai-agents"], pytestconfig)


@requirement("CLIENT-LANGCHAIN-002", MUST)
def test_langchain_live(server, model, pytestconfig):
    live(server, model, LIVE["langchain"], pytestconfig)


@requirement("CLIENT-PYDANTIC-002", MUST)
def test_pydantic_live(server, model, pytestconfig):
    live(server, model, LIVE["pydantic-ai"], pytestconfig)


@requirement("CLIENT-CODEX-002", SHOULD)
def test_codex_live(server, model, pytestconfig):
    live(server, model, LIVE["codex"], pytestconfig)
