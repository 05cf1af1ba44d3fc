"""Findings: a run's failures grouped by root cause, so one server defect is counted once.

A failure message holds violations in the suite's one shape (`at:` / `Received:` / `Expected:`).
Each violation gets a key: the same violation at the same place of the same object is one finding,
whichever requirement's test saw it:

    at: plain$.output[0].status            key  $.output[*].status = null
    Received: null is not type: "string"        (the value that broke the rule, not the test's wording)

- a JSON path keeps what follows its `$` (the labels before it name the test's request, not the
  place), array indexes collapse to `[*]`, and a stream event's envelope (`$.response`, `$.item`,
  `$.part`) maps to where the same object sits in a response;
- a route (`GET /v1/responses/resp_1/input_items`) keeps its method and path with ids collapsed,
  and the HTTP status received;
- the received value keeps null, booleans and strings as they are and numbers and containers as
  their type (an integer `error.code` 400 and 404 are one defect); schema messages (`null is not
  type: ...`, `400 matches none of ...`) give the value they quote;
- anything else (a failure without `at:`, a place that is not a path) is its requirement's own.

Each finding has an owner: the requirement whose own check (not a generic schema validation) saw
it, then the one with the fewest findings, then the first in the report.  A requirement all of whose
findings are owned by others says so.  The gate and compare keep working per requirement.
"""

from __future__ import annotations

import json
import re
from typing import Any

from conformance.reports.model import LEVELS, NOT_PASSING

_INDEX = re.compile(r"\[\d+\]")
_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(/\S*)")
_ID_SEGMENT = re.compile(r"^(?=[^/]*\d)[A-Za-z0-9_-]{6,}$|^\d+$")  # resp_b4846e80..., a uuid, a number
_STATUS = re.compile(r"HTTP (\d{3})")
_SCHEMA_RULE = re.compile(r"\((?:rule )?[A-Za-z]+ at [^)]*\)")
_SCHEMA_MESSAGE = re.compile(r"^(.*?) (?:is not (?:type|enum|const)|matches none of|: )")
# where a stream event's payload sits in a response object
_ENVELOPES = (("$.response.", "$."), ("$.response", "$"), ("$.item.", "$.output[*]."),
              ("$.part.", "$.output[*].content[*]."))


def violations(message: str) -> list[tuple[str, str, str]]:
    """The (at, received, expected) triples of a failure message, in order."""
    out: list[tuple[str, str, str]] = []
    at: str | None = None
    received = ""
    for line in message.splitlines():
        text = line.strip()
        if text.startswith("at: "):
            if at is not None:
                out.append((at, received, ""))
            at, received = text[4:].strip(), ""
        elif at is not None and text.startswith("Received: "):
            received = text[10:].strip()
        elif at is not None and text.startswith("Expected: "):
            out.append((at, received, text[10:].strip()))
            at = None
    if at is not None:
        out.append((at, received, ""))
    return out


def place(at: str) -> str | None:
    """The normalized place of a violation, or None when it is not a JSON path or a route."""
    if "$" in at:
        prefix, _, rest = at.rpartition("$")
        path = _INDEX.sub("[*]", "$" + rest).rstrip(".")
        if "event" in prefix:
            for envelope, where in _ENVELOPES:
                if path.startswith(envelope):
                    path = where + path[len(envelope):]
                    break
        return path
    route = _ROUTE.match(at)
    if route:
        segments = ["{id}" if _ID_SEGMENT.match(s) else s for s in route.group(2).split("/")]
        return f"{route.group(1)} {'/'.join(segments)}"
    return None


def value(received: str) -> str:
    """The received value as a finding tells it apart: null/booleans/strings as they are, numbers and
    containers by type."""
    text = received.strip()
    if text in ("(absent)", "required property is absent", '"required property is absent"'):
        return "(absent)"
    status = _STATUS.match(text.strip('"'))
    if status:
        return f"HTTP {status.group(1)}"
    try:
        parsed, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return _digits(text)
    if end < len(text):  # a schema message quoting the value: `null is not type: "string"`
        return _kind(parsed)
    if isinstance(parsed, str) and _SCHEMA_MESSAGE.match(parsed):  # a quoted schema message (stream events)
        return value(parsed) if parsed != text else _kind(parsed)
    return _kind(parsed)


def _kind(v: Any) -> str:
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return json.dumps(v[:80])
    return "an array" if isinstance(v, list) else "an object"


def _digits(text: str) -> str:
    return re.sub(r"\d+", "N", text)[:100]


def is_schema_check(expected: str) -> bool:
    """A generic schema validation (its Expected names the schema rule), not a requirement's own check."""
    return bool(_SCHEMA_RULE.search(expected))


