"""The CI files that run the suite and the gate are valid and do what they promise.

Workflows and the composite action are validated against schemastore's GitHub workflow/action
schemas (bundled offline in check-jsonschema; actionlint is not installable from PyPI here), and
every `run:` script must parse as bash.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = [ROOT / "ci/github/server-conformance.yml", ROOT / ".github/workflows/ci.yml"]
ACTION = ROOT / "ci/github/action.yml"


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    try:
        import check_jsonschema  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_workflows_match_the_github_workflow_schema():
    proc = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_matches_the_github_action_schema():
    proc = check_jsonschema("vendor.github-actions", ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    step:\n      - run: echo\n")
    assert check_jsonschema("vendor.github-workflows", broken).returncode != 0


def run_scripts(doc: dict) -> list[str]:
    steps = []
    for job in (doc.get("jobs") or {}).values():
        steps += job.get("steps") or []
    steps += (doc.get("runs") or {}).get("steps") or []
    return [s["run"] for s in steps if "run" in s]


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=lambda p: p.name)
def test_run_scripts_are_valid_bash(path):
    for script in run_scripts(yaml.safe_load(path.read_text())):
        text = re.sub(r"\$\{\{.*?\}\}", "X", script)  # expressions are substituted before bash sees them
        proc = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"{path.name}: {proc.stderr}\n{script}"


def test_server_workflow_runs_the_image_on_a_gpu_runner_and_gates():
    doc = yaml.safe_load(WORKFLOWS[0].read_text())
    job = doc["jobs"]["conformance"]
    assert job["runs-on"] == ["self-hosted", "gpu"]
    scripts = "\n".join(run_scripts(doc))
    assert '--server-image "$IMAGE" --server-preset vllm --gpus all' in scripts
    assert "IMAGE" in next(s for s in job["steps"] if s.get("id") == "suite")["env"]
    assert "--report-dir=$REPORT_DIR" in scripts and "GITHUB_STEP_SUMMARY" in scripts
    assert "python -m conformance gate" in scripts and "--baseline" in scripts
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ env.REPORT_DIR }}"
    assert job["steps"][-1]["name"] == "Gate on the baseline"  # reports are published before the gate fails


def test_project_ci_runs_the_readme_test_command():
    doc = yaml.safe_load(WORKFLOWS[1].read_text())
    assert "bash .ci/run" in run_scripts(doc)
    assert (ROOT / ".ci/run").read_text().strip().endswith("exec bash ci/test.sh")


def test_run_suite_script_parses_and_explains_itself():
    script = ROOT / "ci/run-suite.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, timeout=30).returncode == 0
    out = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "--baseline" in out and "Exit status" in out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_run_suite_script_passes_shellcheck():
    proc = subprocess.run(["shellcheck", str(ROOT / "ci/run-suite.sh")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
