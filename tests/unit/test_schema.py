"""The generated schemas load, validate the reference server's real output, and explain failures."""

from __future__ import annotations

import json

import pytest

from conformance.judge.checks import ConformanceFailure, check_schema
from conformance.judge.schema import SCHEMA_DIR, Schemas
from conformance.refserver import start_in_thread
from conformance.wire.http import ApiClient


@pytest.fixture(scope="module")
def api():
    server = start_in_thread()
    client = ApiClient(server.url)
    yield client
    client.close()
    server.shutdown()


def test_every_generated_file_loads_and_records_the_spec_commit():
    files = sorted(SCHEMA_DIR.glob("*.json"))
    assert len(files) >= 10
    for f in files:
        data = json.loads(f.read_text())
        source = data["x-spec-source"]
        assert len(source["commit"]) == 40, f.name
        assert len(source["sha256"]) == 64, f.name


def test_every_root_compiles():
    s = Schemas.load()
    for root in s.roots.values():
        s.validator(root).check_schema(s.validator(root).schema)
        assert list(s.validator(root).iter_errors({})) is not None


def test_reference_server_output_validates(api):
    s = Schemas.load()
    body = {"model": "ref-reasoner", "input": "Use the tool to get the weather in Paris.",
            "reasoning": {"summary": "auto"}, "include": ["reasoning.encrypted_content"],
            "tools": [{"type": "function", "name": "get_weather",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}
    resp = api.post("responses", body).json()
    assert s.check("Response", resp) == []
    for item in resp["output"]:
        assert s.check_union("output_item", item) == []
    stream = api.stream("responses", {**body, "stream": True})
    for ev in stream.events:
        assert s.check_union("stream_event", json.loads(ev.data)) == [], ev.data[:200]
    err = api.post("responses", {"model": "no-such-model", "input": "x"})
    assert err.status == 404
    assert s.check("ErrorResponse", err.json()) == []


def test_violation_names_json_path_and_rule(api):
    resp = api.post("responses", {"model": "ref-reasoner", "input": "hi"}).json()
    resp["output"][-1]["status"] = "done"
    del resp["created_at"]
    with pytest.raises(ConformanceFailure) as info:
        check_schema("Response", resp)
    text = str(info.value)
    assert "at: $.created_at" in text and "required property is absent" in text
    assert f"at: $.output[{len(resp['output']) - 1}].status" in text and "enum" in text


def test_union_member_is_explained_by_its_own_variant():
    s = Schemas.load()
    bad = {"type": "function_call", "call_id": "c1", "name": "f"}  # no arguments
    found = s.check_union("output_item", bad)
    assert [v.path for v in found] == ["$.arguments"] and "absent" in found[0].message
    unknown = s.check_union("output_item", {"type": "telepathy"})
    assert "unknown output item type" in unknown[0].message
