#!/usr/bin/env bash
# Build the failure-mode images used by the container-lifecycle tests:
#
#   responses-conformance/exits-at-start:local  logs a few lines, exits with code 3
#   responses-conformance/never-healthy:local   runs forever, logs every second,
#                                               never listens on port 8000
#
#   ci/docker/build-test-images.sh
#
# Both build from Dockerfiles in this directory with an empty context, on top
# of the local base image (built first if missing). Unchanged rebuilds are
# served from Docker's layer cache.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "build-test-images: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

"$HERE/start-dockerd.sh"
"$HERE/build-base-image.sh"   # no-op when the base image exists

CTX="$(mktemp -d "${TMPDIR:-/tmp}/rc-test-images-ctx.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT

for name in exits-at-start never-healthy; do
    image="responses-conformance/$name:local"
    cp "$HERE/Dockerfile.$name" "$CTX/Dockerfile"
    old_id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
    DOCKER_BUILDKIT=0 docker build -t "$image" "$CTX" >&2 \
        || die "docker build of $image failed"
    new_id="$(docker image inspect --format '{{.Id}}' "$image")"
    if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
        docker image rm "$old_id" >/dev/null 2>&1 || true   # the replaced, now untagged image
    fi
    log "built $image"
done
