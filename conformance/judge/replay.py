"""Replaying the requests real clients sent, turn by turn, against the server under test.

A capture is one request a client sent (`conformance/suite/clients/<client>/NN-<step>.json`, the
format `python -m tools.capture` writes): the body as sent and the reply it got.  A later turn
hands back what an earlier reply held (response ids, item ids, call ids, encrypted reasoning), so
the turns of one conversation are found by those values and replayed in order; before each turn
the values of the captured replies are replaced by those the server under test returned on the
turns before, matched item by item (the n-th reasoning item with the n-th, and so on).  A value
the live turn has no counterpart for is dropped with the item that carried it, as the client would
not have had it; a call answered with no live call to answer means the model did not cooperate.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.base.failure import show
from conformance.base.once import Once
from conformance.judge.responses import ANSWER, final_response
from conformance.wire.http import CURRENT, Exchange, record

# how servers say a prompt is too long for the model (vLLM; llama.cpp: "exceeds the available context size")
CONTEXT_EXCEEDED = re.compile(r"maximum context length|context (length|window) (is )?exceeded|exceeds the context"
                              r"|exceeds the available context", re.IGNORECASE)
TERMINAL = ("response.completed", "response.incomplete", "response.failed")
HANDED_BACK_KEYS = ("id", "call_id", "encrypted_content")
# tool types the spec lists as built-in tools "provided by OpenAI": a server that does not host
# them may refuse them with a clear 4xx (CreateResponse.tools, ToolsArray)
HOSTED_TOOLS = frozenset({
    "file_search", "computer", "computer_use_preview", "web_search", "web_search_2025_08_26", "mcp",
    "code_interpreter", "image_generation", "web_search_preview", "web_search_preview_2025_03_11",
    "programmatic_tool_calling", "shell",
})


def final_of_capture(capture: dict[str, Any]) -> dict[str, Any] | None:
    """The captured reply's response object: the JSON reply, or the stream's terminal event's."""
    events = capture.get("response_sse")
    if isinstance(events, list):
        final = None
        for ev in events:
            data = ev.get("data") if isinstance(ev, dict) else None
            if isinstance(data, dict) and data.get("type") in TERMINAL and isinstance(data.get("response"), dict):
                final = data["response"]
        return final
    reply = capture.get("response")
    return reply if isinstance(reply, dict) else None


def is_hosted(tool: Any) -> bool:
    return isinstance(tool, dict) and (tool.get("type") in HOSTED_TOOLS or (
        tool.get("type") == "tool_search" and tool.get("execution") != "client"))


@dataclass
class Capture:
    client: str
    file: str
    label: str
    request: dict[str, Any]
    status: int | None
    reply: dict[str, Any] | None

    @property
    def stream(self) -> bool:
        return self.request.get("stream") is True

    def produced(self) -> set[str]:
        """The values of this capture's reply a later turn may hand back."""
        out: set[str] = set()
        if isinstance(self.reply, dict) and isinstance(self.reply.get("id"), str):
            out.add(self.reply["id"])
        for item in output_of(self.reply):
            out.update(v for k in HANDED_BACK_KEYS if isinstance(v := item.get(k), str))
        return out


@dataclass
class Client:
    name: str
    package: str
    version: str

    def __str__(self) -> str:
        return f"{self.package} {self.version}"


@dataclass
class Scenario:
    client: Client
    turns: list[Capture] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.client.name}/{self.turns[0].file.split('.')[0]}"

    @property
    def needs_store(self) -> bool:
        """Whether a turn leans on stored responses (previous_response_id, item_reference)."""
        return any(t.request.get("previous_response_id") or any(
            isinstance(it, dict) and it.get("type") == "item_reference" for it in inputs_of(t.request))
            for t in self.turns)

    def has(self, predicate: Any) -> bool:
        return any(predicate(t.request) for t in self.turns)


def output_of(resp: Any) -> list[dict[str, Any]]:
    out = resp.get("output") if isinstance(resp, dict) else None
    return [it for it in out if isinstance(it, dict)] if isinstance(out, list) else []


