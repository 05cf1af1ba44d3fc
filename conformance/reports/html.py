"""report.html: one self-contained page (inline CSS and vanilla JS, no external asset).

Top: the verdict, the server and spec, a score card per level and a score table per area.
Then one table per area; every row can be filtered by outcome, level and text (the filter state
is also read from the query string: `report.html?outcome=failed,error&level=MUST&q=stream`), and
every failure unfolds (`<details>`) to its message, spec reference, evidence and curl reproducer.

For the browser self-test the page marks itself: `<html data-ready="1">` once the script ran,
`data-js-errors="N"` and a visible `#js-errors` box if any script error happened.
"""

from __future__ import annotations

import html
import json
from typing import Any

from conformance.base.safejson import loads
from conformance.reports.model import (
    APART,
    LEVELS,
    OUTCOMES,
    baseline_line,
    server_label,
    short,
    verdict_sentence,
    version_text,
)

OUTCOME_LABEL = {"passed": "passed", "failed": "failed", "error": "error", "skipped": "skipped",
                 "not-applicable": "not applicable", "unsupported": "unsupported", "not-run": "not run"}


def e(text: Any) -> str:
    return html.escape(str(text if text is not None else ""), quote=True)


def _pretty(body: str | None) -> str:
    if body is None:
        return ""
    try:
        return json.dumps(loads(body), indent=2, ensure_ascii=False)  # depth-limited: a deep body stays text
    except (ValueError, TypeError):
        return body


def _bar(c: dict[str, Any]) -> str:
    judged = c["judged"] or 1
    parts = []
    for o in ("passed", "failed", "error", "skipped"):
        if c[o]:
            parts.append(f'<span class="seg {o}" style="width:{100 * c[o] / judged:.2f}%" '
                         f'title="{c[o]} {o}"></span>')
    return f'<div class="bar">{"".join(parts)}</div>'


def _card(level: str, c: dict[str, Any]) -> str:
    if not c["total"]:
        return (f'<div class="card empty"><div class="lv">{level}</div><div class="big">–</div>'
                f'<div class="sub">no {level} requirement in this suite</div></div>')
    state = "bad" if c["failed"] or c["error"] else ("warn" if c["skipped"] else "good")
    bad = " · ".join(f"{c[o]} {o}" for o in ("failed", "error", "skipped") if c[o]) or "all judged passed"
    apart = " · ".join(f"{c[o]} {OUTCOME_LABEL[o]}" for o in APART if c[o])
    if not c["judged"]:
        state, bad = "empty", "none judged in this run"
    return (f'<div class="card {state}" data-level="{level}"><div class="lv">{level}</div>'
            f'<div class="big score" data-score="{level}">{e(c["score"])}</div>{_bar(c)}'
            f'<div class="sub">{e(bad)}</div><div class="apart">{e(apart)}</div></div>')


def _exchange(i: int, ex: dict[str, Any]) -> str:
    req, resp = ex.get("request") or {}, ex.get("response") or {}
    status = resp.get("status") if resp.get("status") is not None else (ex.get("error") or "no response")
    head = (f'<div class="ex-head">#{i + 1} <b>{e(req.get("method"))}</b> {e(req.get("url"))} → '
            f'<b>{e(status)}</b> <span class="muted">{e(ex.get("elapsed_ms"))} ms'
            + (f', {e(resp.get("events"))} SSE events' if resp.get("events") is not None else "") + "</span></div>")
    hdrs = "\n".join(f"{k}: {v}" for k, v in (req.get("headers") or {}).items())
    rhdrs = "\n".join(f"{k}: {v}" for k, v in (resp.get("headers") or {}).items())
    parts = [head, '<div class="ex-grid">',
             f'<div><div class="cap">request</div><pre>{e(hdrs)}\n\n{e(_pretty(req.get("body")))}</pre></div>',
             f'<div><div class="cap">response</div><pre>{e(rhdrs)}\n\n{e(_pretty(resp.get("body")))}</pre></div>',
             "</div>"]
    if ex.get("error"):
        parts.append(f'<div class="cap">transport</div><pre>{e(ex["error"])}</pre>')
    if ex.get("recorded"):  # --record/--replay: the exchange's file in the recording, byte for byte
        parts.append(f'<div class="cap">recorded</div><pre>{e(ex["recorded"])}</pre>')
    if ex.get("curl"):
        parts.append(f'<div class="cap">reproduce</div><pre class="curl">{e(ex["curl"])}</pre>')
    return '<div class="exchange">' + "".join(parts) + "</div>"


