"""Run the reference server: `python -m conformance.refserver --port 8000 [--defect NAME]`."""

from __future__ import annotations

import argparse
import signal
import sys

from conformance.refserver import defects
from conformance.refserver.app import RefServer, add_timing_options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.refserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port; default: %(default)s)")
    parser.add_argument("--defect", help="plant one defect (see --list-defects)")
    parser.add_argument("--api-key", help="require this bearer token on /v1 routes")
    parser.add_argument("--gzip", action="store_true",
                        help="gzip every reply a request accepts gzip for (valid HTTP: nothing may fail)")
    add_timing_options(parser.add_argument, "--")
    parser.add_argument("--list-defects", action="store_true", help="list the planted defects and exit")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if args.list_defects:
        for d in sorted(defects.load_all().values(), key=lambda d: (d.area, d.name)):
            print(f"{d.name:<36} {d.area:<11} -> {', '.join(d.targets)}\n{'':<36} {d.summary}")
        return 0
    try:
        server = RefServer(args.host, args.port, defect=args.defect, api_key=args.api_key, quiet=not args.verbose,
                           compress=args.gzip, latency=args.latency, serial=args.serial,
                           max_in_flight=args.max_in_flight)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    defect = f" with planted defect {args.defect!r}" if args.defect else ""
    print(f"refserver listening on {server.url}{defect}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
