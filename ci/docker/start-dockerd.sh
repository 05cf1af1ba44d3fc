#!/usr/bin/env bash
# Make a Docker engine usable on this machine (idempotent).
#
#   ci/docker/start-dockerd.sh            # install if needed, start if needed, wait
#
# - If `docker info` already works, does nothing and exits 0.
# - Installs Debian's docker.io (dockerd + containerd + runc) if dockerd is
#   missing (one `apt-get update` first).
# - Starts dockerd in the background, detached from this shell, logging to
#   $DOCKERD_LOG (default /tmp/dockerd.log), and waits up to
#   $DOCKERD_WAIT_SECONDS (default 60) for `docker info` to answer.
#
# Flags: on this machine kind (Debian bookworm VM, root, kernel with overlayfs
# and nf_tables iptables) dockerd's defaults work: overlay2 storage, the
# default docker0 bridge, iptables NAT, so `-p 127.0.0.1:0:8000` publishing
# works. Extra flags can be given in $DOCKERD_FLAGS. If the first start fails
# and no flags were given, one retry is made with a conservative fallback
# (--storage-driver=vfs), which is slower but needs no kernel support.
#
# Exits non-zero with a clear message (and the tail of the log) on failure.
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
DOCKERD_WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"
DOCKERD_FLAGS="${DOCKERD_FLAGS:-}"
FALLBACK_FLAGS="--storage-driver=vfs"

log() { echo "start-dockerd: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

docker_ok() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && docker_ok; then
    log "docker engine already running ($(docker info --format '{{.ServerVersion}} / {{.Driver}}' 2>/dev/null))"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root to install/start dockerd"

if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found; installing docker.io from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends docker.io iptables >&2 \
        || die "apt-get install docker.io failed"
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still not on PATH"
fi
command -v docker >/dev/null 2>&1 || die "docker CLI not found (docker.io should provide /usr/bin/docker)"

# Wait for `docker info`; returns 1 if dockerd died or the timeout passed.
wait_for_docker() {
    local pid="$1" i
    for ((i = 0; i < DOCKERD_WAIT_SECONDS * 2; i++)); do
        if docker_ok; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            log "dockerd (pid $pid) exited"
            return 1
        fi
        sleep 0.5
    done
    return 1
}

# Is some dockerd already running (e.g. still starting up)?
existing_pid="$(pgrep -x dockerd | head -n1 || true)"
if [ -n "$existing_pid" ]; then
    log "dockerd already running (pid $existing_pid) but not answering yet; waiting"
    if wait_for_docker "$existing_pid"; then
        log "docker engine ready"
        exit 0
    fi
    die "dockerd pid $existing_pid is running but 'docker info' fails after ${DOCKERD_WAIT_SECONDS}s; see $DOCKERD_LOG"
fi

start_dockerd() {
    # $@: extra flags. A stale pid file from an earlier, killed dockerd would
    # make it refuse to start.
    local pidfile=/var/run/docker.pid
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; then
        rm -f "$pidfile"
    fi
    log "starting: dockerd $* (log: $DOCKERD_LOG)"
    {
        echo "==== $(date -u +%FT%TZ) start-dockerd: dockerd $*"
    } >>"$DOCKERD_LOG"
    # setsid + nohup: survive the end of the calling shell / job's process group.
    # shellcheck disable=SC2086
    setsid nohup dockerd "$@" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    DOCKERD_PID=$!
}

# shellcheck disable=SC2086
start_dockerd $DOCKERD_FLAGS
if wait_for_docker "$DOCKERD_PID"; then
    log "docker engine ready ($(docker info --format '{{.ServerVersion}} / {{.Driver}}' 2>/dev/null))"
    exit 0
fi

if [ -z "$DOCKERD_FLAGS" ]; then
    log "dockerd did not come up with default flags; last log lines:"
    tail -n 15 "$DOCKERD_LOG" >&2 || true
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    # shellcheck disable=SC2086
    start_dockerd $FALLBACK_FLAGS
    if wait_for_docker "$DOCKERD_PID"; then
        log "docker engine ready with fallback flags '$FALLBACK_FLAGS'"
        exit 0
    fi
fi

log "last lines of $DOCKERD_LOG:"
tail -n 30 "$DOCKERD_LOG" >&2 || true
die "dockerd did not become ready within ${DOCKERD_WAIT_SECONDS}s"
