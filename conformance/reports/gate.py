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
a list with "passed" marks a flaky requirement that is never stale):

    {"format": "responses-conformance-baseline/1",
     "known_failures": {"SEED-001": {"level": "MUST", "expected": "failed",
                                     "reason": "vLLM #43395: no reasoning item (fix in 0.12)"}}}
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
        expected = raw.get("expected", ["failed", "error"])
        if isinstance(expected, str):
            expected = [expected]
        if not isinstance(expected, list) or not expected or any(o not in JUDGED for o in expected):
            raise InputError(f"{where}: entry {rid!r}: `expected` must be one of {', '.join(JUDGED)} "
                             f"or a list of them, not {raw.get('expected')!r}")
        reason = raw.get("reason", "")
        if not isinstance(reason, str):
            raise InputError(f"{where}: entry {rid!r}: `reason` must be a string")
        entries[rid] = Entry(rid, expected, reason, raw.get("level"))
    return entries


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


# -- the decision ----------------------------------------------------------------------------------


def evaluate(report: dict[str, Any], baseline: dict[str, Entry], strict_should: bool = False) -> Verdict:
    gating = {"MUST", "SHOULD"} if strict_should else {"MUST"}
    reqs = {e["id"]: e for e in report["requirements"]}
    v = Verdict(accepted=True)
    for e in report["requirements"]:
        if e["outcome"] not in model.NOT_PASSING:
            continue
        entry = baseline.get(e["id"])
        if entry is not None:
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
        head = f"{e['id']} {e['level']} {e['outcome']}: {e['statement']}"
        return f"{head} — {model.short(e.get('message'), max(60, 220 - len(head)))}"

    section("  new failures (not in the baseline; fix them or add them to the baseline with a reason):",
            [failure(e) for e in v.new])
    section("  fixed (stale baseline entries: the requirement now passes; remove them from the baseline):",
            [f"{en.id} {e['level'] if e else ''}: {e['statement'] if e else ''}" for en, e in v.stale])
    section("  fixed, not gating (stale SHOULD/MAY entries; remove them):",
            [f"{en.id} {e['level'] if e else ''}" for en, e in v.stale_warnings])
    section("  warnings (failures that do not gate at this strictness):",
            [f"{e['id']} {e['level']} {e['outcome']}: {e['statement']}" for e in v.warnings])
    section("  known failures (in the baseline, still failing):",
            [f"{en.id} {e['level']} {e['outcome']}: {en.reason or '(no reason given)'}" for en, e in v.known])
    section("  listed, failing differently than the baseline says (not gating):",
            [f"{en.id}: expected {'/'.join(en.expected)}, now {e['outcome']}" for en, e in v.changed])
    section("  baseline entries not judged in this run (skipped, not applicable, unsupported or not run; kept):",
            [f"{en.id}: {e['outcome'] if e else 'not in this report'}" for en, e in v.not_judged])
    text = "\n".join(lines)
    if markdown:
        icon = "✅" if v.accepted else "❌"
        return f"### {icon} Conformance gate: {head}\n\n```\n{text}\n```\n"
    return text + "\n"


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
