"""Planted-defect self-tests: prove every conformance test can fail.

For each defect the reference server can plant, run the conformance suite against a server
with that one defect and record which requirements fail.  A defect is *caught* when every
requirement it targets fails; the clean server must pass everything.  Each test case (every
parametrized id) must fail under at least one defect aimed at its requirement: a case no such
defect makes fail is listed as unproven.

    python -m tools.selftest [--defect NAME ...] [--table docs/defects.md] [--json out.json]
    python -m tools.selftest --targets-only --cases-table docs/defects.md

writes the generated table "defect -> requirements that catch it" (Markdown) and, per test case,
the defects that make it fail; exits non-zero when a defect is missed, a test case is unproven or
the clean server does not pass.  `--targets-only` runs each defect against the tests of its targets
only (minutes, not the whole suite per defect) and `--cases-table` then rewrites just the per-case
section of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from conformance.refserver import defects as defect_registry
from conformance.refserver import start_in_thread
from conformance.reports.results import TestResult, by_requirement, load_json
from conformance.suite.requirements import REGISTRY

REPO = Path(__file__).resolve().parent.parent
SUITE_DIR = REPO / "conformance" / "suite"


@dataclass
class SuiteRun:
    defect: str | None
    results: list[TestResult]
    returncode: int
    output: str
    failing: dict[str, str] = field(default_factory=dict)  # requirement -> outcome, for non-passes

    @property
    def outcomes(self) -> dict[str, str]:
        return by_requirement(self.results)


def run_suite(defect: str | None = None, extra: list[str] | tuple[str, ...] = (),
              requirements: list[str] | None = None, timeout: float = 600, compress: bool = False) -> SuiteRun:
    """Run the conformance suite in a subprocess against a reference server (with one defect; `compress`:
    every reply gzipped)."""
    server = start_in_thread(defect=defect, compress=compress)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "results.json"
            cmd = [sys.executable, "-m", "pytest", str(SUITE_DIR), "-q", "-p", "no:cacheprovider",
                   "-p", "no:randomly", "--server-url", server.url, "--model", "ref-reasoner",
                   "--request-timeout", "10", "--results-json", str(out), "-o", "addopts=",
                   "--rootdir", str(REPO), *extra]
            if requirements:
                cmd += ["--requirements", ",".join(requirements)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
            env.pop("PYTEST_ADDOPTS", None)
            if env.pop("PYTHONDONTWRITEBYTECODE", None) and "PYTHONPYCACHEPREFIX" not in env:
                # one suite run per defect: without a bytecode cache each one compiles (and
                # assertion-rewrites) every module again, ~30% of its CPU; keep it outside the tree
                env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "responses-conformance-pycache")
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                                  cwd=str(REPO))
            results = load_json(out) if out.exists() else []
    finally:
        server.shutdown()
        server.server_close()
    run = SuiteRun(defect, results, proc.returncode, proc.stdout[-8000:] + proc.stderr[-4000:])
    run.failing = {k: v for k, v in run.outcomes.items() if v != "passed"}
    return run


# Requirements the clean reference server leaves with nothing to judge, as the official API does:
# reported `not-applicable`, never passed; anything else short of passed makes the clean run unclean.
CLEAN_NOT_APPLICABLE = {
    "OTEXT-002": "the official API sends no output_text field (an SDK-only property)",
}


def clean_problems(run: SuiteRun) -> dict[str, str]:
    """Requirements the clean server does not pass, less the ones it is expected to leave unjudged."""
    return {k: v for k, v in run.failing.items() if not (v == "not-applicable" and k in CLEAN_NOT_APPLICABLE)}


def defect_names() -> list[str]:
    return sorted(defect_registry.load_all())


def coverage_problems() -> list[str]:
    """Defects aimed at unknown requirements, and requirements no defect aims at."""
    problems = []
    targeted: set[str] = set()
    for d in defect_registry.load_all().values():
        for t in d.targets:
            if t not in REGISTRY:
                problems.append(f"defect {d.name} targets unknown requirement {t}")
            targeted.add(t)
    for req in REGISTRY:
        if req.id not in targeted:
            problems.append(f"requirement {req.id} has no planted defect")
    return problems


def case_failures(runs: list[SuiteRun]) -> dict[str, list[str]]:
    """Each test case (nodeid) -> the defects aimed at its requirement under which it failed."""
    defects = defect_registry.load_all()
    out: dict[str, list[str]] = {}
    for run in runs:
        if run.defect is None:
            continue
        targets = set(defects[run.defect].targets)
        for r in run.results:
            if r.requirement in targets and r.outcome == "failed":
                out.setdefault(r.nodeid, []).append(run.defect)
    return out


def unproven_cases(runs: list[SuiteRun]) -> list[str]:
    """The clean run's test cases that no defect aimed at their requirement makes fail."""
    clean = next(r for r in runs if r.defect is None)
    caught = case_failures(runs)
    return sorted(r.nodeid for r in clean.results if r.requirement and r.nodeid not in caught)


