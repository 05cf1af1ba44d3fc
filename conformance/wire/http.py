"""The HTTP layer: every request and response is kept as evidence, secrets redacted.

`ApiClient` talks to the server under test with bounded time (connect, per-read and one total
deadline per request covering connect, headers and body, kept by `wire.guard`) and bounded memory
(bodies are capped after decoding the `Content-Encoding` the suite advertises; JSON depth is
limited).  Whatever the server sends back — non-JSON, HTML, a stalled or malformed stream, a
dropped connection — becomes a `ConformanceFailure` with a readable message and the evidence,
never a traceback from here.

Evidence goes to the `Evidence` of the running test (a context variable the plugin sets), so the
report can show the request, the response and a `curl` reproducer for every failure.
"""

from __future__ import annotations

import contextvars
import json
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.base.failure import ConformanceFailure, show
from conformance.base.redact import REDACTOR
from conformance.base.safejson import TooDeep, loads
from conformance.wire import record as recording
from conformance.wire.guard import (
    ACCEPT_ENCODING,
    LIVENESS,
    BodyTooLarge,
    BodyTooSlow,
    GuardedTransport,
    ServerGone,
    deadline_transport,
    received_headers,
)
from conformance.wire.sse import SSEEvent, SSEParser

MAX_BODY = 4 * 1024 * 1024  # bytes read from one response before the rest is dropped
KEEP_BODY = 16 * 1024  # bytes of a body kept in evidence


