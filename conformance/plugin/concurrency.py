"""`--concurrency N`: tests whose requests do not depend on each other's run together.

Each test body runs as one job (`wire.ahead`) on a worker thread, ahead of its turn, with the same
arguments and its own evidence; in its turn pytest gets the job's outcome (its exception, its
exchanges) instead of calling the function again, so every verdict, message and report row is what
the test produces.  Requests inside one test keep their order (turn 2 reads turn 1); tests reading
one shared reply send it once (`base.once.Once` makes the others wait).

Before the first job, one short request alone and 4 at once (`wire.ahead.calibrate`): a server that
queues them or refuses some is tested one request at a time from the start.  Run alone, in their
turn on this thread: tests marked `alone` (load, fuzz: nothing else in flight), tests with
function-scoped fixtures other than their parameters and `runs_ahead` fixtures, and every test once
running ahead stopped; a test marked `alone` that sends independent requests of its own (fuzz) may
send N of them at once (the `together` fixture) until then.  A test whose job did not pass (failed,
skipped, unless skipped before any request: a client library not installed) or whose exchanges show
trouble concurrency may cause (429, 5xx, no answer, a broken stream) is judged again alone, after the
running jobs end, with the shared replies it reads fetched again, and that verdict is the one
reported: a server that mishandles concurrent requests cannot fail a test that judges something
else.  Nothing more runs ahead after a 429 (a clean refusal, not a reason to send more at once),
after trouble that is gone alone, after two failures that pass alone, after a slow answer
(`wire.ahead.SLOW_SHARE`) or once the server is found dead.

`--concurrency 1` registers nothing: the requests go out in exactly the order they always did.
With pytest-xdist each worker runs ahead over the tests it has been handed, with its share of N.
"""

from __future__ import annotations

import contextvars
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance.base.once import REFRESH
from conformance.judge.checks import BEFORE_ANY_REQUEST
from conformance.judge.responses import LONG_PROMPT, TRUNCATED_LIMIT
from conformance.wire import guard
from conformance.wire import http as http_layer
from conformance.wire.ahead import (
    PROBES_TOGETHER,
    RUNS_AHEAD,
    Ahead,
    Calibration,
    Outcome,
    Together,
    calibrate,
    trouble,
)
from conformance.wire.sdk_models import build_openai_models

# measured (benchmarks/concurrency.py, 2 cores, reference server at 0.3 s per request, 2026-12-03): 109 s one
# request at a time, 16.4-18.9 s of pytest time with 16 (earlier code: 23 s with 8, 18 s with 16, 17 s with 32;
# the tests judged again alone, the tests marked alone and the suite's own CPU are then the limit)
DEFAULT = 16
MAX = 64
SESSION_FIXTURES = ("server", "model", "api", "sdk", "pytestconfig")  # resolved once, on this thread
PLUGIN_NAME = "responses-conformance-concurrency"
CALIBRATION = "(concurrency calibration)"  # what the calibration's requests are recorded under
RERUN_KEY = pytest.StashKey[str]()
PAUSES_KEY = pytest.StashKey[int]()
REFRESH_KEY = pytest.StashKey[Any]()
FLIPS = 2  # failures ahead that pass alone before nothing more runs ahead
SKIPS = (pytest.skip.Exception, pytest.xfail.Exception)


def add_options(group: Any) -> None:
    group.addoption("--concurrency", type=int, default=DEFAULT, metavar="N",
                    help="tests whose requests do not depend on each other run N at a time against the server "
                    f"(1: one request at a time, in the order of the tests; default: {DEFAULT}); 1 by itself "
                    "for a server that answers one request at a time, after a 429, or after trouble only "
                    "concurrent requests cause")


def option_problem(opt: Any) -> str | None:
    n = getattr(opt, "concurrency", DEFAULT)
    if not 1 <= n <= MAX:
        return f"--concurrency must be between 1 (one request at a time) and {MAX}, not {n}"
    return None