CASES_HEADING = "## Test cases and the defects that make them fail"


def case_table(runs: list[SuiteRun]) -> str:
    clean = next(r for r in runs if r.defect is None)
    caught = case_failures(runs)
    lines = ["", CASES_HEADING, "",
             "Every test case (each parametrized id) fails under at least one defect aimed at its requirement; "
             "**none** marks a case no defect proves yet.", "",
             "| test case | requirement | defects aimed at it that make it fail |", "| --- | --- | --- |"]
    for r in sorted(clean.results, key=lambda r: (r.requirement or "", r.nodeid)):
        if r.requirement:
            names = caught.get(r.nodeid)
            lines.append(f"| `{r.nodeid.split('::', 1)[-1]}` | {r.requirement} | "
                         f"{', '.join(f'`{n}`' for n in names) if names else '**none**'} |")
    return "\n".join(lines) + "\n"


def markdown_table(runs: list[SuiteRun]) -> str:
    lines = ["# Planted defects and the requirements that catch them", "",
             "Generated by `python -m tools.selftest --table docs/defects.md`: each row is one run of",
             "the whole conformance suite against the reference server with that one defect planted.", "",
             "| defect | modelled on | targets | caught | every requirement that failed |",
             "| --- | --- | --- | --- | --- |"]
    defects = defect_registry.load_all()
    for run in runs:
        if run.defect is None:
            continue
        d = defects[run.defect]
        caught = all(run.outcomes.get(t) == "failed" for t in d.targets)
        failed = sorted(k for k, v in run.outcomes.items() if v == "failed")
        lines.append(f"| `{d.name}` {d.summary} | {d.modelled_on} | {', '.join(d.targets)} | "
                     f"{'yes' if caught else '**NO**'} | {', '.join(failed)} |")
    return "\n".join(lines) + "\n" + case_table(runs)


def replace_case_section(path: Path, runs: list[SuiteRun]) -> None:
    """Rewrite the per-case section of an existing table (the rest is kept), or append it."""
    text = path.read_text() if path.exists() else ""
    head = text.split("\n" + CASES_HEADING, 1)[0].rstrip("\n")
    path.write_text(head + "\n" + case_table(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.selftest", description=__doc__.split("\n")[0])
    parser.add_argument("--defect", action="append", help="only this defect (repeatable)")
    parser.add_argument("--table", type=Path, help="write the Markdown table here")
    parser.add_argument("--json", type=Path, help="write per-defect requirement outcomes here")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="suite runs at once (default: one per CPU)")
    parser.add_argument("--targets-only", action="store_true",
                        help="run each defect against its target requirements' tests only")
    parser.add_argument("--cases-table", type=Path, help="rewrite only the per-case section of this table")
    args = parser.parse_args(argv)
    names = args.defect or defect_names()
    bad = 0
    runs = [run_suite(None)]
    not_passed = clean_problems(runs[0])
    print(f"clean server: {'passes everything' if not not_passed else f'NOT clean: {not_passed}'}")
    bad += bool(not_passed)
    defects = defect_registry.load_all()
    # each run is a subprocess against its own in-thread server: threads are enough to overlap them
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        def one(name: str) -> SuiteRun:
            targets = list(defects[name].targets) if args.targets_only else None
            return run_suite(name, defects[name].needs, requirements=targets)

        for run in pool.map(one, names):
            runs.append(run)
            missed = [t for t in defects[run.defect].targets if run.outcomes.get(t) != "failed"]
            bad += bool(missed)
            print(f"{run.defect:<40} {'caught' if not missed else 'MISSED ' + ', '.join(missed)}", flush=True)
    unproven = unproven_cases(runs) if not args.defect else []
    if unproven:
        bad += 1
        print(f"{len(unproven)} test cases fail under no defect aimed at their requirement:")
        for nodeid in unproven:
            print(f"  {nodeid}")
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(markdown_table(runs))
    if args.cases_table:
        replace_case_section(args.cases_table, runs)
    if args.json:
        args.json.write_text(json.dumps({r.defect or "(clean)": {"requirements": r.outcomes, "cases": {
            t.nodeid: t.outcome for t in r.results if t.requirement}} for r in runs}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
