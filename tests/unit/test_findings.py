"""Findings: one server defect is one finding, whichever requirements it fails (messages as vLLM's run gave)."""

from __future__ import annotations

from conformance.reports import findings, html, markdown
from conformance.reports.report import summarize

SCHEMA_STATUS = ('at: {label}$.output[0].status\nReceived: null is not type: "string"\n'
                 "Expected: valid ReasoningItem per the OpenAPI schema (type at properties/status/type)\n\n"
                 "at: {label}$.output[0].status\nReceived: null is not enum: [\"in_progress\"]\n"
                 "Expected: valid ReasoningItem per the OpenAPI schema (enum at properties/status/enum)")
OWN_STATUS = ("at: plain$.output[0].status\nReceived: null\n"
              'Expected: one of ["in_progress", "completed", "incomplete"]; absent, but not null')
EVENT_TEXT = ('at: event[0] response.created (sequence_number 0) $.response.text\n'
              'Received: "null is not type: \\"object\\""\n'
              "Expected: valid ResponseCreatedEvent per the spec (type at 1/properties/text/type)")
CODE_SCHEMA = ('at: [item-type: HTTP 400] $.error.code\nReceived: 400 matches none of the allowed forms ["string"]\n'
               "Expected: an ErrorResponse (anyOf at error/properties/code/anyOf)")
CODE_OWN = "at: [unknown-model] $.error.code\nReceived: 404\nExpected: a string or null, not the HTTP status"
ROUTE = ('at: GET /v1/responses/resp_b4846e80b2bc5817/input_items\nReceived: "HTTP 404 \\"Not Found\\""\n'
         "Expected: HTTP 200 with the list")


def entry(rid: str, message: str, level: str = "MUST", outcome: str = "failed") -> dict:
    return {"id": rid, "level": level, "area": "a", "statement": rid, "outcome": outcome, "message": message}


def report() -> dict:
    reqs = [
        entry("SEED-001", SCHEMA_STATUS.format(label="")),
        entry("RESP-OBJECT-001", SCHEMA_STATUS.format(label="plain") + "\n\nat: plain$.text\nReceived: null is not "
              'type: "object"\nExpected: valid Response per the OpenAPI schema (type at 1/properties/text/type)'),
        entry("OUTPUT-ITEM-001", SCHEMA_STATUS.format(label="truncated")),
        entry("OUTPUT-ITEM-006", OWN_STATUS),
        entry("STREAM-EVENT-002", EVENT_TEXT),
        entry("ERROR-009", CODE_SCHEMA),
        entry("ERROR-010", CODE_OWN),
        entry("STATE-INPUT-001", ROUTE),
        entry("STATE-INPUT-002", ROUTE.replace("b4846e80b2bc5817", "beae7cf090004e4a")),
        entry("PARAM-INCLUDE-001", "a request with include ['x'] was rejected\nReceived: HTTP 400\nExpected: 2xx"),
        entry("RESP-OBJECT-013", "at: $.max_output_tokens\nReceived: 64\nExpected: absent, or null", "SHOULD"),
        entry("OTEXT-001", "", outcome="passed"),
    ]
    return {"requirements": reqs, "tests": [], "summary": summarize(reqs)}


def by_key(rep: dict) -> dict[str, dict]:
    return {f["key"]: f for f in rep["findings"]}


def test_one_defect_failing_several_requirements_is_one_finding():
    rep = findings.attach(report())
    found = by_key(rep)
    status = found["$.output[*].status = null"]
    assert status["requirements"] == ["OUTPUT-ITEM-006", "SEED-001", "RESP-OBJECT-001", "OUTPUT-ITEM-001"]
    assert status["owner"] == "OUTPUT-ITEM-006"  # its own check, not a generic schema validation
    assert found["$.error.code = a number"]["requirements"] == ["ERROR-010", "ERROR-009"]  # 400 and 404 alike
    assert sorted(found["$.text = null"]["requirements"]) == ["RESP-OBJECT-001", "STREAM-EVENT-002"]  # event envelope
    assert found["GET /v1/responses/{id}/input_items = HTTP 404"]["requirements"] == ["STATE-INPUT-001",
                                                                                        "STATE-INPUT-002"]
    assert len(rep["findings"]) == 6
    line = "6 findings across 11 requirements (MUST 5 across 10, SHOULD 1 across 1)"
    assert rep["summary"]["findings"]["line"] == line
    assert rep["summary"]["lines"][-1] == rep["summary"]["findings"]["line"]


def test_a_requirement_failing_only_through_another_requirements_finding_says_so():
    reqs = {e["id"]: e for e in findings.attach(report())["requirements"]}
    assert reqs["SEED-001"]["finding_note"].endswith("found by OUTPUT-ITEM-006")
    assert reqs["ERROR-009"]["finding_note"].endswith("found by ERROR-010")
    assert "finding_note" not in reqs["OUTPUT-ITEM-006"]
    assert reqs["RESP-OBJECT-001"]["finding_note"].endswith("found by OUTPUT-ITEM-006, STREAM-EVENT-002")
    assert reqs["OTEXT-001"]["findings"] == []


def test_a_failure_without_a_place_is_its_requirements_own():
    found = by_key(findings.attach(report()))
    assert found["PARAM-INCLUDE-001 failure"]["requirements"] == ["PARAM-INCLUDE-001"]


def test_per_test_messages_are_read_when_the_report_keeps_them():
    rep = report()
    rep["tests"] = [{"nodeid": "t::a[x]", "requirement": "ERROR-010", "outcome": "failed", "message": CODE_OWN},
                    {"nodeid": "t::a[y]", "requirement": "ERROR-010", "outcome": "failed",
                     "message": CODE_OWN.replace("404", "400").replace("unknown-model", "item-type")}]
    f = by_key(findings.attach(rep))["$.error.code = a number"]
    assert f["tests"] == ["t::a[x]", "t::a[y]"]


def test_every_format_lists_the_findings():
    rep = findings.attach(report())
    rep.update(server={}, spec={}, suite={}, model=None)
    md = markdown.render(rep)
    assert "### Findings: 6 findings across 11 requirements" in md
    assert "OUTPUT-ITEM-006; also fails SEED-001, RESP-OBJECT-001, OUTPUT-ITEM-001" in md
    page = html.render(rep)
    assert 'id="findings"' in page and 'href="#SEED-001"' in page
