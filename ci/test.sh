#!/usr/bin/env bash
# The project's own tests, from a fresh machine: install what they need, then run them.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[dev]' 2>&1 | grep -v -e '^WARNING: Location' -e 'Running pip as' || true
# -- The client libraries the clients area runs live (CLIENT-*-002, the `clients` extra): ~11 s with a warm pip
# cache, in the background; waited for before the tests (without them the clean-server self-test fails).
python3 -m pip install -q 'openai-agents>=0.24' 'langchain-openai>=1.7' 'pydantic-ai-slim[openai]>=2.68' \
    >"${TMPDIR:-/tmp}/rc-clients-install.log" 2>&1 &
clients_pid=$!
# ... and the Codex CLI for CLIENT-CODEX-002 (`codex exec` live; npm, its native binary inside the package): ~5 s
export RC_CODEX="${TMPDIR:-/tmp}/rc-codex/node_modules/.bin/codex"
if command -v npm >/dev/null 2>&1 && [ ! -x "$RC_CODEX" ]; then
    npm install --prefix "${TMPDIR:-/tmp}/rc-codex" --no-audit --no-fund -q @openai/codex@0.171.0 \
        >"${TMPDIR:-/tmp}/rc-codex-install.log" 2>&1 &
    codex_pid=$!
fi
python3 -m ruff check conformance tests benchmarks tools
# -- Peers: tests/selftest/test_peer_hfserve.py runs the seed scenario and the reasoning area against a real
# third-party server (transformers serve + a tiny reasoner; recipes in ../shared/peers, RC_PEERS_SH overrides),
# gated on ci/peers/hfserve-baseline.json. Its install
# (~80 s, 1.2 GB in RC_PEERS_DIR) starts now in the background, overlapping the setup below; the test waits
# for it (and installs itself if this did not). RC_PEERS=skip skips that test.
export RC_PEERS_DIR="${RC_PEERS_DIR:-${TMPDIR:-/tmp}/rc-peers}"
if [ "${RC_PEERS:-}" != "skip" ]; then
    python3 -m tools.peers install hfserve --peers-dir "$RC_PEERS_DIR" \
        >"${TMPDIR:-/tmp}/rc-peers-install.log" 2>&1 &
fi
# -- Chromium for the HTML report's browser test (tests/selftest/test_report_browser.py): Debian's
# package when no Chromium/Chrome is present; if it cannot be installed that test skips and says why.
if ! command -v chromium >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    chromium_log="${TMPDIR:-/tmp}/rc-chromium-install.log"
    if command -v apt-get >/dev/null 2>&1 && { $sudo apt-get update -qq \
            && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$chromium_log" 2>&1; then
        echo "ci/test.sh: chromium installed" >&2
    else
        echo "ci/test.sh: chromium could not be installed (log: $chromium_log); the browser test will skip" >&2
    fi
fi
# -- Docker: the container self-tests (tests/selftest/test_docker_*.py) need an engine and the
# local images. Install/start dockerd and build the images here; if that fails the run fails
# now, with the reason, and the tests may not skip (RC_REQUIRE_DOCKER=1). RC_DOCKER=skip opts out.
if [ "${RC_DOCKER:-}" != "skip" ]; then
    docker_t0=$(date +%s)
    docker_log="${TMPDIR:-/tmp}/rc-docker-setup.log"
    if ! { bash ci/docker/start-dockerd.sh && bash ci/docker/build-refserver-image.sh \
            && bash ci/docker/build-test-images.sh; } >"$docker_log" 2>&1; then
        tail -n 40 "$docker_log" >&2
        echo "ci/test.sh: ERROR: Docker could not be started or the test images not built (log: $docker_log);" \
             "RC_DOCKER=skip runs without the Docker tests" >&2
        exit 1
    fi
    export RC_REQUIRE_DOCKER=1
    echo "ci/test.sh: Docker engine and images ready in $(( $(date +%s) - docker_t0 )) s" >&2
fi
[ -z "${codex_pid:-}" ] || wait "$codex_pid" || echo "ci/test.sh: the Codex CLI could not be installed" \
    "(log: ${TMPDIR:-/tmp}/rc-codex-install.log); CLIENT-CODEX-002 skips" >&2
wait "$clients_pid" || echo "ci/test.sh: the client libraries could not be installed" \
    "(log: ${TMPDIR:-/tmp}/rc-clients-install.log); their live requirements skip" >&2
python3 -m pytest -p no:cacheprovider -n 2 tests/unit tests/selftest "$@"
