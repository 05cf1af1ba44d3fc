"""The benchmark's pieces run (`benchmarks/run.py`): one tiny measured run, and its arithmetic.

Not a timed test: it checks that the probe records what the figures are computed from, not how
fast anything is.
"""

from __future__ import annotations

import json

from benchmarks import probe
from benchmarks import run as bench


def test_one_requirement_measured_end_to_end(tmp_path):
    out = tmp_path / "figures.json"
    assert bench.main(["--quick", "--pytest-args=--requirements SEED-001", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    emb = figures["embedded"]["runs"][0]
    assert emb["tests"] == 1 and emb["outcomes"] == {"passed": 1}
    assert emb["requests"] >= 1, "the in-process server's handler time was not recorded"
    assert emb["server_cpu_ms_mean"] > 0
    assert emb["phases"]["startup_s"] > 0 and emb["phases"]["tests_s"] >= 0
    tokens = figures["embedded_tokens"]
    assert tokens["responses_posts"] >= 1 and tokens["budget_max_output_tokens"] > 0
    assert tokens["generated_output_tokens"] > 0, "usage.output_tokens was not read from the responses"
    schemas = figures["schemas"]
    assert schemas["compiled_once_per_process"] is True
    assert schemas["processes"][0]["compilations"] >= 1


def test_union_of_overlapping_requests():
    assert probe.union([]) == 0
    assert probe.union([(0.0, 1.0), (0.5, 2.0), (3.0, 4.0)]) == 3.0
    assert probe.union([(0.0, 5.0), (1.0, 2.0)]) == 5.0


def test_usage_read_from_json_and_from_a_stream():
    body = {"object": "response", "usage": {"input_tokens": 3, "output_tokens": 7, "total_tokens": 10}}
    assert probe._usage(json.dumps(body).encode(), "application/json") == 7
    stream = (b"event: response.created\ndata: {\"type\": \"response.created\", \"response\": {\"usage\": null}}\n\n"
              b"event: response.completed\ndata: " + json.dumps({"type": "response.completed",
                                                                  "response": body}).encode() + b"\n\n")
    assert probe._usage(stream, "text/event-stream") == 7
    assert probe._usage(b"not json", "application/json") is None


def test_token_budget_counts_every_post(tmp_path):
    def req(test, max_tokens, status, out):
        return {"test": test, "responses_post": True, "max_output_tokens": max_tokens, "status": status,
                "output_tokens": out}

    r = bench.Run("x", [], 1.0, 0, [{"role": "controller", "phases": {}, "tests": [], "server": {},
                                     "requests": [req("a", 16, 200, 10), req("a", 256, 200, 40),
                                                  req("b", "absent", 200, 99), req("c", "absent", 400, None)]}],
                  "")
    t = bench.tokens(r)
    assert t["budget_max_output_tokens"] == 272
    assert t["generated_output_tokens"] == 149
    assert t["unbounded_accepted"] == [("b", 200)] and t["unbounded_rejected"] == 1


def test_missing_peer_tester_is_explained(tmp_path):
    assert "no checkout" in bench.openresponses_problem(tmp_path)
