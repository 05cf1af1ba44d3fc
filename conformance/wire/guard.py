"""Guards that keep a broken server from hanging, crashing or leaking a run.

**Fail fast.**  Every HTTP call the suite makes (raw `ApiClient` and the `openai` SDK client) goes
through a `GuardedTransport`, which keeps one `Liveness` record per test process:

- a refused connection (the server answered before: preflight) means the server died: from then
  on every request fails at once with "server stopped responding at <test>: <cause>" — unless
  the port accepts connections again (a restarted server), which costs one instant TCP connect;
- a request that gets no answer at all (no status line within the read timeout, or the connection
  dropped before one) counts; after `threshold` of them in a row, one trivial request probes the
  server: if that gets no answer either, the server is declared hung and the rest fail at once.
  A server that hangs only on some requests (the probe answers) keeps being tested normally;
- a stream that stalls mid-way (headers and some events, then silence) costs its test the read
  timeout; after `threshold` streams in a row stalled, later streams get a shorter silence
  allowance (`stall_timeout`) until one completes, so a server that stalls every stream costs
  minutes, not one full timeout per streaming test.  A correct server never gets there.

With pytest-xdist each worker keeps its own record; a refused connection is detected instantly.
The transport also caps how much of one body it lets through (`BodyTooLarge`), so a 50 MB
reply cannot exhaust memory in the SDK either.

What a misbehaving server's exception means is `wire.diagnose`'s job; secrets and option checks
are the plugin's (`plugin.hygiene`, `plugin.options`).
"""

from __future__ import annotations

import contextvars
import functools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@functools.cache
def tls_context() -> Any:
    """One TLS context per process for every client: httpx builds one per client otherwise, each time
    loading certifi's CA bundle (~50 ms of CPU, several per run, one run per planted defect)."""
    make = getattr(httpx, "create_ssl_context", None)  # httpx >= 0.28; before: httpx's default
    return make() if make is not None else True


# the nodeid of the running test, set by the plugin (copied into worker threads by `load`)
CURRENT_TEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("rc_current_test", default=None)


class ServerGone(httpx.TransportError):
    """The server was found dead earlier in this run; the request was not sent."""


class BodyTooLarge(httpx.TransportError):
    """A reply was larger than the suite lets through."""


class BodyTooSlow(httpx.TransportError):
    """A reply was still arriving when its request's deadline passed."""


@dataclass
class Liveness:
    threshold: int = 3
    stall_timeout: float = 5.0
    base_url: str | None = None  # the API base (ends in /v1), for the probe
    model: str | None = None
    api_key: str | None = None
    dead: str | None = None  # the stated cause, once the server is found dead
    dead_by_refusal: bool = False
    unanswered: int = 0  # requests in a row that got no answer
    stalled: int = 0  # streams in a row that stalled mid-way
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, base_url: str, model: str | None, api_key: str | None) -> None:
        self.base_url, self.model, self.api_key = base_url.rstrip("/"), model, api_key

    def reset(self) -> None:
        with self._lock:
            self.dead, self.dead_by_refusal, self.unanswered, self.stalled = None, False, 0, 0

    @property
    def stalling(self) -> bool:
        return self.stalled >= self.threshold

    # -- events from the transport --------------------------------------------------------------

    def before(self, request: httpx.Request) -> None:
        """Refuse to send when the server is known dead (a refused port is re-checked: it is instant)."""
        if self.dead is None:
            return
        if self.dead_by_refusal and _port_open(request.url):
            with self._lock:
                self.dead, self.dead_by_refusal, self.unanswered = None, False, 0
            return
        raise ServerGone(self.dead, request=request)

    def answered(self) -> None:
        with self._lock:
            self.unanswered = 0

    def refused(self, request: httpx.Request, exc: Exception) -> None:
        if _port_open(request.url):
            return  # a transient failure: the port accepts connections
        with self._lock:
            if self.dead is None:
                self.dead = (f"server stopped responding at {_where()}: connection refused ({exc}); it answered "
                             "earlier in the run, so it has probably crashed or been stopped")
                self.dead_by_refusal = True

    def no_answer(self, request: httpx.Request, exc: Exception) -> None:
        with self._lock:
            self.unanswered += 1
            if self.unanswered < self.threshold or self.dead is not None:
                return
        probe = self._probe(request)
        with self._lock:
            if probe is None:
                self.unanswered = 0  # the server answers simple requests: it hangs only on some
                return
            if self.dead is None:
                self.dead = (f"server stopped responding at {_where()}: {self.threshold} requests in a row got "
                             f"no answer (last: {_describe(exc)}), and a trivial request did not get one "
                             f"either ({probe})")

    def stream_stalled(self) -> None:
        with self._lock:
            self.stalled += 1

    def stream_completed(self) -> None:
        with self._lock:
            self.stalled = 0

    # -- the probe ------------------------------------------------------------------------------

    def _probe(self, request: httpx.Request) -> str | None:
        """None when a trivial create gets an answer (any status); else why not."""
        timeout = _read_timeout(request) or 10.0
        if self.base_url and self.model:
            url = self.base_url + "/responses"
            body: Any = {"model": self.model, "input": "Say OK.", "max_output_tokens": 16}
        else:
            url, body = str(request.url), None
        headers = {"Content-Type": "application/json"}
        auth = request.headers.get("authorization")
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        elif auth:
            headers["Authorization"] = auth
        try:
            timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0))
            with httpx.Client(timeout=timeouts, verify=tls_context()) as client:
                if body is None:
                    client.get(url, headers=headers)
                else:
                    client.post(url, content=json.dumps(body), headers=headers)
        except httpx.HTTPError as exc:
            return f"probe {'POST /responses' if body is not None else 'GET'}: {_describe(exc)}"
        return None


