"""wire.ahead (the pool that runs tests ahead) and base.once (one fetch per key across threads)."""

from __future__ import annotations

import threading
import time

import pytest

from conformance.base.once import REFRESH, Once
from conformance.wire.ahead import Ahead, Outcome, calibrate, trouble
from conformance.wire.http import Exchange


def _ex(status: int | None, error: str | None = None, ms: float = 10.0) -> Exchange:
    return Exchange("POST", "http://h/v1/responses", {}, "{}", status=status, error=error, elapsed_ms=ms)


def _sleeper(seconds: float, record: list[int] | None = None, ms: float = 10.0):
    def job(outcome: Outcome) -> float:
        outcome.exchanges = [_ex(200, ms=ms)]
        time.sleep(seconds)
        return seconds
    return job


def test_jobs_run_together_up_to_the_limit_after_slow_start():
    pool = Ahead(limit=8, request_timeout=60)
    assert pool.limit == 2, "slow start: two at once first"
    t0 = time.monotonic()
    for i in range(16):
        pool.submit(i, _sleeper(0.2))
    results = [pool.take(i) for i in range(16)]
    wall = time.monotonic() - t0
    assert all(r is not None and r.value == 0.2 and r.error is None for r in results)
    assert pool.peak == 8 and pool.limit == 8
    assert wall < 16 * 0.2 / 2, f"16 jobs of 0.2 s took {wall:.1f} s: not run together"
    pool.close()


def test_a_job_keeps_its_exception_and_exchanges():
    pool = Ahead(limit=2, request_timeout=60)

    def failing(outcome: Outcome) -> None:
        outcome.exchanges = [_ex(500)]
        raise AssertionError("the test's own failure")

    pool.submit("a", failing)
    got = pool.take("a")
    assert isinstance(got.error, AssertionError) and got.exchanges[0].status == 500
    assert pool.take("never queued") is None
    pool.close()


def test_serial_drops_queued_jobs_and_wakes_a_waiting_take():
    pool = Ahead(limit=1, request_timeout=60)
    pool.submit("running", _sleeper(0.3))
    pool.submit("queued", _sleeper(0.1))
    waiter: list[object] = []
    t = threading.Thread(target=lambda: waiter.append(pool.take("queued")))
    t.start()
    time.sleep(0.05)
    pool.serial("a 429")
    t.join(2)
    assert waiter == [None], "a dropped job's test runs in its turn"
    assert pool.take("running").value == 0.3
    assert not pool.submit("later", _sleeper(0)), "nothing runs ahead after serial()"
    assert pool.serial_reason == "a 429"


def test_pause_and_drain_let_a_test_run_alone():
    pool = Ahead(limit=4, request_timeout=60)
    pool.submit(1, _sleeper(0.2))
    time.sleep(0.05)
    pool.pause()
    pool.submit(2, _sleeper(0.2))
    pool.drain()
    assert pool.take(1) is not None
    assert not pool.idle, "job 2 must wait while paused"
    time.sleep(0.3)
    assert pool.submitted(2) and pool.started == 1
    pool.resume()
    assert pool.take(2).value == 0.2
    pool.close()


def test_an_answer_slow_against_the_timeout_ends_running_ahead():
    pool = Ahead(limit=4, request_timeout=4)  # slow after 1 s
    pool.submit(1, _sleeper(0.1, ms=2500))
    pool.submit(2, _sleeper(0.1, ms=2500))
    pool.take(1), pool.take(2)
    assert pool.serial_reason and "could reach their deadline" in pool.serial_reason


@pytest.mark.parametrize(("exchanges", "found"), [
    ([_ex(200)], None),
    ([_ex(400)], None),
    ([_ex(200), _ex(429)], "HTTP 429"),
    ([_ex(503)], "HTTP 503"),
    ([_ex(None, "connection refused")], "no answer"),
    ([_ex(200, "stream broke after 3 events")], "HTTP 200, then"),
])
def test_trouble_names_what_concurrency_may_cause(exchanges, found):
    got = trouble(exchanges)
    assert (got is None) if found is None else (got is not None and found in got)


def test_once_fetches_once_for_many_threads_and_refreshes_on_demand():
    once, calls = Once(), []

    def fetch():
        calls.append(1)
        time.sleep(0.1)
        return len(calls)

    out: list[tuple[int, bool]] = []
    threads = [threading.Thread(target=lambda: out.append(once.get("k", fetch))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sorted(out) == [(1, False)] * 7 + [(1, True)]
    token = REFRESH.set(True)
    try:
        assert once.get("k", fetch) == (2, True), "judged again alone: fetched again"
    finally:
        REFRESH.reset(token)
    assert once.get("k", fetch) == (2, False), "the fresh value replaces the shared one"


def test_once_caches_nothing_when_the_fetch_raises():
    once = Once()

    def broken():
        raise RuntimeError("no answer")

    with pytest.raises(RuntimeError):
        once.get("k", broken)
    assert once.get("k", lambda: 5) == (5, True)


@pytest.mark.parametrize(("serial", "verdict"), [(True, True), (False, False)])
def test_calibration_tells_a_queueing_server_from_a_batching_one(serial, verdict):
    gate = threading.Lock()

    def send() -> float:
        started = time.monotonic()
        if serial:
            with gate:
                time.sleep(0.1)
        else:
            time.sleep(0.1)
        return time.monotonic() - started

    got = calibrate(send)
    assert got.one_at_a_time is verdict, got.describe()


def test_calibration_without_an_answer_judges_nothing():
    got = calibrate(lambda: None)
    assert not got.one_at_a_time and "not judged" in got.describe()


def test_a_test_alone_may_send_the_limit_at_once_until_running_together_ends():
    ahead = Ahead(8, 60.0)
    together = ahead.together()
    assert together.limit == 8  # the whole limit at once: nothing else is in flight (slow start is for jobs)
    together.serial("fuzz: a request failed with others in flight but not alone")
    assert ahead.serial_reason and "fuzz" in ahead.serial_reason
    assert ahead.together().limit == 1


@pytest.mark.parametrize("verdicts,serial", [
    ([("failed", True), ("failed", True)], True),  # two failures run together that pass alone: the server
    ([("failed", True)], False),  # once could be a sampled model's answer
    ([("failed", True), ("failed", False), ("", True)], False),  # failing alone too, or a skip: not a flip
], ids=["two-flips", "one-flip", "no-second-flip"])
def test_failures_run_together_that_pass_alone_end_running_ahead_after_two(verdicts, serial):
    from types import SimpleNamespace

    from conformance.plugin.concurrency import RunAhead

    run = RunAhead(SimpleNamespace(option=SimpleNamespace(request_timeout=60)), 8)  # type: ignore[arg-type]
    for i, (problem, passed) in enumerate(verdicts):
        run._judged_alone(SimpleNamespace(nodeid=f"t::{i}"), problem, passed)  # type: ignore[arg-type]
    assert (run.ahead.serial_reason is not None) == serial, run.ahead.serial_reason
    if serial:
        assert "t::0, t::1 failed with other tests' requests in flight but passed alone" in run.ahead.serial_reason
    assert run.own_summary()["failed_ahead_passed_alone"] == [f"t::{i}" for i, v in enumerate(verdicts)
                                                              if v == ("failed", True)]
    run.ahead.close()
