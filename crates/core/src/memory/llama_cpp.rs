//! llama.cpp's memory: what `llama_model_load` and `llama_init_from_model`
//! allocate, following the code of llama.cpp commit 0c1e57098 (the tree
//! vendored in PyPI llama-cpp-python 0.3.36).
//!
//! - The context is padded to a multiple of 256; without a unified KV cache it
//!   is split into one stream per sequence, each padded to 256 again.
//! - The KV cache holds, per layer and cell, one K row of `n_head_kv × head_k`
//!   and one V row of `n_head_kv × head_v` values in the cache type. DeepSeek's
//!   MLA caches only the compressed latent (K = kv_lora_rank + rope dims, no V).
//! - The compute buffer is the peak of the scheduler's allocator over a
//!   worst-case graph: one micro-batch of `min(n_ctx, n_ubatch)` tokens
//!   attending to the full cache. Tensors die after their last use and the
//!   allocator reuses their memory, so the peak is the largest set of
//!   activations alive at one time, which this module lists stage by stage.
//! - The output buffer holds F32 logits for the reserved output rows.

use super::{
    Backend, FlashAttn, MemoryBreakdown, MlaCache, OutputRows, Part, ResolvedSettings, RunSettings,
    SettingsError, Term, CACHE_TYPES,
};
use crate::model::{Arch, LayerKind, ModelSpec};
use crate::quant::{GgmlType, Weights};
use crate::units::Bytes;
use serde::Deserialize;
use std::sync::LazyLock;

/// llama.cpp pads the context (and each stream's share) to this many cells.
const CTX_PAD: u64 = 256;

/// Largest context canirun accepts (far above any model's training context).
const MAX_CTX: u64 = 10_000_000;

