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
]


@pytest.mark.parametrize(("defect", "judge", "bystanders"), CASES, ids=[c[0] for c in CASES])
def test_a_defect_fails_only_the_requirement_that_judges_it(defect, judge, bystanders):
    run = run_suite(defect, requirements=[judge, *bystanders])
    got = {r: run.outcomes.get(r) for r in [judge, *bystanders]}
    assert got == {judge: "failed", **{r: "passed" for r in bystanders}}, run.output[-3000:]
