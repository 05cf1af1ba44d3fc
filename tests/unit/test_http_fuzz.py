"""The fuzz generators against the spec's own schema: generated valid requests validate against
CreateResponse, generated invalid ones do not, explicit examples cover the named unusual cases,
and a seed replays exactly the same requests."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from conformance.judge import fuzz
from conformance.judge.schema import Schemas

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
