"""Allure: labels for each test (area = epic, requirement = story, level = severity, spec link) and the
Environment panel. allure-pytest writes the results; this module only says what they carry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.suite.requirements import SPEC_URL, Level, Requirement

ALLURE_SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}


def allure_marks(req: Requirement, commit: str | None = None) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """allure-pytest markers for a requirement: area as epic, requirement as story, level as severity."""
    level = req.level.value if isinstance(req.level, Level) else str(req.level)
    marks: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("allure_label", (req.area,), {"label_type": "epic"}),
        ("allure_label", (f"{req.id}: {req.statement}",), {"label_type": "story"}),
        ("allure_label", (ALLURE_SEVERITY.get(level, "normal"),), {"label_type": "severity"}),
        ("allure_label", (req.id,), {"label_type": "tag"}),
        ("allure_label", (level,), {"label_type": "tag"}),
    ]
    if commit:
        marks.append(("allure_link", (SPEC_URL.format(commit=commit),),
                      {"link_type": "link", "name": f"spec: {req.spec}"[:200]}))
    return marks


def write_environment(directory: Path, report: dict[str, Any]) -> Path:
    """Allure's Environment panel: server, model, spec commit, suite version."""
    server = report.get("server") or {}
    rows = {"server.url": server.get("url"), "server.kind": server.get("kind"), "server.image": server.get("image"),
            "server.version": json.dumps(server.get("version")) if server.get("version") else None,
            "model": report.get("model"), "spec.commit": (report.get("spec") or {}).get("commit"),
            "suite.version": (report.get("suite") or {}).get("version")}
    path = directory / "environment.properties"
    text = "".join(f"{k}={str(v).replace(chr(10), ' ')}\n" for k, v in rows.items() if v)
    path.write_text(text, encoding="utf-8")
    return path
