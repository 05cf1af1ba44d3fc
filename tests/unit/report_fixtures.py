"""A small registry and a run over it with every outcome, for the report, gate and compare tests."""

from __future__ import annotations

import json
from typing import Any

from conformance.reports.report import RunContext, build_report
from conformance.reports.results import TestResult
from conformance.suite.requirements import MAY, MUST, SHOULD, Registry, Requirement

SECRET = "sk-test-Secret-0123456789"


def registry() -> Registry:
    reg = Registry()
    for req in [
        Requirement("DEMO-001", MUST, "seed", "A response has an id", "Response.id"),
        Requirement("DEMO-002", MUST, "seed", "Output items carry a type <script>alert(1)</script>", "Response.output",
                    quote="The output items"),
        Requirement("DEMO-003", MUST, "seed", "Reasoning comes before the answer", "ReasoningItem",
                    basis="spec-text", feature="reasoning"),
        Requirement("DEMO-004", SHOULD, "streaming", "Events carry a sequence number", "ResponseStreamEvent",
                    basis="sse"),
        Requirement("DEMO-005", MUST, "streaming", "A stream ends with response.completed", "ResponseStreamEvent"),
        Requirement("DEMO-006", MAY, "streaming", "Obfuscation padding may be sent", "stream_options"),
        Requirement("DEMO-007", MUST, "errors", "Errors are JSON objects", "ErrorResponse"),
        Requirement("DEMO-008", SHOULD, "errors", "Unknown fields are rejected with 400", "CreateResponse"),
        Requirement("DEMO-009", MUST, "errors", "Never run", "Nothing"),
    ]:
        reg.add(req)
    return reg


def exchange(secret: str = SECRET) -> dict[str, Any]:
    return {
        "request": {"method": "POST", "url": "http://127.0.0.1:9/v1/responses",
                    "headers": {"authorization": "[REDACTED]", "x-echo": f"Bearer {secret}"},
                    "body": json.dumps({"model": "m", "input": "hi " + "x" * 9000})},
        "response": {"status": 200, "headers": {"content-type": "application/json"},
                     "body": json.dumps({"id": "resp_1", "output": [], "note": f"key was {secret}"}), "events": None},
        "error": None, "elapsed_ms": 12.5,
        "curl": "curl -sS -X POST -H 'authorization: $OPENAI_API_KEY' http://127.0.0.1:9/v1/responses",
    }


def records() -> list[TestResult]:
    t = "tests/conformance/test_demo.py::"
    return [
        TestResult(t + "test_id", "DEMO-001", "MUST", "passed", duration=0.1),
        TestResult(t + "test_types[a]", "DEMO-002", "MUST", "passed", duration=0.1),
        TestResult(t + "test_types[b]", "DEMO-002", "MUST", "failed",
                   f"[DEMO-002] MUST: Output items carry a type\nat: $.output[0].type\nReceived: \"<b>x</b>\"\n"
                   f"Expected: a known item type\nSpec: Response.output\nkey {SECRET}", 0.2, [exchange()]),
        TestResult(t + "test_reasoning", "DEMO-003", "MUST", "unsupported",
                   "unsupported: the server does not claim feature 'reasoning'", 0.1),
        TestResult(t + "test_seq", "DEMO-004", "SHOULD", "failed", "at: $.sequence_number\nReceived: (absent)",
                   0.1, [exchange()]),
        TestResult(t + "test_completed", "DEMO-005", "MUST", "skipped",
                   "model did not cooperate: no answer in two tries", 0.1),
        TestResult(t + "test_obfuscation", "DEMO-006", "MAY", "xpassed",
                   "passed although declared unsupported (unsupported: ...)", 0.1),
        TestResult(t + "test_error_json", "DEMO-007", "MUST", "error", "fixture 'api' failed: ConnectError", 0.1),
        TestResult(t + "test_unknown_field", "DEMO-008", "SHOULD", "passed", duration=0.1),
        TestResult(t + "test_helper", None, None, "passed", duration=0.0),
    ]


def context() -> RunContext:
    return RunContext(server={"url": "http://127.0.0.1:9/v1", "kind": "remote", "model": "m",
                              "image": None, "version": {"version": "1.2.3"},
                              "info": {"models": ["m"], "api_key": SECRET, "env": f"KEY={SECRET}"}},
                      started=1_700_000_000.0, finished=1_700_000_042.5,
                      command=["pytest", "--server-url", "http://127.0.0.1:9/v1", "--api-key", SECRET,
                               f"--api-key={SECRET}", "--model", "m"],
                      options={"unsupported": ["reasoning"]}, exit_status=1, secrets=[SECRET])


def demo_report(recs: list[TestResult] | None = None) -> dict[str, Any]:
    return build_report(records() if recs is None else recs, context(), registry())
