"""Planted defects of the 'robustness' area: garbage on the wire, streams that stall or break,
a server that dies or hangs, crashes on unusual or wrongly typed input, concurrency bugs and a
leaked API key.

Defects that make the suite wait (stalls, hangs) ask the self-test for a short request timeout
(`needs`), so each costs seconds.  Per-server state (request counters, in-flight requests) lives
in `_state(ctx)`, so several reference servers in one process do not share it.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import weakref
import zlib
from collections.abc import Iterator
from typing import Any

from conformance.refserver.defects import defect
from conformance.refserver.engine import ApiError

_STATES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()
STALL_SECONDS = 120.0  # far beyond any self-test read timeout; the client gives up first
SHORT_TIMEOUT = ("--request-timeout=2",)


def _state(ctx: Any) -> dict[str, Any]:
    with _STATES_LOCK:
        return _STATES.setdefault(ctx.server, {"lock": threading.Lock(), "requests": 0, "in_flight": 0,
                                               "dead": False, "slot": None})


def _is_create(ctx: Any) -> bool:
    return ctx.method == "POST" and ctx.path.rstrip("/") == "/v1/responses"


def _drop_connection(ctx: Any) -> None:
    """Close this connection without (finishing) an answer, as a crashed process would."""
    ctx.handler.close_connection = True
    raise ConnectionResetError("planted defect: connection dropped")


# -- garbage on the wire (ROBUST-HTTP-*) ---------------------------------------------------------

BAD_GATEWAY = b"""<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""


@defect("html-502-page", targets=["ROBUST-HTTP-001"],
        modelled_on="an nginx reverse proxy in front of a crashed or restarting model server (HTML 502 page "
        "instead of JSON; vLLM #1492: /v1/models answers while generation fails)")
class Html502Page:
    """A successful create is replaced by an nginx HTML 502 Bad Gateway page."""

    def reply(ctx, value):
        status, headers, _ = value
        if _is_create(ctx) and status == 200:
            return 502, {**headers, "Content-Type": "text/html"}, BAD_GATEWAY
        return value


@defect("python-repr-body", targets=["ROBUST-HTTP-001"],
        modelled_on="a handler returning str(response_dict) instead of JSON (Python repr: single quotes, "
        "None, True) with a JSON content type")
class PythonReprBody:
    """A successful create's body is the Python repr of the response dict, not JSON."""

    def reply(ctx, value):
        status, headers, body = value
        if _is_create(ctx) and status == 200:
            return status, headers, repr(json.loads(body)).encode()
        return value


@defect("json-as-text-html", targets=["ROBUST-HTTP-001"],
        modelled_on="a FastAPI/Flask handler returning a pre-serialised JSON string, served as text/html "
        "(the framework's default for a str)")
class JsonAsTextHtml:
    """A successful create's JSON is served with Content-Type text/html."""

    def reply(ctx, value):
        status, headers, body = value
        if _is_create(ctx) and status == 200:
            return status, {**headers, "Content-Type": "text/html; charset=utf-8"}, body
        return value


@defect("huge-reply", targets=["ROBUST-HTTP-002"],
        modelled_on="vLLM #49239 (a reply of >100 MB built by echoing the input per item); "
        "here a 50 MB reply to a 16-token answer")
class HugeReply:
    """A successful create's JSON is padded with 50 MB of whitespace (still valid JSON)."""

    def reply(ctx, value):
        status, headers, body = value
        if _is_create(ctx) and status == 200:
            return status, headers, body[:-1] + b" " * (50 * 1024 * 1024) + body[-1:]
        return value


# -- streams (ROBUST-STREAM-*) -------------------------------------------------------------------


@defect("stream-stalls", targets=["ROBUST-STREAM-001"], needs=SHORT_TIMEOUT,
        modelled_on="vLLM #17972 / #7913 (generation stuck: the connection stays open, no more events)")
class StreamStalls:
    """Every stream goes silent after 4 events and keeps the connection open."""

    def sse(ctx, chunks):
        def stalled() -> Iterator[bytes]:
            for n, chunk in enumerate(chunks):
                if n == 4:
                    threading.Event().wait(STALL_SECONDS)
                yield chunk
        return stalled()


@defect("stream-dropped", targets=["ROBUST-STREAM-001"],
        modelled_on="vLLM #22341 (gpt-oss stream dies: 'Caught handled exception, but response already "
        "started'; the connection is closed mid-response)")
