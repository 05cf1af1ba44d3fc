"""Raw loopback servers that misbehave byte by byte, and fixtures, for the HTTP-layer unit tests."""

from __future__ import annotations

import contextlib
import functools
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator

from conformance.wire import guard
from conformance.wire.http import CURRENT, ApiClient, Evidence

Handler = Callable[[socket.socket], None]


class RawServer:
    """A loopback TCP server; each connection is handed to `handler` on its own thread."""

    def __init__(self, handler: Handler, port: int = 0) -> None:
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                read_request(conn)
                self.handler(conn)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):  # wakes the blocked accept(); close() alone leaves it listening
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += conn.recv(65536)
    return head


def reply(status: str, ctype: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def chunked_head(ctype: str = "text/event-stream") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def event(n: int) -> bytes:
    return f'event: response.output_text.delta\ndata: {{"type": "response.output_text.delta", "n": {n}}}\n\n'.encode()


def fresh_liveness() -> Iterator[None]:
    """Each test starts with a server nobody has seen die, and no probe unless it sets one; the
    process-wide record is restored afterwards (use as an autouse fixture)."""
    live = guard.LIVENESS
    saved = (live.base_url, live.model, live.api_key, live.threshold, live.stall_timeout)
    live.reset()
    live.base_url = live.model = live.api_key = None
    token = CURRENT.set(Evidence("unit"))
    yield
    CURRENT.reset(token)
    live.reset()
    live.base_url, live.model, live.api_key, live.threshold, live.stall_timeout = saved


def servers() -> Iterator[Callable[..., RawServer]]:
    """Start raw servers (`start(handler, port=0)`); all are closed afterwards (use as a fixture)."""
    servers: list[RawServer] = []

    def start(handler: Handler, port: int = 0) -> RawServer:
        servers.append(RawServer(handler, port))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def client(server: RawServer, timeout: float = 1.0) -> ApiClient:
    return ApiClient(server.url, None, timeout=timeout, connect_timeout=1.0)


# -- hostile servers: trickles, compression, bombs (tests/unit/test_hostile_servers.py) -----------


def trickle(data: bytes, every: float) -> Handler:
    """Send `data` one byte every `every` seconds (headers included: the whole answer trickles)."""
    def handler(conn: socket.socket) -> None:
        for i in range(len(data)):
            conn.sendall(data[i:i + 1])
            time.sleep(every)
    return handler


def endless_headers(every: float) -> Handler:
    """A status line, then one header byte every `every` seconds, forever."""
    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while True:
            conn.sendall(b"X")
            time.sleep(every)
    return handler


def endless_body(every: float, ctype: str = "application/json") -> Handler:
    """Headers at once, then one body byte every `every` seconds, forever."""
    def handler(conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: 100000000\r\n\r\n".encode())
        while True:
            conn.sendall(b" ")
            time.sleep(every)
    return handler


def encoded_reply(body: bytes, coding: str = "gzip", status: str = "200 OK",
                  ctype: str = "application/json") -> bytes:
    """An answer with its body compressed (`gzip`, `deflate` zlib-wrapped, `raw-deflate` as some servers send)."""
    if coding == "gzip":
        data = gzip.compress(body)
    elif coding == "deflate":
        data = zlib.compress(body)
    else:
        obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        data, coding = obj.compress(body) + obj.flush(), "deflate"
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Encoding: {coding}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode() + data


@functools.cache
def gzip_bomb(megabytes: int = 1024) -> bytes:
    """`megabytes` MB of spaces, gzip-compressed (1 GB -> ~1 MB): cached, it takes a second to build."""
    obj = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1024 * 1024)
    parts = [obj.compress(b"{" + b" " * (1024 * 1024 - 1))]
    parts += [obj.compress(block) for _ in range(megabytes - 1)]
    return b"".join(parts) + obj.compress(b"}") + obj.flush()
