"""Generate the suite's JSON Schemas from the OpenAI OpenAPI document.

    python -m tools.schemagen [--spec ../shared/specs/openai-openapi.yaml] [--out schemas]

Writes `schemas/components.json` (every component reachable from the roots below, as JSON
Schema 2020-12 `$defs`), one small file per root that `$ref`s into it, and
`schemas/index.json`, which maps each output item, input item and stream event `type` to its
definition so that a value is validated against the one variant its `type` names (a far
clearer failure than "not valid under any of the given schemas").  Every file records the
spec's source repository, commit and sha256, read from `SOURCES.md` beside the spec.
Re-run it when the spec moves; the diff of `schemas/` is then the API's diff.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOTS = {
    "response": "Response",
    "create_response": "CreateResponse",
    "output_item": "OutputItem",
    "input_item": "InputItem",
    "stream_event": "ResponseStreamEvent",
    "error_response": "ErrorResponse",
    "usage": "ResponseUsage",
    "item_list": "ResponseItemList",
    "error": "Error",
    "include": "IncludeEnum",
}
# Dispatch tables: root union -> {type value: definition name}
UNIONS = {"output_item": "OutputItem", "stream_event": "ResponseStreamEvent", "item": "Item"}
REF_PREFIX = "#/components/schemas/"
# Where the schema contradicts the spec's own examples and the live API, the examples win: a
# server doing what the official API does must not fail.  Each entry makes a property nullable.
ERRATA = [
    ("Response", "usage", "the spec's streaming examples (and the API) send usage: null in "
     "response.created / response.in_progress"),
    ("ModelResponseProperties", "user", "the spec's Response example has user: null"),
]
DEFAULT_SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "specs" / "openai-openapi.yaml"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "conformance" / "judge" / "schemas"


def read_source(spec: Path) -> dict[str, str]:
    """Repository and commit of the spec, from the SOURCES.md table beside it."""
    info = {"file": spec.name, "sha256": hashlib.sha256(spec.read_bytes()).hexdigest()}
    sources = spec.parent / "SOURCES.md"
    if sources.exists():
        for line in sources.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells and cells[0] == spec.name and len(cells) >= 4:
                info["source"] = cells[1].strip("`")
                info["commit"] = cells[2]
                info["date"] = cells[3] if len(cells) > 3 else ""
    return info


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            found.add(ref[len(REF_PREFIX):])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _closure(schemas: dict[str, Any], roots: list[str]) -> list[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name]) - seen)
    return sorted(seen)


def _rewrite(node: Any) -> Any:
    """OpenAPI 3.1 schema -> JSON Schema 2020-12: local refs and no vendor noise."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key.startswith("x-") or key in ("discriminator", "example", "examples"):
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                out[key] = "#/$defs/" + value[len(REF_PREFIX):]
            else:
                out[key] = _rewrite(value)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def _type_value(schemas: dict[str, Any], node: dict[str, Any]) -> str | None:
    """The single `type` value a variant fixes (enum of one, or const)."""
    if "$ref" in node:
        return _type_value(schemas, schemas[node["$ref"][len(REF_PREFIX):]])
    prop = node.get("properties", {}).get("type")
    if isinstance(prop, dict):
        if "const" in prop:
            return prop["const"]
        enum = prop.get("enum")
        if isinstance(enum, list) and len(enum) == 1:
            return enum[0]
        if "$ref" in prop:
            return _type_value_enum(schemas[prop["$ref"][len(REF_PREFIX):]])
    for part in node.get("allOf", []):
        found = _type_value(schemas, part)
        if found:
            return found
    return None


def _type_value_enum(node: dict[str, Any]) -> str | None:
    enum = node.get("enum")
    return enum[0] if isinstance(enum, list) and len(enum) == 1 else None


def _variants(schemas: dict[str, Any], union: str) -> dict[str, str]:
    node = schemas[union]
    table: dict[str, str] = {}
    for variant in node.get("oneOf", []) + node.get("anyOf", []):
        ref = variant.get("$ref", "")
        if not ref.startswith(REF_PREFIX):
            continue
        name = ref[len(REF_PREFIX):]
        value = _type_value(schemas, schemas[name])
        if value:
            table.setdefault(value, name)
    return table


def generate(spec: Path, out: Path) -> list[Path]:
    import yaml  # the generator is a dev tool; the suite itself reads only JSON

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(spec.read_text(), Loader=loader)
    schemas = doc["components"]["schemas"]
    source = read_source(spec)
    names = _closure(schemas, list(ROOTS.values()))
    out.mkdir(parents=True, exist_ok=True)
    written = []

    defs = {name: _rewrite(schemas[name]) for name in names}
    errata = _apply_errata(defs)
    components = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:responses-conformance:components",
        "x-spec-source": source,
        "x-errata": errata,
        "$defs": defs,
    }
    written.append(_write(out / "components.json", components))
    for stem, root in ROOTS.items():
        written.append(_write(out / f"{stem}.json", {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:responses-conformance:{stem}",
            "x-spec-source": source,
            "title": root,
            "$ref": f"urn:responses-conformance:components#/$defs/{root}",
        }))
    index = {
        "x-spec-source": source,
        "roots": ROOTS,
        "dispatch": {key: _variants(schemas, union) for key, union in UNIONS.items()},
    }
    written.append(_write(out / "index.json", index))
    return written


def _apply_errata(defs: dict[str, Any]) -> list[dict[str, str]]:
    applied = []
    for name, prop, why in ERRATA:
        schema = defs[name]
        for part in [schema, *schema.get("allOf", [])]:
            props = part.get("properties", {})
            if prop in props:
                props[prop] = {"anyOf": [props[prop], {"type": "null"}]}
                applied.append({"definition": name, "property": prop, "change": "nullable", "why": why})
                break
        else:
            raise SystemExit(f"erratum for {name}.{prop} no longer applies: review ERRATA")
    return applied


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schemagen", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="OpenAPI YAML (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        print(f"error: spec not found: {args.spec} (pass --spec PATH)", file=sys.stderr)
        return 2
    files = generate(args.spec, args.out)
    src = read_source(args.spec)
    print(f"wrote {len(files)} files to {args.out} from {args.spec.name} "
          f"(commit {src.get('commit', '?')}, sha256 {src['sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

