"""The pytest plugin: options and fixtures that wire pytest to the `conformance` library.

Registered through the `pytest11` entry point, so `pytest --server-url http://host:8000/v1
--model M` works from any directory once the package is installed.
"""

from __future__ import annotations

import contextvars
import functools
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.base.failure import ConformanceFailure
from conformance.base.redact import REDACTOR
from conformance.judge.profiles import (
    PROFILES,
    ProfileError,
    declared_unsupported,
    define_profiles,
    unsupported_feature,
)
from conformance.plugin import concurrency, hygiene, interrupts, managed, recording
from conformance.plugin import config as file_config
from conformance.plugin.options import feature_problem, option_problem
from conformance.plugin.reporting import (
    add_allure_marks,
    enable_allure,
    finish_session,
    fix_worker_args,
    path_option_problem,
    terminal_lines,
)
from conformance.plugin.selection import Selection, SelectionError, parse_selection
from conformance.refserver.app import add_timing_options
from conformance.reports import gate
from conformance.reports.report import version_line
from conformance.reports.results import ResultCollector
from conformance.server import managed as started
from conformance.server.preflight import EmbeddedServer, RemoteServer, Server, ServerHandle, ServerProblem, preflight
from conformance.suite import SUITE_DIR
from conformance.suite.requirements import AREA_MODULES, REGISTRY, Requirement
from conformance.wire import guard, record
from conformance.wire import http as http_layer
from conformance.wire.ahead import Together
from conformance.wire.diagnose import server_caused

