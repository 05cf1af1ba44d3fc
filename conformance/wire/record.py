"""Recording a run: every HTTP exchange written to disk as it happens, secrets redacted (`--record DIR`).

`wrap()` gives the transport that `GuardedTransport` sends through (the raw `ApiClient`, the `openai`
SDK client and the preflight all build theirs with it): with no recording and no replay it is
httpx's own transport, unchanged; otherwise a `RecordingTransport` around it that tees each request
and the response bytes as the client reads them, with their timing.  It sits *inside* the guard, so
it sees every byte the guard was given, also the one that made it stop (a body too large, a deadline).

The recording directory (format `responses-conformance-recording/1`, `docs/recording.md`):

    manifest.json            server facts, suite version/commit, the run's options, an index of exchanges
    exchanges/<w>-<n>.json   one exchange (format `responses-conformance-exchange/1`); <w> is the xdist
                             worker (`gw0`) or `main`, <n> its sequence: workers never share a file
    report.json              the run's report, written at the end (re-rendered by `python -m conformance report`)

An exchange file, written when the response ends (read to the end, broken, or closed by the client):

    {"format": ..., "name": "gw0-000012", "test": "<nodeid>", "started": "<ISO>", "started_unix": 1.7e9,
     "request":  {"method", "url", "path", "headers", "body" (text) or "body_base64", "body_sha256", "body_bytes"},
     "response": {"status", "http_version", "headers": [[k, v], ...], "headers_ms",
                  "chunks": [{"ms": <since the request>, "text": "..."} or {"ms", "base64": "..."}],
                  "bytes", "end": complete|closed|timeout|abandoned|open, "end_ms"} or null,
     "error":    {"kind": connect|timeout|protocol|other, "type", "message"} or null}

Every string passes through `REDACTOR` before it is written (the API key, secret headers); a secret
split across two chunks is caught by merging those chunks first.  The `body_sha256` is of the body as
written, which is what a replay matches on.

When replaying (`--replay DIR`), the same transport names the running test in a request header (so
the replay server prefers the exchange that test recorded) and notes every request the replay server
says it does not hold: `not_recorded(nodeid)` makes that test "not run (not recorded)".
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from conformance.base.redact import REDACTED, REDACTOR
from conformance.wire.guard import CURRENT_TEST, tls_context

RECORDING_FORMAT = "responses-conformance-recording/1"
EXCHANGE_FORMAT = "responses-conformance-exchange/1"
RECORDED_HEADER = "x-conformance-recorded"  # on answers: the exchange file's name (record and replay)
REPLAY_HEADER = "x-conformance-replay"  # on a replay server's answer: "not-recorded" when it holds none
TEST_HEADER = "x-conformance-test"  # on requests while replaying: the running test's nodeid
NOT_RECORDED_STATUS = 599
KEEP_REQUEST_BODY = 1024 * 1024  # bytes of a request body written; a larger one keeps only its sha256


class Recorder:
    """Writes this process's exchanges into DIR/exchanges/ (one file each, named by worker and sequence)."""

    def __init__(self, directory: Path, worker: str = "main") -> None:
        self.directory = Path(directory)
        self.worker = worker
        (self.directory / "exchanges").mkdir(parents=True, exist_ok=True)
        self._seq = 0
        self._lock = threading.Lock()
        self._open: dict[int, _TeeStream] = {}

    def next_name(self) -> str:
        with self._lock:
            self._seq += 1
            return f"{self.worker}-{self._seq:06d}"

    def write(self, record: dict[str, Any]) -> None:
        path = self.directory / "exchanges" / f"{record['name']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)  # a reader never sees half a file

    def finish(self) -> None:
        """Write the exchanges still open (a response nobody closed) as they stand."""
        for tee in list(self._open.values()):
            tee.finish("open")


RECORDER: Recorder | None = None
REPLAYING = False
_NOT_RECORDED: dict[str | None, list[str]] = {}


def start_recording(directory: Path, worker: str | None = None) -> Recorder:
    global RECORDER
    RECORDER = Recorder(directory, worker or os.environ.get("PYTEST_XDIST_WORKER") or "main")
    return RECORDER


def start_replaying() -> None:
    global REPLAYING
    REPLAYING = True


def stop() -> None:
    global RECORDER, REPLAYING
    if RECORDER is not None:
        RECORDER.finish()
    RECORDER, REPLAYING = None, False
    _NOT_RECORDED.clear()


def active() -> bool:
    return RECORDER is not None or REPLAYING


