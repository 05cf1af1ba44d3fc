"""Compliance reports: one run's results as JSON, Markdown, HTML, JUnit XML (and Allure labels).

Everything is built from the one result model (`conformance.reports.results.TestResult` records, as the
plugin's `ResultCollector` gathers them from every xdist worker) joined with the requirement
registry, so every format says the same thing:

    report = build_report(records, context)        # a plain dict, the content of report.json
    write_all(Path("reports"), report)              # report.json, report.md, report.html, junit.xml

Scores are per level, never one percentage: "MUST 61/64" counts the requirements of that level
that were judged (passed, failed, error or skipped); a skip is never a pass, an `unsupported`
requirement (feature declared absent with `--unsupported`), a `not-applicable` one (the server sent
nothing it is about) and a requirement that did not run are shown apart and left out of the score.

Every text that goes into a file passes through the redactor (`conformance.wire.http.REDACTOR` plus the
run's API key), and the finished directory is scrubbed once more, so no secret reaches a report.
Control characters a server sent are shown as escapes (`base.printable`) in every format, and
report.json is strict JSON: a non-finite number becomes a string, with a note in `notes`.  A run
interrupted (SIGINT, SIGTERM, a CI timeout) still writes its reports, marked `incomplete`.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.base.printable import printable
from conformance.base.redact import redact, redact_command, redactor_for, scrub_dir
from conformance.base.safejson import NON_FINITE_NOTE, strict
from conformance.base.version import facts as version_facts
from conformance.reports import findings as report_findings
from conformance.reports import html as report_html
from conformance.reports import junit
from conformance.reports import markdown as report_md
from conformance.reports.allure import write_environment
from conformance.reports.model import (
    APART,
    FORMAT,
    LEVELS,
    NOT_PASSING,
    OUTCOMES,
)
from conformance.reports.results import OUTCOME_ORDER, TestResult
from conformance.suite.requirements import AREA_MODULES, REGISTRY, SPEC_URL, Registry, Requirement

REPORT_BODY = 4000  # characters of a request/response body kept per exchange in a report
REPORT_EXCHANGES = 4  # exchanges kept per test (the last ones: the failing call is usually last)
MESSAGE_LIMIT = 6000



# -- building the report --------------------------------------------------------------------------


@dataclass
class RunContext:
    """What a report says about the run besides the results (the plugin fills it from pytest)."""

    server: dict[str, Any] = field(default_factory=dict)  # url, kind, model, image, version, info
    started: float | None = None
    finished: float | None = None
    command: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    exit_status: int | None = None
    secrets: list[str] = field(default_factory=list)
    interrupted: str | None = None  # the signal that ended the run early (SIGINT, SIGTERM), if any
    concurrency: dict[str, Any] | None = None  # --concurrency: how many ran at once, fallbacks (plugin.concurrency)
    notes: list[str] = field(default_factory=list)  # said about the run as a whole


def spec_source() -> dict[str, Any]:
    """The OpenAPI document the schemas were generated from (commit, sha256, date) and its URL."""
    try:
        from conformance.judge.schema import Schemas

        source = dict(Schemas.load().source)
    except Exception as exc:  # a report must still be written when the schemas cannot load
        return {"error": f"schemas not loaded: {exc}"}
    commit = source.get("commit")
    if commit:
        source["url"] = SPEC_URL.format(commit=commit)
    return source


def version_line() -> str:
    """One line naming what judged: suite version and commit, openai SDK, Python, and the spec's commit."""
    f = version_facts()
    spec = spec_source()
    spec_text = (f"spec {spec['commit']} (sha256 {str(spec.get('sha256') or '?')[:12]})" if spec.get("commit")
                 else f"spec: {spec.get('error', 'unknown')}")
    return (f"responses-conformance {f['version']} (commit {f['commit'] or 'unknown'}), openai {f['openai']}, "
            f"python {f['python']}, {spec_text}")


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def requirement_outcome(tests: list[TestResult]) -> str:
    """The worst outcome of a requirement's tests; `xpassed` (declared unsupported, but met) is a pass."""
    worst = max((t.outcome for t in tests), key=OUTCOME_ORDER.index)
    return "passed" if worst == "xpassed" else worst


def _trim(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} more characters in the run's evidence, not in the report]"


