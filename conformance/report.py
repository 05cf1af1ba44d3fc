"""Compliance reports: one run's results as JSON, Markdown, HTML, JUnit XML (and Allure labels).

Everything is built from the one result model (`conformance.results.TestResult` records, as the
plugin's `ResultCollector` gathers them from every xdist worker) joined with the requirement
registry, so every format says the same thing:

    report = build_report(records, context)        # a plain dict, the content of report.json
    write_all(Path("reports"), report)              # report.json, report.md, report.html, junit.xml

Scores are per level, never one percentage: "MUST 61/64" counts the requirements of that level
that were judged (passed, failed, error or skipped); a skip is never a pass, an `unsupported`
requirement (feature declared absent with `--unsupported`) and a requirement that did not run are
shown apart and left out of the score.

Every text that goes into a file passes through the redactor (`conformance.http.REDACTOR` plus the
run's API key), and the finished directory is scrubbed once more, so no secret reaches a report.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from conformance.http import REDACTED, REDACTOR, Redactor
from conformance.requirements import AREA_MODULES, REGISTRY, SPEC_URL, Level, Registry, Requirement
from conformance.results import OUTCOME_ORDER, TestResult

FORMAT = "responses-conformance-report/1"
LEVELS = ("MUST", "SHOULD", "MAY")
# requirement outcomes, best to worst; `xpassed` tests count as `passed` at the requirement level
OUTCOMES = ("passed", "failed", "error", "skipped", "unsupported", "not-run")
NOT_PASSING = ("failed", "error")
REPORT_BODY = 4000  # characters of a request/response body kept per exchange in a report
REPORT_EXCHANGES = 4  # exchanges kept per test (the last ones: the failing call is usually last)
MESSAGE_LIMIT = 6000
# a key or option whose value is secret: named so at its end (`x-api-key`, `hf_token`; not `max_output_tokens`)
SECRET_NAME = re.compile(r"(api[-_]?key|token|secret|password|passwd|authorization|credentials?)$", re.I)
# a secret's value in a command or environment line: `--api-key VALUE`, `--hf-token=VALUE`, `HF_TOKEN=VALUE`
SECRET_ARG = re.compile(r"(--?[\w-]*(?:api[-_]?key|token|secret|password|passwd)\b)(=|\s+)(?!\[REDACTED\])([^\s'\"]+)",
                        re.I)
SECRET_ENV = re.compile(r"\b([A-Z0-9_]*(?:API_KEY|TOKEN|SECRET|PASSWORD))=(?!\[REDACTED\])([^\s'\"]+)")
ALLURE_SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}


# -- redaction ------------------------------------------------------------------------------------


def redactor_for(secrets: Iterable[str | None] = ()) -> Redactor:
    """The process-wide redactor's secrets plus these (the run's API key, ...)."""
    red = Redactor(REDACTOR.secrets)
    for s in secrets:
        red.add(s)
    return red


def redact(value: Any, red: Redactor) -> Any:
    """Every string in a JSON-like value through the redactor; values of secret-named keys removed."""
    if isinstance(value, str):
        text = SECRET_ARG.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", red.text(value))
        return SECRET_ENV.sub(lambda m: f"{m[1]}={REDACTED}", text)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return [redact(v, red) for v in redact_command(value, red)]  # a command line: `--api-key VALUE`
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and SECRET_NAME.search(k) and isinstance(v, str) and v and v != REDACTED:
                # an Authorization header is already "[REDACTED]"; anything else secret-named is dropped
                out[k] = REDACTED
            else:
                out[k] = redact(v, red)
        return out
    if isinstance(value, list | tuple):
        return [redact(v, red) for v in value]
    return value


def redact_command(args: Iterable[str], red: Redactor) -> list[str]:
    """A command line with the values of secret-looking options replaced."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        arg = str(arg)
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if arg.startswith("-") and SECRET_NAME.search(name):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(red.text(arg))
    return out


