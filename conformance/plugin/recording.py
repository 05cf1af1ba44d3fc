"""`--record DIR` and `--replay DIR` in pytest: which process records, the manifest, and what a test that
met an unrecorded request is reported as.  The recording itself is `wire.record`'s job, the replay
server `server.replay`'s; the format is described in docs/recording.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from conformance.base.redact import REDACTOR, redact, redact_command, redactor_for, scrub_dir
from conformance.base.version import facts
from conformance.server.replay import RecordingProblem, ReplayServer, open_recording
from conformance.wire import record
from conformance.wire.http import Exchange

# the options of the recorded run a replay takes over unless the command line sets them: with them the
# suite sends the same requests (fuzz seed and counts; --concurrency sizes the fuzz batches, and so where a
# fuzz run that stops early stops), declares the same features unsupported and selects the same requirements
REPLAYED_OPTIONS = {"model": "--model", "request_timeout": "--request-timeout", "fuzz_seed": "--fuzz-seed",
                    "fuzz_examples": "--fuzz-examples", "load_concurrency": "--load-concurrency",
                    "concurrency": "--concurrency",
                    "unsupported": "--unsupported", "profile": "--profile", "area": "--area",
                    "requirements": "--requirements", "level": "--level"}
RUN_OPTIONS = (*REPLAYED_OPTIONS, "baseline")


def add_options(group: Any) -> None:
    group.addoption("--record", metavar="DIR", default=None,
                    help="write every HTTP exchange of the run to DIR as it happens (secrets redacted), with a "
                    "manifest and the report: re-grade it later with --replay DIR")
    group.addoption("--replay", metavar="DIR", default=None,
                    help="run against a recording (DIR of --record, or a .tar.gz of one) instead of a server; "
                    "a request it does not hold makes its test 'not run (not recorded)'")


def problem(option: Any) -> str | None:
    """Option combinations that cannot work."""
    replay = getattr(option, "replay", None)
    if not replay:
        return None
    if getattr(option, "record", None):
        return "--record and --replay together: a replay is already a recording; record the server instead"
    for name in ("server_url", "server_image", "server_cmd", "server_preset"):
        if getattr(option, name, None):
            return f"--replay and --{name.replace('_', '-')} together: a replay answers instead of a server"
    return None


def apply_replay_defaults(option: Any, given: set[str]) -> None:
    """The recorded run's options (model, fuzz seed, features) where the command line does not set them."""
    if not getattr(option, "replay", None):
        return
    try:
        manifest = open_recording(option.replay).manifest
    except RecordingProblem:
        return  # said once, clearly, when the replay server starts
    recorded = manifest.get("options") or {}
    for dest, flag in REPLAYED_OPTIONS.items():
        if flag not in given and recorded.get(dest) is not None:
            setattr(option, dest, recorded[dest])


def start_process(option: Any) -> None:
    """Every process of the run (controller and xdist workers) records its own exchanges, or tags them."""
    if getattr(option, "record", None):
        REDACTOR.add(getattr(option, "api_key", None))  # before the first exchange (the preflight's) is written
        if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller, before any worker starts writing
            _clear(Path(option.record))
        record.start_recording(Path(option.record))
    elif getattr(option, "replay", None):
        record.start_replaying()


def _clear(directory: Path) -> None:
    """An earlier recording in DIR is replaced, not mixed in (only the files a recording consists of)."""
    for path in [*record.exchange_files(directory), *(directory / n for n in ("manifest.json", "report.json",
                                                                             "results.json"))]:
        path.unlink(missing_ok=True)


def replay_server(option: Any) -> ReplayServer | None:
    if not getattr(option, "replay", None):
        return None
    return ReplayServer(option.replay, getattr(option, "model", None), getattr(option, "api_key", None))


def _run_options(option: Any) -> dict[str, Any]:
    return {name: getattr(option, name, None) for name in RUN_OPTIONS}