def configure(config: pytest.Config, workers: int = 1) -> None:
    """Register the plugin when running ahead is asked for (N > 1); its share of N per xdist worker."""
    limit = math.ceil(config.option.concurrency / max(1, workers))
    if limit > 1 and not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(RunAhead(config, limit), PLUGIN_NAME)


def summary(config: pytest.Config) -> dict[str, Any] | None:
    """What running ahead did in this process, for the report (None when it was off)."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin.summary() if isinstance(plugin, RunAhead) else None


def together(config: pytest.Config) -> Together:
    """How many of its own requests a test running alone may send at once now (1 without running ahead)."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin.ahead.together() if isinstance(plugin, RunAhead) else Together()


def _direct_param(item: pytest.Function, name: str) -> bool:
    defs = item._fixtureinfo.name2fixturedefs.get(name)
    return bool(defs) and getattr(defs[-1].func, "__name__", "") == "get_direct_param_fixture_func" \
        and name in getattr(getattr(item, "callspec", None), "params", {})


def _ahead_fixture(item: pytest.Function, name: str) -> Any:
    """The fixture function when `name` is a fixture declared with `runs_ahead` (else None)."""
    defs = item._fixtureinfo.name2fixturedefs.get(name)
    func = defs[-1].func if defs else None
    if func is None or not getattr(func, RUNS_AHEAD, False) or defs[-1].scope != "function":
        return None
    if any(a not in SESSION_FIXTURES and a != "request" for a in defs[-1].argnames):
        return None
    return func


SUITE_DIR = Path(__file__).resolve().parent.parent / "suite"


def _shipped_conformance_test(item: pytest.Item) -> bool:
    """A test of the suite this package ships (with its requirement). Only those run ahead: what a test
    writes to stdout/stderr from a pool thread is not captured per test, and between tests pytest's
    capture is off, so another test's print could reach the terminal unredacted (the secrets self-test's
    printing test did, with a key, in the CI of 164f7a3); the shipped tests write nothing there."""
    if not isinstance(item, pytest.Function) or item.get_closest_marker("requirement") is None:
        return False
    try:
        return Path(str(item.path)).resolve().is_relative_to(SUITE_DIR)
    except (OSError, ValueError):
        return False


def why_not(item: pytest.Item) -> str | None:
    """Why this test cannot run ahead of its turn (None: it can)."""
    if not _shipped_conformance_test(item):
        return "not a conformance test of the shipped suite"
    if item.get_closest_marker("alone") is not None:
        return "marked alone"
    if any(item.iter_markers("skip")) or any(item.iter_markers("skipif")):
        return "may be skipped before it runs"
    if any(m.kwargs.get("run", True) is False for m in item.iter_markers("xfail")):
        return "not run (xfail run=False)"
    for name in item.fixturenames:
        if name in SESSION_FIXTURES or (name in ("_evidence", "request") and name not in item._fixtureinfo.argnames):
            continue
        if not _direct_param(item, name) and _ahead_fixture(item, name) is None:
            return f"fixture {name!r} is set up in its turn"
    return None


