#!/usr/bin/env python3
"""Write sparse GGUF fixtures of real architectures (real widths, few layers).

The files carry a complete, realistic header (metadata + tensor infos with a
Q4_K_M-like type mix) and a tensor-data region that is *sparse*: it is created
with truncate(), so it reads as zeros and costs almost no disk. llama.cpp loads
such files fine (all weights zero) and reports the real buffer sizes of the
architecture. They are used to produce ground truth for the memory estimator
(see docs/llama-cpp-memory.md and crates/core/data/llama_cpp_cpu_buffers.csv).

Requires the PyPI packages `gguf` (tested 0.19.0) and `numpy`.

Usage:
    python3 scripts/make_fixtures.py [--out DIR] [--only NAME ...] [--list]

Default output dir: ${CANIRUN_CACHE:-~/.cache/canirun}/fixtures
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as Q
except ImportError:  # pragma: no cover
    sys.exit("error: `pip install gguf numpy` first")

QK_K = 256
# k-quant fallbacks used by llama-quantize when a row length is not a multiple of 256
FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0, Q.Q3_K: Q.IQ4_NL, Q.Q2_K: Q.Q4_0}


def nbytes_of(ne: list[int], qtype: Q) -> int:
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    assert ne[0] % block == 0, (ne, qtype)
    n = 1
    for d in ne[1:]:
        n *= d
    return n * (ne[0] // block) * type_size


def pick(ne0: int, want: Q) -> Q:
    block, _ = gguf.GGML_QUANT_SIZES[want]
    if ne0 % block == 0:
        return want
    fb = FALLBACK.get(want)
    if fb is None or ne0 % gguf.GGML_QUANT_SIZES[fb][0] != 0:
        return Q.F16
    return fb


def use_more_bits(i: int, n: int) -> bool:
    # llama-quantize's Q4_K_M rule for attn_v / ffn_down: first/last eighth + every 3rd layer
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


@dataclass
class Fixture:
    name: str
    arch: str
    kv: list = field(default_factory=list)          # (key, kind, value)
    tensors: list = field(default_factory=list)     # (name, ne (ggml order), qtype)
    n_vocab: int = 0
    notes: str = ""

    def t(self, name: str, ne: list[int], want: Q) -> None:
        qt = want if want in (Q.F32, Q.F16) else pick(ne[0], want)
        self.tensors.append((name, list(ne), qt))

    def u32(self, key: str, v: int) -> None:
        self.kv.append((key, "u32", int(v)))

    def f32(self, key: str, v: float) -> None:
        self.kv.append((key, "f32", float(v)))

    def b(self, key: str, v: bool) -> None:
        self.kv.append((key, "bool", bool(v)))

    def s(self, key: str, v: str) -> None:
        self.kv.append((key, "str", v))

    def arr_u32(self, key: str, v: list[int]) -> None:
        self.kv.append((key, "arr_u32", [int(x) for x in v]))


# ----------------------------------------------------------------------------
# tokenizer: gpt2 byte-level BPE, 256 byte tokens + a few merges + specials,
# padded with UNUSED tokens up to the embedding row count.
# ----------------------------------------------------------------------------
def bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def add_tokenizer(w: "gguf.GGUFWriter", n_vocab: int, pre: str) -> None:
    byte_tokens = bytes_to_unicode()
    merges_src = [("Ġ", "t"), ("Ġ", "a"), ("h", "e"), ("i", "n"), ("r", "e"), ("o", "n"), ("Ġt", "he"), ("e", "r")]
    tokens = list(byte_tokens)
    types = [1] * len(tokens)  # NORMAL
    for a, bb in merges_src:
        tokens.append(a + bb)
        types.append(1)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|pad|>"]
    bos = len(tokens)
    for sp in specials:
        tokens.append(sp)
        types.append(3)  # CONTROL
    i = 0
    while len(tokens) < n_vocab:
        tokens.append(f"<|unused_{i}|>")
        types.append(5)  # UNUSED
        i += 1
    assert len(tokens) == n_vocab
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", pre)
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_array("tokenizer.ggml.merges", [f"{a} {bb}" for a, bb in merges_src])
    w.add_uint32("tokenizer.ggml.bos_token_id", bos)
    w.add_uint32("tokenizer.ggml.eos_token_id", bos + 1)
    w.add_uint32("tokenizer.ggml.eot_token_id", bos + 2)
    w.add_uint32("tokenizer.ggml.padding_token_id", bos + 3)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_string(
        "tokenizer.chat_template",
        "{% for m in messages %}<|begin_of_text|>{{ m['role'] }}\n{{ m['content'] }}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|begin_of_text|>assistant\n{% endif %}",
    )


# ----------------------------------------------------------------------------
# architectures
# ----------------------------------------------------------------------------
def dense_common(f: Fixture, arch: str, *, ctx: int, embd: int, ff: int, n_layer: int, heads: int,
                 kv_heads: int, rope_base: float, eps: float, vocab: int) -> None:
    f.u32(f"{arch}.context_length", ctx)
    f.u32(f"{arch}.embedding_length", embd)
    f.u32(f"{arch}.block_count", n_layer)
    f.u32(f"{arch}.feed_forward_length", ff)
    f.u32(f"{arch}.attention.head_count", heads)
    f.u32(f"{arch}.attention.head_count_kv", kv_heads)
    f.f32(f"{arch}.rope.freq_base", rope_base)
    f.f32(f"{arch}.attention.layer_norm_rms_epsilon", eps)
    f.u32(f"{arch}.vocab_size", vocab)
    f.n_vocab = vocab


def llama_like(name: str, arch: str, *, n_layer: int, embd: int, ff: int, heads: int, kv_heads: int,
               head_dim: int, vocab: int, ctx: int, rope_base: float, eps: float, qkv_bias: bool,
               rope_freqs: bool, notes: str) -> Fixture:
    f = Fixture(name, arch, notes=notes)
    dense_common(f, arch, ctx=ctx, embd=embd, ff=ff, n_layer=n_layer, heads=heads, kv_heads=kv_heads,
                 rope_base=rope_base, eps=eps, vocab=vocab)
    f.u32(f"{arch}.rope.dimension_count", head_dim)
    f.t("token_embd.weight", [embd, vocab], Q.Q4_K)
    f.t("output_norm.weight", [embd], Q.F32)
    f.t("output.weight", [embd, vocab], Q.Q6_K)
    if rope_freqs:
        f.t("rope_freqs.weight", [head_dim // 2], Q.F32)
    q, kvd = heads * head_dim, kv_heads * head_dim
    for i in range(n_layer):
        more = use_more_bits(i, n_layer)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        f.t(p + "attn_q.weight", [embd, q], Q.Q4_K)
        f.t(p + "attn_k.weight", [embd, kvd], Q.Q4_K)
        f.t(p + "attn_v.weight", [embd, kvd], Q.Q6_K if more else Q.Q4_K)
        if qkv_bias:
            f.t(p + "attn_q.bias", [q], Q.F32)
            f.t(p + "attn_k.bias", [kvd], Q.F32)
            f.t(p + "attn_v.bias", [kvd], Q.F32)
        f.t(p + "attn_output.weight", [q, embd], Q.Q4_K)
        f.t(p + "ffn_norm.weight", [embd], Q.F32)
        dense_ffn(f, p, embd=embd, ff=ff, more=more)
    return f


def fx_qwen2() -> Fixture:
    # DeepSeek-R1-Distill-Qwen-7B widths, 4 of 28 layers
    return llama_like("qwen2-7b-l4", "qwen2", n_layer=4, embd=3584, ff=18944, heads=28, kv_heads=4,
                      head_dim=128, vocab=152064, ctx=131072, rope_base=10000.0, eps=1e-6,
                      qkv_bias=True, rope_freqs=False,
                      notes="DeepSeek-R1-Distill-Qwen-7B widths, 4/28 layers, Q4_K_M-like mix")


def fx_llama() -> Fixture:
    # Llama-3.1-8B widths, 4 of 32 layers
    f = llama_like("llama-8b-l4", "llama", n_layer=4, embd=4096, ff=14336, heads=32, kv_heads=8,
                   head_dim=128, vocab=128256, ctx=131072, rope_base=500000.0, eps=1e-5,
                   qkv_bias=False, rope_freqs=True,
                   notes="Llama-3.1-8B widths, 4/32 layers, Q4_K_M-like mix")
    # Llama 3.1 carries its rope scaling in the rope_freqs tensor; no rope.scaling.* keys
    return f


def fx_gemma3() -> Fixture:
    # gemma-3-1b widths, all 26 layers (small model), SWA 512 with pattern 6 (5 local : 1 global)
    arch, embd, ff, heads, kv_heads, hd, vocab, n_layer = "gemma3", 1152, 6912, 4, 1, 256, 262144, 26
    f = Fixture("gemma3-1b", arch, notes="gemma-3-1b widths, all 26 layers, SWA 512 (pattern 6), tied embeddings")
    dense_common(f, arch, ctx=32768, embd=embd, ff=ff, n_layer=n_layer, heads=heads, kv_heads=kv_heads,
                 rope_base=1_000_000.0, eps=1e-6, vocab=vocab)
    f.u32(f"{arch}.attention.key_length", hd)
    f.u32(f"{arch}.attention.value_length", hd)
    f.u32(f"{arch}.attention.sliding_window", 512)
    f.f32(f"{arch}.rope.freq_base_swa", 10000.0)
    f.t("token_embd.weight", [embd, vocab], Q.Q6_K)  # tied output; 1152 % 256 != 0 -> Q8_0
    f.t("output_norm.weight", [embd], Q.F32)
    for i in range(n_layer):
        more = use_more_bits(i, n_layer)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        f.t(p + "attn_q.weight", [embd, heads * hd], Q.Q4_K)
        f.t(p + "attn_k.weight", [embd, kv_heads * hd], Q.Q4_K)
        f.t(p + "attn_v.weight", [embd, kv_heads * hd], Q.Q6_K if more else Q.Q4_K)
        f.t(p + "attn_output.weight", [heads * hd, embd], Q.Q4_K)
        f.t(p + "attn_q_norm.weight", [hd], Q.F32)
        f.t(p + "attn_k_norm.weight", [hd], Q.F32)
        f.t(p + "post_attention_norm.weight", [embd], Q.F32)
        f.t(p + "ffn_norm.weight", [embd], Q.F32)
        dense_ffn(f, p, embd=embd, ff=ff, more=more)
        f.t(p + "post_ffw_norm.weight", [embd], Q.F32)
    return f


def fx_deepseek2(n_dense: int = 3, n_moe: int = 1) -> Fixture:
    # DeepSeek-R1 / V3 widths in the current MLA layout (split attn_k_b / attn_v_b)
    arch = "deepseek2"
    embd, heads, q_lora, kv_lora, nope, rope, v_hd = 7168, 128, 1536, 512, 128, 64, 128
    n_exp, n_used, n_shared, ff_exp, ff, vocab = 256, 8, 1, 2048, 18432, 129280
    n_layer = n_dense + n_moe
    f = Fixture(f"deepseek2-r1-l{n_layer}", arch,
                notes=f"DeepSeek-R1 widths, {n_dense} dense + {n_moe} MoE of 61 layers, MLA (K-only cache)")
    dense_common(f, arch, ctx=163840, embd=embd, ff=ff, n_layer=n_layer, heads=heads, kv_heads=1,
                 rope_base=10000.0, eps=1e-6, vocab=vocab)
    f.u32(f"{arch}.leading_dense_block_count", n_dense)
    f.u32(f"{arch}.attention.q_lora_rank", q_lora)
    f.u32(f"{arch}.attention.kv_lora_rank", kv_lora)
    f.u32(f"{arch}.attention.key_length", kv_lora + rope)      # 576
    f.u32(f"{arch}.attention.value_length", kv_lora)           # 512
    f.u32(f"{arch}.attention.key_length_mla", nope + rope)     # 192
    f.u32(f"{arch}.attention.value_length_mla", v_hd)          # 128
    f.u32(f"{arch}.expert_feed_forward_length", ff_exp)
    f.u32(f"{arch}.expert_count", n_exp)
    f.u32(f"{arch}.expert_used_count", n_used)
    f.u32(f"{arch}.expert_shared_count", n_shared)
    f.u32(f"{arch}.expert_group_count", 8)
    f.u32(f"{arch}.expert_group_used_count", 4)
    f.f32(f"{arch}.expert_weights_scale", 2.5)
    f.b(f"{arch}.expert_weights_norm", True)
    f.u32(f"{arch}.expert_gating_func", 2)  # sigmoid
    f.u32(f"{arch}.rope.dimension_count", rope)
    f.s(f"{arch}.rope.scaling.type", "yarn")
    f.f32(f"{arch}.rope.scaling.factor", 40.0)
    f.u32(f"{arch}.rope.scaling.original_context_length", 4096)
    f.f32(f"{arch}.rope.scaling.yarn_log_multiplier", 0.1)

    f.t("token_embd.weight", [embd, vocab], Q.Q4_K)
    f.t("output_norm.weight", [embd], Q.F32)
    f.t("output.weight", [embd, vocab], Q.Q6_K)
    for i in range(n_layer):
        more = use_more_bits(i, 61)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        f.t(p + "attn_q_a_norm.weight", [q_lora], Q.F32)
        f.t(p + "attn_kv_a_norm.weight", [kv_lora], Q.F32)
        f.t(p + "attn_q_a.weight", [embd, q_lora], Q.Q4_K)
        f.t(p + "attn_q_b.weight", [q_lora, heads * (nope + rope)], Q.Q4_K)
        f.t(p + "attn_kv_a_mqa.weight", [embd, kv_lora + rope], Q.Q4_K)
        f.t(p + "attn_k_b.weight", [nope, kv_lora, heads], Q.Q8_0)   # 128-wide rows: no k-quant
        f.t(p + "attn_v_b.weight", [kv_lora, v_hd, heads], Q.Q6_K if more else Q.Q4_K)
        f.t(p + "attn_output.weight", [heads * v_hd, embd], Q.Q4_K)
        f.t(p + "ffn_norm.weight", [embd], Q.F32)
        if i < n_dense:
            dense_ffn(f, p, embd=embd, ff=ff, more=more)
        else:
            f.t(p + "ffn_gate_inp.weight", [embd, n_exp], Q.F32)
            f.t(p + "exp_probs_b.bias", [n_exp], Q.F32)
            f.t(p + "ffn_gate_exps.weight", [embd, ff_exp, n_exp], Q.Q4_K)
            f.t(p + "ffn_up_exps.weight", [embd, ff_exp, n_exp], Q.Q4_K)
            f.t(p + "ffn_down_exps.weight", [ff_exp, embd, n_exp], Q.Q6_K if more else Q.Q4_K)
            f.t(p + "ffn_gate_shexp.weight", [embd, ff_exp * n_shared], Q.Q4_K)
            f.t(p + "ffn_up_shexp.weight", [embd, ff_exp * n_shared], Q.Q4_K)
            f.t(p + "ffn_down_shexp.weight", [ff_exp * n_shared, embd], Q.Q6_K if more else Q.Q4_K)
    return f


def dense_ffn(f: Fixture, p: str, *, embd: int, ff: int, more: bool) -> None:
    """A dense SwiGLU feed-forward block as Q4_K_M writes it (down at Q6_K on the 'more' layers)."""
    f.t(p + "ffn_gate.weight", [embd, ff], Q.Q4_K)
    f.t(p + "ffn_up.weight", [embd, ff], Q.Q4_K)
    f.t(p + "ffn_down.weight", [ff, embd], Q.Q6_K if more else Q.Q4_K)


def moe_block(f: Fixture, p: str, *, embd: int, n_exp: int, ff_exp: int, n_shared: int, ff_shexp: int,
              more: bool, exp_probs_b: bool = False, exp_type: Q = Q.Q4_K) -> None:
    f.t(p + "ffn_gate_inp.weight", [embd, n_exp], Q.F32)
    if exp_probs_b:
        f.t(p + "exp_probs_b.bias", [n_exp], Q.F32)
    f.t(p + "ffn_gate_exps.weight", [embd, ff_exp, n_exp], exp_type)
    f.t(p + "ffn_up_exps.weight", [embd, ff_exp, n_exp], exp_type)
    f.t(p + "ffn_down_exps.weight", [ff_exp, embd, n_exp], exp_type if exp_type == Q.MXFP4 else (Q.Q6_K if more else Q.Q4_K))
    if n_shared:
        f.t(p + "ffn_gate_shexp.weight", [embd, ff_shexp], Q.Q4_K)
        f.t(p + "ffn_up_shexp.weight", [embd, ff_shexp], Q.Q4_K)
        f.t(p + "ffn_down_shexp.weight", [ff_shexp, embd], Q.Q6_K if more else Q.Q4_K)


def fx_gptoss() -> Fixture:
    # gpt-oss-20b widths (model_configs.csv row gpt-oss-20b), 4 of 24 layers: 2 sliding
    # (window 128) + 2 full, attention sinks, biases, MXFP4 experts (llama.cpp's MXFP4_MOE mix).
    arch, embd, heads, kv_heads, hd, vocab, n_layer = "gpt-oss", 2880, 64, 8, 64, 201088, 4
    n_exp, n_used, ff_exp = 32, 4, 2880
    f = Fixture("gptoss-20b-l4", arch, notes="gpt-oss-20b widths, 4/24 layers, SWA 128 (pattern 2), sinks, MXFP4 experts")
    dense_common(f, arch, ctx=131072, embd=embd, ff=ff_exp, n_layer=n_layer, heads=heads, kv_heads=kv_heads,
                 rope_base=150000.0, eps=1e-5, vocab=vocab)
    f.u32(f"{arch}.attention.key_length", hd)
    f.u32(f"{arch}.attention.value_length", hd)
    f.u32(f"{arch}.rope.dimension_count", hd)
    f.u32(f"{arch}.attention.sliding_window", 128)
    f.u32(f"{arch}.expert_count", n_exp)
    f.u32(f"{arch}.expert_used_count", n_used)
    f.u32(f"{arch}.expert_feed_forward_length", ff_exp)
    f.s(f"{arch}.rope.scaling.type", "yarn")
    f.f32(f"{arch}.rope.scaling.factor", 32.0)
    f.u32(f"{arch}.rope.scaling.original_context_length", 4096)
    f.t("token_embd.weight", [embd, vocab], Q.Q8_0)
    f.t("output_norm.weight", [embd], Q.F32)
    f.t("output.weight", [embd, vocab], Q.Q8_0)
    for i in range(n_layer):
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        f.t(p + "post_attention_norm.weight", [embd], Q.F32)
        f.t(p + "attn_q.weight", [embd, heads * hd], Q.Q8_0)
        f.t(p + "attn_k.weight", [embd, kv_heads * hd], Q.Q8_0)
        f.t(p + "attn_v.weight", [embd, kv_heads * hd], Q.Q8_0)
        f.t(p + "attn_q.bias", [heads * hd], Q.F32)
        f.t(p + "attn_k.bias", [kv_heads * hd], Q.F32)
        f.t(p + "attn_v.bias", [kv_heads * hd], Q.F32)
        f.t(p + "attn_output.weight", [heads * hd, embd], Q.Q8_0)
        f.t(p + "attn_output.bias", [embd], Q.F32)
        f.t(p + "attn_sinks.weight", [heads], Q.F32)
        moe_block(f, p, embd=embd, n_exp=n_exp, ff_exp=ff_exp, n_shared=0, ff_shexp=0, more=False, exp_type=Q.MXFP4)
        f.t(p + "ffn_gate_inp.bias", [n_exp], Q.F32)
        f.t(p + "ffn_gate_exps.bias", [ff_exp, n_exp], Q.F32)
        f.t(p + "ffn_up_exps.bias", [ff_exp, n_exp], Q.F32)
        f.t(p + "ffn_down_exps.bias", [embd, n_exp], Q.F32)
    return f


def fx_llama4() -> Fixture:
    # Llama-4-Scout widths (model_configs.csv row Llama-4-Scout-17B-16E-Instruct), 4 of 48 layers:
    # 3 chunked (8192, hard-coded by llama.cpp) + 1 global, 16 experts + 1 shared expert, every
    # layer MoE (interleave step 1), llama3 rope factors.
    arch, embd, heads, kv_heads, hd, vocab, n_layer = "llama4", 5120, 40, 8, 128, 202048, 4
    n_exp, ff_exp, ff = 16, 8192, 16384
    f = Fixture("llama4-scout-l4", arch, notes="Llama-4-Scout widths, 4/48 layers, chunked attention (3:1), 16 experts + shared")
    dense_common(f, arch, ctx=10485760, embd=embd, ff=ff, n_layer=n_layer, heads=heads, kv_heads=kv_heads,
                 rope_base=500000.0, eps=1e-5, vocab=vocab)
    f.u32(f"{arch}.rope.dimension_count", hd)
    f.u32(f"{arch}.expert_count", n_exp)
    f.u32(f"{arch}.expert_used_count", 1)
    f.u32(f"{arch}.expert_feed_forward_length", ff_exp)
    f.u32(f"{arch}.interleave_moe_layer_step", 1)
    f.t("token_embd.weight", [embd, vocab], Q.Q4_K)
    f.t("output_norm.weight", [embd], Q.F32)
    f.t("output.weight", [embd, vocab], Q.Q6_K)
    f.t("rope_freqs.weight", [hd // 2], Q.F32)
    for i in range(n_layer):
        more = use_more_bits(i, 48)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        f.t(p + "attn_q.weight", [embd, heads * hd], Q.Q4_K)
        f.t(p + "attn_k.weight", [embd, kv_heads * hd], Q.Q4_K)
        f.t(p + "attn_v.weight", [embd, kv_heads * hd], Q.Q6_K if more else Q.Q4_K)
        f.t(p + "attn_output.weight", [heads * hd, embd], Q.Q4_K)
        f.t(p + "ffn_norm.weight", [embd], Q.F32)
        moe_block(f, p, embd=embd, n_exp=n_exp, ff_exp=ff_exp, n_shared=1, ff_shexp=ff_exp, more=more)
    return f


def fx_glm4moe() -> Fixture:
    # GLM-4.5-Air widths (model_configs.csv row GLM-4.5-Air), 1 dense + 1 MoE of 46 layers,
    # 96 query heads of 128 (q wider than the hidden size), q/k/v biases, post-attention norm,
    # 128 experts + 1 shared, sigmoid router with bias; no MTP layer in the file.
    arch, embd, heads, kv_heads, hd, vocab = "glm4moe", 4096, 96, 8, 128, 151552
    n_dense, n_moe, n_exp, n_used, ff_exp, ff = 1, 1, 128, 8, 1408, 10944
    n_layer = n_dense + n_moe
    f = Fixture("glm45air-l2", arch, notes="GLM-4.5-Air widths, 1 dense + 1 MoE of 46 layers, 128 experts + shared")
    dense_common(f, arch, ctx=131072, embd=embd, ff=ff, n_layer=n_layer, heads=heads, kv_heads=kv_heads,
                 rope_base=1_000_000.0, eps=1e-5, vocab=vocab)
    f.u32(f"{arch}.attention.key_length", hd)
    f.u32(f"{arch}.attention.value_length", hd)
    f.u32(f"{arch}.rope.dimension_count", hd // 2)
    f.u32(f"{arch}.expert_count", n_exp)
    f.u32(f"{arch}.expert_used_count", n_used)
    f.u32(f"{arch}.expert_shared_count", 1)
    f.u32(f"{arch}.expert_feed_forward_length", ff_exp)
    f.u32(f"{arch}.leading_dense_block_count", n_dense)
    f.f32(f"{arch}.expert_weights_scale", 1.0)
    f.b(f"{arch}.expert_weights_norm", True)
    f.u32(f"{arch}.expert_gating_func", 2)  # sigmoid
    f.u32(f"{arch}.nextn_predict_layers", 0)
    f.t("token_embd.weight", [embd, vocab], Q.Q4_K)
    f.t("output_norm.weight", [embd], Q.F32)
    f.t("output.weight", [embd, vocab], Q.Q6_K)
    for i in range(n_layer):
        more = use_more_bits(i, 46)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        f.t(p + "post_attention_norm.weight", [embd], Q.F32)
        f.t(p + "attn_q.weight", [embd, heads * hd], Q.Q4_K)
        f.t(p + "attn_k.weight", [embd, kv_heads * hd], Q.Q4_K)
        f.t(p + "attn_v.weight", [embd, kv_heads * hd], Q.Q6_K if more else Q.Q4_K)
        f.t(p + "attn_q.bias", [heads * hd], Q.F32)
        f.t(p + "attn_k.bias", [kv_heads * hd], Q.F32)
        f.t(p + "attn_v.bias", [kv_heads * hd], Q.F32)
        f.t(p + "attn_output.weight", [heads * hd, embd], Q.Q4_K)
        if i < n_dense:
            dense_ffn(f, p, embd=embd, ff=ff, more=more)
        else:
            moe_block(f, p, embd=embd, n_exp=n_exp, ff_exp=ff_exp, n_shared=1, ff_shexp=ff_exp, more=more,
                      exp_probs_b=True)
    return f


def fx_lfm2() -> Fixture:
    # LFM2-1.2B widths (LiquidAI/LFM2-1.2B config.json: hidden 2048, 32 heads, 8 KV heads,
    # conv_L_cache 3, block_ff_dim 12288 auto-adjusted to 8192, vocab 65536, tied embeddings),
    # its first 4 of 16 layers: conv, conv, attention, conv. llama.cpp marks a layer recurrent
    # (short convolution) where the per-layer head_count_kv is 0.
    arch, embd, heads, kv_heads, hd, ff, vocab, l_cache = "lfm2", 2048, 32, 8, 64, 8192, 65536, 3
    kinds = [0, 0, kv_heads, 0]
    n_layer = len(kinds)
    f = Fixture("lfm2-1.2b-l4", arch, notes="LFM2-1.2B widths, 4/16 layers (conv, conv, attention, conv), short-conv L_cache 3")
    f.u32(f"{arch}.context_length", 128000)
    f.u32(f"{arch}.embedding_length", embd)
    f.u32(f"{arch}.block_count", n_layer)
    f.u32(f"{arch}.feed_forward_length", ff)
    f.u32(f"{arch}.attention.head_count", heads)
    f.arr_u32(f"{arch}.attention.head_count_kv", kinds)
    f.f32(f"{arch}.rope.freq_base", 1000000.0)
    f.f32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    f.u32(f"{arch}.vocab_size", vocab)
    f.u32(f"{arch}.shortconv.l_cache", l_cache)
    f.n_vocab = vocab
    f.t("token_embd.weight", [embd, vocab], Q.Q6_K)
    f.t("token_embd_norm.weight", [embd], Q.F32)  # llama.cpp's name for LFM2's final norm
    for i, kvh in enumerate(kinds):
        more = use_more_bits(i, n_layer)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        if kvh:
            f.t(p + "attn_q_norm.weight", [hd], Q.F32)
            f.t(p + "attn_k_norm.weight", [hd], Q.F32)
            f.t(p + "attn_q.weight", [embd, heads * hd], Q.Q4_K)
            f.t(p + "attn_k.weight", [embd, kvh * hd], Q.Q4_K)
            f.t(p + "attn_v.weight", [embd, kvh * hd], Q.Q6_K if more else Q.Q4_K)
            f.t(p + "attn_output.weight", [embd, embd], Q.Q4_K)
        else:
            f.t(p + "shortconv.conv.weight", [l_cache, embd], Q.F32)
            f.t(p + "shortconv.in_proj.weight", [embd, 3 * embd], Q.Q4_K)
            f.t(p + "shortconv.out_proj.weight", [embd, embd], Q.Q4_K)
        f.t(p + "ffn_norm.weight", [embd], Q.F32)
        dense_ffn(f, p, embd=embd, ff=ff, more=more)
    return f


def fx_qwen3next() -> Fixture:
    # Qwen3-Next-80B-A3B widths (HF Qwen/Qwen3-Next-80B-A3B-Instruct config.json: hidden 2048,
    # 16 heads of 256 (gated q: attn_q is 2x wide), 2 KV heads, gated delta net with 16 key heads
    # and 32 value heads of 128, conv kernel 4, 512 experts of 512 (10 used) + one shared expert of
    # 512, vocab 151936, partial rotary 0.25, rope theta 1e7). Its pattern is 3 linear-attention
    # blocks then 1 full-attention block (full_attention_interval 4); this file has 2 blocks and
    # full_attention_interval 2 (llama.cpp models/qwen3next.cpp reads it), so it holds one of each
    # at 1.8 GB instead of 3.6 GB of (sparse) experts.
    arch, embd, heads, kv_heads, hd, vocab = "qwen3next", 2048, 16, 2, 256, 151936
    n_exp, n_used, ff_exp, ff_sh = 512, 10, 512, 512
    d_conv, k_hd, n_k, n_v, v_hd = 4, 128, 16, 32, 128
    key_dim, value_dim = k_hd * n_k, v_hd * n_v
    n_layer, interval = 2, 2
    f = Fixture("qwen3next-80b-l2", arch,
                notes="Qwen3-Next-80B-A3B widths, 2/48 blocks (gated delta net, full attention), 512 experts + shared")
    dense_common(f, arch, ctx=262144, embd=embd, ff=5120, n_layer=n_layer, heads=heads, kv_heads=kv_heads,
                 rope_base=10_000_000.0, eps=1e-6, vocab=vocab)
    f.u32(f"{arch}.attention.key_length", hd)
    f.u32(f"{arch}.attention.value_length", hd)
    f.u32(f"{arch}.rope.dimension_count", hd // 4)
    f.u32(f"{arch}.expert_count", n_exp)
    f.u32(f"{arch}.expert_used_count", n_used)
    f.u32(f"{arch}.expert_feed_forward_length", ff_exp)
    f.u32(f"{arch}.expert_shared_feed_forward_length", ff_sh)
    f.u32(f"{arch}.ssm.conv_kernel", d_conv)
    f.u32(f"{arch}.ssm.state_size", k_hd)
    f.u32(f"{arch}.ssm.group_count", n_k)
    f.u32(f"{arch}.ssm.time_step_rank", n_v)
    f.u32(f"{arch}.ssm.inner_size", value_dim)
    f.u32(f"{arch}.full_attention_interval", interval)
    f.t("token_embd.weight", [embd, vocab], Q.Q4_K)
    f.t("output_norm.weight", [embd], Q.F32)
    f.t("output.weight", [embd, vocab], Q.Q6_K)
    for i in range(n_layer):
        more = use_more_bits(i, 48)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        f.t(p + "post_attention_norm.weight", [embd], Q.F32)
        if (i + 1) % interval == 0:
            f.t(p + "attn_q.weight", [embd, heads * hd * 2], Q.Q4_K)
            f.t(p + "attn_k.weight", [embd, kv_heads * hd], Q.Q4_K)
            f.t(p + "attn_v.weight", [embd, kv_heads * hd], Q.Q6_K if more else Q.Q4_K)
            f.t(p + "attn_output.weight", [heads * hd, embd], Q.Q4_K)
            f.t(p + "attn_q_norm.weight", [hd], Q.F32)
            f.t(p + "attn_k_norm.weight", [hd], Q.F32)
        else:
            f.t(p + "attn_qkv.weight", [embd, key_dim * 2 + value_dim], Q.Q4_K)
            f.t(p + "attn_gate.weight", [embd, value_dim], Q.Q4_K)
            f.t(p + "ssm_conv1d.weight", [d_conv, key_dim * 2 + value_dim], Q.F32)
            f.t(p + "ssm_dt.bias", [n_v], Q.F32)
            f.t(p + "ssm_a", [n_v], Q.F32)
            f.t(p + "ssm_ba.weight", [embd, 2 * n_v], Q.Q4_K)
            f.t(p + "ssm_norm.weight", [v_hd], Q.F32)
            f.t(p + "ssm_out.weight", [value_dim, embd], Q.Q4_K)
        moe_block(f, p, embd=embd, n_exp=n_exp, ff_exp=ff_exp, n_shared=1, ff_shexp=ff_sh, more=more)
        f.t(p + "ffn_gate_inp_shexp.weight", [embd], Q.F32)
    return f


def mamba2_mixer(f: Fixture, p: str, *, embd: int, d_conv: int, d_inner: int, d_state: int, n_group: int,
                 n_head: int) -> None:
    # llama.cpp models/mamba2.cpp (and nemotron-h.cpp): in_proj to z, xBC and dt; depthwise conv
    # with bias; per-head dt bias, A and D; grouped RMS norm; out_proj.
    conv_dim = d_inner + 2 * n_group * d_state
    d_in_proj = 2 * d_inner + 2 * n_group * d_state + n_head  # z, xBC, dt
    f.t(p + "ssm_in.weight", [embd, d_in_proj], Q.Q4_K)
    f.t(p + "ssm_conv1d.weight", [d_conv, conv_dim], Q.F32)
    f.t(p + "ssm_conv1d.bias", [conv_dim], Q.F32)
    f.t(p + "ssm_dt.bias", [n_head], Q.F32)
    f.t(p + "ssm_a", [1, n_head], Q.F32)
    f.t(p + "ssm_d", [1, n_head], Q.F32)
    f.t(p + "ssm_norm.weight", [d_inner // n_group, n_group], Q.F32)
    f.t(p + "ssm_out.weight", [d_inner, embd], Q.Q4_K)


def fx_mamba2() -> Fixture:
    # Mamba2-2.7B widths (state-spaces/mamba2-2.7b: d_model 2560, 64 layers, d_state 128, expand 2,
    # headdim 64 -> 80 heads, ngroups 1, d_conv 4, vocab 50277 padded to 50288, tied embeddings),
    # 4 of 64 layers. Every block is a Mamba-2 mixer: no attention, no KV cache.
    arch, embd, vocab, n_layer = "mamba2", 2560, 50288, 4
    d_conv, d_inner, d_state, n_group = 4, 5120, 128, 1
    n_head = d_inner // 64
    f = Fixture("mamba2-2.7b-l4", arch, notes="Mamba2-2.7B widths, 4/64 layers, every block a Mamba-2 mixer (no KV)")
    f.u32(f"{arch}.context_length", 1 << 20)
    f.u32(f"{arch}.embedding_length", embd)
    f.u32(f"{arch}.feed_forward_length", 0)
    f.u32(f"{arch}.attention.head_count", 0)
    f.u32(f"{arch}.block_count", n_layer)
    f.u32(f"{arch}.ssm.conv_kernel", d_conv)
    f.u32(f"{arch}.ssm.inner_size", d_inner)
    f.u32(f"{arch}.ssm.state_size", d_state)
    f.u32(f"{arch}.ssm.time_step_rank", n_head)
    f.u32(f"{arch}.ssm.group_count", n_group)
    f.f32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    f.n_vocab = vocab
    f.t("token_embd.weight", [embd, vocab], Q.Q6_K)
    f.t("output_norm.weight", [embd], Q.F32)
    for i in range(n_layer):
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        mamba2_mixer(f, p, embd=embd, d_conv=d_conv, d_inner=d_inner, d_state=d_state, n_group=n_group,
                     n_head=n_head)
    return f


def fx_nemotron_h() -> Fixture:
    # Nemotron-H-4B widths (NVIDIA Megatron-Bridge docs/models/llm/nemotronh.md: hidden 3072, FFN 12288,
    # 32 query heads, 8 KV groups of 128, 112 Mamba heads of 64, state 128, pattern
    # M-M-M-M*-M-M-M-M-M*-...; n_groups 8, conv kernel 4 and vocab 131072 as in the Nemotron-H
    # family's config.json), blocks 6..9 of the pattern: Mamba-2, attention, MLP, Mamba-2.
    # llama.cpp models/nemotron-h.cpp: a block is recurrent where its head_count_kv and
    # feed_forward_length entries are both 0, attention where only feed_forward_length is 0.
    arch, embd, ff, heads, kv_heads, hd, vocab = "nemotron_h", 3072, 12288, 32, 8, 128, 131072
    d_conv, d_state, n_group, n_head = 4, 128, 8, 112
    d_inner = n_head * 64
    kinds = "M*-M"
    n_layer = len(kinds)
    f = Fixture("nemotronh-4b-l4", arch, notes="Nemotron-H-4B widths, 4/52 blocks (Mamba-2, attention, MLP, Mamba-2)")
    f.u32(f"{arch}.context_length", 8192)
    f.u32(f"{arch}.embedding_length", embd)
    f.u32(f"{arch}.block_count", n_layer)
    f.arr_u32(f"{arch}.feed_forward_length", [ff if k == "-" else 0 for k in kinds])
    f.u32(f"{arch}.attention.head_count", heads)
    f.arr_u32(f"{arch}.attention.head_count_kv", [kv_heads if k == "*" else 0 for k in kinds])
    f.u32(f"{arch}.attention.key_length", hd)
    f.u32(f"{arch}.attention.value_length", hd)
    f.f32(f"{arch}.attention.layer_norm_epsilon", 1e-5)
    f.f32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    f.f32(f"{arch}.rope.freq_base", 10000.0)
    f.u32(f"{arch}.rope.dimension_count", hd)
    f.u32(f"{arch}.vocab_size", vocab)
    f.u32(f"{arch}.ssm.conv_kernel", d_conv)
    f.u32(f"{arch}.ssm.inner_size", d_inner)
    f.u32(f"{arch}.ssm.state_size", d_state)
    f.u32(f"{arch}.ssm.time_step_rank", n_head)
    f.u32(f"{arch}.ssm.group_count", n_group)
    f.n_vocab = vocab
    f.t("token_embd.weight", [embd, vocab], Q.Q4_K)
    f.t("output_norm.weight", [embd], Q.F32)
    f.t("output.weight", [embd, vocab], Q.Q6_K)
    for i, k in enumerate(kinds):
        more = use_more_bits(i, 52)
        p = f"blk.{i}."
        f.t(p + "attn_norm.weight", [embd], Q.F32)
        if k == "M":
            mamba2_mixer(f, p, embd=embd, d_conv=d_conv, d_inner=d_inner, d_state=d_state, n_group=n_group,
                         n_head=n_head)
        elif k == "*":
            f.t(p + "attn_q.weight", [embd, heads * hd], Q.Q4_K)
            f.t(p + "attn_k.weight", [embd, kv_heads * hd], Q.Q4_K)
            f.t(p + "attn_v.weight", [embd, kv_heads * hd], Q.Q6_K if more else Q.Q4_K)
            f.t(p + "attn_output.weight", [heads * hd, embd], Q.Q4_K)
        else:
            f.t(p + "ffn_up.weight", [embd, ff], Q.Q4_K)
            f.t(p + "ffn_down.weight", [ff, embd], Q.Q6_K if more else Q.Q4_K)
    return f


FIXTURES = {
    "qwen2-7b-l4": fx_qwen2,
    "llama-8b-l4": fx_llama,
    "gemma3-1b": fx_gemma3,
    "deepseek2-r1-l4": fx_deepseek2,
    "gptoss-20b-l4": fx_gptoss,
    "llama4-scout-l4": fx_llama4,
    "glm45air-l2": fx_glm4moe,
    "lfm2-1.2b-l4": fx_lfm2,
    "qwen3next-80b-l2": fx_qwen3next,
    "mamba2-2.7b-l4": fx_mamba2,
    "nemotronh-4b-l4": fx_nemotron_h,
}


def write_fixture(f: Fixture, out: Path) -> Path:
    path = out / f"{f.name}.gguf"
    w = gguf.GGUFWriter(str(path), f.arch)
    w.add_string("general.name", f.name)
    w.add_string("general.type", "model")
    w.add_uint32("general.file_type", 15)  # MOSTLY_Q4_K_M
    w.add_uint32("general.quantization_version", 2)
    w.add_string("general.description", "canirun sparse fixture: " + f.notes)
    for key, kind, v in f.kv:
        {"u32": w.add_uint32, "f32": w.add_float32, "bool": w.add_bool, "str": w.add_string,
         "arr_u32": w.add_array}[kind](key, v)
    pre = {"qwen2": "qwen2", "llama": "llama-bpe"}.get(f.arch, "default")
    add_tokenizer(w, f.n_vocab, pre)

    data = 0
    align = w.data_alignment
    for name, ne, qt in f.tensors:
        nb = nbytes_of(ne, qt)
        w.add_tensor_info(name, list(reversed(ne)), np.dtype(np.float32), nb, raw_dtype=qt)
        data += (nb + align - 1) // align * align

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    assert w.fout is not None
    fh = w.fout[0]
    pos = fh.tell()
    hdr_end = (pos + align - 1) // align * align
    fh.write(b"\0" * (hdr_end - pos))
    fh.flush()
    w.close()
    os.truncate(path, hdr_end + data)  # sparse tensor data (reads as zeros)
    return path


# Real files nobody on this project wrote (scripts/fetch-real-gguf.sh), placed beside the
# fixtures under a fixture name so the harness and `canirun validate llama-cpp` find them:
# Gemma-3-270M Q4_K_M as published (a link), and the R1-Distill-Qwen-7B Q4_K_M header
# (the first 99.6 MB of the 4.68 GB file) padded with zeros to the size its header implies,
# as a sparse copy (as scripts/bench-real.sh does; llama.cpp loads it).
REAL = {
    "gemma3-270m-q4km-real": "gemma-3-270m-q4_k_m.gguf",
    "r1-qwen7b-q4km-real": "r1-distill-qwen-7b-part0000.gguf",
}


def place_real(real_dir: Path, out: Path) -> None:
    for name, src in REAL.items():
        path, src_path = out / f"{name}.gguf", real_dir / src
        if not src_path.exists():
            print(f"{name}: {src_path} missing (scripts/fetch-real-gguf.sh): skipped", file=sys.stderr)
            continue
        if path.exists() or path.is_symlink():
            path.unlink()
        with src_path.open("rb") as fi, path.open("wb") as fo:
            fo.write(fi.read())
        # gguf's reader maps every tensor: extend the copy first (sparse), then cut it
        # at the end of the last tensor.
        os.truncate(path, max(path.stat().st_size, 8 << 30))
        r = gguf.GGUFReader(str(path))
        size = max(t.data_offset + t.n_bytes for t in r.tensors)
        del r
        if src_path.stat().st_size >= size:
            path.unlink()
            path.symlink_to(src_path.resolve())
        else:
            os.truncate(path, size)  # sparse zeros up to the end of the last tensor
        print(f"{path}  size={size / 2**20:.2f} MiB (real file{'' if path.is_symlink() else ', header padded'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cache = Path(os.environ.get("CANIRUN_CACHE", Path.home() / ".cache" / "canirun"))
    ap.add_argument("--out", type=Path, default=cache / "fixtures")
    ap.add_argument("--only", nargs="*", choices=sorted(FIXTURES))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--real", type=Path, default=Path(os.environ.get("CANIRUN_REAL_GGUF_DIR", cache / "real-gguf")),
                    help="folder of scripts/fetch-real-gguf.sh's files, placed beside the fixtures")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if not a.only and not a.list:
        place_real(a.real, a.out)
    for name in a.only or FIXTURES:
        f = FIXTURES[name]()
        if a.list:
            print(name, f.arch, len(f.tensors), "tensors")
            continue
        path = write_fixture(f, a.out)
        size = path.stat().st_size
        used = path.stat().st_blocks * 512
        types: dict[str, int] = {}
        tot: dict[str, int] = {}
        for _, ne, qt in f.tensors:
            types[qt.name] = types.get(qt.name, 0) + 1
            tot[qt.name] = tot.get(qt.name, 0) + nbytes_of(ne, qt)
        mix = ", ".join(f"{k}x{types[k]} ({tot[k] / 2**20:.1f} MiB)" for k in sorted(types))
        print(f"{path}  size={size / 2**20:.2f} MiB (on disk {used / 2**20:.1f} MiB)  {len(f.tensors)} tensors: {mix}")


if __name__ == "__main__":
    main()
