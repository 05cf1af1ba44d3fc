"""Record a run, re-grade it with no server (docs/recording.md).

- the reference server, clean and with planted defects: recorded (`--record`, with `--api-key`), the
  server stopped, replayed (`--replay`): every test has the outcome it had, and the recording holds no
  form of the key;
- a request the recording does not hold (one test's recorded request changed): that test is not run
  (not recorded), never passed or failed, and every other test keeps its outcome;
- a recording of real vLLM (tests/data/vllm-recording.tar.gz, made with the command in
  tests/data/README.md) replayed on every commit, vLLM running or not: the outcomes recorded with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from conformance.reports import results as result_model
from conformance.reports.results import by_requirement, load_json
from tools.selftest import REPO, SUITE_DIR, run_suite

KEY = "sk-rc-selftest-" + "7d1c9e5b2a4f8e60c3b1"
VLLM_RECORDING = REPO / "tests" / "data" / "vllm-recording.tar.gz"
LIVE_OFF = ("--unsupported", "clients.live")  # the live clients' own HTTP traffic is not recorded
VLLM_KEY = "sk-vllm-fixture-key-9f8e7d6c"  # the made-up key the vLLM recording was made with

# defect -> the areas its run is limited to (its targets are there), to keep the self-test short
DEFECTS = {
    "echoes-api-key": ("robustness",),  # the server echoes the key: redacted on disk, still caught in a replay
    "stream-dropped": ("robustness",),  # a stream broken mid-way: the replay breaks it at the same byte
    "shared-request-slot": ("robustness",),  # concurrent requests mixed up: the load test's nonces
    "no-sequence-number": ("streaming",),
    "dies-mid-run": ("robustness",),  # refused connections: the replay server stops listening at the same point
}
# which requests reach a server that dies mid-run before it is found dead depends on timing when several are in
# flight (--concurrency): recorded one at a time (the replay takes the recorded --concurrency), so the recorded
# outcomes are the ones a replay must give; docs/recording.md says so
ONE_AT_A_TIME = {"dies-mid-run"}


def replay_suite(recording: Path, *extra: str, timeout: float = 600) -> tuple[list[result_model.TestResult], str]:
    """The suite against a recording, in a subprocess, with no server."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        cmd = [sys.executable, "-m", "pytest", str(SUITE_DIR), "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               f"--replay={recording}", f"--results-json={out}", "-o", "addopts=", "--rootdir", str(REPO), *LIVE_OFF,
               *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
        env.pop("OPENAI_API_KEY", None)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO))
        results = load_json(out) if out.exists() else []
    assert results, f"the replay wrote no results:\n{proc.stdout[-3000:]}{proc.stderr[-2000:]}"
    return results, proc.stdout[-3000:] + proc.stderr[-2000:]


def record(directory: Path, defect: str | None, areas: tuple[str, ...] = (),
           *args: str) -> dict[str, result_model.TestResult]:
    # live client libraries bring their own HTTP stacks, which are not recorded: declared unsupported here
    extra = [f"--record={directory}", "--api-key", KEY, *LIVE_OFF, *args] + (["--area", ",".join(areas)]
                                                                             if areas else [])
    run = run_suite(defect, extra)  # the server is stopped when it returns
    assert run.results, run.output
    return {r.nodeid: r for r in run.results}


def outcomes(results: list[result_model.TestResult] | dict[str, result_model.TestResult]) -> dict[str, str]:
    rows = results.values() if isinstance(results, dict) else results
    return {r.nodeid: r.outcome for r in rows}


def assert_no_key(directory: Path, key: str) -> None:
    """No file holds the key, nor any 12 characters of its random part (a key cut or masked in between)."""
    random_part = key.split("-")[-1]
    windows = {random_part[i:i + 12] for i in range(len(random_part) - 11)} | {key}
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_text(errors="replace")
            leaked = [w for w in windows if w in data]
            assert not leaked, f"{path.relative_to(directory)} holds the API key ({leaked[0]!r})"


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, result_model.TestResult]]:
    directory = tmp_path_factory.mktemp("clean") / "recording"
    return directory, record(directory, None)