fn pad(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

#[derive(Deserialize)]
struct OverheadFile {
    backend: Vec<OverheadRow>,
}

#[derive(Deserialize)]
struct OverheadRow {
    name: String,
    overhead_mib: u64,
    source: String,
}

static OVERHEADS: LazyLock<Vec<OverheadRow>> = LazyLock::new(|| {
    let f: OverheadFile = toml::from_str(include_str!("../../data/backend_overheads.toml"))
        .expect("embedded backend_overheads.toml is valid (checked by a test)");
    f.backend
});

/// The fixed overhead of a backend and its source.
pub fn backend_overhead(b: Backend) -> (Bytes, &'static str) {
    OVERHEADS
        .iter()
        .find(|r| r.name == b.as_str())
        .map(|r| (Bytes::mib(r.overhead_mib), r.source.as_str()))
        .unwrap_or((Bytes::ZERO, "no overhead recorded"))
}

/// Check settings the way llama.cpp does before it allocates anything, and
/// resolve the context, streams, worst-case tokens and flash attention.
pub fn resolve_settings(m: &ModelSpec, s: &RunSettings) -> Result<ResolvedSettings, SettingsError> {
    if s.n_ctx > MAX_CTX {
        return Err(SettingsError::Context(s.n_ctx));
    }
    for (what, value, max) in [
        ("-b/--batch-size", s.n_batch, 1u64 << 20),
        ("-ub/--ubatch-size", s.n_ubatch, 1 << 20),
        ("-np/--parallel", s.n_parallel, 4096),
    ] {
        if value == 0 || value > max {
            return Err(SettingsError::Range {
                what,
                value,
                range: "1 to 1,048,576 for batches, 1 to 4096 sequences",
            });
        }
    }
    for t in [s.type_k, s.type_v] {
        if !CACHE_TYPES.contains(&t) {
            return Err(SettingsError::CacheType(t));
        }
    }
    let mla = m.mla.is_some() && s.mla_cache != MlaCache::Expanded;
    if mla && s.type_k != s.type_v {
        return Err(SettingsError::MlaCacheTypes(s.type_k, s.type_v));
    }
    let flash_attn = match s.flash_attn {
        FlashAttn::On => true,
        // llama.cpp turns "auto" on when the device supports the kernel: every
        // backend canirun models does for these head sizes.
        FlashAttn::Auto => true,
        FlashAttn::Off => {
            if s.type_v.is_quantized() {
                return Err(SettingsError::QuantizedVNeedsFlashAttn(s.type_v));
            }
            false
        }
    };
    if flash_attn {
        let (hk, hv) = cache_head_dims(m, s.mla_cache);
        for (ty, head) in [(s.type_k, hk), (s.type_v, hv)] {
            if ty.is_quantized() && !head.is_multiple_of(ty.block_size()) {
                return Err(SettingsError::HeadBlock {
                    ty,
                    block: ty.block_size(),
                    head,
                });
            }
        }
    }
    let requested = if s.n_ctx == 0 { m.n_ctx_train } else { s.n_ctx };
    let mut n_ctx = pad(requested.max(1), CTX_PAD);
    let n_seq = s.n_parallel;
    let (n_ctx_seq, n_stream) = if s.kv_unified || n_seq == 1 {
        (n_ctx, 1)
    } else {
        let per = pad(n_ctx / n_seq, CTX_PAD).max(CTX_PAD);
        n_ctx = per * n_seq;
        (per, n_seq)
    };
    let n_batch = s.n_batch.min(n_ctx);
    let n_ubatch = s.n_ubatch.min(n_batch);
    let mut n_tokens = n_ctx.min(n_ubatch);
    if !n_tokens.is_multiple_of(n_seq) {
        n_tokens = pad(n_tokens, n_seq);
    }
    // llama-server reserves one logit row per sequence (n_outputs_max =
    // n_parallel); the library default reserves one per token of the micro-batch.
    let n_outputs = match s.outputs {
        OutputRows::PerSequence => n_tokens.min(n_seq),
        OutputRows::PerToken => n_tokens,
    };
    Ok(ResolvedSettings {
        n_ctx,
        n_ctx_seq,
        n_stream,
        n_tokens,
        n_outputs,
        flash_attn,
    })
}

/// Per-head K and V widths as the cache stores them.
fn cache_head_dims(m: &ModelSpec, layout: MlaCache) -> (u64, u64) {
    match (m.mla, layout) {
        (Some(mla), MlaCache::Latent) => (mla.kv_lora_rank + mla.qk_rope_head_dim, 0),
        (Some(mla), MlaCache::LatentKv) => {
            (mla.kv_lora_rank + mla.qk_rope_head_dim, mla.kv_lora_rank)
        }
        _ => (m.head_dim_k, m.head_dim_v),
    }
}

/// Cached K and V values per token and layer (all KV heads).
fn kv_row_widths(m: &ModelSpec, layout: MlaCache) -> (u64, u64) {
    let (hk, hv) = cache_head_dims(m, layout);
    match (m.mla, layout) {
        (Some(_), MlaCache::Latent | MlaCache::LatentKv) => (hk, hv),
        _ => (m.n_head_kv * hk, m.n_head_kv * hv),
    }
}

/// Cells of a sliding-window layer's cache (all streams): each stream keeps
/// the window (times the sequences sharing a unified stream) plus one
/// micro-batch, padded to 256, never more than the full cache.
pub fn swa_cells(m: &ModelSpec, s: &RunSettings, r: &ResolvedSettings) -> Option<u64> {
    let swa = m.swa?;
    let per_seq = if r.n_stream == 1 { s.n_parallel } else { 1 };
    let n_ubatch = s.n_ubatch.min(s.n_batch.min(r.n_ctx));
    let per_stream = pad(r.n_ctx_seq.min(swa.window * per_seq + n_ubatch), CTX_PAD);
    Some(per_stream * r.n_stream)
}

/// Width of the DSA lightning indexer's key cache per token and layer: a second
/// K-only cache with one key head, in the K cache type, over the same cells
/// (llama-kv-cache-dsa.cpp builds it as an MLA-style cache, so it has no V).
fn indexer_key_width(m: &ModelSpec) -> u64 {
    m.dsa.map_or(0, |d| d.head_dim)
}

/// KV bytes of block `il` (its cells × one K and one V row).
pub fn kv_layer_bytes(m: &ModelSpec, s: &RunSettings, r: &ResolvedSettings, il: u64) -> Bytes {
    let (wk, wv) = kv_row_widths(m, s.mla_cache);
    let wi = indexer_key_width(m);
    let row = s.type_k.row_size(wk)
        + if wv > 0 { s.type_v.row_size(wv) } else { 0 }
        + if wi > 0 { s.type_k.row_size(wi) } else { 0 };
    let cells = match (m.swa, swa_cells(m, s, r)) {
        (Some(w), Some(c)) if w.is_swa(il) => c,
        _ => r.n_ctx,
    };
    match m.layer_kind(il) {
        LayerKind::Attention => Bytes(cells * row),
        LayerKind::ShortConv | LayerKind::Mamba2 | LayerKind::DeltaNet => {
            Bytes(recurrent_cells(s) * recurrent_row_bytes(m))
        }
        // MLP-only blocks keep nothing per sequence.
        LayerKind::FeedForward => Bytes::ZERO,
        // Not sized: the model's notes name these blocks.
        LayerKind::Unknown => Bytes::ZERO,
    }
}

/// Recurrent state rows: one per sequence, at least one
/// (llama-model.cpp: `recurrent_rs_size = max(1, n_seq_max)`).
fn recurrent_cells(s: &RunSettings) -> u64 {
    s.n_parallel.max(1)
}

/// Bytes of one sequence's recurrent state in one recurrent block: the r and s
/// rows, f32 as llama.cpp allocates them by default (llama-memory-recurrent.cpp).
fn recurrent_row_bytes(m: &ModelSpec) -> u64 {
    m.recurrent
        .as_ref()
        .map_or(0, |r| 4 * (r.n_embd_r(m.n_embd) + r.n_embd_s()))
}

/// The KV cache: every layer holds `cells` rows of K (and V) in the cache type;
/// sliding-window layers hold only [`swa_cells`].
pub fn kv_cache(m: &ModelSpec, s: &RunSettings, r: &ResolvedSettings) -> Part {
    let (wk, wv) = kv_row_widths(m, s.mla_cache);
    let n_swa_layers = m.swa.map_or(0, |w| {
        (0..m.n_layer)
            .filter(|&il| w.is_swa(il) && m.layer_kind(il) == LayerKind::Attention)
            .count() as u64
    });
    // Hybrid models: only the attention blocks keep a KV cache.
    let n_full = m.n_attention_layers() - n_swa_layers;
    let k_row = s.type_k.row_size(wk);
    let v_row = if wv > 0 { s.type_v.row_size(wv) } else { 0 };
    let mut groups = vec![("", n_full, r.n_ctx)];
    if let Some(cells) = swa_cells(m, s, r).filter(|_| n_swa_layers > 0) {
        groups[0].0 = "full-attention ";
        groups.push(("sliding-window ", n_swa_layers, cells));
    }
    let mut k = Bytes::ZERO;
    let mut v = Bytes::ZERO;
    let mut terms = Vec::new();
    for (kind, layers, cells) in &groups {
        let kb = Bytes(layers * cells * k_row);
        k += kb;
        terms.push(Term::new(
            format!("K cache, {kind}layers"),
            format!(
                "{layers} layers × {cells} cells × {wk} values × {} B ({}: {k_row} B per row)",
                fmt_bytes_per_value(s.type_k),
                s.type_k,
            ),
            kb,
        ));
        if wv > 0 {
            let vb = Bytes(layers * cells * v_row);
            v += vb;
            terms.push(Term::new(
                format!("V cache, {kind}layers"),
                format!(
                    "{layers} layers × {cells} cells × {wv} values × {} B ({}: {v_row} B per row)",
                    fmt_bytes_per_value(s.type_v),
                    s.type_v,
                ),
                vb,
            ));
        }
    }
    let wi = indexer_key_width(m);
    if wi > 0 {
        // Same cells as the main cache (no sliding window on DeepSeek V3.2).
        let i_row = s.type_k.row_size(wi);
        let ib = Bytes(m.n_layer * r.n_ctx * i_row);
        k += ib;
        terms.push(Term::new(
            "DSA indexer key cache",
            format!(
                "{} layers × {} cells × {wi} values × {} B ({}: {i_row} B per row; one key head, no V)",
                m.n_layer,
                r.n_ctx,
                fmt_bytes_per_value(s.type_k),
                s.type_k,
            ),
            ib,
        ));
    }
    let mut rs = Bytes::ZERO;
    if let Some(rec) = &m.recurrent {
        // llama_memory_recurrent (llama-memory-recurrent.cpp:102) allocates one r and
        // one s row per sequence in every recurrent block, all of the same widths.
        let cells = recurrent_cells(s);
        let (wr, ws) = (rec.n_embd_r(m.n_embd), rec.n_embd_s());
        for (kind, label) in [
            (LayerKind::ShortConv, "short-convolution"),
            (LayerKind::Mamba2, "Mamba-2"),
            (LayerKind::DeltaNet, "gated delta net"),
        ] {
            let n = rec.count(kind);
            if n == 0 {
                continue;
            }
            let b = Bytes(n * cells * recurrent_row_bytes(m));
            rs += b;
            terms.push(Term::new(
                format!("recurrent state, {label} layers"),
                format!(
                    "{n} layers × {cells} sequences × ({wr} r + {ws} s values) × 4 B (f32, fixed size per sequence, independent of the context)"
                ),
                b,
            ));
        }
        let n_unknown = rec.count(LayerKind::Unknown);
        if n_unknown > 0 {
            terms.push(Term::new(
                "recurrent state, unknown layer kind",
                format!("{n_unknown} layers without KV heads of a kind canirun does not know: NOT counted"),
                Bytes::ZERO,
            ));
        }
    }
    if wv == 0 {
        terms.push(Term::new(
            "V cache",
            "none: llama.cpp reads V from the cached MLA latent (V-less cache, PR #19067)",
            Bytes::ZERO,
        ));
    }
    Part {
        bytes: k + v + rs,
        terms,
    }
}

fn fmt_bytes_per_value(t: GgmlType) -> String {
    let b = t.bytes_per_block() as f64 / t.block_size() as f64;
    if b.fract() == 0.0 {
        format!("{b:.0}")
    } else {
        format!("{b:.4}")
    }
}

/// One stage of the graph and the activations alive at its peak.
struct Stage {
    name: &'static str,
    live: Vec<(String, u64)>,
    /// Runs after the last layer: the attention masks are already freed and
    /// only the token-id and position inputs are still alive.
    after_layers: bool,
}

impl Stage {
    fn bytes(&self) -> u64 {
        self.live.iter().map(|(_, b)| b).sum()
    }
}

/// Label of the inputs that stay alive through the output head.
const TOKEN_INPUTS: &str = "token ids + positions";

/// The compute buffer: the largest set of activations alive at once.
///
/// The live sets below were read off llama.cpp's graph builders and checked
/// against the CPU buffers llama.cpp reports for R1-Distill-Qwen-7B,
/// Llama-3.1-8B and DeepSeek-R1 widths (`data/llama_cpp_cpu_buffers.csv`):
/// - inputs live for the whole graph; the attention mask is F16 with flash
///   attention (and always for MLA's K-only cache), F32 without;
/// - without flash attention the KQ score matrix (cells × tokens × heads, F32)
///   dominates; softmax runs in place on it;
/// - the dense feed-forward holds gate, up and activation (3 × n_ff) next to
///   four hidden-size tensors per token;
/// - the MoE feed-forward holds the largest of its op-order points (gate + up +
///   activation of the used experts, or activation + down outputs, ...) next to
///   the same four hidden-size tensors (checked on gpt-oss and Llama 4 widths);
/// - a feed-forward kind that only the last layer has runs on the output rows.
fn build_stages(
    m: &ModelSpec,
    s: &RunSettings,
    r: &ResolvedSettings,
) -> (Vec<(String, u64)>, Vec<Stage>) {
    const F32: u64 = 4;
    let t = r.n_tokens;
    let e = m.n_embd;
    let n_kv = r.n_ctx_seq; // cells each stream's attention spans
    let mla = m.mla.filter(|_| s.mla_cache != MlaCache::Expanded);
    let mask_elem = if r.flash_attn || mla.is_some() { 2 } else { 4 };
    // Inputs live for the whole graph.
    // A model without attention blocks (Mamba-2) builds no KQ mask.
    let has_attention = m.n_attention_layers() > 0;
    let mut inputs: Vec<(String, u64)> = vec![(format!("{TOKEN_INPUTS} {t} × 8 B"), t * 8)];
    if has_attention {
        inputs.insert(
            0,
            (
                format!("KQ mask {n_kv} cells × {t} tokens × {mask_elem} B"),
                n_kv * t * mask_elem,
            ),
        );
    }
    if let Some(cells) = swa_cells(m, s, r) {
        let per_stream = cells / r.n_stream.max(1);
        inputs.push((
            format!("sliding-window KQ mask {per_stream} cells × {t} tokens × {mask_elem} B"),
            per_stream * t * mask_elem,
        ));
    }
    let per_rows = |label: &str, floats: u64, rows: u64| -> (String, u64) {
        (
            format!("{label}: {floats} × {rows} tokens × 4 B"),
            floats * rows * F32,
        )
    };
    let per_tok = |label: &str, floats: u64| per_rows(label, floats, t);
    // llama.cpp's builders (llama, qwen2, deepseek2, glm4moe, llama4, gemma3...)
    // gather the output rows (`inp_out_ids`) before the last layer's
    // feed-forward, so a feed-forward kind (dense or MoE) that only the last
    // layer has runs on the n_outputs rows, not on the micro-batch. (gpt-oss
    // gathers after the layers, but all of its layers are MoE: no difference.)
    let last = m.n_layer.saturating_sub(1);
    let ffn_rows = |moe: bool| -> u64 {
        if (0..last).any(|il| m.is_moe_layer(il) == moe) {
            t
        } else {
            r.n_outputs
        }
    };
    let h = m.n_head;
    let mut stages = Vec::new();
    // Attention.
    let mut attn = match mla {
        Some(mla) => {
            // Absorbed MLA: queries are projected into the latent space, attention runs
            // as MQA over the (kv_lora_rank + rope)-wide cached latent, and attn_v_b
            // decompresses the result.
            let lat = mla.kv_lora_rank + mla.qk_rope_head_dim;
            Stage {
                name: "attention (MLA)",
                after_layers: false,
                live: vec![
                    per_tok("residual", e),
                    per_tok(
                        "absorbed q_nope (heads × kv_lora_rank)",
                        h * mla.kv_lora_rank,
                    ),
                    per_tok("Q (heads × (kv_lora_rank + rope))", h * lat),
                    per_tok(
                        "attention output (heads × kv_lora_rank)",
                        h * mla.kv_lora_rank,
                    ),
                ],
            }
        }
        None => {
            let (hk, hv, kvh) = (m.head_dim_k, m.head_dim_v, m.n_head_kv);
            Stage {
                name: "attention",
                after_layers: false,
                live: vec![
                    per_tok("residual + normed input", 2 * e),
                    per_tok("Q", h * hk),
                    per_tok("K + V", kvh * (hk + hv)),
                    per_tok("attention output + contiguous copy", 2 * h * hv),
                ],
            }
        }
    };
    if m.arch == Arch::Qwen3Next {
        // models/qwen3next.cpp build_layer_attn: one joint q|gate projection
        // (2 × heads × head_dim), whose gate half goes through a sigmoid that
        // multiplies the attention output.
        attn.live.push(per_tok(
            "gate half of the joint q|gate projection + its sigmoid",
            2 * h * m.head_dim_k,
        ));
    }
    if !r.flash_attn {
        attn.live.push((
            format!("KQ scores {n_kv} cells × {t} tokens × {h} heads × 4 B (F32)"),
            n_kv * t * h * F32,
        ));
    }
    if has_attention {
        stages.push(attn);
    }
    if let Some(mixer) = mamba2_stage(m, s, t) {
        stages.push(mixer);
    }
    // Feed-forward: dense blocks (all of a dense model, the leading ones of an MoE).
    // (leading dense blocks, or Llama 4 Maverick's interleaved ones)
    let has_dense = (0..m.n_layer).any(|il| !m.is_moe_layer(il));
    if has_dense {
        let rows = ffn_rows(false);
        stages.push(Stage {
            after_layers: false,
            name: "feed-forward",
            live: vec![
                per_rows("gate, up, activation", 3 * m.n_ff, rows),
                per_rows(
                    "hidden-size tensors (residual, attention out, normed, FFN out)",
                    4 * e,
                    rows,
                ),
            ],
        });
    }
    if let Some(moe) = m.moe {
        let k = moe.n_expert_used;
        let f = moe.n_ff_exp;
        let rows = ffn_rows(true);
        // The used experts' tensors, in llama.cpp's op order (build_moe_ffn) as
        // ggml-alloc frees them: each is freed after its last consumer, and the
        // router-weight multiply is in place (MUL may reuse its only parent).
        // Llama 4 multiplies a k-fold copy of the input by the weights before the
        // FFN (alive while gate and up are computed); every other arch weights
        // the down outputs, in place. The down outputs are allocated once gate and
        // up are freed, next to the activation; the views of the k outputs are
        // summed into one new hidden-size tensor while the outputs are alive.
        let weighted_input = if m.arch == Arch::Llama4 { e * k } else { 0 };
        let (fk, ek) = (f * k, e * k);
        let points = [
            ("weighted input, gate, up", weighted_input + 2 * fk),
            ("gate, up, activation", 3 * fk),
            ("activation, down outputs", fk + ek),
            ("down outputs, their sum", ek + e),
        ];
        let (what, floats) = points
            .into_iter()
            .max_by_key(|(_, fl)| *fl)
            .expect("four points");
        let mut live = vec![
            // The same hidden-size footprint as the dense feed-forward.
            per_rows(
                "hidden-size tensors (residual, attention out, normed, FFN out)",
                4 * e,
                rows,
            ),
            per_rows(
                "router logits, probabilities, selection",
                3 * moe.n_expert,
                rows,
            ),
            per_rows(
                &format!("used experts' {what} (largest point)"),
                floats,
                rows,
            ),
        ];
        if moe.n_expert_shared > 0 {
            live.push(per_rows("shared expert output", e, rows));
        }
        stages.push(Stage {
            after_layers: false,
            name: "feed-forward (MoE)",
            live,
        });
    }
    // Output head on the reserved output rows.
    let o = r.n_outputs;
    stages.push(Stage {
        name: "output head",
        after_layers: true,
        live: vec![
            per_tok("residual + normed output", 2 * e),
            (
                format!("logits {} × {o} rows × 4 B", m.n_vocab),
                m.n_vocab * o * F32,
            ),
        ],
    });
    (inputs, stages)
}

/// Name of the Mamba-2 mixer stage.
const MAMBA2_STAGE: &str = "Mamba-2 mixer";

/// The Mamba-2 mixer at its selective scan (llama.cpp `build_mamba2_layer`,
/// models/mamba-base.cpp:153): every tensor the mixer made up to the scan is
/// still alive there. Per token: the block input (n_embd), the in-projection
/// z|xBC|dt (2 d_inner + 2 n_group d_state + n_head), the convolution input
/// (the xBC width, plus d_conv − 1 state columns per sequence), the convolution
/// output and its bias + SiLU copy (2 × the xBC width) and the scan output y
/// (d_inner); per sequence also the scan's new state (d_state × d_inner) and the
/// gathered convolution state. Read off the graph and checked against the
/// buffers llama.cpp 0c1e57098 reserves at -ub 64 to 1024 on Mamba2-2.7B widths
/// (slope 34,385 F32 per token, 2.62 MiB per sequence: this sum plus the
/// token ids) and Nemotron-H-4B widths (data/llama_cpp_cpu_buffers.csv).
fn mamba2_stage(m: &ModelSpec, s: &RunSettings, t: u64) -> Option<Stage> {
    const F32: u64 = 4;
    let rec = m.recurrent.as_ref()?;
    let ssm = rec.ssm?;
    if rec.count(LayerKind::Mamba2) == 0 {
        return None;
    }
    let xbc = ssm.d_inner + 2 * ssm.n_group * ssm.d_state;
    let in_proj = ssm.d_inner + xbc + ssm.n_head;
    let seqs = recurrent_cells(s);
    let conv_state = ssm.d_conv.saturating_sub(1) * xbc;
    Some(Stage {
        name: MAMBA2_STAGE,
        after_layers: false,
        live: vec![
            (
                format!("block input: {} × {t} tokens × 4 B", m.n_embd),
                m.n_embd * t * F32,
            ),
            (
                format!("in-projection z|xBC|dt: {in_proj} × {t} tokens × 4 B"),
                in_proj * t * F32,
            ),
            (
                format!("convolution input: {xbc} × ({t} tokens + {} state columns × {seqs} sequences) × 4 B", ssm.d_conv.saturating_sub(1)),
                (xbc * t + conv_state * seqs) * F32,
            ),
            (
                format!("convolution output, bias + SiLU: 2 × {xbc} × {t} tokens × 4 B"),
                2 * xbc * t * F32,
            ),
            (
                format!("scan output y: {} × {t} tokens × 4 B", ssm.d_inner),
                ssm.d_inner * t * F32,
            ),
            (
                format!(
                    "scan state and gathered convolution state: ({} × {} + {conv_state}) × {seqs} sequences × 4 B",
                    ssm.d_state, ssm.d_inner
                ),
                (ssm.d_state * ssm.d_inner + conv_state) * seqs * F32,
            ),
        ],
    })
}

pub fn compute_buffer(m: &ModelSpec, s: &RunSettings, r: &ResolvedSettings) -> Part {
    let (inputs, stages) = build_stages(m, s, r);
    let alive = |st: &Stage| -> Vec<(String, u64)> {
        inputs
            .iter()
            .filter(|(l, _)| !st.after_layers || l.starts_with(TOKEN_INPUTS))
            .cloned()
            .collect()
    };
    let total = |st: &Stage| alive(st).iter().map(|(_, b)| b).sum::<u64>() + st.bytes();
    let peak = stages
        .iter()
        .max_by_key(|st| total(st))
        .expect("at least two stages");
    let peak_inputs = alive(peak);
    let input_bytes: u64 = peak_inputs.iter().map(|(_, b)| b).sum();
    let mut terms: Vec<Term> = peak_inputs
        .into_iter()
        .map(|(l, b)| Term::new("input", l, Bytes(b)))
        .collect();
    for (l, b) in &peak.live {
        terms.push(Term::new(
            format!("peak: {}", peak.name),
            l.clone(),
            Bytes(*b),
        ));
    }
    for st in &stages {
        if st.name != peak.name {
            terms.push(Term::new(
                format!("(smaller stage: {})", st.name),
                "not at the peak",
                Bytes(st.bytes()),
            ));
        }
    }
    Part {
        bytes: Bytes(input_bytes + peak.bytes()),
        terms,
    }
}

/// Bytes of each stage's live activations, for placing stages on devices.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct StageBytes {
    /// Inputs alive for the whole graph (masks, token ids) on a device that runs attention.
    pub inputs: Bytes,
    /// Of those, the ones still alive at the output head (token ids and
    /// positions): the masks are freed after the last layer.
    pub token_inputs: Bytes,
    /// The attention stage.
    pub attention: Bytes,
    /// The dense feed-forward stage, if the model has dense blocks.
    pub dense_ffn: Bytes,
    /// The routed-expert stage, if the model has experts.
    pub moe_ffn: Bytes,
    /// The output head.
    pub output: Bytes,
    /// The output head on an accelerator: one hidden state less than on the
    /// CPU, because there the output norm reuses the last residual's memory.
    /// Measured through an RPC device (llama.cpp 0c1e57098, llama-fit-params
    /// projections in data/llama_fit_params_probes.csv): 304 MiB for the
    /// Qwen2-7B widths where the CPU reserves 311 MiB, 8 MiB less for
    /// Llama-3.1-8B's, always n_embd × tokens × 4 B.
    pub output_on_device: Bytes,
}

