#!/usr/bin/env bash
# `canirun bench` against the real llama-server CI builds, on CPU:
#   1. Gemma-3-270M Q4_K_M: pp64 and tg16, predicted next to measured, into a
#      fresh history database (never the user's);
#   2. the R1-Distill-Qwen-7B header-only fixture padded with zeros to its full
#      size as a sparse file (llama.cpp loads it; zero weights compute as fast as
#      real ones): pp16 and tg4, predicted next to measured, into a history of
#      its own: the speed model reads Gemma's tied output head (token_embd,
#      170 MiB of its 235 MiB) as a one-row lookup, not once per token, so its
#      Gemma decode prediction is ~3x too fast relative to R1's, and one
#      machine factor fitted on both misses both (measured on a 2-core machine:
#      Gemma tg16 @ d128 off by +97% after a blended fit). That is a speed-model
#      error to fix there, not something a per-machine factor may absorb;
#   3. `canirun calibrate` on Gemma's history;
#   4. a point not used in the fit (pp256, tg16 at depth 128) on Gemma:
#      calibrated prediction next to a new measurement, target within 15%.
# One thread (-t 1): CI machines have 2 cores shared with the build, and
# llama.cpp's spinning thread barriers collapse when its threads are descheduled
# (measured here at load 10: -t 2 gave 9.4 ± 1.2 tok/s pp64, -t 1 60.6 ± 1.0).
# Repetitions: 5, llama-bench's default (-r 5), for the fitted points and the
# check. The figure is the mean of the repetitions' tok/s, as llama-bench
# reports it (avg_ts ± stddev_ts, tools/llama-bench/llama-bench.cpp), so the
# history's rows compare with benchmarks.csv; the check also prints the median
# (--json's median_tps), which one descheduled repetition on a loaded machine
# moves least, and the load average, so a miss can be told from noise.
# Step 4 prints PASS or MISS; CANIRUN_BENCH_STRICT=1 makes a miss fail.
#
#   CANIRUN_LLAMA_CPP_BIN   folder with llama-server (scripts/build-llama-cpp.sh)
#   CANIRUN_REAL_GGUF_DIR   the real GGUF files (scripts/fetch-real-gguf.sh)
#   CANIRUN                 the canirun binary (default: target/release/canirun)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${CANIRUN_LLAMA_CPP_BIN:?set CANIRUN_LLAMA_CPP_BIN to the folder with llama-server}"
REAL="${CANIRUN_REAL_GGUF_DIR:-${CANIRUN_CACHE:-$HOME/.cache/canirun}/real-gguf}"
CANIRUN="${CANIRUN:-target/release/canirun}"
GEMMA="$REAL/gemma-3-270m-q4_k_m.gguf"
R1_PART="$REAL/r1-distill-qwen-7b-part0000.gguf"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
DB="$WORK/history.sqlite"
SERVER=("$BIN/llama-server" -c 1024 -t 1)

echo "== bench: Gemma-3-270M Q4_K_M (fitted points: pp64, tg16)"
"$CANIRUN" bench --db "$DB" -p 64 -n 16 -r 5 -- "${SERVER[@]}" -m "$GEMMA"

if [[ "${CANIRUN_BENCH_SKIP_R1:-0}" != 1 ]]; then
    echo "== bench: R1-Distill-Qwen-7B Q4_K_M header padded with zeros to its full size (sparse)"
    R1="$WORK/r1-distill-qwen-7b-padded.gguf"
    cp --sparse=always "$R1_PART" "$R1"
    # The size the header implies: data offset + the end of the last tensor.
    truncate -s 8G "$R1"
    SIZE="$(python3 -c 'import gguf,sys; r=gguf.GGUFReader(sys.argv[1]); print(max(t.data_offset+t.n_bytes for t in r.tensors))' "$R1")"
    truncate -s "$SIZE" "$R1"
    "$CANIRUN" bench --db "$WORK/history-r1.sqlite" --timeout 900 -p 16 -n 4 -r 1 -- "${SERVER[@]}" -m "$R1"
fi

echo "== history"
"$CANIRUN" history --db "$DB"
[[ -f "$WORK/history-r1.sqlite" ]] && "$CANIRUN" history --db "$WORK/history-r1.sqlite"

echo "== calibrate"
"$CANIRUN" calibrate --db "$DB"

echo "== a point not in the fit: pp256, tg16 at depth 128 (Gemma), calibrated prediction vs measured"
"$CANIRUN" bench --db "$DB" --no-history --json -p 256 -n 16 -d 128 -r 5 -- "${SERVER[@]}" -m "$GEMMA" >"$WORK/check.json"
python3 - "$WORK/check.json" <<'PY'
import json, os, sys
v = json.load(open(sys.argv[1]))
worst = 0.0
for r in v["rows"]:
    e = r.get("calibrated_error")
    med = r["median_tps"]
    print(f'{r["test"]}: measured {r["measured_tps"]:.2f} ± {r["spread_tps"]:.2f} tok/s '
          f'(median {med:.2f}, {r["repetitions"]} repetitions), '
          f'uncalibrated {r["predicted_tps"]:.2f} ({r["error"]*100:+.0f}%), '
          f'calibrated {r["calibrated_tps"]:.2f} ({e*100:+.1f}%; {(r["calibrated_tps"]-med)/med*100:+.1f}% of the median)')
    worst = max(worst, abs(e))
print("load average (1, 5, 15 min): " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs")
ok = worst <= 0.15
print(("PASS" if ok else "MISS") + f": worst calibrated error {worst*100:.1f}% (target 15%)")
if not ok and os.environ.get("CANIRUN_BENCH_STRICT") == "1":
    sys.exit(1)
PY
