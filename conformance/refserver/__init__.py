"""The embedded reference server: spec-faithful, deterministic, standard library only.

    python -m conformance.refserver --port 8000 [--defect NAME] [--api-key KEY]

It is the suite's demo target and the subject of its self-tests (with one planted defect at a
time), not a mock of any particular server.
"""

from conformance.refserver.app import RefServer, start_in_thread

__all__ = ["RefServer", "start_in_thread"]
