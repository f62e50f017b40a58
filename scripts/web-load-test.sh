#!/usr/bin/env bash
# A bounded load test of `canirun serve` on 127.0.0.1 (crates/web/examples/load.rs:
# one thread, keep-alive connections, fails on any non-200 answer).
# Estimates walk lists of a few hundred distinct requests (model x quant x
# context x KV type x GPU), so that nothing keyed by the request can answer
# from memory; each line prints the latency percentiles, the generator's own
# CPU per request, and the server's CPU per request (from /proc), with the
# load average before it: with C requests in flight on K cores a request waits
# for about C x (server + generator CPU per request) / K.
# Usage: scripts/web-load-test.sh [N=5000] [C=32]   (searches get N/50)
# CANIRUN=path/to/canirun runs that binary instead of building this tree's
# (to compare two builds with the same requests).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-5000}"
C="${2:-32}"
if [[ -z "${CANIRUN:-}" ]]; then
    # `--example load` would narrow both packages to that example: build the binary on its own.
    cargo build --release --locked -q -p canirun
    cargo build --release --locked -q -p canirun-web --example load
    CANIRUN=target/release/canirun
fi
[[ -x target/release/examples/load ]] || cargo build --release --locked -q -p canirun-web --example load
TMP="$(mktemp -d)"
LOG="$TMP/serve.log"
"$CANIRUN" serve --port 0 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$TMP"' EXIT
ADDR=""
for _ in $(seq 1 100); do
    ADDR="$(grep -o '127.0.0.1:[0-9]*' "$LOG" || true)"
    [[ -n "$ADDR" ]] && break
    sleep 0.1
done
[[ -n "$ADDR" ]] || { cat "$LOG"; exit 1; }

# Distinct requests. 6 models x 3 quants x 3 contexts x 2 KV types x 4 GPUs = 432.
EST="$TMP/estimate.txt"
PAGE="$TMP/page.txt"
for m in deepseek-r1:7b deepseek-r1:8b deepseek-r1:14b deepseek-r1:32b qwen3:30b llama3.1:70b; do
    for q in Q4_K_M Q5_K_M Q8_0; do
        for c in 4096 16384 32768; do
            for k in f16 q8_0; do
                for g in 4090 3090 2x3090 a100-80gb; do
                    echo "/api/estimate?model=$m&quant=$q&gpu=$g&ctx=$c&ctk=$k&ctv=$k&fa=on" >>"$EST"
                    # What the page asks on every change: decode over six depths, power and cost, every engine's commands.
                    d="0,$((c / 8)),$((c / 4)),$((c / 2)),$((c * 3 / 4)),$c"
                    echo "/api/estimate?model=$m&quant=$q&gpu=$g&ctx=$c&ctk=$k&ctv=$k&fa=on&depths=$d&power=on&runners=all" >>"$PAGE"
                done
            done
        done
    done
done
# R1 671B on one GPU with its experts in RAM: 3 quants x 3 contexts x 2 GPUs = 18.
BIG="$TMP/671b.txt"
for q in UD-IQ1_S UD-IQ2_XXS Q2_K; do
    for c in 4096 8192 16384; do
        for g in '4090%20%2B%20epyc-9654' '3090%20%2B%20epyc-9654'; do
            echo "/api/estimate?model=deepseek-r1:671b&quant=$q&gpu=$g&ram=768GiB&ctx=$c" >>"$BIG"
        done
    done
done

# Searches: 4 GPUs x 2 RAM sizes x 2 contexts = 16 recommends; 2 models x 4 speeds x 2 contexts = 16 plans.
REC="$TMP/recommend.txt"
PLAN="$TMP/plan.txt"
for g in 4090 3090 3060 a100-80gb; do
    for r in 32GiB 64GiB; do
        for c in 4096 16384; do
            echo "/api/recommend?gpu=$g&ram=$r&min_ctx=$c" >>"$REC"
        done
    done
done
for t in 5 10 20 30; do
    for c in 8192 32768; do
        echo "/api/plan?model=deepseek-r1:32b&min_tps=$t&ctx=$c" >>"$PLAN"
        echo "/api/plan?model=deepseek-r1:70b&min_tps=$t&ctx=$c" >>"$PLAN"
    done
done

server_cpu() { # user + system ticks of the server
    awk '{print $14 + $15}' "/proc/$SERVER/stat"
}
LOAD=target/release/examples/load
run() { # PATH|@FILE N C
    local before after n
    before="$(server_cpu)"
    echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    $LOAD "$ADDR" "$1" "$2" "$3"
    after="$(server_cpu)"
    n="$2"
    echo "  server CPU $(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN{printf "%.3f", (b - a) * 10 / n}') ms/request"
}

echo "== warm-up: every distinct request once (builds each model's tensor list)"
$LOAD "$ADDR" "@$EST" "$(wc -l <"$EST")" 4 >/dev/null
$LOAD "$ADDR" "@$BIG" "$(wc -l <"$BIG")" 2 >/dev/null
echo "== single estimates, one at a time (latency without queueing)"
run "@$EST" 500 1
run "@$BIG" 100 1
echo "== single estimates, $N at $C concurrent"
run "@$EST" "$N" "$C"
run "@$PAGE" "$N" "$C"
run "@$BIG" "$((N / 5))" "$C"
echo "== searches, one at a time, then $((N / 50)) at $C concurrent (at most as many run at once as there are cores)"
run "@$REC" 32 1
run "@$PLAN" 32 1
run '/api/plan?model=deepseek-r1:671b&min_tps=10&ctx=32768' 3 1
run "@$REC" "$((N / 50))" "$C"
run "@$PLAN" "$((N / 50))" "$C"
