#!/usr/bin/env bash
# Build the local base image responses-conformance/debian-python:bookworm
# without any registry: debootstrap a minimal Debian (variant minbase) with
# python3 from the machine's own apt mirror, then `docker import` it.
#
#   ci/docker/build-base-image.sh [--force]
#
# Skips the build when the image already exists, unless --force.
# The mirror URL, suite, components and keyring are read from the machine's
# apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list in
# one-line format, or /etc/apt/sources.list.d/*.sources in deb822 format).
# Overrides: BASE_MIRROR, BASE_SUITE, BASE_COMPONENTS, BASE_KEYRING.
set -euo pipefail

IMAGE="${BASE_IMAGE:-responses-conformance/debian-python:bookworm}"
WANT_SUITE="bookworm"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "build-base-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force|-f) FORCE=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

"$HERE/start-dockerd.sh"

if [ "$FORCE" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists (use --force to rebuild)"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q debootstrap >&2 || die "apt-get install debootstrap failed"
fi

# --- read mirror / suite from the apt sources ---------------------------------
# Prints candidate lines "URI<TAB>SUITE<TAB>COMPONENTS<TAB>KEYRING" for every
# `deb` (binary) source, in file order.
list_apt_sources() {
    local f
    # One-line format: deb [opt=val ...] URI SUITE COMP...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '
            /^[[:space:]]*deb[[:space:]]/ {
                sub(/#.*/, ""); n = split($0, w, /[[:space:]]+/)
                i = 1; while (i <= n && w[i] == "") i++
                i++                                   # skip "deb"
                kr = ""
                if (substr(w[i], 1, 1) == "[") {      # options block
                    opts = ""
                    while (i <= n) { opts = opts " " w[i]; if (w[i] ~ /\]$/) { i++; break } ; i++ }
                    if (match(opts, /signed-by=[^] ]+/)) kr = substr(opts, RSTART + 10, RLENGTH - 10)
                }
                uri = w[i]; suite = w[i + 1]; comps = ""
                for (j = i + 2; j <= n; j++) if (w[j] != "") comps = comps (comps == "" ? "" : ",") w[j]
                if (uri != "" && suite != "") printf "%s\t%s\t%s\t%s\n", uri, suite, comps, kr
            }' "$f"
    done
    # deb822 format: stanzas separated by blank lines.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
                    nu = split(uris, U, / +/); ns = split(suites, S, / +/)
                    gsub(/ +/, ",", comps)
                    for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++)
                        if (U[a] != "" && S[b] != "") printf "%s\t%s\t%s\t%s\n", U[a], S[b], comps, kr
                }
                types = uris = suites = comps = kr = enabled = ""
            }
            function val(line) { sub(/^[^:]*:[[:space:]]*/, "", line); sub(/[[:space:]]+$/, "", line); return line }
            /^[[:space:]]*$/ { flush(); next }
            /^#/ { next }
            tolower($0) ~ /^types:/      { types = val($0); next }
            tolower($0) ~ /^uris:/       { uris = val($0); next }
            tolower($0) ~ /^suites:/     { suites = val($0); next }
            tolower($0) ~ /^components:/ { comps = val($0); next }
            tolower($0) ~ /^signed-by:/  { kr = val($0); next }
            tolower($0) ~ /^enabled:/    { enabled = tolower(val($0)); next }
            END { flush() }' "$f"
    done
}

SOURCES="$(list_apt_sources || true)"
# Prefer the main Debian archive for the wanted suite ("bookworm" itself, not
# bookworm-updates / bookworm-security); else the first plain suite found.
pick="$(printf '%s\n' "$SOURCES" | awk -F'\t' -v s="$WANT_SUITE" '$2 == s { print; exit }')"
if [ -z "$pick" ]; then
    pick="$(printf '%s\n' "$SOURCES" | awk -F'\t' '$2 != "" && $2 !~ /-/ && $2 !~ /\// { print; exit }')"
fi
MIRROR="${BASE_MIRROR:-$(printf '%s' "$pick" | cut -f1)}"
SUITE="${BASE_SUITE:-$(printf '%s' "$pick" | cut -f2)}"
COMPONENTS="${BASE_COMPONENTS:-$(printf '%s' "$pick" | cut -f3)}"
KEYRING="${BASE_KEYRING:-$(printf '%s' "$pick" | cut -f4)}"
COMPONENTS="${COMPONENTS:-main}"

