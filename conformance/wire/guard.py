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
- a stream that stalls mid-way (headers and some events, then silence) or trickles costs its test
  the read timeout or the deadline; after `threshold` streams in a row stalled or trickled, later
  streams get a shorter allowance (`stall_timeout`, for silence and for the whole stream) until one
  completes, so a server that stalls every stream costs
  minutes, not one full timeout per streaming test.  A correct server never gets there.

- a request whose answer does not complete within its deadline (a server trickling headers or a
  body a byte every few seconds) counts as incomplete; after `threshold` in a row the same trivial
  probe decides: a server that trickles the probe too is declared too slow, the rest fail at once;
- a server that answered and then fails every request (5xx or no answer, across several tests)
  gets a note naming the request at the change, the likely cause (a request that broke it), and,
  with requests in flight together (`--concurrency`, fuzz batches), every request that was still in
  flight when the first failure came back: the one that broke the server may be any of them.

**One transport policy.**  Every request (raw `ApiClient`, SDK, preflight, the probe itself) has
one total deadline covering connect, TLS, headers and body: the transport's network streams cut
each read short at the deadline, so bytes trickling in cannot extend it.  The
`Content-Encoding`s the suite advertises (`ACCEPT_ENCODING`) are decoded here, incrementally and in
bounded chunks, so every size cap (`max_body` here, `MAX_BODY` in `ApiClient`) counts decoded bytes
and a gzip bomb cannot grow memory; the received headers are kept as sent (`received_headers`).

With pytest-xdist each worker keeps its own record; a refused connection is detected instantly.

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
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from conformance.base.redact import REDACTOR


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
    """A reply (headers or body) was still arriving when its request's deadline passed."""


