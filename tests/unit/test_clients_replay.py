"""The clients area's machinery: ids handed back are substituted, captures group into conversations,
and the capture proxy records what a client sends (credentials redacted) in the format the suite loads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

from conformance.judge.replay import IdMap, ablations, is_hosted, load
from conformance.refserver import start_in_thread
from tools.capture import Recorder, make_proxy, package

CAPTURED = {"id": "resp_old", "output": [
    {"id": "rs_old", "type": "reasoning", "summary": [], "encrypted_content": "enc_old",
     "content": [{"type": "reasoning_text", "text": "old thought"}]},
    {"id": "fc_old", "type": "function_call", "call_id": "call_old", "name": "get_weather", "arguments": "{}"},
]}
LIVE = {"id": "resp_new", "output": [
    {"id": "rs_new", "type": "reasoning", "summary": [], "encrypted_content": "enc_new",
     "content": [{"type": "reasoning_text", "text": "new thought"}]},
    {"id": "fc_new", "type": "function_call", "call_id": "call_new", "name": "get_weather", "arguments": "{}"},
]}
TURN2 = {"model": "m", "previous_response_id": "resp_old", "input": [
    {"role": "user", "content": "hi"},
    {"type": "item_reference", "id": "rs_old"},
    {"id": "rs_old", "type": "reasoning", "summary": [], "encrypted_content": "enc_old",
     "content": [{"type": "reasoning_text", "text": "old thought"}]},
    {"type": "function_call", "call_id": "call_old", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_old", "output": "sunny"},
]}


def test_the_servers_own_values_replace_the_captured_ones():
    ids = IdMap()
    ids.learn(CAPTURED, LIVE)
    body, missing = ids.apply(TURN2)
    assert missing == []
    assert body["previous_response_id"] == "resp_new"
    assert body["input"][1] == {"type": "item_reference", "id": "rs_new"}
    assert body["input"][2]["id"] == "rs_new" and body["input"][2]["encrypted_content"] == "enc_new"
    assert body["input"][2]["content"][0]["text"] == "new thought"
    assert body["input"][3]["call_id"] == body["input"][4]["call_id"] == "call_new"
    assert TURN2["input"][3]["call_id"] == "call_old"  # the capture itself is left alone


def test_what_the_live_turn_lacks_is_dropped_or_named():
    ids = IdMap()
    ids.learn(CAPTURED, {"id": "resp_new", "output": [{"id": "msg_1", "type": "message", "content": []}]})
    body, missing = ids.apply(TURN2)
    assert [it.get("type") for it in body["input"]] == [None, "function_call", "function_call_output"]
    assert missing and "call_old" in missing[0]  # a call the server never made cannot be answered


def test_ablations_name_each_optional_part():
    names = [name for name, _ in ablations({**TURN2, "client_metadata": {}, "tools": [{"type": "namespace"}]})]
    assert "the top-level parameter `client_metadata`" in names
    assert "the `namespace` tool(s)" in names
    assert any("item_reference" in n for n in names)
    assert is_hosted({"type": "web_search"}) and is_hosted({"type": "tool_search", "execution": "server"})
    assert not is_hosted({"type": "tool_search", "execution": "client"}) and not is_hosted({"type": "custom"})


def test_the_capture_proxy_records_what_the_suite_replays(tmp_path: Path):
    server = start_in_thread()
    proxy = make_proxy(server.url, Recorder(tmp_path / "raw", "my-client", "tool loop"))
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        host, port = proxy.server_address[:2]
        assert host == "127.0.0.1"
        base = f"http://127.0.0.1:{port}/v1/responses"
        headers = {"Authorization": "Bearer sk-secret-value"}
        tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}}, "required": ["city"]}}
        first = httpx.post(base, headers=headers, json={"model": "ref-reasoner", "input": "Use get_weather.",
                                                        "tools": [tool]}).json()
        second = {"model": "ref-reasoner", "stream": True, "tools": [tool],
                  "input": [{"role": "user", "content": "Use get_weather."}, *first["output"],
                            {"type": "function_call_output", "call_id": first["output"][-1]["call_id"],
                             "output": "sunny"}]}
        with httpx.stream("POST", base, headers=headers, json=second) as reply:
            assert b"response.completed" in reply.read()
    finally:
        proxy.shutdown()
        server.shutdown()
    files = sorted((tmp_path / "raw" / "my-client").glob("*.json"))
    assert [f.name for f in files] == ["01-tool-loop.json", "02-tool-loop.json"]
    records = [json.loads(f.read_text()) for f in files]
    assert all(r["request_headers"]["authorization"] == "<redacted>" for r in records)
    assert "sk-secret-value" not in "".join(f.read_text() for f in files)
    assert records[0]["response"]["id"] == first["id"] and records[1]["response_sse"][-1]["event"] == \
        "response.completed"
    (tmp_path / "pkg").mkdir()
    assert package(tmp_path / "raw", tmp_path / "pkg") == 2
    (scenario,) = load(tmp_path / "pkg")
    assert [t.file for t in scenario.turns] == ["01-tool-loop.json", "02-tool-loop.json"]
