"""The requirement registry: every conformance check is a named requirement.

A requirement has a stable id (`RESP-OBJECT-003`), a level (MUST / SHOULD / MAY), the area it
belongs to, a one-line statement, the spec reference it comes from, and the basis of its level:

- `spec-schema`  the OpenAPI schema requires it (required property, enum, type);
- `spec-text`    the OpenAPI description says it;
- `api`          the official API's observed behaviour, where the spec is silent;
- `sdk`          the official `openai` SDK depends on it;
- `sse`          the Server-Sent Events standard (WHATWG HTML, "Server-sent events") or HTTP.

Requirements live as data, one module per area (`conformance/requirements/<area>.py`); a test
declares the one it checks, with its level visible at the declaration:

    @requirement("RESP-OBJECT-001", MUST)
    def test_id_is_prefixed(...): ...

`feature` names an optional capability (store, streaming, tools, reasoning, ...); a server that
does not claim it (`--unsupported store`) gets those requirements reported as unsupported.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar


class Level(str, Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"

    def __str__(self) -> str:
        return self.value


MUST, SHOULD, MAY = Level.MUST, Level.SHOULD, Level.MAY

BASES = ("spec-schema", "spec-text", "api", "sdk", "sse")
SPEC_URL = "https://github.com/openai/openai-openapi/blob/{commit}/openapi.yaml"
# JSON pointers into the pinned OpenAPI document, per requirement id (generated: python -m tools.specpointers)
POINTERS_FILE = Path(__file__).with_name("spec_pointers.json")


@cache
def spec_pointers() -> dict[str, list[str]]:
    try:
        data = json.loads(POINTERS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Requirement:
    id: str
    level: Level
    area: str
    statement: str
    spec: str  # where: a component/property path in the OpenAPI doc, or a named document
    basis: str = "spec-schema"
    feature: str | None = None
    quote: str = ""  # the spec's words, when there are any

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = self.level.value
        data["spec_pointers"] = spec_pointers().get(self.id, [])
        return data


# Area modules, in report order.  Each defines REQUIREMENTS: list[Requirement].
AREA_MODULES = (
    "seed",
    "response",
    "items",
    "errors",
    "reasoning",
    "output_text",
    "streaming",
    "parameters",
    "tools",
    "state",
    "robustness",
    "clients",
)


class RegistryError(Exception):
    """The registry contradicts itself (duplicate id, bad level, unknown area)."""


class Registry:
    def __init__(self) -> None:
        self._by_id: dict[str, Requirement] = {}

    def add(self, req: Requirement) -> None:
        if req.id in self._by_id:
            raise RegistryError(f"duplicate requirement id {req.id}")
        if not isinstance(req.level, Level):
            raise RegistryError(f"{req.id}: level must be MUST, SHOULD or MAY, not {req.level!r}")
        if req.basis not in BASES:
            raise RegistryError(f"{req.id}: basis {req.basis!r} is not one of {BASES}")
        if not req.statement or not req.spec:
            raise RegistryError(f"{req.id}: statement and spec reference are required")
        self._by_id[req.id] = req

    def get(self, req_id: str) -> Requirement:
        try:
            return self._by_id[req_id]
        except KeyError:
            raise RegistryError(f"unknown requirement id {req_id!r}") from None

    def __contains__(self, req_id: object) -> bool:
        return req_id in self._by_id

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def _load() -> Registry:
    registry = Registry()
    for area in AREA_MODULES:
        module = importlib.import_module(f"{__name__}.{area}")
        for req in module.REQUIREMENTS:
            registry.add(req)
    return registry


REGISTRY = _load()

F = TypeVar("F", bound=Callable[..., Any])


def requirement(req_id: str, level: Level) -> Callable[[F], F]:
    """Mark a conformance test with the requirement it checks.

    The level is repeated at the test so a reader sees it there; it must agree with the registry.
    """
    import pytest

    req = REGISTRY.get(req_id)
    if req.level is not level:
        raise RegistryError(f"{req_id} is {req.level} in the registry, but the test declares {level}")

    def mark(fn: F) -> F:
        return pytest.mark.requirement(req_id, level.value)(fn)

    return mark
