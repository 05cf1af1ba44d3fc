#!/usr/bin/env bash
# Build responses-conformance/refserver:local from the repo's conformance/
# package, on top of the local base image (built first if missing).
#
#   ci/docker/build-refserver-image.sh [--no-cache]
#
# The build context is a temporary directory holding only conformance/ (no
# __pycache__, no .pyc) and the Dockerfile, so the build is fast whatever else
# is in the work tree. Always rebuilds; Docker's layer cache makes an unchanged
# rebuild take about a second.
set -euo pipefail

IMAGE="${REFSERVER_IMAGE:-responses-conformance/refserver:local}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

log() { echo "build-refserver-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

build_args=()
for arg in "$@"; do
    case "$arg" in
        --no-cache) build_args+=(--no-cache) ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

[ -d "$REPO/conformance" ] || die "$REPO/conformance not found"
[ -d "$REPO/conformance/refserver" ] || log "WARNING: $REPO/conformance/refserver does not exist yet; the image will build but not run"

"$HERE/start-dockerd.sh"
"$HERE/build-base-image.sh"   # no-op when the base image exists

CTX="$(mktemp -d "${TMPDIR:-/tmp}/rc-refserver-ctx.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT

tar -C "$REPO" -c \
    --exclude='__pycache__' --exclude='*.pyc' --exclude='*.pyo' \
    --exclude='.pytest_cache' --exclude='.mypy_cache' --exclude='.ruff_cache' \
    conformance | tar -C "$CTX" -x
cp "$HERE/Dockerfile.refserver" "$CTX/Dockerfile"

rev="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
OLD_ID="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
START=$(date +%s)
# Debian's docker.io has no buildx plugin: use the classic builder explicitly.
DOCKER_BUILDKIT=0 docker build "${build_args[@]}" \
    --label "responses-conformance.git-revision=$rev" \
    -t "$IMAGE" "$CTX" >&2 || die "docker build failed"
NEW_ID="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
    docker image rm "$OLD_ID" >/dev/null 2>&1 || true   # the replaced, now untagged image
fi
SIZE="$(docker image inspect --format '{{.Size}}' "$IMAGE")"
log "built $IMAGE in $(( $(date +%s) - START ))s ($((SIZE / 1024 / 1024)) MiB)"
