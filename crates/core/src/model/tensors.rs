//! Every weight tensor of a model, with llama.cpp's GGUF name and shape.
//!
//! Shapes are in ggml order: `ne[0]` is the row length (the input width of a
//! matrix), as the GGUF tensor infos store them. The lists mirror what
//! llama.cpp's converter writes and its loader expects for each architecture.

use super::{Arch, LayerKind, ModelSpec};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;

/// How a DeepSeek (MLA) GGUF stores the key/value up-projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MlaTensorLayout {
    /// `attn_k_b` + `attn_v_b` (converter after llama.cpp PR #12801, April 2025).
    #[default]
    Split,
    /// One `attn_kv_b` (GGUFs converted before April 2025, e.g. unsloth's January 2025 R1 files).
    Fused,
}

/// One weight tensor.
///
/// The GGUF name is kept as its block-independent part (`ffn_gate_exps.weight`)
/// plus the block index, so that enumerating a 61-block model allocates no
/// strings; [`TensorSpec::name`] spells the full name when it is shown.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Name without the `blk.N.` prefix, e.g. `ffn_gate_exps.weight` or `token_embd.weight`.
    pub base: Cow<'static, str>,
    /// Shape in ggml order (`ne[0]` = row length), padded with 1s to 4 dims; see [`TensorSpec::shape`].
    pub dims: [u64; 4],
    /// Number of dimensions in use.
    pub n_dims: usize,
    /// Block index, `None` for embedding, output and final norm.
    pub layer: Option<u64>,
    /// Whether llama.cpp's GGUF holds it (MTP layers are dropped by the converter).
    pub in_gguf: bool,
    /// Whether it counts as a model parameter in the published totals
    /// (`rope_freqs` is a derived constant, not a parameter).
    pub is_param: bool,
}

impl Serialize for TensorSpec {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            name: Cow<'a, str>,
            shape: &'a [u64],
            layer: Option<u64>,
            in_gguf: bool,
            is_param: bool,
        }
        Shown {
            name: self.name(),
            shape: self.shape(),
            layer: self.layer,
            in_gguf: self.in_gguf,
            is_param: self.is_param,
        }
        .serialize(ser)
    }
}

impl TensorSpec {
    /// A tensor with a static base name.
    pub fn new(base: impl Into<Cow<'static, str>>, shape: &[u64], layer: Option<u64>) -> Self {
        let mut dims = [1u64; 4];
        let n_dims = shape.len().min(4);
        dims[..n_dims].copy_from_slice(&shape[..n_dims]);
        TensorSpec {
            base: base.into(),
            dims,
            n_dims,
            layer,
            in_gguf: true,
            is_param: true,
        }
    }

    /// The full GGUF name, e.g. `blk.3.ffn_gate_exps.weight`.
    pub fn name(&self) -> Cow<'_, str> {
        match self.layer {
            Some(il) => Cow::Owned(format!("blk.{il}.{}", self.base)),
            None => Cow::Borrowed(&self.base),
        }
    }

    /// Shape in ggml order (`ne[0]` = row length).
    pub fn shape(&self) -> &[u64] {
        &self.dims[..self.n_dims]
    }

    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Row length (`ne[0]`).
    pub fn ne0(&self) -> u64 {
        if self.n_dims == 0 {
            0
        } else {
            self.dims[0]
        }
    }

    /// Number of dimensions.
    pub fn n_dims(&self) -> usize {
        self.n_dims
    }

    /// Whether this is a routed-expert tensor (`*_exps`), of which a token reads only a few slices.
    pub fn is_routed_expert(&self) -> bool {
        self.base.contains("_exps.")
    }
}

