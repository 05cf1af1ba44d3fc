"""Spec pointers: each requirement's spec reference as JSON pointers into the pinned OpenAPI document.

A requirement's `spec` names what it rests on in words (`Response.output; OutputItem`,
`GET /responses/{response_id}`, `createResponse streaming example`).  This tool resolves every
OpenAPI name in it to a JSON pointer into `openai-openapi.yaml` (following `allOf`/`anyOf` and
`$ref` to where a property is declared) and writes them, as package data, for the reports:

    python -m tools.specpointers [--spec ../shared/specs/openai-openapi.yaml] [--check]

`--check` exits 1 when the file is stale or a requirement that names the spec resolves to nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from conformance.suite.requirements import POINTERS_FILE, REGISTRY

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO.parent / "shared" / "specs" / "openai-openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")
_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE)\s+(?:/v1)?(/[^\s;(]*)")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def load_spec(path: Path) -> dict[str, Any]:
    import yaml  # a developer tool's dependency, not the suite's

    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _schema_at(spec: dict[str, Any], pointer: str) -> Any:
    node: Any = spec
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            return None
    return node


def _property(spec: dict[str, Any], pointer: str, name: str, depth: int = 0) -> str | None:
    """The pointer of property `name` of the schema at `pointer` (through $ref, allOf, anyOf, oneOf)."""
    node = _schema_at(spec, pointer)
    if not isinstance(node, dict) or depth > 6:
        return None
    if "$ref" in node and isinstance(node["$ref"], str) and node["$ref"].startswith("#"):
        return _property(spec, node["$ref"][1:], name, depth + 1)
    if isinstance(node.get("properties"), dict) and name in node["properties"]:
        return f"{pointer}/properties/{escape(name)}"
    for key in ("allOf", "anyOf", "oneOf"):
        variants = node.get(key) or []
        if key != "allOf" and sum(1 for v in variants if v != {"type": "null"}) > 1:
            continue  # a union of several variants: its own pointer names it better than its first variant's field
        for i, _ in enumerate(variants):
            found = _property(spec, f"{pointer}/{key}/{i}", name, depth + 1)
            if found:
                return found
    if isinstance(node.get("items"), dict):
        return _property(spec, f"{pointer}/items", name, depth + 1)
    return None


def _operation(spec: dict[str, Any], operation_id: str) -> str | None:
    for path, ops in (spec.get("paths") or {}).items():
        for method in METHODS:
            if isinstance(ops, dict) and (ops.get(method) or {}).get("operationId") == operation_id:
                return f"/paths/{escape(path)}/{method}"
    return None


def resolve(spec: dict[str, Any], reference: str) -> list[str]:
    """Every JSON pointer a `spec` reference names, in order (what cannot be resolved is left out)."""
    out: list[str] = []
    schemas = (spec.get("components") or {}).get("schemas") or {}
    for part in re.split(r";|\),|, (?=[A-Z])", reference):
        part = part.strip()
        route = _ROUTE.match(part)
        if route:
            path = route.group(2).rstrip(",")
            if path in (spec.get("paths") or {}):
                out.append(f"/paths/{escape(path)}/{route.group(1).lower()}")
            continue
        if part.startswith("paths."):
            tokens = part.split(" ")[0].split(".")[1:]
            pointer = "/paths"
            for token in tokens:
                nxt = f"{pointer}/{escape(token)}"
                if _schema_at(spec, nxt) is None:
                    break
                pointer = nxt
            if pointer != "/paths":
                out.append(pointer)
            continue
        name = _NAME.match(part)
        if not name:
            continue
        head, *props = name.group(0).split(".")
        first_alternative = part[len(name.group(0)):].startswith("/")  # `Response.a/b/c`: the first one
        if head in schemas:
            pointer: str | None = f"/components/schemas/{escape(head)}"
            for prop in props:
                pointer = _property(spec, pointer, prop) if pointer else None
            if pointer is None and props:
                pointer = f"/components/schemas/{escape(head)}"  # the schema, when a field is a prose name
            out.append(pointer)
        elif not props and not first_alternative:
            found = _operation(spec, head)
            if found:
                out.append(found)
    return list(dict.fromkeys(p for p in out if p))


def names_the_spec(reference: str) -> bool:
    """A reference that rests on the OpenAPI document (not on SSE, HTTP, the SDK or observed behaviour alone)."""
    return not re.match(r"^(WHATWG|openai-python|OpenAI API|HTTP|RFC)", reference.strip())


def build(spec: dict[str, Any]) -> dict[str, list[str]]:
    return {req.id: resolve(spec, req.spec) for req in REGISTRY}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.specpointers", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--check", action="store_true", help="fail when the file is stale or a pointer is missing")
    args = parser.parse_args(argv)
    pointers = build(load_spec(args.spec))
    missing = [rid for rid, ps in pointers.items() if not ps and names_the_spec(REGISTRY.get(rid).spec)]
    text = json.dumps(pointers, indent=1, sort_keys=True) + "\n"
    if args.check:
        stale = not POINTERS_FILE.exists() or POINTERS_FILE.read_text(encoding="utf-8") != text
        for rid in missing:
            print(f"{rid}: no JSON pointer for its spec reference {REGISTRY.get(rid).spec!r}")
        if stale:
            print(f"{POINTERS_FILE} is stale: run python -m tools.specpointers")
        return 1 if stale or missing else 0
    POINTERS_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {POINTERS_FILE}: {sum(map(len, pointers.values()))} pointers for {len(pointers)} requirements; "
          f"unresolved: {', '.join(missing) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