@dataclass
class Exchange:
    """One request and what came back."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    error: str | None = None
    elapsed_ms: float = 0.0
    events: int | None = None  # number of SSE events, for streams

    def curl(self) -> str:
        parts = ["curl", "-sS"]
        if self.events is not None:
            parts.append("-N")
        parts += ["-X", self.method]
        auth = False
        for k, v in self.request_headers.items():
            if k.lower() in ("content-type", "accept"):
                parts += ["-H", f"{k}: {v}"]
            auth = auth or k.lower() == "authorization"
        if self.request_body is not None:
            parts += ["-d", self.request_body]
        parts.append(self.url)
        line = " ".join(shlex.quote(p) for p in parts)
        # the key is read from the environment when the command runs; it is never in the report
        return line.replace("curl -sS", 'curl -sS -H "Authorization: Bearer $OPENAI_API_KEY"', 1) if auth else line

    def as_dict(self) -> dict[str, Any]:
        return {
            "request": {"method": self.method, "url": self.url, "headers": self.request_headers,
                        "body": self.request_body},
            "response": {"status": self.status, "headers": self.response_headers,
                         "body": self.response_body, "events": self.events},
            "error": self.error,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "curl": self.curl(),
        }


class Evidence:
    """Exchanges recorded while one test runs."""

    def __init__(self, test: str | None = None) -> None:
        self.exchanges: list[Exchange] = []
        self.test = test  # the nodeid, for messages such as "server stopped responding at <test>"

    def add(self, ex: Exchange) -> Exchange:
        self.exchanges.append(ex)
        return ex


CURRENT: contextvars.ContextVar[Evidence | None] = contextvars.ContextVar("evidence", default=None)


def record(ex: Exchange) -> Exchange:
    ev = CURRENT.get()
    if ev is not None:
        ev.add(ex)
    return ex


def _trim(body: bytes | str | None) -> str | None:
    if body is None:
        return None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if len(text) > KEEP_BODY:
        text = text[:KEEP_BODY] + f"\n... [{len(text) - KEEP_BODY} more characters not kept]"
    return REDACTOR.text(text)


@dataclass
class Reply:
    """A complete (non-streamed) response."""

    status: int
    headers: httpx.Headers
    body: bytes
    exchange: Exchange
    truncated: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self, what: str = "the response body") -> Any:
        """The parsed body; a clear failure when it is not JSON."""
        if self.truncated:
            raise ConformanceFailure(f"{what} is larger than {MAX_BODY} bytes; the suite stopped reading it")
        try:
            return loads(self.body)
        except TooDeep as exc:
            raise ConformanceFailure(f"{what} cannot be judged: {exc}\nReceived: {REDACTOR.text(show(self.body[:300]))}"
                                     "\nExpected: a response object") from None
        except (ValueError, UnicodeDecodeError) as exc:
            # still encoded: a Content-Encoding the suite did not ask for (it decodes what it advertises)
            coding = self.headers.get("content-encoding")
            coding = f", Content-Encoding: {coding} (the suite asked for {ACCEPT_ENCODING})" if coding else ""
            raise ConformanceFailure(
                f"{what} is not JSON ({exc.__class__.__name__}: {exc})\n"
                f"HTTP {self.status}, Content-Type: {self.content_type or '(none)'}{coding}\n"
                f"Received: {REDACTOR.text(show(self.body[:600]))}\nExpected: a JSON document") from None

    def json_object(self, what: str = "the response body") -> dict[str, Any]:
        data = self.json(what)
        if not isinstance(data, dict):
            raise ConformanceFailure(f"{what} is JSON but not an object\nReceived: {show(data)}\n"
                                     "Expected: a JSON object")
        return data


@dataclass
class StreamReply:
    """A streamed response read from the raw SSE bytes."""

    status: int
    headers: httpx.Headers
    events: list[SSEEvent]
    exchange: Exchange
    raw: bytes = b""
    error: str | None = None  # stalled / dropped / too large; None when the server closed cleanly
    invalid_utf8: bool = False
    partial_event_at_end: bool = False
    elapsed_ms: float = 0.0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def payloads(self) -> list[tuple[SSEEvent, Any]]:
        """Each event with its data parsed as JSON (or the `ParseError` text when it is not JSON)."""
        out = []
        for ev in self.events:
            try:
                out.append((ev, loads(ev.data)))
            except ValueError as exc:
                out.append((ev, ParseError(str(exc), ev.data)))
        return out


@dataclass
class ParseError:
    message: str
    data: str


class ApiClient:
    """Raw HTTP access to the server under test, with evidence and deadlines."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0,
                 connect_timeout: float = 10.0, read_timeout: float | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.read_timeout = read_timeout or timeout
        REDACTOR.add(api_key)
        # what the suite advertises it decodes (wire.guard); httpx's default adds br/zstd when installed
        headers = {"Accept-Encoding": ACCEPT_ENCODING}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.read_timeout, connect=connect_timeout),
            follow_redirects=False,
            transport=GuardedTransport(inner=recording.wrap(deadline_transport())),  # --record / --replay: wire.record
        )

    def close(self) -> None:
        self._client.close()

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def _build(self, method: str, path: str, **kw: Any) -> httpx.Request:
        """The request; a path httpx refuses (control characters in an id the server returned) is a failure."""
        try:
            return self._client.build_request(method, self.url(path), **kw)
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            raise ConformanceFailure(
                f"{method} {show(self.url(path))}: no request can be made to this path ({exc}); a value the "
                "server returned (an id?) has characters a URL cannot carry\nExpected: ids usable in the "
                "API's URL paths") from None

    def _exchange(self, request: httpx.Request, body: str | None) -> Exchange:
        return Exchange(method=request.method, url=str(request.url),
                        request_headers=REDACTOR.headers(request.headers.multi_items()),
                        request_body=_trim(body))

    def request(self, method: str, path: str, *, json_body: Any = None, content: bytes | str | None = None,
                headers: dict[str, str] | None = None, timeout: float | None = None) -> Reply:
        """One request, read whole (up to MAX_BODY) within `timeout` seconds in total."""
        if json_body is not None:
            content = json.dumps(json_body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        request = self._build(method, path, content=content, headers=headers)
        request.extensions["rc_deadline"] = timeout or self.timeout
        body_text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        ex = record(self._exchange(request, body_text))
        deadline = time.monotonic() + (timeout or self.timeout)
        started = time.monotonic()
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            ex.error = _transport_error(exc, self.read_timeout)
            ex.elapsed_ms = (time.monotonic() - started) * 1000
            raise ConformanceFailure(f"{method} {request.url}: {ex.error}") from None
        try:
            chunks, size, truncated = [], 0, False
            for chunk in response.iter_raw():  # decoded by the transport, in bounded chunks
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BODY:
                    truncated = True
                    break
                if time.monotonic() > deadline:
                    raise ConformanceFailure(
                        f"{method} {request.url}: the body was still arriving after "
                        f"{timeout or self.timeout:.0f} s (deadline per request)")
            body = b"".join(chunks)
        except httpx.HTTPError as exc:
            ex.error = _transport_error(exc, self.read_timeout)
            raise ConformanceFailure(f"{method} {request.url}: {ex.error} while reading the body") from None
        finally:
            response.close()
            ex.elapsed_ms = (time.monotonic() - started) * 1000
        ex.status = response.status_code
        ex.response_headers = REDACTOR.headers(received_headers(response))
        ex.response_body = _trim(body)
        return Reply(response.status_code, response.headers, body, ex, truncated)

    def post(self, path: str, body: Any, **kw: Any) -> Reply:
        return self.request("POST", path, json_body=body, **kw)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def stream(self, path: str, body: Any, *, timeout: float | None = None,
               read_timeout: float | None = None, max_events: int = 20000) -> StreamReply:
        """POST and read the SSE stream from raw bytes.

        Stops when the server closes the stream, when no byte arrives for `read_timeout` seconds
        (stalled), when the total deadline passes, or after `max_events`; each is recorded in
        `StreamReply.error` for the test to judge, not raised.
        """
        content = json.dumps(body)
        request = self._build(
            "POST", path, content=content,
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
            timeout=httpx.Timeout(read_timeout or self.read_timeout, connect=self._client.timeout.connect),
        )
        request.extensions["rc_deadline"] = timeout or self.timeout
        ex = record(self._exchange(request, content))
        started = time.monotonic()
        deadline = started + (timeout or self.timeout)
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            ex.error = _transport_error(exc, read_timeout or self.read_timeout)
            ex.elapsed_ms = (time.monotonic() - started) * 1000
            raise ConformanceFailure(f"POST {request.url} (stream): {ex.error}") from None
        parser = SSEParser()
        events: list[SSEEvent] = []
        raw = bytearray()
        error = None
        try:
            if not response.status_code < 300:
                for chunk in response.iter_raw():
                    raw += chunk[: MAX_BODY - len(raw)]
                    if len(raw) >= MAX_BODY:
                        error = f"the error body is larger than {MAX_BODY} bytes; the suite stopped reading it"
                        break
            else:
                unended = 0  # bytes since the last complete event: the parser holds them
                for chunk in response.iter_raw():
                    if len(raw) < MAX_BODY:
                        raw += chunk[: MAX_BODY - len(raw)]
                    new = list(parser.feed(chunk))
                    events.extend(new)
                    unended = 0 if new else unended + len(chunk)
                    if unended > MAX_BODY:  # one event that never ends (or a body that is not SSE)
                        error = f"no event ended within {MAX_BODY} bytes; the suite stopped reading"
                        break
                    if len(events) >= max_events:
                        error = f"stream exceeded {max_events} events; the suite stopped reading"
                        break
                    if parser.bytes_seen > MAX_BODY * 8:
                        error = f"stream exceeded {MAX_BODY * 8} bytes; the suite stopped reading"
                        break
                    if time.monotonic() > deadline:
                        error = (f"stream still open after {timeout or self.timeout:.0f} s "
                                 f"(total deadline) with {len(events)} events")
                        break
                else:
                    events.extend(parser.close())
        except BodyTooSlow:
            secs = request.extensions.get("rc_deadline_s") or timeout or self.timeout
            note = (", shortened: earlier streams stalled or trickled too" if request.extensions.get("rc_shortened")
                    else "")
            error = f"stream still open after {secs:g} s (total deadline{note}) with {len(events)} events"
        except httpx.ReadTimeout:
            waited = (request.extensions.get("timeout") or {}).get("read") or read_timeout or self.read_timeout
            note = (" (shortened: earlier streams stalled too)" if request.extensions.get("rc_shortened") else "")
            error = f"stream stalled after {len(events)} events: no byte for {waited:g} s{note}"
        except httpx.HTTPError as exc:
            error = f"stream broke after {len(events)} events: {_transport_error(exc, self.read_timeout)}"
        finally:
            response.close()
        elapsed = (time.monotonic() - started) * 1000
        ex.status = response.status_code
        ex.response_headers = REDACTOR.headers(received_headers(response))
        ex.response_body = _trim(bytes(raw))
        ex.events = len(events)
        ex.error = error
        ex.elapsed_ms = elapsed
        return StreamReply(response.status_code, response.headers, events, ex, bytes(raw), error,
                           parser.invalid_utf8, parser.has_partial_event, elapsed)


def _transport_error(exc: httpx.HTTPError, read_timeout: float) -> str:
    if isinstance(exc, ServerGone | BodyTooLarge | BodyTooSlow):
        return str(exc)
    if isinstance(exc, httpx.ConnectError) and LIVENESS.dead:  # this very failure showed the server died
        return LIVENESS.dead
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed ({exc}); is the server running and the URL right?"
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no response byte for {read_timeout:.0f} s (read timeout)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the HTTP protocol or dropped the connection ({exc})"
    return f"{exc.__class__.__name__}: {exc}"
