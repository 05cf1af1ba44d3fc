"""One defect, one requirement: a defect real servers have fails the requirement that judges it, and not
the requirements whose tests merely read the same object (found on real vLLM 0.32, issue 13).

Each row plants one defect in the reference server and runs the named requirements: the judging
requirement fails, the bystanders pass.
"""

from __future__ import annotations

import pytest

from tools.selftest import run_suite

CASES = [
    # vLLM: reasoning items carry `status: null`; the seed scenario itself works
    ("reasoning-status-null", "OUTPUT-ITEM-006", ["SEED-001", "SEED-002", "SEED-003"]),
    # vLLM: function_call items carry `namespace: null`; the call itself is right
    ("function-call-null-fields", "OUTPUT-ITEM-007", ["TOOLS-CALL-001", "TOOLS-CALL-002"]),
    # vLLM: error.code is an integer; the unknown id still gets its 404 with an error object
    ("error-code-integer", "ERROR-010", ["STATE-UNKNOWN-001"]),
    # codex-relay: responses without a final status; its own items are still taken back
    ("response-returned-in-progress", "RESP-OBJECT-006", ["SEED-002", "TOOLS-REPLAY-001"]),
    # transformers serve: the function_call and the message share one output_index; the final output is
    # still the streamed items (matched by id), and the call's arguments still stream right
    ("stream-items-share-output-index", "STREAM-ITEM-001", ["STREAM-ITEM-002", "TOOLS-STREAM-001"]),
]
# llama.cpp: stream events without any index are located by item_id; only the schema and sequence
# requirements judge the missing fields (the others compare items, texts and nesting, and still can)
NO_INDEX_BYSTANDERS = ["OTEXT-003", "OTEXT-004", "STREAM-ITEM-001", "STREAM-ITEM-002", "STREAM-ID-001",
                       "STREAM-NEST-001", "STREAM-TEXT-001", "STREAM-FINAL-001", "TOOLS-STREAM-001"]


@pytest.mark.parametrize(("defect", "judge", "bystanders"), CASES, ids=[c[0] for c in CASES])
def test_a_defect_fails_only_the_requirement_that_judges_it(defect, judge, bystanders):
    run = run_suite(defect, requirements=[judge, *bystanders])
    got = {r: run.outcomes.get(r) for r in [judge, *bystanders]}
    assert got == {judge: "failed", **{r: "passed" for r in bystanders}}, run.output[-3000:]


def test_stream_events_without_indexes_are_one_finding():
    judges = ["STREAM-EVENT-002", "STREAM-SEQ-001"]
    run = run_suite("stream-events-without-indexes", requirements=[*judges, *NO_INDEX_BYSTANDERS, "STREAM-INDEX-001"])
    got = {r: run.outcomes.get(r) for r in [*judges, *NO_INDEX_BYSTANDERS, "STREAM-INDEX-001"]}
    want = {**{r: "failed" for r in judges}, **{r: "passed" for r in NO_INDEX_BYSTANDERS}}
    assert {r: got[r] for r in want} == want, run.output[-3000:]
    # nothing to judge: no event carries an index (never "passed")
    assert got["STREAM-INDEX-001"] not in ("passed", "failed"), got
