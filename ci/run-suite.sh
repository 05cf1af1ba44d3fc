#!/usr/bin/env bash
# Run the Responses API conformance suite against a server and gate the result; for any CI system.
#
#   ci/run-suite.sh [--report-dir DIR] [--baseline FILE] [--strict-should] [--] SUITE OPTIONS...
#
#   ci/run-suite.sh --baseline ci/known-failures.json -- \
#       --server-image vllm/vllm-openai:v0.11.0 --server-preset vllm --gpus all --model Qwen/Qwen3-0.6B
#   ci/run-suite.sh -- --server-url http://127.0.0.1:8000/v1 --model my-model -n 4
#
# Environment (instead of the flags): RC_REPORT_DIR (default: conformance-report), RC_BASELINE,
# RC_STRICT_SHOULD=1, PYTHON (default: python3, with responses-conformance installed, e.g. pip install -e .).
# When GITHUB_STEP_SUMMARY is set, report.md and the gate's verdict are appended to it.
#
# Exit status: the gate's (0 accepted, 1 rejected: a new MUST failure or a stale baseline entry,
# 2 report or baseline missing or malformed), or pytest's own when the run itself broke (2 interrupted,
# 3 internal error, 4 usage error or the server could not be started, 5 no test ran).
set -uo pipefail

report_dir="${RC_REPORT_DIR:-conformance-report}"
baseline="${RC_BASELINE:-}"
strict="${RC_STRICT_SHOULD:-}"
py="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --report-dir) report_dir="$2"; shift 2 ;;
    --report-dir=*) report_dir="${1#*=}"; shift ;;
    --baseline) baseline="$2"; shift 2 ;;
    --baseline=*) baseline="${1#*=}"; shift ;;
    --strict-should) strict=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) break ;;
  esac
done

suite_dir="$("$py" -c 'from conformance.plugin import SUITE_DIR; print(SUITE_DIR)')" || {
  echo "run-suite: cannot import the conformance package with $py; install it (pip install -e <suite checkout>)" >&2
  exit 4
}
mkdir -p "$report_dir"
report_dir="$(cd "$report_dir" && pwd)"

# --report-dir=DIR, with '=': pytest must not take DIR for a test path (see conformance.plugin.reporting.PATH_OPTIONS)
"$py" -m pytest "$suite_dir" "--report-dir=$report_dir" "$@"
rc=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$report_dir/report.md" ]; then
  cat "$report_dir/report.md" >> "$GITHUB_STEP_SUMMARY"
fi
if [ "$rc" -gt 1 ]; then
  echo "run-suite: the suite run itself broke (pytest exit status $rc); see the output above" >&2
  exit "$rc"
fi

gate=("$py" -m conformance gate)
[ -n "$baseline" ] && gate+=(--baseline "$baseline")
[ -n "$strict" ] && gate+=(--strict-should)
"${gate[@]}" "$report_dir/report.json"
verdict=$?
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ "$verdict" -lt 2 ]; then
  "${gate[@]}" --markdown "$report_dir/report.json" >> "$GITHUB_STEP_SUMMARY"
fi
echo "run-suite: reports in $report_dir (report.html, report.md, report.json, junit.xml, allure-results/)"
exit "$verdict"
