"""Suite bugs found by running the suite against real third-party servers (docs/compatibility.md).

Each test pins the fix of one false alarm a peer exposed, so it does not come back.
"""

from __future__ import annotations

from hypothesis import given, settings

from conformance.judge.fuzz import fit, unusual_text


@settings(max_examples=300, deadline=None)
@given(unusual_text(1, 64))
def test_fuzzed_metadata_keys_fit_64_characters_however_counted(key):
    """responses.js (zod, UTF-16 units) rejected a 64-code-point key holding emoji: ROBUST-FUZZ-001 false alarm."""
    assert len(key) <= 64
    assert len(key.encode("utf-16-le")) // 2 <= 64


def test_fit_never_splits_a_character():
    assert fit("a" * 63 + "👋", 64) == "a" * 63
    assert fit("👋" * 40, 64) == "👋" * 32
    assert fit("plain", 64) == "plain"


def test_fuzz_run_stopped_on_transport_failures_stays_stopped():
    """transformers serve answered 3 fuzz requests badly, then well: hypothesis replayed the example that had
    stopped the run, it passed, and ROBUST-FUZZ-002 reported a FlakyFailure traceback instead of the findings."""
    from hypothesis import strategies as st

    from conformance.judge import fuzz
    from conformance.wire.http import CURRENT, Evidence, Exchange, record

    calls = [0]

    def judge(api, body):
        calls[0] += 1
        if calls[0] > fuzz.MAX_TRANSPORT_FAILURES:
            return None  # the server recovered
        record(Exchange("POST", "http://127.0.0.1:1/v1/responses", {}, None, error="read timed out"))
        return "Received: no answer\nExpected: HTTP 4xx"

    token = CURRENT.set(Evidence())
    try:
        run = fuzz.run(None, st.integers(), judge, examples=10, fuzz_seed=1)
    finally:
        CURRENT.reset(token)
    assert run.stopped_early
    assert len(run.findings) == fuzz.MAX_TRANSPORT_FAILURES


def _outcome(phase, index, nonce, response, asked_id=None):
    from conformance.judge.load import Outcome

    return Outcome(phase, index, nonce, response=response, asked_id=asked_id)


def test_load_previous_response_id_of_the_servers_own_making_is_not_mixing():
    """LiteLLM echoes its upstream's id as previous_response_id: STATE-PREV-001's finding, not a mix-up."""
    from conformance.judge.load import LoadRun, mixing

    meta = lambda n: {"rc_nonce": n}  # noqa: E731
    first = _outcome("create", 0, "na", {"id": "resp_a", "metadata": meta("na")})
    second = _outcome("create", 1, "nb", {"id": "resp_b", "metadata": meta("nb")})
    own = _outcome("follow-up", 0, "nc", {"id": "resp_c", "metadata": meta("nc"),
                                          "previous_response_id": "upstream-uuid-1"}, asked_id="resp_a")
    run = LoadRun(2, [first, second, own])
    assert mixing(run) == []
    crossed = _outcome("follow-up", 1, "nd", {"id": "resp_d", "metadata": meta("nd"),
                                              "previous_response_id": "resp_b"}, asked_id="resp_a")
    run.outcomes.append(crossed)
    assert [o.label for o, _ in mixing(run)] == [crossed.label]


def test_load_stream_with_done_sentinel_completes():
    """LiteLLM ends its Responses streams with `data: [DONE]`: a SHOULD (STREAM-TERM-003), not a broken stream."""
    from conformance.judge.load import Outcome, _judge_stream
    from conformance.wire.sse import SSEEvent

    class Reply:
        status, error, partial_event_at_end, exchange = 200, None, False, None
        events = (SSEEvent("message", '{"type": "response.created", "response": {"id": "resp_1"}}'),
                  SSEEvent("message", '{"type": "response.completed", "response": {"id": "resp_1"}}'),
                  SSEEvent("message", "[DONE]"))

        def payloads(self):
            import json

            out = []
            for ev in self.events:
                try:
                    out.append((ev, json.loads(ev.data)))
                except ValueError:
                    out.append((ev, None))
            return out

    out = Outcome("create", 0, "na", streamed=True)
    _judge_stream(out, Reply())
    assert out.problem is None and out.response == {"id": "resp_1"}


def test_load_non_streamed_requests_say_stream_false():
    """transformers serve streams when `stream` is omitted: the load test's creates and follow-ups said nothing,
    so that one deviation (STREAM-HTTP-002's) also failed ROBUST-LOAD-001."""
    from conformance.judge.load import _body

    assert _body("m", "n1", 0)["stream"] is False
    assert _body("m", "n1", 0, previous_response_id="resp_1")["stream"] is False
