"""A finished pytest report, cleaned: secrets out of its texts, a dead server named."""

from __future__ import annotations

from typing import Any

from conformance.wire.diagnose import chain
from conformance.wire.guard import LIVENESS


def redact_exception(exc: BaseException, redact: Any) -> None:
    """Remove secrets from the messages of an exception and its causes (reporters render them)."""
    for link in chain(exc):
        try:
            args = tuple(redact(a) if isinstance(a, str) else a for a in link.args)
            if args != link.args:
                link.args = args
            for attr in ("message", "msg"):  # SDK errors keep .message; pytest's skip/fail keep .msg
                value = getattr(link, attr, None)
                if isinstance(value, str) and redact(value) != value:
                    setattr(link, attr, redact(value))
        except (AttributeError, TypeError):  # an exception type with read-only fields
            continue


def note_dead_server(report: Any) -> None:
    """A test that failed after the server was found dead says so, whatever its own message is
    (an SDK's "Connection error." names no cause)."""
    if not (report.failed and LIVENESS.dead) or report.longrepr is None:
        return
    text = str(report.longrepr)
    if "server stopped responding" not in text:
        report.longrepr = f"{text}\nNote: {LIVENESS.dead}"


def redact_report(report: Any, redact: Any) -> None:
    """Remove secrets from a finished pytest report: its failure text and captured output."""
    if report.longrepr is not None:
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            path, line, reason = report.longrepr
            report.longrepr = (path, line, redact(str(reason)))
        else:
            text = str(report.longrepr)
            if redact(text) != text:
                report.longrepr = redact(text)
    report.sections = [(title, redact(content)) for title, content in report.sections]
