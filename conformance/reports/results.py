"""One result model for a run: every test's requirement, outcome, message and evidence.

The plugin feeds `ResultCollector` from pytest's reports on the controller (so it sees the
results of every xdist worker); every output (results JSON, reports, the gate, self-tests)
reads the same records.

Outcomes, from best to worst: passed < not-applicable < skipped < unsupported < failed < error.
- passed       the server met the requirement;
- not-applicable the server sent nothing the requirement is about (a skip whose reason starts with
               `judge.checks.NOT_APPLICABLE`); never counted as passed;
- skipped      the test could not judge (the model did not cooperate, a precondition is absent);
- unsupported  the requirement's feature is declared unsupported (`--unsupported`) and the server
               indeed does not meet it; `xpassed` when it does meet it after all;
- failed       the server broke the requirement;
- error        the harness or infrastructure broke (fixture error, our own bug).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.base.safejson import strict
from conformance.judge.checks import NOT_APPLICABLE

# not-run: replaying a recording (--replay) that holds no answer to one of the test's requests
OUTCOME_ORDER = ("passed", "xpassed", "not-applicable", "skipped", "unsupported", "not-run", "failed", "error")
MAX_MESSAGE = 6000


@dataclass
class TestResult:
    nodeid: str
    requirement: str | None
    level: str | None
    outcome: str
    message: str = ""
    duration: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _outcome(report: Any) -> str | None:
    """Map a pytest TestReport (any phase) to our outcome, or None if this phase says nothing new.

    The plugin marks a test of a feature declared unsupported with the user property `unsupported`
    (then a skip is `unsupported` too, never a `skipped` that counts against the score), and a known
    failure of `--baseline` with `known_failure` (its pytest xfail is still the server's failure).
    """
    props = dict(getattr(report, "user_properties", ()) or ())
    if "not_recorded" in props:  # never passed nor failed: the run could not judge it
        return "not-run" if report.when in ("setup", "call") else None
    known = "known_failure" in props and hasattr(report, "wasxfail")
    wasxfail = hasattr(report, "wasxfail") and not known
    if known:  # pytest's xfailed / XPASS of a known failure: what the server did
        if report.passed:
            return "passed" if report.when == "call" else None
        return "failed" if report.when == "call" else "error"
    if report.when == "call":
        if wasxfail:
            return "xpassed" if report.passed else "unsupported"
        if report.passed:
            return "passed"
        if report.skipped:
            return "unsupported" if "unsupported" in props else "skipped"
        return "failed"
    if report.when == "setup":
        if report.skipped:
            return "unsupported" if wasxfail or "unsupported" in props else "skipped"
        if report.failed:
            return "error"
        return None
    if report.when == "teardown" and report.failed:
        return "error"
    return None


def _message(report: Any) -> str:
    if "not_recorded" in dict(report.user_properties or ()):
        return str(dict(report.user_properties)["not_recorded"])
    if hasattr(report, "wasxfail") and "known_failure" in dict(report.user_properties or ()):
        return "" if report.passed else (getattr(report, "longreprtext", "") or "")[:MAX_MESSAGE]
    if hasattr(report, "wasxfail") and report.skipped and report.when == "setup":  # not run: unsupported
        return str(report.wasxfail).removeprefix("[NOTRUN] ")
    if report.skipped and isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if hasattr(report, "wasxfail") and report.passed:
        return f"passed although declared unsupported ({report.wasxfail})"
    text = getattr(report, "longreprtext", "") or ""
    if hasattr(report, "wasxfail") and not text:
        text = str(report.wasxfail)
    return _shortened(text)


def _shortened(text: str) -> str:
    """At most MAX_MESSAGE characters; a closing note (the request that broke the server) is kept whole,
    the test's own text cut before it."""
    if len(text) <= MAX_MESSAGE:
        return text
    at = text.rfind("\nNote: ")
    note = text[at:] if at > 0 and len(text) - at < MAX_MESSAGE // 2 else ""
    cut = "\n[... cut]"
    return text[:MAX_MESSAGE - len(note) - len(cut)] + cut + note


class ResultCollector:
    def __init__(self) -> None:
        self.results: dict[str, TestResult] = {}
        self.started = time.time()
        self.finished: float | None = None

    def add_report(self, report: Any) -> None:
        outcome = _outcome(report)
        if outcome is None:
            return
        props = dict(report.user_properties)
        current = self.results.get(report.nodeid)
        evidence = json.loads(props["evidence"]) if "evidence" in props else []
        message = _message(report) if outcome != "passed" else ""
        if outcome == "skipped" and message.startswith(NOT_APPLICABLE):
            outcome = "not-applicable"  # nothing to judge: apart from a skip, never a pass
        result = TestResult(report.nodeid, props.get("requirement"), props.get("level"), outcome,
                            message, round(report.duration, 4), evidence if outcome not in ("passed",) else [])
        if current is None:
            self.results[report.nodeid] = result
        elif OUTCOME_ORDER.index(outcome) > OUTCOME_ORDER.index(current.outcome):
            result.duration += current.duration
            self.results[report.nodeid] = result  # teardown error beats a passed call
        else:
            current.duration += result.duration

    def records(self) -> list[TestResult]:
        return list(self.results.values())

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        records, _ = strict([r.as_dict() for r in self.records()])  # strict JSON: no Infinity/NaN
        path.write_text(json.dumps(records, indent=1, allow_nan=False))


def by_requirement(results: list[TestResult]) -> dict[str, str]:
    """Worst outcome per requirement id."""
    out: dict[str, str] = {}
    for r in results:
        if r.requirement is None:
            continue
        prev = out.get(r.requirement)
        if prev is None or OUTCOME_ORDER.index(r.outcome) > OUTCOME_ORDER.index(prev):
            out[r.requirement] = r.outcome
    return out


def load_json(path: Path) -> list[TestResult]:
    return [TestResult(**d) for d in json.loads(path.read_text())]