def _details(r: dict[str, Any]) -> str:
    spec = f'<b>Spec</b>: <code>{e(r.get("spec"))}</code> <span class="muted">basis {e(r.get("basis"))}</span>'
    if r.get("spec_url"):
        spec += f' — <a href="{e(r["spec_url"])}" rel="noreferrer">openapi.yaml at the pinned commit</a>'
    if r.get("spec_pointers"):
        spec += '<div class="muted">in the spec: ' + ", ".join(f"<code>#{e(p)}</code>" for p in r["spec_pointers"]) \
            + "</div>"
    if r.get("quote"):
        spec += f'<blockquote>{e(r["quote"])}</blockquote>'
    tests = "".join(f'<li><code>{e(t["nodeid"])}</code> <span class="badge {e(t["outcome"])}">'
                    f'{e(t["outcome"])}</span></li>' for t in r.get("tests") or [])
    evidence = "".join(_exchange(i, ex) for i, ex in enumerate(r.get("evidence") or []))
    return (f'<details class="fail-details"><summary>{e(short(r.get("message"), 200) or "details")}</summary>'
            f'<pre class="message">{e(r.get("message"))}</pre><div class="spec">{spec}</div>'
            f'<div class="cap">tests</div><ul class="tests">{tests}</ul>'
            + (f'<div class="cap">evidence (last {len(r.get("evidence") or [])} exchanges)</div>{evidence}'
               if evidence else '<div class="muted">no HTTP exchange recorded</div>')
            + "</details>")


def _findings(report: dict[str, Any]) -> str:
    """The failures grouped by root cause: one row per finding, with the requirements it fails."""
    found = report.get("findings") or []
    if not found:
        return ""
    rows = "".join(
        f'<tr id="{e(f["id"])}"><td><b>{e(f["id"])}</b></td><td><span class="lvl {e(f["level"])}">{e(f["level"])}'
        f'</span></td><td><code>{e(f["at"])}</code></td><td>{e(f["received"])}</td><td>'
        + ", ".join(f'<a href="#{e(rid)}">{e(rid)}</a>' for rid in f["requirements"]) + "</td></tr>"
        for f in found)
    return (f'<section class="findings" id="findings"><h2>Findings <span class="area-score" data-findings>'
            f'{e(report["summary"]["findings"]["line"])}</span></h2>'
            '<p class="note">One finding = one root cause (the same violation at the same place); the first '
            "requirement listed found it, the others fail through it. Scores still count per requirement.</p>"
            '<table class="areas"><thead><tr><th>finding</th><th>level</th><th>where</th><th>received</th>'
            f"<th>requirements it fails</th></tr></thead><tbody>{rows}</tbody></table></section>")


def _row(r: dict[str, Any]) -> str:
    outcome = r["outcome"]
    extra = ""
    if r.get("findings"):
        note = r.get("finding_note") or ""
        extra += ('<div class="reason">findings: ' + ", ".join(f'<a href="#{e(x)}">{e(x)}</a>' for x in r["findings"])
                  + (f" — {e(note)}" if note else "") + "</div>")
    if outcome in ("failed", "error"):
        extra += _details(r)
    elif r.get("reason"):
        extra = f'<div class="reason">{e(r["reason"])}</div>'
    feature = f' <span class="feature">{e(r["feature"])}</span>' if r.get("feature") else ""
    search = " ".join(str(r.get(k) or "") for k in ("id", "statement", "spec", "feature", "reason")).lower()
    return (f'<tbody class="req" id="{e(r["id"])}" data-outcome="{e(outcome)}" data-level="{e(r["level"])}" '
            f'data-id="{e(r["id"])}" data-text="{e(search)}"><tr><td class="id"><code>{e(r["id"])}</code></td>'
            f'<td><span class="lvl {e(r["level"])}">{e(r["level"])}</span></td>'
            f'<td><span class="badge {e(outcome)}">{e(OUTCOME_LABEL.get(outcome, outcome))}</span></td>'
            f'<td class="stmt">{e(r["statement"])}{feature}{extra}</td></tr></tbody>')


def _area_table(area: str, rows: list[dict[str, Any]], per: dict[str, Any]) -> str:
    scores = " · ".join(f"{lv} {per[lv]['score']}" for lv in LEVELS if per[lv]["judged"]) or "not run"
    return (f'<section class="area" id="area-{e(area)}" data-area="{e(area)}"><h2>{e(area)} '
            f'<span class="area-score">{e(scores)}</span></h2>'
            '<table class="reqs"><thead><tr><th>requirement</th><th>level</th><th>outcome</th>'
            '<th>statement</th></tr></thead>' + "".join(_row(r) for r in rows) + "</table></section>")


