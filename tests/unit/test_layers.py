"""The package's layers, checked: no import cycle, no import of a higher layer, no developer tool in the wheel.

Layers, bottom-up (docs/architecture.md draws them):

    base      failure shape, redaction, text hygiene, version facts    (imports nothing of ours)
    refserver the embedded reference server and its planted defects     (standard library only)
    wire      SSE, transport policy, HTTP evidence                      -> base
    judge     schemas, checks, stream grammar, request helpers, profiles -> wire, base
    suite     requirement registry and the conformance tests            -> judge, wire, base
    server    presets, preflight, Docker, local process                 -> wire, base, refserver
    reports   result model, report formats, gate, compare               -> suite, wire, base
    plugin    pytest options and fixtures                               -> everything

Every import counts, also one inside a function: a lazy import of a higher layer is still a cycle
in the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "conformance"
RANK = {"base": 0, "refserver": 0, "wire": 1, "judge": 2, "suite": 3, "server": 3, "reports": 4, "plugin": 5,
        "cli": 6}
# top-level modules: the build-time version file is base; `python -m conformance` dispatches to every layer
TOP_LEVEL = {"_version": "base", "__main__": "cli"}
# same rank, different layers: may not import each other
ALLOWED_ACROSS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m == "conformance" or m.startswith(("conformance.", "tools.", "tests."))}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "conformance":
        return None
    return TOP_LEVEL.get(parts[1], parts[1])


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        # `from pkg import name` names a module or an attribute: keep the longest known module prefix
        deps = set()
        for imp in _imports(path):
            while imp and imp not in modules:
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                deps.add(imp)
        graph[name] = deps
    return graph


def test_every_module_sits_in_a_layer():
    stray = [m for m in _graph() if m != "conformance" and _layer(m) not in RANK]
    assert not stray, f"modules outside the layers {sorted(RANK)}: {stray}"


def test_no_upward_or_sideways_import():
    bad = []
    for module, deps in _graph().items():
        here = _layer(module)
        for dep in deps:
            there = _layer(dep)
            if here is None or there is None or here == there:
                if dep.startswith(("tools.", "tests.")):
                    bad.append(f"{module} -> {dep} (developer code, not in the wheel)")
                continue
            if RANK[there] > RANK[here] or (RANK[there] == RANK[here] and (here, there) not in ALLOWED_ACROSS):
                bad.append(f"{module} ({here}) -> {dep} ({there})")
    assert not bad, "imports against the layers:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    # a package importing its own submodule in __init__ is not a cycle of the design
    real = [c for c in cycles if not all(c[0] == m or m.startswith(c[0] + ".") or c[0].startswith(m + ".") for m in c)]
    assert not real, "import cycles:\n" + "\n".join(" -> ".join(c) for c in real)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The checks above can fail: an upward import planted in a copy of a low module is reported."""
    planted = PACKAGE / "base" / "_planted_upward.py"
    planted.write_text("from conformance.plugin import format_failure\n")
    try:
        try:
            test_no_upward_or_sideways_import()
        except AssertionError as exc:
            assert "conformance.base._planted_upward (base) -> conformance.plugin (plugin)" in str(exc)
        else:
            raise AssertionError("an upward import was not reported")
    finally:
        planted.unlink()
