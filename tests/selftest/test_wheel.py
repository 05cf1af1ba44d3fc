"""The wheel is the suite: built from this checkout, installed into a fresh venv, run from an unrelated directory.

`pip wheel .` builds it; the wheel must hold the conformance tests and the schemas, and none of the
developer tools (tools/, tests/, benchmarks/). Installed into a new virtual environment (its
dependencies from the package index, nothing from this checkout), `pytest --server-url URL` run in
an empty temporary directory must judge every requirement exactly as the checkout does against the
same reference server, and `responses-conformance version` names the version, commit, SDK and spec.

~60-90 s (most of it pip installing the dependencies into the new venv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conformance.refserver import start_in_thread
from conformance.suite.requirements import REGISTRY
from tools.selftest import CLEAN_NOT_APPLICABLE

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], timeout: float, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)], timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    (path,) = out.glob("responses_conformance-*.whl")
    return path


def test_the_wheel_holds_the_suite_and_no_developer_tool(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    areas = {r.area for r in REGISTRY}
    tests = {n for n in names if n.startswith("conformance/suite/test_") and n.endswith(".py")}
    assert len(tests) == len(areas), sorted(tests)
    assert "conformance/judge/schemas/components.json" in names and "conformance/judge/schemas/index.json" in names
    assert "conformance/_version.py" in names
    stray = [n for n in names if n.split("/")[0] in ("tools", "tests", "benchmarks", "ci", "docs")]
    assert not stray, stray


def test_the_installed_wheel_runs_every_requirement_from_any_directory(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    res = _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    assert res.returncode == 0, res.stderr
    py = venv / "bin" / "python"
    # with the `clients` extra: the live client requirements (CLIENT-*-002) run, not skip
    res = _run([str(py), "-m", "pip", "install", "-q", f"{wheel}[clients]"], timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    version = _run([str(venv / "bin" / "responses-conformance"), "version"], timeout=60, cwd=str(elsewhere))
    assert version.returncode == 0, version.stderr
    line = version.stdout.strip()
    assert line.startswith("responses-conformance ") and "commit " in line and "openai " in line, line
    assert "spec f85dbe2" in line and "commit unknown" not in line, line

    server = start_in_thread()
    try:
        run = _run([str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", "--server-url", server.url,
                    "--model", "ref-reasoner", "--report-dir=" + str(tmp_path / "report")],
                   timeout=600, cwd=str(elsewhere))
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    judged = {e["id"]: e["outcome"] for e in report["requirements"]}
    assert set(judged) == {r.id for r in REGISTRY}
    judged = {k: v for k, v in judged.items() if not (v == "not-applicable" and k in CLEAN_NOT_APPLICABLE)}
    assert set(judged.values()) == {"passed"}, {k: v for k, v in judged.items() if v != "passed"}
    # the installed copy ran, not this checkout
    assert all(str(ROOT) not in t["nodeid"] for t in report["tests"])
    assert report["suite"]["version"] and report["suite"]["commit"] and report["suite"]["openai"]
    assert report["spec"]["commit"].startswith("f85dbe2")
