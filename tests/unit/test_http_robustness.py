"""The HTTP layer against servers that misbehave on the wire: every case ends in a clear failure
or a recorded stream error within its time bound, never a hang, a traceback or unbounded memory.

Each server here is a raw socket that answers (or does not) byte by byte as the case needs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
from http_servers import RawServer, chunk, chunked_head, client, event, fresh_liveness, reply, servers

from conformance.judge.checks import ConformanceFailure
from conformance.wire.http import MAX_BODY, ApiClient


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    yield from fresh_liveness()


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    yield from servers()

# -- garbage bodies -----------------------------------------------------------------------------


def test_non_json_body_is_a_clear_failure(serve):
    srv = serve(lambda c: c.sendall(reply("200 OK", "application/json", b"{'id': 'resp_1', 'ok': True}")))
    r = client(srv).post("responses", {"model": "m"})
    with pytest.raises(ConformanceFailure) as info:
        r.json_object("the body")
    text = str(info.value)
    assert "is not JSON" in text and "HTTP 200" in text and "{'id'" in text


def test_html_error_page_is_a_status_not_an_exception(serve):
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    srv = serve(lambda c: c.sendall(reply("502 Bad Gateway", "text/html", page)))
    r = client(srv).post("responses", {"model": "m"})
    assert r.status == 502 and r.content_type == "text/html"
    with pytest.raises(ConformanceFailure, match="not JSON"):
        r.json()


def test_huge_body_is_capped(serve):
    def huge(c: socket.socket) -> None:
        size = MAX_BODY * 3
        c.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode())
        block = b" " * 65536
        for _ in range(size // len(block)):
            c.sendall(block)

    srv = serve(huge)
    r = client(srv, timeout=5).post("responses", {"model": "m"})
    assert r.truncated and len(r.body) <= MAX_BODY + 65536 * 2
    with pytest.raises(ConformanceFailure, match="larger than"):
        r.json()


def test_huge_error_body_of_a_stream_request_is_capped(serve):
    def huge(c: socket.socket) -> None:
        size = MAX_BODY * 3
        c.sendall(f"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode())
        block = b"x" * 65536
        for _ in range(size // len(block)):
            c.sendall(block)

    srv = serve(huge)
    r = client(srv, timeout=5).stream("responses", {"model": "m"})
    assert r.status == 500 and len(r.raw) <= MAX_BODY and "larger than" in (r.error or "")


def test_body_trickling_past_the_total_deadline_fails(serve):
    def trickle(c: socket.socket) -> None:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            c.sendall(b" ")
            time.sleep(0.1)

    srv = serve(trickle)
    started = time.monotonic()
    with pytest.raises(ConformanceFailure, match="still arriving"):
        client(srv, timeout=1.0).post("responses", {"model": "m"})
    assert time.monotonic() - started < 3


# -- streams ------------------------------------------------------------------------------------


def test_stalled_stream_is_reported_within_the_read_timeout(serve):
    def stall(c: socket.socket) -> None:
        c.sendall(chunked_head() + b"".join(chunk(event(i)) for i in range(3)))
        time.sleep(5)

    srv = serve(stall)
    started = time.monotonic()
    r = client(srv, timeout=1.0).stream("responses", {"model": "m"})
    assert time.monotonic() - started < 3
    assert r.error and r.error.startswith("stream stalled after 3 events"), r.error
    assert len(r.events) == 3


def test_connection_dropped_mid_event(serve):
    def drop(c: socket.socket) -> None:
        c.sendall(chunked_head() + chunk(event(0)) + chunk(event(1)[:20]))
        c.shutdown(socket.SHUT_RDWR)

    srv = serve(drop)
    r = client(srv).stream("responses", {"model": "m"})
    assert r.error and r.error.startswith("stream broke after 1 events"), r.error


def test_clean_close_mid_event_is_a_partial_event(serve):
    srv = serve(lambda c: c.sendall(chunked_head() + chunk(event(0)) + chunk(event(1)[:20]) + b"0\r\n\r\n"))
    r = client(srv).stream("responses", {"model": "m"})
    assert r.error is None and r.partial_event_at_end and len(r.events) == 1


def test_invalid_utf8_in_a_stream_is_kept_as_bytes_not_raised(serve):
    bad = b'event: response.output_text.delta\ndata: {"delta": "\xf0\x9fHi"}\n\n'
    srv = serve(lambda c: c.sendall(chunked_head() + chunk(bad) + b"0\r\n\r\n"))
    r = client(srv).stream("responses", {"model": "m"})
    assert len(r.events) == 1 and r.error is None
    with pytest.raises(UnicodeDecodeError):
        r.raw.decode("utf-8")


# -- no answer ----------------------------------------------------------------------------------


def test_refused_connection_is_a_clear_failure():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    api = ApiClient(f"http://127.0.0.1:{port}/v1", None, timeout=1.0)
    with pytest.raises(ConformanceFailure) as info:
        api.get("models")
    assert "refused" in str(info.value) or "connection failed" in str(info.value)


def test_server_that_never_answers_fails_within_the_timeout(serve):
    srv = serve(lambda c: time.sleep(5))
    started = time.monotonic()
    with pytest.raises(ConformanceFailure, match="no response byte"):
        client(srv, timeout=1.0).get("models")
    assert time.monotonic() - started < 3
