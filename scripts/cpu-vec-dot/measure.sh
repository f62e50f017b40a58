#!/usr/bin/env bash
# Re-measures crates/core/data/cpu_vec_dot.csv: the in-cache cost of
# llama.cpp's CPU dot product per ggml type, in core cycles per weight, on one
# core of this machine. Needs a llama.cpp build (scripts/build-llama-cpp.sh;
# its static ggml libraries under build/ggml/src) and gcc/g++.
#   scripts/cpu-vec-dot/measure.sh [LLAMA_CPP_DIR]
# LLAMA_CPP_DIR defaults to the cached build, ~/.cache/canirun/llama.cpp-<rev>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$(ls -d "$HOME"/.cache/canirun/llama.cpp-* 2>/dev/null | head -n1)}"
if [[ -z "$dir" || ! -f "$dir/build/ggml/src/libggml-cpu.a" ]]; then
    echo "no llama.cpp build with static ggml libraries at '${dir}'; run scripts/build-llama-cpp.sh first" >&2
    exit 2
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
gcc -O2 -c "$here/vec_dot_rate.c" -I"$dir/src/ggml/include" -o "$out/vdr.o"
g++ "$out/vdr.o" "$dir/build/ggml/src/libggml-cpu.a" "$dir/build/ggml/src/libggml-base.a" \
    -fopenmp -lm -lpthread -o "$out/vdr"
grep -m1 "model name" /proc/cpuinfo || true
grep -E "^GGML_(AVX|AVX2|AVX512|FMA|F16C|NATIVE):" "$dir/build/CMakeCache.txt" || true
"$out/vdr" F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K \
    IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ4_NL IQ4_XS TQ1_0 TQ2_0 MXFP4
