"""A finished pytest report, cleaned: secrets out of its texts, control characters shown not obeyed,
a dead server (or the request that likely broke it) named."""

from __future__ import annotations

from typing import Any

from conformance.base.printable import printable
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
    if not report.failed or report.longrepr is None:
        return
    if LIVENESS.dead:
        text = str(report.longrepr)
        if "server stopped responding" not in text:
            report.longrepr = f"{text}\nNote: {LIVENESS.dead}"
    elif LIVENESS.changed:  # answering, but failing everything since one request: name it
        text = str(report.longrepr)
        if LIVENESS.changed not in text:
            report.longrepr = f"{text}\nNote: {LIVENESS.changed}"


def redact_report(report: Any, redact: Any) -> None:
    """Remove secrets from a finished pytest report (its failure text and captured output), and show
    control characters (a server's ANSI colour or OSC title) as escapes: the terminal, junit.xml and
    every other reporter print these texts."""
    def clean(text: str) -> str:
        return printable(redact(text))

    if report.longrepr is not None:
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            path, line, reason = report.longrepr
            report.longrepr = (path, line, clean(str(reason)))
        else:
            text = str(report.longrepr)
            if clean(text) != text:
                report.longrepr = clean(text)
    report.sections = [(title, clean(content)) for title, content in report.sections]