class RunAhead:
    """The pytest side of `wire.ahead`: what to run ahead, and handing each outcome back in its turn."""

    def __init__(self, config: pytest.Config, limit: int) -> None:
        self.config = config
        self.ahead = Ahead(limit, config.option.request_timeout)
        self.items: list[pytest.Item] = []
        self.index: dict[int, int] = {}
        self.eligible: dict[int, bool] = {}
        self.values: dict[str, Any] = {}
        self.judged_ahead = 0
        self.rerun: list[str] = []
        self.flips: list[str] = []  # tests that failed run ahead and passed alone
        self.workers: list[dict[str, Any]] = []  # xdist: each worker's summary, on the controller
        self.calibration: Calibration | None = None
        self.queued: set[int] = set()  # tests handed to the pool (once each)
        self.handed = 0  # without xdist: the tests up to this index have been looked at

    # -- which tests come next --------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)
        self.index = {id(it): i for i, it in enumerate(self.items)}

    def _upcoming(self, item: pytest.Item) -> list[pytest.Item]:
        """The tests this process runs after `item`, nearest first (xdist: the ones it was handed)."""
        queued = _xdist_queue(self.config)
        if queued is not None:
            return [self.items[i] for i in queued if 0 <= i < len(self.items)]
        at = self.index.get(id(item))
        if at is None:
            return []
        # every test after it, handed over once: only `limit` run at once, the rest wait queued (dropped
        # unstarted on a stop); later calls have nothing new to hand over
        start, self.handed = max(at + 1, self.handed), len(self.items)
        return self.items[start:]

    def _can(self, item: pytest.Item) -> bool:
        known = self.eligible.get(id(item))
        if known is None:
            known = self.eligible[id(item)] = why_not(item) is None
        return known

    def _calibrate(self, current: pytest.Function) -> None:
        """Before the first job: does the server answer requests together at all? (`wire.ahead.calibrate`)"""
        api, model = self._session_value(current, "api"), self._session_value(current, "model")
        body = {"model": model, "input": LONG_PROMPT, "max_output_tokens": TRUNCATED_LIMIT}  # 16 tokens each

        def send() -> float | None:
            # in no test's evidence; named in a recording (--record), so a replay answers it again
            http_layer.CURRENT.set(http_layer.Evidence(CALIBRATION))
            guard.CURRENT_TEST.set(CALIBRATION)
            try:
                reply = api.post("responses", body)
            except Exception:  # no answer: said as the calibration's problem
                return None
            return reply.exchange.elapsed_ms / 1000 if 200 <= reply.status < 300 else None

        self.calibration = contextvars.copy_context().run(calibrate, send)
        if self.calibration.one_at_a_time:
            self.ahead.serial(f"the server answers one request at a time ({self.calibration.describe()})")
        elif self.calibration.problem is None:
            self.ahead.proven(PROBES_TOGETHER)

    def _schedule(self, current: pytest.Function) -> None:
        if self.calibration is None:
            self._calibrate(current)
            if self.ahead.serial_reason is not None:
                return
            # before any job: the SDK builds its models lazily, and two threads reading a stream event
            # that does not validate may cache a wrong event type for the process (`wire.sdk_models`)
            build_openai_models()
        upcoming = self._upcoming(current)
        # a long chain of requests that follow each other starts first: started in its place, the run would
        # wait for it after everything else ended (stable otherwise: the jobs start in the order of the tests)
        upcoming.sort(key=lambda it: it.get_closest_marker("starts_early") is None)
        for item in [current, *upcoming]:
            if id(item) in self.queued or not self._can(item):
                continue
            self.queued.add(id(item))
            assert isinstance(item, pytest.Function)
            try:
                kwargs = self._arguments(current, item)
            except Exception:  # a fixture that cannot be set up here: the test sets it up in its turn
                self.eligible[id(item)] = False
                continue
            if not self.ahead.submit(item.nodeid, _job(item, kwargs)):
                return

    def _session_value(self, current: pytest.Function, name: str) -> Any:
        if name not in self.values:  # session-scoped: set up once, through the test being run
            self.values[name] = current._request.getfixturevalue(name)
        return self.values[name]

    def _arguments(self, current: pytest.Function, item: pytest.Function) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for name in item._fixtureinfo.argnames:
            fixture = _ahead_fixture(item, name)
            if name in SESSION_FIXTURES:
                kwargs[name] = self._session_value(current, name)
            elif fixture is not None:  # set up in the job: a stand-in request with its param and config
                defs = item._fixtureinfo.name2fixturedefs[name][-1]
                request = SimpleNamespace(param=item.callspec.params.get(name), config=self.config, node=item)
                kwargs[name] = _Deferred(fixture, {a: request if a == "request" else self._session_value(current, a)
                                                   for a in defs.argnames})
            else:
                kwargs[name] = item.callspec.params[name]
        return kwargs

    # -- each test in its turn --------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        """A test that will not get its outcome from a job runs alone: its set-up too (no request of
        another test in flight, as without --concurrency)."""
        if not self.ahead.submitted(item.nodeid) and not (self._can(item) and self.ahead.serial_reason is None):
            self._alone(item)
        try:
            return (yield)
        finally:
            for _ in range(item.stash.get(PAUSES_KEY, 0)):
                self.ahead.resume()

    def _alone(self, item: pytest.Item) -> None:
        """Start no new job and wait for the running ones; resumed when the test's protocol ends."""
        self.ahead.pause()
        item.stash[PAUSES_KEY] = item.stash.get(PAUSES_KEY, 0) + 1
        self.ahead.drain()

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        if guard.LIVENESS.dead is not None:
            self.ahead.serial(f"the server stopped responding: {guard.LIVENESS.dead[:200]}")
        if self.ahead.serial_reason is None and pyfuncitem.get_closest_marker("alone") is None and \
                _shipped_conformance_test(pyfuncitem):  # not for other tests in the session
            self._schedule(pyfuncitem)
        outcome = self.ahead.take(pyfuncitem.nodeid)
        if outcome is None:  # pytest calls the test now, alone, as without --concurrency
            if not pyfuncitem.stash.get(PAUSES_KEY, 0):
                self._alone(pyfuncitem)
            return None
        if guard.LIVENESS.dead is not None:
            # the server is gone: alone, the test would fail at once without a request; its job's verdict and
            # evidence (the request that found it gone) stand
            return self._hand_back(outcome)
        problem = trouble(outcome.exchanges)
        if problem is not None and "HTTP 429" in problem:
            self.ahead.serial(f"{problem} in {pyfuncitem.nodeid} with other tests' requests in flight")
        if problem is None and outcome.error is not None and not (
                getattr(outcome.error, BEFORE_ANY_REQUEST, False) and not outcome.exchanges):
            # a verdict other than a pass counts only as the test gives it alone: a server that mixes up
            # concurrent requests must not fail (or skip) tests that judge something else (ROBUST-LOAD-002 does)
            problem = "" if isinstance(outcome.error, SKIPS) else "failed"
        if problem is not None:
            pyfuncitem.stash[RERUN_KEY] = problem
            self.rerun.append(pyfuncitem.nodeid)
            self._alone(pyfuncitem)  # pytest calls it now; what it finds is judged in pytest_runtest_call
            pyfuncitem.stash[REFRESH_KEY] = REFRESH.set(True)  # shared replies it reads: fetched again, alone
            for name, value in self._arguments(pyfuncitem, pyfuncitem).items():  # its runs_ahead fixtures, again
                if isinstance(value, _Deferred):
                    pyfuncitem.funcargs[name] = value.func(**value.kwargs)
            return None
        return self._hand_back(outcome)

    def _hand_back(self, outcome: Outcome) -> bool:
        """The job's verdict as the test's own: its exchanges in the test's evidence, its exception raised."""
        evidence = http_layer.CURRENT.get()
        if evidence is not None:  # a shared reply its set-up read already is there once
            have = {id(ex) for ex in evidence.exchanges}
            evidence.exchanges[len(evidence.exchanges):] = [ex for ex in outcome.exchanges if id(ex) not in have]
        self.judged_ahead += 1
        if outcome.error is not None:
            raise outcome.error
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        passed = False
        try:
            result = yield
            passed = True
            return result
        finally:
            token = item.stash.get(REFRESH_KEY, None)
            if token is not None:
                REFRESH.reset(token)
            problem = item.stash.get(RERUN_KEY, None)
            if problem is not None:
                self._judged_alone(item, problem, passed)

    def _judged_alone(self, item: pytest.Item, problem: str, passed: bool) -> None:
        """After a test ran again alone: did running together change what it found?"""
        if problem == "failed":  # a failure run ahead: alone it passed
            if passed:
                self.flips.append(item.nodeid)
            if len(self.flips) >= FLIPS:  # once could be a sampled model's answer; twice is the server
                self.ahead.serial(f"{', '.join(self.flips)} failed with other tests' requests in flight but passed "
                                  "alone: the server mixes up or mishandles concurrent requests (ROBUST-LOAD-* judge "
                                  "that)")
        elif problem:
            evidence = http_layer.CURRENT.get()
            if trouble(evidence.exchanges if evidence else []) is None:
                self.ahead.serial(f"{problem} in {item.nodeid} with other tests' requests in flight, but not "
                                  "when the test ran alone: the server fails under concurrent requests")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.ahead.close()
        if hasattr(self.config, "workeroutput"):  # an xdist worker: the controller's report says it
            self.config.workeroutput["rc_concurrency"] = self.own_summary()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        got = getattr(node, "workeroutput", {}).get("rc_concurrency")
        if isinstance(got, dict):
            self.workers.append(got)

    def own_summary(self) -> dict[str, Any]:
        return {"concurrency": self.ahead.max_limit, "reached": self.ahead.peak,
                "run_ahead": self.judged_ahead, "rerun_alone": list(self.rerun),
                "failed_ahead_passed_alone": list(self.flips), "serial_reason": self.ahead.serial_reason,
                "calibration": self.calibration.describe() if self.calibration else None}

    def summary(self) -> dict[str, Any]:
        """This process's figures, or with xdist the workers' together."""
        if not self.workers:
            return self.own_summary()
        return {"concurrency": sum(w["concurrency"] for w in self.workers),
                "reached": sum(w["reached"] for w in self.workers),
                "run_ahead": sum(w["run_ahead"] for w in self.workers),
                "rerun_alone": [t for w in self.workers for t in w["rerun_alone"]],
                "failed_ahead_passed_alone": [t for w in self.workers for t in w.get("failed_ahead_passed_alone", [])],
                "serial_reason": "; ".join(w["serial_reason"] for w in self.workers if w["serial_reason"]) or None}


