"""What a client library read is kept as the live test's evidence (CLIENT-*-002): the head and the
tail of every body, streams included, decoded when compressed, bounded however long the answer.
A run of openai-agents on llama.cpp once ended with "Model did not produce a final response!" and
nothing in the report said whether response.completed had been sent: the stream's end must be there."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import Callable, Iterator

import pytest
from http_servers import RawServer, chunk, chunked_head, event, fresh_liveness, reply, servers

from conformance.base.redact import Redactor
from conformance.suite import live_clients
from conformance.wire.http import CURRENT

COMPLETED = (b'event: response.completed\n'
             b'data: {"type": "response.completed", "secret": "sk-live-0123456789abcdefghij"}\n\n')


@pytest.fixture(autouse=True)
def _liveness() -> Iterator[None]:
    yield from fresh_liveness()


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    yield from servers()


def long_stream(conn: socket.socket) -> None:
    conn.sendall(chunked_head())
    for n in range(400):  # far more than is kept
        conn.sendall(chunk(event(n)))
    conn.sendall(chunk(COMPLETED) + b"0\r\n\r\n")


def gzipped_error(conn: socket.socket) -> None:
    body = gzip.compress(b'{"error": {"message": "bad temperature", "type": "invalid_request_error"}}')
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def _kept() -> list[str | None]:
    ev = CURRENT.get()
    assert ev is not None
    return [ex.response_body for ex in ev.exchanges]


def test_a_long_stream_read_by_the_library_keeps_its_start_and_its_end(serve, monkeypatch):
    monkeypatch.setattr(live_clients, "REDACTOR", Redactor(["sk-live-0123456789abcdefghij"]))  # the run's key
    server = serve(long_stream)
    with live_clients.sync_http(5.0) as http, \
            http.stream("POST", server.url + "/responses", json={"stream": True}) as response:
        lines = list(response.iter_lines())
    assert len(lines) > 800  # the library read all of it, unchanged
    (body,) = _kept()
    assert body is not None and len(body) < live_clients.KEEP + 200
    assert body.startswith("event: response.output_text.delta") and '"n": 0}' in body
    assert "response.completed" in body.split("bytes not kept")[1]  # the end is there
    assert "sk-live-0123456789" not in body  # redacted like every other evidence


def test_a_compressed_error_body_is_kept_decoded_even_if_the_library_never_reads_it(serve):
    server = serve(gzipped_error)
    with live_clients.sync_http(5.0) as http:
        response = http.post(server.url + "/responses", json={})  # read by the hook, not by the caller
    assert response.status_code == 400
    assert _kept() == ['{"error": {"message": "bad temperature", "type": "invalid_request_error"}}']


def test_the_async_client_the_agents_library_uses_keeps_the_stream_too(serve):
    server = serve(long_stream)

    async def read() -> int:
        client = live_clients.async_openai(server.url, None, 5.0)
        async with client._client.stream("POST", server.url + "/responses", json={"stream": True}) as response:
            return len([line async for line in response.aiter_lines()])

    assert asyncio.run(read()) > 800
    (body,) = _kept()
    assert body is not None and "response.completed" in body.split("bytes not kept")[1]


def test_a_short_answer_is_kept_whole(serve):
    server = serve(lambda conn: conn.sendall(reply("200 OK", "application/json", b'{"id": "resp_1"}')))
    with live_clients.sync_http(5.0) as http:
        assert http.post(server.url + "/responses", json={}).json() == {"id": "resp_1"}
    assert _kept() == ['{"id": "resp_1"}']


def test_a_compressed_stream_keeps_its_real_end(serve):
    """One gzip chunk that decodes to far more than is kept: its end must still be the body's end."""
    body = b"".join(event(n) for n in range(2000)) + COMPLETED
    packed = gzip.compress(body)

    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(packed) + packed)

    server = serve(handler)
    with live_clients.sync_http(5.0) as http:
        assert http.post(server.url + "/responses", json={}).content == body
    (kept,) = _kept()
    assert kept is not None and kept.endswith(COMPLETED.decode()), kept[-200:]