HANDLE_KEY = pytest.StashKey[ServerHandle]()
SERVER_KEY = pytest.StashKey[Server]()
FILE_CONFIG_KEY = pytest.StashKey[file_config.FileConfig]()
FILE_CONFIG_PROBLEM_KEY = pytest.StashKey[str]()
GIVEN_KEY = pytest.StashKey[set]()
SELECTION_KEY = pytest.StashKey[Selection]()
UNSUPPORTED_KEY = pytest.StashKey[frozenset]()
BASELINE_KEY = pytest.StashKey[dict]()
SERVER_OPTIONS = ("--server-url", "--server-image", "--server-cmd", "--server-preset", "--replay")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("responses-conformance", "Responses API conformance")
    group.addoption(file_config.CONFIG_OPTION, metavar="FILE", default=None,
                    help="read the suite's options from this TOML file (default: [tool.responses-conformance] "
                    "in ./pyproject.toml); the command line overrides it")
    group.addoption("--server-url", help="base URL of a running server, as the openai SDK takes it, e.g. "
                    "http://host:8000/v1 (default: start the embedded reference server)")
    group.addoption("--model", help="model to test (default: the only model the server lists)")
    group.addoption("--api-key", default=os.environ.get("OPENAI_API_KEY"),
                    help="API key sent as a bearer token (default: $OPENAI_API_KEY)")
    group.addoption("--request-timeout", type=float, default=60.0,
                    help="seconds allowed for one request, and for silence in a stream (default: 60)")
    group.addoption("--unsupported", default="",
                    help="comma-separated features the server does not claim (e.g. store,tools); their "
                    "requirements are reported as unsupported instead of failed")
    group.addoption("--profile", default="",
                    help="named feature profile(s) of the server, comma-separated, adding to --unsupported: "
                    + "; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values()))
    group.addoption("--requirements", default="",
                    help="run only the tests of these requirement ids or globs (comma-separated: STREAM-*,SEED-001)")
    group.addoption("--area", default="",
                    help="run only these areas (comma-separated: " + ",".join(AREA_MODULES) + "); each area is "
                    "also a marker (-m streaming)")
    group.addoption("--level", default="", help="run only requirements of these levels (comma-separated: MUST,SHOULD)")
    group.addoption("--baseline", metavar="FILE", default=None,
                    help="known failures (python -m conformance gate --write-baseline): their test cases are "
                    "reported as xfailed, a listed case that passes as XPASS (fixed)")
    group.addoption("--results-json", default=None,
                    help="write every test's requirement, outcome and message to this JSON file")
    group.addoption("--refserver-defect", default=None,
                    help="plant this defect in the embedded reference server (self-tests, demos)")
    group.addoption("--report-dir", default=None,
                    help="write report.json, report.md, report.html, junit.xml and allure-results/ here")
    group.addoption("--fuzz-examples", type=int, default=25,
                    help="generated requests per fuzz requirement (ROBUST-FUZZ-*; 0 skips them; default: 25)")
    group.addoption("--fuzz-seed", type=int, default=20240611,
                    help="seed of the generated requests; the same seed replays the same requests")
    group.addoption("--load-concurrency", type=int, default=8,
                    help="concurrent requests of the load requirements (ROBUST-LOAD-*; 0 skips them; at most 64; "
                    "they go only to the server under test; default: 8)")
    concurrency.add_options(group)  # --concurrency N
    add_timing_options(group.addoption, "--refserver-")  # the embedded server's model time, queue, rate limit
    managed.add_options(group)  # --server-image, --server-preset, --server-cmd, ...
    recording.add_options(group)  # --record DIR, --replay DIR


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """From any directory: a run naming a server but no tests runs the installed suite."""
    problem = path_option_problem(early_config, args)
    if problem:
        raise pytest.UsageError(f"responses-conformance: {problem}")
    namespace = early_config.known_args_namespace
    try:
        loaded = file_config.load(early_config.invocation_params.dir, getattr(namespace, "conformance_config", None))
    except file_config.ConfigError as exc:  # raised at configure, so that --help still works
        early_config.stash[FILE_CONFIG_PROBLEM_KEY] = str(exc)
        loaded = file_config.FileConfig()
    early_config.stash[FILE_CONFIG_KEY] = loaded
    early_config.stash[GIVEN_KEY] = file_config.given_options(args)  # addopts included: pytest put them in
    if not any(a.split("=")[0] in SERVER_OPTIONS for a in args) and not loaded.names_server():
        return
    if not getattr(namespace, "file_or_dir", None) and SUITE_DIR.is_dir():
        args.append(str(SUITE_DIR))


def _wants_suite(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents or path in SUITE_DIR.parents:
            return True
    return False


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(id, level): the conformance requirement a test checks")
    config.addinivalue_line("markers", "alone(reason): run in its turn with no other test's request in flight "
                            "(--concurrency)")
    config.addinivalue_line("markers", "starts_early(reason): with --concurrency, its job starts before those of the "
                            "tests before it (a long chain of requests that follow each other)")
    config.addinivalue_line("markers", "feature(name): a test case that exists only for this feature: "
                            "deselected when the feature is declared unsupported (--unsupported/--profile)")
    for area in AREA_MODULES:
        config.addinivalue_line("markers", f"{area}: the requirements of the {area} area (--area {area})")
    if config.option.help:
        return
    try:
        _apply_options(config)
    except (file_config.ConfigError, ProfileError, SelectionError, gate.InputError) as exc:
        raise pytest.UsageError(f"responses-conformance: {exc}") from None
    recording.start_process(config.option)
    if not config.option.collectonly:
        concurrency.configure(config, getattr(config, "workerinput", {}).get("workercount", 1))
    if _is_worker(config):
        raw = config.workerinput.get("rc_server")  # type: ignore[attr-defined]
        if raw:
            config.stash[HANDLE_KEY] = ServerHandle.from_json(raw)
        return
    if config.option.collectonly or not _wants_suite(config):
        return
    try:
        start_server(config)
    except ServerProblem as exc:
        raise pytest.UsageError(f"responses-conformance: {exc}") from None


def _apply_options(config: pytest.Config) -> None:
    """The configuration file under the command line, then every check that needs no server: options,
    profiles, the selection and the baseline (each process, xdist workers too: they collect and mark)."""
    problem = config.stash.get(FILE_CONFIG_PROBLEM_KEY, None)
    if problem:
        raise file_config.ConfigError(problem)
    loaded = config.stash.get(FILE_CONFIG_KEY, file_config.FileConfig())
    given = config.stash.get(GIVEN_KEY, set())
    file_config.apply(config.option, loaded, given)
    recording.apply_replay_defaults(config.option, given)
    config.option.rc_config_file = str(loaded.path) if loaded.path else None  # for the report
    features = {r.feature for r in REGISTRY if r.feature}
    for profile in loaded.profiles.values():  # a user profile's features are checked like --unsupported's
        bad = feature_problem(",".join(sorted(profile.unsupported)), features, f"{loaded.path}: profile "
                              f"{profile.name!r}")
        if bad:
            raise file_config.ConfigError(bad)
    define_profiles(loaded.profiles)

    def where(problem: str, *options: str) -> str:
        """The problem, naming the configuration file when it set the option at fault."""
        names = [o for o in options or (problem.split()[0],) if o.startswith("--")]
        from_file = any(o[2:].replace("-", "_") in loaded.values and o not in given for o in names)
        return problem + (f" (set in {loaded.path})" if from_file else "")

    problem = (option_problem(config.option, features) or concurrency.option_problem(config.option)
               or recording.problem(config.option))
    if problem:
        raise file_config.ConfigError(where(problem))
    try:
        config.stash[UNSUPPORTED_KEY] = declared_unsupported(config.option.unsupported,
                                                             getattr(config.option, "profile", ""))
        config.stash[SELECTION_KEY] = parse_selection(config.option.area, config.option.requirements,
                                                      config.option.level, REGISTRY)
    except ProfileError as exc:
        raise ProfileError(where(str(exc), "--profile")) from None
    except SelectionError as exc:
        raise SelectionError(where(str(exc), "--area", "--requirements", "--level")) from None
    if config.option.baseline:
        config.stash[BASELINE_KEY] = gate.load_baseline(Path(config.option.baseline))


def start_server(config: pytest.Config) -> ServerHandle:
    opt = config.option
    # a container or local process the suite starts (and always removes), else a running or embedded server
    server: Server | None = recording.replay_server(opt)  # --replay DIR: a recording answers
    if server is None:
        server = started.start_managed(opt, managed.pytest_progress(config), started.evidence_dir(opt))
        if server is not None:  # if it dies mid-run, end the session at once
            config.pluginmanager.register(managed.Watch(server), "responses-conformance-server-watch")
    if server is None and opt.server_url:
        server = RemoteServer(opt.server_url, opt.model, opt.api_key)
    elif server is None:
        server = EmbeddedServer(opt.model, defect=opt.refserver_defect, latency=opt.refserver_latency,
                                serial=opt.refserver_serial, max_in_flight=opt.refserver_max_in_flight)
    config.stash[SERVER_KEY] = server
    try:
        handle = preflight(server.handle)
    except ServerProblem:
        server.stop()
        raise
    REDACTOR.add(handle.api_key)
    config.stash[HANDLE_KEY] = handle
    if opt.record:
        recording.write_manifest(config, handle)
    return handle


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker uses the one server the controller started."""
    handle = node.config.stash.get(HANDLE_KEY, None)
    if handle is not None:
        node.workerinput["rc_server"] = handle.to_json()


RESULTS_KEY = pytest.StashKey[ResultCollector]()
REPORT_KEY = pytest.StashKey[dict]()


# the controller's collector; logreport hooks get no config, so keep a handle to it
_collector: contextvars.ContextVar[ResultCollector | None] = contextvars.ContextVar("collector", default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    if getattr(config.option, "version", 0):  # `pytest --version`: pytest prints its own line after ours
        sys.stdout.write(version_line() + "\n")
        return
    enable_allure(config)  # --report-dir DIR: allure-pytest writes DIR/allure-results (workers too)
    if not _is_worker(config):
        fix_worker_args(config)  # workers get --report-dir=DIR: DIR exists by then (see reporting.PATH_OPTIONS)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _is_worker(session.config):
        collector = ResultCollector()
        session.config.stash[RESULTS_KEY] = collector
        _collector.set(collector)
        interrupts.install()  # SIGTERM (a CI timeout) ends the run like Ctrl-C: the reports are still written


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    collector = _collector.get(None)
    if collector is not None:
        collector.add_report(report)


def pytest_sessionfinish(session: pytest.Session) -> None:
    collector = session.config.stash.get(RESULTS_KEY, None)
    if collector is None:
        return
    collector.finished = time.time()
    interrupts.uninstall()
    path = session.config.option.results_json
    if path:
        collector.write_json(Path(path))
    built = finish_session(session.config, collector, session.config.stash.get(HANDLE_KEY, None),
                           int(session.exitstatus), session.config.stash.get(BASELINE_KEY, None))
    if built is not None:
        session.config.stash[REPORT_KEY] = built
    if session.config.option.record:
        recording.finish(session.config, session.config.stash.get(HANDLE_KEY, None), built,
                         [r.as_dict() for r in collector.records()])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    built = config.stash.get(REPORT_KEY, None)
    if built is not None:
        terminalreporter.write_sep("=", "responses-conformance score")
        for line in terminal_lines(built):
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    record.stop()
    server = config.stash.get(SERVER_KEY, None)
    if server is not None:
        server.stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    handle = config.stash.get(HANDLE_KEY, None)
    if handle is None:
        return []
    lines = [version_line(), f"responses-conformance: {handle.kind} server {handle.url}, model {handle.model}",
             *managed.header_lines(handle.info)]
    opt = config.option
    run = [f"config {opt.rc_config_file}" if getattr(opt, "rc_config_file", None) else "",
           config.stash.get(SELECTION_KEY, Selection()).describe(),
           f"baseline {opt.baseline} ({len(config.stash.get(BASELINE_KEY, {}))} entries)" if opt.baseline else "",
           f"concurrency {opt.concurrency}" if opt.concurrency > 1 else "one request at a time (--concurrency 1)"]
    if any(run):
        lines.append("responses-conformance: " + "; ".join(p for p in run if p))
    return lines


# -- requirements -------------------------------------------------------------------------------


def requirement_of(item: pytest.Item) -> Requirement | None:
    marker = item.get_closest_marker("requirement")
    return REGISTRY.get(marker.args[0]) if marker else None


# requirements whose requests are the likeliest to break a server (generated odd values, concurrency):
# run after the rest, so a server they break has been judged on everything else first
RISKY_PREFIXES = ("ROBUST-FUZZ-", "ROBUST-LOAD-")


def _risky(item: pytest.Item) -> bool:
    req = requirement_of(item)
    return req is not None and req.id.startswith(RISKY_PREFIXES)


def risky_last(items: list[pytest.Item]) -> None:
    """Move the tests of risky requirements to the end, keeping every other order (a stable sort)."""
    items.sort(key=_risky)


def pytest_collection_finish(session: pytest.Session) -> None:
    # What is alive once the tests are collected (imported modules, the collected tests, the compiled
    # schemas) lives to the end of the run: full garbage collections need not scan it again (measured on
    # the reference server at 0.3 s per request: 7 of them took 1.1 s of a 15 s run; 0.7 s frozen).
    gc.freeze()


@pytest.hookimpl(tryfirst=True)  # before `-m`, which may select by the area markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unsupported = config.stash.get(UNSUPPORTED_KEY, frozenset())
    selection = config.stash.get(SELECTION_KEY, Selection())
    baseline = config.stash.get(BASELINE_KEY, {})
    # a case that exists only for a feature declared unsupported is dropped: it sends no request, and the
    # requirement is judged on its other cases exactly as before
    keep = [it for it in items if not any(unsupported_feature(m.args[0], unsupported)
                                          for m in it.iter_markers("feature"))]
    if selection:
        keep = [it for it in keep if (req := requirement_of(it)) is not None and selection.matches(req)]
        if items and not keep:
            raise pytest.UsageError(f"responses-conformance: {selection.describe()} selects requirements, but no "
                                    f"collected test checks them (the test paths given leave them out)")
    if len(keep) != len(items):
        kept = {id(it) for it in keep}
        config.hook.pytest_deselected(items=[it for it in items if id(it) not in kept])
        items[:] = keep
    for item in items:
        req = requirement_of(item)
        if req is None:
            continue
        item.user_properties.append(("requirement", req.id))
        item.user_properties.append(("level", req.level.value))
        item.add_marker(getattr(pytest.mark, req.area))
        item.repr_failure = functools.partial(_repr_failure, item)  # type: ignore[method-assign]
        add_allure_marks(config, item, req)
        missing = unsupported_feature(req.feature, unsupported)
        if missing:
            # not run: a feature the server does not claim gets no request (and no skip inside it counts)
            item.user_properties.append(("unsupported", missing))
            item.add_marker(pytest.mark.xfail(
                reason=f"unsupported: the server does not claim feature {missing!r} (--unsupported/--profile)",
                run=False, strict=False))
            continue
        entry = baseline.get(req.id)
        if entry is not None and entry.covers(gate.case_name(item.nodeid)):
            item.user_properties.append(("known_failure", entry.reason or "listed in the baseline"))
            item.add_marker(pytest.mark.xfail(reason=f"known failure (--baseline): {entry.reason or req.id}",
                                              strict=False))
    risky_last(items)


def _repr_failure(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
    # a ConformanceFailure is reported by format_failure (pytest_runtest_makereport): do not render
    # pytest's own traceback of it first, ~30 ms of CPU per failing test (benchmarks/run.py)
    if excinfo.errisinstance(ConformanceFailure):
        return str(excinfo.value)
    return type(item).repr_failure(item, excinfo)  # type: ignore[arg-type]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server(pytestconfig: pytest.Config) -> ServerHandle:
    handle = pytestconfig.stash.get(HANDLE_KEY, None)
    if handle is None:  # collected through a path the configure step did not recognise
        try:
            handle = start_server(pytestconfig)
        except ServerProblem as exc:
            pytest.exit(f"responses-conformance: {exc}", returncode=4)
    guard.LIVENESS.configure(handle.url, handle.model, handle.api_key)  # for its probe of a silent server
    return handle


@pytest.fixture(scope="session")
def model(server: ServerHandle) -> str:
    return server.model


@pytest.fixture(scope="session")
def api(server: ServerHandle, pytestconfig: pytest.Config) -> http_layer.ApiClient:
    client = http_layer.ApiClient(server.url, server.api_key, timeout=pytestconfig.option.request_timeout)
    yield client
    client.close()


@pytest.fixture(scope="session")
def sdk(server: ServerHandle, pytestconfig: pytest.Config) -> Any:
    """The official `openai` SDK client, pointed at the server, recording evidence."""
    import httpx
    import openai

    timeout = pytestconfig.option.request_timeout
    http_client = httpx.Client(
        timeout=httpx.Timeout(timeout, connect=10.0),
        headers={"Accept-Encoding": guard.ACCEPT_ENCODING},  # what the transport decodes (with its caps)
        # fail fast, bounded memory, and a deadline for a whole answer (a trickling body too)
        transport=guard.GuardedTransport(inner=record.wrap(guard.deadline_transport()),  # --record / --replay
                                         max_body=http_layer.MAX_BODY * 8, deadline=timeout),
        event_hooks={"request": [_sdk_request], "response": [_sdk_response]},
    )
    client = openai.OpenAI(base_url=server.url, api_key=server.api_key or "none", max_retries=0,
                           timeout=timeout, http_client=http_client)
    yield client
    client.close()


def _sdk_request(request: Any) -> None:
    body = request.content.decode("utf-8", "replace") if request.content else None
    request.extensions["rc_exchange"] = http_layer.record(http_layer.Exchange(
        method=request.method, url=str(request.url),
        request_headers=REDACTOR.headers(request.headers.multi_items()),
        request_body=http_layer._trim(body)))
    request.extensions["rc_started"] = time.monotonic()


def _sdk_response(response: Any) -> None:
    ex = response.request.extensions.get("rc_exchange")
    if ex is None:
        return
    ex.status = response.status_code
    ex.response_headers = REDACTOR.headers(guard.received_headers(response))
    if "text/event-stream" not in response.headers.get("content-type", ""):
        response.read()
        ex.response_body = http_layer._trim(response.content)
    # the round trip, as ApiClient records it (to the headers only, for a stream the SDK reads later)
    ex.elapsed_ms = (time.monotonic() - response.request.extensions.get("rc_started", time.monotonic())) * 1000


@pytest.fixture
def together(pytestconfig: pytest.Config) -> Together:
    """For a test marked `alone` that sends independent requests of its own: how many at once (--concurrency)."""
    return concurrency.together(pytestconfig)


@pytest.fixture(autouse=True)
def _evidence(request: pytest.FixtureRequest) -> Any:
    evidence = http_layer.Evidence(request.node.nodeid)
    token = http_layer.CURRENT.set(evidence)
    test_token = guard.CURRENT_TEST.set(request.node.nodeid)
    request.node.stash[EVIDENCE_KEY] = evidence
    yield evidence
    guard.CURRENT_TEST.reset(test_token)
    http_layer.CURRENT.reset(token)


EVIDENCE_KEY = pytest.StashKey[http_layer.Evidence]()


# -- failure reports ----------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    if call.excinfo is not None:  # before any report (ours, JUnit, Allure) renders the exception
        hygiene.redact_exception(call.excinfo.value, REDACTOR.text)
    report = yield
    req = requirement_of(item)
    evidence = item.stash.get(EVIDENCE_KEY, None)
    keep = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
    if keep and evidence is not None and evidence.exchanges:
        report.user_properties.append(("evidence", json.dumps(recording.evidence_dicts(evidence.exchanges[-6:]))))
    if call.excinfo is not None and req is not None and call.excinfo.errisinstance(ConformanceFailure):
        report.longrepr = format_failure(req, str(call.excinfo.value), evidence)
    elif call.excinfo is not None and req is not None:
        # transport, SDK and JSON errors the server caused: the failure shape, not our traceback
        message = server_caused(call.excinfo.value)
        if message:
            report.longrepr = format_failure(req, message, evidence)
    if req is not None:
        hygiene.note_dead_server(report)
        if report.when == "setup" and report.failed and call.excinfo is not None and (
                call.excinfo.errisinstance(ConformanceFailure) or server_caused(call.excinfo.value)):
            # a fixture could not get the server's answer (a dead server, a rejected request): the
            # server failed this requirement; an error stays what our own code broke
            report.when = "call"
    recording.after_report(item, report, evidence.exchanges if evidence is not None else [])
    hygiene.redact_report(report, REDACTOR.text)
    return report


def format_failure(req: Requirement, message: str, evidence: http_layer.Evidence | None) -> str:
    lines = [f"[{req.id}] {req.level.value}: {req.statement}", message.rstrip(), f"Spec: {req.spec}"]
    if req.quote:
        lines[-1] += f' - "{req.quote}"'
    if evidence and evidence.exchanges:
        last = evidence.exchanges[-1]
        status = last.status if last.status is not None else (last.error or "no response")
        lines.append(f"Last exchange: {last.method} {last.url} -> {status}")
        lines.append(f"Reproduce with: {last.curl()}")
    return "\n".join(lines)