def _baseline_section(section: dict[str, Any] | None) -> str:
    """`--baseline`: failing test cases the baseline lists (known) apart from new ones, and the fixed ones."""
    if section is None:
        return ""
    parts = []
    for key, title in (("new", "New failing cases (not in the baseline)"), ("fixed", "Fixed (listed, now passing)"),
                       ("known", "Known failing cases (in the baseline)")):
        rows = section[key]
        if not rows:
            continue
        items = "".join(
            f'<li><a href="#{e(r["id"])}">{e(r["id"])}</a> {e(r["level"])} <code>{e(r.get("case") or "every case")}'
            f'</code> <span class="badge {e(r["outcome"])}">{e(r["outcome"])}</span> '
            f'{e(short(r.get("reason") if key == "known" else r.get("message"), 200))}</li>' for r in rows[:500])
        parts.append(f'<details class="bl-{key}"{" open" if key != "known" else ""}><summary>{title}: {len(rows)}'
                     f'</summary><ul>{items}</ul></details>')
    return (f'<section class="baseline" id="baseline"><h2>Baseline</h2><p>{e(baseline_line(section))}</p>'
            + "".join(parts) + "</section>")


def render(report: dict[str, Any]) -> str:
    summary = report["summary"]
    server = report.get("server") or {}
    spec = report.get("spec") or {}
    counts = {o: sum(1 for r in report["requirements"] if r["outcome"] == o) for o in OUTCOMES}
    meta_rows = [("server", server_label(report)), ("URL", f'{server.get("url")} ({server.get("kind")})'),
                 ("image", server.get("image")), ("server version", version_text(server.get("version"))),
                 ("model", report.get("model")),
                 ("spec", f'{spec.get("source", "")} @ {spec.get("commit", "unknown")} ({spec.get("date", "")})'),
                 ("suite", f'responses-conformance {report["suite"].get("version")}'),
                 ("run", f'{report.get("started")} → {report.get("finished")} ({report.get("duration_s")} s), '
                         f'pytest exit status {report.get("exit_status")}'),
                 ("command", " ".join(report.get("command") or []))]
    meta = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in meta_rows if v not in (None, "", {}))
    if spec.get("url"):
        meta += f'<dt>spec file</dt><dd><a href="{e(spec["url"])}" rel="noreferrer">{e(spec["url"])}</a></dd>'
    cards = "".join(_card(lv, summary["levels"][lv]) for lv in LEVELS)
    area_rows = []
    for area, per in summary["areas"].items():
        cells = "".join(
            f'<td class="{"bad" if per[lv]["failed"] or per[lv]["error"] else ""}">'
            f'{e(per[lv]["score"]) if per[lv]["judged"] else "–"}</td>' for lv in LEVELS)
        bad = per["all"]["failed"] + per["all"]["error"]
        area_rows.append(f'<tr><td><a href="#area-{e(area)}">{e(area)}</a></td>{cells}'
                         f'<td>{bad or ""}</td><td>{per["all"]["skipped"] or ""}</td>'
                         f'<td>{sum(per["all"][o] for o in APART) or ""}</td></tr>')
    areas_table = ('<table class="areas"><thead><tr><th>area</th>' + "".join(f"<th>{lv}</th>" for lv in LEVELS)
                   + "<th>not met</th><th>skipped</th><th>not applicable / unsupported / not run</th>"
                   + "</tr></thead><tbody>"
                   + "".join(area_rows) + "</tbody></table>")
    outcome_boxes = "".join(
        f'<label class="chk"><input type="checkbox" name="outcome" value="{o}" checked> '
        f'<span class="badge {o}">{OUTCOME_LABEL[o]}</span> <span class="n">{counts[o]}</span></label>'
        for o in OUTCOMES)
    level_boxes = "".join(f'<label class="chk"><input type="checkbox" name="level" value="{lv}" checked> '
                          f'<span class="lvl {lv}">{lv}</span></label>' for lv in LEVELS)
    by_area: dict[str, list[dict[str, Any]]] = {}
    for r in report["requirements"]:
        by_area.setdefault(r["area"], []).append(r)
    tables = "".join(_area_table(a, rows, summary["areas"][a]) for a, rows in by_area.items())
    verdict = summary["verdict"]
    body = f"""<header>
<h1>Responses API conformance report</h1>
<div class="verdict {e(verdict)}" id="verdict">{"✓" if verdict == "pass" else "✗" if verdict == "fail" else "!"}
 {e(verdict_sentence(report))}</div>
<dl class="meta">{meta}</dl>
</header>
<section class="cards" id="scores">{cards}</section>
<p class="note">Score = passed / judged requirements (passed + failed + error + skipped): a skipped requirement
could not be judged and is never counted as passed. Not applicable (the server sent nothing the requirement
is about), unsupported (feature declared absent with <code>--unsupported</code>) and not-run requirements
are shown apart and left out of the score.</p>
{_findings(report)}
<section class="by-area"><h2>By area</h2>{areas_table}</section>{_baseline_section(report.get("baseline"))}
<section class="filters" id="filters"><div class="frow"><b>outcome</b> {outcome_boxes}</div>
<div class="frow"><b>level</b> {level_boxes}
<input type="search" id="q" placeholder="filter by id, text, spec…" aria-label="filter">
<button type="button" id="expand">expand failures</button> <button type="button" id="reset">show all</button>
<span id="shown" class="muted"></span></div></section>
<main id="requirements">{tables}</main>
<div id="js-errors" hidden></div>
<footer>responses-conformance {e(report["suite"].get("version"))} · the same data is in report.json · format
 {e(report.get("format"))}</footer>"""
    return (f'<!doctype html>\n<html lang="en" data-ready="0"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Conformance: {e(server_label(report))} — {e(verdict_sentence(report))}</title>"
            f"<script>{ERROR_CATCHER}</script><style>{CSS}</style></head><body>{body}"
            f"<script>{SCRIPT}</script></body></html>\n")


