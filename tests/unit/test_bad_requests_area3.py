"""The errors area's request data is what it claims: bad requests break the spec's CreateResponse
schema, the schema-valid ones (ERROR-008, and the base request) do not.  A request the spec allows
must never be listed as one a server has to reject.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conformance.judge.schema import Schemas
from conformance.wire.http import ApiClient

SUITE = Path(__file__).resolve().parents[2] / "conformance" / "suite"
MODEL = "gpt-5"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_area3_{name}", SUITE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


errors = _load("test_errors")
objects = _load("test_response_object")
items = _load("test_output_items")


def violations(body):
    return Schemas.load().check("CreateResponse", body)


def test_the_base_request_is_valid():
    assert violations(errors._fill(errors.body(), MODEL)) == []


@pytest.mark.parametrize("bad", errors.UNIMPLEMENTED, ids=errors.ids(errors.UNIMPLEMENTED))
def test_unimplemented_items_are_schema_valid(bad):
    assert violations(json.loads(bad.content(MODEL))) == []


@pytest.mark.parametrize("bad", errors.WRONG_TYPES + errors.UNDEFINED + errors.MISSING_FIELDS + errors.OUT_OF_RANGE,
                         ids=errors.ids(errors.WRONG_TYPES + errors.UNDEFINED + errors.MISSING_FIELDS
                                        + errors.OUT_OF_RANGE))
def test_bad_requests_break_the_schema(bad):
    found = violations(json.loads(bad.content(MODEL)))
    assert found, f"{bad.name} is valid per CreateResponse: a server may serve it"
    if bad.field:
        assert any(v.path.startswith(f"$.{bad.field}") for v in found), [str(v) for v in found]


@pytest.mark.parametrize("bad", errors.MALFORMED, ids=errors.ids(errors.MALFORMED))
def test_malformed_bodies_are_not_json_objects(bad):
    try:
        data = json.loads(bad.content(MODEL))
    except ValueError:
        return
    assert not isinstance(data, dict)


def test_echo_and_tool_requests_are_valid():
    echo = {"model": MODEL, "input": "Say hello.", "max_output_tokens": 256, **objects.ECHOED}
    assert violations(echo) == []
    tool = {"model": MODEL, "input": items.TOOL_PROMPT, "tools": [items.WEATHER_TOOL], "tool_choice": "required"}
    assert violations(tool) == []
    assert objects.WEATHER_TOOL == items.WEATHER_TOOL


class _BreaksAfterError(BaseHTTPRequestHandler):
    """Answers 500 to a body holding "crash", 400 otherwise; after a 500 it drops the kept-alive
    connection on the next request without answering (what uvicorn-based peers did)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if getattr(self, "broken", False):
            self.close_connection = True
            return
        status = 500 if b"crash" in body else 400
        payload = json.dumps({"error": {"message": "x", "type": "t", "param": None, "code": None}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if status == 500:
            self.broken = True  # the handler lives as long as its connection


def test_a_connection_broken_after_an_error_does_not_fail_the_next_bad_request():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BreaksAfterError)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = ApiClient(f"http://127.0.0.1:{server.server_address[1]}/v1", timeout=5)
    try:
        first = errors.send(api, MODEL, errors.Bad("crash", errors.body(input="crash")))
        second = errors.send(api, MODEL, errors.Bad("next", errors.body(input="fine")))
        assert (first.status, second.status) == (500, 400)
    finally:
        api.close()
        server.shutdown()
        server.server_close()