/// Stage sizes of the worst-case graph (the compute buffer is inputs + the largest).
pub fn stage_bytes(m: &ModelSpec, s: &RunSettings, r: &ResolvedSettings) -> StageBytes {
    let (inputs, stages) = build_stages(m, s, r);
    let mut out = StageBytes {
        inputs: Bytes(inputs.iter().map(|(_, b)| b).sum()),
        token_inputs: Bytes(
            inputs
                .iter()
                .filter(|(l, _)| l.starts_with(TOKEN_INPUTS))
                .map(|(_, b)| b)
                .sum(),
        ),
        ..Default::default()
    };
    for st in &stages {
        let b = Bytes(st.bytes());
        match st.name {
            "attention" | "attention (MLA)" => out.attention = out.attention.max(b),
            // The token mixer of recurrent blocks runs where attention would.
            MAMBA2_STAGE => out.attention = out.attention.max(b),
            "feed-forward" => out.dense_ffn = b,
            "feed-forward (MoE)" => out.moe_ffn = b,
            _ => out.output = b,
        }
    }
    out.output_on_device = out.output.saturating_sub(Bytes(m.n_embd * r.n_tokens * 4));
    out
}

/// The output buffer: F32 logits, one row per sequence. It is allocated when
/// the context is created, before any batch asks for more rows, so it does
/// not follow the graph's reserved outputs.
pub fn output_buffer(m: &ModelSpec, n_seq: u64) -> Part {
    let rows = n_seq;
    let b = Bytes(m.n_vocab * rows * 4);
    Part {
        bytes: b,
        terms: vec![Term::new(
            "logits",
            format!("{} vocab × {rows} rows × 4 B", m.n_vocab),
            b,
        )],
    }
}

