"""A real third-party server in CI: the seed scenario against `transformers serve` + a tiny reasoner.

`python -m tools.peers run hfserve --install` installs the peer from its recipe
(`<repo>/../shared/peers/peers.sh`, or $RC_PEERS_SH) into $RC_PEERS_DIR (default
/tmp/rc-peers; ~80 s and 1.2 GB, torch from the machine's local CPU wheel; ci/test.sh starts
it in the background early), starts it, runs the seed scenario (reasoning items from a real
model server handed back across turns) and the reasoning area, and stops it.

The run is gated (`python -m conformance gate --strict-should`) on ci/peers/hfserve-baseline.json,
the server's known deviations: transformers serve 5.24 streams when a request omits `stream`
(`body.get("stream", True)`), so the SDK's `responses.create()` gets SSE text and SEED-004 fails,
while the raw-HTTP seed requirements (which send `"stream": false`) pass; it counts no reasoning
tokens and drops a reasoning item handed back after the last user message. It does not claim
encrypted reasoning (`--unsupported reasoning.encrypted_content`). A new failure, or a known one
that passes again, fails this test: triage it in docs/compatibility.md and update the baseline.

RC_PEERS=skip skips the real-server test.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import httpx
import pytest
from peer_kit import gate, run_peer

from tools.peers import PEERS, REPO, Recipes
from tools.selftest import run_suite

SEED = ["SEED-001", "SEED-002", "SEED-003", "SEED-004"]
BASELINE = REPO / "ci" / "peers" / "hfserve-baseline.json"
SUITE_OPTIONS = ["--unsupported", "reasoning.encrypted_content"]
RAW_SEED = SEED[:3]
HFSERVE_MODEL = "tiny-qwen3-reasoner"
HFSERVE_URL = "http://127.0.0.1:8000/v1"
# seconds: install ~80 s here (up to 10 min on a slow index), start ~15 s, the seed tests ~5 s
INSTALL_TIMEOUT, START_TIMEOUT, SUITE_TIMEOUT = 600, 200, 300


@pytest.mark.parametrize(("defect", "failing"), [
    ("stream-by-default", {"SEED-004"}),  # transformers serve: SSE when `stream` is omitted
    ("response-without-error-key", set()),  # transformers serve, codex-relay: response fields left out
    ("response-returned-in-progress", set()),  # codex-relay: no final status (RESP-OBJECT-006's finding)
])
def test_peer_deviation_is_reported_by_its_own_requirement(defect, failing):
    """hfserve's deviations planted in the reference server fail their own requirements, not the seed scenario's."""
    run = run_suite(defect, requirements=SEED)
    assert {r: run.outcomes.get(r) for r in SEED} == {r: "failed" if r in failing else "passed" for r in SEED}, \
        run.output


def _local_torch_wheel() -> bool:
    dirs = ["/opt/wheels", *os.environ.get("PIP_FIND_LINKS", "").split()]
    return any(glob.glob(os.path.join(d, "torch-2.13.0*cpu*.whl")) for d in dirs if d)


def _registry_reachable() -> bool:
    """Can pip resolve the peer's pinned packages (from any configured index)? Slow (~40 s): failure path only."""
    try:
        res = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                              "-q", "transformers==5.24.0"], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return False
    return res.returncode == 0


def _hfserve_answers() -> list[str] | None:
    """The model ids of whatever listens on hfserve's port, or None when nothing does."""
    try:
        reply = httpx.get(HFSERVE_URL + "/models", timeout=3)
    except httpx.HTTPError:
        return None
    try:
        return [m.get("id") for m in reply.json().get("data", [])]
    except (ValueError, AttributeError):
        return []


def test_seed_scenario_against_transformers_serve(tmp_path):
    if os.environ.get("RC_PEERS") == "skip":
        pytest.skip("RC_PEERS=skip")
    recipes = Recipes.locate(peers_dir=os.environ.get("RC_PEERS_DIR", "/tmp/rc-peers"))
    problem = recipes.problem()
    if problem:
        pytest.skip(problem)
    already = _hfserve_answers()
    if already is not None and HFSERVE_MODEL not in already:
        pytest.skip(f"port 8000 (hfserve's, fixed in peers.sh) is taken by another server listing {already}")
    if not recipes.installed(PEERS["hfserve"]) and not _local_torch_wheel() and not _registry_reachable():
        pytest.skip("cannot install transformers serve: no local CPU torch wheel (/opt/wheels) and no package index")

    report = tmp_path / "peers"
    tests = tuple(str(REPO / "conformance" / "suite" / name) for name in ("test_seed.py", "test_reasoning.py"))
    res = run_peer(recipes, "hfserve", report, suite_options=tuple(SUITE_OPTIONS), tests=tests,
                   install_timeout=INSTALL_TIMEOUT, start_timeout=START_TIMEOUT, suite_timeout=SUITE_TIMEOUT)
    out, peer = res.output, res.peer
    if peer["status"] == "install-failed" and not _registry_reachable():
        pytest.skip(f"cannot install transformers serve (no package index): {peer['problem'][-400:]}")
    assert peer["status"] == "ran", f"{peer['status']}: {peer['problem']}\n{out[-3000:]}"
    assert peer["started_by_us"] == (already is None)
    if already is None:
        assert _hfserve_answers() is None, "the command left the server it started running"

    results = json.loads((report / "hfserve" / "results.json").read_text())
    by_req = {r["requirement"]: r for r in results}
    log = (report / "hfserve" / "pytest.log").read_text()
    for rid in RAW_SEED:
        assert by_req[rid]["outcome"] == "passed", f"{rid}: {by_req[rid]['message'][:1500]}\n{log[-3000:]}"
    # the known deviation, documented in docs/compatibility.md: SSE text when `stream` is omitted
    sdk = by_req["SEED-004"]
    assert sdk["outcome"] == "failed", f"SEED-004 passed: has transformers serve stopped streaming by default?\n{sdk}"
    assert "Received: \"str\"" in sdk["message"] and "stream is not set" in sdk["message"], sdk["message"][:1500]
    verdict = gate(report / "hfserve" / "report.json", BASELINE)
    assert verdict.returncode == 0, (f"the gate rejected the run (docs/compatibility.md triages, {BASELINE.name} "
                                     f"lists the known failures):\n{verdict.stdout[-3000:]}{verdict.stderr[-1000:]}")
