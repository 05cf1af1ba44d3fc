"""A pytest plugin that measures a conformance run from the inside (used by `benchmarks/run.py`).

    RC_BENCH_OUT=DIR python -m pytest -p benchmarks.probe ...

Each pytest process (the controller and every xdist worker) writes `DIR/<role>-<pid>.json` with:

- phase timestamps (plugin import, configure, collection, first/last test, session end);
- one record per test: wall time of its whole protocol (setup, call, teardown, reporting), outcome,
  requirement, the server time measured inside the in-process reference server (CPU and wall of
  every request handler), and the round-trip times of its evidence (`Exchange.elapsed_ms`);
- one record per HTTP request, from a counter under every httpx client (the suite's `ApiClient`,
  the `openai` SDK, the preflight): method, path, status, time spent waiting on the network, the
  request's `max_output_tokens` and the response's `usage.output_tokens`;
- schema statistics: `Schemas` loads, validator compilations per definition, validation time.

The instruments are a few clock reads per request; bodies are parsed only after the last test.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

T_IMPORT = time.time()
KEEP = 2 * 1024 * 1024  # bytes of a response body kept for usage parsing (the terminal event is at the end)

_state: dict[str, Any] = {
    "current": None,  # nodeid of the running test (the in-process server attributes its time to it)
    "tests": [],
    "requests": [],
    "server": defaultdict(lambda: {"cpu": 0.0, "wall": 0.0, "n": 0}),
    "server_bodies": [],  # (nodeid, max_output_tokens, output_tokens) seen by the in-process server
    "phases": {"import": T_IMPORT, "import_cpu": time.process_time()},
    "session_fixtures": [],  # (test that triggered it, fixture name, wall s, process CPU s)
    "schema": {"loads": 0, "compiled": Counter(), "validator_ids": defaultdict(set), "check_s": 0.0,
               "check_n": 0},
}
_lock = threading.Lock()


# -- HTTP: every request of every httpx client -------------------------------------------------


class _Record:
    __slots__ = (
        "body",
        "ctype",
        "ended",
        "kept",
        "max_tokens",
        "method",
        "n",
        "path",
        "started",
        "status",
        "stream_req",
        "test",
        "wait",
    )

    def __init__(self, request: httpx.Request) -> None:
        self.method = request.method
        self.path = request.url.path
        self.test = _state["current"]
        self.wait = 0.0
        self.status: int | None = None
        self.ctype = ""
        self.kept = bytearray()
        self.n = 0
        self.max_tokens: Any = "absent"
        self.stream_req = False
        self.body: bytes | None = None
        self.started = time.time()
        self.ended = self.started  # after the last byte (or the headers, for a body never read)
        if request.method == "POST" and self.path.endswith("/responses"):
            try:
                self.body = request.content
            except httpx.RequestNotRead:
                self.body = None

    def keep(self, chunk: bytes) -> None:
        self.n += len(chunk)
        if len(self.kept) < KEEP:
            self.kept += chunk[: KEEP - len(self.kept)]

    def as_dict(self) -> dict[str, Any]:
        max_tokens, stream_req, output_tokens = "absent", False, None
        if self.body is not None:
            try:
                req = json.loads(self.body)
                if isinstance(req, dict):
                    max_tokens = req.get("max_output_tokens", "absent")
                    stream_req = bool(req.get("stream"))
            except ValueError:
                max_tokens = "not json"
            output_tokens = _usage(bytes(self.kept), self.ctype) if self.status and self.status < 300 else None
        return {"test": self.test, "method": self.method, "path": self.path, "status": self.status,
                "wait_ms": round(self.wait * 1000, 3), "start": self.started, "end": self.ended,
                "bytes": self.n, "max_output_tokens": max_tokens,
                "stream": stream_req, "output_tokens": output_tokens, "responses_post": self.body is not None}


def _usage(body: bytes, ctype: str) -> int | None:
    """usage.output_tokens of a response object, or of the terminal event of a stream."""
    def of(obj: Any) -> int | None:
        usage = obj.get("usage") if isinstance(obj, dict) else None
        value = usage.get("output_tokens") if isinstance(usage, dict) else None
        return value if isinstance(value, int) else None

    if "event-stream" in ctype or body.lstrip()[:6] in (b"event:", b"data: ", b"data:{"):
        from conformance.wire.sse import parse_all

        found = None
        for ev in parse_all(body):
            try:
                data = json.loads(ev.data)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("response"), dict):
                found = of(data["response"]) if of(data["response"]) is not None else found
        return found
    try:
        return of(json.loads(body))
    except ValueError:
        return None


class _TimedStream(httpx.SyncByteStream):
    """Counts the time the client spends blocked waiting for the server's next bytes."""

    def __init__(self, inner: Any, record: _Record) -> None:
        self._inner = inner
        self._record = record

    def __iter__(self) -> Any:
        it = iter(self._inner)
        while True:
            t = time.perf_counter()
            try:
                chunk = next(it)
            except StopIteration:
                self._record.wait += time.perf_counter() - t
                self._record.ended = time.time()
                return
            self._record.wait += time.perf_counter() - t
            self._record.ended = time.time()
            self._record.keep(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


_orig_handle = httpx.HTTPTransport.handle_request
_installed: set[str] = set()


def _handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
    record = _Record(request)
    with _lock:
        _state["requests"].append(record)
    t = time.perf_counter()
    try:
        response = _orig_handle(self, request)
    finally:
        record.wait += time.perf_counter() - t
        record.ended = time.time()
    record.status = response.status_code
    record.ctype = response.headers.get("content-type", "")
    response.stream = _TimedStream(response.stream, record)
    return response


def _instrument_httpx() -> None:
    if "httpx" not in _installed:
        _installed.add("httpx")
        httpx.HTTPTransport.handle_request = _handle_request  # type: ignore[method-assign]


# -- the in-process reference server: time inside its request handlers -------------------------


def _instrument_evidence() -> None:
    """When each evidence exchange was recorded (just before its request is sent)."""
    if "evidence" in _installed:
        return
    _installed.add("evidence")
    from conformance.wire import http as http_layer

    orig_record = http_layer.record

    def record(ex: Any) -> Any:
        # a shared reply's exchange is recorded again by each test that reads it (responses.send_shared):
        # its round trip belongs to the test that sent it
        _started.setdefault(id(ex), (time.time(), ex))
        return orig_record(ex)

    http_layer.record = record


_started: dict[int, tuple[float, Any]] = {}  # id -> (first recorded, the exchange: keeps the id unique)


def _instrument_refserver() -> None:
    if "refserver" in _installed:
        return
    _installed.add("refserver")
    from conformance.refserver import app

    def timed(method: Any) -> Any:
        def wrapper(self: Any) -> Any:
            test = _state["current"]
            c, w = time.thread_time(), time.perf_counter()
            try:
                return method(self)
            finally:
                with _lock:
                    slot = _state["server"][test]
                    slot["cpu"] += time.thread_time() - c
                    slot["wall"] += time.perf_counter() - w
                    slot["n"] += 1
        return wrapper

    for name in ("do_GET", "do_POST", "do_DELETE", "do_PUT", "do_PATCH"):
        if hasattr(app.Handler, name):
            setattr(app.Handler, name, timed(getattr(app.Handler, name)))

    orig_create = app.RefServer.create

    def create(self: Any, ctx: Any, body: Any) -> Any:
        resp = orig_create(self, ctx, body)
        usage = resp.get("usage") if isinstance(resp, dict) else None
        wanted = body.get("max_output_tokens", "absent") if isinstance(body, dict) else "absent"
        out = usage.get("output_tokens") if isinstance(usage, dict) else None
        with _lock:
            _state["server_bodies"].append((_state["current"], wanted, out))
        return resp

    app.RefServer.create = create


# -- schemas: loads, compilations, validation time ----------------------------------------------


def _instrument_schemas() -> None:
    if "schemas" in _installed:
        return
    _installed.add("schemas")
    from conformance.judge import schema

    stats = _state["schema"]
    orig_init, orig_validator, orig_check = schema.Schemas.__init__, schema.Schemas.validator, schema.Schemas.check
    depth = threading.local()

    def init(self: Any, *a: Any, **kw: Any) -> None:
        stats["loads"] += 1
        orig_init(self, *a, **kw)

    def validator(self: Any, definition: str) -> Any:
        v = orig_validator(self, definition)
        ids = stats["validator_ids"][definition]
        if id(v) not in ids:  # a validator object we have not seen: a compilation
            ids.add(id(v))
            stats["compiled"][definition] += 1
        return v

    def check(self: Any, *a: Any, **kw: Any) -> Any:
        if getattr(depth, "n", 0):
            return orig_check(self, *a, **kw)
        depth.n = 1
        t = time.perf_counter()
        try:
            return orig_check(self, *a, **kw)
        finally:
            depth.n = 0
            stats["check_s"] += time.perf_counter() - t
            stats["check_n"] += 1

    schema.Schemas.__init__ = init
    schema.Schemas.validator = validator
    schema.Schemas.check = check


# -- pytest hooks -------------------------------------------------------------------------------


def install() -> None:
    """Every instrument (idempotent); importing this module alone changes nothing."""
    _instrument_httpx()
    _instrument_evidence()
    _instrument_refserver()
    _instrument_schemas()



@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _state["phases"]["configure"] = time.time()
    _state["role"] = "worker" if hasattr(config, "workerinput") else "controller"
    install()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # after every plugin's configure: the embedded server is up and preflight done
    _state["phases"]["sessionstart"] = time.time()


def pytest_collection_finish(session: pytest.Session) -> None:
    _state["phases"]["collected"] = time.time()
    _state["phases"]["n_collected"] = len(session.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    if "first_test" not in _state["phases"]:
        _state["phases"]["first_test"] = time.time()
        _state["phases"]["first_test_cpu"] = time.process_time()
    _state["current"] = item.nodeid
    outcome: dict[str, str] = {}
    item.stash[_OUTCOME] = outcome
    n_fixtures = len(_state["session_fixtures"])
    t, c, t_started = time.perf_counter(), time.process_time(), time.time()
    try:
        return (yield)
    finally:
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        fixtures = _state["session_fixtures"][n_fixtures:]
        _state["current"] = None
        _state["phases"]["last_test"] = time.time()
        _state["phases"]["last_test_cpu"] = time.process_time()
        marker = item.get_closest_marker("requirement")
        evidence_ms, n_ex, n_zero, spans = 0.0, 0, 0, []
        try:
            from conformance.plugin import EVIDENCE_KEY

            evidence = item.stash.get(EVIDENCE_KEY, None)
            for ex in evidence.exchanges if evidence is not None else []:
                n_ex += 1
                start = _started.get(id(ex), (0.0, None))[0]
                if start < t_started:
                    continue  # sent by an earlier test, shared
                evidence_ms += ex.elapsed_ms
                n_zero += not ex.elapsed_ms
                if ex.elapsed_ms:
                    spans.append((start, start + ex.elapsed_ms / 1000))
        except ImportError:
            pass
        _state["tests"].append({
            "nodeid": item.nodeid, "requirement": marker.args[0] if marker else None,
            "wall_ms": round(wall * 1000, 3), "cpu_ms": round(cpu * 1000, 3),
            "session_fixture_ms": round(sum(f[2] for f in fixtures) * 1000, 3),
            "session_fixture_cpu_ms": round(sum(f[3] for f in fixtures) * 1000, 3),
            "outcome": outcome.get("outcome", "passed"),
            "evidence_ms": round(evidence_ms, 3), "exchanges": n_ex,
            # concurrent requests (load tests) overlap: the time at least one was in flight
            "evidence_busy_ms": round(union(spans) * 1000, 3), "exchanges_without_time": n_zero,
        })


_OUTCOME = pytest.StashKey[dict]()


def union(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one of the (start, end) intervals."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    """One-time costs (the `openai` import in the `sdk` fixture, clients) are start-up, not per test."""
    if fixturedef.scope != "session":
        return (yield)
    t, c = time.perf_counter(), time.process_time()
    try:
        return (yield)
    finally:
        _state["session_fixtures"].append((_state["current"], fixturedef.argname, time.perf_counter() - t,
                                           time.process_time() - c))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    slot = item.stash.get(_OUTCOME, None)
    phase_says = report.when == "call" or report.outcome != "passed"
    if slot is not None and phase_says and slot.get("outcome") in (None, "passed"):
        slot["outcome"] = "skipped" if report.skipped else report.outcome
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _state["phases"]["sessionfinish"] = time.time()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    out = os.environ.get("RC_BENCH_OUT")
    if not out:
        return
    _state["phases"]["unconfigure"] = time.time()
    _state["phases"]["unconfigure_cpu"] = time.process_time()
    stats = _state["schema"]
    data = {
        "role": _state.get("role", "controller"), "pid": os.getpid(), "phases": _state["phases"],
        "tests": _state["tests"],
        "requests": [r.as_dict() for r in list(_state["requests"])],
        "server": {str(k): v for k, v in _state["server"].items()},
        "server_bodies": _state["server_bodies"],
        "session_fixtures": _state["session_fixtures"],
        "schema": {"loads": stats["loads"], "compiled": dict(stats["compiled"]),
                   "check_s": round(stats["check_s"], 4), "check_n": stats["check_n"]},
    }
    data["phases"]["probe_s"] = time.time() - _state["phases"]["unconfigure"]  # parsing bodies: ours, not the suite's
    path = Path(out) / f"{data['role']}-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
