"""The release gate: does this run's report.json meet the bar, given the known failures?

    python -m conformance gate --baseline known-failures.json reports/report.json
    python -m conformance gate --write-baseline known-failures.json reports/report.json

Rules (exit 0 = accepted, 1 = rejected, 2 = the inputs are missing or malformed):

- a MUST requirement that failed or errored and is not in the baseline rejects the run;
- a baseline entry whose requirement now passes is stale and rejects the run (the verdict lists
  what was fixed: remove those entries, or rewrite the baseline with --write-baseline);
- SHOULD failures are warnings by default; `--strict-should` makes them gate like MUST
  (unlisted ones reject, stale entries reject);
- MAY failures are only reported;
- a requirement skipped, not applicable, unsupported or not run is never a pass: a baseline entry for it stays
  (it is listed as "not judged"), and a run that judged no MUST requirement at all is rejected.

The baseline is JSON, keyed by requirement id; `reason` is for humans (why it fails, the issue
link), `expected` is the outcome the entry stands for ("failed", "error", or a list of outcomes;
a list with "passed" marks a flaky requirement that is never stale).  `cases` narrows an entry to
test cases (the test's node id without its file path, `test_x[param]`), each with its expected
outcome(s): a known failing case then hides no new failure in another case of the same requirement,
and a listed case that passes is stale (fixed).  An entry without `cases` covers every case:

    {"format": "responses-conformance-baseline/1",
     "known_failures": {"SEED-001": {"level": "MUST", "expected": "failed",
                                     "reason": "vLLM #43395: no reasoning item (fix in 0.12)",
                                     "cases": {"test_reasoning_item_precedes_message": "failed"}}}}

`pytest --baseline FILE` applies the same entries inside the run (`conformance.plugin`): a known
failing case is reported by pytest as xfailed, a known case that passes as XPASS (fixed).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.reports import model
from conformance.reports import report as reporting

BASELINE_FORMAT = "responses-conformance-baseline/1"
PLACEHOLDER = "TODO: say why this requirement is known to fail (issue link, expected fix version)"
JUDGED = ("passed", "failed", "error", "skipped", "not-applicable", "unsupported", "not-run")


class InputError(Exception):
    """A missing or malformed report or baseline: one line, exit 2."""


@dataclass
class Entry:
    id: str
    expected: list[str]
    reason: str = ""
    level: str | None = None
    cases: dict[str, list[str]] | None = None  # test case -> expected outcomes; None: every case of the requirement

    def covers(self, case: str) -> bool:
        return self.cases is None or case in self.cases

    def expected_of(self, case: str) -> list[str]:
        return (self.cases or {}).get(case, self.expected)

    def only(self, cases: list[str]) -> Entry:
        """This entry narrowed to some of its cases (for the verdict's listings)."""
        return Entry(self.id, self.expected, self.reason, self.level, {c: self.expected_of(c) for c in cases})


def case_name(nodeid: str) -> str:
    """A test case as a baseline names it: the node id without its file path (`test_x[param]`), so that a
    baseline written from a checkout matches a run of the installed suite."""
    return nodeid.split("::", 1)[1] if "::" in nodeid else nodeid


@dataclass
class Verdict:
    accepted: bool
    new: list[dict[str, Any]] = field(default_factory=list)  # gating failures not in the baseline
    stale: list[tuple[Entry, dict[str, Any] | None]] = field(default_factory=list)  # baseline entries now passing
    known: list[tuple[Entry, dict[str, Any]]] = field(default_factory=list)  # failing as the baseline says
    changed: list[tuple[Entry, dict[str, Any]]] = field(default_factory=list)  # listed, failing differently
    not_judged: list[tuple[Entry, dict[str, Any] | None]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # non-gating failures not in the baseline
    stale_warnings: list[tuple[Entry, dict[str, Any] | None]] = field(default_factory=list)
    empty: bool = False
    reasons: list[str] = field(default_factory=list)


# -- inputs ----------------------------------------------------------------------------------------


def load_report(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"report {path} does not exist (did the suite run with --report-dir?)")
    try:
        return reporting.load(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"report {path} is not a valid report.json: {_one_line(exc)}") from None
    except OSError as exc:
        raise InputError(f"report {path} cannot be read: {exc.strerror or exc}") from None


def load_baseline(path: Path) -> dict[str, Entry]:
    if not path.is_file():
        raise InputError(f"baseline {path} does not exist; create one from a run with "
                         f"`python -m conformance gate --write-baseline {path} report.json`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"baseline {path} is not valid JSON: {_one_line(exc)}") from None
    except OSError as exc:
        raise InputError(f"baseline {path} cannot be read: {exc.strerror or exc}") from None
    return parse_baseline(data, str(path))


def parse_baseline(data: Any, where: str = "baseline") -> dict[str, Entry]:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object with `known_failures`, got {type(data).__name__}")
    known = data.get("known_failures", {})
    if not isinstance(known, dict):
        raise InputError(f"{where}: `known_failures` must be an object keyed by requirement id")
    entries = {}
    for rid, raw in known.items():
        if not isinstance(raw, dict):
            raise InputError(f"{where}: entry {rid!r} must be an object with `expected` and `reason`")
        expected = _outcomes(raw.get("expected", ["failed", "error"]), f"{where}: entry {rid!r}: `expected`")
        reason = raw.get("reason", "")
        if not isinstance(reason, str):
            raise InputError(f"{where}: entry {rid!r}: `reason` must be a string")
        entries[rid] = Entry(rid, expected, reason, raw.get("level"), _cases(raw.get("cases"), expected, where, rid))
    return entries


def _outcomes(value: Any, what: str) -> list[str]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value or any(o not in JUDGED for o in value):
        raise InputError(f"{what} must be one of {', '.join(JUDGED)} or a list of them, not {value!r}")
    return value


def _cases(raw: Any, expected: list[str], where: str, rid: str) -> dict[str, list[str]] | None:
    """`cases`: a list of test cases (each expected as the entry says) or an object case -> outcome(s)."""
    if raw is None:
        return None
    if isinstance(raw, list) and all(isinstance(c, str) for c in raw):
        return {c: expected for c in raw}
    if not isinstance(raw, dict):
        raise InputError(f"{where}: entry {rid!r}: `cases` must list test cases (`test_x[param]`) or map each "
                         "to its expected outcome")
    return {case: _outcomes(out, f"{where}: entry {rid!r}: case {case!r}") for case, out in raw.items()}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


# -- the decision ----------------------------------------------------------------------------------


def _failing_cases(e: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in e.get("tests") or [] if isinstance(t, dict) and t.get("outcome") in model.NOT_PASSING]


def _with_cases(e: dict[str, Any], tests: list[dict[str, Any]], messages: dict[str, str]) -> dict[str, Any]:
    """The requirement entry narrowed to some failing cases: their names, worst outcome and first message."""
    out = dict(e)
    out["cases"] = [case_name(t["nodeid"]) for t in tests]
    out["outcome"] = "error" if any(t["outcome"] == "error" for t in tests) else "failed"
    out["message"] = messages.get(tests[0]["nodeid"]) or e.get("message", "")
    return out


def evaluate(report: dict[str, Any], baseline: dict[str, Entry], strict_should: bool = False) -> Verdict:
    gating = {"MUST", "SHOULD"} if strict_should else {"MUST"}
    reqs = {e["id"]: e for e in report["requirements"]}
    messages = {t.get("nodeid"): t.get("message", "") for t in report.get("tests") or [] if isinstance(t, dict)}
    v = Verdict(accepted=True)
    for e in report["requirements"]:
        if e["outcome"] not in model.NOT_PASSING:
            continue
        entry = baseline.get(e["id"])
        failing = _failing_cases(e)
        if entry is not None and entry.cases is not None and failing:
            # judged per case: a known failing case hides no new failure in another case
            unknown = [t for t in failing if not entry.covers(case_name(t["nodeid"]))]
            differ = [t for t in failing if entry.covers(case_name(t["nodeid"]))
                      and t["outcome"] not in entry.expected_of(case_name(t["nodeid"]))]
            if unknown:
                (v.new if e["level"] in gating else v.warnings).append(_with_cases(e, unknown, messages))
            if differ:
                v.changed.append((entry.only([case_name(t["nodeid"]) for t in differ]), e))
            elif len(unknown) < len(failing):
                v.known.append((entry, e))
        elif entry is not None:
            if e["outcome"] in entry.expected:
                v.known.append((entry, e))
            else:
                v.changed.append((entry, e))  # still not passing: e.g. listed as failed, now an error
        elif e["level"] in gating:
            v.new.append(e)
        else:
            v.warnings.append(e)
    for rid, entry in baseline.items():
        e = reqs.get(rid)
        if e is None or e["outcome"] in ("skipped", "not-applicable", "unsupported", "not-run"):
            v.not_judged.append((entry, e))
            continue
        if entry.cases is not None and e.get("tests"):
            outcomes = {case_name(t["nodeid"]): t.get("outcome") for t in e["tests"] if isinstance(t, dict)}
            fixed = [c for c in entry.cases if outcomes.get(c) in ("passed", "xpassed")
                     and "passed" not in entry.expected_of(c)]
            if fixed:
                (v.stale if e["level"] in gating else v.stale_warnings).append((entry.only(fixed), e))
        elif e["outcome"] == "passed" and "passed" not in entry.expected:
            level = e["level"]
            (v.stale if level in gating else v.stale_warnings).append((entry, e))
    must = report["summary"]["levels"]["MUST"] if "summary" in report else None
    judged_must = must["judged"] if must else sum(1 for e in report["requirements"]
                                                  if e["level"] == "MUST" and e["outcome"] != "not-run")
    v.empty = judged_must == 0
    if v.new:
        v.reasons.append(f"{len(v.new)} new {_levels(v.new)} failure{_s(v.new)} not in the baseline")
    if v.stale:
        v.reasons.append(f"{len(v.stale)} baseline entr{'ies' if len(v.stale) != 1 else 'y'} stale "
                         f"(now passing)")
    if v.empty:
        v.reasons.append("the run judged no MUST requirement")
    v.accepted = not v.reasons
    return v


def _s(items: list[Any]) -> str:
    return "s" if len(items) != 1 else ""


def _levels(entries: list[dict[str, Any]]) -> str:
    return "/".join(dict.fromkeys(e["level"] for e in entries))


# -- output ----------------------------------------------------------------------------------------


def render(v: Verdict, report: dict[str, Any], baseline_path: str | None, strict_should: bool,
           markdown: bool = False) -> str:
    label = model.server_label(report)
    head = "ACCEPTED" if v.accepted else "REJECTED"
    lines = [f"conformance gate: {head} — {label}" + ("" if v.accepted else f": {'; '.join(v.reasons)}")]
    lines.append("  " + " | ".join(report["summary"]["lines"]))
    should = "gate (--strict-should)" if strict_should else "warn (--strict-should gates them)"
    lines.append(f"  baseline: {baseline_path or '(none: every failure is new)'}; SHOULD failures {should}")

    def section(title: str, rows: list[str]) -> None:
        if rows:
            lines.append(title)
            lines.extend(f"    {r}" for r in rows)

    def failure(e: dict[str, Any]) -> str:
        head = f"{e['id']} {e['level']} {e['outcome']}{_in_cases(e.get('cases'))}: {e['statement']}"
        return f"{head} — {model.short(e.get('message'), max(60, 220 - len(head)))}"

    section("  new failures (not in the baseline; fix them or add them to the baseline with a reason):",
            [failure(e) for e in v.new])
    section("  fixed (stale baseline entries: the requirement now passes; remove them from the baseline):",
            [f"{en.id}{_in_cases(en.cases)} {e['level'] if e else ''}: {e['statement'] if e else ''}"
             for en, e in v.stale])
    section("  fixed, not gating (stale SHOULD/MAY entries; remove them):",
            [f"{en.id}{_in_cases(en.cases)} {e['level'] if e else ''}" for en, e in v.stale_warnings])
    section("  warnings (failures that do not gate at this strictness):",
            [f"{e['id']} {e['level']} {e['outcome']}: {e['statement']}" for e in v.warnings])
    section("  known failures (in the baseline, still failing):",
            [f"{en.id}{_in_cases(en.cases)} {e['level']} {e['outcome']}: {en.reason or '(no reason given)'}"
             for en, e in v.known])
    section("  listed, failing differently than the baseline says (not gating):",
            [f"{en.id}{_in_cases(en.cases)}: expected {'/'.join(en.expected)}, now {e['outcome']}"
             for en, e in v.changed])
    section("  baseline entries not judged in this run (skipped, not applicable, unsupported or not run; kept):",
            [f"{en.id}: {e['outcome'] if e else 'not in this report'}" for en, e in v.not_judged])
    text = "\n".join(lines)
    if markdown:
        icon = "✅" if v.accepted else "❌"
        return f"### {icon} Conformance gate: {head}\n\n```\n{text}\n```\n"
    return text + "\n"


def _in_cases(cases: Any) -> str:
    """` (case test_a[x], test_b)` for a listing narrowed to test cases."""
    if not cases:
        return ""
    names = list(cases)
    shown = ", ".join(names[:3]) + (f", +{len(names) - 3} more" if len(names) > 3 else "")
    return f" (case{'s' if len(names) != 1 else ''} {shown})"


def annotate(report: dict[str, Any], baseline: dict[str, Entry], source: str | None = None) -> dict[str, Any]:
    """The report's `baseline` section: every failing test case as known (in the baseline) or new, and the
    known cases that now pass (fixed); what the report formats show apart from the scores."""
    by_id = {e["id"]: e for e in report["requirements"]}
    known, new, fixed = [], [], []
    for t in report.get("tests") or []:
        rid = t.get("requirement")
        if not rid or rid not in by_id:
            continue
        entry, case = baseline.get(rid), case_name(t["nodeid"])
        row = {"id": rid, "level": by_id[rid]["level"], "case": case, "outcome": t["outcome"]}
        if t["outcome"] in model.NOT_PASSING:
            if entry is not None and entry.covers(case):
                known.append({**row, "reason": entry.reason})
            else:
                new.append({**row, "message": model.short(t.get("message"), 200)})
        elif (t["outcome"] in ("passed", "xpassed") and entry is not None and entry.cases is not None
              and case in entry.cases and "passed" not in entry.expected_of(case)):
            fixed.append(row)
    for rid, entry in baseline.items():  # a requirement-level entry is fixed when its requirement passes
        e = by_id.get(rid)
        if entry.cases is None and e is not None and e["outcome"] == "passed" and "passed" not in entry.expected:
            fixed.append({"id": rid, "level": e["level"], "case": None, "outcome": "passed"})
    return {"file": source, "known": known, "new": new, "fixed": fixed}


def baseline_from(report: dict[str, Any], previous: dict[str, Entry] | None = None,
                  source: str = "report.json") -> dict[str, Any]:
    """A baseline listing every failed/errored requirement of the report (any level), reasons kept."""
    previous = previous or {}
    known = {}
    for e in report["requirements"]:
        if e["outcome"] not in model.NOT_PASSING:
            continue
        old = previous.get(e["id"])
        expected: str | list[str] = e["outcome"]
        if old is not None and len(old.expected) > 1:
            expected = old.expected  # a human marked it flaky: keep that
        known[e["id"]] = {"level": e["level"], "expected": expected,
                          "reason": old.reason if old is not None and old.reason else PLACEHOLDER,
                          "statement": e["statement"]}
        cases = {case_name(t["nodeid"]): t["outcome"] for t in _failing_cases(e)}
        if cases:  # per case: a new failure in another case of this requirement is not hidden
            if old is not None and old.cases:
                cases = {c: old.cases[c] if len(old.cases.get(c, [])) > 1 else o for c, o in cases.items()}
            known[e["id"]]["cases"] = {c: o[0] if isinstance(o, list) and len(o) == 1 else o for c, o in cases.items()}
    return {
        "format": BASELINE_FORMAT,
        "comment": "Known failures accepted by `python -m conformance gate`. Give every entry a real reason; "
                   "an entry whose requirement passes again makes the gate fail until it is removed.",
        "server": model.server_label(report),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "from": {"report": source, "suite_version": (report.get("suite") or {}).get("version"),
                 "spec_commit": (report.get("spec") or {}).get("commit")},
        "known_failures": known,
    }


# -- command line ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance gate",
        description="Accept or reject a conformance run (report.json) against a baseline of known failures.")
    parser.add_argument("report", help="the run's report.json (written by pytest --report-dir DIR)")
    parser.add_argument("--baseline", help="known failures (JSON); without it every failure is new")
    parser.add_argument("--write-baseline", metavar="FILE",
                        help="write FILE listing every failure of the report (keeps existing reasons) and exit 0")
    parser.add_argument("--strict-should", action="store_true",
                        help="SHOULD failures gate like MUST ones (default: they are warnings)")
    parser.add_argument("--markdown", action="store_true", help="print the verdict as Markdown (job summaries)")
    args = parser.parse_args(argv)
    try:
        report = load_report(Path(args.report))
        if args.write_baseline:
            target = Path(args.write_baseline)
            previous = load_baseline(target) if target.is_file() else {}
            data = baseline_from(report, previous, args.report)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            todo = sum(1 for x in data["known_failures"].values() if x["reason"] == PLACEHOLDER)
            print(f"wrote {target}: {len(data['known_failures'])} known failure(s)"
                  + (f"; {todo} need a reason (edit the TODO text)" if todo else ""))
            return 0
        baseline = load_baseline(Path(args.baseline)) if args.baseline else {}
    except InputError as exc:
        print(f"conformance gate: error: {exc}", file=sys.stderr)
        return 2
    verdict = evaluate(report, baseline, args.strict_should)
    sys.stdout.write(render(verdict, report, args.baseline, args.strict_should, args.markdown))
    return 0 if verdict.accepted else 1


if __name__ == "__main__":
    sys.exit(main())