def wrap(inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport | None:
    """The transport to send through: `inner` itself (None: httpx's default) unless recording or replaying."""
    if not active():
        return inner
    return RecordingTransport(inner or httpx.HTTPTransport(verify=tls_context()))


def not_recorded(nodeid: str | None) -> list[str]:
    """The requests of this test the replay server did not hold ("POST /v1/responses")."""
    return list(_NOT_RECORDED.get(nodeid, ()))


# -- the transport --------------------------------------------------------------------------------


class RecordingTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        test = CURRENT_TEST.get()
        if REPLAYING and test:
            request.headers[TEST_HEADER] = quote(test, safe="/:[]-_.,=+")
        recorder = RECORDER
        started, wall = time.monotonic(), time.time()
        try:
            response = self.inner.handle_request(request)
        except Exception as exc:
            if recorder is not None:
                record = _request_record(recorder.next_name(), test, wall, request)
                record["error"] = _error(exc)
                recorder.write(record)
            raise
        if REPLAYING and response.headers.get(REPLAY_HEADER) == "not-recorded":
            _NOT_RECORDED.setdefault(test, []).append(f"{request.method} {request.url.raw_path.decode('ascii')}")
        if recorder is not None:
            record = _request_record(recorder.next_name(), test, wall, request)
            record["response"] = {"status": response.status_code,
                                  "http_version": response.extensions.get("http_version", b"").decode("ascii",
                                                                                                     "replace"),
                                  "headers": [[k, v] for k, v in _redacted_pairs(response.headers.multi_items())],
                                  "headers_ms": _ms(started)}
            response.stream = _TeeStream(response.stream, recorder, record, started)
            # the report links a test's evidence to this file through the header
            response.headers[RECORDED_HEADER] = record["name"]
        return response

    def close(self) -> None:
        self.inner.close()


class _TeeStream(httpx.SyncByteStream):
    """The response body as the client reads it, kept with each chunk's time; written once, at its end."""

    def __init__(self, inner: Any, recorder: Recorder, record: dict[str, Any], started: float) -> None:
        self.inner, self.recorder, self.record, self.started = inner, recorder, record, started
        self.chunks: list[tuple[float, bytes]] = []
        self.done = False
        recorder._open[id(self)] = self

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.inner:
                self.chunks.append((_ms(self.started), bytes(chunk)))
                yield chunk
        except httpx.TimeoutException:
            self.finish("timeout")
            raise
        except (httpx.TransportError, OSError):
            self.finish("closed")
            raise
        self.finish("complete")

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.finish("abandoned")  # the client stopped reading before the end (a no-op after the end)

    def finish(self, end: str) -> None:
        if self.done:
            return
        self.done = True
        self.recorder._open.pop(id(self), None)
        response = self.record["response"]
        response["chunks"] = _chunks(self.chunks)
        response["bytes"] = sum(len(c) for _, c in self.chunks)
        response["end"] = end
        response["end_ms"] = _ms(self.started)
        with contextlib.suppress(OSError):  # a full disk must not turn into the server's failure
            self.recorder.write(self.record)


# -- records --------------------------------------------------------------------------------------


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _redacted_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, next(iter(REDACTOR.headers([(k, v)]).values()))) for k, v in pairs]


def _request_record(name: str, test: str | None, wall: float, request: httpx.Request) -> dict[str, Any]:
    try:
        body = request.content
    except httpx.RequestNotRead:
        body = b""
    body = _redact_bytes(body)
    req: dict[str, Any] = {"method": request.method, "url": REDACTOR.text(str(request.url)),
                           "path": REDACTOR.text(request.url.raw_path.decode("ascii", "replace")),
                           "headers": dict(_redacted_pairs([(k, v) for k, v in request.headers.multi_items()
                                                            if k.lower() != TEST_HEADER]))}
    if len(body) > KEEP_REQUEST_BODY:
        req["body"], req["body_omitted"] = None, True
    elif body:
        req.update(_body_field(body, "body"))
    else:
        req["body"] = None
    req["body_sha256"] = hashlib.sha256(body).hexdigest()
    req["body_bytes"] = len(body)
    return {"format": EXCHANGE_FORMAT, "name": name, "test": test,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1000):03d}Z",
            "started_unix": round(wall, 3), "request": req, "response": None, "error": None}


def _body_field(data: bytes, key: str) -> dict[str, Any]:
    """Text when the bytes are UTF-8 (readable), else base64 (exact)."""
    try:
        return {key: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{key}_base64" if key == "body" else "base64": base64.b64encode(data).decode("ascii")}


def _secrets() -> list[bytes]:
    return [s.encode() for s in REDACTOR.secrets]


def _redact_bytes(data: bytes) -> bytes:
    for s in _secrets():
        data = data.replace(s, REDACTED.encode())
    return data


def _chunks(chunks: list[tuple[float, bytes]]) -> list[dict[str, Any]]:
    """The chunks as written: a secret that spans chunks first merges them, then each is redacted."""
    merged = [(ms, data) for ms, data in chunks]
    secrets = _secrets()
    if secrets and len(merged) > 1:
        joined = b"".join(d for _, d in merged)
        for s in secrets:
            start = joined.find(s)
            while start >= 0:
                merged = _merge_span(merged, start, start + len(s))
                start = joined.find(s, start + 1)
    out = []
    for ms, data in merged:
        item: dict[str, Any] = {"ms": ms}
        item.update(_body_field(_redact_bytes(data), "text"))
        out.append(item)
    return out


def _merge_span(chunks: list[tuple[float, bytes]], start: int, end: int) -> list[tuple[float, bytes]]:
    """The chunks with those overlapping bytes [start, end) joined into one (at the first one's time)."""
    out: list[tuple[float, bytes]] = []
    pos, joining = 0, False
    for ms, data in chunks:
        overlaps = pos < end and pos + len(data) > start
        pos += len(data)
        if overlaps and joining:
            out[-1] = (out[-1][0], out[-1][1] + data)
        else:
            out.append((ms, data))
        joining = overlaps
    return out


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, httpx.ConnectError):
        kind = "connect"
    elif isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        kind = "protocol"
    else:
        kind = "other"
    return {"kind": kind, "type": exc.__class__.__name__, "message": REDACTOR.text(str(exc))}


def exchange_files(directory: Path) -> list[Path]:
    return sorted((Path(directory) / "exchanges").glob("*.json"))


def index(directory: Path) -> list[dict[str, Any]]:
    """One line per exchange of a recording (for its manifest), in the order they started."""
    rows = []
    for path in exchange_files(directory):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        resp = rec.get("response") or {}
        rows.append({"file": f"exchanges/{path.name}", "test": rec.get("test"),
                     "method": rec["request"]["method"], "path": rec["request"]["path"],
                     "status": resp.get("status"), "end": resp.get("end") or (rec.get("error") or {}).get("kind"),
                     "started_unix": rec.get("started_unix")})
    rows.sort(key=lambda r: (r["started_unix"] or 0, r["file"]))
    return rows
