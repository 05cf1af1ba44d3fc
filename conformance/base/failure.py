"""The suite's one failure shape (at / Received / Expected), shared by every layer that judges or reads the wire."""

from __future__ import annotations

import json
from typing import Any


class ConformanceFailure(AssertionError):
    """The server broke a requirement.  Its text is the whole story; no traceback is shown."""


class ModelDidNotCooperate(Exception):
    """The model did not do what the test needs (no tool call, no reasoning): a skip, not a failure."""


def show(value: Any, limit: int = 400) -> str:
    if isinstance(value, str | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        text = json.dumps(text, ensure_ascii=False)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 20] + f"... ({len(text)} chars)"


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()


def describe(at: str, received: Any, expected: str) -> str:
    got = "(absent)" if received is MISSING else show(received)
    return f"at: {at}\nReceived: {got}\nExpected: {expected}"
