"""Text from a server made safe to print: control characters shown, never obeyed.

A server's bytes reach the terminal (pytest's failure text, the score lines), report.md, junit.xml
and URLs.  An ANSI colour sequence, an OSC title (`ESC ] 0; ... BEL`), a carriage return that
overwrites the line, C1 controls (`\\x9b` is a CSI on some terminals) or bidirectional overrides
(which reorder what a reader sees) would act on the reader's terminal or editor instead of being
shown; here each becomes a visible escape (`\\x1b`, `\\u202e`).  Newlines and tabs stay, unless the
text must be one line.
"""

from __future__ import annotations

import re

_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_OR_NEWLINE = re.compile(f"[{_CONTROLS}\n\t]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, one_line: bool = False) -> str:
    """`text` with control characters (and, for `one_line`, newlines and tabs) as visible escapes."""
    if not isinstance(text, str):
        text = str(text)
    return (_CONTROL_OR_NEWLINE if one_line else _CONTROL).sub(_escape, text)


def has_controls(text: str) -> bool:
    return _CONTROL.search(text) is not None
