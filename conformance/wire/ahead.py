"""Requests in flight together: run independent jobs ahead of their turn, on a bounded pool.

A job is everything one test sends and reads, run on a worker thread with its own `Evidence`, so a
test's own requests still follow each other (turn 2 after turn 1) while other tests' requests wait
on the server at the same time.  The plugin (`plugin.concurrency`) decides what a job is and hands
its outcome back to the test in its turn; this module keeps the pool honest:

- at most `limit` jobs run at once, starting at 2 and doubling while answers come back quickly
  (slow start: a server that queues requests shows it before many wait in its queue);
- `pause()` lets no new job start and `drain()` waits for the running ones, so a job can be re-run
  alone, or a test that must be alone (load, fuzz) gets the server to itself;
- `serial(reason)` ends running ahead for the rest of the run (jobs not started are dropped: their
  tests run in their turn, as with `--concurrency 1`), the reason kept for the report;
- `trouble(exchanges)` names what in a job's exchanges may come from running it together with
  others (429, 5xx, no answer, a broken stream): such a test is judged again alone;
- `calibrate(send)` tells, before the first job, a server that answers requests together from one
  that queues them;
- `together()` tells a test running alone how many of its own independent requests it may send at
  once (`Together`: the fuzz requirements' batches).

Workers are daemon threads (not `concurrent.futures.ThreadPoolExecutor`, whose threads the
interpreter joins at exit): an interrupted run must not wait for requests still in flight.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from conformance.wire.http import Exchange

# a request slower than this share of the request timeout while others were in flight ends running
# ahead: on a server that queues requests, the ones behind it could reach their deadline waiting
SLOW_SHARE = 0.25
START_LIMIT = 2
RUNS_AHEAD = "__rc_runs_ahead__"


def runs_ahead(fixture: Any) -> Any:
    """Declare a function-scoped fixture safe to set up on a worker thread, ahead of its test's turn: it
    takes only session fixtures and `request.param`/`request.config`, and reads shared replies."""
    setattr(fixture, RUNS_AHEAD, True)
    return fixture


SERIAL_RATIO = 2.5  # 4 requests together taking this many times one alone: the server answers one at a time
PROBES_TOGETHER = 4


@dataclass
class Calibration:
    """One request alone, then `PROBES_TOGETHER` at once: does the server answer them together?"""

    alone_s: float | None = None
    together_s: list[float] = field(default_factory=list)
    problem: str | None = None  # the probe alone got no 2xx answer: no verdict
    unanswered: int = 0  # probes sent together that got no 2xx answer (a queue past the deadline, a 429)

    @property
    def one_at_a_time(self) -> bool:
        if self.problem is not None or self.alone_s is None:
            return False
        return self.unanswered > 0 or max(self.together_s, default=0.0) > SERIAL_RATIO * max(self.alone_s, 0.01)

    def describe(self) -> str:
        if self.problem:
            return f"calibration not judged ({self.problem})"
        together = ", ".join(f"{t:.2f}" for t in self.together_s) or "none"
        lost = f", {self.unanswered} got no 2xx answer" if self.unanswered else ""
        return f"one request alone {self.alone_s:.2f} s; {PROBES_TOGETHER} at once {together} s{lost}"


def calibrate(send: Callable[[], float | None]) -> Calibration:
    """`send()` returns a request's seconds, or None when it got no 2xx answer.  A server that generates for
    one request at a time queues the ones sent together: the last ends about 4 times later than one alone,
    where a batching server ends them all about together.  Deciding before running ahead costs 5 short
    requests and keeps a queueing server from holding requests until their deadline."""
    result = Calibration()
    result.alone_s = send()
    if result.alone_s is None:
        result.problem = "the probe request got no 2xx answer"
        return result
    out: list[float | None] = [None] * PROBES_TOGETHER
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, contextvars.copy_context().run(send)),
                                daemon=True) for i in range(PROBES_TOGETHER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.unanswered = sum(t is None for t in out)
    result.together_s = [t for t in out if t is not None]
    return result


def _no_serial(reason: str) -> None:
    """Nothing runs together: nothing to end."""


@dataclass(frozen=True)
class Together:
    """What a test that sends independent requests of its own (the fuzz requirements) may send at once
    now (1: one at a time), and how it ends sending together for the rest of the run when concurrency
    caused what it found (`Ahead.serial`)."""

    limit: int = 1
    serial: Callable[[str], None] = _no_serial


@dataclass
class Outcome:
    """What a job did: its result or exception, the exchanges it recorded, how many ran with it."""

    value: Any = None
    error: BaseException | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    together: int = 0  # jobs running when it started (itself included)


def trouble(exchanges: Iterable[Exchange]) -> str | None:
    """What in these exchanges may come from running together with other requests, or None.

    429 (rate limited), 5xx (overloaded, a proxy's gateway timeout), no answer at all (a dropped
    connection, a deadline passed in a queue) or a body that broke off: judged again alone.
    """
    for ex in exchanges:
        if ex.status == 429:
            return f"HTTP 429 from {ex.method} {ex.url}"
        if ex.status is not None and ex.status >= 500:
            return f"HTTP {ex.status} from {ex.method} {ex.url}"
        if ex.error:
            what = "no answer" if ex.status is None else f"HTTP {ex.status}, then"
            return f"{what} from {ex.method} {ex.url} ({ex.error[:160]})"
    return None


class Ahead:
    """A bounded pool running jobs ahead of their turn; see the module docstring."""

    def __init__(self, limit: int, request_timeout: float) -> None:
        self.max_limit = max(1, limit)
        self.limit = min(START_LIMIT, self.max_limit)
        self.slow_after = request_timeout * SLOW_SHARE
        self.serial_reason: str | None = None
        self.peak = 0  # the most jobs that ran at once
        self.started = 0  # jobs started
        self._queue: deque[tuple[Hashable, Callable[[Outcome], Any], Future[Outcome | None],
                                 contextvars.Context]] = deque()
        self._futures: dict[Hashable, Future[Outcome | None]] = {}
        self._running = 0
        self._paused = 0
        self._fast_in_a_row = 0
        self._cond = threading.Condition()  # its lock is an RLock: `_adapt` calls `serial` holding it
        self._closed = False
        self._threads: list[threading.Thread] = []  # started with the first job

    # -- the main thread's side ---------------------------------------------------------------------

    def submit(self, key: Hashable, job: Callable[[Outcome], Any]) -> bool:
        """Queue `job` (run in a copy of the caller's context, given the `Outcome` it may record its
        exchanges in); False when not running ahead any more."""
        with self._cond:
            if self.serial_reason is not None or self._closed or key in self._futures:
                return False
            if not self._threads:
                self._threads = [threading.Thread(target=self._work, name=f"rc-ahead-{i}", daemon=True)
                                 for i in range(self.max_limit)]
                for t in self._threads:
                    t.start()
            future: Future[Outcome | None] = Future()
            self._futures[key] = future
            self._queue.append((key, job, future, contextvars.copy_context()))
            self._cond.notify_all()
            return True

    def take(self, key: Hashable) -> Outcome | None:
        """The job's outcome, waiting for it (queued jobs start as others end); None when it was never
        queued or was dropped before it started (`serial`, `close`)."""
        with self._cond:
            future = self._futures.pop(key, None)
        return None if future is None else future.result()

    def _drop_queued(self) -> None:
        for key, _, future, _ in self._queue:
            self._futures.pop(key, None)
            future.set_result(None)  # a waiting `take` runs the test in its turn
        self._queue.clear()

    def submitted(self, key: Hashable) -> bool:
        with self._cond:
            return key in self._futures

    def pause(self) -> None:
        """Start no new job until `resume()` (calls nest)."""
        with self._cond:
            self._paused += 1

    def resume(self) -> None:
        with self._cond:
            self._paused = max(0, self._paused - 1)
            self._cond.notify_all()

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._running and not self._queue

    def drain(self) -> None:
        """Wait until no job runs (bounded: every request a job sends has its own deadline)."""
        with self._cond:
            while self._running:
                self._cond.wait(0.5)

    def serial(self, reason: str) -> None:
        """Run nothing ahead any more: jobs not started are dropped (their tests run in their turn)."""
        with self._cond:
            if self.serial_reason is None:
                self.serial_reason = reason
            self._drop_queued()
            self._cond.notify_all()

    def proven(self, at_once: int) -> None:
        """`at_once` requests were answered together (the calibration): slow start begins there."""
        with self._cond:
            self.limit = max(self.limit, min(at_once, self.max_limit))
            self._cond.notify_all()

    def together(self) -> Together:
        """For a test running alone (nothing else in flight): its own requests may go `max_limit` at once,
        until running together ended."""
        if self.serial_reason is not None or self._closed:
            return Together()
        return Together(self.max_limit, self.serial)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._drop_queued()
            self._cond.notify_all()

    # -- the workers ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._queue or self._paused or self._running >= self.limit):
                    self._cond.wait()
                if self._closed:
                    return
                _, job, future, context = self._queue.popleft()
                self._running += 1
                self.started += 1
                self.peak = max(self.peak, self._running)
                together = self._running
            outcome = Outcome(together=together)
            try:
                outcome.value = context.run(job, outcome)
            except BaseException as exc:  # the test's outcome (a skip, a failure, an error), handed back
                outcome.error = exc
            with self._cond:
                self._running -= 1
                self._adapt(outcome)
                self._cond.notify_all()
            future.set_result(outcome)

    def _adapt(self, outcome: Outcome) -> None:
        """Slow start: double the limit after `limit` quick jobs in a row; a slow answer ends running ahead."""
        slowest = max((ex.elapsed_ms / 1000 for ex in outcome.exchanges), default=0.0)
        if slowest > self.slow_after and outcome.together > 1 and self.serial_reason is None:
            self.serial(f"an answer took {slowest:.1f} s with {outcome.together} tests' requests in flight (over "
                        f"{SLOW_SHARE:.0%} of --request-timeout): requests queued behind it could reach their deadline")
            return
        self._fast_in_a_row += 1
        if self._fast_in_a_row >= self.limit and self.limit < self.max_limit:
            self.limit = min(self.max_limit, self.limit * 2)
            self._fast_in_a_row = 0
