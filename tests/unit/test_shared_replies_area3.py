"""send_shared: one request per distinct body, the reply's evidence recorded in every test that reads it."""

from __future__ import annotations

import pytest

from conformance.judge.checks import ConformanceFailure
from conformance.judge.responses import ok_object, post_shared, send_shared
from conformance.refserver import start_in_thread
from conformance.wire import http as http_layer


@pytest.fixture(scope="module")
def api():
    server = start_in_thread()
    client = http_layer.ApiClient(server.url, timeout=10)
    yield client
    client.close()
    server.shutdown()
    server.server_close()


def _evidence():
    ev = http_layer.Evidence()
    return ev, http_layer.CURRENT.set(ev)


def test_one_request_shared_and_recorded_in_each_reader(api):
    body = {"model": "ref-plain", "input": "shared-reply unit test", "max_output_tokens": 16}
    first, token = _evidence()
    a = post_shared(api, body)
    http_layer.CURRENT.reset(token)
    second, token = _evidence()
    b = post_shared(api, body)
    http_layer.CURRENT.reset(token)
    assert a["id"] == b["id"], "the second reader got a new response: the request was sent again"
    assert len(first.exchanges) == 1 and second.exchanges == first.exchanges
    a["output"] = []
    assert post_shared(api, body)["output"], "callers must get a fresh parse, not a shared object"


def test_different_bodies_are_different_requests(api):
    one = post_shared(api, {"model": "ref-plain", "input": "one", "max_output_tokens": 16})
    two = post_shared(api, {"model": "ref-plain", "input": "two", "max_output_tokens": 16})
    assert one["id"] != two["id"]


def test_event_stream_where_json_was_expected_is_named(api):
    reply = send_shared(api, "POST", "responses",
                        json_body={"model": "ref-plain", "input": "x", "max_output_tokens": 16, "stream": True})
    with pytest.raises(ConformanceFailure, match="event stream"):
        ok_object(reply, "a request")