def scrub_dir(directory: Path, red: Redactor) -> list[Path]:
    """Last line of defence: remove known secrets from every file under `directory` (Allure, ...)."""
    changed = []
    secrets = [s.encode() for s in red.secrets]
    if not secrets or not directory.is_dir():
        return changed
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if any(s in data for s in secrets):
            for s in secrets:
                data = data.replace(s, REDACTED.encode())
            path.write_bytes(data)
            changed.append(path)
    return changed


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


def suite_version() -> str:
    try:
        from importlib.metadata import version

        return version("responses-conformance")
    except Exception:  # not installed (a bare checkout on sys.path)
        return "unknown"


def spec_source() -> dict[str, Any]:
    """The OpenAPI document the schemas were generated from (commit, sha256, date) and its URL."""
    try:
        from conformance.schema import Schemas

        source = dict(Schemas.load().source)
    except Exception as exc:  # a report must still be written when the schemas cannot load
        return {"error": f"schemas not loaded: {exc}"}
    commit = source.get("commit")
    if commit:
        source["url"] = SPEC_URL.format(commit=commit)
    return source


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
        "suite": {"name": "responses-conformance", "version": suite_version(), "python": sys.version.split()[0]},
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
    return redact(report, red)


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
    if outcome in ("skipped", "unsupported"):
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
    """`MUST: 61/64 (2 failed, 1 skipped) · 3 unsupported`: one line per level that has requirements."""
    lines = []
    for lv in LEVELS:
        c = levels.get(lv)
        if not c or not c["total"]:
            continue
        bad = [f"{c[o]} {o}" for o in ("failed", "error", "skipped") if c[o]]
        apart = [f"{c[o]} {o.replace('-', ' ')}" for o in ("unsupported", "not-run") if c[o]]
        line = f"{lv}: {c['score']}" if c["judged"] else f"{lv}: none judged"
        line += f" ({', '.join(bad)})" if bad else ""
        if apart:
            line += " · " + ", ".join(apart)
        lines.append(line)
    return lines or ["no requirement was judged"]


def verdict_sentence(report: dict[str, Any]) -> str:
    levels = report["summary"]["levels"]
    must = levels["MUST"]
    if report["summary"]["verdict"] == "empty":
        return "No MUST requirement was judged"
    if report["summary"]["verdict"] == "fail":
        n = must["failed"] + must["error"]
        return f"{n} MUST requirement{'s' if n != 1 else ''} not met"
    should = levels["SHOULD"]
    extra = ""
    if should["failed"] or should["error"]:
        n = should["failed"] + should["error"]
        extra = f"; {n} SHOULD requirement{'s' if n != 1 else ''} not met"
    return f"All judged MUST requirements met{extra}"


def failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in report["requirements"] if e["outcome"] in NOT_PASSING]


def short(text: str | None, limit: int = 160) -> str:
    """The most telling line of a failure message (the `at:`/Received line), for one-line listings."""
    if not text:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.startswith("[")] or lines
    line = " ".join(body[:3]) if body else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def server_label(report: dict[str, Any]) -> str:
    """A short human name for the server of a report: its image, name or URL, and the model."""
    server = report.get("server") or {}
    info = server.get("info") or {}
    name = server.get("image") or info.get("name") or server.get("url") or "server"
    if server.get("kind") == "embedded":
        defect = info.get("defect")
        name = "refserver" + (f" (defect {defect})" if defect else "")
    model = server.get("model") or report.get("model")
    return f"{name} · {model}" if model else str(name)


# -- files -----------------------------------------------------------------------------------------


def write_json(path: Path, report: dict[str, Any]) -> Path:
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: Any) -> str:
    return _XML_BAD.sub("?", str(text if text is not None else ""))


