"""The guards: a dead or hung server makes the rest fail fast with one stated cause; streams that
keep stalling get a shorter allowance; SDK errors become the failure shape; secrets never reach a
report; malformed options are one clear sentence."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import httpx
import pytest
from http_servers import RawServer, chunk, chunked_head, event, fresh_liveness, reply, servers

from conformance.base.redact import REDACTED, Redactor
from conformance.judge.checks import ConformanceFailure
from conformance.plugin import hygiene
from conformance.plugin.options import option_problem
from conformance.wire import guard
from conformance.wire.diagnose import server_caused
from conformance.wire.http import ApiClient, Exchange


def ok(c: socket.socket) -> None:
    c.sendall(reply("200 OK", "application/json", b'{"object": "list", "data": []}'))


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    yield from fresh_liveness()


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    yield from servers()

# -- a dead server ------------------------------------------------------------------------------


def test_a_server_that_died_fails_the_rest_at_once(serve):
    srv = serve(ok)
    api = ApiClient(srv.url, None, timeout=2.0)
    token = guard.CURRENT_TEST.set("tests/conformance/test_x.py::test_dies")
    try:
        assert api.get("models").status == 200
        srv.close()
        with pytest.raises(ConformanceFailure, match=r"server stopped responding at tests/conformance/test_x\.py"):
            api.get("models")
    finally:
        guard.CURRENT_TEST.reset(token)
    assert guard.LIVENESS.dead and "connection refused" in guard.LIVENESS.dead
    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(ConformanceFailure, match=r"server stopped responding at tests/conformance/test_x\.py"):
            api.post("responses", {"model": "m"})
    assert time.monotonic() - started < 2


def test_a_restarted_server_is_tested_again(serve):
    srv = serve(ok)
    api = ApiClient(srv.url, None, timeout=2.0)
    srv.close()
    with pytest.raises(ConformanceFailure):
        api.get("models")
    assert guard.LIVENESS.dead
    try:
        serve(ok, port=srv.port)
    except OSError:
        pytest.skip("the port was taken meanwhile")
    assert api.get("models").status == 200
    assert guard.LIVENESS.dead is None


def test_a_hung_server_costs_a_few_timeouts_then_fails_fast(serve):
    srv = serve(lambda c: time.sleep(10))
    guard.LIVENESS.configure(srv.url, "m", None)  # the probe (a trivial create) hangs too
    api = ApiClient(srv.url, None, timeout=0.5)
    started = time.monotonic()
    for _ in range(guard.LIVENESS.threshold):
        with pytest.raises(ConformanceFailure, match="no response byte"):
            api.get("models")
    assert guard.LIVENESS.dead and "in a row got no answer" in guard.LIVENESS.dead
    for _ in range(30):
        with pytest.raises(ConformanceFailure, match="server stopped responding"):
            api.post("responses", {"model": "m"})
    assert time.monotonic() - started < 5  # 3 timeouts + 1 probe, then instant


def test_a_server_hanging_only_on_some_requests_keeps_being_tested(serve):
    def some(c: socket.socket) -> None:
        ok(c)

    probe_ok = serve(some)
    hung = serve(lambda c: time.sleep(10))
    guard.LIVENESS.configure(probe_ok.url, "m", None)  # the probe goes to a server that answers
    api = ApiClient(hung.url, None, timeout=0.5)
    for _ in range(guard.LIVENESS.threshold + 1):
        with pytest.raises(ConformanceFailure, match="no response byte"):
            api.get("models")
    assert guard.LIVENESS.dead is None


def test_streams_that_keep_stalling_get_a_shorter_allowance(serve):
    def stall(c: socket.socket) -> None:
        c.sendall(chunked_head() + chunk(event(0)))
        time.sleep(10)

    srv = serve(stall)
    guard.LIVENESS.stall_timeout = 0.3
    # 2 s against 0.3 s: a margin wide enough for a loaded CI machine (-n 2 beside a model server)
    api = ApiClient(srv.url, None, timeout=2.0)
    for _ in range(guard.LIVENESS.threshold):
        r = api.stream("responses", {"model": "m"})
        assert r.error.startswith("stream stalled after 1 events: no byte for 2 s")
    started = time.monotonic()
    r = api.stream("responses", {"model": "m"})
    assert time.monotonic() - started < 1.5
    assert "shortened" in r.error
    assert guard.LIVENESS.dead is None  # a stalling server is not a dead one


def test_the_transport_caps_bodies_for_the_sdk(serve):
    def big(c: socket.socket) -> None:
        body = b"[" + b" " * 300_000 + b"]"
        c.sendall(reply("200 OK", "application/json", body))

    srv = serve(big)
    with httpx.Client(transport=guard.GuardedTransport(max_body=100_000), timeout=2) as client, \
            pytest.raises(guard.BodyTooLarge):
        client.get(srv.url + "/models")


def test_the_transport_ends_a_trickling_body_at_its_deadline(serve):
    def trickle(c: socket.socket) -> None:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            c.sendall(b" ")
            time.sleep(0.05)

    srv = serve(trickle)
    started = time.monotonic()
    with httpx.Client(transport=guard.GuardedTransport(deadline=0.5), timeout=2) as client, \
            pytest.raises(guard.BodyTooSlow):
        client.get(srv.url + "/models")
    assert time.monotonic() - started < 2


# -- exceptions the server caused -> the failure shape -------------------------------------------


def _request() -> httpx.Request:
    return httpx.Request("POST", "http://127.0.0.1:1/v1/responses")


def test_sdk_status_error_becomes_the_failure_shape():
    import openai

    response = httpx.Response(500, request=_request(), text='{"error": {"message": "boom"}}')
    exc = openai.InternalServerError("boom", response=response, body=None)
    text = server_caused(exc)
    assert text.startswith("at: openai SDK call POST http://127.0.0.1:1/v1/responses")
    assert "Received: HTTP 500" in text and "boom" in text and "Expected:" in text


def test_sdk_connection_error_names_its_cause():
    import openai

    try:
        try:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        except httpx.RemoteProtocolError as cause:
            raise openai.APIConnectionError(request=_request()) from cause
    except openai.APIConnectionError as exc:
        text = server_caused(exc)
    assert "Server disconnected" in text and text.startswith("at: openai SDK call")


def test_server_gone_inside_an_sdk_error_is_the_stated_cause():
    import openai

    try:
        try:
            raise guard.ServerGone("server stopped responding at t::x: connection refused", request=_request())
        except guard.ServerGone as cause:
            raise openai.APIConnectionError(request=_request()) from cause
    except openai.APIConnectionError as exc:
        assert "server stopped responding at t::x" in server_caused(exc)


def test_garbage_parse_errors_become_failures():
    import pydantic

    try:
        json.loads("{'id': 1}")
    except json.JSONDecodeError as exc:
        assert "Expected: valid JSON" in server_caused(exc)
    try:
        b"\xf0\x9fx".decode("utf-8")
    except UnicodeDecodeError as exc:
        assert "Expected: valid UTF-8" in server_caused(exc)

    class M(pydantic.BaseModel):
        id: str

    try:
        M.model_validate({"id": 3})
    except pydantic.ValidationError as exc:
        assert "SDK's types" in server_caused(exc)
    assert server_caused(KeyError("x")) is None  # our own bugs stay visible as tracebacks


# -- secrets ------------------------------------------------------------------------------------


def test_redaction_of_exceptions_and_reports():
    r = Redactor(["sk-SECRET-123456"])
    exc = ConformanceFailure("body echoed sk-SECRET-123456 back")
    exc.__cause__ = ValueError("sk-SECRET-123456 again")
    hygiene.redact_exception(exc, r.text)
    assert "sk-SECRET" not in str(exc) and "sk-SECRET" not in str(exc.__cause__)
    report = SimpleNamespace(longrepr="E  key sk-SECRET-123456", sections=[("Captured stdout", "sk-SECRET-123456")])
    hygiene.redact_report(report, r.text)
    assert "sk-SECRET" not in report.longrepr and "sk-SECRET" not in report.sections[0][1]
    skipped = SimpleNamespace(longrepr=("f.py", 3, "Skipped: sk-SECRET-123456"), sections=[])
    hygiene.redact_report(skipped, r.text)
    assert skipped.longrepr[2] == f"Skipped: {REDACTED}"


def test_curl_reads_the_key_from_the_environment():
    ex = Exchange("POST", "http://h/v1/responses", {"Authorization": REDACTED, "content-type": "application/json"},
                  '{"model": "m"}')
    curl = ex.curl()
    assert '-H "Authorization: Bearer $OPENAI_API_KEY"' in curl and REDACTED not in curl


# -- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "words"), [
    ("request_timeout", -1.0, "--request-timeout must be a positive number"),
    ("request_timeout", 0.0, "--request-timeout must be a positive number"),
    ("fuzz_examples", -3, "--fuzz-examples must be 0"),
    ("load_concurrency", 500, "--load-concurrency must be between 0"),
    ("unsupported", "store,teleportation", "unknown feature 'teleportation'"),
])
def test_malformed_options_are_one_sentence(option, value, words):
    opt = SimpleNamespace(request_timeout=60.0, fuzz_examples=25, load_concurrency=8, unsupported="")
    setattr(opt, option, value)
    problem = option_problem(opt, {"store.delete", "tools,streaming", "reasoning"})
    assert problem and words in problem and "\n" not in problem


def test_known_features_and_their_parts_are_accepted():
    opt = SimpleNamespace(request_timeout=5.0, fuzz_examples=0, load_concurrency=0, unsupported="store, streaming")
    assert option_problem(opt, {"store.delete", "tools,streaming"}) is None


def test_a_connection_closed_before_any_answer_is_retried_once(serve):
    """llama-server closes the kept-alive connection after a stream; a request that raced the close is sent
    once more on a fresh connection (RFC 9112 §9.3), and a server that drops every request still fails."""
    served = {"n": 0}

    def first_dropped(c: socket.socket) -> None:
        served["n"] += 1
        if served["n"] == 1:
            return  # the connection closes with no byte of an answer
        c.sendall(reply("200 OK", "application/json", b'{"object": "list", "data": []}'))

    api = ApiClient(serve(first_dropped).url, None, timeout=2.0)
    assert api.get("models").status == 200 and served["n"] == 2

    always = serve(lambda c: None)
    api = ApiClient(always.url, None, timeout=2.0)
    with pytest.raises(ConformanceFailure):
        api.get("models")


# -- naming the request at the change -----------------------------------------------------------


def _post(body: str) -> httpx.Request:
    return httpx.Request("POST", "http://127.0.0.1:9/v1/responses", content=body.encode())


def _in_test(name: str, step: Callable[[], None]) -> None:
    token = guard.CURRENT_TEST.set(name)
    try:
        step()
    finally:
        guard.CURRENT_TEST.reset(token)


@pytest.mark.parametrize("together", [False, True, "late-answer"],
                         ids=["one-at-a-time", "in-flight-together", "answer-from-before-the-break-comes-late"])
def test_the_change_names_every_request_in_flight_when_the_server_broke(together):
    """With requests in flight together, the first failure to come back may be an innocent one: the
    request that broke the server (sent with it) must be named too; one at a time, only the first.
    An answer the server gave before it broke may come back after the first failure (CI of 7baee0d:
    it cleared the record, and a later innocent failure was named instead of the killer)."""
    live = guard.LIVENESS
    good, killer, innocent = _post('{"n": 0}'), _post('{"temperature": 2}'), _post('{"n": 1}')
    early = _post('{"early": 1}')
    _in_test("t::good", lambda: live.outcome(good, True))
    _in_test("t::fuzz", lambda: live.begin(early))
    _in_test("t::fuzz", lambda: live.begin(killer))
    if together is True:
        _in_test("t::fuzz", lambda: live.begin(innocent))
        _in_test("t::fuzz", lambda: live.outcome(innocent, False))  # came back first
    _in_test("t::fuzz", lambda: live.outcome(killer, False))
    if together == "late-answer":
        _in_test("t::fuzz", lambda: live.outcome(early, True))  # answered before the break, read after it
        _in_test("t::fuzz", lambda: live.begin(innocent))
        _in_test("t::fuzz", lambda: live.outcome(innocent, False))
    else:
        _in_test("t::fuzz", lambda: live.outcome(early, False))
    live.end(killer)
    for i in range(6):
        _in_test(f"t::later{i % 3}", lambda i=i: live.outcome(_post(f'{{"later": {i}}}'), False))
    assert live.changed is not None
    assert '"temperature": 2' in live.changed, live.changed
    if together is True:
        assert "in flight" in live.changed and live.changed.index('"n": 1') < live.changed.index('"temperature": 2')
    else:
        assert live.changed.index("since") < live.changed.index('"temperature": 2') < live.changed.index("in flight")
    assert not live.in_flight  # every request that got an outcome left the record