ERROR_CATCHER = """
window.rcErrors = [];
window.onerror = function (msg, src, line, col) {
  window.rcErrors.push(msg + ' (line ' + line + ':' + col + ')');
  document.documentElement.setAttribute('data-js-errors', String(window.rcErrors.length));
  var box = document.getElementById('js-errors');
  if (box) { box.hidden = false; box.textContent = 'Script error: ' + window.rcErrors.join('\\n'); }
};
"""

SCRIPT = """
(function () {
  var params = new URLSearchParams(window.location.search);
  var boxes = Array.prototype.slice.call(document.querySelectorAll('#filters input[type=checkbox]'));
  var q = document.getElementById('q');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tbody.req'));
  function wanted(name) {
    var v = params.get(name);
    return v ? v.split(',').map(function (s) { return s.trim(); }) : null;
  }
  ['outcome', 'level'].forEach(function (name) {
    var want = wanted(name);
    if (!want) return;
    boxes.forEach(function (b) { if (b.name === name) b.checked = want.indexOf(b.value) >= 0; });
  });
  if (params.get('q')) q.value = params.get('q');
  function chosen(name) {
    return boxes.filter(function (b) { return b.name === name && b.checked; }).map(function (b) { return b.value; });
  }
  function apply() {
    var outcomes = chosen('outcome'), levels = chosen('level'), text = q.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (r) {
      var ok = outcomes.indexOf(r.dataset.outcome) >= 0 && levels.indexOf(r.dataset.level) >= 0 &&
               (!text || r.dataset.text.indexOf(text) >= 0);
      r.hidden = !ok;
      if (ok) shown++;
    });
    document.querySelectorAll('section.area').forEach(function (s) {
      s.hidden = !s.querySelector('tbody.req:not([hidden])');
    });
    document.getElementById('shown').textContent = 'showing ' + shown + ' of ' + rows.length + ' requirements';
    document.getElementById('requirements').setAttribute('data-shown', String(shown));
  }
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  q.addEventListener('input', apply);
  document.getElementById('reset').addEventListener('click', function () {
    boxes.forEach(function (b) { b.checked = true; }); q.value = ''; apply();
  });
  var expand = document.getElementById('expand');
  expand.addEventListener('click', function () {
    var open = expand.textContent.indexOf('expand') === 0;
    document.querySelectorAll('details.fail-details').forEach(function (d) { d.open = open; });
    expand.textContent = open ? 'collapse failures' : 'expand failures';
  });
  if (params.get('open') === '1') expand.click();
  apply();
  document.documentElement.setAttribute('data-ready', '1');
})();
"""