/// List every weight tensor of `m` in the order llama.cpp's loader sorts them
/// (non-block tensors first, then block by block, names sorted within a block).
pub fn enumerate_tensors(m: &ModelSpec, layout: MlaTensorLayout) -> Vec<TensorSpec> {
    let mut out = Vec::new();
    let e = m.n_embd;
    out.push(TensorSpec::new("token_embd.weight", &[e, m.n_vocab], None));
    // llama.cpp names LFM2's final norm `token_embd_norm` (LLM_TENSOR_OUTPUT_NORM_LFM2).
    let final_norm = if m.arch == Arch::Lfm2 {
        "token_embd_norm.weight"
    } else {
        "output_norm.weight"
    };
    out.push(TensorSpec::new(final_norm, &[e], None));
    if !m.tied_embeddings {
        out.push(TensorSpec::new("output.weight", &[e, m.n_vocab], None));
    }
    if m.rope_freqs {
        let mut t = TensorSpec::new("rope_freqs.weight", &[m.head_dim_k / 2], None);
        t.is_param = false;
        out.push(t);
    }
    let n_total = m.n_layer + m.n_mtp_layers;
    for il in 0..n_total {
        let mut block = Vec::new();
        block_tensors(m, il, layout, &mut block);
        if il >= m.n_layer {
            mtp_extras(m, il, &mut block);
            for t in &mut block {
                t.in_gguf = false;
            }
        }
        block.sort_by(|a, b| a.base.cmp(&b.base));
        out.extend(block);
    }
    out
}

