"""What a hostile server sends cannot break or drive a report: strict JSON in every file (non-finite
numbers as strings, with a note), control characters shown as escapes in report.md, junit.xml,
report.json and the terminal lines, no form of the key anywhere, and an interrupted run's report
marked incomplete."""

from __future__ import annotations

import base64
import json
import urllib.parse
from types import SimpleNamespace

import pytest
from report_fixtures import exchange, records, registry

from conformance.base.printable import printable
from conformance.base.redact import REDACTED, Redactor, scrub_dir
from conformance.base.safejson import TooDeep, loads, strict
from conformance.plugin import hygiene, interrupts
from conformance.plugin.reporting import terminal_lines
from conformance.reports import results
from conformance.reports.report import RunContext, build_report, write_all

ANSI = "\x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x9b2J \u202eevil\r"
KEY = "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"


def forms_of(key: str) -> list[str]:
    """The forms of a key a server may echo."""
    return [key, key.upper(), json.dumps(key).strip('"').replace("-", "\\u002d"), urllib.parse.quote(key, safe=""),
            urllib.parse.quote(key, safe="").lower(), base64.b64encode(key.encode()).decode(),
            base64.b64encode(f"Bearer {key}".encode()).decode(), base64.urlsafe_b64encode(f"u:{key}".encode()).decode(),
            f"{key[:20]}\", \"delta\": \"{key[20:]}"]


# -- the redactor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form", range(len(forms_of(KEY))))
def test_every_usual_form_of_the_key_is_redacted(form):
    text = f"before {forms_of(KEY)[form]} after"
    out = Redactor([KEY]).text(text)
    assert REDACTED in out and out.startswith("before ") and out.endswith(" after"), out
    for piece in (KEY[:14], KEY[-14:], KEY.upper()[:14]):
        assert piece.lower() not in out.lower(), out


@pytest.mark.parametrize("text", ["The token is none: nothing was tested", "sk-proj-4f9a (a short prefix)",
                                  "tool_choice none; max_output_tokens 16", "Bearer abc", "c2stcHJvai00Zjlh"])
def test_ordinary_words_and_short_pieces_are_kept(text):
    assert Redactor([KEY, "none", "test"]).text(text) == text


def test_scrub_dir_removes_every_form(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(forms_of(KEY)), encoding="utf-8")
    (tmp_path / "b.bin").write_bytes(b"\xff\xfe" + KEY.upper().encode() + b"\x00")
    scrub_dir(tmp_path, Redactor([KEY]))
    for path in tmp_path.iterdir():
        data = path.read_bytes().decode("utf-8", "replace").lower()
        assert KEY[:14].lower() not in data and KEY[-14:].lower() not in data
    assert (tmp_path / "b.bin").read_bytes().startswith(b"\xff\xfe")  # non-UTF-8 bytes survive


def test_no_form_of_the_key_reaches_any_report_file(tmp_path):
    recs = records()
    ex = exchange(KEY)
    ex["response"]["body"] = json.dumps({"echo": forms_of(KEY)})
    message = "Received: " + " ".join(forms_of(KEY))
    recs.append(results.TestResult("t.py::test_echo", "DEMO-007", "MUST", "failed", message, 0.1, [ex]))
    report = build_report(recs, RunContext(secrets=[KEY]), registry())
    write_all(tmp_path, report, [KEY])
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8").lower()
            for piece in (KEY[:14], KEY[-14:], base64.b64encode(KEY.encode()).decode()[4:20]):
                assert piece.lower() not in text, (path.name, piece)


# -- strict JSON ----------------------------------------------------------------------------------


def test_non_finite_numbers_are_strings_with_a_note(tmp_path):
    value = loads(b'{"usage": {"input_tokens": 1e999, "x": -1e999}, "v": [NaN]}')
    report = build_report(records(), RunContext(server={"url": "http://h/v1", "version": value}), registry())
    write_all(tmp_path, report)
    text = (tmp_path / "report.json").read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))
    assert data["server"]["version"]["usage"] == {"input_tokens": "Infinity", "x": "-Infinity"}
    assert any("non-finite" in n for n in data["notes"])
    collector = results.ResultCollector()
    collector.add_report(SimpleNamespace(nodeid="t.py::test", when="call", outcome="passed", passed=True,
                                         failed=False, skipped=False, duration=float("inf"), longrepr=None,
                                         user_properties=[], keywords={}, wasxfail=None))
    collector.write_json(tmp_path / "results.json")
    json.loads((tmp_path / "results.json").read_text(), parse_constant=lambda c: pytest.fail(c))


def test_strict_keeps_finite_values_and_copies():
    original = {"a": [1, 2.5, "x", {"b": float("nan")}]}
    fixed, found = strict(original)
    assert found and fixed == {"a": [1, 2.5, "x", {"b": "NaN"}]} and original["a"][3]["b"] != "NaN"


def test_deep_json_is_too_deep_not_a_recursion_error():
    for depth in (129, 2000, 100_000):
        with pytest.raises(TooDeep):
            loads("[" * depth + "]" * depth)
    assert loads("[" * 100 + "]" * 100)


# -- control characters ---------------------------------------------------------------------------


def test_control_characters_are_escapes_in_every_format(tmp_path):
    recs = records()
    ex = exchange()
    ex["response"]["body"] = ANSI
    recs.append(results.TestResult("t.py::test_ansi", "DEMO-007", "MUST", "failed", f"Received: {ANSI}", 0.1, [ex]))
    report = build_report(recs, RunContext(server={"url": "http://h/v1", "model": f"m{ANSI}"}), registry())
    write_all(tmp_path, report)
    for name in ("report.md", "junit.xml", "report.json", "report.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert not any(c in text for c in "\x1b\x07\x9b\u202e\r"), name
    lines = "\n".join(terminal_lines(report))
    assert "\x1b" not in lines and "\x07" not in lines


def test_console_failure_text_shows_control_characters():
    report = SimpleNamespace(longrepr=f"[X-1] MUST: ...\nReceived: {ANSI}", sections=[("stdout", ANSI)])
    hygiene.redact_report(report, lambda t: t)
    assert "\x1b" not in report.longrepr and "\\x1b]0;pwned\\x07" in report.longrepr
    assert report.sections == [("stdout", printable(ANSI))]


def test_printable_keeps_newlines_unless_one_line():
    assert printable("a\n\tb") == "a\n\tb"
    assert printable("a\n\tb", one_line=True) == "a\\x0a\\x09b"


# -- an interrupted run ----------------------------------------------------------------------------


def test_an_interrupted_run_is_marked_incomplete(tmp_path):
    assert interrupts.cause(2) == "SIGINT" and interrupts.cause(1) is None
    report = build_report(records(), RunContext(interrupted="SIGTERM"), registry())
    write_all(tmp_path, report)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["incomplete"] is True and "SIGTERM" in data["notes"][0]
    assert "interrupted (SIGTERM)" in (tmp_path / "report.md").read_text()
    assert terminal_lines(report)[len(report["summary"]["lines"])].startswith("INCOMPLETE:")
