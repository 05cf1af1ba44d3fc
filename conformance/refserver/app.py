"""The reference server's HTTP side (standard library only, so it runs in a bare container).

Routes: POST /v1/responses (JSON or SSE), GET/DELETE /v1/responses/{id},
GET /v1/responses/{id}/input_items, POST /v1/responses/{id}/cancel, GET /v1/models,
GET /health, GET /version.

`compress=True` (`--gzip`) gzips every reply whose request accepts gzip, streams included (flushed per
event, as nginx `gzip on` with `gzip_types text/event-stream` does): valid HTTP that a correct client
decodes, so the suite must score exactly what it scores without it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import threading
import time
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conformance.refserver import defects as defect_registry
from conformance.refserver import engine, events, validate
from conformance.refserver.engine import ApiError

VERSION = "responses-conformance-refserver 0.1.0"


@dataclass
class Ctx:
    """What a defect hook can see about the request being served."""

    server: RefServer
    method: str
    path: str
    body: Any = None
    stream: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    handler: Any = None  # the connection's handler: headers, and closing it (robustness defects)


class RefServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, host: str = "127.0.0.1", port: int = 0, defect: str | None = None,
                 api_key: str | None = None, quiet: bool = True, compress: bool = False,
                 latency: float = 0.0, serial: bool = False, max_in_flight: int = 0) -> None:
        self.defect = defect_registry.get(defect)
        self.compress = compress
        # a model's time per POST /v1/responses: concurrent requests wait together (a batching server),
        # or one after another with `serial` (a server that generates for one request at a time)
        self.latency = max(0.0, latency)
        self.serial = serial
        self.generating = threading.Lock()
        # a rate limit, as gateways set one: a create past this many in flight gets 429 (0: no limit); a
        # correct server may do this, the suite must not fail it for it
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.api_key = api_key
        self.quiet = quiet
        self.lock = threading.Lock()
        self.responses: dict[str, dict[str, Any]] = {}
        self.input_items: dict[str, list[dict[str, Any]]] = {}
        self.chains: dict[str, list[dict[str, Any]]] = {}  # id -> context items (inputs + outputs)
        self.started = time.time()
        super().__init__((host, port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up (a timeout, a stream it stopped reading) is not a server error:
        # no traceback on the console of the run that embeds this server
        if self.quiet and isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def hook(self, stage: str, ctx: Ctx, value: Any, *args: Any) -> Any:
        if self.defect is not None and stage in self.defect.hooks:
            return self.defect.hooks[stage](ctx, value, *args)
        return value

    # -- the Responses API ---------------------------------------------------------------------

    def create(self, ctx: Ctx, body: Any) -> dict[str, Any]:
        body = self.hook("request", ctx, body)
        req = validate.validate_request(body)
        ctx.stream = bool(req.get("stream"))
        resp_id = engine.new_id("resp")
        context = engine.Context()
        carried: list[dict[str, Any]] = []
        prev = req.get("previous_response_id")
        if prev is not None:
            with self.lock:
                chain = self.chains.get(prev)
            if chain is None:
                raise ApiError(400, f"Previous response with id '{prev}' not found.",
                               "previous_response_id", "previous_response_not_found")
            for i, item in enumerate(chain):
                self._read(ctx, context, item, f"previous[{i}]", replay=True)
            carried = list(chain)
        instructions = req.get("instructions")
        if isinstance(instructions, str):
            context.add("system", instructions)
        elif isinstance(instructions, list):
            for i, item in enumerate(instructions):
                self._read(ctx, context, item, f"instructions[{i}]")
        raw_input = req.get("input")
        items = [{"type": "message", "role": "user", "content": raw_input}] if isinstance(raw_input, str) \
            else list(raw_input or [])
        items = [self._resolve_reference(item, f"input[{i}]") for i, item in enumerate(items)]
        self._check_calls(items, context)
        for i, item in enumerate(items):
            self._read(ctx, context, item, f"input[{i}]")
        plan = self.hook("plan", ctx, engine.make_plan(req, context))
        output, usage = engine.build_output(plan, req, req.get("max_output_tokens"))
        resp = engine.response_skeleton(req, resp_id)
        engine.finish(resp, output, usage, context.n_tokens)
        resp = self.hook("response", ctx, resp)
        if req.get("store") is not False:
            stored = self.hook("store", ctx, copy.deepcopy(resp))
            if stored is not None:
                with self.lock:
                    self.responses[resp_id] = stored
                    self.input_items[resp_id] = [_as_resource(it) for it in items]
                    self.chains[resp_id] = carried + items + copy.deepcopy(resp.get("output", []))
        return resp

    def _read(self, ctx: Ctx, context: engine.Context, item: dict[str, Any], where: str,
              replay: bool = False) -> None:
        item = self.hook("context", ctx, item, where)
        if item is not None:
            engine.read_item(context, item, where, replay=replay)

    def _resolve_reference(self, item: dict[str, Any], where: str) -> dict[str, Any]:
        if item.get("type") != "item_reference":
            return item
        with self.lock:
            for chain in self.chains.values():
                for known in chain:
                    if known.get("id") == item["id"]:
                        return known
        raise ApiError(400, f"Item with id '{item['id']}' not found.", f"{where}.id", "item_not_found")

    @staticmethod
    def _check_calls(items: list[dict[str, Any]], context: engine.Context) -> None:
        """A function_call_output must answer a call the conversation holds."""
        known = set(context.calls)
        for i, item in enumerate(items):
            if item.get("type") == "function_call":
                known.add(item.get("call_id"))
            elif item.get("type") == "function_call_output" and item.get("call_id") not in known:
                raise ApiError(400, f"No tool call found for function call output with call_id "
                               f"'{item.get('call_id')}'.", f"input[{i}].call_id", "invalid_value")

    def get_stored(self, resp_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.responses.get(resp_id)
        if found is None:
            raise ApiError(404, f"Response with id '{resp_id}' not found.", "response_id", "not_found")
        return found


def _as_resource(item: dict[str, Any]) -> dict[str, Any]:
    """An input item as GET .../input_items lists it: with an id, and message content as parts."""
    out = copy.deepcopy(item)
    kind = out.setdefault("type", "message")
    if kind == "message":
        out.setdefault("id", engine.new_id("msg"))
        if isinstance(out.get("content"), str):
            ptype = "output_text" if out.get("role") == "assistant" else "input_text"
            out["content"] = [{"type": ptype, "text": out["content"]}]
        if out.get("role") == "assistant":
            for part in out["content"]:
                if part.get("type") == "output_text":
                    part.setdefault("annotations", [])
                    part.setdefault("logprobs", [])
        out.setdefault("status", "completed")
    elif kind == "function_call_output":
        out.setdefault("id", engine.new_id("fco"))
        out.setdefault("status", "completed")
    elif kind == "function_call":
        out.setdefault("id", engine.new_id("fc"))
        out.setdefault("status", "completed")
    elif kind == "reasoning":
        out.setdefault("id", engine.new_id("rs"))
        out.setdefault("summary", [])
    return out


class Handler(BaseHTTPRequestHandler):
    server: RefServer
    protocol_version = "HTTP/1.1"
    server_version = "refserver/0.1"
    # TCP_NODELAY, as real servers (uvicorn) set it: with Nagle, the body written after the headers
    # waits for the client's delayed ACK, ~40 ms on every request (benchmarks/run.py)
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    # -- plumbing -------------------------------------------------------------------------------

    def _ctx(self) -> Ctx:
        return Ctx(self.server, self.command, urlsplit(self.path).path, handler=self)

    def _send(self, ctx: Ctx, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        status, headers, body = self.server.hook("reply", ctx, (status, headers, body)) \
            if self.server.defect and "reply" in self.server.defect.hooks else (status, headers, body)
        if self._gzip() and "Content-Encoding" not in headers:
            comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            body = comp.compress(body) + comp.flush()
            headers = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _gzip(self) -> bool:
        """Compress this reply: the server is a compressing one and the request accepts gzip."""
        accepted = [c.split(";")[0].strip().lower() for c in self.headers.get("Accept-Encoding", "").split(",")]
        return self.server.compress and "gzip" in accepted

    def _error(self, ctx: Ctx, err: ApiError) -> None:
        self._send(ctx, err.status, err.body)

    def _authorized(self, ctx: Ctx) -> bool:
        key = self.server.api_key
        if key is None or not ctx.path.startswith("/v1"):
            return True
        if self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self._error(ctx, ApiError(401, "Incorrect API key provided.", None, "invalid_api_key"))
        return False

    def _dispatch(self) -> None:
        ctx = self._ctx()
        try:
            override = self.server.hook("route", ctx, None, self.command, ctx.path)
            if override is not None:
                self._drain()
                self._send(ctx, override[0], override[1])
                return
            if not self._authorized(ctx):
                self._drain()
                return
            self._route(ctx)
        except ApiError as err:
            self._error(ctx, err)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bug here (or a planted crash) is a 500, as in a real server
            if not self.server.quiet:
                traceback.print_exc()
            with contextlib.suppress(OSError):
                self._error(ctx, ApiError(500, f"The server had an error processing your request ({exc}).",
                                          None, None, "server_error"))

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self, ctx: Ctx) -> None:
        path, method = ctx.path.rstrip("/"), self.command
        parts = path.split("/")
        if method == "GET" and path == "/health":
            return self._send(ctx, 200, {"status": "ok"})
        if method == "GET" and path == "/version":
            return self._send(ctx, 200, {"version": VERSION,
                                         "defect": self.server.defect.name if self.server.defect else None})
        if method == "GET" and path == "/v1/models":
            return self._send(ctx, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": int(self.server.started), "owned_by": "refserver"}
                for m in engine.MODELS]})
        if path == "/v1/responses" and method == "POST":
            return self._create(ctx)
        if len(parts) >= 4 and parts[:3] == ["", "v1", "responses"]:
            resp_id = parts[3]
            if len(parts) == 4 and method == "GET":
                return self._send(ctx, 200, self.server.get_stored(resp_id))
            if len(parts) == 4 and method == "DELETE":
                self.server.get_stored(resp_id)
                with self.server.lock:
                    self.server.responses.pop(resp_id, None)
                    self.server.input_items.pop(resp_id, None)
                    self.server.chains.pop(resp_id, None)
                return self._send(ctx, 200, {"id": resp_id, "object": "response", "deleted": True})
            if len(parts) == 5 and parts[4] == "input_items" and method == "GET":
                return self._input_items(ctx, resp_id)
            if len(parts) == 5 and parts[4] == "cancel" and method == "POST":
                self.server.get_stored(resp_id)
                raise ApiError(400, "Cannot cancel a synchronous response.", None, "invalid_request")
        self._drain()
        raise ApiError(404, f"Unknown request URL: {method} {ctx.path}.", None, "unknown_url")

    def _input_items(self, ctx: Ctx, resp_id: str) -> None:
        self.server.get_stored(resp_id)
        query = parse_qs(urlsplit(self.path).query)
        order = query.get("order", ["desc"])[0]
        try:
            limit = int(query.get("limit", ["20"])[0])
        except ValueError:
            raise ApiError(400, "Invalid 'limit': expected an integer.", "limit", "invalid_value") from None
        if not 1 <= limit <= 100 or order not in ("asc", "desc"):
            raise ApiError(400, "Invalid 'limit' or 'order'.", "limit" if order in ("asc", "desc") else "order",
                           "invalid_value")
        with self.server.lock:
            items = list(self.server.input_items.get(resp_id, []))
        if order == "desc":
            items.reverse()
        after = query.get("after", [None])[0]
        if after is not None:
            ids = [it.get("id") for it in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        page = items[:limit]
        self._send(ctx, 200, {"object": "list", "data": page, "has_more": len(items) > limit,
                              "first_id": page[0]["id"] if page else None,
                              "last_id": page[-1]["id"] if page else None})

    def _create(self, ctx: Ctx) -> None:
        raw = self._drain()
        ctype = self.headers.get("Content-Type", "")
        if "json" not in ctype.split(";")[0].lower():
            raise ApiError(400, f"Unsupported content type {ctype or '(none)'!r}: send application/json.",
                           None, "unsupported_content_type")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "We could not parse the JSON body of your request. The OpenAI API expects "
                           "a JSON payload.", None, None) from None
        ctx.body = body
        with self.server.lock:
            self.server.in_flight += 1
            limited = 0 < self.server.max_in_flight < self.server.in_flight
        try:
            if limited:
                raise ApiError(429, "Rate limit reached for requests in flight; try again later.", None,
                               "rate_limit_exceeded", "requests")
            if self.server.latency:
                with self.server.generating if self.server.serial else contextlib.nullcontext():
                    time.sleep(self.server.latency)
            resp = self.server.create(ctx, body)
            if ctx.stream:
                self._stream(ctx, resp)
            else:
                self._send(ctx, 200, self.server.hook("json_reply", ctx, resp))
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _stream(self, ctx: Ctx, resp: dict[str, Any]) -> None:
        evs = events.stream_events(resp)
        defect = self.server.defect
        if defect and defect.number_first:
            evs = self.server.hook("events", ctx, events.number(evs))
        else:
            evs = events.number(self.server.hook("events", ctx, evs))
        chunks: Iterator[bytes] = (
            f"event: {ev.get('type', 'message')}\ndata: {json.dumps(ev)}\n\n".encode() for ev in evs)
        chunks = self.server.hook("sse", ctx, chunks)
        headers = self.server.hook("stream_headers", ctx,
                                   {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"})
        comp = None
        if self._gzip():
            comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            headers = {**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            if chunk and comp is not None:  # each event decodable on arrival
                chunk = comp.compress(chunk) + comp.flush(zlib.Z_SYNC_FLUSH)
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        if comp is not None:
            tail = comp.flush()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch


def add_timing_options(add: Any, prefix: str) -> None:
    """The server's timing options, for its own command line (`--latency`) and the suite's
    (`--refserver-latency`): `add` is argparse's `add_argument` or pytest's `addoption`."""
    add(f"{prefix}latency", type=float, default=0.0, metavar="SECONDS",
        help="add this much model time to every POST /v1/responses (concurrent requests wait together, as on a "
        "batching server; benchmarks and self-tests)")
    add(f"{prefix}serial", action="store_true",
        help=f"with {prefix}latency: generate for one request at a time (requests queue)")
    add(f"{prefix}max-in-flight", type=int, default=0, metavar="N",
        help="answer 429 to a create past N in flight, as a rate-limiting gateway (0: no limit)")


def start_in_thread(port: int = 0, defect: str | None = None, api_key: str | None = None,
                    host: str = "127.0.0.1", compress: bool = False, latency: float = 0.0,
                    serial: bool = False, max_in_flight: int = 0) -> RefServer:
    """Start a server on a free loopback port (port 0) in a daemon thread; `.url` ends in /v1."""
    server = RefServer(host, port, defect=defect, api_key=api_key, compress=compress, latency=latency,
                       serial=serial, max_in_flight=max_in_flight)
    # shutdown() waits for the loop's next poll: 0.5 s by default, paid by every suite run and self-test
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="refserver",
                              daemon=True)
    thread.start()
    return server
