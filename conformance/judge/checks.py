"""Assertions that fail with the suite's one failure shape.

    at: $.output[1].status
    Received: "done"
    Expected: one of "in_progress", "completed", "incomplete"

The plugin puts the requirement header (`[RESP-OBJECT-003] MUST: <statement>`, spec reference)
above it and the evidence (request, response, curl reproducer) below it, so a check only says
where, what the server did, and what the spec asks.  Several violations can be collected and
raised together (`Collector`), so one run shows every broken field, not the first one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import pytest

from conformance.base.failure import MISSING, ConformanceFailure, ModelDidNotCooperate, describe, show
from conformance.judge.schema import Schemas, Violation

# the failure shape is defined below the wire layer (which raises it too); tests import it from here
__all__ = [
    "MISSING",
    "NOT_APPLICABLE",
    "SERVER_AT_FAULT",
    "Collector",
    "ConformanceFailure",
    "ModelDidNotCooperate",
    "check",
    "check_schema",
    "check_union",
    "describe",
    "fail",
    "get",
    "nothing_to_judge",
    "show",
]


# the reason prefix of a test that had nothing to judge (the server sent nothing the requirement is
# about): reported as "not applicable", never as passed, and never blamed on the model
NOT_APPLICABLE = "not applicable: "


# the reason prefix of a skip the server caused (the evidence names the requirement that judges it):
# never blamed on the model
SERVER_AT_FAULT = "not judged, the server is at fault: "


def nothing_to_judge(why: str) -> NoReturn:
    """End a test that found nothing its requirement is about (no output_text, no stream indexes...)."""
    pytest.skip(NOT_APPLICABLE + why)


# set on a skip decided before any request was sent (a client library not installed): the server had no
# part in it, so running the test again alone (`--concurrency`) could not change it
BEFORE_ANY_REQUEST = "rc_before_any_request"


def skip_before_any_request(reason: str) -> NoReturn:
    exc = pytest.skip.Exception(reason)
    setattr(exc, BEFORE_ANY_REQUEST, True)
    raise exc


def fail(at: str, received: Any, expected: str, note: str = "") -> NoReturn:
    text = describe(at, received, expected)
    raise ConformanceFailure(text + (f"\nNote: {note}" if note else ""))


def check(ok: bool, at: str, received: Any, expected: str, note: str = "") -> None:
    if not ok:
        fail(at, received, expected, note)


def get(obj: Any, path: str) -> Any:
    """Value at a simple JSON path (`$.a.b[0].c`), or MISSING."""
    cur = obj
    for token in _tokens(path):
        if isinstance(token, int):
            if not isinstance(cur, list) or token >= len(cur):
                return MISSING
            cur = cur[token]
        else:
            if not isinstance(cur, dict) or token not in cur:
                return MISSING
            cur = cur[token]
    return cur


def _tokens(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.lstrip("$").replace("[", ".[").split("."):
        if not part:
            continue
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return out


@dataclass
class Collector:
    """Collect violations, then raise them as one failure."""

    problems: list[str] = field(default_factory=list)

    def check(self, ok: bool, at: str, received: Any, expected: str) -> bool:
        if not ok:
            self.problems.append(describe(at, received, expected))
        return ok

    def add(self, text: str) -> None:
        self.problems.append(text)

    def extend_violations(self, violations: Iterable[Violation], what: str) -> None:
        for v in violations:
            self.problems.append(f"at: {v.path}\nReceived: {v.message}\nExpected: {what} ({v.rule})")

    def raise_if_any(self, header: str = "") -> None:
        if not self.problems:
            return
        n = len(self.problems)
        body = "\n\n".join(self.problems[:25])
        more = f"\n\n... and {n - 25} more" if n > 25 else ""
        lead = f"{header}\n" if header else ""
        raise ConformanceFailure(f"{lead}{n} violation{'s' if n != 1 else ''}:\n\n{body}{more}")


def check_schema(definition: str, instance: Any, root: str = "$", what: str = "") -> None:
    """Fail with every violation of the spec schema `definition` (e.g. "Response")."""
    violations = Schemas.load().check(definition, instance, root)
    _raise_violations(violations, what or f"valid {definition} per the OpenAPI schema")


def check_union(union: str, instance: Any, root: str = "$", what: str = "") -> None:
    """Fail unless `instance` is a valid variant of `union` (output_item, stream_event, item)."""
    violations = Schemas.load().check_union(union, instance, root)
    _raise_violations(violations, what or f"valid {union} per the OpenAPI schema")


def _raise_violations(violations: list[Violation], what: str) -> None:
    if violations:
        c = Collector()
        c.extend_violations(violations, what)
        c.raise_if_any()