def junit_xml(report: dict[str, Any]) -> str:
    """JUnit XML: one testsuite per area, one testcase per test, requirement id and level as properties."""
    reqs = {e["id"]: e for e in report["requirements"]}
    root = ET.Element("testsuites", name="responses-conformance")
    suites: dict[str, tuple[ET.Element, dict[str, float]]] = {}
    for t in report["tests"]:
        req = reqs.get(t["requirement"] or "", {})
        area = req.get("area", "other")
        if area not in suites:
            suite = ET.SubElement(root, "testsuite", name=f"responses-conformance.{area}")
            props = ET.SubElement(suite, "properties")
            for name, value in (("server.url", report["server"].get("url")), ("model", report.get("model")),
                                ("spec.commit", report["spec"].get("commit")),
                                ("suite.version", report["suite"].get("version"))):
                ET.SubElement(props, "property", name=name, value=_x(value))
            suites[area] = (suite, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0})
        suite, counts = suites[area]
        path, _, name = t["nodeid"].partition("::")
        case = ET.SubElement(suite, "testcase", classname=_x(path.removesuffix(".py").replace("/", ".")),
                             name=_x(name or path), time=f"{t['duration']:.3f}")
        props = ET.SubElement(case, "properties")
        for key, value in (("requirement", t["requirement"]), ("level", t["level"]), ("area", req.get("area")),
                           ("statement", req.get("statement")), ("spec", req.get("spec")),
                           ("basis", req.get("basis")), ("outcome", t["outcome"])):
            if value:
                ET.SubElement(props, "property", name=key, value=_x(value))
        counts["tests"] += 1
        counts["time"] += t["duration"]
        outcome, first = t["outcome"], short(t["message"], 300)
        if outcome == "failed":
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=_x(first), type="ConformanceFailure").text = _x(t["message"])
        elif outcome == "error":
            counts["errors"] += 1
            ET.SubElement(case, "error", message=_x(first), type="error").text = _x(t["message"])
        elif outcome in ("skipped", "unsupported"):
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", type=outcome, message=_x(f"{outcome}: {t['message']}"))
        if t["evidence"]:
            ET.SubElement(case, "system-out").text = _x("\n".join(
                f"{ex['request']['method']} {ex['request']['url']} -> "
                f"{ex['response'].get('status') or ex.get('error')}\n  {ex.get('curl', '')}" for ex in t["evidence"]))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite, counts in suites.values():
        for k in totals:
            suite.set(k, str(int(counts[k])))
            totals[k] += int(counts[k])
        suite.set("time", f"{counts['time']:.3f}")
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{report.get('duration_s') or 0}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_all(directory: Path, report: dict[str, Any], secrets: Iterable[str | None] = ()) -> dict[str, Path]:
    """Write report.json, report.md, report.html and junit.xml into `directory`; scrub it of secrets."""
    from conformance import report_html, report_md

    directory.mkdir(parents=True, exist_ok=True)
    red = redactor_for(secrets)
    report = redact(report, red)
    paths = {"json": write_json(directory / "report.json", report)}
    paths["md"] = directory / "report.md"
    paths["md"].write_text(report_md.render(report), encoding="utf-8")
    paths["html"] = directory / "report.html"
    paths["html"].write_text(report_html.render(report), encoding="utf-8")
    paths["junit"] = directory / "junit.xml"
    paths["junit"].write_text(junit_xml(report), encoding="utf-8")
    allure = directory / "allure-results"
    if allure.is_dir():
        write_allure_environment(allure, report)
    scrub_dir(directory, red)
    return paths


def write_allure_environment(directory: Path, report: dict[str, Any]) -> Path:
    """Allure's Environment panel: server, model, spec commit, suite version."""
    server = report.get("server") or {}
    rows = {"server.url": server.get("url"), "server.kind": server.get("kind"), "server.image": server.get("image"),
            "server.version": json.dumps(server.get("version")) if server.get("version") else None,
            "model": report.get("model"), "spec.commit": (report.get("spec") or {}).get("commit"),
            "suite.version": (report.get("suite") or {}).get("version")}
    path = directory / "environment.properties"
    text = "".join(f"{k}={str(v).replace(chr(10), ' ')}\n" for k, v in rows.items() if v)
    path.write_text(text, encoding="utf-8")
    return path


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
    return data


# -- pytest glue (the plugin calls these; pytest is imported lazily) ----------------------------


def server_info(handle: Any) -> dict[str, Any]:
    """What a report says about the server: from `ServerHandle` (url, kind, model, info)."""
    if handle is None:
        return {}
    info = dict(getattr(handle, "info", {}) or {})
    return {"url": handle.url, "kind": handle.kind, "model": handle.model,
            "image": info.get("image"), "image_id": info.get("image_id") or info.get("digest"),
            "version": info.get("version"), "info": info}