class StreamDropped:
    """Every stream's connection is dropped after 5 events, halfway through the 6th."""

    def sse(ctx, chunks):
        def dropped() -> Iterator[bytes]:
            for n, chunk in enumerate(chunks):
                if n == 5:
                    yield chunk[: len(chunk) // 2]
                    _drop_connection(ctx)
                yield chunk
        return dropped()


@defect("stream-ends-mid-event", targets=["ROBUST-STREAM-001"],
        modelled_on="a streaming writer that stops at a buffer boundary when generation is aborted "
        "(llama.cpp PR #28926: SSE buffer eviction cut events)")
class StreamEndsMidEvent:
    """Every stream ends cleanly but in the middle of its 6th event (no blank line, nothing after)."""

    def sse(ctx, chunks):
        def cut() -> Iterator[bytes]:
            for n, chunk in enumerate(chunks):
                if n == 5:
                    yield chunk[: len(chunk) // 2]
                    return
                yield chunk
        return cut()


@defect("stream-invalid-utf8", targets=["ROBUST-STREAM-002"],
        modelled_on="llama.cpp #4036 / PR #4446 and llamafile PR #727 (a multi-byte character split across "
        "tokens sent as two invalid UTF-8 fragments in consecutive events)")
class StreamInvalidUtf8:
    """The first two text deltas carry one emoji's UTF-8 bytes, split between them (invalid in each)."""

    def sse(ctx, chunks):
        def split() -> Iterator[bytes]:
            carry = b""
            done = False
            for chunk in chunks:
                if not done and b'"response.output_text.delta"' in chunk:
                    head, sep, tail = chunk.partition(b'"delta": "')
                    emoji = "🙂".encode()  # 4 bytes: 2 go with this delta, 2 with the next event
                    chunk, carry, done = head + sep + emoji[:2] + tail, emoji[2:], True
                elif carry and b'"delta": "' in chunk:
                    head, sep, tail = chunk.partition(b'"delta": "')
                    chunk, carry = head + sep + carry + tail, b""
                yield chunk
        return split()


# -- a server that dies or hangs (ROBUST-ALIVE-001) ----------------------------------------------

DIE_AFTER = 10  # requests: the preflight's two, then a few of the run


@defect("dies-mid-run", targets=["ROBUST-ALIVE-001"],
        modelled_on="vLLM #10812 / #10024 ('MQLLMEngine is already dead, terminating server process': "
        "the server exits mid-run)")
class DiesMidRun:
    """After 10 requests the server stops: it stops listening and drops every open connection."""

    def route(ctx, value, method, path):
        st = _state(ctx)
        with st["lock"]:
            st["requests"] += 1
            first = not st["dead"] and st["requests"] > DIE_AFTER
            if first:
                st["dead"] = True
        if first:
            server = ctx.server

            def stop() -> None:  # not on this thread: shutdown() waits for the serving loop
                server.shutdown()
                server.server_close()
            threading.Thread(target=stop, daemon=True).start()
        if st["dead"]:
            _drop_connection(ctx)
        return value


@defect("hangs-mid-run", targets=["ROBUST-ALIVE-001"], needs=SHORT_TIMEOUT,
        modelled_on="vLLM #17972 'server hangs and timeouts after initial requests', #7913 "
        "(accepts connections, never answers)")
class HangsMidRun:
    """After 10 requests the server accepts connections but never answers."""

    def route(ctx, value, method, path):
        st = _state(ctx)
        with st["lock"]:
            st["requests"] += 1
            hung = st["requests"] > DIE_AFTER
        if hung:
            threading.Event().wait(STALL_SECONDS)
            _drop_connection(ctx)
        return value


# -- unusual or wrongly typed input (ROBUST-FUZZ-*) ----------------------------------------------


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)


@defect("non-bmp-input-500", targets=["ROBUST-FUZZ-001"],
        modelled_on="\"'utf-8' codec can't encode characters: surrogates not allowed\" crashes on emoji "
        "(Aider-AI/aider #3693, #3844 through LiteLLM: a 500 for valid text)")
class NonBmpInput500:
    """Input text with a character outside the Basic Multilingual Plane (emoji) crashes the request (500)."""

    def request(ctx, body):
        if isinstance(body, dict) and any(ord(c) > 0xFFFF for t in _texts(body.get("input")) for c in t):
            raise UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed")
        return body


@defect("temperature-zero-rejected", targets=["ROBUST-FUZZ-001"],
        modelled_on="huggingface/text-generation-inference #1236 ('temperature must be strictly positive': "
        "422 for temperature 0)")
class TemperatureZeroRejected:
    """temperature 0 (valid: greedy) is rejected with 422."""

    def request(ctx, body):
        if isinstance(body, dict) and body.get("temperature") == 0:
            raise ApiError(422, "`temperature` must be strictly positive", "temperature", "invalid_value")
        return body


@defect("wrong-type-500", targets=["ROBUST-FUZZ-002"],
        modelled_on="vLLM #12/#13 in the catalogue class (unvalidated input reaching code that assumes its "
        "type: AttributeError / TypeError -> 500 instead of 400)")
class WrongType500:
    """A wrongly typed scalar parameter reaches the engine unvalidated and crashes it (500)."""

    def request(ctx, body):
        if not isinstance(body, dict):
            return body
        numbers = ("temperature", "top_p", "max_output_tokens")
        for key in numbers:
            value = body.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise TypeError(f"'<' not supported between instances of '{type(value).__name__}' and 'int'")
        for key in ("instructions", "model", "metadata", "store", "input"):
            value = body.get(key)
            if value is not None and not isinstance(value, str | list | dict | bool):
                raise AttributeError(f"'{type(value).__name__}' object has no attribute 'strip'")
        return body


# -- concurrency (ROBUST-LOAD-*) -----------------------------------------------------------------

ENGINE_STEP = 0.05  # seconds a create takes: concurrent requests of the load test then overlap


def _enter(ctx: Any) -> int:
    """Count this create as in flight (until its reply); return how many others are in flight."""
    st = _state(ctx)
    with st["lock"]:
        st["in_flight"] += 1
        ctx.state["rc_counted"] = True
        return st["in_flight"] - 1


def _leave(ctx: Any) -> None:
    if ctx.state.pop("rc_counted", False):
        st = _state(ctx)
        with st["lock"]:
            st["in_flight"] -= 1


@defect("concurrent-stream-dies", targets=["ROBUST-LOAD-001"],
        modelled_on="vLLM #22341 (gpt-oss streams die under concurrent load: 'Caught handled exception, "
        "but response already started')")
class ConcurrentStreamDies:
    """A stream started while another create is in flight is dropped after 3 events."""

    def request(ctx, body):
        ctx.state["rc_others"] = _enter(ctx)
        time.sleep(ENGINE_STEP)
        return body

    def reply(ctx, value):
        _leave(ctx)
        return value

    def sse(ctx, chunks):
        def run() -> Iterator[bytes]:
            try:
                for n, chunk in enumerate(chunks):
                    if n == 3 and ctx.state.get("rc_others"):
                        _drop_connection(ctx)
                    yield chunk
            finally:
                _leave(ctx)
        return run()


@defect("shared-request-slot", targets=["ROBUST-LOAD-002"],
        modelled_on="vLLM #13408 'Response leak when processing concurrent requests', #9910 (results of "
        "concurrent requests mixed up)")
class SharedRequestSlot:
    """The request being served sits in one server-wide slot; concurrent requests overwrite each other's."""

    def request(ctx, body):
        _state(ctx)["slot"] = body  # the race: no lock, one slot for the whole server
        time.sleep(ENGINE_STEP)
        return body

    def response(ctx, resp):
        slot = _state(ctx)["slot"]
        if isinstance(slot, dict):
            resp["metadata"] = slot.get("metadata") or {}
            resp["instructions"] = slot.get("instructions")
        return resp


@defect("clock-response-ids", targets=["ROBUST-LOAD-002"],
        modelled_on="InternLM/lmdeploy PR #4707 (response ids reused across requests); ids built from the "
        "clock collide for requests served in the same second")
class ClockResponseIds:
    """Response ids are built from the current second, so requests served together share an id."""

    def response(ctx, resp):
        resp["id"] = f"resp_{int(time.time())}"
        return resp


# -- secrets (ROBUST-SECRET-001) ----------------------------------------------------------------


@defect("echoes-api-key", targets=["ROBUST-SECRET-001"],
        modelled_on="Unstructured-IO/unstructured-api PR #578 (the 401 detail interpolated the submitted API "
        "key, so it landed in response bodies and logs)")
class EchoesApiKey:
    """Error replies quote the request's Authorization header verbatim."""

    def reply(ctx, value):
        status, headers, body = value
        auth = ctx.handler.headers.get("Authorization") if ctx.handler is not None else None
        if status >= 400 and auth:
            try:
                data = json.loads(body)
                data["error"]["message"] += f" (request sent Authorization: {auth})"
                body = json.dumps(data).encode()
            except (ValueError, KeyError, TypeError):
                body += f" (Authorization: {auth})".encode()
        return status, headers, body


# -- hostile transport: trickles, compression bombs, deep nesting, control characters (issue 14) ----

TRICKLE_EVERY = 0.5  # seconds between bytes: every read gets one before any per-read timeout


def _trickle(ctx: Any, data: bytes) -> None:
    """Write `data` a byte at a time (until the client gives up), then drop the connection."""
    ctx.handler.close_connection = True
    for i in range(len(data)):
        ctx.handler.wfile.write(data[i:i + 1])
        ctx.handler.wfile.flush()
        time.sleep(TRICKLE_EVERY)
    _drop_connection(ctx)


def _past_start(ctx: Any) -> bool:
    st = _state(ctx)
    with st["lock"]:
        st["requests"] += 1
        return st["requests"] > DIE_AFTER


@defect("trickles-headers-mid-run", targets=["ROBUST-ALIVE-001"], needs=SHORT_TIMEOUT,
        modelled_on="a slowloris-like overloaded proxy or a server swapping to disk: the status line and "
        "headers arrive a byte every few seconds (httpx's timeout is per read, so it never trips)")
class TricklesHeadersMidRun:
    """After 10 requests every answer's status line and headers arrive one byte every 0.5 s."""

    def route(ctx, value, method, path):
        if _past_start(ctx):
            ctx.handler._drain()
            _trickle(ctx, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: " + b"." * 400)
        return value


@defect("trickles-bodies-mid-run", targets=["ROBUST-ALIVE-001"], needs=SHORT_TIMEOUT,
        modelled_on="a server whose engine degrades mid-run (swap, thermal throttling): headers at once, "
        "then the body a byte every few seconds")
class TricklesBodiesMidRun:
    """After 10 requests every answer sends its headers at once, then its body one byte every 0.5 s."""

    def route(ctx, value, method, path):
        if _past_start(ctx):
            ctx.handler._drain()
            ctx.handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: 1000\r\n\r\n")
            _trickle(ctx, b" " * 1000)
        return value


_BOMB: list[bytes] = []


def _gzip_spaces() -> bytes:
    """256 MB of spaces as one gzip member (~260 KB), built once per process."""
    if not _BOMB:
        comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = b" " * (1024 * 1024)
        _BOMB.append(b"".join(comp.compress(block) for _ in range(256)) + comp.flush())
    return _BOMB[0]


@defect("gzip-huge-reply", targets=["ROBUST-HTTP-002"],
        modelled_on="vLLM #49239 (a reply of >100 MB) behind a compressing proxy: 256 MB of JSON that is "
        "a few hundred KB on the wire (a gzip bomb for a client that inflates it whole)")
class GzipHugeReply:
    """A successful create's JSON is padded with 256 MB of whitespace and sent gzip-compressed."""

    def reply(ctx, value):
        status, headers, body = value
        if _is_create(ctx) and status == 200:
            # gzip members concatenate: the JSON's head, the spaces, its last byte
            return status, {**headers, "Content-Encoding": "gzip"}, (
                gzip.compress(body[:-1]) + _gzip_spaces() + gzip.compress(body[-1:]))
        return value


@defect("deep-nested-reply", targets=["ROBUST-HTTP-001"],
        modelled_on="a server echoing a recursive structure (a debug field with a self-referencing graph "
        "serialised by a naive encoder): 100,000 levels of nested lists in the response object")
class DeepNestedReply:
    """A successful create's response object carries an extra field nested 100,000 levels deep."""

    def reply(ctx, value):
        status, headers, body = value
        if _is_create(ctx) and status == 200:
            return status, headers, body[:-1] + b', "debug": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        return value


@defect("control-chars-in-ids", targets=["STATE-GET-001"],
        modelled_on="ids built from unsanitised upstream text (a terminal colour code and an OSC title in "
        "an id and an error message): the id cannot be put in a URL, the text must not drive a terminal")
class ControlCharsInIds:
    """Response ids carry ANSI colour and OSC title sequences; error messages too."""

    def response(ctx, resp):
        resp["id"] = f"resp_\x1b[31m{resp['id'][5:]}\x1b]0;pwned\x07"
        return resp

    def reply(ctx, value):
        status, headers, body = value
        if status >= 400:
            body = body.replace(b'"message": "', b'"message": "\\u001b[2J\\u001b]0;pwned\\u0007', 1)
        return status, headers, body


@defect("edge-temperature-kills-engine", targets=["ROBUST-FUZZ-001"],
        modelled_on="transformers serve on a GPU killed by a valid fuzz request (temperature at an edge: the "
        "sampler hit inf/nan and the CUDA context died): every later request failed with a 500 in a second")
class EdgeTemperatureKillsEngine:
    """A greeting at temperature 2 (the maximum; the fuzz requirement's edge case) kills the engine: it
    and every later create get a 500."""

    def request(ctx, body):
        st = _state(ctx)
        if isinstance(body, dict) and body.get("temperature") == 2 and body.get("input") == "Say hello.":
            st["dead"] = True
        if st["dead"]:
            raise ApiError(500, "CUDA error: device-side assert triggered", None, "server_error")
        return body


@defect("echoes-api-key-encoded", targets=["ROBUST-SECRET-001"],
        modelled_on="error details that embed the request's credentials encoded (a base64 'Basic' header "
        "rebuilt for an upstream call, a JSON-escaped or upper-cased copy in a debug field)")
class EchoesApiKeyEncoded:
    """Error replies carry the request's API key base64-encoded, JSON-escaped (\\u002d) and upper-cased."""

    def reply(ctx, value):
        status, headers, body = value
        auth = ctx.handler.headers.get("Authorization") if ctx.handler is not None else None
        key = auth.split(" ", 1)[-1] if auth else ""
        if status >= 400 and key:
            try:
                data = json.loads(body)
                data["error"]["debug"] = {"upstream": "Basic " + base64.b64encode(f"user:{key}".encode()).decode(),
                                          "seen": key.upper()}
                # the JSON-escaped copy is written by hand: json.dumps would not escape '-'
                body = json.dumps(data).encode()[:-1] + b', "key": "' + key.replace("-", "\\u002d").encode() + b'"}'
            except (ValueError, KeyError, TypeError):
                pass
        return status, headers, body


@defect("trickles-streams", targets=["ROBUST-STREAM-001"], needs=SHORT_TIMEOUT,
        modelled_on="a buffering proxy or an overloaded engine that lets a stream out a few bytes at a time "
        "(never silent long enough for a per-read timeout), while non-streamed replies are normal")
class TricklesStreams:
    """Every stream's bytes arrive 8 at a time, every 0.5 s (JSON replies are normal)."""

    def sse(ctx, chunks):
        def trickle() -> Iterator[bytes]:
            for chunk in chunks:
                for i in range(0, len(chunk), 8):
                    time.sleep(TRICKLE_EVERY)
                    yield chunk[i:i + 8]
        return trickle()


# -- added with issue 16 (case-level proof) --------------------------------------------------------


@defect("json-body-cp1252", targets=["ROBUST-STREAM-002"],
        modelled_on="servers that write their JSON with ensure_ascii off in the platform's default encoding "
        "(cp1252 on Windows) while declaring UTF-8: 'é' goes out as the single byte 0xE9")
class JsonBodyCp1252:
    """A create's JSON body keeps non-ASCII characters and is encoded as cp1252, not UTF-8."""

    def reply(ctx, value):
        status, headers, body = value
        if _is_create(ctx) and status == 200:
            try:
                text = json.dumps(json.loads(body), ensure_ascii=False)
            except ValueError:
                return value
            return status, headers, text.encode("cp1252", "replace")
        return value


@defect("stream-obfuscation-megabytes", targets=["ROBUST-HTTP-002"],
        modelled_on="the stream `obfuscation` padding (stream_options.include_obfuscation) filled to a fixed "
        "megabyte per delta instead of a few characters: a 16-token answer streams tens of MB")
class StreamObfuscationMegabytes:
    """Every streamed delta event carries 1 MB of obfuscation padding."""

    def events(ctx, evs):
        for ev in evs:
            if str(ev.get("type", "")).endswith(".delta"):
                ev["obfuscation"] = "x" * (1024 * 1024)
        return evs