/// Bytes llama.cpp's CPU backend repacks on x86 with AVX2: weights of a type
/// with an interleaved kernel, consumed by a matrix multiplication (so never
/// `token_embd`), whose second dimension is a multiple of 8.
pub fn cpu_repack_bytes(w: &Weights) -> Bytes {
    repacked_tensors(w).map(|i| w.tensors[i].bytes).sum()
}

/// The CPU_Mapped buffer when llama.cpp repacks (llama-model-loader's mapping
/// range): the file span from the first to the last tensor that stays mapped,
/// so repacked tensors at either end of the file leave it (Mamba2-2.7B's last
/// `ssm_out`: 187.47 → 180.44 MiB), those in between do not. Tensors in file order.
pub fn cpu_mapped_bytes_with_repack(w: &Weights) -> Bytes {
    let repacked: std::collections::HashSet<usize> = repacked_tensors(w).collect();
    let kept = |i: &usize| !repacked.contains(i);
    let (Some(first), Some(last)) = (
        (0..w.tensors.len()).find(kept),
        (0..w.tensors.len()).rev().find(kept),
    ) else {
        return Bytes::ZERO;
    };
    w.tensors[first..=last].iter().map(|t| t.bytes).sum()
}

/// Indices of the tensors [`cpu_repack_bytes`] counts.
fn repacked_tensors(w: &Weights) -> impl Iterator<Item = usize> + '_ {
    use crate::quant::StorageType;
    w.tensors.iter().enumerate().filter_map(|(i, t)| {
        (matches!(
            t.storage,
            StorageType::Ggml(GgmlType::Q4_0 | GgmlType::Q4_K | GgmlType::IQ4_NL | GgmlType::MXFP4)
        ) && t.tensor.n_dims() >= 2
            && t.tensor.dims[1] % 8 == 0
            && !(t.tensor.layer.is_none() && t.tensor.base == "token_embd.weight"))
            .then_some(i)
    })
}