# the encodings the suite advertises, and so decodes (brotli and zstd would need optional packages)
ACCEPT_ENCODING = "gzip, deflate"
DECODED = {"gzip", "x-gzip", "deflate", "identity"}
DECODE_CHUNK = 64 * 1024  # bytes of decoded output per step: a bomb is cut before it grows memory


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
    incomplete: int = 0  # answers in a row that did not complete within their deadline (trickling)
    broke_after: int = 5  # failed requests in a row, over 3+ tests, after which a change is named
    last_good: str | None = None  # the last request answered (status < 500), described
    failing: int = 0  # requests in a row since then that failed (5xx, no answer)
    first_failing: str | None = None
    failing_tests: set[str] = field(default_factory=set)
    changed: str | None = None  # the note naming the request at the change, once it is clear
    # requests sent and not yet answered (or failed): (test, request, order sent) by id(request)
    in_flight: dict[int, tuple[str, httpx.Request, int]] = field(default_factory=dict, repr=False)
    sent: int = 0  # requests begun so far (their order)
    failing_from: int = 0  # requests begun before the first failure came back (sent <= this)
    # (test, request) still in flight when the first failing one failed
    alongside: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, base_url: str, model: str | None, api_key: str | None) -> None:
        self.base_url, self.model, self.api_key = base_url.rstrip("/"), model, api_key

    def reset(self) -> None:
        with self._lock:
            self.dead, self.dead_by_refusal, self.unanswered, self.stalled, self.incomplete = None, False, 0, 0, 0
            self.last_good, self.failing, self.first_failing, self.changed = None, 0, None, None
            self.failing_tests, self.alongside = set(), []
            self.in_flight.clear()
            self.sent, self.failing_from = 0, 0

    @property
    def stalling(self) -> bool:
        return self.stalled >= self.threshold

    # -- events from the transport --------------------------------------------------------------

    def before(self, request: httpx.Request) -> None:
        """Refuse to send when the server is known dead (a refused port is re-checked: it is instant)."""
        if self.dead is None:
            return
        if self.dead_by_refusal and port_open(request.url):
            with self._lock:
                self.dead, self.dead_by_refusal, self.unanswered = None, False, 0
            return
        raise ServerGone(self.dead, request=request)

    def begin(self, request: httpx.Request) -> None:
        with self._lock:
            self.sent += 1
            self.in_flight[id(request)] = (_where(), request, self.sent)

    def end(self, request: httpx.Request) -> None:
        with self._lock:
            self.in_flight.pop(id(request), None)

    def answered(self, request: httpx.Request | None = None, status: int = 200) -> None:
        with self._lock:
            self.unanswered = 0
        if request is not None:
            self.outcome(request, status < 500)

    def refused(self, request: httpx.Request, exc: Exception) -> None:
        self.outcome(request, False)
        if port_open(request.url):
            return  # a transient failure: the port accepts connections
        with self._lock:
            if self.dead is None:
                self.dead = (f"server stopped responding at {_where()}: connection refused ({exc}); it answered "
                             "earlier in the run, so it has probably crashed or been stopped")
                self.dead_by_refusal = True

    def no_answer(self, request: httpx.Request, exc: Exception) -> None:
        self.outcome(request, False)
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

    def too_slow(self, request: httpx.Request, exc: Exception) -> None:
        """An answer began but did not complete within its deadline (a trickle): after `threshold`
        in a row, a trivial request decides whether the whole server is too slow to test."""
        self.outcome(request, False)
        with self._lock:
            self.incomplete += 1
            if self.incomplete < self.threshold or self.dead is not None:
                return
        probe = self._probe(request)
        with self._lock:
            self.incomplete = 0
            if probe is not None and self.dead is None:
                self.dead = (f"server stopped responding at {_where()}: {self.threshold} answers in a row did not "
                             f"complete within the deadline per request (last: {exc}), and a trivial request "
                             f"did not complete either ({probe}); bytes arrive too slowly to test it")

    def completed(self) -> None:
        with self._lock:
            self.incomplete = 0

    def stream_stalled(self) -> None:
        with self._lock:
            self.stalled += 1

    def stream_completed(self) -> None:
        with self._lock:
            self.stalled = 0

    def outcome(self, request: httpx.Request, ok: bool) -> None:
        """Track a server that answered and then fails everything, to name the request at the change."""
        what = f"{_where()}: {_request_text(request)}"
        with self._lock:
            entry = self.in_flight.pop(id(request), None)  # answered (or failed): no longer in flight
            if ok and self.failing and entry is not None and entry[2] <= self.failing_from:
                # sent before the first failure came back: the server may have answered it before it broke,
                # so it proves nothing about the server since (with requests in flight together, answers
                # from before the break keep arriving after it)
                return
            if ok:
                self.last_good, self.failing, self.first_failing, self.changed = what, 0, None, None
                self.failing_tests, self.alongside = set(), []
                return
            if self.last_good is None:  # never answered: nothing changed, it never worked
                return
            self.failing += 1
            if self.failing == 1:
                self.first_failing, self.failing_from = what, self.sent
                # sent before the server broke, so any of them may have broken it (the first failure to come
                # back is not always the request that broke it when several are in flight)
                self.alongside = [(test, _request_text(other, ALONGSIDE_TEXT, path_only=True))
                                  for key, (test, other, _) in self.in_flight.items() if key != id(request)]
            self.failing_tests.add(_where())
            if self.failing >= self.broke_after and len(self.failing_tests) >= 3:
                self.changed = (f"the server answered normally until {self.last_good}; since {self.first_failing}"
                                f"{_alongside(self.alongside)}, every request failed ({self.failing} in a row, 5xx "
                                f"or no answer, over {len(self.failing_tests)} tests): the likely cause is that "
                                f"first failing request{' or one in flight with it' if self.alongside else ''} "
                                "(or the one before it), which may have broken the server; later failures follow "
                                "from it rather than from their own requirements")

    # -- the probe ------------------------------------------------------------------------------

    def _probe(self, request: httpx.Request) -> str | None:
        """None when a trivial create gets a complete answer (any status) within the deadline; else why not."""
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
            # its own record (the probe must not count towards this one) and the same deadline policy
            with guarded_client(timeout, connect=min(timeout, 10.0), liveness=Unrecorded(),
                                max_body=1024 * 1024) as client:
                if body is None:
                    client.get(url, headers=headers)
                else:
                    client.post(url, content=json.dumps(body), headers=headers)
        except httpx.HTTPError as exc:
            return f"probe {'POST /responses' if body is not None else 'GET'}: {_describe(exc)}"
        return None


LIVENESS = Liveness()


