#!/usr/bin/env bash
# The project's own tests, from a fresh machine: install what they need, then run them.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e '.[dev]' 2>&1 | grep -v -e '^WARNING: Location' -e 'Running pip as' || true
python3 -m ruff check conformance tests benchmarks tools
# -- Peers: real servers in CI (recipes in ../shared/peers, RC_PEERS_SH overrides; installs in RC_PEERS_DIR).
#   tests/selftest/test_peer_hfserve.py  transformers serve: the seed scenario and the reasoning area (~2 min)
#   tests/selftest/test_peer_engines.py  vLLM (store on; store off) and llama.cpp: the whole suite, gated on
#                                        ci/peers/<name>-baseline.json (~3-5 min each, mostly vLLM's start-up)
#   tests/selftest/test_docker_vllm.py   the same vLLM in a container the suite starts (~3-4 min)
# The installs start now in the background and overlap the setup and the other tests; each test waits for
# its peer (and installs it itself if this did not). Costs here: hfserve ~80 s and 1.2 GB; vLLM ~100 s and
# 3.4 GB; llama.cpp ~40 s for its source, then ~10 min of compiling on 2 cores, 270 MB; the vLLM image
# ~4 min once vLLM and Docker are ready. RC_PEERS=skip skips all of it.
export RC_PEERS_DIR="${RC_PEERS_DIR:-${TMPDIR:-/tmp}/rc-peers}"
logs="${TMPDIR:-/tmp}"
mkdir -p "$RC_PEERS_DIR"
if [ "${RC_PEERS:-}" != "skip" ]; then
    # hfserve first: llama.cpp's GGUF conversion runs in its venv
    { python3 -m tools.peers install hfserve --peers-dir "$RC_PEERS_DIR" \
        && bash ci/peers/prefetch-llamacpp-sdist.sh "$RC_PEERS_DIR" \
        && python3 -m tools.peers install llamacpp --peers-dir "$RC_PEERS_DIR" --install-timeout 2400; \
    } >"$logs/rc-peers-install.log" 2>&1 &
    python3 -m tools.peers install vllm --peers-dir "$RC_PEERS_DIR" >"$logs/rc-vllm-install.log" 2>&1 &
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
    if [ "${RC_PEERS:-}" != "skip" ]; then
        # the vLLM image needs the installed wheel: build it in the background once vLLM is installed
        # (tests/selftest/test_docker_vllm.py takes the same lock, and builds it itself if this failed)
        # (`tools.peers install vllm` again waits on the background install's lock, then finds it done)
        { python3 -m tools.peers install vllm --peers-dir "$RC_PEERS_DIR"
          flock "$RC_PEERS_DIR/.vllm-image.lock" bash ci/docker/build-vllm-image.sh "$RC_PEERS_DIR"
        } >"$logs/rc-vllm-image.log" 2>&1 &
    fi
fi
python3 -m pytest -p no:cacheprovider -n 2 tests/unit tests/selftest "$@"