[ -n "$MIRROR" ] && [ -n "$SUITE" ] || die "could not find a 'deb' source for Debian in /etc/apt/sources.list{,.d/*}; set BASE_MIRROR and BASE_SUITE"
if [ "$SUITE" != "$WANT_SUITE" ]; then
    log "WARNING: apt sources name suite '$SUITE', not '$WANT_SUITE'; the image is still tagged $IMAGE"
fi
keyring_args=()
if [ -n "$KEYRING" ] && [ -f "$KEYRING" ]; then
    keyring_args=(--keyring="$KEYRING")
fi
log "mirror=$MIRROR suite=$SUITE components=$COMPONENTS keyring=${KEYRING:-<debootstrap default>}"

# --- debootstrap --------------------------------------------------------------
ROOTFS="$(mktemp -d "${TMPDIR:-/var/tmp}/rc-rootfs.XXXXXX")"
cleanup() {
    # Runs from the EXIT trap: no errexit here, or a failing findmnt (nothing
    # mounted) would abort the trap before the rm.
    set +e
    # debootstrap mounts proc/sys inside the target; never rm -rf through a mount.
    local m
    if command -v findmnt >/dev/null 2>&1; then
        findmnt -R -n -o TARGET --list "$ROOTFS" 2>/dev/null | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null
        done
    fi
    rm -rf --one-file-system "$ROOTFS"
    rm -f "$ROOTFS.debootstrap.log"
}
trap cleanup EXIT

# mktemp -d creates the directory 0700; it becomes the image's "/".
chmod 0755 "$ROOTFS"

START=$(date +%s)
log "debootstrap into $ROOTFS (log: $ROOTFS.debootstrap.log)"
if ! debootstrap --variant=minbase --include=python3 --components="$COMPONENTS" \
        "${keyring_args[@]}" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.debootstrap.log" 2>&1; then
    tail -n 30 "$ROOTFS.debootstrap.log" >&2 || true
    tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    cp "$ROOTFS.debootstrap.log" /tmp/rc-debootstrap-failed.log 2>/dev/null || true
    die "debootstrap failed (full log kept in /tmp/rc-debootstrap-failed.log)"
fi
rm -f "$ROOTFS.debootstrap.log"
T_BOOTSTRAP=$(( $(date +%s) - START ))

# --- slim it down -------------------------------------------------------------
chroot "$ROOTFS" apt-get clean >/dev/null 2>&1 || true
rm -rf "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/var/cache/apt/* \
       "$ROOTFS"/var/cache/debconf/*-old \
       "$ROOTFS"/var/log/* \
       "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* \
       "$ROOTFS"/usr/share/doc/* \
       "$ROOTFS"/usr/share/man/* \
       "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/usr/share/lintian \
       "$ROOTFS"/usr/share/linda
# Locales other than C.UTF-8 (which lives in /usr/lib/locale) are not needed.
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
# Docker provides these at run time; don't bake the build host's into the image.
rm -f "$ROOTFS"/etc/resolv.conf "$ROOTFS"/etc/hostname "$ROOTFS"/etc/machine-id
: >"$ROOTFS"/etc/hostname
# Keep docs/man pages out if something is ever apt-installed in a derived image.
mkdir -p "$ROOTFS"/etc/dpkg/dpkg.cfg.d
cat >"$ROOTFS"/etc/dpkg/dpkg.cfg.d/01-responses-conformance-nodoc <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
PYVER="$(chroot "$ROOTFS" python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" \
    || die "python3 does not run inside the new rootfs"

# --- import -------------------------------------------------------------------
OLD_ID="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
log "importing as $IMAGE (python $PYVER)"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
    --change 'CMD ["python3"]' \
    --change "LABEL org.opencontainers.image.title=responses-conformance-debian-python" \
    --change "LABEL responses-conformance.debian-suite=$SUITE" \
    --change "LABEL responses-conformance.python-version=$PYVER" \
    - "$IMAGE" >/dev/null
T_TOTAL=$(( $(date +%s) - START ))
NEW_ID="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
    # Drop the replaced image; fails harmlessly while derived images still use it.
    docker image rm "$OLD_ID" >/dev/null 2>&1 || true
fi

SIZE="$(docker image inspect --format '{{.Size}}' "$IMAGE")"
log "built $IMAGE: $((SIZE / 1024 / 1024)) MiB; debootstrap ${T_BOOTSTRAP}s, total ${T_TOTAL}s"
