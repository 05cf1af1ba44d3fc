"""The replay server (`--replay DIR`): a recording answers the suite instead of a server.

An HTTP server on a free loopback port, in a thread of this process (like the embedded reference
server), serves each request the recorded answer of the exchange it matches (`docs/recording.md`):

1. **exact**: same method, path (query included) and body bytes (sha256).  The recording holds the
   server's own ids, so a follow-up turn (`previous_response_id`, the output items sent back) is
   byte-identical to the recorded one.  Among several recorded exchanges with that key, one the running
   test recorded comes first (the client names its test in `x-conformance-test`), then any other, each in
   recorded order; a request repeated more often than recorded gets the last one again.
2. **normalized**: the values the suite randomizes per run (made-up response ids `resp_<48 hex>`, load
   nonces `n<12 hex>`, probe keys `sk-rcprobe-<40 hex>`) are replaced by placeholders in path and body;
   on such a match, the recorded values are swapped for the new ones in the answer too.
   Fuzz requests are not random: the same `--fuzz-seed` (the recorded one, by default) sends the same.
3. anything else answers **HTTP 599** with `x-conformance-replay: not-recorded`: the plugin reports
   the test as "not run (not recorded)", never passed or failed.  Except when the recorded server
   had hung (such a request is held, then broken) or died (refused a connection and answered
   nothing after: such a request gets no answer), as every request then did.

Timestamps: `created_at`/`completed_at` values within a day of the recording are moved by the time
since it was recorded, so "created just now" holds in a replay.  A `[REDACTED]` in an answer (a secret
the server echoed) becomes the bearer token of the replayed request, so a check for echoed keys still
sees one.  Timing: an exchange that ended normally is answered at once; one that ended by a timeout,
a broken connection or the client giving up (a deadline, a size cap) is replayed with its recorded
gaps, then broken or held open as recorded, so the client meets the same end.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import select
import socket
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from conformance.base.redact import REDACTED
from conformance.server.preflight import Server, ServerHandle, ServerProblem
from conformance.wire.record import (
    NOT_RECORDED_STATUS,
    RECORDED_HEADER,
    RECORDING_FORMAT,
    REPLAY_HEADER,
    TEST_HEADER,
    exchange_files,
)

# values the suite makes up per run (conformance/suite/test_state.py unknown_id, judge/load.py _nonce,
# suite/test_robustness.py's probe key): matched as placeholders, swapped back in the answer
RANDOM_TOKENS = re.compile(r"resp_[0-9a-f]{48}(?![0-9a-f])|sk-rcprobe-[0-9a-f]{40}(?![0-9a-f])"
                           r"|(?<![0-9A-Za-z_])n[0-9a-f]{12}(?![0-9a-f])")
TIMESTAMP = re.compile(rb'("(?:created_at|completed_at)"\s*:\s*)(\d{9,10})(?![\d.])')
HOP_HEADERS = ("transfer-encoding", "connection", "keep-alive", "content-length", RECORDED_HEADER)
HOLD_LIMIT = 600.0  # seconds an answer is held open at most (a recorded stall)
DAY = 86400


class RecordingProblem(ServerProblem):
    """The recording cannot be replayed (missing, unreadable, another format)."""


@dataclass
class Recording:
    directory: Path
    manifest: dict[str, Any]
    exchanges: list[dict[str, Any]]

    def final_state(self, last: int = 3) -> str | None:
        """"hung" when the recorded server's last exchanges got no answer in time: it was so at the end;
        "dead" when it refused a connection and answered nothing after (the suite then sent it nothing more:
        which requests were sent before that depends on timing under --concurrency)."""
        tail = self.exchanges[-last:]
        hung = len(tail) == last and all(ex.get("response") is None and (ex.get("error") or {}).get("kind") ==
                                         "timeout" for ex in tail)
        if hung:
            return "hung"
        refused = [i for i, ex in enumerate(self.exchanges) if (ex.get("error") or {}).get("kind") == "connect"]
        if refused and not any(ex.get("response") is not None for ex in self.exchanges[refused[0]:]):
            return "dead"
        return None


def open_recording(path: str | Path) -> Recording:
    """A recording directory, or a .tar.gz of one (unpacked into a temporary directory)."""
    path = Path(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        target = Path(tempfile.mkdtemp(prefix="rc-replay-"))
        with tarfile.open(path) as tar:
            tar.extractall(target, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(target)
        found = [p.parent for p in target.rglob("manifest.json")]
        if not found:
            raise RecordingProblem(f"--replay {path}: the archive holds no manifest.json")
        path = found[0]
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise RecordingProblem(f"--replay {path}: no manifest.json there; record one with --record {path}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordingProblem(f"--replay {path}: manifest.json is unreadable ({exc})") from None
    if manifest.get("format") != RECORDING_FORMAT:
        raise RecordingProblem(f"--replay {path}: manifest.json is of format {manifest.get('format')!r}, this suite "
                               f"replays {RECORDING_FORMAT!r}")
    exchanges = []
    for file in exchange_files(path):
        try:
            exchanges.append(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise RecordingProblem(f"--replay {path}: {file.name} is unreadable ({exc})") from None
    exchanges.sort(key=lambda r: (r.get("started_unix") or 0, r.get("name") or ""))
    return Recording(path, manifest, exchanges)


def recorded_body(req: dict[str, Any]) -> bytes | None:
    if req.get("body_base64") is not None:
        return base64.b64decode(req["body_base64"])
    return req["body"].encode("utf-8") if req.get("body") is not None else None


def normalize(text: str) -> str:
    return RANDOM_TOKENS.sub(lambda m: "<resp-id>" if m[0].startswith("resp_") else
                             "<probe-key>" if m[0].startswith("sk-") else "<nonce>", text)


@dataclass
class Matcher:
    """Recorded exchanges by key, handed out as described in the module's docstring."""

    exchanges: list[dict[str, Any]]
    exact: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    loose: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    served: set[int] = field(default_factory=set)
    # recorded random value -> this run's: kept for the whole replay, so the answer to a later request that
    # matched exactly (GET /responses/{id} of a load request) carries this run's nonce too
    swaps: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for i, ex in enumerate(self.exchanges):
            req = ex["request"]
            self.exact.setdefault((req["method"], req["path"], req["body_sha256"]), []).append(i)
            text = (recorded_body(req) or b"").decode("utf-8", "replace")
            self.loose.setdefault((req["method"], normalize(req["path"]), normalize(text)), []).append(i)

    def match(self, method: str, path: str, body: bytes, test: str | None) -> tuple[dict[str, Any], dict[str, str]]:
        """The recorded exchange for this request and the values to swap in its answer; KeyError if none."""
        with self.lock:
            found = self._pick(self.exact.get((method, path, hashlib.sha256(body).hexdigest()), []), test)
            if found is not None:
                return self.exchanges[found], dict(self.swaps)
            text = body.decode("utf-8", "replace")
            found = self._pick(self.loose.get((method, normalize(path), normalize(text)), []), test)
            if found is None:
                raise KeyError(method, path)
            ex = self.exchanges[found]
            old = RANDOM_TOKENS.findall(ex["request"]["path"] + "\n" + (ex["request"].get("body") or ""))
            new = RANDOM_TOKENS.findall(path + "\n" + text)
            self.swaps.update({o: n for o, n in zip(old, new, strict=False) if o != n})
            return ex, dict(self.swaps)

    def _pick(self, candidates: list[int], test: str | None) -> int | None:
        if not candidates:
            return None
        mine = [i for i in candidates if self.exchanges[i].get("test") == test] if test else []
        for group in (mine, candidates):
            fresh = [i for i in group if i not in self.served]
            if fresh:
                self.served.add(fresh[0])
                return fresh[0]
        return (mine or candidates)[-1]


class ReplayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, recording: Recording, host: str = "127.0.0.1", port: int = 0) -> None:
        self.recording = recording
        self.matcher = Matcher(recording.exchanges)
        self.stopping = threading.Event()
        self.final_state = recording.final_state()
        super().__init__((host, port), _Handler)

    def stop_listening(self) -> None:
        """As the recorded server did when it refused a connection: later connections are refused too."""
        def stop() -> None:  # not on a handler's thread's behalf: shutdown() waits for the serving loop
            self.shutdown()
            self.server_close()
        threading.Thread(target=stop, daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | OSError):
            return  # a client that hung up: what a recorded stall or break is for
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers, then each chunk, go out at once (else ~40 ms per keep-alive answer)
    server: ReplayHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        test = unquote(self.headers.get(TEST_HEADER, "")) or None
        try:
            ex, swaps = self.server.matcher.match(self.command, self.path, body, test)
        except KeyError:
            if self.server.final_state == "hung":  # the server had hung by the end of the recording: a request
                self._hold()  # it lacks gets what every request got then, no answer
                self._break()
                return
            if self.server.final_state == "dead":  # a request the suite did not send once the server was gone
                self._break()  # gets no answer (the port stays open: recorded answers may still be due)
                return
            self._not_recorded(body)
            return
        bearer = (self.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if bearer:
            swaps = {**swaps, REDACTED: bearer}
        self._replay(ex, swaps)

    def _not_recorded(self, body: bytes) -> None:
        message = (f"not recorded: the recording holds no exchange for {self.command} {self.path} with this body "
                   f"(sha256 {hashlib.sha256(body).hexdigest()[:16]})")
        data = json.dumps({"error": {"message": message, "type": "not_recorded", "code": None}}).encode()
        self.send_response_only(NOT_RECORDED_STATUS, "Not Recorded")
        self.send_header("Content-Type", "application/json")
        self.send_header(REPLAY_HEADER, "not-recorded")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _replay(self, ex: dict[str, Any], swaps: dict[str, str]) -> None:
        response, error = ex.get("response"), ex.get("error") or {}
        if response is None:  # no answer was recorded: wait out the client, or break the connection
            if error.get("kind") == "timeout":
                self._hold()
            elif error.get("kind") == "connect":
                self.server.stop_listening()
            self._break()
            return
        end = response.get("end") or "complete"
        timed = end != "complete"  # only an end the clock or the client decided needs the recorded timing
        shift = int(time.time() - ex.get("started_unix", time.time())) if ex.get("started_unix") else 0
        chunks = [(c.get("ms", 0.0), _chunk_bytes(c)) for c in response.get("chunks") or []]
        chunks = [(ms, _rewrite(data, swaps, shift, ex.get("started_unix"))) for ms, data in chunks]
        headers = [(k, v) for k, v in response.get("headers") or [] if k.lower() not in HOP_HEADERS]
        recorded = {k.lower(): v for k, v in response.get("headers") or []}
        chunked = "chunked" in recorded.get("transfer-encoding", "").lower()
        total = sum(len(d) for _, d in chunks)
        started = time.monotonic()
        if timed:
            _sleep_until(started, response.get("headers_ms", 0.0), self.server.stopping)
        status = int(response["status"])
        self.send_response_only(status, _phrase(status))
        for k, v in headers:
            self.send_header(k, v)
        self.send_header(RECORDED_HEADER, ex["name"])
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" in recorded:
            delta = total - response.get("bytes", total)  # a swap changed the length: keep any recorded mismatch
            self.send_header("Content-Length", str(int(recorded["content-length"]) + delta))
        elif self.command != "HEAD" and status not in (204, 304):
            self.send_header("Connection", "close")  # a body that ends when the connection does
            self.close_connection = True
        self.end_headers()
        try:
            for ms, data in chunks:
                if timed:
                    _sleep_until(started, ms, self.server.stopping)
                if chunked:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                else:
                    self.wfile.write(data)
                self.wfile.flush()
            if end == "complete":
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            if end in ("timeout", "abandoned", "open"):
                self._hold()
            self._break()
        except OSError:
            self.close_connection = True

    def _hold(self) -> None:
        """Send nothing more until the client hangs up (its timeout or its own choice)."""
        sock = self.connection
        limit = time.monotonic() + HOLD_LIMIT
        while time.monotonic() < limit and not self.server.stopping.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.2)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    return
            except OSError:
                return

    def _break(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _chunk_bytes(chunk: dict[str, Any]) -> bytes:
    if chunk.get("base64") is not None:
        return base64.b64decode(chunk["base64"])
    return str(chunk.get("text", "")).encode("utf-8")


def _rewrite(data: bytes, swaps: dict[str, str], shift: int, recorded_at: float | None) -> bytes:
    for old, new in swaps.items():
        data = data.replace(old.encode(), new.encode())
    if shift and recorded_at:
        def moved(m: re.Match[bytes]) -> bytes:
            value = int(m[2])
            return m[1] + str(value + shift).encode() if abs(value - recorded_at) < DAY else m[0]

        data = TIMESTAMP.sub(moved, data)
    return data


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _sleep_until(started: float, ms: float, stopping: threading.Event) -> None:
    wait = started + ms / 1000 - time.monotonic()
    if wait > 0:
        stopping.wait(wait)


class ReplayServer(Server):
    """A recording served on a free loopback port of this process; its handle names the recorded server."""

    def __init__(self, path: str | Path, model: str | None = None, api_key: str | None = None) -> None:
        self.recording = open_recording(path)
        manifest = self.recording.manifest
        recorded = manifest.get("server") or {}
        self._server = ReplayHTTPServer(self.recording)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay", daemon=True)
        self._thread.start()
        base = urlsplit(str(recorded.get("url") or "http://127.0.0.1/v1")).path.rstrip("/")
        host, port = self._server.server_address[:2]
        if not api_key and manifest.get("api_key"):
            api_key = "rc-replay-key-0000"  # a key was sent: send one, so the same tests (and checks) run
        info = {"server": "replay of a recording", "replay": str(path), "recorded_url": recorded.get("url"),
                "recorded_kind": recorded.get("kind"), "image": recorded.get("image"),
                "image_id": recorded.get("image_id"), "version": recorded.get("version"),
                "recorded_suite": manifest.get("suite"), "recorded_started": manifest.get("started")}
        self.handle = ServerHandle(url=f"http://{host}:{port}{base}", model=model or recorded.get("model") or "",
                                   api_key=api_key, kind="replay", info={k: v for k, v in info.items() if v})

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
