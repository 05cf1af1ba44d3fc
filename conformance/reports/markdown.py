"""report.md: the run in GitHub-flavoured Markdown, for a PR comment or a job summary.

Scores per level, a table per area, then what did not pass: each failure folded in `<details>`
with its message, spec reference and curl reproducer.  Kept under GitHub's 65,536-character
comment limit: past MAX_CHARS the remaining failures are listed by id only.
"""

from __future__ import annotations

from typing import Any

from conformance.reports.model import (
    LEVELS,
    baseline_line,
    failures,
    finding_line,
    server_label,
    short,
    verdict_sentence,
    version_text,
)

MAX_CHARS = 60000
ICON = {"pass": "✅", "fail": "❌", "empty": "⚠️"}


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}\n{text.rstrip()}\n{fence}"


def _score(counts: dict[str, Any]) -> str:
    if not counts["judged"]:
        return "–"
    text = counts["score"]
    return f"**{text}**" if counts["failed"] or counts["error"] else text


def render(report: dict[str, Any]) -> str:
    summary = report["summary"]
    spec = report.get("spec") or {}
    server = report.get("server") or {}
    commit = (spec.get("commit") or "")[:10]
    out = [f"## {ICON.get(summary['verdict'], '')} Responses API conformance: {verdict_sentence(report)}", ""]
    meta = [f"**Server** `{_cell(server_label(report))}`", f"`{_cell(server.get('url'))}` ({server.get('kind')})"]
    if server.get("version"):
        meta.append(f"version `{_cell(version_text(server.get('version')))}`"[:200])
    meta.append(f"**spec** [`{commit}`]({spec.get('url')})" if spec.get("url") else "**spec** unknown")
    meta.append(f"**suite** {report['suite'].get('version')}")
    if report.get("started"):
        meta.append(f"{report['started']} ({report.get('duration_s')} s)")
    out += [" · ".join(meta), ""]
    for note in report.get("notes") or []:  # an interrupted run, non-finite numbers written as strings
        out += [f"> **Note:** {_cell(note)}", ""]
    out += ["| level | score | passed | failed | error | skipped | not applicable | unsupported | not run |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for lv in LEVELS:
        c = summary["levels"][lv]
        if c["total"]:
            out.append(f"| {lv} | {_score(c)} | {c['passed']} | {c['failed']} | {c['error']} | {c['skipped']} "
                       f"| {c['not-applicable']} | {c['unsupported']} | {c['not-run']} |")
    out += ["", "Score = passed / judged (passed + failed + error + skipped); a skip is never a pass. "
            "Not applicable (the server sent nothing the requirement is about), unsupported (declared with "
            "`--unsupported`) and not-run requirements are counted apart.", ""]
    out += ["<details><summary>By area</summary>", "", "| area | MUST | SHOULD | MAY | not passed |",
            "| --- | --- | --- | --- | --- |"]
    for area, per in summary["areas"].items():
        bad = per["all"]["failed"] + per["all"]["error"]
        out.append(f"| {area} | {_score(per['MUST'])} | {_score(per['SHOULD'])} | {_score(per['MAY'])} "
                   f"| {bad or ''} |")
    out += ["", "</details>", ""]
    found = report.get("findings") or []
    if found:
        out += [f"### Findings: {summary['findings']['line']}", "",
                "One finding = one root cause (the same violation at the same place), with the requirements it "
                "fails; the scores above still count per requirement.", ""]
        out += [f"- {_cell(finding_line(f))}" for f in found[:200]]
        out.append("")
    bad = failures(report)
    section = report.get("baseline")
    if section is not None:  # `--baseline`: known failures apart from new ones, per test case
        out += _baseline_lines(section)
        new_ids = {r["id"] for r in section["new"]}
        bad = [e for e in bad if e["id"] in new_ids]
    if bad:
        out += [f"### Not met{', new' if section is not None else ''} ({len(bad)})", ""]
        size = sum(len(x) + 1 for x in out)
        for i, e in enumerate(bad):
            block = _failure_block(e)
            if size + len(block) > MAX_CHARS:
                rest = ", ".join(f"`{x['id']}`" for x in bad[i:])
                out += [f"... and {len(bad) - i} more, see report.html: {rest}", ""]
                break
            out.append(block)
            size += len(block) + 1
    for outcome, title in (("skipped", "Skipped (not judged, not counted as passed)"),
                           ("not-applicable", "Not applicable (nothing to judge, not counted as passed)"),
                           ("unsupported", "Unsupported (declared)"), ("not-run", "Not run")):
        rows = [e for e in report["requirements"] if e["outcome"] == outcome]
        if not rows:
            continue
        out += [f"<details><summary>{title}: {len(rows)}</summary>", ""]
        for e in rows[:200]:
            out.append(f"- `{e['id']}` {e['level']}: {_cell(e['statement'])} — {_cell(short(e.get('reason'), 200))}")
        if len(rows) > 200:
            out.append(f"- ... and {len(rows) - 200} more")
        out += ["", "</details>", ""]
    text = "\n".join(out).rstrip() + "\n"
    return text[:MAX_CHARS + 4000]


def _baseline_lines(section: dict[str, Any]) -> list[str]:
    out = [f"### Baseline: {_cell(baseline_line(section))}", ""]
    for key, title in (("new", "New failing cases (not in the baseline)"), ("fixed", "Fixed (listed, now passing)"),
                       ("known", "Known failing cases (in the baseline)")):
        rows = section[key]
        if not rows:
            continue
        out += [f"<details{' open' if key != 'known' else ''}><summary>{title}: {len(rows)}</summary>", ""]
        for r in rows[:200]:
            why = r.get("reason") if key == "known" else r.get("message", "")
            out.append(f"- `{r['id']}` {r['level']} `{_cell(r.get('case') or 'every case')}` {r['outcome']}"
                       + (f" — {_cell(short(why, 200))}" if why else ""))
        out += ["", "</details>", ""]
    return out


def _failure_block(e: dict[str, Any]) -> str:
    findings = f" [{', '.join(e['findings'])}]" if e.get("findings") else ""
    lines = [f"<details><summary><b>{e['id']}</b> {e['level']} ({e['outcome']}){findings}: {_cell(e['statement'])}"
             "</summary>", ""]
    if e.get("finding_note"):
        lines += [f"_{_cell(e['finding_note'])}_", ""]
    lines += [_fence(e.get("message") or "(no message)"), ""]
    spec = f"Spec: `{_cell(e.get('spec'))}` ({e.get('basis')})"
    if e.get("spec_url"):
        spec += f" — [openapi.yaml]({e['spec_url']})"
    if e.get("spec_pointers"):
        spec += " · " + ", ".join(f"`#{p}`" for p in e["spec_pointers"])
    lines.append(spec)
    if e.get("quote"):
        lines.append(f"> {_cell(e['quote'])}")
    if e.get("curl") and "Reproduce with" not in (e.get("message") or ""):
        lines += ["", "Reproduce:", "", _fence(e["curl"])]
    lines += ["", "</details>", ""]
    return "\n".join(lines)
