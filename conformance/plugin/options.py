"""The suite's own options, checked before any test: one sentence naming the first malformed one."""

from __future__ import annotations

import math
from typing import Any

MAX_CONCURRENCY = 64


def option_problem(opt: Any, features: set[str]) -> str | None:
    """The first malformed suite option, as one sentence saying how to fix it; None when all are fine."""
    timeout = getattr(opt, "request_timeout", 60.0)
    if not (timeout > 0 and math.isfinite(timeout)):
        return f"--request-timeout must be a positive number of seconds, not {timeout:g}"
    examples = getattr(opt, "fuzz_examples", 0)
    if examples < 0:
        return f"--fuzz-examples must be 0 (no fuzzing) or more, not {examples}"
    concurrency = getattr(opt, "load_concurrency", 0)
    if not 0 <= concurrency <= MAX_CONCURRENCY:
        return f"--load-concurrency must be between 0 (no load test) and {MAX_CONCURRENCY}, not {concurrency}"
    return feature_problem(getattr(opt, "unsupported", ""), features)


def feature_problem(names: str | None, features: set[str], what: str = "--unsupported") -> str | None:
    """The first of comma-separated feature `names` that no requirement's feature is or contains."""
    parts = {part.strip() for f in features for part in f.split(",") if part.strip()}
    known = parts | {p.split(".")[0] for p in parts}
    for name in (n.strip() for n in (names or "").split(",")):
        if name and not any(k == name or k.startswith(name + ".") for k in known):
            return f"{what} names an unknown feature {name!r}; known features: {', '.join(sorted(known))}"
    return None
