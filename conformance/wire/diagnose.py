"""What an exception a misbehaving server provoked means, in the suite's failure shape (at / Received /
Expected); None for an exception of the suite's own making, which stays visible as a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from conformance.base.printable import printable
from conformance.wire.guard import BodyTooLarge, BodyTooSlow, ServerGone


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def server_caused(exc: BaseException) -> str | None:
    """The failure text (at / Received / Expected) for an exception a misbehaving server caused, or None."""
    for link in chain(exc):
        if isinstance(link, ServerGone | BodyTooLarge | BodyTooSlow):
            return f"at: {_request_of(link)}\nReceived: {link}\nExpected: a complete answer"
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        openai = None  # type: ignore[assignment]
    name = exc.__class__.__name__
    if openai is not None and isinstance(exc, openai.APIStatusError):
        body = exc.response.text if exc.response is not None else ""
        return (f"at: openai SDK call {_request_of(exc)}\nReceived: HTTP {exc.status_code} "
                f"{_short(body)}\nExpected: a successful reply ({name})")
    if openai is not None and isinstance(exc, openai.APITimeoutError):
        return (f"at: openai SDK call {_request_of(exc)}\nReceived: no complete answer within the request timeout\n"
                f"Expected: an answer ({name})")
    if openai is not None and isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        why = f"{cause.__class__.__name__}: {cause}" if cause else str(exc)
        return (f"at: openai SDK call {_request_of(exc)}\nReceived: the call failed: {why}\n"
                f"Expected: a complete HTTP answer ({name})")
    if openai is not None and isinstance(exc, openai.APIResponseValidationError):
        return (f"at: openai SDK call {_request_of(exc)}\nReceived: a reply the SDK rejects: {_short(str(exc))}\n"
                "Expected: a reply matching the SDK's types")
    if _is_pydantic_error(exc):
        return (f"at: parsing the server's reply with the openai SDK types\nReceived: {_short(str(exc))}\n"
                "Expected: a reply matching the SDK's types")
    if isinstance(exc, RecursionError) and _in_json_parser(exc):
        return ("at: a JSON document from the server\nReceived: JSON nested too deep for Python's parser\n"
                "Expected: a response object (nested a few levels)")
    if isinstance(exc, httpx.InvalidURL):
        return (f"at: building a request URL\nReceived: {_short(printable(str(exc)))}\nExpected: ids and values "
                "the server returned that a URL path can carry (no control characters)")
    if isinstance(exc, json.JSONDecodeError):
        return (f"at: a JSON document from the server (line {exc.lineno}, column {exc.colno})\n"
                f"Received: {_short(exc.doc[max(0, exc.pos - 200):exc.pos + 200])}\nExpected: valid JSON ({exc.msg})")
    if isinstance(exc, UnicodeDecodeError):
        return (f"at: bytes from the server (position {exc.start})\nReceived: {_short(repr(exc.object[:200]))}\n"
                f"Expected: valid UTF-8 ({exc.reason})")
    if isinstance(exc, httpx.TimeoutException):
        return f"at: {_request_of(exc)}\nReceived: no answer within the timeout ({name})\nExpected: an answer"
    if isinstance(exc, httpx.HTTPError):
        return f"at: {_request_of(exc)}\nReceived: {name}: {exc}\nExpected: a complete HTTP answer"
    return None


def _in_json_parser(exc: BaseException) -> bool:
    """A RecursionError raised while parsing JSON (the server's nesting), not by the suite's own code."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith("json/decoder.py"):
            return True
        tb = tb.tb_next
    return False


def _request_of(exc: BaseException) -> str:
    try:
        request = exc.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return "an HTTP call"
    return f"{request.method} {request.url}" if request is not None else "an HTTP call"


def _short(text: str, limit: int = 800) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _is_pydantic_error(exc: BaseException) -> bool:
    try:
        import pydantic
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, pydantic.ValidationError)
