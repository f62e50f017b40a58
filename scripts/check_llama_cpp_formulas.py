#!/usr/bin/env python3
"""Reference implementation of the llama.cpp (commit 0c1e57098, CPU backend) memory
formulas described in docs/llama-cpp-memory.md, checked against the measured rows of
crates/core/data/llama_cpp_cpu_buffers.csv.

It prints, per measured row, predicted vs measured KV / output / compute buffer (MiB)
and the error. Hyper-parameters come from scripts/make_fixtures.py (the fixtures the
CSV was measured on). Pure python, no llama.cpp needed.

Usage: python3 scripts/check_llama_cpp_formulas.py [--csv PATH] [--markdown]
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures  # noqa: E402

MiB = 1024 * 1024
# ggml block size / bytes per block for the KV cache types
KV_TYPES = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q8_0": (32, 34), "q4_0": (32, 18),
            "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "iq4_nl": (32, 18)}


def row_bytes(t: str, n: int) -> int:
    blk, size = KV_TYPES[t]
    assert n % blk == 0
    return n // blk * size


def pad(x: int, n: int) -> int:
    return (x + n - 1) // n * n


@dataclass
class HP:
    arch: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_k: int
    head_v: int
    n_vocab: int
    n_swa: int = 0
    swa_pattern: int = 0       # every n-th layer is global (gemma3: 6)
    kv_lora: int = 0           # MLA
    n_rot: int = 0


def hparams(fixture: str) -> HP:
    f = make_fixtures.FIXTURES[fixture]()
    kv = {k.split(".", 1)[1]: v for k, _, v in f.kv if "." in k}
    n_head = kv["attention.head_count"]
    n_embd = kv["embedding_length"]
    hk = kv.get("attention.key_length", n_embd // n_head)
    hv = kv.get("attention.value_length", n_embd // n_head)
    hp = HP(f.arch, kv["block_count"], n_embd, kv["feed_forward_length"], n_head,
            kv["attention.head_count_kv"], hk, hv, f.n_vocab)
    if "attention.sliding_window" in kv:
        hp.n_swa = kv["attention.sliding_window"]
        hp.swa_pattern = 6
    if "attention.kv_lora_rank" in kv:
        hp.kv_lora = kv["attention.kv_lora_rank"]
        hp.n_rot = kv["rope.dimension_count"]
    return hp


@dataclass
class Ctx:
    n_ctx: int          # after padding
    n_ctx_seq: int      # cells per stream (full-attention cache)
    n_seq: int
    n_stream: int
    n_batch: int
    n_ubatch: int
    fa: bool
    type_k: str
    type_v: str


def resolve_ctx(n_ctx_req: int, n_seq: int, unified: bool, n_ubatch: int, fa: bool, tk: str, tv: str,
                n_batch_req: int = 2048) -> Ctx:
    n_ctx = pad(n_ctx_req, 256)
    if unified:
        n_ctx_seq, n_stream = n_ctx, 1
    else:
        n_ctx_seq = pad(n_ctx // n_seq, 256)
        n_ctx = n_ctx_seq * n_seq
        n_stream = n_seq
    n_batch = min(n_ctx, n_batch_req)
    ub = min(n_batch, n_ubatch)
    return Ctx(n_ctx, n_ctx_seq, n_seq, n_stream, n_batch, ub, fa, tk, tv)


def caches(hp: HP, c: Ctx) -> list[tuple[int, int]]:
    """[(cells per stream, number of layers)] for each KV cache the model creates."""
    if hp.n_swa:
        n_global = hp.n_layer // hp.swa_pattern
        unified = c.n_stream == 1
        swa_cells = pad(min(c.n_ctx_seq, hp.n_swa * (c.n_seq if unified else 1) + c.n_ubatch), 256)
        return [(c.n_ctx_seq, n_global), (swa_cells, hp.n_layer - n_global)]
    return [(c.n_ctx_seq, hp.n_layer)]


def kv_bytes(hp: HP, c: Ctx) -> tuple[int, int]:
    k = v = 0
    for cells, layers in caches(hp, c):
        if hp.kv_lora:  # MLA: K-only latent cache (kv_lora_rank + rope dims), no V
            k += layers * c.n_stream * cells * row_bytes(c.type_k, hp.kv_lora + hp.n_rot)
        else:
            k += layers * c.n_stream * cells * row_bytes(c.type_k, hp.n_head_kv * hp.head_k)
            v += layers * c.n_stream * cells * row_bytes(c.type_v, hp.n_head_kv * hp.head_v)
    return k, v


def output_bytes(hp: HP, c: Ctx) -> int:
    return hp.n_vocab * c.n_seq * 4


def compute_bytes(hp: HP, c: Ctx, n_outputs: int) -> tuple[int, str]:
    """Peak of the CPU compute buffer for the reserved prompt graph (f32 activations)."""
    T = c.n_ubatch
    if T % c.n_seq:
        T = pad(T, c.n_seq)
    E = hp.n_embd * T * 4                        # one hidden-state tensor
    F = hp.n_ff * T * 4                          # one dense-FFN intermediate
    Qb = hp.n_head * hp.head_k * T * 4           # the query tensor
    cs = caches(hp, c)
    mask = sum(cells * T * (2 if c.fa else 4) for cells, _ in cs)
    small = 8 * T + 8 * T * len(cs) * (2 if c.fa or hp.kv_lora else 1)   # tokens+pos, k_idxs (+v_idxs)
    vidx = 0 if (c.fa or hp.kv_lora) else sum(T * hp.n_head_kv * hp.head_v * 8 for _ in cs)
    kq = max(cells for cells, _ in cs) * T * hp.n_head * 4
    base = mask + vidx + small
    if hp.kv_lora:
        lat = hp.kv_lora + hp.n_rot
        q_abs = hp.n_head * lat * T * 4          # Qcur after absorption (576-wide)
        q_nope_abs = hp.n_head * hp.kv_lora * T * 4
        if c.fa:
            phases = {"mla-attn": base + q_abs + q_nope_abs + E * 9.714}
        else:
            v_cont = max(cells for cells, _ in cs) * c.n_stream * hp.kv_lora * 2
            phases = {"mla-attn": base + kq + v_cont + q_abs + E * 18.57}
    else:
        phases = {"ffn": base + 3 * E + Qb + 3 * F}
        if not c.fa:
            phases["attn"] = base + 3 * E + 2 * Qb + kq
    logits = hp.n_vocab * n_outputs * 4
    phases["output"] = small + logits + 2 * E   # the masks are already freed here
    name = max(phases, key=lambda k: phases[k])
    return int(phases[name]), name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", type=Path, default=ROOT / "crates/core/data/llama_cpp_cpu_buffers.csv")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    rows = [r for r in csv.DictReader(a.csv.open()) if r["status"] == "ok"]
    hps: dict[str, HP] = {}
    worst = {"kv": 0.0, "out": 0.0, "compute": 0.0}
    if a.markdown:
        print("| fixture | tool | ctx | np | kvu | ub | fa | K/V | kv meas/pred | out meas/pred | compute meas | compute pred (phase) | err MiB | err % |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fx = r["fixture"]
        hp = hps.setdefault(fx, hparams(fx))
        n_seq = int(r["n_parallel"])
        unified = r["kv_unified"] == "true"
        c = resolve_ctx(int(r["n_ctx_requested"]), n_seq, unified, int(r["n_ubatch"]), r["flash_attn"] == "on",
                        r["type_k"], r["type_v"])
        k, v = kv_bytes(hp, c)
        out = output_bytes(hp, c)
        n_outputs = min(c.n_ubatch, c.n_batch) if r["tool"] == "fit-params" else n_seq
        comp, phase = compute_bytes(hp, c, n_outputs)
        kv_m, out_m, comp_m = float(r["kv_MiB"]), float(r["output_MiB"]), float(r["compute_MiB"])
        e_kv = (k + v) / MiB - kv_m
        e_out = out / MiB - out_m
        e_c = comp / MiB - comp_m
        worst["kv"] = max(worst["kv"], abs(e_kv))
        worst["out"] = max(worst["out"], abs(e_out))
        worst["compute"] = max(worst["compute"], abs(e_c) / comp_m)
        kvs = f"{r['type_k']}/{r['type_v']}"
        if a.markdown:
            print(f"| {fx} | {r['tool']} | {r['n_ctx_requested']} | {n_seq} | {'u' if unified else '-'} | {r['n_ubatch']} | {r['flash_attn']} | {kvs} | "
                  f"{kv_m:.2f}/{(k + v) / MiB:.2f} | {out_m:.2f}/{out / MiB:.2f} | {comp_m:.2f} | {comp / MiB:.2f} ({phase}) | {e_c:+.2f} | {100 * e_c / comp_m:+.1f} |")
        else:
            print(f"{fx:16s} {r['tool']:10s} c={r['n_ctx_requested']:>5s} np={n_seq} {'u' if unified else '-'} ub={r['n_ubatch']:>4s} "
                  f"fa={r['flash_attn']:3s} {kvs:9s} kv {kv_m:8.2f}/{(k + v) / MiB:8.2f} out {out_m:5.2f}/{out / MiB:5.2f} "
                  f"compute {comp_m:8.2f}/{comp / MiB:8.2f} ({phase:8s}) err {e_c:+7.2f} MiB {100 * e_c / comp_m:+5.1f}%")
    print(f"\nrows={len(rows)} max |kv err|={worst['kv']:.3f} MiB, max |output err|={worst['out']:.3f} MiB, "
          f"max |compute err|={100 * worst['compute']:.1f}%")


if __name__ == "__main__":
    main()
