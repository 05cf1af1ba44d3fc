"""`--concurrency N`: tests whose requests do not depend on each other's run together.

Each test body runs as one job (`wire.ahead`) on a worker thread, ahead of its turn, with the same
arguments and its own evidence; in its turn pytest gets the job's outcome (its exception, its
exchanges) instead of calling the function again, so every verdict, message and report row is what
the test produces run alone.  Requests inside one test keep their order (turn 2 reads turn 1);
tests reading one shared reply send it once (`judge.responses._shared` makes the others wait).

Run in their turn, on this thread, as before: tests marked `alone` (load, fuzz, live clients: the
server to themselves, nothing else in flight), tests with function-scoped fixtures other than their
parameters (their set-up is pytest's, on this thread), and every test once running ahead stopped.
A job whose exchanges show trouble that concurrency may cause (429, 5xx, no answer) is judged again
alone, and if the trouble is gone alone, or was a 429, nothing more runs ahead: a 429 is a finding
(the rate-limited request is judged alone), not a reason to send more at once.

`--concurrency 1` runs nothing ahead: the requests go out in exactly the order they always did.
With pytest-xdist each worker runs ahead over the tests it has been handed, with its share of N.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from conformance.wire import guard
from conformance.wire import http as http_layer
from conformance.wire.ahead import Ahead, Outcome, trouble

# measured (benchmarks/run.py --concurrency): with 0.3 s per request, 8 at once takes a full run from
# 76 s to ~16 s on 2 cores; 16 gains under a second more (the suite's own CPU is then the limit)
DEFAULT = 8
MAX = 64
WINDOW = 4  # jobs queued ahead per allowed at once: enough to keep the pool busy, little waste on -x
SESSION_FIXTURES = ("server", "model", "api", "sdk", "pytestconfig")  # resolved once, on this thread
PLUGIN_NAME = "responses-conformance-concurrency"
RERUN_KEY = pytest.StashKey[str]()


def add_options(group: Any) -> None:
    group.addoption("--concurrency", type=int, default=DEFAULT, metavar="N",
                    help="tests whose requests do not depend on each other run N at a time against the server "
                    f"(1: one request at a time, in the order of the tests; default: {DEFAULT}); lowered "
                    "to 1 by itself after a 429 or trouble only concurrent requests cause")


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


def _direct_param(item: pytest.Function, name: str) -> bool:
    defs = item._fixtureinfo.name2fixturedefs.get(name)
    return bool(defs) and getattr(defs[-1].func, "__name__", "") == "get_direct_param_fixture_func" \
        and name in getattr(getattr(item, "callspec", None), "params", {})


def why_not(item: pytest.Item) -> str | None:
    """Why this test cannot run ahead of its turn (None: it can)."""
    if not isinstance(item, pytest.Function) or item.get_closest_marker("requirement") is None:
        return "not a conformance test"
    if item.get_closest_marker("alone") is not None:
        return "marked alone"
    if any(item.iter_markers("skip")) or any(item.iter_markers("skipif")):
        return "may be skipped before it runs"
    if any(m.kwargs.get("run", True) is False for m in item.iter_markers("xfail")):
        return "not run (xfail run=False)"
    for name in item.fixturenames:
        if name in SESSION_FIXTURES or (name in ("_evidence", "request") and name not in item._fixtureinfo.argnames):
            continue
        if not _direct_param(item, name):
            return f"fixture {name!r} is set up in its turn"
    return None


class RunAhead:
    """The pytest side of `wire.ahead`: what to run ahead, and handing each outcome back in its turn."""

    def __init__(self, config: pytest.Config, limit: int) -> None:
        self.config = config
        self.ahead = Ahead(limit, config.option.request_timeout)
        self.window = WINDOW * limit
        self.items: list[pytest.Item] = []
        self.index: dict[int, int] = {}
        self.eligible: dict[int, bool] = {}
        self.values: dict[str, Any] = {}
        self.judged_ahead = 0
        self.rerun: list[str] = []

    # -- which tests come next --------------------------------------------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = list(session.items)
        self.index = {id(it): i for i, it in enumerate(self.items)}

    def _upcoming(self, item: pytest.Item) -> list[pytest.Item]:
        """The tests this process runs after `item`, nearest first (xdist: the ones it was handed)."""
        queued = _xdist_queue(self.config)
        if queued is not None:
            return [self.items[i] for i in queued[:self.window] if 0 <= i < len(self.items)]
        at = self.index.get(id(item))
        return [] if at is None else self.items[at + 1:at + 1 + self.window]

    def _can(self, item: pytest.Item) -> bool:
        known = self.eligible.get(id(item))
        if known is None:
            known = self.eligible[id(item)] = why_not(item) is None
        return known

    def _schedule(self, current: pytest.Function) -> None:
        for item in self._upcoming(current):
            if not self._can(item) or self.ahead.submitted(item.nodeid):
                continue
            assert isinstance(item, pytest.Function)
            try:
                kwargs = self._arguments(current, item)
            except Exception:  # a fixture that cannot be set up here: the test sets it up in its turn
                self.eligible[id(item)] = False
                continue
            if not self.ahead.submit(item.nodeid, _job(item, kwargs)):
                return

    def _arguments(self, current: pytest.Function, item: pytest.Function) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for name in item._fixtureinfo.argnames:
            if name in SESSION_FIXTURES:
                if name not in self.values:  # session-scoped: set up once, through a test being run
                    self.values[name] = current._request.getfixturevalue(name)
                kwargs[name] = self.values[name]
            else:
                kwargs[name] = item.callspec.params[name]
        return kwargs

    # -- each test in its turn --------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        if guard.LIVENESS.dead is not None:
            self.ahead.serial(f"the server stopped responding: {guard.LIVENESS.dead[:200]}")
        if self.ahead.serial_reason is None and pyfuncitem.get_closest_marker("alone") is None:
            self._schedule(pyfuncitem)
        outcome = self.ahead.take(pyfuncitem.nodeid)
        if outcome is None:
            return None  # pytest calls the test now, as without --concurrency
        problem = trouble(outcome.exchanges) if outcome.together > 1 else None
        if problem is not None:
            if "HTTP 429" in problem:
                self.ahead.serial(f"{problem} in {pyfuncitem.nodeid} with other tests' requests in flight")
            pyfuncitem.stash[RERUN_KEY] = problem
            self.rerun.append(pyfuncitem.nodeid)
            self.ahead.pause()  # resumed once the test has been judged alone (pytest_runtest_call)
            self.ahead.drain()
            return None
        evidence = http_layer.CURRENT.get()
        if evidence is not None:
            evidence.exchanges[:0] = outcome.exchanges
        self.judged_ahead += 1
        if outcome.error is not None:
            raise outcome.error
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        alone = item.get_closest_marker("alone") is not None
        if alone:  # the server to itself: nothing else in flight
            self.ahead.pause()
            self.ahead.drain()
        try:
            return (yield)
        finally:
            if alone:
                self.ahead.resume()
            problem = item.stash.get(RERUN_KEY, None)
            if problem is not None:
                evidence = http_layer.CURRENT.get()
                if trouble(evidence.exchanges if evidence else []) is None:
                    self.ahead.serial(f"{problem} in {item.nodeid} with other tests' requests in flight, but "
                                      "not when the test ran alone: the server fails under concurrent requests")
                self.ahead.resume()

    def pytest_sessionfinish(self) -> None:
        self.ahead.close()

    def summary(self) -> dict[str, Any]:
        return {"concurrency": self.ahead.max_limit, "reached": self.ahead.peak,
                "run_ahead": self.judged_ahead, "rerun_alone": list(self.rerun),
                "serial_reason": self.ahead.serial_reason}


def _job(item: pytest.Function, kwargs: dict[str, Any]) -> Any:
    """The test body with its own evidence, as the `_evidence` fixture gives it in its turn."""
    def job(outcome: Outcome) -> Any:
        evidence = http_layer.Evidence(item.nodeid)
        outcome.exchanges = evidence.exchanges  # filled as it runs, kept if it raises
        http_layer.CURRENT.set(evidence)  # in the job's own copy of the context
        guard.CURRENT_TEST.set(item.nodeid)
        return item.obj(**kwargs)
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
