#!/usr/bin/env bash
# Ground truth for llama.cpp's automatic fit (`--fit`, llama-fit-params) on a
# machine without a GPU: local ggml-rpc-servers stand in for GPUs. An RPC
# device reports the host's whole RAM as free, so the imposed free memory F of
# each device is set through its margin: -fitt (reported_free - F).
#
# Needs a llama.cpp build with -DGGML_RPC=ON (targets ggml-rpc-server and
# llama-fit-params), e.g. scripts/build-llama-cpp.sh's source tree configured
# again with that option. Usage:
#   scripts/fit_params_rpc.sh BIN_DIR FIXTURE.gguf CTX PROBES_OUT FREE_MiB[,FREE_MiB...]...
# CTX "auto" leaves -c unset (llama.cpp may then shrink the context). Each
# FREE argument is one sweep point; a comma list means one RPC device per value.
# Prints one CSV row per point on stdout:
#   fixture,n_ctx,device_free_MiB,imposed_free_MiB,fit_params_output
# and appends every configuration llama-fit-params tried, with the memory it
# projected per device, to PROBES_OUT (scripts/fit_params_probes.py).
set -euo pipefail
BIN="$1"; FIX="$2"; CTX="$3"; PROBES="$4"; shift 4
NAME="$(basename "$FIX" .gguf)"
HERE="$(cd "$(dirname "$0")" && pwd)"
LOGS="$(mktemp -d)"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$LOGS"' EXIT
MAXDEV=1
for F in "$@"; do
    n=$(awk -F, '{print NF}' <<<"$F")
    (( n > MAXDEV )) && MAXDEV=$n
done
ENDPOINTS=()
for ((i = 0; i < MAXDEV; i++)); do
    PORT=$((50152 + i))
    "$BIN/ggml-rpc-server" -p "$PORT" -t 2 >/dev/null 2>&1 &
    PIDS+=($!)
    ENDPOINTS+=("127.0.0.1:$PORT")
done
sleep 1
CTX_ARGS=()
[[ "$CTX" != auto ]] && CTX_ARGS=(-c "$CTX")
k=0
for F in "$@"; do
    IFS=, read -ra FREE <<<"$F"
    RPC=$(IFS=,; echo "${ENDPOINTS[*]:0:${#FREE[@]}}")
    # The free memory the RPC devices report, from a first projection.
    REPORTED=$("$BIN/llama-fit-params" -m "$FIX" "${CTX_ARGS[@]}" --rpc "$RPC" -v -t 2 2>&1 \
        | sed -n 's/.*using device RPC0.* - \([0-9]*\) MiB free.*/\1/p' | head -n 1)
    MARGINS=$(for f in "${FREE[@]}"; do echo $((REPORTED - f)); done | paste -sd,)
    k=$((k + 1))
    "$BIN/llama-fit-params" -m "$FIX" "${CTX_ARGS[@]}" --rpc "$RPC" -fitt "$MARGINS" -t 2 -v \
        >"$LOGS/$k.log" 2>&1 || true
    OUT=$(tail -n 1 "$LOGS/$k.log")
    FREE_COL=$(IFS=/; echo "${FREE[*]}")
    echo "$NAME,$CTX,$REPORTED,$FREE_COL,\"${OUT//\"/\"\"}\""
    python3 "$HERE/fit_params_probes.py" "$NAME" "$CTX" "$FREE_COL" "$LOGS/$k.log" >>"$PROBES"
done
