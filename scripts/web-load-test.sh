#!/usr/bin/env bash
# A bounded load test of `canirun serve` on 127.0.0.1: each path gets N
# requests at C concurrent keep-alive connections (crates/web/examples/load.rs),
# which prints the non-200 count and p50/p90/p99 latency and fails on any error.
# Usage: scripts/web-load-test.sh [N=5000] [C=32]   (searches get N/50 at C/4)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-5000}"
C="${2:-32}"
# `--example load` would narrow both packages to that example: build the binary on its own.
cargo build --release --locked -q -p canirun
cargo build --release --locked -q -p canirun-web --example load
LOG="$(mktemp)"
target/release/canirun serve --port 0 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$LOG"' EXIT
ADDR=""
for _ in $(seq 1 100); do
    ADDR="$(grep -o '127.0.0.1:[0-9]*' "$LOG" || true)"
    [[ -n "$ADDR" ]] && break
    sleep 0.1
done
[[ -n "$ADDR" ]] || { cat "$LOG"; exit 1; }
LOAD=target/release/examples/load
echo "== single estimates, one at a time (latency without queueing)"
$LOAD "$ADDR" '/api/estimate?model=deepseek-r1:32b&gpu=4090&ctx=16384' 500 1
$LOAD "$ADDR" '/api/estimate?model=deepseek-r1:671b&quant=UD-IQ1_S&gpu=4090%20%2B%20epyc-9654&ram=384GiB&ctx=8192' 200 1
echo "== single estimates, $N at $C concurrent"
$LOAD "$ADDR" '/api/estimate?model=deepseek-r1:32b&gpu=4090&ctx=16384' "$N" "$C"
$LOAD "$ADDR" '/api/estimate?model=deepseek-r1:7b&gpu=3060&ctx=8192&depths=0,1024,2048,4096,6144,8192&power=on&runners=all' "$N" "$C"
$LOAD "$ADDR" '/api/estimate?model=deepseek-r1:671b&quant=UD-IQ1_S&gpu=4090%20%2B%20epyc-9654&ram=384GiB&ctx=8192' "$((N / 5))" "$C"
echo "== searches, one at a time and $((N / 50)) at $((C / 4)) concurrent"
$LOAD "$ADDR" '/api/recommend?gpu=4090&ram=64GiB' 20 1
$LOAD "$ADDR" '/api/recommend?gpu=4090&ram=64GiB' "$((N / 50))" "$((C / 4))"
$LOAD "$ADDR" '/api/plan?model=deepseek-r1:32b&min_tps=20&ctx=16384' 20 1
$LOAD "$ADDR" '/api/plan?model=deepseek-r1:671b&min_tps=10&ctx=32768' 3 1
