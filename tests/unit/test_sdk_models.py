"""The openai SDK's models are built before tests run on several threads (`wire.sdk_models`).

Without the build, 8 threads reading the same stream event that does not validate (an `output_item.added`
without `sequence_number` or `output_index`, as llama.cpp sends it) got `ResponseAudioDeltaEvent` on at
least one thread in 7 of 7 fresh processes here (openai 3.57.0); with it, none in 8. Each case runs in a
fresh process: the SDK's map, once computed, is kept for the process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

RACE = textwrap.dedent("""
    import sys, threading
    from openai._models import construct_type
    from openai.types.responses import ResponseStreamEvent
    from conformance.wire.sdk_models import build_openai_models
    built = build_openai_models()
    event = {"type": "response.output_item.added",
             "item": {"id": "rs_1", "summary": [], "type": "reasoning", "content": [], "status": "in_progress"}}
    start = threading.Barrier(16)
    got = []
    def read():
        start.wait()
        got.append(type(construct_type(type_=ResponseStreamEvent, value=event)).__name__)
    threads = [threading.Thread(target=read) for _ in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(built, sorted(set(got)))
""")


@pytest.mark.parametrize("attempt", range(3))
def test_threads_read_an_invalid_event_as_its_own_type(attempt: int):
    pytest.importorskip("openai")
    run = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    built, _, kinds = run.stdout.strip().partition(" ")
    assert int(built) > 100, f"only {built} models built: the SDK's layout changed (wire/sdk_models.MODULES)"
    assert kinds == "['ResponseOutputItemAddedEvent']", f"some threads read another event type: {kinds}"
