"""The requirement registry checks itself: unique ids, one test per requirement, none without a test."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from conformance.suite.requirements import MUST, REGISTRY, RegistryError, requirement

SUITE = Path(__file__).resolve().parents[2] / "conformance" / "suite"
ID_RE = re.compile(r"^[A-Z]+(-[A-Z0-9]+)*-\d{3}$")


def _suite_tests():
    """(module, function name, requirement marker args) for every test in the conformance suite."""
    found = []
    for path in sorted(SUITE.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_suite_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, fn in vars(module).items():
            if name.startswith("test_") and callable(fn):
                marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "requirement"]
                found.append((path.name, name, [m.args for m in marks]))
    return found


def test_ids_are_well_formed_and_statements_short():
    for req in REGISTRY:
        assert ID_RE.match(req.id), req.id
        assert len(req.statement) <= 120, req.id
        assert "should" not in req.statement.lower().split()[:1], req.id


def test_every_conformance_test_declares_exactly_one_requirement():
    for module, name, marks in _suite_tests():
        assert len(marks) == 1, f"{module}::{name} declares {len(marks)} requirements"


def test_one_test_per_requirement_and_none_without_a_test():
    seen: dict[str, str] = {}
    for module, name, marks in _suite_tests():
        req_id = marks[0][0]
        assert req_id not in seen, f"{req_id} is checked by both {seen[req_id]} and {module}::{name}"
        seen[req_id] = f"{module}::{name}"
    missing = sorted(r.id for r in REGISTRY if r.id not in seen)
    assert not missing, f"requirements without a test: {missing}"


def test_declared_level_must_match_the_registry():
    some = next(iter(REGISTRY))
    wrong = next(lvl for lvl in ("MUST", "SHOULD", "MAY") if lvl != some.level.value)
    from conformance.suite.requirements import Level

    with pytest.raises(RegistryError):
        requirement(some.id, Level(wrong))
    with pytest.raises(RegistryError):
        requirement("NO-SUCH-999", MUST)
