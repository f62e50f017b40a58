#!/usr/bin/env bash
# Build a pinned llama.cpp (CPU only) from the PyPI sdist of llama-cpp-python,
# which vendors llama.cpp at commit 0c1e57098. Used to produce ground-truth
# memory numbers (see docs/llama-cpp-memory.md, crates/core/data/).
#
# Idempotent: if the binaries already exist it only prints the bin dir.
# Everything lives outside the repo:
#   ${CANIRUN_CACHE:-$HOME/.cache/canirun}/llama.cpp-0c1e57098/{src,build,bin}
#
# Usage: scripts/build-llama-cpp.sh            # prints the bin dir on stdout (last line)
#        JOBS=4 scripts/build-llama-cpp.sh
#        ALLOC_DEBUG=1 scripts/build-llama-cpp.sh  # also bin/llama-server-allocdebug, whose -v log
#                                                 # traces every compute-buffer allocation
#                                                 # (input for scripts/llama_alloc_peak.py)
#
# Notes
# - GGML_NATIVE=ON must NOT be used: on VMs that advertise AMX but cannot run it
#   the binaries die with SIGILL. We build with NATIVE=OFF (SSE4.2/AVX/AVX2/FMA/F16C).
# - The sdist's vendor/llama.cpp/.git is a dangling gitfile; it is removed and the
#   commit is passed explicitly with LLAMA_BUILD_COMMIT.
set -euo pipefail

LLAMA_COMMIT=0c1e57098
PYPKG_VERSION=0.3.36
CACHE="${CANIRUN_CACHE:-$HOME/.cache/canirun}"
ROOT="$CACHE/llama.cpp-$LLAMA_COMMIT"
SRC="$ROOT/src"
BUILD="$ROOT/build"
BIN="$ROOT/bin"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
TARGETS=(llama-server llama-bench llama-fit-params llama-cli llama-quantize llama-gguf-split)

log() { echo "[build-llama-cpp] $*" >&2; }

have_all_bins() {
  local t
  for t in "${TARGETS[@]}"; do
    [[ -x "$BIN/$t" ]] || return 1
  done
  return 0
}

build_alloc_debug() {
  # ggml-alloc.c has a commented-out AT_PRINTF -> GGML_LOG_DEBUG switch; flip it on a
  # temporary basis, build llama-server, keep a copy, restore the file and rebuild.
  [[ -x "$BIN/llama-server-allocdebug" ]] && return 0
  local f="$SRC/ggml/src/ggml-alloc.c"
  cp "$f" "$f.orig"
  sed -i 's|^//#define AT_PRINTF(...) GGML_LOG_DEBUG(__VA_ARGS__)|#define AT_PRINTF(...) GGML_LOG_DEBUG(__VA_ARGS__)|; s|^#define AT_PRINTF(...)$|//#define AT_PRINTF(...)|' "$f"
  cmake --build "$BUILD" -j"$JOBS" --target llama-server >&2
  cp -f "$BUILD/bin/llama-server" "$BIN/llama-server-allocdebug"
  mv "$f.orig" "$f"
  touch "$f"  # newer than the debug object, so ninja rebuilds it
  cmake --build "$BUILD" -j"$JOBS" --target llama-server >&2
  log "built $BIN/llama-server-allocdebug"
}

if have_all_bins; then
  log "already built"
  [[ "${ALLOC_DEBUG:-0}" == 1 ]] && build_alloc_debug
  echo "$BIN"
  exit 0
fi

# ---- toolchain ---------------------------------------------------------------
need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
command -v ninja >/dev/null 2>&1 || need_pkgs+=(ninja-build)
command -v ccache >/dev/null 2>&1 || need_pkgs+=(ccache)
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]} with apt-get"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

# ---- source ------------------------------------------------------------------
mkdir -p "$ROOT"
if [[ ! -f "$SRC/CMakeLists.txt" ]]; then
  vendored=""
  # Reuse an already extracted sdist if present.
  for cand in "$CACHE/src/llama_cpp_python-$PYPKG_VERSION/vendor/llama.cpp" \
              "$CACHE/dl/llama_cpp_python-$PYPKG_VERSION/vendor/llama.cpp"; do
    if [[ -f "$cand/CMakeLists.txt" && -f "$cand/src/llama-context.cpp" ]]; then
      vendored="$cand"; break
    fi
  done
  if [[ -z "$vendored" ]]; then
    mkdir -p "$CACHE/dl"
    tarball="$CACHE/dl/llama_cpp_python-$PYPKG_VERSION.tar.gz"
    if [[ ! -s "$tarball" ]]; then
      log "downloading llama-cpp-python==$PYPKG_VERSION sdist from PyPI"
      # '--no-binary llama-cpp-python' (not ':all:'): with ':all:' pip also builds
      # the *build dependencies* (cmake, ninja) from source to prepare metadata,
      # which takes 15+ minutes on 2 cores. Only the package itself must be an sdist.
      python3 -m pip download --no-deps --no-binary llama-cpp-python \
        -d "$CACHE/dl" "llama-cpp-python==$PYPKG_VERSION" >&2
    fi
    log "extracting $tarball"
    tar -xzf "$tarball" -C "$CACHE/dl"
    vendored="$CACHE/dl/llama_cpp_python-$PYPKG_VERSION/vendor/llama.cpp"
  fi
  log "copying $vendored -> $SRC"
  rm -rf "$SRC.tmp"
  cp -r "$vendored" "$SRC.tmp"
  rm -rf "$SRC.tmp/.git"
  mv "$SRC.tmp" "$SRC"
fi

# ---- configure + build -------------------------------------------------------
if [[ ! -f "$BUILD/build.ninja" ]]; then
  log "configuring"
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_COMMIT="$LLAMA_COMMIT" >&2
fi
log "building ${TARGETS[*]} with -j$JOBS (about 8 min on 2 cores)"
start=$(date +%s)
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}" >&2
log "build took $(( $(date +%s) - start )) s"

mkdir -p "$BIN"
for t in "${TARGETS[@]}"; do
  cp -f "$BUILD/bin/$t" "$BIN/$t"
done
"$BIN/llama-cli" --version >&2 2>&1 || true
[[ "${ALLOC_DEBUG:-0}" == 1 ]] && build_alloc_debug
echo "$BIN"