def context_from_config(config: Any, handle: Any, started: float | None, finished: float | None,
                        exit_status: int | None) -> RunContext:
    opt = config.option
    args = [str(a) for a in getattr(config.invocation_params, "args", ())]
    options = {"unsupported": [f for f in (getattr(opt, "unsupported", "") or "").split(",") if f],
               "profile": getattr(opt, "profile", None) or None,
               "requirements": [r for r in (getattr(opt, "requirements", "") or "").split(",") if r],
               "request_timeout": getattr(opt, "request_timeout", None)}
    return RunContext(server=server_info(handle), started=started, finished=finished,
                      command=["pytest", *args], options=options, exit_status=exit_status,
                      secrets=[getattr(opt, "api_key", None), getattr(handle, "api_key", None)])


def enable_allure(config: Any) -> None:
    """`--report-dir DIR` implies allure-pytest results in DIR/allure-results (unless --alluredir is given).

    Runs before allure-pytest's own configure hook (the plugin's tryfirst `pytest_cmdline_main`, which
    xdist workers run too, so every worker writes its tests' results there).  The controller empties
    the directory first, so results of an earlier run in the same DIR do not mix in.
    """
    option = config.option
    report_dir = getattr(option, "report_dir", None)
    if not report_dir or not hasattr(option, "allure_report_dir") or option.allure_report_dir:
        return
    target = Path(report_dir).resolve() / "allure-results"
    if not hasattr(config, "workerinput") and target.is_dir():
        import shutil

        shutil.rmtree(target, ignore_errors=True)
    option.allure_report_dir = str(target)


_SPEC_COMMIT: list[str | None] = []


def spec_commit() -> str | None:
    if not _SPEC_COMMIT:
        _SPEC_COMMIT.append(spec_source().get("commit"))
    return _SPEC_COMMIT[0]


def add_allure_marks(config: Any, item: Any, req: Requirement) -> None:
    """Label a collected test for Allure when Allure results are being written."""
    if not getattr(config.option, "allure_report_dir", None):
        return
    import pytest

    for name, args, kwargs in allure_marks(req, spec_commit()):
        item.add_marker(getattr(pytest.mark, name)(*args, **kwargs))


def finish_session(config: Any, collector: Any, handle: Any, exit_status: int | None) -> dict[str, Any] | None:
    """Build the run's report (for the terminal summary) and write the files when --report-dir is given."""
    records = collector.records()
    report_dir = getattr(config.option, "report_dir", None)
    if not report_dir and not any(r.requirement for r in records):
        return None
    context = context_from_config(config, handle, collector.started, collector.finished, exit_status)
    report = build_report(records, context)
    if report_dir:
        write_all(Path(report_dir), report, context.secrets)
        report["_dir"] = str(report_dir)
    return report


def allure_marks(req: Requirement, commit: str | None = None) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """allure-pytest markers for a requirement: area as epic, requirement as story, level as severity."""
    level = req.level.value if isinstance(req.level, Level) else str(req.level)
    marks: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("allure_label", (req.area,), {"label_type": "epic"}),
        ("allure_label", (f"{req.id}: {req.statement}",), {"label_type": "story"}),
        ("allure_label", (ALLURE_SEVERITY.get(level, "normal"),), {"label_type": "severity"}),
        ("allure_label", (req.id,), {"label_type": "tag"}),
        ("allure_label", (level,), {"label_type": "tag"}),
    ]
    if commit:
        marks.append(("allure_link", (SPEC_URL.format(commit=commit),),
                      {"link_type": "link", "name": f"spec: {req.spec}"[:200]}))
    return marks


def terminal_lines(report: dict[str, Any], max_listed: int = 12) -> list[str]:
    """The score lines (and what did not pass) for pytest's terminal summary."""
    report_dir = Path(report["_dir"]) if report.get("_dir") else None
    lines = list(report["summary"]["lines"])
    listed = [e for e in report["requirements"] if e["outcome"] in ("failed", "error", "skipped", "unsupported")]
    for e in listed[:max_listed]:
        why = short(e.get("reason") or e.get("message"), 110)
        lines.append(f"  {e['outcome']:<11} {e['id']} {e['level']}: {why}")
    if len(listed) > max_listed:
        lines.append(f"  ... and {len(listed) - max_listed} more (see the report)")
    if report_dir is not None:
        lines.append(f"reports: {report_dir}/report.html (also report.md, report.json, junit.xml"
                     + (", allure-results/)" if (report_dir / "allure-results").is_dir() else ")"))
    return lines