def test_clean_run_replays_with_the_same_outcomes(clean):
    directory, recorded = clean
    # the clean server: nothing fails (OTEXT-002 is not applicable, a live client not installed skips)
    assert recorded and not {"failed", "error"} & {r.outcome for r in recorded.values()}, outcomes(recorded)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["format"] == "responses-conformance-recording/1" and manifest["api_key"] is True
    assert manifest["suite"]["version"] and manifest["options"]["fuzz_seed"] is not None
    files = sorted(p.name for p in (directory / "exchanges").iterdir())
    assert len(manifest["exchanges"]) == len(files) > 100
    assert {Path(row["file"]).name for row in manifest["exchanges"]} == set(files)
    assert all(row["test"] for row in manifest["exchanges"][2:]), "an exchange does not name its test"
    streams = [json.loads((directory / row["file"]).read_text()) for row in manifest["exchanges"]
               if row["path"] == "/v1/responses" and row["method"] == "POST"]
    sse = [ex for ex in streams if ex["response"] and "event-stream" in dict(ex["response"]["headers"]).get(
        "content-type", "")]
    assert sse and all(c["text"].startswith(("event:", "data:", ":")) for c in sse[0]["response"]["chunks"][:1])
    assert_no_key(directory, KEY)

    replayed, log = replay_suite(directory)
    # the live clients (CLIENT-*-002) talk through their own HTTP stacks, which the suite does not record:
    # replayed, they are not run (not recorded), never passed or failed
    assert outcomes(replayed) == outcomes(recorded), log


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_defect_run_replays_with_the_same_outcomes(defect: str, tmp_path: Path):
    from conformance.refserver import defects

    directory = tmp_path / "recording"
    recorded = record(directory, defect, DEFECTS[defect], *(("--concurrency", "1") if defect in ONE_AT_A_TIME else ()))
    targets = defects.load_all()[defect].targets
    by_req = by_requirement(list(recorded.values()))
    assert all(by_req.get(t) == "failed" for t in targets), f"{defect} not caught when recorded: {by_req}"
    assert_no_key(directory, KEY)

    replayed, log = replay_suite(directory)
    assert outcomes(replayed) == outcomes(recorded), log
    # each failure names the recorded exchanges it was judged on (every answer it got), and they exist
    failed = [r for r in replayed if r.outcome == "failed"]
    for r in failed:
        answered = [ex for ex in r.evidence if (ex.get("response") or {}).get("status") is not None]
        linked = [ex["recorded"] for ex in answered if ex.get("recorded")]
        assert len(linked) == len(answered) and all((directory / name).is_file() for name in linked), r.nodeid
        assert not linked or "Recorded exchanges" in r.message, r.message[-500:]
    # (a server that died: with --concurrency the tests that meet it may have had no answer at all to link)
    assert defect == "dies-mid-run" or any(ex.get("recorded") for r in failed for ex in r.evidence)


def test_a_changed_request_is_reported_not_recorded(clean, tmp_path: Path):
    source, recorded = clean
    directory = tmp_path / "recording"
    shutil.copytree(source, directory)
    exchanges = [json.loads(p.read_text()) for p in sorted((directory / "exchanges").glob("*.json"))]
    keys = [(ex["request"]["method"], ex["request"]["path"], ex["request"]["body_sha256"]) for ex in exchanges]
    # a test whose one request no other exchange shares: as if the suite now sent it differently
    per_test: dict[str, list[dict]] = {}
    for ex in exchanges:
        per_test.setdefault(ex["test"], []).append(ex)
    victim = next(ex for ex in exchanges if ex["test"] and len(per_test[ex["test"]]) == 1 and keys.count(
        (ex["request"]["method"], ex["request"]["path"], ex["request"]["body_sha256"])) == 1
                  and ex["request"]["body"] and "Say" in ex["request"]["body"] and "fuzz" not in ex["test"])
    body = victim["request"]["body"].replace("Say", "Tell", 1)
    victim["request"].update(body=body, body_sha256=hashlib.sha256(body.encode()).hexdigest())
    (directory / "exchanges" / f"{victim['name']}.json").write_text(json.dumps(victim))

    replayed, log = replay_suite(directory)
    got = {r.nodeid: r for r in replayed}
    assert got[victim["test"]].outcome == "not-run", (victim["test"], got[victim["test"]].outcome, log)
    assert got[victim["test"]].message.startswith("not run (not recorded)")
    # the tests that read the same (shared) reply are not recorded either; every other keeps its outcome
    before, after = outcomes(recorded), outcomes(replayed)
    assert set(before) == set(after)
    changed = {k: after[k] for k in before if after[k] != before[k]}
    assert set(changed.values()) == {"not-run"} and len(changed) < 10, changed
    req = recorded[victim["test"]].requirement
    if sum(r.requirement == req for r in recorded.values()) == 1:
        assert by_requirement(replayed)[req] == "not-run"


def test_a_recording_renders_its_report_again(clean, tmp_path: Path):
    directory, _ = clean
    proc = subprocess.run([sys.executable, "-m", "conformance", "report", str(directory), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["verdict"] == "pass" and (tmp_path / "report.html").is_file()


def test_vllm_recording_replays_in_ci(tmp_path: Path):
    """Real vLLM traffic re-graded on every commit: the same outcome per test as when it was recorded."""
    assert VLLM_RECORDING.is_file(), "tests/data/vllm-recording.tar.gz is missing (see tests/data/README.md)"
    with tarfile.open(VLLM_RECORDING) as tar:
        tar.extractall(tmp_path, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(tmp_path)
    (directory,) = [p.parent for p in tmp_path.rglob("manifest.json")]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["server"]["version"], "the recording names its vLLM version"
    assert_no_key(directory, VLLM_KEY)
    replayed, log = replay_suite(VLLM_RECORDING)
    got = outcomes(replayed)
    # live clients' traffic is not recorded (their own HTTP stacks): not run on replay
    want = {k: "unsupported" if "_live" in k else v for k, v in manifest["outcomes"].items()}
    assert got == want, ({k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}, log)
    assert "failed" in got.values()  # real deviations are re-judged, not only passes
