"""`python -m conformance COMMAND` (also the `responses-conformance` command): the suite's tools in one place.

    gate          judge a report.json against a baseline of known failures (the release gate)
    compare       several report.json files side by side, or two runs of one server
    report        render the report formats again from a report.json or a --results-json file
    requirements  list every requirement with its id, level and spec reference
    refserver     run the embedded reference server (planted defects with --defect)
    version       the suite's version and commit, the openai SDK's, and the spec's commit

Running the suite itself is `pytest --server-url URL --model M` (the plugin is installed with the package).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "gate": "conformance.reports.gate",
    "compare": "conformance.reports.compare",
    "report": "conformance.reports.report",
    "requirements": "conformance.suite.requirements.__main__",
    "refserver": "conformance.refserver.__main__",
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if args else 2
    if args[0] in ("version", "--version", "-V"):
        from conformance.reports.report import version_line

        print(version_line())
        return 0
    module = COMMANDS.get(args[0])
    if module is None:
        print(f"responses-conformance: unknown command {args[0]!r}; commands: {', '.join([*COMMANDS, 'version'])}",
              file=sys.stderr)
        return 2
    sys.argv = [f"responses-conformance {args[0]}", *args[1:]]
    return int(importlib.import_module(module).main(args[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
