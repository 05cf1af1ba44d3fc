"""Captured client requests: package them as suite data (and, later, record new ones).

    python -m tools.capture package ../shared/clients/captured conformance/suite/clients

copies each `<client>/NN-<step>.json` capture (the format of ../shared/clients/captured: client,
label, method, path, request_headers, request, status, response_content_type, response or
response_sse) into the suite's package data, trimmed to what a replay needs: the request body as
sent, the user agent, the status, and of the reply only the final response object's id and output
(or the error), so ids the client handed back can be matched to the server's on a replay.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conformance.judge.replay import final_of_capture

KEPT_HEADERS = ("user-agent", "originator")


def trim(capture: dict[str, Any]) -> dict[str, Any]:
    """The parts of one capture a replay reads."""
    final = final_of_capture(capture)
    reply: Any = None
    if isinstance(final, dict) and "output" in final:
        reply = {"id": final.get("id"), "status": final.get("status"), "output": final.get("output")}
    elif isinstance(capture.get("response"), dict):
        reply = capture["response"]  # an error body
    return {
        "client": capture.get("client"), "label": capture.get("label"), "method": capture.get("method", "POST"),
        "path": capture.get("path", "/v1/responses"),
        "request_headers": {k: v for k, v in (capture.get("request_headers") or {}).items() if k in KEPT_HEADERS},
        "request": capture.get("request"), "status": capture.get("status"),
        "response_content_type": capture.get("response_content_type"), "response": reply,
    }


def package(src: Path, dest: Path) -> int:
    n = 0
    for path in sorted(src.glob("*/*.json")):
        out = dest / path.parent.name / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(trim(json.loads(path.read_text())), indent=1, ensure_ascii=False) + "\n")
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.capture", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pack = sub.add_parser("package", help="copy captures into the suite's package data, trimmed")
    pack.add_argument("src", type=Path)
    pack.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    if args.command == "package":
        print(f"{package(args.src, args.dest)} captures written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