class Unrecorded(Liveness):
    """A record that never judges the server (preflight, readiness polls, the probe itself): their own
    refusals and timeouts are their answer, not a verdict on the run's server."""

    def before(self, request: httpx.Request) -> None:
        pass

    def begin(self, request: httpx.Request) -> None:
        pass

    def refused(self, request: httpx.Request, exc: Exception) -> None:
        pass

    def no_answer(self, request: httpx.Request, exc: Exception) -> None:
        pass

    def too_slow(self, request: httpx.Request, exc: Exception) -> None:
        pass

    def outcome(self, request: httpx.Request, ok: bool) -> None:
        pass


ALONGSIDE_TEXT = 160  # characters of each request body named as in flight at the change


def _alongside(requests: list[tuple[str, str]]) -> str:
    """The requests in flight at the change, each test named once (a fuzz batch is one test's 16)."""
    if not requests:
        return ""
    by_test: dict[str, list[str]] = {}
    for test, text in requests:
        by_test.setdefault(test, []).append(text)
    named = "; ".join(f"{test}: " + " | ".join(texts) for test, texts in by_test.items())
    return f" (sent while {len(requests)} other request(s) were in flight, from {named})"


def _where() -> str:
    return CURRENT_TEST.get() or "(outside a test)"


def _request_text(request: httpx.Request, limit: int = 300, path_only: bool = False) -> str:
    """`POST url body...`, redacted and short (for naming a request in a note)."""
    try:
        body = request.content.decode("utf-8", "replace")
    except httpx.RequestNotRead:
        body = ""
    if len(body) > limit:
        body = body[:limit] + "..."
    where = request.url.raw_path.decode("ascii", "replace") if path_only else str(request.url)
    return REDACTOR.text(f"{request.method} {where}" + (f" {body}" if body else ""))