def notes(summary: dict[str, Any] | None) -> list[str]:
    """What the report says when running ahead changed course (nothing when it went as planned)."""
    if not summary:
        return []
    out = []
    if summary.get("serial_reason"):
        out.append(f"--concurrency {summary['concurrency']} fell back to one test at a time: "
                   f"{summary['serial_reason']}")
    if summary.get("rerun_alone"):
        out.append(f"{len(summary['rerun_alone'])} test(s) judged again alone after trouble with other "
                   f"requests in flight: {', '.join(summary['rerun_alone'][:5])}")
    return out


class _Deferred:
    """A `runs_ahead` fixture, set up in the job (its requests belong to the test's evidence there)."""

    def __init__(self, func: Any, kwargs: dict[str, Any]) -> None:
        self.func, self.kwargs = func, kwargs


def _job(item: pytest.Function, kwargs: dict[str, Any]) -> Any:
    """The test body with its own evidence, as the `_evidence` fixture gives it in its turn."""
    def job(outcome: Outcome) -> Any:
        evidence = http_layer.Evidence(item.nodeid)
        outcome.exchanges = evidence.exchanges  # filled as it runs, kept if it raises
        http_layer.CURRENT.set(evidence)  # in the job's own copy of the context
        guard.CURRENT_TEST.set(item.nodeid)
        args = {k: v.func(**v.kwargs) if isinstance(v, _Deferred) else v for k, v in kwargs.items()}
        return item.obj(**args)
    return job


def _xdist_queue(config: pytest.Config) -> list[int] | None:
    """The indices of the tests an xdist worker has been handed and not started (None: not a worker).

    pytest-xdist keeps them in its worker plugin's `torun` queue (no public API): read under its lock;
    anything unexpected means no look-ahead (the tests run in their turn)."""
    if not hasattr(config, "workerinput"):
        return None
    for plugin in config.pluginmanager.get_plugins():
        torun = getattr(plugin, "torun", None)
        if torun is not None and hasattr(torun, "lock"):
            following = getattr(plugin, "nextitem_index", None)  # taken off the queue already
            try:
                with torun.lock() as queued:
                    return [i for i in [following, *queued] if isinstance(i, int)]
            except Exception:
                return []
    return []
