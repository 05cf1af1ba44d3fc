"""pytest wiring of the reports: the run's context from pytest's config, Allure marks, the terminal summary,
and the path-valued options pytest would otherwise misread."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance.plugin import concurrency, interrupts
from conformance.reports.allure import allure_marks
from conformance.reports.gate import annotate
from conformance.reports.model import baseline_line, finding_line, short
from conformance.reports.report import RunContext, build_report, spec_source, write_all
from conformance.suite.requirements import Requirement

_SPEC_COMMIT: list[str | None] = []


def spec_commit() -> str | None:
    if not _SPEC_COMMIT:
        _SPEC_COMMIT.append(spec_source().get("commit"))
    return _SPEC_COMMIT[0]




def server_info(handle: Any) -> dict[str, Any]:
    """What a report says about the server: from `ServerHandle` (url, kind, model, info)."""
    if handle is None:
        return {}
    info = dict(getattr(handle, "info", {}) or {})
    return {"url": handle.url, "kind": handle.kind, "model": handle.model,
            "image": info.get("image"), "image_id": info.get("image_id") or info.get("digest"),
            "version": info.get("version"), "info": info}


def context_from_config(config: Any, handle: Any, started: float | None, finished: float | None,
                        exit_status: int | None) -> RunContext:
    opt = config.option
    args = [str(a) for a in getattr(config.invocation_params, "args", ())]
    options = {"unsupported": [f for f in (getattr(opt, "unsupported", "") or "").split(",") if f],
               "profile": getattr(opt, "profile", None) or None,
               "requirements": [r for r in (getattr(opt, "requirements", "") or "").split(",") if r],
               "area": [a for a in (getattr(opt, "area", "") or "").split(",") if a],
               "level": [lv for lv in (getattr(opt, "level", "") or "").split(",") if lv],
               "baseline": getattr(opt, "baseline", None),
               "config_file": getattr(opt, "rc_config_file", None),
               "request_timeout": getattr(opt, "request_timeout", None),
               "concurrency": getattr(opt, "concurrency", None)}
    ahead = concurrency.summary(config)
    return RunContext(server=server_info(handle), started=started, finished=finished,
                      command=["pytest", *args], options=options, exit_status=exit_status,
                      secrets=[getattr(opt, "api_key", None), getattr(handle, "api_key", None)],
                      interrupted=interrupts.cause(exit_status), concurrency=ahead, notes=concurrency.notes(ahead))


def enable_allure(config: Any) -> None:
    """`--report-dir DIR` implies allure-pytest results in DIR/allure-results (unless --alluredir is given).

    Runs before allure-pytest's own configure hook (the plugin's tryfirst `pytest_cmdline_main`, which
    xdist workers run too, so every worker writes its tests' results there).  The controller empties
    the directory first, so results of an earlier run in the same DIR do not mix in.
    """
    option = config.option
    report_dir = getattr(option, "report_dir", None)
    if not report_dir or not hasattr(option, "allure_report_dir") or option.allure_report_dir:
        return
    target = Path(report_dir).resolve() / "allure-results"
    if not hasattr(config, "workerinput") and target.is_dir():
        import shutil

        shutil.rmtree(target, ignore_errors=True)
    option.allure_report_dir = str(target)


def add_allure_marks(config: Any, item: Any, req: Requirement) -> None:
    """Label a collected test for Allure when Allure results are being written."""
    if not getattr(config.option, "allure_report_dir", None):
        return
    import pytest

    for name, args, kwargs in allure_marks(req, spec_commit()):
        item.add_marker(getattr(pytest.mark, name)(*args, **kwargs))


def finish_session(config: Any, collector: Any, handle: Any, exit_status: int | None,
                   baseline: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Build the run's report (for the terminal summary) and write the files when --report-dir is given;
    with a `--baseline`, the report's `baseline` section tells known failing cases from new ones."""
    records = collector.records()
    report_dir = getattr(config.option, "report_dir", None)
    if not report_dir and not any(r.requirement for r in records):
        return None
    context = context_from_config(config, handle, collector.started, collector.finished, exit_status)
    report = build_report(records, context)
    if baseline is not None:
        report["baseline"] = annotate(report, baseline, getattr(config.option, "baseline", None))
    if report_dir:
        write_all(Path(report_dir), report, context.secrets)
        report["_dir"] = str(report_dir)
    return report


