"""Recording (wire.record) and replay (server.replay) without running the suite: what goes to disk, how a
replay matches, and what a replayed answer looks like on the wire."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from conformance.base.redact import REDACTOR
from conformance.reports import results
from conformance.reports.report import requirement_outcome
from conformance.server import replay
from conformance.wire import record
from conformance.wire.guard import CURRENT_TEST

KEY = "sk-unit-recording-key-5e1f0a"


@pytest.fixture
def recorder(tmp_path: Path):
    REDACTOR.add(KEY)
    rec = record.start_recording(tmp_path, "main")
    yield rec
    record.stop()


def _files(directory: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in record.exchange_files(directory)]


def test_an_exchange_is_written_redacted_chunk_by_chunk(recorder, tmp_path: Path):
    # the server echoes the key split across two chunks: the chunks are merged, then redacted
    half = len(KEY) // 2
    chunks = [b"data: one\n\n", b"data: " + KEY[:half].encode(), KEY[half:].encode() + b"\n\n", b"data: end\n\n"]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream", "set-cookie": "s=1"},
                              stream=_Chunks(chunks))

    token = CURRENT_TEST.set("tests/x.py::test_a")
    try:
        with httpx.Client(transport=record.wrap(httpx.MockTransport(handler))) as client:
            reply = client.post("http://h/v1/responses", content=json.dumps({"input": f"my key is {KEY}"}),
                                headers={"Authorization": f"Bearer {KEY}"})
            assert reply.content == b"".join(chunks)  # the client still gets every byte
            assert reply.headers[record.RECORDED_HEADER] == "main-000001"
    finally:
        CURRENT_TEST.reset(token)
    text = "\n".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert KEY not in text and KEY[:half] not in text and KEY[half:] not in text
    (ex,) = _files(tmp_path)
    assert ex["test"] == "tests/x.py::test_a" and ex["request"]["headers"]["authorization"] == "[REDACTED]"
    assert "[REDACTED]" in ex["request"]["body"]
    assert ex["request"]["body_sha256"] == hashlib.sha256(ex["request"]["body"].encode()).hexdigest()
    resp = ex["response"]
    assert resp["end"] == "complete" and resp["status"] == 200
    assert ["set-cookie", "[REDACTED]"] in resp["headers"]
    assert [c["text"] for c in resp["chunks"]] == ["data: one\n\n", "data: [REDACTED]\n\n", "data: end\n\n"]
    assert all(isinstance(c["ms"], float) for c in resp["chunks"])


class _Chunks(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self):
        yield from self.chunks


def test_ends_and_errors_are_recorded(recorder, tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/refused":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, stream=_Chunks([b"\xff\xfe", b"more"]))

    with httpx.Client(transport=record.wrap(httpx.MockTransport(handler))) as client:
        with pytest.raises(httpx.ConnectError):
            client.get("http://h/refused")
        with client.stream("GET", "http://h/partial") as reply:
            next(reply.iter_raw())  # the client gives up after the first chunk
    by_path = {ex["request"]["path"]: ex for ex in _files(tmp_path)}
    assert by_path["/refused"]["response"] is None and by_path["/refused"]["error"]["kind"] == "connect"
    partial = by_path["/partial"]["response"]
    assert partial["end"] == "abandoned" and partial["chunks"] == [{"ms": partial["chunks"][0]["ms"],
                                                                   "base64": "//4="}]


def test_no_wrapping_without_recording_or_replay():
    inner = httpx.MockTransport(lambda r: httpx.Response(204))
    assert record.wrap(inner) is inner and record.wrap() is None


# -- matching ------------------------------------------------------------------------------------


def _exchange(name: str, test: str, method: str, path: str, body: str | None, answer: str,
              status: int = 200, **response: object) -> dict:
    raw = (body or "").encode()
    return {"name": name, "test": test, "started_unix": 1.0,
            "request": {"method": method, "path": path, "body": body, "body_sha256": hashlib.sha256(raw).hexdigest()},
            "response": {"status": status, "headers": [["content-type", "application/json"]],
                         "chunks": [{"ms": 1.0, "text": answer}], "bytes": len(answer), "end": "complete",
                         **response},
            "error": None}


def test_exact_matches_prefer_the_running_test_then_recorded_order():
    m = replay.Matcher([_exchange("a1", "t::a", "POST", "/v1/responses", "{}", "A1"),
                        _exchange("b1", "t::b", "POST", "/v1/responses", "{}", "B1"),
                        _exchange("a2", "t::a", "POST", "/v1/responses", "{}", "A2")])
    assert m.match("POST", "/v1/responses", b"{}", "t::b")[0]["name"] == "b1"
    assert m.match("POST", "/v1/responses", b"{}", "t::a")[0]["name"] == "a1"
    assert m.match("POST", "/v1/responses", b"{}", "t::a")[0]["name"] == "a2"
    assert m.match("POST", "/v1/responses", b"{}", "t::a")[0]["name"] == "a2"  # repeated: the last again
    assert m.match("POST", "/v1/responses", b"{}", None)[0]["name"] == "a2"  # all served: the last recorded
    with pytest.raises(KeyError):
        m.match("POST", "/v1/responses", b'{"x": 1}', "t::a")
    with pytest.raises(KeyError):
        m.match("GET", "/v1/responses", b"{}", "t::a")


def test_values_the_suite_randomizes_match_and_are_swapped_back():
    old_id, new_id = "resp_" + "a" * 48, "resp_" + "b" * 48
    old_nonce, new_nonce = "n" + "1" * 12, "n" + "2" * 12
    m = replay.Matcher([
        _exchange("u", "t::u", "GET", f"/v1/responses/{old_id}", None, f'{{"error": "{old_id} not found"}}', 404),
        _exchange("c", "t::l", "POST", "/v1/responses", f'{{"metadata": {{"k": "{old_nonce}"}}}}',
                  f'{{"id": "resp_1", "metadata": {{"k": "{old_nonce}"}}}}'),
        _exchange("g", "t::l", "GET", "/v1/responses/resp_1", None, f'{{"metadata": {{"k": "{old_nonce}"}}}}'),
    ])
    ex, swaps = m.match("GET", f"/v1/responses/{new_id}", b"", "t::u")
    assert ex["name"] == "u" and swaps[old_id] == new_id
    ex, swaps = m.match("POST", "/v1/responses", f'{{"metadata": {{"k": "{new_nonce}"}}}}'.encode(), "t::l")
    assert ex["name"] == "c" and swaps[old_nonce] == new_nonce
    ex, swaps = m.match("GET", "/v1/responses/resp_1", b"", "t::l")  # an exact match later: swapped too
    assert ex["name"] == "g" and replay._rewrite(b'"' + old_nonce.encode() + b'"', swaps, 0, None) == \
        b'"' + new_nonce.encode() + b'"'


def test_timestamps_near_the_recording_move_with_the_replay():
    at = 1_700_000_000.0
    body = f'{{"created_at": {int(at) + 1}, "completed_at":{int(at) + 2}, "x": {{"created_at": 12}}}}'.encode()
    moved = replay._rewrite(body, {}, 3600, at)
    assert moved == (f'{{"created_at": {int(at) + 3601}, "completed_at":{int(at) + 3602}, '
                     f'"x": {{"created_at": 12}}}}').encode()
    # a wrong timestamp stays wrong: milliseconds, or far from the recording
    assert replay._rewrite(b'{"created_at": 1700000000123}', {}, 3600, at) == b'{"created_at": 1700000000123}'
    assert replay._rewrite(b'{"created_at": 1500000000}', {}, 3600, at) == b'{"created_at": 1500000000}'


# -- the replay server on the wire ----------------------------------------------------------------


def _write_recording(directory: Path, exchanges: list[dict]) -> None:
    (directory / "exchanges").mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps({
        "format": record.RECORDING_FORMAT, "server": {"url": "http://gpu:8000/v1", "model": "m", "kind": "remote"},
        "options": {}, "api_key": True}))
    for ex in exchanges:
        (directory / "exchanges" / f"{ex['name']}.json").write_text(json.dumps(ex))


def test_replay_server_answers_as_recorded(tmp_path: Path):
    stream = [{"ms": 1.0, "text": "event: a\ndata: {}\n\n"}, {"ms": 2.0, "text": "event: b\ndata: {}\n\n"}]
    dropped = _exchange("main-000003", "t::d", "POST", "/v1/responses", '{"d": 1}', "")
    dropped["response"].update(chunks=stream[:1], end="closed",
                               headers=[["content-type", "text/event-stream"], ["transfer-encoding", "chunked"]])
    echo = _exchange("main-000004", "t::e", "POST", "/v1/responses", '{"e": 1}', '{"error": "bad key [REDACTED]"}',
                     401)
    _write_recording(tmp_path, [
        _exchange("main-000001", "t::j", "GET", "/v1/models", None, '{"data": [{"id": "m"}]}',
                  headers=[["content-type", "application/json"], ["content-length", "23"]]),
        {**_exchange("main-000002", "t::s", "POST", "/v1/responses", '{"s": 1}', ""),
         "response": {"status": 200, "headers": [["content-type", "text/event-stream"],
                                                 ["transfer-encoding", "chunked"]],
                      "chunks": stream, "bytes": 34, "end": "complete"}},
        dropped, echo])
    server = replay.ReplayServer(tmp_path)
    try:
        assert server.handle.url.endswith("/v1") and server.handle.kind == "replay" and server.handle.model == "m"
        assert server.handle.api_key  # the recorded run sent a key: the replay sends a stand-in
        with httpx.Client(base_url=server.handle.url) as client:
            models = client.get("/models")
            assert models.json() == {"data": [{"id": "m"}]}
            assert models.headers[record.RECORDED_HEADER] == "main-000001"
            streamed = client.post("/responses", content=b'{"s": 1}')
            assert streamed.text == "event: a\ndata: {}\n\nevent: b\ndata: {}\n\n"
            with pytest.raises(httpx.RemoteProtocolError):  # the connection broke mid-stream, as recorded
                client.post("/responses", content=b'{"d": 1}').read()
            echoed = client.post("/responses", content=b'{"e": 1}', headers={"Authorization": "Bearer sk-now"})
            assert echoed.status_code == 401 and "sk-now" in echoed.text
            missing = client.post("/responses", content=b'{"other": 1}')
            assert missing.status_code == record.NOT_RECORDED_STATUS
            assert missing.headers[record.REPLAY_HEADER] == "not-recorded"
    finally:
        server.stop()


def test_a_recording_of_another_format_is_refused(tmp_path: Path):
    (tmp_path / "manifest.json").write_text('{"format": "something-else/9"}')
    with pytest.raises(replay.RecordingProblem, match="something-else/9"):
        replay.open_recording(tmp_path)
    with pytest.raises(replay.RecordingProblem, match=r"no manifest\.json"):
        replay.open_recording(tmp_path / "nowhere")


# -- not recorded: never passed or failed ---------------------------------------------------------


def test_a_test_that_met_an_unrecorded_request_is_not_run():
    report = SimpleNamespace(nodeid="t::x", when="call", passed=False, failed=False, skipped=True, duration=0.1,
                             outcome="skipped", longrepr=("f", 1, "Skipped: not run (not recorded): ..."),
                             user_properties=[("requirement", "R-1"), ("level", "MUST"),
                                              ("not_recorded", "not run (not recorded): POST /v1/responses")])
    collector = results.ResultCollector()
    collector.add_report(report)
    (result,) = collector.records()
    assert result.outcome == "not-run" and result.message.startswith("not run (not recorded)")

    def t(outcome: str) -> results.TestResult:
        return results.TestResult("n", "R-1", "MUST", outcome)

    assert requirement_outcome([t("passed"), t("not-run")]) == "not-run"  # not every case was judged
    assert requirement_outcome([t("failed"), t("not-run")]) == "failed"  # a judged failure stays one


def test_replay_takes_the_recorded_options_the_command_line_leaves(tmp_path: Path):
    from conformance.plugin import recording

    _write_recording(tmp_path, [])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["options"] = {"fuzz_seed": 7, "fuzz_examples": 3, "profile": "vllm", "area": "streaming"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    option = SimpleNamespace(replay=str(tmp_path), fuzz_seed=1, fuzz_examples=25, profile="", area="")
    recording.apply_replay_defaults(option, {"--fuzz-examples"})
    assert (option.fuzz_seed, option.fuzz_examples, option.profile, option.area) == (7, 25, "vllm", "streaming")
    assert "together" in recording.problem(SimpleNamespace(replay="d", record="r"))
    assert "--server-url" in recording.problem(SimpleNamespace(replay="d", record=None, server_url="http://h/v1"))
    assert recording.problem(SimpleNamespace(replay=None)) is None


def test_a_recording_whose_server_died_gives_no_answer_to_what_it_lacks(tmp_path: Path):
    """Under --concurrency which requests reached a dying server depends on timing: a request the recording
    lacks, after the recorded server refused connections for good, gets no answer (not a 599 'not
    recorded'), while recorded answers are still served."""
    refused = {**_exchange("main-000002", "t::b", "POST", "/v1/responses", '{"b": 1}', ""), "response": None,
               "error": {"kind": "connect", "type": "ConnectError", "message": "connection refused"}}
    _write_recording(tmp_path, [_exchange("main-000001", "t::a", "POST", "/v1/responses", '{"a": 1}', '{"ok": 1}'),
                                refused])
    server = replay.ReplayServer(tmp_path)
    try:
        with httpx.Client(base_url=server.handle.url) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                client.post("/responses", content=b'{"never": "sent"}')
            assert client.post("/responses", content=b'{"a": 1}').json() == {"ok": 1}  # still listening
    finally:
        server.stop()
    assert replay.Recording.final_state(SimpleNamespace(exchanges=[refused, _exchange(  # type: ignore[arg-type]
        "main-000003", "t::c", "POST", "/v1/responses", "{}", "{}")])) is None  # answered after: restarted