def inputs_of(body: dict[str, Any]) -> list[Any]:
    items = body.get("input")
    return items if isinstance(items, list) else []


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def load(root: Path) -> list[Scenario]:
    """Every client's captures under `root`, grouped into conversations, in file order."""
    manifest = json.loads((root / "clients.json").read_text()) if (root / "clients.json").exists() else {}
    scenarios: list[Scenario] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        info = manifest.get(folder.name, {})
        client = Client(folder.name, info.get("package", folder.name), info.get("version", "?"))
        open_: list[tuple[set[str], Scenario]] = []
        for path in sorted(folder.glob("*.json")):
            raw = json.loads(path.read_text())
            reply = final_of_capture(raw)
            cap = Capture(folder.name, path.name, str(raw.get("label") or path.stem), raw.get("request") or {},
                          raw.get("status"), reply)
            refs = set(_strings(cap.request))
            home = next((sc for produced, sc in reversed(open_) if produced & refs), None)
            if home is None:
                home = Scenario(client)
                open_.append((set(), home))
                scenarios.append(home)
            home.turns.append(cap)
            for produced, sc in open_:
                if sc is home:
                    produced.update(cap.produced())
    return scenarios


class IdMap:
    """Captured reply values -> the values the server under test returned in their place (None: none)."""

    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}
        self.calls: dict[str, dict[str, Any]] = {}  # live call_id -> the live function_call
        self.texts: dict[str, str] = {}

    def learn(self, captured: dict[str, Any] | None, live: dict[str, Any] | None) -> None:
        if isinstance(captured, dict) and isinstance(captured.get("id"), str):
            self.values[captured["id"]] = live.get("id") if isinstance(live, dict) else None
        mine = output_of(live)
        seen: dict[str, int] = {}
        for item in output_of(captured):
            kind = str(item.get("type"))
            n = seen.get(kind, 0)
            seen[kind] = n + 1
            twins = [it for it in mine if it.get("type") == kind]
            twin = twins[n] if n < len(twins) else {}
            for key in HANDED_BACK_KEYS:
                if isinstance(item.get(key), str):
                    value = twin.get(key)
                    self.values[item[key]] = value if isinstance(value, str) else None
            if kind == "function_call" and isinstance(twin.get("call_id"), str):
                self.calls[twin["call_id"]] = twin
            for key in ("content", "summary"):
                theirs = [p for p in item.get(key) or [] if isinstance(p, dict)]
                ours = [p for p in twin.get(key) or [] if isinstance(p, dict)]
                for a, b in zip(theirs, ours, strict=False):
                    if isinstance(a.get("text"), str) and isinstance(b.get("text"), str):
                        self.texts[a["text"]] = b["text"]

    def apply(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The body with live values in place of captured ones, and what cannot be replayed (why)."""
        body = copy.deepcopy(body)
        missing: list[str] = []
        prev = body.get("previous_response_id")
        if isinstance(prev, str) and prev in self.values:
            if self.values[prev] is None:
                missing.append(f"previous_response_id {prev} (the turn before produced no response)")
            body["previous_response_id"] = self.values[prev]
        if isinstance(body.get("input"), list):
            kept = []
            for i, item in enumerate(body["input"]):
                item = self._item(item, f"input[{i}]", missing)
                if item is not None:
                    kept.append(item)
            body["input"] = kept
        return body, missing

    def _item(self, item: Any, where: str, missing: list[str]) -> Any:
        if not isinstance(item, dict):
            return item
        kind = item.get("type", "message")
        id_mapped = False
        for key in HANDED_BACK_KEYS:
            value = item.get(key)
            if not isinstance(value, str) or value not in self.values:
                continue
            live = self.values[value]
            if live is not None:
                item[key] = live
                id_mapped = id_mapped or key == "id"
            elif key == "encrypted_content" and id_mapped:
                item.pop(key)  # the live item came without it: the client hands back what it got
            elif kind in ("function_call", "function_call_output") or key == "call_id":
                missing.append(f"{where} ({kind} {key} {value}): the server's turn before made no such call")
                return item
            else:
                return None  # the live turn had no such item: the client would not hand it back
        if kind == "function_call" and item.get("call_id") in self.calls:
            live_call = self.calls[item["call_id"]]
            if live_call.get("name") != item.get("name"):
                item["name"], item["arguments"] = live_call.get("name"), live_call.get("arguments")
        for key in ("content", "summary"):
            for part in item.get(key) if isinstance(item.get(key), list) else []:
                if isinstance(part, dict) and part.get("text") in self.texts:
                    part["text"] = self.texts[part["text"]]
        return item


def ablations(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The body without one part at a time, each named: to find what a server refuses."""
    core = {"model", "input", "stream", "max_output_tokens", "tools"}
    for key in sorted(set(body) - core):
        yield f"the top-level parameter `{key}`", {k: v for k, v in body.items() if k != key}
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    for kind in sorted({str(t.get("type")) for t in tools if isinstance(t, dict) and t.get("type") != "function"}):
        kept = [t for t in tools if not (isinstance(t, dict) and t.get("type") == kind)]
        yield f"the `{kind}` tool(s)", {**body, "tools": kept}
    items = inputs_of(body)
    for kind in ("item_reference", "reasoning"):
        of_kind = [i for i, it in enumerate(items) if isinstance(it, dict) and it.get("type") == kind]
        if len(of_kind) > 1:
            yield f"the {kind} items (input{of_kind})", \
                {**body, "input": [it for i, it in enumerate(items) if i not in of_kind]}
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") in ("item_reference", "reasoning"):
            yield f"input[{i}] (a {item['type']} item: {json.dumps(item)[:160]})", \
                {**body, "input": items[:i] + items[i + 1:]}


# -- one turn ------------------------------------------------------------------------------------


@dataclass
class Sent:
    body: dict[str, Any]
    status: int
    response: dict[str, Any] | None
    text: str  # the reply, shown in a failure
    error: dict[str, Any] | None = None  # the error object of a refusal, when there is one

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300 and isinstance(self.response, dict) \
            and self.response.get("status") != "failed"

    @property
    def too_long(self) -> bool:
        """Refused because the prompt exceeds the model's context: the model's size, not the request's shape."""
        err = self.error or {}
        return 400 <= self.status < 500 and (err.get("code") == "context_length_exceeded" or bool(
            CONTEXT_EXCEEDED.search(str(err.get("message", "")))))

    @property
    def clear_4xx(self) -> bool:
        return 400 <= self.status < 500 and isinstance(self.error, dict) \
            and isinstance(self.error.get("message"), str) and bool(self.error["message"])


def send(api: Any, body: dict[str, Any]) -> Sent:
    if body.get("stream") is True:
        reply = api.stream("responses", body)
        raw = reply.raw.decode("utf-8", "replace")
        final = final_response(reply) if 200 <= reply.status < 300 else None
        ending = show(raw[:600]) if final is None else f"stream ending {final.get('status')!r}"
        text = f"HTTP {reply.status} {ending}"
        return Sent(body, reply.status, final, text, _error_of(raw))
    reply = api.post("responses", body)
    raw = reply.body.decode("utf-8", "replace")
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    ok = 200 <= reply.status < 300 and isinstance(data, dict) and "output" in data
    what = "" if ok or not 200 <= reply.status < 300 else "(no response object) "
    return Sent(body, reply.status, data if ok else None, f"HTTP {reply.status} {what}{show(raw[:600])}",
                _error_of(raw))


def _error_of(raw: str) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data.get("error") if isinstance(data, dict) and isinstance(data.get("error"), dict) else None


def small(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The run's model, and an output budget no larger than the suite's."""
    limit = body.get("max_output_tokens")
    return {**body, "model": model, "max_output_tokens": min(limit, ANSWER) if isinstance(limit, int) else ANSWER}


# -- one conversation ----------------------------------------------------------------------------


@dataclass
class Turn:
    file: str
    sent: Sent


@dataclass
class Replay:
    scenario: Scenario
    turns: list[Turn] = field(default_factory=list)
    refused: str | None = None  # the failure text: which turn, what the server said, what it refused
    not_cooperating: str | None = None
    too_long: str | None = None  # the client's prompt does not fit the model's context: nothing to judge
    set_aside: list[str] = field(default_factory=list)  # allowed refusals the replay went on without
    exchanges: list[Exchange] = field(default_factory=list)


_REPLAYS = Once()  # fetched once even when several tests reading one scenario run together


def replay(api: Any, model: str, scenario: Scenario) -> Replay:
    """The scenario's turns, replayed once per test process; the exchanges re-recorded per reader."""
    def fetch() -> Replay:
        evidence = CURRENT.get()
        before = len(evidence.exchanges) if evidence is not None else 0
        done = _replay(api, model, scenario)
        if evidence is not None:
            done.exchanges = list(evidence.exchanges[before:])
        return done

    done, fetched = _REPLAYS.get((id(api), model, scenario.name), fetch)
    if not fetched:
        for ex in done.exchanges:
            record(ex)
    return done


def _replay(api: Any, model: str, scenario: Scenario) -> Replay:
    out = Replay(scenario)
    ids_ = IdMap()
    n = len(scenario.turns)
    for number, turn in enumerate(scenario.turns, 1):
        body, missing = ids_.apply(turn.request)
        if missing:
            out.not_cooperating = (f"turn {number} of {scenario.name} hands back what the server's turn before did "
                                   f"not produce: {'; '.join(missing)}")
            break
        sent = send(api, small(body, model))
        if not sent.accepted:
            sent = _without_allowed(api, sent, out)
        if sent.too_long:
            out.too_long = f"turn {number} of {scenario.name} exceeds the model's context: {sent.text[:300]}"
            break
        if not sent.accepted:
            out.refused = (f"{scenario.client}, {scenario.name}, turn {number} of {n} ({turn.file}) was refused\n"
                           f"Received: {sent.text}\nRefused: {_culprit(api, sent)}\n"
                           "Expected: HTTP 2xx with the response, as the OpenAI API answers this client")
            out.turns.append(Turn(turn.file, sent))
            break
        out.turns.append(Turn(turn.file, sent))
        ids_.learn(turn.reply, sent.response)
    return out


def _without_allowed(api: Any, sent: Sent, out: Replay) -> Sent:
    """The turn without `client_metadata` and refused built-in tools, when that is what was refused."""
    body = sent.body
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    plain = {k: v for k, v in body.items() if k != "client_metadata"}
    if any(is_hosted(t) for t in tools):
        plain["tools"] = [t for t in tools if not is_hosted(t)]
    if plain == body:
        return sent
    retry = send(api, plain)
    if not retry.accepted:
        return retry  # refused for something else too: name it on the turn without the allowed parts
    if "client_metadata" in body and not send(api, {**plain, "client_metadata": body["client_metadata"]}).accepted:
        out.set_aside.append("client_metadata (refused: CLIENT-PARAM-001)")
    if len(plain.get("tools", tools)) != len(tools):
        hosted = send(api, {**plain, "tools": tools})
        if not hosted.accepted:
            if not hosted.clear_4xx:
                return sent  # a built-in tool may be refused, but only with a clear 4xx
            out.set_aside.append(f"built-in tools {sorted({t['type'] for t in tools if is_hosted(t)})} "
                                 f"(refused with a clear 4xx: {hosted.text[:200]})")
    return retry


def _culprit(api: Any, sent: Sent) -> str:
    """What the server refused: the first part without which the turn is accepted."""
    said = ""
    if isinstance(sent.error, dict) and sent.error.get("param"):
        said = f" (the server's error names param {sent.error['param']!r})"
    for what, body in ablations(sent.body):
        probe = send(api, body)
        if probe.accepted or probe.too_long:  # too long for the model, but no longer refused for its shape
            return f"{what}: the same turn without it is accepted{said}"
    return f"no single part: the turn is refused without each of its optional parts too{said}"