def terminal_lines(report: dict[str, Any], max_listed: int = 12) -> list[str]:
    """The score lines (and what did not pass) for pytest's terminal summary."""
    report_dir = Path(report["_dir"]) if report.get("_dir") else None
    lines = list(report["summary"]["lines"])
    lines += [f"INCOMPLETE: {note}" if report.get("incomplete") and i == 0 else f"note: {note}"
              for i, note in enumerate(report.get("notes") or [])]
    listed = [e for e in report["requirements"]
              if e["outcome"] in ("failed", "error", "skipped", "not-applicable", "unsupported")]
    section = report.get("baseline")
    if section is not None:  # known failures apart from new ones, per test case
        lines.append("baseline: " + baseline_line(section))
        known = {row["id"] for row in section["known"]} - {row["id"] for row in section["new"]}
        listed = [e for e in listed if e["id"] not in known]
        for row in section["fixed"]:
            lines.append(f"  fixed       {row['id']} {row['level']}: {row['case'] or 'every case'} now passes "
                         "(remove it from the baseline)")
    for e in listed[:max_listed]:
        why = short(e.get("reason") or e.get("message"), 110)
        if e.get("findings"):
            owners = sorted({f["owner"] for f in report.get("findings") or [] if f["id"] in e["findings"]} - {e["id"]})
            only = f"; only through {', '.join(owners)}'s" if e.get("finding_note") else ""
            why = f"[{', '.join(e['findings'])}{only}] {why}"
        lines.append(f"  {e['outcome']:<11} {e['id']} {e['level']}: {why}")
    if len(listed) > max_listed:
        lines.append(f"  ... and {len(listed) - max_listed} more (see the report)")
    found = report.get("findings") or []
    if found:
        lines.append("findings (one root cause each; the first requirement found it):")
        lines += [f"  {short(finding_line(f), 150)}" for f in found[:max_listed]]
        if len(found) > max_listed:
            lines.append(f"  ... and {len(found) - max_listed} more findings (see the report)")
    if report_dir is not None:
        lines.append(f"reports: {report_dir}/report.html (also report.md, report.json, junit.xml"
                     + (", allure-results/)" if (report_dir / "allure-results").is_dir() else ")"))
    return lines


def command_string(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


# -- path-valued options and pytest's rootdir -----------------------------------------------------

# pytest finds its rootdir and ini file before plugins load, from a first parse of the command line
# that does not know this plugin's options: in `--report-dir /abs/dir` it takes an existing /abs/dir
# for a test path, so the rootdir, the ini file (testpaths, addopts) and the tests collected change.
# The `--opt=value` form is immune.
PATH_OPTIONS = ("--report-dir", "--results-json", "--baseline", "--conformance-config", "--record", "--replay")


def joined_path_options(args: Iterable[str]) -> list[str]:
    """`--report-dir DIR` -> `--report-dir=DIR` (for the arguments xdist hands to its workers)."""
    out: list[str] = []
    items = [str(a) for a in args]
    i = 0
    while i < len(items):
        if items[i] in PATH_OPTIONS and i + 1 < len(items):
            out.append(f"{items[i]}={items[i + 1]}")
            i += 2
        else:
            out.append(items[i])
            i += 1
    return out


def fix_worker_args(config: Any) -> None:
    """On the controller: workers start after DIR exists, so give them `--report-dir=DIR`."""
    import dataclasses

    params = config.invocation_params
    args = joined_path_options(params.args)
    if list(params.args) != args:
        config.invocation_params = dataclasses.replace(params, args=tuple(args))


def path_option_problem(config: Any, args: Iterable[str]) -> str | None:
    """When a separate existing path after --report-dir/--results-json moved pytest's rootdir: how to fix it.

    Only then: `--report-dir reports` inside the project leaves the rootdir where it was.
    """
    items = [str(a) for a in args]
    suspects = [items[i + 1] for i, a in enumerate(items[:-1]) if a in PATH_OPTIONS and Path(items[i + 1]).exists()]
    if not suspects:
        return None
    try:
        from _pytest.config.findpaths import determine_setup

        ns = config.known_args_namespace
        paths = [p for p in (getattr(ns, "file_or_dir", None) or []) if p not in suspects]
        rootpath, inipath, *_ = determine_setup(
            inifile=ns.inifilename, override_ini=ns.override_ini, args=paths, rootdir_cmd_arg=ns.rootdir or None,
            invocation_dir=config.invocation_params.dir)
    except Exception:  # another pytest version: no check rather than a wrong one
        return None
    if rootpath == config.rootpath and inipath == config.inipath:
        return None
    option = next(a for a in items if a in PATH_OPTIONS and items[items.index(a) + 1] in suspects)
    value = items[items.index(option) + 1]
    return (f"write {option}={value} (with '='): pytest took the existing path {value} for a test path before "
            f"this plugin loaded, which moved its rootdir to {config.rootpath} and changes the tests it collects")
