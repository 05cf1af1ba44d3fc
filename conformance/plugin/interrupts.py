"""An interrupted run still leaves its reports: SIGTERM (what a CI timeout or `docker stop` sends) is
turned into pytest's own interruption (KeyboardInterrupt), so the session finishes, the reports of
the tests that ran are written, and they say the run was interrupted and by what."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any

INTERRUPTED_EXIT = 2  # pytest.ExitCode.INTERRUPTED
_received: list[str] = []
_previous: list[Any] = []


def _on_sigterm(signum: int, frame: Any) -> None:
    if _received:  # a second signal while the reports are written: let them finish (SIGKILL still works)
        return
    _received.append("SIGTERM")
    raise KeyboardInterrupt("SIGTERM")


def install() -> None:
    """Handle SIGTERM on the main thread of the controller (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread() or _previous:
        return
    _received.clear()
    with contextlib.suppress(ValueError, OSError):  # not allowed here (embedded interpreters)
        _previous.append(signal.signal(signal.SIGTERM, _on_sigterm))


def uninstall() -> None:
    if _previous:
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signal.SIGTERM, _previous.pop())


def cause(exit_status: int | None) -> str | None:
    """The signal that interrupted the run (SIGTERM, SIGINT), or None for a run that finished."""
    if _received:
        return _received[0]
    return "SIGINT" if exit_status == INTERRUPTED_EXIT else None