CSS = """
:root { --pass:#1a7f37; --fail:#cf222e; --err:#8250df; --skip:#9a6700; --uns:#57606a; --nr:#8c959f;
  --bg:#ffffff; --fg:#1f2328; --mut:#656d76; --line:#d0d7de; --soft:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; max-width: 1280px; padding: 20px 28px 40px; }
h1 { font-size: 22px; margin: 0 0 10px; } h2 { font-size: 17px; margin: 26px 0 8px; }
code, pre { font: 12px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  overflow-x: auto; white-space: pre-wrap; word-break: break-word; max-height: 420px; overflow-y: auto; margin: 4px 0; }
a { color: #0969da; }
.muted { color: var(--mut); }
.verdict { font-size: 18px; font-weight: 600; padding: 10px 14px; border-radius: 8px; margin-bottom: 12px; }
.verdict.pass { background: #dafbe1; color: var(--pass); border: 1px solid #aceebb; }
.verdict.fail { background: #ffebe9; color: var(--fail); border: 1px solid #ffcecb; }
.verdict.empty { background: #fff8c5; color: var(--skip); border: 1px solid #eed888; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; font-size: 13px; }
dl.meta dt { color: var(--mut); } dl.meta dd { margin: 0; word-break: break-all; }
.cards { display: flex; gap: 14px; margin: 18px 0 6px; flex-wrap: wrap; }
.card { flex: 1 1 220px; border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; background: #fff; }
.card.bad { border-top: 5px solid var(--fail); } .card.good { border-top: 5px solid var(--pass); }
.card.warn { border-top: 5px solid var(--skip); } .card.empty { border-top: 5px solid var(--nr); color: var(--mut); }
.card .lv { font-weight: 700; letter-spacing: .06em; color: var(--mut); }
.card .big { font-size: 34px; font-weight: 700; margin: 2px 0 6px; }
.card.bad .big { color: var(--fail); } .card.good .big { color: var(--pass); }
.card .sub { font-size: 13px; } .card .apart { font-size: 12px; color: var(--mut); min-height: 1em; }
.bar { display: flex; height: 8px; border-radius: 4px; overflow: hidden; background: var(--soft); margin-bottom: 6px; }
.seg.passed { background: var(--pass); } .seg.failed { background: var(--fail); }
.seg.error { background: var(--err); } .seg.skipped { background: var(--skip); }
.note { color: var(--mut); font-size: 12px; margin: 6px 0 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--mut); }
table.areas td.bad { color: var(--fail); font-weight: 700; }
table.areas { max-width: 900px; }
.filters { position: sticky; top: 0; background: rgba(255,255,255,.97); border: 1px solid var(--line);
  border-radius: 8px; padding: 8px 12px; margin: 22px 0 4px; z-index: 2; }
.frow { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; margin: 3px 0; }
.chk { cursor: pointer; white-space: nowrap; } .chk .n { color: var(--mut); font-size: 12px; }
#q { flex: 1 1 200px; max-width: 320px; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; }
button { padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--soft);
  cursor: pointer; }
.area h2 { border-bottom: 2px solid var(--line); padding-bottom: 4px; }
.area-score { font-size: 13px; font-weight: 400; color: var(--mut); margin-left: 10px; }
table.reqs td.id { width: 150px; white-space: nowrap; } table.reqs td:nth-child(2) { width: 70px; }
table.reqs td:nth-child(3) { width: 110px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.badge.passed, .badge.xpassed { background: var(--pass); } .badge.failed { background: var(--fail); }
.badge.error { background: var(--err); } .badge.skipped { background: var(--skip); }
.badge.unsupported, .badge.not-applicable { background: var(--uns); } .badge.not-run { background: var(--nr); }
.lvl { font-size: 11px; font-weight: 700; letter-spacing: .05em; padding: 1px 6px; border-radius: 4px;
  border: 1px solid var(--line); }
.lvl.MUST { color: var(--fail); border-color: #ffcecb; } .lvl.SHOULD { color: var(--skip); border-color: #eed888; }
.lvl.MAY { color: var(--uns); }
.feature { font-size: 11px; color: var(--mut); border: 1px dashed var(--line); border-radius: 4px; padding: 0 5px; }
.reason { color: var(--mut); font-size: 12px; margin-top: 3px; }
tbody.req[data-outcome=failed] td, tbody.req[data-outcome=error] td { background: #fff8f8; }
details.fail-details { margin-top: 5px; }
details.fail-details > summary { cursor: pointer; color: var(--fail); font-size: 12px;
  font-family: "DejaVu Sans Mono", Menlo, monospace; }
.spec { margin: 6px 0; font-size: 13px; }
blockquote { margin: 4px 0 4px 2px; padding-left: 10px; border-left: 3px solid var(--line); color: var(--mut); }
.cap { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--mut); margin-top: 8px; }
ul.tests { margin: 2px 0; padding-left: 18px; font-size: 12px; }
.exchange { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; margin: 6px 0; }
.ex-head { font-size: 12px; word-break: break-all; }
.ex-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
@media (max-width: 900px) { .ex-grid { grid-template-columns: 1fr; } }
#js-errors { background: #ffebe9; color: var(--fail); border: 1px solid var(--fail); padding: 8px; margin: 12px 0;
  white-space: pre-wrap; }
footer { margin-top: 30px; color: var(--mut); font-size: 12px; }
"""