fn block_tensors(m: &ModelSpec, il: u64, layout: MlaTensorLayout, out: &mut Vec<TensorSpec>) {
    let e = m.n_embd;
    let l = Some(il);
    let mut t = |suffix: &'static str, shape: &[u64]| {
        out.push(TensorSpec::new(suffix, shape, l));
    };
    t("attn_norm.weight", &[e]);
    // Where the pre-FFN norm lives: gpt-oss and GLM-4.5 name it
    // `post_attention_norm` (HF post_attention_layernorm), Gemma 3 has both
    // (its post-attention norm is applied to the attention output).
    match m.arch {
        Arch::GptOss | Arch::Glm4Moe => t("post_attention_norm.weight", &[e]),
        Arch::Gemma3 => {
            t("post_attention_norm.weight", &[e]);
            t("ffn_norm.weight", &[e]);
            t("post_ffw_norm.weight", &[e]);
        }
        _ => t("ffn_norm.weight", &[e]),
    }
    match (m.arch, m.mla) {
        _ if m.layer_kind(il) == LayerKind::ShortConv => {
            // llama.cpp models/lfm2.cpp: depthwise conv kernel, in_proj to B, C and x, out_proj.
            let l_cache = m.recurrent.as_ref().map_or(0, |r| r.conv_l_cache);
            t("shortconv.conv.weight", &[l_cache, e]);
            t("shortconv.in_proj.weight", &[e, 3 * e]);
            t("shortconv.out_proj.weight", &[e, e]);
        }
        // Mamba-2 mixers, gated delta nets and MLP-only blocks are not enumerated:
        // no catalog model has them (model_configs.csv lists none), and a GGUF
        // header gives their tensors exactly.
        _ if matches!(
            m.layer_kind(il),
            LayerKind::Unknown | LayerKind::Mamba2 | LayerKind::DeltaNet | LayerKind::FeedForward
        ) => {}
        (Arch::Deepseek2 | Arch::Deepseek32, Some(mla)) => {
            let qk_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
            if let Some(q_rank) = mla.q_lora_rank {
                t("attn_q_a_norm.weight", &[q_rank]);
                t("attn_q_a.weight", &[e, q_rank]);
                t("attn_q_b.weight", &[q_rank, m.n_head * qk_head]);
            } else {
                t("attn_q.weight", &[e, m.n_head * qk_head]);
            }
            t("attn_kv_a_norm.weight", &[mla.kv_lora_rank]);
            t(
                "attn_kv_a_mqa.weight",
                &[e, mla.kv_lora_rank + mla.qk_rope_head_dim],
            );
            match layout {
                MlaTensorLayout::Split => {
                    t(
                        "attn_k_b.weight",
                        &[mla.qk_nope_head_dim, mla.kv_lora_rank, m.n_head],
                    );
                    t(
                        "attn_v_b.weight",
                        &[mla.kv_lora_rank, mla.v_head_dim, m.n_head],
                    );
                }
                MlaTensorLayout::Fused => t(
                    "attn_kv_b.weight",
                    &[
                        mla.kv_lora_rank,
                        m.n_head * (mla.qk_nope_head_dim + mla.v_head_dim),
                    ],
                ),
            }
            t("attn_output.weight", &[m.n_head * mla.v_head_dim, e]);
            if let (Some(dsa), Some(q_rank)) = (m.dsa, mla.q_lora_rank) {
                // The lightning indexer (llama.cpp models/deepseek32.cpp): a LayerNorm
                // (weight and bias) on its single key head, per-head weights, the key
                // projection and a query projection from the compressed query.
                t("indexer.k_norm.weight", &[dsa.head_dim]);
                t("indexer.k_norm.bias", &[dsa.head_dim]);
                t("indexer.proj.weight", &[e, dsa.n_head]);
                t("indexer.attn_k.weight", &[e, dsa.head_dim]);
                t(
                    "indexer.attn_q_b.weight",
                    &[q_rank, dsa.n_head * dsa.head_dim],
                );
            }
        }
        _ => {
            let q = m.n_head * m.head_dim_k;
            let kv = m.n_head_kv * m.head_dim_k;
            let v = m.n_head_kv * m.head_dim_v;
            if m.arch == Arch::Phi3 {
                // Phi-3/Phi-4 checkpoints store one fused qkv_proj; the converter keeps it.
                t("attn_qkv.weight", &[e, q + kv + v]);
            } else {
                t("attn_q.weight", &[e, q]);
                t("attn_k.weight", &[e, kv]);
                t("attn_v.weight", &[e, v]);
            }
            t("attn_output.weight", &[m.n_head * m.head_dim_v, e]);
            if matches!(m.arch, Arch::Qwen2 | Arch::GptOss | Arch::Glm4Moe) {
                t("attn_q.bias", &[q]);
                t("attn_k.bias", &[kv]);
                t("attn_v.bias", &[v]);
            }
            if m.arch == Arch::GptOss {
                t("attn_output.bias", &[e]);
                // One learned sink logit per head.
                t("attn_sinks.weight", &[m.n_head]);
            }
            if m.qk_norm
                || matches!(
                    m.arch,
                    Arch::Qwen3 | Arch::Qwen3Moe | Arch::Gemma3 | Arch::Lfm2
                )
            {
                t("attn_q_norm.weight", &[m.head_dim_k]);
                t("attn_k_norm.weight", &[m.head_dim_k]);
            }
        }
    }
    match m.moe {
        Some(moe) if m.is_moe_layer(il) => {
            let ne = moe.n_expert;
            let f = moe.n_ff_exp;
            t("ffn_gate_inp.weight", &[e, ne]);
            if matches!(m.arch, Arch::Deepseek2 | Arch::Deepseek32 | Arch::Glm4Moe) {
                // Sigmoid routers carry a per-expert score correction bias.
                t("exp_probs_b.bias", &[ne]);
            }
            t("ffn_gate_exps.weight", &[e, f, ne]);
            t("ffn_up_exps.weight", &[e, f, ne]);
            t("ffn_down_exps.weight", &[f, e, ne]);
            if m.arch == Arch::GptOss {
                // gpt-oss's router and experts have biases.
                t("ffn_gate_inp.bias", &[ne]);
                t("ffn_gate_exps.bias", &[f, ne]);
                t("ffn_up_exps.bias", &[f, ne]);
                t("ffn_down_exps.bias", &[e, ne]);
            }
            if moe.n_expert_shared > 0 {
                let fs = f * moe.n_expert_shared;
                t("ffn_gate_shexp.weight", &[e, fs]);
                t("ffn_up_shexp.weight", &[e, fs]);
                t("ffn_down_shexp.weight", &[fs, e]);
            }
        }
        _ if m.arch == Arch::Phi3 => {
            // Fused gate/up projection.
            t("ffn_up.weight", &[e, 2 * m.n_ff]);
            t("ffn_down.weight", &[m.n_ff, e]);
        }
        _ => {
            t("ffn_gate.weight", &[e, m.n_ff]);
            t("ffn_up.weight", &[e, m.n_ff]);
            t("ffn_down.weight", &[m.n_ff, e]);
        }
    }
}

