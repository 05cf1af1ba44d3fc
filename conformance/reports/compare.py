"""Compare runs: a servers x requirements matrix, and what regressed or was fixed between two runs.

    python -m conformance compare a/report.json b/report.json c/report.json --out reports/compare
    python -m conformance compare old/report.json new/report.json --out reports/diff   # same server: diff
    python -m conformance compare x.json y.json --diff --out DIR                      # force the diff

writes DIR/matrix.md and DIR/matrix.html (one column per report, one row per requirement, scores
per level on top) and, for exactly two reports of one server (same image, or same URL and model)
or with --diff, DIR/diff.md: regressed (passed before, not met now), fixed (not met before,
passed now) and other changes (e.g. passed -> skipped).  `--fail-on-regression` exits 1 when
anything regressed.  Bad input: one line and exit 2.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path
from typing import Any

from conformance.reports import model
from conformance.reports.html import CSS, ERROR_CATCHER

SYMBOL = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭", "not-applicable": "∅", "unsupported": "➖",
          "not-run": "–"}


def labels_for(reports: list[dict[str, Any]], given: list[str] | None = None) -> list[str]:
    if given:
        if len(given) != len(reports):
            raise ValueError(f"--labels names {len(given)} columns for {len(reports)} reports")
        return given
    labels = [model.server_label(r) for r in reports]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if labels.count(lab) == 1 else f"{lab} #{seen[lab]}")
    return out


def same_server(a: dict[str, Any], b: dict[str, Any]) -> bool:
    sa, sb = a.get("server") or {}, b.get("server") or {}
    if sa.get("image") or sb.get("image"):
        return sa.get("image") == sb.get("image") and sa.get("model") == sb.get("model")
    if sa.get("kind") == "embedded" and sb.get("kind") == "embedded":
        return sa.get("model") == sb.get("model")  # the reference server, whatever its port
    return sa.get("url") == sb.get("url") and sa.get("model") == sb.get("model")


def rows(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per requirement id in any report (first report's order, then new ids)."""
    order: dict[str, dict[str, Any]] = {}
    for r in reports:
        for e in r["requirements"]:
            order.setdefault(e["id"], e)
    out = []
    for rid, first in order.items():
        outcomes = []
        for r in reports:
            e = next((x for x in r["requirements"] if x["id"] == rid), None)
            outcomes.append(e["outcome"] if e else "not-run")
        out.append({"id": rid, "level": first.get("level"), "area": first.get("area"),
                    "statement": first.get("statement"), "outcomes": outcomes})
    return out


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Regressed / fixed / changed requirements between two runs."""
    before = {e["id"]: e for e in old["requirements"]}
    out: dict[str, list[dict[str, Any]]] = {"regressed": [], "fixed": [], "changed": []}
    for e in new["requirements"]:
        prev = before.get(e["id"])
        was = prev["outcome"] if prev else "not-run"
        now = e["outcome"]
        if was == now:
            continue
        row = {"id": e["id"], "level": e["level"], "statement": e["statement"], "was": was, "now": now,
               "message": e.get("message") or ""}
        if was == "passed" and now in model.NOT_PASSING:
            out["regressed"].append(row)
        elif was in model.NOT_PASSING and now == "passed":
            out["fixed"].append(row)
        else:
            out["changed"].append(row)
    return out


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _findings(report: dict[str, Any]) -> str:
    """`14 findings across 18 requirements`: the failures by root cause (a report loaded by `report.load`)."""
    found = (report.get("summary") or {}).get("findings")
    return found["line"].split(" (")[0] if found else "–"


def matrix_md(reports: list[dict[str, Any]], labels: list[str]) -> str:
    out = ["# Responses API conformance: servers compared", ""]
    out += ["| level | " + " | ".join(_cell(x) for x in labels) + " |", "| --- |" + " --- |" * len(labels)]
    for lv in model.LEVELS:
        scores = [r["summary"]["levels"][lv] for r in reports]
        if any(s["total"] for s in scores):
            out.append(f"| {lv} | " + " | ".join(f"{s['score']}" + (f" ({s['unsupported']} unsupported)"
                                                                    if s["unsupported"] else "") for s in scores)
                       + " |")
    out.append("| findings | " + " | ".join(_findings(r) for r in reports) + " |")
    out += ["", " · ".join(f"{SYMBOL[o]} {o}" for o in model.OUTCOMES), ""]
    out += ["| requirement | level | " + " | ".join(_cell(x) for x in labels) + " | statement |",
            "| --- | --- |" + " :-: |" * len(labels) + " --- |"]
    for row in rows(reports):
        out.append(f"| `{row['id']}` | {row['level']} | " + " | ".join(SYMBOL.get(o, o) for o in row["outcomes"])
                   + f" | {_cell(row['statement'])} |")
    out += ["", "Reports: " + "; ".join(f"{_cell(lab)}: {r.get('started')} (suite {r['suite'].get('version')}, "
                                        f"spec {str((r.get('spec') or {}).get('commit'))[:10]})"
                                        for lab, r in zip(labels, reports, strict=True))]
    return "\n".join(out) + "\n"


def matrix_html(reports: list[dict[str, Any]], labels: list[str]) -> str:
    e = lambda t: html.escape(str(t if t is not None else ""), quote=True)  # noqa: E731
    head = "".join(f"<th>{e(lab)}</th>" for lab in labels)
    score_rows = []
    for lv in model.LEVELS:
        scores = [r["summary"]["levels"][lv] for r in reports]
        if any(s["total"] for s in scores):
            cells = "".join(f'<td class="{"bad" if s["failed"] or s["error"] else ""}"><b>{e(s["score"])}</b>'
                            + (f' <span class="muted">{s["unsupported"]} unsupported</span>' if s["unsupported"]
                               else "") + "</td>" for s in scores)
            score_rows.append(f"<tr><th>{lv}</th>{cells}</tr>")
    score_rows.append("<tr><th>findings</th>" + "".join(f"<td>{e(_findings(r))}</td>" for r in reports) + "</tr>")
    body_rows = []
    for row in rows(reports):
        cells = "".join(f'<td class="o"><span class="badge {e(o)}" title="{e(o)}">{e(o)}</span></td>'
                        for o in row["outcomes"])
        differs = " differs" if len(set(row["outcomes"])) > 1 else ""
        body_rows.append(f'<tr class="r{differs}"><td class="id"><code>{e(row["id"])}</code></td>'
                         f'<td><span class="lvl {e(row["level"])}">{e(row["level"])}</span></td>{cells}'
                         f'<td>{e(row["statement"])}</td></tr>')
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Conformance matrix</title>'
            f"<script>{ERROR_CATCHER}</script><style>{CSS}{MATRIX_CSS}</style></head><body>"
            f"<h1>Responses API conformance: servers compared</h1>"
            f'<table class="areas scores"><thead><tr><th>level</th>{head}</tr></thead>'
            f'<tbody>{"".join(score_rows)}</tbody></table>'
            f'<h2>Requirements</h2><table class="reqs matrix"><thead><tr><th>requirement</th><th>level</th>{head}'
            f'<th>statement</th></tr></thead><tbody>{"".join(body_rows)}</tbody></table>'
            f"<footer>rows where the servers differ are highlighted · data from each server's report.json</footer>"
            f"</body></html>\n")


MATRIX_CSS = """
table.matrix td.o { text-align: center; white-space: nowrap; }
table.matrix tr.differs td { background: #fffbe6; }
table.scores td.bad b { color: var(--fail); }
"""


def diff_md(old_label: str, new_label: str, d: dict[str, list[dict[str, Any]]]) -> str:
    out = [f"# Conformance diff: {old_label} → {new_label}", "",
           f"{len(d['regressed'])} regressed · {len(d['fixed'])} fixed · {len(d['changed'])} other changes", ""]
    for key, title in (("regressed", "Regressed (passed before, not met now)"),
                       ("fixed", "Fixed (not met before, passes now)"), ("changed", "Other changes")):
        if not d[key]:
            continue
        out += [f"## {title}", "", "| requirement | level | before | now | statement |",
                "| --- | --- | --- | --- | --- |"]
        out += [f"| `{r['id']}` | {r['level']} | {r['was']} | {r['now']} | {_cell(r['statement'])} |" for r in d[key]]
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance compare",
                                     description="Compare conformance reports: matrix, and diff of two runs.")
    parser.add_argument("reports", nargs="+", help="report.json files (written by pytest --report-dir)")
    parser.add_argument("--out", required=True, help="directory for matrix.md, matrix.html (and diff.md)")
    parser.add_argument("--labels", help="comma-separated column names, one per report")
    parser.add_argument("--diff", action="store_true", help="diff the two reports even if the servers differ")
    parser.add_argument("--fail-on-regression", action="store_true", help="exit 1 when the diff shows a regression")
    args = parser.parse_args(argv)
    from conformance.reports.gate import InputError, load_report

    try:
        reports = [load_report(Path(p)) for p in args.reports]
        labels = labels_for(reports, [x.strip() for x in args.labels.split(",")] if args.labels else None)
    except (InputError, ValueError) as exc:
        print(f"conformance compare: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "matrix.md").write_text(matrix_md(reports, labels), encoding="utf-8")
    (out / "matrix.html").write_text(matrix_html(reports, labels), encoding="utf-8")
    print(f"wrote {out / 'matrix.md'} and {out / 'matrix.html'} ({len(reports)} servers)")
    if args.diff and len(reports) != 2:
        print("conformance compare: error: --diff needs exactly two reports", file=sys.stderr)
        return 2
    if len(reports) == 2 and (args.diff or same_server(*reports)):
        d = diff(*reports)
        text = diff_md(labels[0], labels[1], d)
        (out / "diff.md").write_text(text, encoding="utf-8")
        sys.stdout.write(text)
        if args.fail_on_regression and d["regressed"]:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
