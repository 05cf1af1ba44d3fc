"""Planted defects: realistic ways a Responses server goes wrong, one at a time.

Each defect is a class whose docstring says what is wrong, with the requirement ids it must
make fail (`targets`) and the real bug it is modelled on.  Its methods hook the reference
server at named stages; each takes the request context and the value, and returns the value
(possibly changed):

    request(ctx, body)            the parsed request body, before validation (may raise ApiError)
    context(ctx, item, where)     an input item as the model reads it; return None to drop it
    plan(ctx, plan)               what the model will say (engine.Plan)
    response(ctx, resp)           the finished response object (JSON reply and stream's final)
    json_reply(ctx, resp)         the response object of a non-streamed reply only
    events(ctx, events)           the stream's event list, before numbering when `number_first`
                                  is False (default), after numbering when it is True
    sse(ctx, chunks)              the stream's bytes (an iterator of chunks) as written
    stream_headers(ctx, headers)  the stream's HTTP headers (a dict), before they are sent
    reply(ctx, status, headers, body)   any non-streamed HTTP reply -> (status, headers, body)
    store(ctx, resp)              what is kept for GET /v1/responses/{id}; None keeps nothing
    route(ctx, method, path)      None, or (status, body) to answer a route differently

One module per area registers its defects with `@defect(...)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HOOKS = ("request", "context", "plan", "response", "json_reply", "events", "sse", "stream_headers", "reply", "store",
         "route")
AREA_MODULES = ("seed", "response", "items", "errors", "reasoning", "output_text", "streaming", "parameters",
                "tools", "state", "robustness", "clients")


@dataclass(frozen=True)
class Defect:
    name: str
    targets: tuple[str, ...]
    summary: str
    modelled_on: str
    area: str
    hooks: dict[str, Callable[..., Any]] = field(hash=False, compare=False)
    number_first: bool = False
    needs: tuple[str, ...] = ()  # suite options the self-test must pass (e.g. "--model=ref-plain")


DEFECTS: dict[str, Defect] = {}


def defect(name: str, *, targets: list[str] | tuple[str, ...], modelled_on: str = "",
           needs: tuple[str, ...] = ()) -> Callable[[type], type]:
    def register(cls: type) -> type:
        if name in DEFECTS:
            raise ValueError(f"duplicate defect name {name!r}")
        hooks = {h: getattr(cls, h) for h in HOOKS if callable(getattr(cls, h, None))}
        if not hooks:
            raise ValueError(f"defect {name!r} hooks no stage")
        if not targets:
            raise ValueError(f"defect {name!r} targets no requirement")
        doc = " ".join((cls.__doc__ or "").split())
        area = cls.__module__.rsplit(".", 1)[-1]
        DEFECTS[name] = Defect(name, tuple(targets), doc, modelled_on, area, hooks,
                               bool(getattr(cls, "number_first", False)), tuple(needs))
        return cls

    return register


def get(name: str | None) -> Defect | None:
    if name is None:
        return None
    load_all()
    if name not in DEFECTS:
        raise KeyError(f"unknown defect {name!r}; known: {', '.join(sorted(DEFECTS))}")
    return DEFECTS[name]


_loaded = False


def load_all() -> dict[str, Defect]:
    global _loaded
    if not _loaded:
        for area in AREA_MODULES:
            importlib.import_module(f"{__name__}.{area}")
        _loaded = True
    return DEFECTS