/// The full llama.cpp breakdown for one device holding the whole model.
pub fn estimate(
    m: &ModelSpec,
    weights: &Weights,
    s: &RunSettings,
) -> Result<MemoryBreakdown, SettingsError> {
    let r = resolve_settings(m, s)?;
    let mut w_terms: Vec<Term> = Vec::new();
    let non_layer = weights.non_layer_bytes();
    w_terms.push(Term::new(
        "embedding, output head, final norm",
        "sum of tensor bytes outside the blocks",
        non_layer,
    ));
    // Group consecutive layers of equal size so a 61-layer model explains itself in a few lines.
    let per_layer = weights.per_layer(m.n_layer);
    let mut il = 0;
    while il < m.n_layer {
        let b = per_layer[il as usize];
        let mut j = il;
        while j + 1 < m.n_layer && per_layer[(j + 1) as usize] == b {
            j += 1;
        }
        let n = j - il + 1;
        w_terms.push(Term::new(
            if n == 1 {
                format!("block {il}")
            } else {
                format!("blocks {il}-{j}")
            },
            format!("{n} × {}", b),
            b * n,
        ));
        il = j + 1;
    }
    let weights_part = Part {
        bytes: weights.total(),
        terms: w_terms,
    };
    let kv = kv_cache(m, s, &r);
    let compute = compute_buffer(m, s, &r);
    let output = output_buffer(m, s.n_parallel);
    let (oh, src) = backend_overhead(s.backend);
    let overhead = Part {
        bytes: oh,
        terms: vec![Term::new(format!("{} runtime", s.backend), src, oh)],
    };
    let mut notes = Vec::new();
    if s.flash_attn == FlashAttn::Auto {
        notes.push("flash attention 'auto' resolves to on for this backend".into());
    }
    if r.n_ctx != s.n_ctx && s.n_ctx != 0 {
        notes.push(format!(
            "context {} padded to {} (llama.cpp pads to multiples of 256)",
            s.n_ctx, r.n_ctx
        ));
    }
    if m.mla.is_some() && s.mla_cache != MlaCache::Latent {
        notes.push(format!(
            "MLA cache layout '{:?}' models an older llama.cpp; current builds cache the latent only",
            s.mla_cache
        ));
    }
    let cpu_repack = if s.backend == Backend::Cpu {
        let b = cpu_repack_bytes(weights);
        if b.0 > 0 {
            notes.push(format!(
                "on x86 (AVX2) llama.cpp copies {b} of Q4_0/Q4_K/IQ4_NL/MXFP4 matmul weights into a CPU_REPACK buffer: peak RSS is weights + that copy while loading, the mapped originals are evicted under memory pressure; --no-repack avoids it"
            ));
        }
        b
    } else {
        Bytes::ZERO
    };
    Ok(MemoryBreakdown {
        weights: weights_part,
        kv,
        compute,
        output,
        overhead,
        resolved: r,
        cpu_repack,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{catalog, MlaTensorLayout};
    use crate::quant::{weights, Quant};
    use crate::units::MIB;

    fn spec(id: &str) -> ModelSpec {
        catalog().iter().find(|e| e.id == id).unwrap().spec()
    }

    fn kv(id: &str, ctx: u64, t: GgmlType) -> Bytes {
        let m = spec(id);
        let s = RunSettings {
            n_ctx: ctx,
            type_k: t,
            type_v: t,
            ..Default::default()
        };
        let r = resolve_settings(&m, &s).unwrap();
        kv_cache(&m, &s, &r).bytes
    }

    /// DeepSeek V3.2 caches the MLA latent plus the lightning indexer's one
    /// 128-wide key per token and layer (llama-kv-cache-dsa.cpp: a K-only cache
    /// in the K type over the same cells).
    #[test]
    fn v32_adds_the_indexer_key_cache() {
        assert_eq!(
            kv("deepseek-v3.2", 32768, GgmlType::F16),
            Bytes(61 * 32768 * (576 + 128) * 2)
        );
        let m = spec("deepseek-v3.2");
        let s = RunSettings {
            n_ctx: 32768,
            ..Default::default()
        };
        let r = resolve_settings(&m, &s).unwrap();
        let per_layer: u64 = (0..m.n_layer)
            .map(|il| kv_layer_bytes(&m, &s, &r, il).0)
            .sum();
        assert_eq!(Bytes(per_layer), kv_cache(&m, &s, &r).bytes);
    }

    /// Llama 4's chunked attention: 36 of Scout's 48 blocks keep 8192 + one
    /// micro-batch of cells, the other 12 the whole context.
    #[test]
    fn llama4_chunked_blocks_keep_one_chunk() {
        let row = 8 * 128 * 2 * 2; // K + V, 8 KV heads × 128, F16
        assert_eq!(
            kv("llama-4-scout", 131072, GgmlType::F16),
            Bytes(12 * 131072 * row + 36 * (8192 + 512) * row)
        );
    }

    #[test]
    fn r1_latent_cache_at_32k_is_2196_mib() {
        // 61 layers × 32768 cells × 576 values × 2 B
        assert_eq!(
            kv("deepseek-r1", 32768, GgmlType::F16),
            Bytes(61 * 32768 * 576 * 2)
        );
        assert_eq!(kv("deepseek-r1", 32768, GgmlType::F16), Bytes::mib(2196));
        // q8_0 uses its row size: 576/32 blocks × 34 B = 612 B per row (1166.6 MiB, ik_llama.cpp#259).
        let q8 = kv("deepseek-r1", 32768, GgmlType::Q8_0);
        assert_eq!(q8, Bytes(61 * 32768 * 612));
        assert!((q8.as_mib() - 1166.62).abs() < 0.01);
    }

    #[test]
    fn qwen_7b_cache_at_2k_is_112_mib() {
        assert_eq!(
            kv("deepseek-r1-distill-qwen-7b", 2048, GgmlType::F16),
            Bytes::mib(112)
        );
        // 448 MiB at 8192 (llama-server log in scout-deps.md §2)
        assert_eq!(
            kv("deepseek-r1-distill-qwen-7b", 8192, GgmlType::F16),
            Bytes::mib(448)
        );
    }

    #[test]
    fn older_mla_layouts_are_selectable() {
        let m = spec("deepseek-r1");
        let s = RunSettings {
            n_ctx: 2048,
            mla_cache: MlaCache::Expanded,
            ..Default::default()
        };
        let r = resolve_settings(&m, &s).unwrap();
        // 61 × 2048 × (128·192 + 128·128) × 2 B = 9760 MiB (Ollama logged 9.5 GiB, ollama#8667)
        assert_eq!(kv_cache(&m, &s, &r).bytes, Bytes::mib(9760));
        let s = RunSettings {
            n_ctx: 2048,
            mla_cache: MlaCache::LatentKv,
            ..Default::default()
        };
        assert_eq!(
            kv_cache(&m, &s, &r).bytes,
            Bytes(61 * 2048 * (576 + 512) * 2)
        );
    }

    #[test]
    fn context_is_padded_and_split_like_llama_cpp() {
        let m = spec("deepseek-r1-distill-qwen-7b");
        let s = RunSettings {
            n_ctx: 1000,
            ..Default::default()
        };
        assert_eq!(resolve_settings(&m, &s).unwrap().n_ctx, 1024);
        let s = RunSettings {
            n_ctx: 10000,
            n_parallel: 3,
            ..Default::default()
        };
        let r = resolve_settings(&m, &s).unwrap();
        assert_eq!((r.n_ctx_seq, r.n_stream, r.n_ctx), (3584, 3, 10752));
        let s = RunSettings {
            n_ctx: 0,
            ..Default::default()
        };
        assert_eq!(resolve_settings(&m, &s).unwrap().n_ctx, 131072);
    }

    #[test]
    fn refuses_what_llama_cpp_refuses() {
        let m = spec("deepseek-r1-distill-qwen-7b");
        let s = RunSettings {
            flash_attn: FlashAttn::Off,
            type_v: GgmlType::Q8_0,
            ..Default::default()
        };
        assert!(matches!(
            resolve_settings(&m, &s),
            Err(SettingsError::QuantizedVNeedsFlashAttn(_))
        ));
        let s = RunSettings {
            type_k: GgmlType::Q4_K,
            ..Default::default()
        };
        assert!(matches!(
            resolve_settings(&m, &s),
            Err(SettingsError::CacheType(_))
        ));
        let r1 = spec("deepseek-r1");
        let s = RunSettings {
            type_k: GgmlType::Q8_0,
            type_v: GgmlType::F16,
            ..Default::default()
        };
        assert!(matches!(
            resolve_settings(&r1, &s),
            Err(SettingsError::MlaCacheTypes(..))
        ));
        let s = RunSettings {
            n_ctx: 20_000_000,
            ..Default::default()
        };
        assert!(matches!(
            resolve_settings(&m, &s),
            Err(SettingsError::Context(_))
        ));
    }

    #[test]
    fn r1_without_flash_attention_reserves_gigabytes_for_scores() {
        let m = spec("deepseek-r1");
        let w = weights(&m, &Quant::parse("Q4_K_M").unwrap(), MlaTensorLayout::Split);
        let off = RunSettings {
            n_ctx: 32768,
            flash_attn: FlashAttn::Off,
            ..Default::default()
        };
        let on = RunSettings {
            n_ctx: 32768,
            flash_attn: FlashAttn::On,
            ..Default::default()
        };
        let c_off = estimate(&m, &w, &off).unwrap().compute.bytes;
        let c_on = estimate(&m, &w, &on).unwrap().compute.bytes;
        // 128 heads × 32768 cells × 512 tokens × 4 B = 8 GiB of scores alone.
        assert!(c_off.0 > 8 * 1024 * MIB, "{c_off}");
        assert!(c_on.0 < 1024 * MIB, "{c_on}");
    }
}