def write_manifest(config: Any, handle: Any, report: dict[str, Any] | None = None) -> None:
    """DIR/manifest.json: at the start (the server and the run), again at the end with the exchange index."""
    option = config.option
    directory = Path(option.record)
    info = dict(getattr(handle, "info", {}) or {}) if handle is not None else {}
    server = {"url": getattr(handle, "url", None), "kind": getattr(handle, "kind", None),
              "model": getattr(handle, "model", None), "image": info.get("image"),
              "image_id": info.get("image_id") or info.get("digest"), "version": info.get("version"), "info": info}
    secrets = [getattr(option, "api_key", None), getattr(handle, "api_key", None)]
    manifest: dict[str, Any] = {
        "format": record.RECORDING_FORMAT,
        "about": "docs/recording.md: one file per exchange in exchanges/, replay with pytest --replay DIR",
        "suite": facts(),
        "server": server,
        "api_key": bool(getattr(handle, "api_key", None)),  # whether requests carried one (never its value)
        "options": _run_options(option),
        "command": redact_command(["pytest", *[str(a) for a in config.invocation_params.args]], redactor_for(secrets)),
        "started": _iso(time.time()),
    }
    previous = directory / "manifest.json"
    if report is not None and previous.is_file():  # the final manifest keeps the start time
        with contextlib.suppress(OSError, ValueError):
            manifest["started"] = json.loads(previous.read_text(encoding="utf-8")).get("started", manifest["started"])
    if report is not None:
        manifest["finished"] = _iso(time.time())
        manifest["report"] = "report.json"
        manifest["outcomes"] = {t["nodeid"]: t["outcome"] for t in report.get("tests") or []}
        manifest["exchanges"] = record.index(directory)
    directory.mkdir(parents=True, exist_ok=True)
    red = redactor_for(secrets)
    (directory / "manifest.json").write_text(json.dumps(redact(manifest, red), indent=1, ensure_ascii=False) + "\n",
                                             encoding="utf-8")


def finish(config: Any, handle: Any, report: dict[str, Any] | None, results: list[dict[str, Any]]) -> None:
    """At the end of the run (controller): the report and results beside the exchanges, the final manifest,
    and a last scrub of every known secret from the directory."""
    directory = Path(config.option.record)
    secrets = [getattr(config.option, "api_key", None), getattr(handle, "api_key", None)]
    red = redactor_for(secrets)
    if report is not None:
        clean = redact({k: v for k, v in report.items() if not k.startswith("_")}, red)
        (directory / "report.json").write_text(json.dumps(clean, indent=1, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    (directory / "results.json").write_text(json.dumps(redact(results, red), indent=1) + "\n", encoding="utf-8")
    write_manifest(config, handle, report or {"tests": results})
    scrub_dir(directory, red)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# -- per test --------------------------------------------------------------------------------------


def _recorded_name(ex: Exchange) -> str | None:
    for k, v in (ex.response_headers or {}).items():
        if k.lower() == record.RECORDED_HEADER:
            return v
    return None


def evidence_dicts(exchanges: list[Exchange]) -> list[dict[str, Any]]:
    """The evidence of a test, each exchange naming its file in the recording when there is one."""
    out = []
    for ex in exchanges:
        d = ex.as_dict()
        name = _recorded_name(ex)
        if name:
            d["recorded"] = f"exchanges/{name}.json"
        out.append(d)
    return out


def _unrecorded(ex: Exchange) -> bool:
    return ex.status == record.NOT_RECORDED_STATUS and any(
        k.lower() == record.REPLAY_HEADER and v == "not-recorded" for k, v in (ex.response_headers or {}).items())


def after_report(item: Any, report: Any, exchanges: list[Exchange]) -> None:
    """Replaying: a test that met a request the recording does not hold is not run (not recorded), whatever
    it concluded from the marker answer.  Recording or replaying: a failure names its exchange files."""
    if not record.active() or report.when not in ("setup", "call"):
        return
    if record.REPLAYING:
        missing = record.not_recorded(item.nodeid) + [f"{ex.method} {ex.url}" for ex in exchanges if _unrecorded(ex)]
        if missing:  # a skip too: it may have skipped for want of an answer (a shared reply it depends on)
            reason = (f"not run (not recorded): the recording holds no answer to {missing[0]}"
                      + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                      + "; the request differs from the recorded run's")
            path, line = item.location[0], item.location[1] or 0
            report.outcome = "skipped"
            report.longrepr = (path, line, f"Skipped: {reason}")
            report.user_properties.append(("not_recorded", reason))
            return
    if report.failed and isinstance(report.longrepr, str):
        names = list(dict.fromkeys(n for n in (_recorded_name(ex) for ex in exchanges[-6:]) if n))
        if names:
            where = item.config.option.record or item.config.option.replay
            report.longrepr += f"\nRecorded exchanges ({where}): " + ", ".join(f"exchanges/{n}.json" for n in names)