def command_string(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


# -- path-valued options and pytest's rootdir -----------------------------------------------------

# pytest finds its rootdir and ini file before plugins load, from a first parse of the command line
# that does not know this plugin's options: in `--report-dir /abs/dir` it takes an existing /abs/dir
# for a test path, so the rootdir, the ini file (testpaths, addopts) and the tests collected change.
# The `--opt=value` form is immune.
PATH_OPTIONS = ("--report-dir", "--results-json")


def joined_path_options(args: Iterable[str]) -> list[str]:
    """`--report-dir DIR` -> `--report-dir=DIR` (for the arguments xdist hands to its workers)."""
    out: list[str] = []
    items = [str(a) for a in args]
    i = 0
    while i < len(items):
        if items[i] in PATH_OPTIONS and i + 1 < len(items):
            out.append(f"{items[i]}={items[i + 1]}")
            i += 2
        else:
            out.append(items[i])
            i += 1
    return out


def fix_worker_args(config: Any) -> None:
    """On the controller: workers start after DIR exists, so give them `--report-dir=DIR`."""
    import dataclasses

    params = config.invocation_params
    args = joined_path_options(params.args)
    if list(params.args) != args:
        config.invocation_params = dataclasses.replace(params, args=tuple(args))


def path_option_problem(config: Any, args: Iterable[str]) -> str | None:
    """When a separate existing path after --report-dir/--results-json moved pytest's rootdir: how to fix it.

    Only then: `--report-dir reports` inside the project leaves the rootdir where it was.
    """
    items = [str(a) for a in args]
    suspects = [items[i + 1] for i, a in enumerate(items[:-1]) if a in PATH_OPTIONS and Path(items[i + 1]).exists()]
    if not suspects:
        return None
    try:
        from _pytest.config.findpaths import determine_setup

        ns = config.known_args_namespace
        paths = [p for p in (getattr(ns, "file_or_dir", None) or []) if p not in suspects]
        rootpath, inipath, *_ = determine_setup(
            inifile=ns.inifilename, override_ini=ns.override_ini, args=paths, rootdir_cmd_arg=ns.rootdir or None,
            invocation_dir=config.invocation_params.dir)
    except Exception:  # another pytest version: no check rather than a wrong one
        return None
    if rootpath == config.rootpath and inipath == config.inipath:
        return None
    option = next(a for a in items if a in PATH_OPTIONS and items[items.index(a) + 1] in suspects)
    value = items[items.index(option) + 1]
    return (f"write {option}={value} (with '='): pytest took the existing path {value} for a test path before "
            f"this plugin loaded, which moved its rootdir to {config.rootpath} and changes the tests it collects")


# -- command line: render the formats again from a report.json, or build one from results.json ----


def main(argv: list[str] | None = None) -> int:
    """`python -m conformance.report IN --out DIR`: IN is a report.json, or a --results-json file."""
    import argparse

    from conformance.results import load_json

    parser = argparse.ArgumentParser(
        prog="python -m conformance.report",
        description="Write report.json/md/html and junit.xml from a report.json (re-render) or from a "
                    "--results-json file (the same result model, without the run's metadata).")
    parser.add_argument("input", help="report.json, or results.json written by pytest --results-json")
    parser.add_argument("--out", required=True, help="directory for the reports")
    parser.add_argument("--server-url", help="with results.json: the server the run tested")
    parser.add_argument("--model", help="with results.json: the model the run tested")
    args = parser.parse_args(argv)
    path = Path(args.input)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            records = load_json(path)
            ctx = RunContext(server={"url": args.server_url, "kind": "remote", "model": args.model},
                             command=["python", "-m", "conformance.report", *(argv or sys.argv[1:])])
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