/// The extra tensors of a DeepSeek or GLM-4.5 multi-token-prediction block
/// (checkpoint only: llama.cpp does not load it unless MTP is asked for).
fn mtp_extras(m: &ModelSpec, il: u64, out: &mut Vec<TensorSpec>) {
    let e = m.n_embd;
    let l = Some(il);
    out.push(TensorSpec::new("nextn.eh_proj.weight", &[2 * e, e], l));
    out.push(TensorSpec::new("nextn.enorm.weight", &[e], l));
    out.push(TensorSpec::new("nextn.hnorm.weight", &[e], l));
    out.push(TensorSpec::new("nextn.shared_head_norm.weight", &[e], l));
}

/// Parameter counts in DeepSeek's accounting: the main model, the unique MTP
/// parameters, and the checkpoint total (which stores a copy of the embedding
/// and output head for each MTP layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    /// Parameters of the model llama.cpp runs (no MTP layers).
    pub main: u64,
    /// Unique parameters of the MTP layers.
    pub mtp_unique: u64,
    /// Everything in the original checkpoint: main + MTP + MTP's embedding/head copies.
    pub checkpoint: u64,
}

/// Count parameters the way the model's publisher does.
pub fn param_counts(m: &ModelSpec) -> ParamCounts {
    let tensors = enumerate_tensors(m, MlaTensorLayout::Fused);
    let main: u64 = tensors
        .iter()
        .filter(|t| t.in_gguf && t.is_param)
        .map(TensorSpec::n_elements)
        .sum();
    let mtp_unique: u64 = tensors
        .iter()
        .filter(|t| !t.in_gguf && t.is_param)
        .map(TensorSpec::n_elements)
        .sum();
    let copies = m.n_mtp_layers * 2 * m.n_embd * m.n_vocab;
    ParamCounts {
        main,
        mtp_unique,
        checkpoint: main + mtp_unique + copies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalog;

    fn tensors(id: &str) -> Vec<TensorSpec> {
        let e = catalog().iter().find(|e| e.id == id).unwrap();
        enumerate_tensors(&e.spec(), MlaTensorLayout::Split)
    }

    fn has(ts: &[TensorSpec], il: u64, base: &str) -> bool {
        ts.iter().any(|t| t.layer == Some(il) && t.base == base)
    }

    /// Maverick interleaves: experts (with the shared expert) on odd blocks,
    /// a dense FFN of intermediate_size_mlp on even ones (models/llama4.cpp).
    #[test]
    fn llama4_maverick_interleaves_dense_and_moe_blocks() {
        let ts = tensors("llama-4-maverick");
        for il in 0..48 {
            let moe = il % 2 == 1;
            assert_eq!(has(&ts, il, "ffn_gate_exps.weight"), moe, "block {il}");
            assert_eq!(has(&ts, il, "ffn_up_shexp.weight"), moe, "block {il}");
            assert_eq!(has(&ts, il, "ffn_gate.weight"), !moe, "block {il}");
        }
        let dense = ts
            .iter()
            .find(|t| t.layer == Some(0) && t.base == "ffn_up.weight")
            .unwrap();
        assert_eq!(dense.shape(), [5120, 16384]);
    }

    /// Per-architecture tensor names llama.cpp's loaders create.
    #[test]
    fn architecture_specific_tensors() {
        let oss = tensors("gpt-oss-20b");
        for b in [
            "attn_sinks.weight",
            "attn_output.bias",
            "post_attention_norm.weight",
            "ffn_down_exps.bias",
        ] {
            assert!(has(&oss, 0, b), "gpt-oss {b}");
        }
        assert!(!has(&oss, 0, "ffn_norm.weight"));
        let phi = tensors("phi-4");
        assert!(has(&phi, 0, "attn_qkv.weight") && !has(&phi, 0, "attn_q.weight"));
        let glm = tensors("glm-4.5");
        assert!(has(&glm, 0, "attn_q_norm.weight") && has(&glm, 3, "exp_probs_b.bias"));
        assert!(!has(&tensors("glm-4.5-air"), 0, "attn_q_norm.weight"));
        let g3 = tensors("gemma-3-27b");
        assert!(has(&g3, 0, "post_ffw_norm.weight") && has(&g3, 0, "attn_k_norm.weight"));
        let v32 = tensors("deepseek-v3.2");
        assert!(has(&v32, 0, "indexer.attn_q_b.weight"));
        assert!(!has(
            &tensors("deepseek-v3.1"),
            0,
            "indexer.attn_q_b.weight"
        ));
    }
}
