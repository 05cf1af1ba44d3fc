"""Wall time of a full run with `--concurrency N` against `--concurrency 1`, side by side (issue 18).

    python benchmarks/concurrency.py                         # the embedded server, 0.3 s per request
    python benchmarks/concurrency.py --vllm URL --hfserve URL  # and real servers (peers.sh url NAME)

Each target is run with `--concurrency 1` (today's order, one request at a time) and with the
default (`plugin.concurrency.DEFAULT`) or `--levels`, in pytest subprocesses, and reported with:

- wall time, and the suite's own CPU time (user + system of the pytest process; with the embedded
  server that includes the server's handlers, which run in the same process);
- the ideal: the longest chain of requests one test sends one after another (counted in its
  evidence: POST /v1/responses, each waiting for the one before) times the time per request (the
  added latency for the embedded server; the median POST round trip of the serial run for a real
  one);
- verdicts: the outcome of every test must be the same at every level (a model server's sampled
  answers may differ run to run: differences are listed, not hidden).

Targets: `embedded` (reference server, `--refserver-latency`: concurrent requests wait together, as
on a batching server), `embedded-serial` (the same, one request at a time: concurrency must cost
nothing there), and any `--vllm`/`--hfserve`/`--server NAME=URL` given.  `--json FILE` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: the checkout is the import root
    sys.path.insert(0, str(REPO))
from conformance.plugin.concurrency import DEFAULT  # noqa: E402

# requirements whose requests do not depend on each other (sent together inside the test)
INDEPENDENT = ("ROBUST-FUZZ-", "ROBUST-LOAD-")


def run(label: str, argv: list[str], timeout: float) -> dict[str, Any]:
    """One pytest subprocess with the chain probe; wall and CPU measured from here."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "chains.json"
        env = {**os.environ, "RC_CHAIN_OUT": str(out), "PYTHONPATH": str(REPO)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                               "benchmarks.chains", *argv], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        data = json.loads(out.read_text()) if out.exists() else {"tests": [], "ahead": None}
    tail = proc.stdout.strip().splitlines()[-1:] or [proc.stderr.strip()[-300:]]
    return {"label": label, "argv": argv, "wall_s": round(wall, 2),
            "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2),
            "returncode": proc.returncode, "summary": tail[0], **data}


def longest_chain(tests: list[dict[str, Any]]) -> tuple[int, str]:
    best, where = 0, ""
    for t in tests:
        n = 1 if t["requirement"].startswith(INDEPENDENT) and t["posts"] else t["posts"]
        if n > best:
            best, where = n, t["nodeid"]
    return best, where


def outcomes(r: dict[str, Any]) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in r["tests"]}


def target(name: str, argv: list[str], levels: list[int], latency: float | None, timeout: float) -> dict[str, Any]:
    runs = [run(f"{name} --concurrency {c}", [*argv, "--concurrency", str(c)], timeout) for c in levels]
    serial = runs[0]
    chain, where = longest_chain(serial["tests"])
    if latency is None:  # a real server: its median POST round trip, measured one request at a time
        rtts = [ms for t in serial["tests"] for ms in t["post_ms"]]
        per_request = statistics.median(rtts) / 1000 if rtts else 0.0
    else:
        per_request = latency
    base = outcomes(serial)
    for r in runs[1:]:
        other = outcomes(r)
        r["differs"] = sorted(f"{k}: {base.get(k)} -> {other.get(k)}" for k in set(base) | set(other)
                              if base.get(k) != other.get(k))
    return {"target": name, "per_request_s": round(per_request, 3), "longest_chain": chain, "chain_test": where,
            "ideal_s": round(chain * per_request, 2), "posts": serial.get("posts_sent", 0),
            "runs": runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.3, help="seconds per request of the embedded server")
    ap.add_argument("--levels", default=f"1,{DEFAULT}", help="concurrency levels, the first the reference")
    ap.add_argument("--no-embedded", action="store_true")
    ap.add_argument("--vllm", metavar="URL", help="real vLLM (peers.sh start vllm; store on: --profile vllm-store)")
    ap.add_argument("--hfserve", metavar="URL", help="transformers serve (peers.sh start hfserve)")
    ap.add_argument("--server", action="append", default=[], metavar="NAME=URL[,pytest args]",
                    help="another server: NAME=URL, then pytest arguments after commas")
    ap.add_argument("--pytest-args", default="", help="extra pytest arguments for every run")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--json", type=Path)
    opts = ap.parse_args(argv)
    levels = [int(x) for x in opts.levels.split(",")]
    extra = opts.pytest_args.split()
    targets: list[tuple[str, list[str], float | None]] = []
    if not opts.no_embedded:
        lat = ["--refserver-latency", str(opts.latency)]
        targets += [("embedded", lat, opts.latency), ("embedded-serial", [*lat, "--refserver-serial"], opts.latency)]
    if opts.vllm:
        targets.append(("vllm", ["--server-url", opts.vllm, "--profile", "vllm-store"], None))
    if opts.hfserve:
        targets.append(("hfserve", ["--server-url", opts.hfserve], None))
    for spec in opts.server:
        name, _, rest = spec.partition("=")
        url, *args = rest.split(",")
        targets.append((name, ["--server-url", url, *args], None))
    results = []
    for name, args, latency in targets:
        res = target(name, [*args, *extra], levels, latency, opts.timeout)
        results.append(res)
        print(f"\n{name}: {res['posts']} POST /v1/responses; longest chain {res['longest_chain']} "
              f"({res['chain_test']}); {res['per_request_s']} s per request -> ideal {res['ideal_s']} s")
        for r in res["runs"]:
            ahead = r.get("ahead") or {}
            extra_note = f"; serial because: {ahead['serial_reason']}" if ahead.get("serial_reason") else ""
            differs = f"; {len(r.get('differs', []))} outcomes differ" if r.get("differs") else ""
            print(f"  {r['label']:<40} wall {r['wall_s']:>7.1f} s  cpu {r['cpu_s']:>6.1f} s  "
                  f"({r['summary'][:80]}){differs}{extra_note}")
            for d in r.get("differs", [])[:10]:
                print(f"      {d}")
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
