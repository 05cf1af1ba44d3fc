"""A pytest plugin for `benchmarks/concurrency.py`: each test's chain of POST /v1/responses and outcome.

    RC_CHAIN_OUT=FILE python -m pytest -p benchmarks.chains ...

A test's evidence lists its requests in the order it sent them (shared replies it read included:
it waited for them too), so the number of POST /v1/responses in it is the chain of requests that
test needs one after another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from conformance.plugin import EVIDENCE_KEY, concurrency, requirement_of

_tests: dict[str, dict[str, Any]] = {}
_sent: set[int] = set()  # the POSTs sent (a shared reply is in the evidence of every test that read it)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    req = requirement_of(item)
    if req is None or (report.when != "call" and not (report.when == "setup" and report.outcome != "passed")):
        return report
    evidence = item.stash.get(EVIDENCE_KEY, None)
    posts = [ex for ex in (evidence.exchanges if evidence else [])
             if ex.method == "POST" and ex.url.rstrip("/").endswith("/responses")]
    _sent.update(id(ex) for ex in posts)
    _tests[item.nodeid] = {"nodeid": item.nodeid, "requirement": req.id,
                           "outcome": "xfailed" if hasattr(report, "wasxfail") else report.outcome,
                           "posts": len(posts), "post_ms": [round(ex.elapsed_ms, 1) for ex in posts if ex.status]}
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("RC_CHAIN_OUT")
    if out:
        Path(out).write_text(json.dumps({"tests": list(_tests.values()), "posts_sent": len(_sent),
                                         "ahead": concurrency.summary(session.config)}))