LIVENESS = Liveness()


def _where() -> str:
    return CURRENT_TEST.get() or "(outside a test)"


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.ReadTimeout | httpx.ConnectTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return f"no answer within the timeout ({exc.__class__.__name__})"
    return f"{exc.__class__.__name__}: {exc}"


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("read")


def _port_open(url: httpx.URL) -> bool:
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _is_stream_request(request: httpx.Request) -> bool:
    if "text/event-stream" in request.headers.get("accept", ""):
        return True
    try:
        body = request.content
    except httpx.RequestNotRead:
        return False
    return b'"stream": true' in body or b'"stream":true' in body


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that reports to `Liveness` and caps body size."""

    def __init__(self, inner: httpx.BaseTransport | None = None, liveness: Liveness | None = None,
                 max_body: int | None = None, deadline: float | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport(verify=tls_context())
        self.liveness = liveness or LIVENESS
        self.max_body = max_body
        self.deadline = deadline  # seconds for a whole answer, body included (None: per-read timeouts only)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        live = self.liveness
        live.before(request)
        streaming = _is_stream_request(request)
        if streaming and live.stalling:
            timeout = dict(request.extensions.get("timeout") or {})
            if timeout.get("read") is None or timeout["read"] > live.stall_timeout:
                timeout["read"] = live.stall_timeout
                request.extensions["timeout"] = timeout
                request.extensions["rc_shortened"] = True
        try:
            response = self.inner.handle_request(request)
        except httpx.ConnectError as exc:
            live.refused(request, exc)
            raise
        except (httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
            live.no_answer(request, exc)
            raise
        live.answered()
        ends = time.monotonic() + self.deadline if self.deadline else None
        response.stream = _WatchedStream(response.stream, live, request, streaming, self.max_body, ends)
        return response

    def close(self) -> None:
        self.inner.close()


class _WatchedStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, liveness: Liveness, request: httpx.Request, streaming: bool,
                 max_body: int | None, ends: float | None = None) -> None:
        self.inner, self.liveness, self.request = inner, liveness, request
        self.streaming, self.max_body, self.ends = streaming, max_body, ends

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        try:
            for chunk in self.inner:
                size += len(chunk)
                if self.max_body is not None and size > self.max_body:
                    raise BodyTooLarge(f"the reply is larger than {self.max_body} bytes; the suite stopped reading it",
                                       request=self.request)
                if self.ends is not None and time.monotonic() > self.ends:  # bytes trickling in forever
                    raise BodyTooSlow("the reply was still arriving at the deadline per request "
                                      "(--request-timeout)", request=self.request)
                yield chunk
        except httpx.ReadTimeout as exc:
            if size == 0:  # a status line, then nothing at all: as good as no answer
                self.liveness.no_answer(self.request, exc)
            elif self.streaming:
                self.liveness.stream_stalled()
            raise
        if self.streaming:
            self.liveness.stream_completed()

    def close(self) -> None:
        self.inner.close()


# -- exceptions the server caused ---------------------------------------------------------------
