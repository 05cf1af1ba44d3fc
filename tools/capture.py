"""Capture what a client sends to a Responses server, and package captures as suite data.

    python -m tools.capture proxy --upstream http://127.0.0.1:8000/v1 --client my-client --label plain \\
        --out captured [--port 8300]
    python -m tools.capture package ../shared/clients/captured conformance/suite/clients

`proxy` is a recording proxy on 127.0.0.1 only: point the client at http://127.0.0.1:PORT/v1; every
request is forwarded to the upstream server as it is (streams pass through as they arrive), and each
POST /v1/responses is written to `OUT/<client>/NN-<label>.json` (client, label, method, path,
request_headers with the credentials redacted, request, status, response_content_type, and response
or response_sse: each event's name and parsed data).  Change `--label` between the steps you capture.

copies each `<client>/NN-<step>.json` capture (the format of ../shared/clients/captured: client,
label, method, path, request_headers, request, status, response_content_type, response or
response_sse) into the suite's package data, trimmed to what a replay needs: the request body as
sent, the user agent, the status, and of the reply only the final response object's id and output
(or the error), so ids the client handed back can be matched to the server's on a replay.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from conformance.judge.replay import final_of_capture
from conformance.wire.sse import SSEParser

SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "cookie", "proxy-authorization", "openai-organization",
                  "openai-project"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length",
              "accept-encoding"}

KEPT_HEADERS = ("user-agent", "originator")


def trim(capture: dict[str, Any]) -> dict[str, Any]:
    """The parts of one capture a replay reads."""
    final = final_of_capture(capture)
    reply: Any = None
    if isinstance(final, dict) and "output" in final:
        reply = {"id": final.get("id"), "status": final.get("status"), "output": final.get("output")}
    elif isinstance(capture.get("response"), dict):
        reply = capture["response"]  # an error body
    return {
        "client": capture.get("client"), "label": capture.get("label"), "method": capture.get("method", "POST"),
        "path": capture.get("path", "/v1/responses"),
        "request_headers": {k: v for k, v in (capture.get("request_headers") or {}).items() if k in KEPT_HEADERS},
        "request": capture.get("request"), "status": capture.get("status"),
        "response_content_type": capture.get("response_content_type"), "response": reply,
    }


def package(src: Path, dest: Path) -> int:
    n = 0
    for path in sorted(src.glob("*/*.json")):
        out = dest / path.parent.name / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(trim(json.loads(path.read_text())), indent=1, ensure_ascii=False) + "\n")
        n += 1
    return n


def redacted(headers: Any) -> dict[str, str]:
    return {k.lower(): "<redacted>" if k.lower() in SECRET_HEADERS else v for k, v in headers.items()}


class Recorder:
    """Numbers and writes the captures of one client under OUT/<client>/."""

    def __init__(self, out: Path, client: str, label: str) -> None:
        self.folder = out / client
        self.folder.mkdir(parents=True, exist_ok=True)
        self.client, self.label = client, label
        taken = [int(m.group(1)) for p in self.folder.glob("*.json") if (m := re.match(r"(\d+)-", p.name))]
        self.counter = itertools.count(max(taken, default=0) + 1)
        self.lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> Path:
        with self.lock:
            path = self.folder / f"{next(self.counter):02d}-{re.sub(r'[^A-Za-z0-9._-]+', '-', self.label)}.json"
            path.write_text(json.dumps({"client": self.client, "label": self.label, **record}, indent=1,
                                       ensure_ascii=False) + "\n")
        return path


def make_proxy(upstream: str, recorder: Recorder, port: int = 0) -> ThreadingHTTPServer:
    """A recording proxy on 127.0.0.1 (never another interface) forwarding to `upstream` (ending in /v1)."""
    base = upstream.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    http = httpx.Client(timeout=httpx.Timeout(600, connect=10))

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            request = http.build_request(self.command, base + self.path, headers=headers, content=body)
            record_it = self.command == "POST" and self.path.split("?")[0].rstrip("/") == "/v1/responses"
            try:
                upstream_reply = http.send(request, stream=True)
            except httpx.HTTPError as exc:
                self.send_error(502, f"upstream unreachable: {exc}")
                return
            ctype = upstream_reply.headers.get("content-type", "")
            self.send_response(upstream_reply.status_code)
            for k, v in upstream_reply.headers.items():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding":
                    self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            raw = bytearray()
            parser = SSEParser()
            events: list[dict[str, Any]] = []
            try:
                for chunk in upstream_reply.iter_bytes():
                    raw += chunk
                    if "text/event-stream" in ctype:
                        events += [_event(ev) for ev in parser.feed(chunk)]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            finally:
                upstream_reply.close()
            if not record_it:
                return
            try:
                sent: Any = json.loads(body)
            except ValueError:
                sent = body.decode("utf-8", "replace")
            reply: dict[str, Any] = {"status": upstream_reply.status_code, "response_content_type": ctype}
            if "text/event-stream" in ctype:
                reply["response_sse"] = events + [_event(ev) for ev in parser.close()]
            else:
                try:
                    reply["response"] = json.loads(raw)
                except ValueError:
                    reply["response"] = raw.decode("utf-8", "replace")
            path = recorder.write({"method": self.command, "path": self.path,
                                   "request_headers": redacted(self.headers), "request": sent, **reply})
            print(f"captured {path}", flush=True)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _forward

    server = ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    server.daemon_threads = True
    return server


def _event(ev: Any) -> dict[str, Any]:
    try:
        data: Any = json.loads(ev.data)
    except ValueError:
        data = ev.data
    return {"event": ev.event, "data": data}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.capture", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pack = sub.add_parser("package", help="copy captures into the suite's package data, trimmed")
    pack.add_argument("src", type=Path)
    pack.add_argument("dest", type=Path)
    proxy = sub.add_parser("proxy", help="a recording proxy on 127.0.0.1 in front of a Responses server")
    proxy.add_argument("--upstream", required=True, help="the server's base URL, ending in /v1")
    proxy.add_argument("--client", required=True, help="the client's name: the folder its captures go to")
    proxy.add_argument("--label", default="capture", help="the step being captured (in the file names)")
    proxy.add_argument("--out", type=Path, default=Path("captured"))
    proxy.add_argument("--port", type=int, default=8300)
    args = parser.parse_args(argv)
    if args.command == "proxy":
        server = make_proxy(args.upstream, Recorder(args.out, args.client, args.label), args.port)
        print(f"recording proxy on http://127.0.0.1:{server.server_address[1]}/v1 -> {args.upstream}; "
              f"captures in {args.out / args.client}/ (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
        return 0
    if args.command == "package":
        print(f"{package(args.src, args.dest)} captures written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
