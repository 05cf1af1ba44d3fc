"""JSON the suite can trust: parsing a server's bytes within a depth limit, and writing reports as strict JSON.

Python's parser recurses per nesting level: a body nested 100,000 levels raises `RecursionError`, and
one nested a few hundred levels parses but then exhausts the stack of whatever walks it (schema
validation, redaction).  `loads` turns both into `TooDeep`, a `ValueError`, so every caller that
handles "not JSON" handles it too.  `strict` makes a value writable by `json.dumps(allow_nan=False)`:
`1e999` parses to `inf`, which `json.dumps` would write as `Infinity`, which strict parsers reject.
"""

from __future__ import annotations

import json
import math
from typing import Any

# deeper than any response object of the API (a few levels; echoed JSON schemas a few more); deep
# enough that the suite's own recursive walks stay far from Python's recursion limit (1000 frames)
MAX_DEPTH = 128


class TooDeep(ValueError):
    """A JSON document nested deeper than the suite parses."""


def depth_over(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when `value` nests deeper than `limit` (iterative: a deep value cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def loads(data: str | bytes | bytearray, limit: int = MAX_DEPTH) -> Any:
    """`json.loads`, but a document nested deeper than `limit` raises `TooDeep` (never RecursionError)."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(f"the JSON is nested too deep for Python's parser (more than {limit} levels); "
                      "the suite judges documents nested up to that") from None
    if depth_over(value, limit):
        raise TooDeep(f"the JSON is nested more than {limit} levels deep; the suite judges documents nested "
                      "up to that") from None
    return value


NON_FINITE_NOTE = ("non-finite numbers from the server (such as 1e999, NaN) are written as the strings "
                   "\"Infinity\", \"-Infinity\" and \"NaN\": strict JSON has no such numbers")


def strict(value: Any) -> tuple[Any, bool]:
    """`value` with every non-finite float replaced by its name as a string; and whether any was (iterative
    over lists and dicts, copying only what changes)."""
    found = [False]

    def fix(node: Any) -> Any:
        if isinstance(node, float) and not math.isfinite(node):
            found[0] = True
            return "NaN" if math.isnan(node) else ("Infinity" if node > 0 else "-Infinity")
        return node

    # an explicit stack: reports hold values the server sent, which may nest deep
    root = [value]
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            if isinstance(child, dict):
                child = dict(child)
                node[key] = child
                stack.append(child)
            elif isinstance(child, list | tuple):
                child = list(child)
                node[key] = child
                stack.append(child)
            else:
                fixed = fix(child)
                if fixed is not child:
                    node[key] = fixed
    return root[0], found[0]