def _messages(entry: dict[str, Any], tests: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(nodeid, message) of the requirement's failing tests (the requirement's message when none is kept)."""
    mine = [(t.get("nodeid", ""), t.get("message") or "") for t in tests
            if t.get("requirement") == entry["id"] and t.get("outcome") in NOT_PASSING]
    return mine or [("", entry.get("message") or "")]


def group(requirements: list[dict[str, Any]], tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings of a report: failures of every failed/errored requirement grouped by root cause."""
    found: dict[str, dict[str, Any]] = {}
    per_req: dict[str, set[str]] = {}
    order = {e["id"]: i for i, e in enumerate(requirements)}
    for entry in requirements:
        if entry.get("outcome") not in NOT_PASSING:
            continue
        rid = entry["id"]
        for nodeid, message in _messages(entry, tests):
            triples = violations(message)
            if entry["outcome"] == "error" or not triples:
                triples = [("", "", "")]  # the requirement's own: no place to share
            for at, received, expected in triples:
                where = place(at) if at else None
                if where is None:
                    key = f"{rid} {_digits(at) if at else 'failure'}"
                    where = at or f"{rid} (whole test)"
                    shown = received if len(received) <= 100 else received[:97] + "..."
                else:
                    shown = value(received)
                    key = f"{where} = {shown}"
                f = found.setdefault(key, {"key": key, "at": where, "received": shown, "requirements": [],
                                           "tests": [], "checks": {}, "expected": {}})
                if rid not in f["requirements"]:
                    f["requirements"].append(rid)
                if nodeid and nodeid not in f["tests"]:
                    f["tests"].append(nodeid)
                own = bool(expected) and not is_schema_check(expected)
                f["checks"][rid] = f["checks"].get(rid, False) or own
                f["expected"].setdefault(rid, expected)
                per_req.setdefault(rid, set()).add(key)
    levels = {e["id"]: e.get("level") for e in requirements}
    out = []
    for f in found.values():
        owner = min(f["requirements"], key=lambda r: (not f["checks"][r], len(per_req[r]), order.get(r, 0)))
        f["requirements"].sort(key=lambda r: (r != owner, order.get(r, 0)))
        f["owner"] = owner
        f["expected"] = f["expected"][owner] or next((x for x in f["expected"].values() if x), "")
        f["level"] = min((levels.get(r) for r in f["requirements"]), key=lambda lv: LEVELS.index(lv)
                         if lv in LEVELS else len(LEVELS))
        del f["checks"]
        out.append(f)
    out.sort(key=lambda f: (LEVELS.index(f["level"]) if f["level"] in LEVELS else 9, order.get(f["owner"], 0)))
    for i, f in enumerate(out, 1):
        f["id"] = f"F{i}"
    return out


def attach(report: dict[str, Any]) -> dict[str, Any]:
    """Add `findings` to a report, each failing requirement's finding ids and note, and the summary line."""
    findings = group(report["requirements"], report.get("tests") or [])
    report["findings"] = findings
    by_key: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        for rid in f["requirements"]:
            by_key.setdefault(rid, []).append(f)
    for entry in report["requirements"]:
        mine = by_key.get(entry["id"], [])
        entry["findings"] = [f["id"] for f in mine]
        others = sorted({f["owner"] for f in mine if f["owner"] != entry["id"]}, key=lambda r: r)
        if mine and all(f["owner"] != entry["id"] for f in mine):
            ids = ", ".join(f["id"] for f in mine)
            entry["finding_note"] = (f"no finding of its own: fails only through {ids}, "
                                     f"found by {', '.join(others)}")
        else:
            entry.pop("finding_note", None)
    report["summary"]["findings"] = summary(findings, report["requirements"])
    lines = [ln for ln in report["summary"].get("lines", []) if "finding" not in ln]
    report["summary"]["lines"] = [*lines, report["summary"]["findings"]["line"]] if findings else lines
    return report


def summary(findings: list[dict[str, Any]], requirements: list[dict[str, Any]]) -> dict[str, Any]:
    failing = [e for e in requirements if e.get("outcome") in NOT_PASSING]
    levels = {}
    for lv in LEVELS:
        n = sum(1 for f in findings if f["level"] == lv)
        m = sum(1 for e in failing if e.get("level") == lv)
        if n or m:
            levels[lv] = {"findings": n, "requirements": m}
    line = f"{_n(len(findings), 'finding')} across {_n(len(failing), 'requirement')}"
    if len(levels) > 1:
        line += " (" + ", ".join(f"{lv} {c['findings']} across {c['requirements']}" for lv, c in levels.items()) + ")"
    return {"findings": len(findings), "requirements": len(failing), "levels": levels, "line": line}


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"
