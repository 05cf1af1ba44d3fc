"""junit.xml: one `testsuite` per area, requirement/level/area/spec as testcase properties (CI systems read it)."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree as ET

from conformance.reports.model import short

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: Any) -> str:
    return _XML_BAD.sub("?", str(text if text is not None else ""))


def render(report: dict[str, Any]) -> str:
    """JUnit XML: one testsuite per area, one testcase per test, requirement id and level as properties."""
    reqs = {e["id"]: e for e in report["requirements"]}
    root = ET.Element("testsuites", name="responses-conformance")
    suites: dict[str, tuple[ET.Element, dict[str, float]]] = {}
    for t in report["tests"]:
        req = reqs.get(t["requirement"] or "", {})
        area = req.get("area", "other")
        if area not in suites:
            suite = ET.SubElement(root, "testsuite", name=f"responses-conformance.{area}")
            props = ET.SubElement(suite, "properties")
            for name, value in (("server.url", report["server"].get("url")), ("model", report.get("model")),
                                ("spec.commit", report["spec"].get("commit")),
                                ("suite.version", report["suite"].get("version"))):
                ET.SubElement(props, "property", name=name, value=_x(value))
            suites[area] = (suite, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0})
        suite, counts = suites[area]
        path, _, name = t["nodeid"].partition("::")
        case = ET.SubElement(suite, "testcase", classname=_x(path.removesuffix(".py").replace("/", ".")),
                             name=_x(name or path), time=f"{t['duration']:.3f}")
        props = ET.SubElement(case, "properties")
        for key, value in (("requirement", t["requirement"]), ("level", t["level"]), ("area", req.get("area")),
                           ("statement", req.get("statement")), ("spec", req.get("spec")),
                           ("basis", req.get("basis")), ("outcome", t["outcome"])):
            if value:
                ET.SubElement(props, "property", name=key, value=_x(value))
        counts["tests"] += 1
        counts["time"] += t["duration"]
        outcome, first = t["outcome"], short(t["message"], 300)
        if outcome == "failed":
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=_x(first), type="ConformanceFailure").text = _x(t["message"])
        elif outcome == "error":
            counts["errors"] += 1
            ET.SubElement(case, "error", message=_x(first), type="error").text = _x(t["message"])
        elif outcome in ("skipped", "unsupported", "not-run", "not-applicable"):
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", type=outcome, message=_x(f"{outcome}: {t['message']}"))
        if t["evidence"]:
            ET.SubElement(case, "system-out").text = _x("\n".join(
                f"{ex['request']['method']} {ex['request']['url']} -> "
                f"{ex['response'].get('status') or ex.get('error')}\n  {ex.get('curl', '')}" for ex in t["evidence"]))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite, counts in suites.values():
        for k in totals:
            suite.set(k, str(int(counts[k])))
            totals[k] += int(counts[k])
        suite.set("time", f"{counts['time']:.3f}")
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{report.get('duration_s') or 0}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
