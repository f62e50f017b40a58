#!/usr/bin/env bash
# The web page in a real browser: Debian's chromium driven by playwright-core.
# Starts `canirun serve` on a free port, checks the page against the CLI's
# --json (scripts/web/check.cjs) and writes screenshots to
# ${CANIRUN_WEB_SHOTS:-target/web-screenshots}. Installs chromium with apt when
# missing and playwright-core with npm into ${CANIRUN_CACHE}/web-npm (outside
# the repository, reused).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${CANIRUN_CACHE:-$HOME/.cache/canirun}"
NPM_DIR="$CACHE/web-npm"
PLAYWRIGHT_VERSION=1.65.2
SHOTS="${CANIRUN_WEB_SHOTS:-target/web-screenshots}"

if ! command -v chromium >/dev/null; then
    echo "== installing chromium (apt)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
if [[ ! -f "$NPM_DIR/node_modules/playwright-core/package.json" ]]; then
    echo "== installing playwright-core $PLAYWRIGHT_VERSION (npm, into $NPM_DIR)"
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi

cargo build --release --locked -q -p canirun
BIN=target/release/canirun
EXPECTED="$(mktemp -d)"
LOG="$(mktemp)"
# The CLI's answers for the settings check.cjs enters on the page.
BASE=(-c 16384 -ctk q8_0 -ctv q8_0 -fa on)
"$BIN" deepseek-r1:32b --gpu 2x3090 "${BASE[@]}" --json >"$EXPECTED/base.json"
"$BIN" compare deepseek-r1:32b --hw 2x3090 "${BASE[@]}" --kwh-price 0.30 --tokens-per-day 2000000 --json >"$EXPECTED/cost.json"
"$BIN" deepseek-r1:32b --gpu 2x3090 "${BASE[@]}" -ngl 40 --json >"$EXPECTED/ngl.json"
"$BIN" deepseek-r1:671b --gpu '4090 + epyc-9654' --ram 384GiB "${BASE[@]}" --n-cpu-moe 61 --json >"$EXPECTED/moe.json"

# The bench history the server reads (never the user's): a short real bench on
# Gemma-3-270M when llama-server and the GGUF are there
# (CANIRUN_LLAMA_CPP_BIN, scripts/fetch-real-gguf.sh), else an empty history,
# whose page must say how to fill it.
export CANIRUN_HISTORY="$EXPECTED/history.sqlite"
GEMMA="${CANIRUN_REAL_GGUF_DIR:-$CACHE/real-gguf}/gemma-3-270m-q4_k_m.gguf"
if [[ -n "${CANIRUN_LLAMA_CPP_BIN:-}" && -x "$CANIRUN_LLAMA_CPP_BIN/llama-server" && -f "$GEMMA" ]]; then
    echo "== a short bench into the history the page shows"
    "$BIN" bench -p 32 -n 8 -r 2 -- "$CANIRUN_LLAMA_CPP_BIN/llama-server" -m "$GEMMA" -c 1024 -t 1 >/dev/null
else
    echo "== no llama-server or Gemma GGUF: the history page is checked empty"
fi
"$BIN" history --all --json >"$EXPECTED/history.json"

"$BIN" serve --port 0 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$EXPECTED" "$LOG"' EXIT
URL=""
for _ in $(seq 1 100); do
    URL="$(grep -o 'http://[0-9.:]*/' "$LOG" || true)"
    [[ -n "$URL" ]] && break
    sleep 0.1
done
[[ -n "$URL" ]] || { cat "$LOG"; echo "canirun serve did not start"; exit 1; }
echo "== browser checks against $URL"
PLAYWRIGHT_CORE="$NPM_DIR/node_modules/playwright-core" node scripts/web/check.cjs "$URL" "$EXPECTED" "$SHOTS"
echo "screenshots: $SHOTS/desktop.png $SHOTS/phone.png"