def trim_evidence(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for ex in evidence[-REPORT_EXCHANGES:]:
        ex = json.loads(json.dumps(ex, default=str))  # a deep copy we may change
        for side in ("request", "response"):
            part = ex.get(side)
            if isinstance(part, dict) and isinstance(part.get("body"), str):
                part["body"] = _trim(part["body"], REPORT_BODY)
        out.append(ex)
    return out


_XDIST_HEADER = re.compile(r"\A\[gw\d+\] [^\n]* -- Python [^\n]*\n")


def clean_message(text: str | None) -> str:
    """A failure message without xdist's "[gw0] linux -- Python ..." first line, trimmed."""
    return _trim(_XDIST_HEADER.sub("", text or ""), MESSAGE_LIMIT) or ""


def _test_record(r: TestResult) -> dict[str, Any]:
    return {"nodeid": r.nodeid, "requirement": r.requirement, "level": r.level, "outcome": r.outcome,
            "message": clean_message(r.message), "duration": r.duration,
            "evidence": trim_evidence(r.evidence)}


def build_report(records: list[TestResult], context: RunContext | None = None,
                 registry: Registry = REGISTRY) -> dict[str, Any]:
    """The content of report.json: run metadata, per-requirement outcomes, scores, per-test records."""
    ctx = context or RunContext()
    red = redactor_for(ctx.secrets)
    by_req: dict[str, list[TestResult]] = {}
    for r in records:
        if r.requirement:
            by_req.setdefault(r.requirement, []).append(r)
    spec = spec_source()
    requirements = []
    known = set()
    for req in _ordered(registry):
        known.add(req.id)
        requirements.append(_requirement_entry(req, by_req.get(req.id, []), spec.get("commit")))
    for rid, tests in by_req.items():  # results naming a requirement the registry lacks (old report, typo)
        if rid not in known:
            requirements.append(_requirement_entry(None, tests, spec.get("commit"), rid))
    server = dict(ctx.server)
    report = {
        "format": FORMAT,
        "suite": version_facts(),
        "spec": spec,
        "server": server,
        "model": server.get("model"),
        "started": iso(ctx.started),
        "finished": iso(ctx.finished),
        "duration_s": round(ctx.finished - ctx.started, 2) if ctx.started and ctx.finished else None,
        "command": redact_command(ctx.command, red),
        "options": ctx.options,
        "exit_status": ctx.exit_status,
        "summary": summarize(requirements),
        "requirements": requirements,
        "tests": [_test_record(r) for r in records],
    }
    if ctx.concurrency is not None:
        report["concurrency"] = ctx.concurrency
    if ctx.interrupted:
        report["incomplete"] = True
        report["notes"] = [INCOMPLETE_NOTE.format(signal=ctx.interrupted)]
    if ctx.notes:
        report["notes"] = [*report.get("notes", []), *ctx.notes]
    report_findings.attach(report)
    return printable_tree(redact(report, red))


INCOMPLETE_NOTE = ("the run was interrupted ({signal}) before every test ran: this report holds the tests that "
                   "finished; requirements of the rest are not-run")


def printable_tree(value: Any) -> Any:
    """Every string of a JSON-like value with control characters shown as escapes (newlines and tabs kept)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(k) if isinstance(k, str) else k: printable_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [printable_tree(v) for v in value]
    return value


def _ordered(registry: Registry) -> list[Requirement]:
    order = {a: i for i, a in enumerate(AREA_MODULES)}
    return sorted(registry, key=lambda r: (order.get(r.area, len(order)), r.area))


def _requirement_entry(req: Requirement | None, tests: list[TestResult], commit: str | None,
                       rid: str | None = None) -> dict[str, Any]:
    if req is not None:
        entry: dict[str, Any] = req.as_dict()
    else:
        level = next((t.level for t in tests if t.level), "MUST")
        entry = {"id": rid, "level": level, "area": "unknown", "statement": "(not in this suite's registry)",
                 "spec": "", "basis": "", "feature": None, "quote": ""}
    entry["spec_url"] = SPEC_URL.format(commit=commit) if commit else None
    if not tests:
        entry.update(outcome="not-run", message="", reason="no test of this requirement ran", tests=[],
                     evidence=[])
        return entry
    outcome = requirement_outcome(tests)
    worst = max(tests, key=lambda t: OUTCOME_ORDER.index(t.outcome))
    entry["outcome"] = outcome
    entry["tests"] = [{"nodeid": t.nodeid, "outcome": t.outcome} for t in tests]
    entry["message"] = clean_message(worst.message) if outcome in NOT_PASSING else ""
    if outcome in ("skipped", "unsupported", "not-run", "not-applicable"):
        entry["reason"] = clean_message(worst.message)
    elif any(t.outcome == "xpassed" for t in tests):
        entry["reason"] = "passed although its feature was declared unsupported"
    else:
        entry["reason"] = ""
    entry["evidence"] = trim_evidence(worst.evidence) if outcome in NOT_PASSING else []
    entry["curl"] = entry["evidence"][-1].get("curl") if entry["evidence"] else None
    return entry


def _counts(entries: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {o: 0 for o in OUTCOMES}
    for e in entries:
        counts[e["outcome"]] = counts.get(e["outcome"], 0) + 1
    judged = counts["passed"] + counts["failed"] + counts["error"] + counts["skipped"]
    counts["judged"] = judged
    counts["total"] = len(entries)
    counts["score"] = f"{counts['passed']}/{judged}"
    return counts


def summarize(requirements: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per level and per area x level; `score` = passed / judged (skips count against)."""
    levels = {lv: _counts([e for e in requirements if e["level"] == lv]) for lv in LEVELS}
    areas: dict[str, dict[str, Any]] = {}
    for area in dict.fromkeys(e["area"] for e in requirements):
        of_area = [e for e in requirements if e["area"] == area]
        areas[area] = {lv: _counts([e for e in of_area if e["level"] == lv]) for lv in LEVELS}
        areas[area]["all"] = _counts(of_area)
    must = levels["MUST"]
    if must["failed"] or must["error"]:
        verdict = "fail"
    elif must["judged"] == 0:
        verdict = "empty"
    else:
        verdict = "pass"
    return {"levels": levels, "areas": areas, "verdict": verdict, "lines": score_lines_of(levels)}


def score_lines_of(levels: dict[str, dict[str, Any]]) -> list[str]:
    """`MUST: 61/64 (2 failed, 1 skipped) · 2 not applicable, 3 unsupported`: one line per level with requirements."""
    lines = []
    for lv in LEVELS:
        c = levels.get(lv)
        if not c or not c["total"]:
            continue
        bad = [f"{c[o]} {o}" for o in ("failed", "error", "skipped") if c[o]]
        apart = [f"{c[o]} {o.replace('-', ' ')}" for o in APART if c[o]]
        line = f"{lv}: {c['score']}" if c["judged"] else f"{lv}: none judged"
        line += f" ({', '.join(bad)})" if bad else ""
        if apart:
            line += " · " + ", ".join(apart)
        lines.append(line)
    return lines or ["no requirement was judged"]


# -- files -----------------------------------------------------------------------------------------


def write_json(path: Path, report: dict[str, Any]) -> Path:
    """report.json as strict JSON: non-finite numbers (`1e999` from a server) as strings, with a note."""
    report, found = strict(report)
    if found:
        report["notes"] = [*report.get("notes", []), NON_FINITE_NOTE]
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return path


def write_all(directory: Path, report: dict[str, Any], secrets: Iterable[str | None] = ()) -> dict[str, Path]:
    """Write report.json, report.md, report.html and junit.xml into `directory`; scrub it of secrets."""
    directory.mkdir(parents=True, exist_ok=True)
    red = redactor_for(secrets)
    report = printable_tree(redact(report, red))
    paths = {"json": write_json(directory / "report.json", report)}
    paths["md"] = directory / "report.md"
    paths["md"].write_text(report_md.render(report), encoding="utf-8")
    paths["html"] = directory / "report.html"
    paths["html"].write_text(report_html.render(report), encoding="utf-8")
    paths["junit"] = directory / "junit.xml"
    paths["junit"].write_text(junit.render(report), encoding="utf-8")
    allure = directory / "allure-results"
    if allure.is_dir():
        write_environment(allure, report)
    scrub_dir(directory, red)
    return paths


def load(path: Path) -> dict[str, Any]:
    """A report.json, checked enough that the gate and compare can trust its shape."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise ValueError("not a responses-conformance report (no `requirements` list)")
    for e in data["requirements"]:
        if not isinstance(e, dict) or not isinstance(e.get("id"), str) or "outcome" not in e:
            raise ValueError("a requirement entry lacks `id` or `outcome`")
        if e["outcome"] not in OUTCOMES:
            raise ValueError(f"requirement {e['id']}: unknown outcome {e['outcome']!r}")
        if e.get("level") not in LEVELS:
            raise ValueError(f"requirement {e['id']}: level must be one of {', '.join(LEVELS)}, not {e.get('level')!r}")
        for key in ("area", "statement", "message", "spec", "basis"):
            if not isinstance(e.get(key), str):
                e[key] = "unknown" if key == "area" else ""
    for key in ("server", "suite", "spec"):
        if not isinstance(data.get(key), dict):
            data[key] = {}
    if not isinstance(data.get("tests"), list):
        data["tests"] = []
    data["summary"] = summarize(data["requirements"])  # always from the entries: one truth
    report_findings.attach(data)  # and the findings from the failure messages (older reports have none)
    return data


# -- command line: render the formats again from a report.json, or build one from results.json ----


def main(argv: list[str] | None = None) -> int:
    """`python -m conformance report IN --out DIR`: IN is a report.json, or a --results-json file."""
    import argparse

    from conformance.reports.results import load_json

    parser = argparse.ArgumentParser(
        prog="python -m conformance report",
        description="Write report.json/md/html and junit.xml from a report.json (re-render) or from a "
                    "--results-json file (the same result model, without the run's metadata).")
    parser.add_argument("input", help="report.json, results.json written by pytest --results-json, or a recording "
                        "directory (pytest --record DIR): its report.json")
    parser.add_argument("--out", required=True, help="directory for the reports")
    parser.add_argument("--server-url", help="with results.json: the server the run tested")
    parser.add_argument("--model", help="with results.json: the model the run tested")
    args = parser.parse_args(argv)
    path = Path(args.input)
    if path.is_dir():  # a recording (--record DIR) keeps its run's report beside the exchanges
        path = path / "report.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            records = load_json(path)
            ctx = RunContext(server={"url": args.server_url, "kind": "remote", "model": args.model},
                             command=["python", "-m", "conformance", "report", *(argv or sys.argv[1:])])
            report = build_report(records, ctx)
        else:
            report = load(path)
    except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
        print(f"conformance report: error: {path}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    paths = write_all(Path(args.out), report)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