def _describe(exc: Exception) -> str:
    if isinstance(exc, BodyTooSlow):
        return str(exc)
    if isinstance(exc, httpx.ReadTimeout | httpx.ConnectTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return f"no answer within the timeout ({exc.__class__.__name__})"
    return f"{exc.__class__.__name__}: {exc}"


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("read")


def port_open(url: httpx.URL) -> bool:
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


# -- one total deadline per request, at the socket ----------------------------------------------

# [deadline, bytes received] while a request is sent and its headers read; the network stream keeps
# the last deadline it saw for the body, read after `handle_request` returns (one request per connection)
_REQUEST_DEADLINE: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "rc_request_deadline", default=None)


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every read, write and TLS handshake ends by the request's deadline:
    httpx's timeouts are per operation, so a byte every few seconds would otherwise never end."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float | None = None) -> None:
        self.inner, self.deadline = inner, deadline

    def _timeout(self, timeout: float | None, error: type[Exception]) -> float | None:
        claim = _REQUEST_DEADLINE.get()
        if claim is not None:
            self.deadline = claim[0]
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("the deadline for the whole request passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self.inner.read(max_bytes, self._timeout(timeout, httpcore.ReadTimeout))
        claim = _REQUEST_DEADLINE.get()
        if claim is not None:
            claim[1] += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self._timeout(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self.inner.start_tls(ssl_context, server_hostname, self._timeout(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(tls, self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    @staticmethod
    def _connect_timeout(timeout: float | None) -> float | None:
        claim = _REQUEST_DEADLINE.get()
        if claim is None or claim[0] is None:
            return timeout
        left = claim[0] - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the deadline for the whole request passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(host, port, self._connect_timeout(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_unix_socket(path, self._connect_timeout(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def deadline_transport() -> httpx.HTTPTransport:
    """httpx's transport over the deadline-keeping network backend (its pool is the only way in)."""
    transport = httpx.HTTPTransport(verify=tls_context())
    pool: Any = transport._pool  # httpx's defaults (limits, keep-alive expiry), kept
    transport._pool = httpcore.ConnectionPool(
        ssl_context=pool._ssl_context, max_connections=pool._max_connections,
        max_keepalive_connections=pool._max_keepalive_connections, keepalive_expiry=pool._keepalive_expiry,
        http1=pool._http1, http2=pool._http2, retries=pool._retries, network_backend=_DeadlineBackend())
    return transport


# -- Content-Encoding -----------------------------------------------------------------------------


def _codings(value: str) -> list[str]:
    return [c.strip().lower() for c in value.split(",") if c.strip()]


class _Decoder:
    """gzip / deflate decoding in bounded steps: each output chunk is at most DECODE_CHUNK bytes, so
    the reader's cap stops a bomb after a few steps (httpx's own decoders inflate a chunk whole)."""

    def __init__(self, codings: list[str]) -> None:
        self.codings = [c for c in reversed(codings) if c != "identity"]  # applied last, decoded first

    @staticmethod
    def _stage(coding: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        wbits = 16 + zlib.MAX_WBITS if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        d = zlib.decompressobj(wbits)
        started = False
        for data in chunks:
            if not started and data and coding == "deflate":
                started = True
                try:  # "deflate" is zlib-wrapped per RFC 9110; some servers send it raw
                    zlib.decompressobj(zlib.MAX_WBITS).decompress(data[:2], 0)
                except zlib.error:
                    d = zlib.decompressobj(-zlib.MAX_WBITS)
            while data:
                try:
                    out = d.decompress(data, DECODE_CHUNK)
                except zlib.error as exc:
                    raise httpx.DecodingError(f"the body is not valid {coding} (Content-Encoding): {exc}") from None
                if out:
                    yield out
                data = d.unconsumed_tail
                if d.eof and d.unused_data and not data:  # concatenated gzip members
                    data, d = d.unused_data, zlib.decompressobj(wbits)
        rest = d.flush()
        if rest:
            yield rest

    def decode(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for coding in self.codings:
            chunks = self._stage(coding, chunks)
        yield from chunks


def received_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """The headers as the server sent them (the transport drops Content-Encoding once it decodes)."""
    return response.extensions.get("rc_headers") or response.headers.multi_items()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that keeps one deadline per request, decodes what it advertised, caps body
    size and reports to `Liveness`."""

    def __init__(self, inner: httpx.BaseTransport | None = None, liveness: Liveness | None = None,
                 max_body: int | None = None, deadline: float | None = None) -> None:
        self.inner = inner or deadline_transport()
        self.liveness = liveness or LIVENESS
        self.max_body = max_body
        # seconds for a whole answer (connect, headers and body); a request's extensions["rc_deadline"]
        # overrides it; None: the sum of connect and read timeouts
        self.deadline = deadline

    def _seconds(self, request: httpx.Request) -> float | None:
        seconds = request.extensions.get("rc_deadline") or self.deadline
        if seconds is None:
            timeout = request.extensions.get("timeout") or {}
            if timeout.get("read") is not None:
                seconds = timeout["read"] + (timeout.get("connect") or 0)
        return seconds

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
        seconds = self._seconds(request)
        if streaming and live.stalling and (seconds is None or seconds > live.stall_timeout):
            # streams keep stalling or trickling: each gets the short allowance as its whole deadline too
            seconds = live.stall_timeout
            request.extensions["rc_shortened"] = True
        request.extensions["rc_deadline_s"] = seconds
        live.begin(request)
        try:
            return self._send(request, live, streaming, seconds)
        finally:
            live.end(request)

    def _send(self, request: httpx.Request, live: Liveness, streaming: bool, seconds: float | None) -> httpx.Response:
        ends = time.monotonic() + seconds if seconds else None
        claim = [ends, 0]
        token = _REQUEST_DEADLINE.set(claim)
        try:
            try:
                response = self.inner.handle_request(request)
            except httpx.RemoteProtocolError:
                # A server may close a kept-alive connection between requests (RFC 9112 §9.3; llama-server
                # does after every stream, though it says Keep-Alive): when the close raced this request and
                # nothing of an answer came back, the request is sent once more on a fresh connection. A
                # server that drops every request still fails: the second attempt raises.
                if claim[1] or (ends is not None and time.monotonic() >= ends):
                    raise
                request.extensions["rc_retried"] = True
                response = self.inner.handle_request(request)
        except httpx.ConnectError as exc:
            live.refused(request, exc)
            raise
        except (httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
            trickled = claim[1] > 0 and ends is not None and time.monotonic() >= ends - 0.01
            if trickled and isinstance(exc, httpx.TimeoutException):  # some bytes, then the deadline
                exc = BodyTooSlow(f"no complete status line and headers within the deadline per request "
                                  f"({seconds:g} s for connect, headers and body): the server sends them too slowly "
                                  "or not at all", request=request)
                live.no_answer(request, exc)
                raise exc from None
            live.no_answer(request, exc)
            raise
        finally:
            _REQUEST_DEADLINE.reset(token)
        live.answered(request, response.status_code)
        decoder = None
        encoding = response.headers.get("content-encoding")
        if encoding and set(_codings(encoding)) <= DECODED:
            response.extensions = {**response.extensions, "rc_headers": response.headers.multi_items()}
            del response.headers["content-encoding"]
            if "content-length" in response.headers:  # the encoded length; httpx would not check it anyway
                del response.headers["content-length"]
            decoder = _Decoder(_codings(encoding))
        response.stream = _WatchedStream(response.stream, live, request, streaming, self.max_body, ends,
                                         seconds, decoder)
        return response

    def close(self) -> None:
        self.inner.close()


def guarded_client(timeout: float, *, connect: float = 10.0, liveness: Liveness | None = None,
                   max_body: int | None = None, inner: httpx.BaseTransport | None = None, **kw: Any) -> httpx.Client:
    """A plain httpx client under the transport policy (preflight, probes): deadline, decoding, caps.
    `inner` sends the bytes (default: the deadline transport; the recorder wraps it under --record)."""
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **kw.pop("headers", {})}
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=min(connect, timeout)), headers=headers,
                        transport=GuardedTransport(inner=inner, liveness=liveness, max_body=max_body,
                                                   deadline=timeout),
                        follow_redirects=False, **kw)


class _WatchedStream(httpx.SyncByteStream):
    def __init__(self, inner: Any, liveness: Liveness, request: httpx.Request, streaming: bool,
                 max_body: int | None, ends: float | None = None, seconds: float | None = None,
                 decoder: _Decoder | None = None) -> None:
        self.inner, self.liveness, self.request = inner, liveness, request
        self.streaming, self.max_body, self.ends, self.seconds = streaming, max_body, ends, seconds
        self.decoder = decoder

    def _raw(self, counter: list[float]) -> Iterator[bytes]:
        for chunk in self.inner:
            counter[0] += len(chunk)
            counter[1] = time.monotonic()
            yield chunk

    def _too_slow(self) -> BodyTooSlow:
        return BodyTooSlow(f"the reply was still arriving at the deadline per request ({self.seconds or 0:g} s for "
                           "connect, headers and body; --request-timeout)", request=self.request)

    def __iter__(self) -> Iterator[bytes]:
        size, received = 0, [0, time.monotonic()]  # bytes, when the last ones came
        chunks = self._raw(received)
        if self.decoder is not None:
            chunks = self.decoder.decode(chunks)
        try:
            for chunk in chunks:
                size += len(chunk)
                if self.max_body is not None and size > self.max_body:
                    raise BodyTooLarge(f"the reply is larger than {self.max_body} bytes"
                                       + (" once decoded" if self.decoder else "") + "; the suite stopped reading it",
                                       request=self.request)
                if self.ends is not None and time.monotonic() > self.ends:  # bytes trickling in forever
                    raise self._too_slow()
                yield chunk
        except httpx.ReadTimeout as exc:
            now, silence = time.monotonic(), _read_timeout(self.request)
            trickling = silence is None or now - received[1] < silence - 0.05  # not a silence: bytes kept coming
            if self.ends is not None and now >= self.ends - 0.01 and trickling:
                slow = self._too_slow()
                self.liveness.too_slow(self.request, slow)
                if self.streaming:  # a trickling stream counts as a stalled one (a shorter allowance next)
                    self.liveness.stream_stalled()
                raise slow from exc
            if received[0] == 0:  # a status line, then nothing at all: as good as no answer
                self.liveness.no_answer(self.request, exc)
            elif self.streaming:
                self.liveness.stream_stalled()
            raise
        except BodyTooSlow as exc:
            self.liveness.too_slow(self.request, exc)
            if self.streaming:
                self.liveness.stream_stalled()
            raise
        self.liveness.completed()
        if self.streaming:
            self.liveness.stream_completed()

    def close(self) -> None:
        self.inner.close()
