"""Build the openai SDK's Responses models before tests run on several threads.

The SDK defers building its pydantic models until first use, and reads an event that does not validate
(a server's stream event without `sequence_number`, say) through a discriminator map it computes from
those models on first use and caches for the process. Computed by two threads at once, while the models
are being built, the map misses variants: the event becomes the union's first variant
(`ResponseAudioDeltaEvent`), and every later read in the process does the same. LangChain then failed with
"'dict' object has no attribute 'type'" on llama.cpp in 2 of 8 runs of 16 tests at once, never one at a
time (openai 3.57.0; the race reproduces with 8 threads and no server). That is a defect of the client
process, not of the server, so the suite builds the models once, on one thread, before it runs tests
together; the map is then computed from whole models and is the same on every thread.
"""

from __future__ import annotations

import importlib

MODULES = ("openai.types.responses", "openai.types.shared")


def build_openai_models() -> int:
    """Build every pydantic model the SDK reads Responses with (about 0.5 s); how many were built. Without
    the SDK installed, or with one laid out otherwise, nothing is built: the race then stays the SDK's."""
    built = 0
    try:
        from pydantic import BaseModel
    except ImportError:
        return 0
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr in dir(module):
            obj = getattr(module, attr, None)
            if isinstance(obj, type) and issubclass(obj, BaseModel):
                try:
                    obj.model_rebuild()
                except Exception:  # a model this SDK version cannot build: left to build on first use
                    continue
                built += 1
    return built
