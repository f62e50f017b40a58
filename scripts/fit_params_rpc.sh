#!/usr/bin/env bash
# Ground truth for llama.cpp's automatic fit (`--fit`, llama-fit-params) on a
# machine without a GPU: a local ggml-rpc-server stands in for the GPU. The
# RPC device reports the host's whole RAM as free, so the imposed free memory
# F is set through the per-device margin: -fitt (reported_free - F).
#
# Needs a llama.cpp build with -DGGML_RPC=ON (targets ggml-rpc-server and
# llama-fit-params), e.g. scripts/build-llama-cpp.sh's source tree configured
# again with that option. Usage:
#   scripts/fit_params_rpc.sh BIN_DIR FIXTURE.gguf CTX FREE_MiB...
# Prints CSV rows: fixture,n_ctx,device_free_MiB,imposed_free_MiB,fit_params_output
# (crates/core/data/llama_fit_params_rpc.csv adds a source column).
set -euo pipefail
BIN="$1"; FIX="$2"; CTX="$3"; shift 3
PORT=50152
"$BIN/ggml-rpc-server" -p "$PORT" -t 2 >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 1
# The free memory the RPC device reports, from a first projection.
REPORTED=$("$BIN/llama-fit-params" -m "$FIX" -c "$CTX" --rpc "127.0.0.1:$PORT" -v -t 2 2>&1 \
    | sed -n 's/.*using device RPC0.* - \([0-9]*\) MiB free.*/\1/p' | head -n 1)
for F in "$@"; do
    OUT=$("$BIN/llama-fit-params" -m "$FIX" -c "$CTX" --rpc "127.0.0.1:$PORT" \
        -fitt $((REPORTED - F)) -t 2 2>/dev/null | tail -n 1)
    echo "$(basename "$FIX" .gguf),$CTX,$REPORTED,$F,\"${OUT//\"/\"\"}\""
done
