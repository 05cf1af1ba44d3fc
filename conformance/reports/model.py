"""What every report format shares: the levels and outcomes, and how a report names its server and verdict.

The writers (`report`, `html`, `markdown`, `junit`, `allure`) read the same report dict (the content
of report.json); this module holds the vocabulary they all use, so no writer imports another.
"""

from __future__ import annotations

from typing import Any

FORMAT = "responses-conformance-report/1"
LEVELS = ("MUST", "SHOULD", "MAY")
# requirement outcomes; `xpassed` tests count as `passed` at the requirement level.  `not-applicable`:
# the server sent nothing the requirement is about (no output_text, no deltas); never a pass, and left
# out of the score like `unsupported`
OUTCOMES = ("passed", "failed", "error", "skipped", "not-applicable", "unsupported", "not-run")
# outcomes shown apart from the score (not judged, and not held against the server)
APART = ("not-applicable", "unsupported", "not-run")
NOT_PASSING = ("failed", "error")


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


def finding_line(f: dict[str, Any]) -> str:
    """One finding on one line: where, what was received, and the requirements it fails (its owner first)."""
    others = f["requirements"][1:]
    also = f"; also fails {', '.join(others)}" if others else ""
    return f"{f['id']} {f['level']} {f['at']}: received {f['received'] or '(see the message)'} — {f['owner']}{also}"


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




def baseline_line(section: dict[str, Any]) -> str:
    """One line of a report's `baseline` section: failing test cases known to the baseline vs new, and fixed."""
    def n(rows: list[Any], word: str) -> str:
        return f"{len(rows)} {word}{'s' if len(rows) != 1 else ''}"

    known_reqs = len({r["id"] for r in section["known"]})
    return (f"{n(section['new'], 'new failing case')}, {n(section['known'], 'known failing case')} "
            f"({known_reqs} requirement{'s' if known_reqs != 1 else ''}), {len(section['fixed'])} fixed"
            + (f" (baseline {section['file']})" if section.get("file") else ""))


def version_text(version: Any) -> str:
    """A server's /version answer (often a small JSON object) as one readable line."""
    if isinstance(version, dict):
        return ", ".join(f"{k} {v}" for k, v in version.items() if v is not None)
    return "" if version is None else str(version)
