"""Validation against the JSON Schemas generated from the OpenAI OpenAPI document.

The schemas are loaded and the validators compiled once per process (`Schemas.load()` is
cached).  Results are `Violation`s: a JSON path, what the schema rule says, and where in the
spec the rule lives, so a failure reads "at $.output[0].status: 'done' is not one of
['in_progress', 'completed', 'incomplete'] (rule enum at OutputMessage/properties/status)".

Unions (`OutputItem`, `ResponseStreamEvent`, `anyOf` of variants) are explained by the
variant whose `type` matches the value, not by jsonschema's "not valid under any of the given
schemas".  A value that matches several `oneOf` branches is a spec ambiguity, not a server
defect, and is accepted.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
COMPONENTS_ID = "urn:responses-conformance:components"


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (JSON path), what is wrong, and which schema rule says so."""

    path: str
    message: str
    rule: str = ""

    def __str__(self) -> str:
        rule = f" (rule {self.rule})" if self.rule else ""
        return f"at {self.path}: {self.message}{rule}"


def json_path(parts: Iterable[Any], root: str = "$") -> str:
    out = root
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Schemas:
    """The compiled validators for every definition in `schemas/components.json`."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self.directory = directory
        components_file = directory / "components.json"
        try:
            components = json.loads(components_file.read_text())
            index = json.loads((directory / "index.json").read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(
                f"cannot load the generated schemas from {directory}: {exc}; "
                "regenerate them with `python -m conformance.schemagen`"
            ) from exc
        self.source: dict[str, str] = components.get("x-spec-source", {})
        self.defs: dict[str, Any] = components["$defs"]
        self.dispatch: dict[str, dict[str, str]] = index["dispatch"]
        self.roots: dict[str, str] = index["roots"]
        resource = Resource.from_contents(components, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(COMPONENTS_ID, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    @classmethod
    @functools.cache
    def load(cls) -> Schemas:
        return cls()

    def validator(self, definition: str) -> Draft202012Validator:
        """Compiled once per definition name (e.g. "Response", "OutputMessage")."""
        found = self._validators.get(definition)
        if found is None:
            if definition not in self.defs:
                raise KeyError(f"no schema definition named {definition!r}")
            found = Draft202012Validator(
                {"$ref": f"{COMPONENTS_ID}#/$defs/{definition}"}, registry=self.registry
            )
            self._validators[definition] = found
        return found

    def definition_for(self, union: str, type_value: Any) -> str | None:
        """The definition name for a `type` value in a dispatch union (output_item, stream_event)."""
        return self.dispatch.get(union, {}).get(type_value) if isinstance(type_value, str) else None

    def known_types(self, union: str) -> Sequence[str]:
        return sorted(self.dispatch.get(union, {}))

    # -- validation ---------------------------------------------------------------------------

    def check(self, definition: str, instance: Any, root: str = "$") -> list[Violation]:
        """Every violation of `definition` by `instance`, explained branch by branch."""
        errors = self.validator(definition).iter_errors(instance)
        out: list[Violation] = []
        for error in errors:
            out.extend(self._explain(error, root))
        return _dedupe(out)

    def check_union(self, union: str, instance: Any, root: str = "$") -> list[Violation]:
        """Validate a value of a `type`-discriminated union against the variant it names."""
        if not isinstance(instance, dict):
            return [Violation(root, f"expected an object, got {_short(instance)}", "type")]
        type_value = instance.get("type")
        definition = self.definition_for(union, type_value)
        if definition is None:
            known = ", ".join(self.known_types(union))
            return [Violation(json_path(["type"], root),
                              f"unknown {union.replace('_', ' ')} type {_short(type_value)}; "
                              f"the spec defines: {known}", "enum")]
        return self.check(definition, instance, root)

    def _explain(self, error: ValidationError, root: str) -> list[Violation]:
        if error.validator in ("oneOf", "anyOf") and isinstance(error.validator_value, list):
            if not error.context:
                # valid under several oneOf branches: an ambiguity of the spec, not a defect
                return []
            branch_errors: dict[int, list[ValidationError]] = {}
            for sub in error.context:
                branch_errors.setdefault(sub.relative_schema_path[0], []).append(sub)
            chosen = self._matching_branch(error.instance, branch_errors, len(error.validator_value))
            if chosen is not None:
                out: list[Violation] = []
                for sub in branch_errors.get(chosen, []):
                    out.extend(self._explain(sub, root))
                return out
            if isinstance(error.instance, dict) and "type" in error.instance:
                return [Violation(json_path(error.absolute_path, root),
                                  f"no variant of the union accepts type {_short(error.instance['type'])}",
                                  _rule(error))]
            # None of the branches discriminate: report the branch that came closest
            best = min(branch_errors.values(), key=len, default=[])
            if len(best) == 1 and best[0].validator in ("type", "enum", "const"):
                allowed = [b.get("type", b.get("enum", b.get("const"))) for b in error.validator_value
                           if isinstance(b, dict)]
                return [Violation(json_path(error.absolute_path, root),
                                  f"{_short(error.instance)} matches none of the allowed forms {_short(allowed)}",
                                  _rule(error))]
            out = []
            for sub in best:
                out.extend(self._explain(sub, root))
            return out
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [p for p in error.validator_value if p not in error.instance]
            return [Violation(json_path([*error.absolute_path, p], root), "required property is absent",
                              _rule(error)) for p in missing]
        return [Violation(json_path(error.absolute_path, root), _message(error), _rule(error))]

    @staticmethod
    def _matching_branch(instance: Any, branch_errors: dict[int, list[ValidationError]],
                         n_branches: int) -> int | None:
        """The branch whose `type`/object-ness the instance satisfies, if exactly one."""
        candidates = []
        for index in range(n_branches):
            errs = branch_errors.get(index, [])
            discriminating = [e for e in errs if (
                list(e.relative_path)[:1] == ["type"] and e.validator in ("enum", "const"))
                or (not e.relative_path and e.validator == "type")]
            if not discriminating:
                candidates.append(index)
        return candidates[0] if len(candidates) == 1 else None


def _message(error: ValidationError) -> str:
    if error.validator == "required":
        return error.message
    if error.validator in ("type", "enum", "const"):
        return f"{_short(error.instance)} is not {error.validator}: {_short(error.validator_value)}"
    if error.validator == "additionalProperties":
        return error.message
    return f"{_short(error.instance)}: {error.message[:300]}"


def _rule(error: ValidationError) -> str:
    path = [str(p) for p in error.schema_path]
    # the last $defs name crossed is the most useful anchor; keep a short tail after it
    return f"{error.validator} at {'/'.join(path[-4:])}" if path else str(error.validator)


def _dedupe(violations: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, str]] = set()
    out = []
    for v in violations:
        key = (v.path, v.message)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out
