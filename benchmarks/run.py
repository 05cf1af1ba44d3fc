"""What the conformance suite itself costs, next to the server it tests.

    python benchmarks/run.py                 # everything that can run here
    python benchmarks/run.py --no-model      # embedded reference server only
    python benchmarks/run.py --profile       # plus a cProfile of one embedded run

It runs whatever suite exists (conformance/suite) in pytest subprocesses with the
`benchmarks.probe` plugin and prints:

1. overhead per test against the embedded reference server: each test's wall time minus the CPU
   time the in-process server spent in its request handlers (zero model time), with pytest's
   start-up (interpreter, imports, plugins, server start, collection) and shutdown reported apart;
2. the suite's share of wall time against a real model server (`transformers serve` with the tiny
   local reasoner of `../shared/peers`, or `--server-url`): wall time minus the HTTP round trips
   recorded in the evidence (`Exchange.elapsed_ms`), cross-checked by a counter under httpx of the
   time spent waiting for the server's bytes;
3. output tokens per full run: the sum of `max_output_tokens` over every POST /v1/responses and
   the `usage.output_tokens` the server reported, with any request that asks for no bound;
4. the speed-up of `-n 2` and `-n auto` against one shared server;
5. schema compilations per process (each definition must be compiled once per run);
6. the Open Responses compliance tester (github.com/openresponses/openresponses,
   `bin/compliance-test.ts`) against the same servers, when a checkout of it is at
   `--openresponses DIR` (default /tmp/openresponses) with `zod` and `tsx` installed.

Targets (issue #9): < 25 ms overhead per test (embedded), < 5 % of wall time in the suite (model
server), every schema compiled once per process. `--json FILE` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: the checkout is the import root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.probe import union

REPO = Path(__file__).resolve().parent.parent
PEERS_SH = REPO.parent / "shared" / "peers" / "peers.sh"
PEERS_DIR = Path(os.environ.get("PEERS_DIR", "/tmp/peers"))
HF_MODEL = "tiny-qwen3-reasoner"
TARGET_OVERHEAD_MS = 25.0
TARGET_SHARE = 0.05
BIG_BUDGET = 256  # responses.ANSWER: a request asking for more is listed for review


# -- running the suite --------------------------------------------------------------------------


@dataclass
class Run:
    """One pytest subprocess measured by the probe."""

    label: str
    argv: list[str]
    wall_s: float
    returncode: int
    processes: list[dict[str, Any]]
    output: str
    t0: float = 0.0
    t_exit: float = 0.0
    cpu_s: float = 0.0  # user + system CPU of the pytest process and its workers
    load: float = 0.0  # 1-minute load average when the run ended (other work on the machine)

    @property
    def controller(self) -> dict[str, Any]:
        found = [p for p in self.processes if p["role"] == "controller"]
        return found[0] if found else {"phases": {}, "tests": [], "requests": [], "server": {}, "schema": {}}

    @property
    def tests(self) -> list[dict[str, Any]]:
        return [t for p in self.processes for t in p["tests"]]

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [r for p in self.processes for r in p["requests"]]

    def server_by_test(self) -> dict[str, dict[str, float]]:
        return self.controller.get("server", {})


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "RC_BENCH"))}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_suite(label: str, extra: list[str], timeout: float = 1800, profile: Path | None = None,
              pycache: Path | None = None) -> Run:
    """`python -m pytest -p benchmarks.probe EXTRA` from the checkout, timed from outside.

    `pycache`: let Python keep compiled bytecode (and pytest its rewritten test modules) in this
    directory, as an installed package has it; by default the environment decides.
    """
    with tempfile.TemporaryDirectory(prefix="rc-bench-") as tmp:
        env = _child_env()
        env["RC_BENCH_OUT"] = tmp
        if pycache is not None:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(pycache)
        head = [sys.executable]
        if profile is not None:
            head += ["-m", "cProfile", "-o", str(profile)]
        argv = [*head, "-m", "pytest", "-q", "-p", "benchmarks.probe", "-p", "no:cacheprovider", *extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        t_exit = time.time()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        processes = [json.loads(p.read_text()) for p in sorted(Path(tmp).glob("*.json"))]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(label, argv[argv.index("pytest") + 1:], t_exit - t0, proc.returncode, processes,
               (proc.stdout[-3000:] + proc.stderr[-2000:]), t0, t_exit, cpu, os.getloadavg()[0])


# -- figures ------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def phases(run: Run) -> dict[str, float]:
    """Seconds spent before the first test, running tests, and after the last one."""
    ph = run.controller["phases"]
    first = ph.get("first_test", run.t_exit)
    last = ph.get("last_test", first)
    return {
        "interpreter_and_plugins_s": ph.get("import", run.t0) - run.t0,
        "configure_and_server_start_s": ph.get("sessionstart", first) - ph.get("configure", run.t0),
        "collection_s": ph.get("collected", first) - ph.get("sessionstart", ph.get("configure", run.t0)),
        "startup_s": first - run.t0,
        "tests_s": last - first,
        "shutdown_s": run.t_exit - last - ph.get("probe_s", 0.0),  # the probe's own parsing is not the suite's
        "wall_s": run.wall_s,
    }


def embedded_overhead(run: Run) -> dict[str, Any]:
    """Per-test overhead: each test's time minus the in-process server's handler CPU time.

    Wall time is what a user waits; CPU time (the process's, all threads) is what the suite costs
    whatever else runs on the machine.  One-time session fixtures (the `openai` import in `sdk`,
    the HTTP clients) are reported apart, as start-up.
    """
    server = run.server_by_test()
    rows = []
    for t in run.tests:
        s = server.get(t["nodeid"], {"cpu": 0.0, "wall": 0.0, "n": 0})
        server_ms = s["cpu"] * 1000
        rows.append({"nodeid": t["nodeid"], "wall_ms": t["wall_ms"], "server_cpu_ms": server_ms,
                     "server_wall_ms": s["wall"] * 1000, "requests": s["n"], "outcome": t["outcome"],
                     "session_fixture_ms": t.get("session_fixture_ms", 0.0),
                     "overhead_ms": t["wall_ms"] - server_ms,
                     "steady_ms": t["wall_ms"] - t.get("session_fixture_ms", 0.0) - server_ms,
                     "steady_cpu_ms": t.get("cpu_ms", 0.0) - t.get("session_fixture_cpu_ms", 0.0) - server_ms})
    n = len(rows) or 1
    steady = [r["steady_ms"] for r in rows]
    server_cpu = sum(r["server_cpu_ms"] for r in rows)
    ph = run.controller["phases"]
    return {
        "tests": len(rows),
        "outcomes": _count(r["outcome"] for r in rows),
        "requests": sum(r["requests"] for r in rows),
        "overhead_ms_mean": sum(r["overhead_ms"] for r in rows) / n,
        "steady_ms_mean": sum(steady) / n,
        "steady_ms_median": statistics.median(steady) if steady else 0.0,
        "steady_ms_p95": _pct(steady, 0.95),
        "steady_cpu_ms_mean": sum(r["steady_cpu_ms"] for r in rows) / n,
        "session_fixtures_s": sum(r["session_fixture_ms"] for r in rows) / 1000,
        "test_wall_ms_mean": sum(r["wall_ms"] for r in rows) / n,
        "server_cpu_ms_mean": server_cpu / n,
        "server_wall_ms_mean": sum(r["server_wall_ms"] for r in rows) / n,
        "whole_run_ms_per_test": (run.wall_s * 1000 - server_cpu) / n,
        "whole_run_cpu_ms_per_test": (run.cpu_s * 1000 - server_cpu) / n,
        "startup_cpu_s": ph.get("first_test_cpu", 0.0),
        "tests_cpu_s": ph.get("last_test_cpu", 0.0) - ph.get("first_test_cpu", 0.0),
        "cpu_s": run.cpu_s,
        "load": run.load,
        "slowest": sorted(rows, key=lambda r: -r["steady_ms"])[:5],
        "phases": phases(run),
    }


def model_share(run: Run) -> dict[str, Any]:
    """The suite's share of wall time against a real server: test time the server was not answering.

    Server time is the time at least one of the test's requests was in flight (concurrent load
    requests overlap, so they are not summed), from the evidence (`Exchange.elapsed_ms` from the
    moment the exchange was recorded) and, as a cross-check, from the httpx-level counter.
    """
    evidence_busy = sum(t.get("evidence_busy_ms", 0.0) for t in run.tests)
    evidence_sum = sum(t["evidence_ms"] for t in run.tests)
    untimed = sum(t["exchanges_without_time"] for t in run.tests)
    in_tests = [r for r in run.requests if r["test"] is not None]
    by_test: dict[str, list[tuple[float, float]]] = {}
    for r in in_tests:
        by_test.setdefault(r["test"], []).append((r["start"], r["end"]))
    network_busy = sum(union(spans) for spans in by_test.values()) * 1000
    ph = phases(run)
    tests_ms = sum(t["wall_ms"] for t in run.tests)
    # the httpx counter sees every request once (a shared reply is not re-counted) and the SDK's too
    server_ms = network_busy or evidence_busy
    tests_cpu_ms = sum(t.get("cpu_ms", 0.0) for t in run.tests)
    slow = sorted(run.tests, key=lambda t: -t["wall_ms"])[:5]
    return {
        "tests": len(run.tests),
        "outcomes": _count(t["outcome"] for t in run.tests),
        "requests": len(in_tests),
        "evidence_busy_s": evidence_busy / 1000,
        "evidence_sum_s": evidence_sum / 1000,
        "exchanges_without_time": untimed,
        "network_busy_s": network_busy / 1000,
        "tests_wall_s": tests_ms / 1000,
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "load": run.load,
        "startup_s": ph["startup_s"],
        "shutdown_s": ph["shutdown_s"],
        # the suite's share while tests run, and over the whole process (start-up included)
        "share_tests": 1 - server_ms / tests_ms if tests_ms else 0.0,
        "share_wall": 1 - server_ms / (run.wall_s * 1000) if run.wall_s else 0.0,
        "overhead_ms_per_test": (tests_ms - server_ms) / max(1, len(run.tests)),
        # CPU the suite burnt while tests ran, over their wall time: its share on an idle machine
        "share_cpu_tests": tests_cpu_ms / tests_ms if tests_ms else 0.0,
        "tests_cpu_s": tests_cpu_ms / 1000,
        "slowest": [(t["nodeid"], round(t["wall_ms"] / 1000, 2)) for t in slow],
    }


def tokens(run: Run) -> dict[str, Any]:
    """Output-token budget of one full run, from every POST /v1/responses the suite sent."""
    posts = [r for r in run.requests if r["responses_post"]]
    # an invalid limit (a negative one, sent to be rejected) is no budget
    bounded = [r for r in posts if isinstance(r["max_output_tokens"], int) and r["max_output_tokens"] > 0]
    unbounded = [r for r in posts if not isinstance(r["max_output_tokens"], int)]
    accepted = [r for r in posts if r["status"] is not None and r["status"] < 300]
    per_test: dict[str, dict[str, int]] = {}
    for r in posts:
        slot = per_test.setdefault(r["test"] or "(outside tests)", {"requests": 0, "budget": 0, "generated": 0})
        slot["requests"] += 1
        slot["budget"] += r["max_output_tokens"] if r in bounded else 0
        slot["generated"] += r["output_tokens"] or 0
    return {
        "responses_posts": len(posts),
        "budget_max_output_tokens": sum(r["max_output_tokens"] for r in bounded),
        "generated_output_tokens": sum(r["output_tokens"] or 0 for r in accepted),
        "accepted": len(accepted),
        "unbounded_accepted": [(r["test"], r["status"]) for r in unbounded
                               if r["status"] is not None and r["status"] < 300],
        "unbounded_rejected": sum(1 for r in unbounded if r["status"] is None or r["status"] >= 300),
        "above_answer_budget": sorted({(r["test"], r["max_output_tokens"]) for r in bounded
                                       if r["max_output_tokens"] > BIG_BUDGET}),
        "largest_tests": sorted(per_test.items(), key=lambda kv: -kv[1]["budget"])[:5],
        "budget_histogram": _count(r["max_output_tokens"] for r in bounded),
        "per_test": per_test,
    }


def schema_stats(run: Run) -> dict[str, Any]:
    per_process = []
    for p in run.processes:
        s = p.get("schema", {})
        compiled = s.get("compiled", {})
        per_process.append({"role": p["role"], "loads": s.get("loads", 0), "definitions": len(compiled),
                            "compilations": sum(compiled.values()), "max_per_definition": max(compiled.values(),
                                                                                             default=0),
                            "validations": s.get("check_n", 0), "validation_s": s.get("check_s", 0.0)})
    ok = all(p["loads"] <= 1 and p["max_per_definition"] <= 1 for p in per_process)
    return {"compiled_once_per_process": ok, "processes": per_process}


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items()))


# -- the real model server ----------------------------------------------------------------------


@dataclass
class ModelServer:
    url: str
    model: str
    api_key: str | None
    how: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    notes: list[str] = field(default_factory=list)

    def args(self) -> list[str]:
        out = ["--server-url", self.url, "--model", self.model]
        return out + (["--api-key", self.api_key] if self.api_key else [])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # the server runs in its own session: end exactly that process group, which we started
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _answers(url: str, api_key: str | None = None) -> bool:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        return httpx.get(url.rstrip("/") + "/models", timeout=3, headers=headers).status_code < 500
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_model_server(opts: argparse.Namespace) -> ModelServer | str:
    """The server named on the command line, a running hfserve peer, or one we start; else why not."""
    if opts.server_url:
        return ModelServer(opts.server_url, opts.model or "", opts.api_key, "given with --server-url")
    if PEERS_SH.exists() and not opts.start_model_server:
        try:
            line = subprocess.run(["bash", str(PEERS_SH), "url", "hfserve"], capture_output=True, text=True,
                                  timeout=20, env={**os.environ, "PEERS_DIR": str(PEERS_DIR)}).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            line = []
        if len(line) == 3 and _answers(line[0]):
            return ModelServer(line[0], line[1], None if line[2] == "none" else line[2],
                               "running hfserve peer (peers.sh url hfserve)")
    binary, model_dir = PEERS_DIR / "hfserve" / "bin" / "transformers", PEERS_DIR / HF_MODEL
    if not (binary.exists() and model_dir.is_dir()):
        return (f"no model server: none given (--server-url), no hfserve peer answering, and no "
                f"`transformers serve` install at {binary} with the model {model_dir} "
                f"(install it with `bash {PEERS_SH} install hfserve`)")
    port = _free_port()
    home = PEERS_DIR / "home"
    env = {**os.environ, "HOME": str(home), "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "XDG_CACHE_HOME": str(home / ".cache")}
    log = Path(tempfile.gettempdir()) / f"rc-bench-hfserve-{port}.log"
    # same command as peers.sh, on a port of our own; the model is served by its relative path
    cmd = [str(binary), "serve", HF_MODEL, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=PEERS_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = ModelServer(f"http://127.0.0.1:{port}/v1", HF_MODEL, None,
                         f"transformers serve started by the benchmark (pid {proc.pid}, log {log})", proc, log)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            return f"transformers serve exited with {proc.returncode}; see {log}"
        if _answers(server.url):
            return server
        time.sleep(0.5)
    server.stop()
    return f"transformers serve did not answer within 180 s; see {log}"


# -- the Open Responses compliance tester -------------------------------------------------------


def openresponses_problem(directory: Path) -> str | None:
    if not (directory / "bin" / "compliance-test.ts").exists():
        return (f"no checkout of github.com/openresponses/openresponses at {directory} "
                "(git clone it there, then `npm install --no-save zod@^3.25.76 tsx` in it)")
    if not (directory / "node_modules" / ".bin" / "tsx").exists():
        return f"{directory} has no node_modules/.bin/tsx: run `npm install --no-save zod@^3.25.76 tsx` there"
    if shutil.which("node") is None:
        return "node is not installed"
    return None


def run_openresponses(directory: Path, url: str, model: str, api_key: str | None,
                      timeout: float = 600) -> dict[str, Any]:
    """The Open Responses CLI (`bin/compliance-test.ts --json`) run with node + tsx, timed from outside."""
    env = {**os.environ}
    # Node 20 keeps its WebSocket client behind a flag (Node 22 has it on; Bun, the CLI's own runtime, too)
    if int(subprocess.run(["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True,
                          text=True).stdout.strip() or 0) < 22:
        env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") + " --experimental-websocket").strip()
    cmd = [str(directory / "node_modules" / ".bin" / "tsx"), "bin/compliance-test.ts", "--base-url", url,
           "--api-key", api_key or "none", "--model", model, "--json"]
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=directory, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.time() - t0
    t1 = time.time()
    subprocess.run([*cmd[:2], "--help"], cwd=directory, env=env, capture_output=True, timeout=120)
    startup = time.time() - t1
    text = proc.stdout
    try:
        data = json.loads(text[text.index("{"):])
    except ValueError:
        return {"error": f"no JSON from the tester (exit {proc.returncode}): {(text + proc.stderr)[-600:]}",
                "wall_s": wall}
    results = data.get("results", [])
    return {"wall_s": wall, "startup_s": startup, "summary": data.get("summary", {}),
            "durations_ms_sum": sum(r.get("duration") or 0 for r in results),
            "failed": {r["id"]: (r.get("errors") or [""])[0][:160] for r in results if r.get("status") == "failed"}}


def peer_on_refserver(directory: Path) -> dict[str, Any]:
    """The tester against a reference server in this process, counting the tokens it asks for."""
    from benchmarks import probe
    from conformance.refserver import start_in_thread

    probe._instrument_refserver()
    server = start_in_thread()
    try:
        out = run_openresponses(directory, server.url, "ref-reasoner", None)
    finally:
        server.shutdown()
        server.server_close()
    bodies = probe._state["server_bodies"]
    out["server_cpu_s"] = sum(s["cpu"] for s in probe._state["server"].values())
    out["responses_created"] = len(bodies)
    out["without_max_output_tokens"] = sum(1 for _, wanted, _ in bodies if not isinstance(wanted, int))
    out["generated_output_tokens"] = sum(o or 0 for _, _, o in bodies)
    return out


# -- report -------------------------------------------------------------------------------------


def _ms(x: float) -> str:
    return f"{x:.1f} ms"


def _mark(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="serial embedded runs (the median is reported)")
    ap.add_argument("--pytest-args", default="", help="extra pytest arguments for every suite run (e.g. -k seed)")
    ap.add_argument("--no-model", action="store_true", help="skip the real model server")
    ap.add_argument("--no-xdist", action="store_true", help="skip the -n 2 / -n auto runs")
    ap.add_argument("--no-peer", action="store_true", help="skip the Open Responses tester")
    ap.add_argument("--server-url", help="a running model server (default: the hfserve peer, started if needed)")
    ap.add_argument("--start-model-server", action="store_true",
                    help="start a transformers serve of our own even when the shared hfserve peer answers")
    ap.add_argument("--model")
    ap.add_argument("--api-key")
    ap.add_argument("--openresponses", type=Path, default=Path(os.environ.get("RC_OPENRESPONSES_DIR",
                                                                              "/tmp/openresponses")),
                    help="checkout of github.com/openresponses/openresponses with zod and tsx installed")
    ap.add_argument("--profile", action="store_true", help="also profile one embedded run with cProfile")
    ap.add_argument("--no-bytecode-run", action="store_true",
                    help="skip the extra runs with a bytecode cache (made when PYTHONDONTWRITEBYTECODE is set)")
    ap.add_argument("--quick", action="store_true",
                    help="one embedded run only (no xdist, model server, peer tester, bytecode-cache runs)")
    ap.add_argument("--json", type=Path, help="write every figure to this file")
    opts = ap.parse_args(argv)
    if opts.quick:
        opts.repeat, opts.no_xdist, opts.no_model, opts.no_peer, opts.no_bytecode_run = 1, True, True, True, True
    extra = opts.pytest_args.split()
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                          "bytecode_cache": not os.environ.get("PYTHONDONTWRITEBYTECODE")}}
    say = print

    # 1. embedded reference server, serial
    say(f"== embedded reference server, serial, {opts.repeat} run(s)")
    runs = [run_suite(f"embedded #{i + 1}", extra) for i in range(max(1, opts.repeat))]
    figures = [embedded_overhead(r) for r in runs]
    best = sorted(range(len(runs)), key=lambda i: figures[i]["steady_ms_mean"])[len(runs) // 2]  # the median run
    run, fig = runs[best], figures[best]
    if not fig["tests"]:
        say(f"the suite ran no test (exit {run.returncode}):\n{run.output}")
        return 2
    ph = fig["phases"]
    say(f"tests: {fig['tests']} {fig['outcomes']}, requests: {fig['requests']}; load average {fig['load']:.1f} "
        f"on {os.cpu_count()} CPUs")
    each = ", ".join(f"{f['steady_ms_mean']:.1f}" for f in figures)
    say(f"overhead per test (wall - server CPU, one-time session fixtures apart): mean "
        f"{_ms(fig['steady_ms_mean'])} (runs: {each}), median {_ms(fig['steady_ms_median'])}, p95 "
        f"{_ms(fig['steady_ms_p95'])} -> {_mark(fig['steady_ms_mean'] < TARGET_OVERHEAD_MS)} "
        f"(< {TARGET_OVERHEAD_MS:.0f} ms); CPU: {_ms(fig['steady_cpu_ms_mean'])} per test")
    say(f"  test wall {_ms(fig['test_wall_ms_mean'])} - server handler CPU {_ms(fig['server_cpu_ms_mean'])} "
        f"(handler wall {_ms(fig['server_wall_ms_mean'])}); with the session fixtures "
        f"({fig['session_fixtures_s']:.2f} s, the openai import) spread over the tests: {_ms(fig['overhead_ms_mean'])}")
    say(f"pytest start-up {ph['startup_s']:.2f} s (interpreter+imports+plugins {ph['interpreter_and_plugins_s']:.2f}"
        f", configure+server start+preflight {ph['configure_and_server_start_s']:.2f}, collection "
        f"{ph['collection_s']:.2f}; {fig['startup_cpu_s']:.2f} s CPU); tests {ph['tests_s']:.2f} s; shutdown "
        f"{ph['shutdown_s']:.2f} s; wall {ph['wall_s']:.2f} s, CPU {fig['cpu_s']:.2f} s")
    say(f"whole run, start-up and shutdown included: {_ms(fig['whole_run_ms_per_test'])} wall, "
        f"{_ms(fig['whole_run_cpu_ms_per_test'])} CPU per test")
    for r in fig["slowest"][:3]:
        say(f"  slowest: {r['nodeid']} {_ms(r['steady_ms'])} (server {_ms(r['server_cpu_ms'])})")
    if not report["machine"]["bytecode_cache"] and not opts.no_bytecode_run:
        say("  PYTHONDONTWRITEBYTECODE is set here: every run compiles (and assertion-rewrites) every module")
        cache = Path(tempfile.gettempdir()) / "rc-bench-pycache"
        run_suite("warm-up", extra, pycache=cache)
        warm = embedded_overhead(run_suite("bytecode cache", extra, pycache=cache))
        wp = warm["phases"]
        say(f"  with a bytecode cache (as an installed package has): start-up {wp['startup_s']:.2f} s, shutdown "
            f"{wp['shutdown_s']:.2f} s, wall {wp['wall_s']:.2f} s, CPU {warm['cpu_s']:.2f} s; overhead per test "
            f"{_ms(warm['steady_ms_mean'])}, with session fixtures {_ms(warm['overhead_ms_mean'])}")
        report["embedded_bytecode_cache"] = warm
    report["embedded"] = {"runs": figures, "reported": best}
    report["embedded_tokens"] = tokens(run)
    report["schemas"] = schema_stats(run)

    # 2. schemas compiled once
    sc = report["schemas"]
    p0 = sc["processes"][0] if sc["processes"] else {}
    say(f"\n== schemas: {p0.get('definitions', 0)} definitions compiled, {p0.get('compilations', 0)} "
        f"compilations, {p0.get('loads', 0)} load(s) of the schema files, {p0.get('validations', 0)} "
        f"validations in {p0.get('validation_s', 0.0):.2f} s -> compiled once per run: "
        f"{'yes' if sc['compiled_once_per_process'] else 'NO'}")

    # 3. xdist, embedded
    if not opts.no_xdist:
        say("\n== embedded reference server, pytest-xdist (one shared server)")
        report["embedded_xdist"] = {}
        for n in ("2", "auto"):
            x = run_suite(f"embedded -n {n}", ["-n", n, *extra])
            report["embedded_xdist"][n] = {"wall_s": x.wall_s, "tests": len(x.tests),
                                           "speedup": run.wall_s / x.wall_s, "schemas": schema_stats(x)}
            say(f"-n {n}: wall {x.wall_s:.2f} s vs serial {run.wall_s:.2f} s -> speed-up "
                f"{run.wall_s / x.wall_s:.2f}x ({len(x.tests)} tests, {len(x.processes) - 1} workers)")

    # 4. the real model server
    server: ModelServer | str | None = None
    if not opts.no_model:
        say("\n== real model server")
        server = find_model_server(opts)
        if isinstance(server, str):
            say(f"not measured: {server}")
            report["model"] = {"skipped": server}
        else:
            if True:
                say(f"{server.url} model {server.model} ({server.how})")
                m = run_suite("model", [*server.args(), *extra])
                share = model_share(m)
                report["model"] = share
                report["model_tokens"] = tokens(m)
                say(f"tests: {share['tests']} {share['outcomes']}, requests: {share['requests']}")
                say(f"server time (a request in flight): {share['evidence_busy_s']:.2f} s from the evidence "
                    f"(round trips summed: {share['evidence_sum_s']:.2f} s; {share['exchanges_without_time']} "
                    f"exchanges without a time), {share['network_busy_s']:.2f} s from the httpx counter; test wall "
                    f"{share['tests_wall_s']:.2f} s; process wall {share['wall_s']:.2f} s (start-up "
                    f"{share['startup_s']:.2f} s), CPU {share['cpu_s']:.2f} s, load average {share['load']:.1f}")
                say(f"suite CPU while tests ran: {share['tests_cpu_s']:.2f} s = {share['share_cpu_tests']:.1%} of test "
                    f"wall time (independent of other load on the machine)")
                say(f"suite share: {share['share_tests']:.1%} of test time "
                    f"-> {_mark(share['share_tests'] < TARGET_SHARE)} (< {TARGET_SHARE:.0%}); "
                    f"{share['share_wall']:.1%} of the whole process wall; "
                    f"{_ms(share['overhead_ms_per_test'])} per test")
                for nodeid, secs in share["slowest"][:3]:
                    say(f"  slowest: {nodeid} {secs:.2f} s")
                if not opts.no_xdist:
                    report["model_xdist"] = {}
                    for n in ("2", "auto"):
                        x = run_suite(f"model -n {n}", ["-n", n, *server.args(), *extra])
                        report["model_xdist"][n] = {"wall_s": x.wall_s, "speedup": m.wall_s / x.wall_s,
                                                    "tests": len(x.tests)}
                        say(f"-n {n}: wall {x.wall_s:.2f} s vs serial {m.wall_s:.2f} s -> speed-up "
                            f"{m.wall_s / x.wall_s:.2f}x")

    # 5. tokens
    for key, title in (("embedded_tokens", "embedded reference server"), ("model_tokens", "model server")):
        tk = report.get(key)
        if not tk:
            continue
        say(f"\n== output tokens per full run ({title})")
        say(f"{tk['responses_posts']} POST /v1/responses ({tk['accepted']} accepted): budget "
            f"{tk['budget_max_output_tokens']} max_output_tokens in total, {tk['generated_output_tokens']} "
            f"output tokens generated; budgets used: {tk['budget_histogram']}")
        say(f"accepted requests without max_output_tokens: {len(tk['unbounded_accepted'])}"
            + (f" {tk['unbounded_accepted'][:5]}" if tk["unbounded_accepted"] else "")
            + f"; rejected ones (nothing generated): {tk['unbounded_rejected']}")
        if tk["above_answer_budget"]:
            say(f"requests above {BIG_BUDGET} tokens: {tk['above_answer_budget'][:8]}")
        for name, t in tk["largest_tests"][:3]:
            say(f"  largest budget: {name} {t['budget']} ({t['requests']} requests, {t['generated']} generated)")

    # 6. the Open Responses compliance tester, same servers
    if not opts.no_peer:
        say("\n== Open Responses compliance tester (openresponses/openresponses bin/compliance-test.ts)")
        problem = openresponses_problem(opts.openresponses)
        if problem:
            say(f"not run: {problem}")
            report["peer"] = {"skipped": problem}
        else:
            report["peer"] = {"embedded": peer_on_refserver(opts.openresponses)}
            if isinstance(server, ModelServer):
                report["peer"]["model"] = run_openresponses(opts.openresponses, server.url, server.model,
                                                            server.api_key)
            for where, res in report["peer"].items():
                if "error" in res:
                    say(f"{where}: {res['error']}")
                    continue
                s = res["summary"]
                say(f"{where}: {s.get('total')} tests ({s.get('passed')} passed, {s.get('failed')} failed) in "
                    f"{res['wall_s']:.2f} s wall (node+tsx start-up {res['startup_s']:.2f} s; tests run "
                    f"concurrently)" + (f"; {res['responses_created']} responses created, "
                                        f"{res['without_max_output_tokens']} without max_output_tokens, "
                                        f"{res['generated_output_tokens']} tokens generated"
                                        if "responses_created" in res else ""))
                for tid, err in list(res["failed"].items())[:20]:
                    say(f"  failed {tid}: {err}")
    if isinstance(server, ModelServer):
        server.stop()

    if opts.profile:
        say("\n== cProfile of one embedded run (top functions by own time)")
        with tempfile.TemporaryDirectory() as tmp:
            prof = Path(tmp) / "suite.prof"
            run_suite("profile", extra, profile=prof)
            import pstats

            stats = pstats.Stats(str(prof))
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(r"conformance", 25)
    if opts.json:
        opts.json.write_text(json.dumps(report, indent=1, default=str))
        say(f"\nfigures written to {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
