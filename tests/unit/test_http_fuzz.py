"""The fuzz generators against the spec's own schema: generated valid requests validate against
CreateResponse, generated invalid ones do not, explicit examples cover the named unusual cases,
and a seed replays exactly the same requests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from conformance.judge import fuzz
from conformance.judge.schema import Schemas
from conformance.wire.ahead import Together
from conformance.wire.http import CURRENT, Evidence, Exchange, record

SPACE = fuzz.RequestSpace.load()
CHECK = settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@CHECK
@given(fuzz.valid_requests("some-model", True, SPACE))
def test_generated_valid_requests_are_valid(body: dict[str, Any]) -> None:
    assert Schemas.load().check("CreateResponse", body) == []
    assert body["model"] == "some-model" and body["max_output_tokens"] >= 16


@CHECK
@given(fuzz.invalid_requests("some-model", SPACE))
def test_generated_invalid_requests_are_invalid(case: tuple[str, dict[str, Any]]) -> None:
    what, body = case
    assert Schemas.load().check("CreateResponse", body), f"{what} validates: {body}"


def test_explicit_examples_are_valid_and_cover_the_named_cases() -> None:
    examples = dict(fuzz.explicit_valid("m", SPACE))
    for what, body in examples.items():
        assert Schemas.load().check("CreateResponse", body) == [], what
    names = " ".join(examples)
    for needed in ("emoji", "empty instructions", "metadata with 16 keys", "max_output_tokens 16",
                   "temperature 0", "temperature 2", "long input", "several messages"):
        assert needed in names, needed
    meta = examples["metadata with 16 keys at the length limits"]["metadata"]
    assert len(meta) == 16 and max(map(len, meta)) == 64 and max(map(len, meta.values())) == 512


def test_limits_come_from_the_schema() -> None:
    assert SPACE.metadata == (16, 64, 512)
    assert set(SPACE.roles) == {"user", "assistant", "system", "developer"}
    assert {m.where for m in fuzz.mutations(SPACE)} >= {"$.temperature", "$.input[0].role", "$.model"}


def _draw(strategy: Any, n: int, fuzz_seed: int) -> list[Any]:
    out: list[Any] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=(__import__("hypothesis").Phase.generate,))
    @seed(fuzz_seed)
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def test_a_seed_replays_the_same_requests() -> None:
    a = _draw(fuzz.valid_requests("m", True, SPACE), 15, 1234)
    b = _draw(fuzz.valid_requests("m", True, SPACE), 15, 1234)
    c = _draw(fuzz.valid_requests("m", True, SPACE), 15, 4321)
    assert a == b and a != c


def test_run_collects_findings_within_its_budget() -> None:
    class Api:
        calls = 0

    def judge(api: Any, body: Any) -> str | None:
        Api.calls += 1
        return "Received: HTTP 500\nExpected: 2xx" if body.get("temperature") == 0 else None

    run = fuzz.run(Api(), fuzz.valid_requests("m", False, SPACE), judge, 5, 7,  # type: ignore[arg-type]
                   explicit=fuzz.explicit_valid("m", SPACE))
    assert run.sent == Api.calls == len(fuzz.explicit_valid("m", SPACE)) + 5
    assert [f.label for f in run.findings][:1] == ["example 5 (temperature 0)"]
    stopped = fuzz.run(Api(), fuzz.valid_requests("m", False, SPACE), judge, 5, 7, seconds=0.0)  # type: ignore[arg-type]
    assert stopped.stopped_early and stopped.sent <= 1


# -- sent together (--concurrency) --------------------------------------------------------------


class _Server:
    """A judge that stands for a server: counts requests in flight, records each as an exchange."""

    def __init__(self, fails: Any = lambda body, crowded: False) -> None:
        self.lock = threading.Lock()
        self.in_flight = self.peak = 0
        self.sent: list[Any] = []
        self.fails = fails

    def judge(self, api: Any, body: Any) -> str | None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.sent.append(body)
        time.sleep(0.05)  # long enough for the others of a batch to arrive
        with self.lock:
            crowded = self.in_flight > 1
            self.in_flight -= 1
        record(Exchange("POST", "http://127.0.0.1:9/v1/responses", {}, json.dumps(body)))
        return "Received: HTTP 500\nExpected: 2xx" if self.fails(body, crowded) else None


def _fuzz(server: _Server, together: Together, examples: int = 12) -> tuple[fuzz.FuzzRun, list[Exchange]]:
    evidence = Evidence("t")
    token = CURRENT.set(evidence)
    try:
        return fuzz.run(None, fuzz.valid_requests("m", False, SPACE), server.judge, examples, 7,  # type: ignore[arg-type]
                        explicit=fuzz.explicit_valid("m", SPACE), together=together), evidence.exchanges
    finally:
        CURRENT.reset(token)


def test_together_sends_the_same_requests_in_batches_with_the_same_findings() -> None:
    def temperature_zero(body: Any, crowded: bool) -> bool:
        return body.get("temperature") == 0

    alone, together = _Server(temperature_zero), _Server(temperature_zero)
    one, _ = _fuzz(alone, Together())
    four, four_evidence = _fuzz(together, Together(4))
    assert alone.peak == 1 and together.peak == 4
    assert sorted(map(json.dumps, together.sent)) == sorted(map(json.dumps, alone.sent + [
        b for b in alone.sent if b.get("temperature") == 0]))  # each failure sent once more, alone
    assert [f.label for f in four.findings] == [f.label for f in one.findings]
    assert four.findings[0].label == "example 5 (temperature 0)"
    assert four.batch == 4 and not four.alone_since
    # the evidence follows example order, the failure's request sent again alone right after its batch
    bodies = [json.loads(ex.request_body) for ex in four_evidence]
    assert bodies[:4] == alone.sent[:4] and bodies[8] == alone.sent[4]


def test_a_failure_only_with_others_in_flight_is_no_finding_and_ends_sending_together() -> None:
    reasons: list[str] = []
    server = _Server(lambda body, crowded: crowded)  # mixes up concurrent requests
    run, _ = _fuzz(server, Together(4, reasons.append))
    assert run.findings == [] and run.sent == run.planned
    assert run.alone_since and reasons == [run.alone_since] and "not alone" in run.alone_since
    # after the first batch, one at a time: planned, plus the first batch's failures sent again alone
    assert run.planned < len(server.sent) <= run.planned + 4


def test_an_early_stop_falls_between_batches() -> None:
    """Whether to stop is decided after a whole batch: the same requests go out however their answers
    interleave (a replay of a recording sends what was recorded)."""
    def no_answer(body: Any, crowded: bool) -> bool:
        record(Exchange("POST", "http://127.0.0.1:9/v1/responses", {}, None, error="read timed out"))
        return True

    server = _Server(no_answer)
    run, _ = _fuzz(server, Together(5))
    assert run.stopped_early and run.sent == 5  # a whole batch, then the stop
    assert run.transport_failures >= fuzz.MAX_TRANSPORT_FAILURES
