#!/usr/bin/env bash
# The project's own tests, from a fresh machine: install what they need, then run them.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[dev]' 2>&1 | grep -v -e '^WARNING: Location' -e 'Running pip as' || true
python3 -m ruff check conformance tests benchmarks ci 2>/dev/null || python3 -m ruff check conformance tests
python3 -m pytest -p no:cacheprovider -n 2 tests/unit tests/selftest "$@"
