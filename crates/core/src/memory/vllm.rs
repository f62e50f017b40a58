//! vLLM's memory per GPU. vLLM claims `gpu_memory_utilization` (0.9) of each
//! GPU, loads its shard of the weights, profiles one forward pass at
//! `max_num_batched_tokens` to find the activation peak, subtracts memory
//! outside PyTorch (CUDA context, NCCL), and gives all the rest to a pool of
//! KV blocks. The pool divided by one request's KV gives the maximum
//! concurrency it logs ("Maximum concurrency for N tokens per request: X×").
//!
//! Reference point (vllm-project/vllm#10511, Llama-3-8B on an 80 GB GPU):
//! can use 71.29 GiB, weights 14.96 GiB, non-torch 1.79 GiB (3.58 GiB per GPU
//! with -tp 2), activation peak 1.26 GiB, KV cache 53.29 GiB.

use crate::model::ModelSpec;
use crate::quant::Weights;
use crate::units::{Bytes, GIB};
use serde::Serialize;

/// vLLM (or SGLang) launch settings that decide memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VllmSettings {
    /// `--tensor-parallel-size`.
    pub tensor_parallel: u64,
    /// `--pipeline-parallel-size`.
    pub pipeline_parallel: u64,
    /// `--enable-expert-parallel`: experts placed whole instead of sharded (same bytes per GPU).
    pub expert_parallel: bool,
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
    /// `--max-model-len`.
    pub max_model_len: u64,
    /// `--max-num-seqs`.
    pub max_num_seqs: u64,
    /// `--max-num-batched-tokens` (the profiling pass).
    pub max_num_batched_tokens: u64,
    /// `--kv-cache-dtype fp8` (else the model dtype, 2 bytes).
    pub kv_fp8: bool,
}

impl Default for VllmSettings {
    /// vLLM's defaults: 0.9 utilisation, 256 sequences, 8192 batched tokens.
    fn default() -> Self {
        VllmSettings {
            tensor_parallel: 1,
            pipeline_parallel: 1,
            expert_parallel: false,
            gpu_memory_utilization: 0.9,
            max_model_len: 32768,
            max_num_seqs: 256,
            max_num_batched_tokens: 8192,
            kv_fp8: false,
        }
    }
}

/// One GPU's memory under vLLM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VllmGpu {
    /// `total × gpu_memory_utilization`.
    pub usable: Bytes,
    /// This GPU's shard of the weights.
    pub weights: Bytes,
    /// Memory outside PyTorch's allocator (CUDA context, cuBLAS, NCCL).
    pub non_torch: Bytes,
    /// Peak activations of the profiling pass.
    pub activation: Bytes,
    /// What is left for KV blocks (0 when the rest does not fit).
    pub kv_pool: Bytes,
    /// KV bytes one token needs on this GPU.
    pub kv_per_token: Bytes,
    /// Tokens the pool holds.
    pub kv_tokens: u64,
    /// `kv_tokens / max_model_len`: requests of full length served at once.
    pub max_concurrency: f64,
    /// Whether the weights, overheads and one full-length request fit.
    pub fits: bool,
}

/// Settings vLLM refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VllmError {
    /// TP must divide the attention heads.
    #[error("tensor parallel size {tp} does not divide the {heads} attention heads; use a divisor such as {suggest}")]
    TpHeads {
        /// TP.
        tp: u64,
        /// Heads.
        heads: u64,
        /// A valid TP.
        suggest: u64,
    },
    /// PP must not exceed the layers.
    #[error("pipeline parallel size {pp} exceeds the {layers} layers")]
    PpLayers {
        /// PP.
        pp: u64,
        /// Layers.
        layers: u64,
    },
    /// Utilisation outside (0, 1].
    #[error("gpu_memory_utilization {0} must be in (0, 1]")]
    Utilization(f64),
}

/// Non-torch memory per GPU: 1.79 GiB alone, twice that with NCCL for TP > 1
/// (vllm-project/vllm#10511, Llama-3-8B -tp 1 / -tp 2).
fn non_torch(tp_pp: u64) -> Bytes {
    let one = Bytes((1.79 * GIB as f64) as u64);
    if tp_pp > 1 {
        one * 2
    } else {
        one
    }
}

/// vLLM's per-GPU memory for `m` with `weights` on GPUs of `gpu_memory` each.
pub fn estimate(
    m: &ModelSpec,
    weights: &Weights,
    gpu_memory: Bytes,
    v: &VllmSettings,
) -> Result<VllmGpu, VllmError> {
    let tp = v.tensor_parallel.max(1);
    let pp = v.pipeline_parallel.max(1);
    if !(v.gpu_memory_utilization > 0.0 && v.gpu_memory_utilization <= 1.0) {
        return Err(VllmError::Utilization(v.gpu_memory_utilization));
    }
    if !m.n_head.is_multiple_of(tp) {
        let suggest = (1..=tp)
            .rev()
            .find(|d| m.n_head.is_multiple_of(*d))
            .unwrap_or(1);
        return Err(VllmError::TpHeads {
            tp,
            heads: m.n_head,
            suggest,
        });
    }
    if pp > m.n_layer {
        return Err(VllmError::PpLayers {
            pp,
            layers: m.n_layer,
        });
    }
    let usable = Bytes((gpu_memory.0 as f64 * v.gpu_memory_utilization) as u64);
    // Tensor parallelism shards every matrix (the vocabulary too); pipeline
    // stages hold a share of the layers. Small replicated norms are ignored.
    let w = Bytes(weights.total().0.div_ceil(tp * pp));
    let layers_here = m.n_layer.div_ceil(pp);
    // KV per token on this GPU: MLA caches one latent per layer, replicated on
    // every TP rank (576 values: 1152 B in BF16, 656 B as fp8_ds_mla); GQA shards
    // the KV heads across TP ranks (at least one per rank).
    let kv_per_token = match m.mla {
        Some(mla) => {
            let per_layer = if v.kv_fp8 {
                656
            } else {
                (mla.kv_lora_rank + mla.qk_rope_head_dim) * 2
            };
            Bytes(layers_here * per_layer)
        }
        None => {
            let heads = m.n_head_kv.div_ceil(tp).max(1);
            let elem = if v.kv_fp8 { 1 } else { 2 };
            Bytes(layers_here * heads * (m.head_dim_k + m.head_dim_v) * elem)
        }
    };
    // Profiling pass: the feed-forward live set of llama.cpp's graph in BF16 at
    // max_num_batched_tokens, sharded by TP, plus the sampler's logits and
    // probabilities for max_num_seqs rows.
    let t = v.max_num_batched_tokens;
    let ffn_width = match m.moe {
        Some(moe) => 3 * moe.n_ff_exp * moe.n_expert_used + 2 * m.n_embd * moe.n_expert_used,
        None => 3 * m.n_ff,
    };
    let activation =
        Bytes(t * (ffn_width / tp + 4 * m.n_embd) * 2) + Bytes(v.max_num_seqs * m.n_vocab * 4 * 2);
    let nt = non_torch(tp * pp);
    let need = w + nt + activation;
    let kv_pool = usable.saturating_sub(need);
    let kv_tokens = kv_pool.0 / kv_per_token.0.max(1);
    Ok(VllmGpu {
        usable,
        weights: w,
        non_torch: nt,
        activation,
        kv_pool,
        kv_per_token,
        kv_tokens,
        max_concurrency: kv_tokens as f64 / v.max_model_len.max(1) as f64,
        fits: need <= usable && kv_tokens >= v.max_model_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{catalog, MlaTensorLayout};
    use crate::quant::{weights, Quant};

    fn spec(id: &str) -> ModelSpec {
        catalog().iter().find(|e| e.id == id).unwrap().spec()
    }

    /// vllm-project/vllm#10511: Llama-3-8B on a 79.22 GiB GPU leaves 53.29 GiB for KV.
    #[test]
    fn llama_3_8b_on_80_gb_matches_vllm_s_log() {
        let m = spec("llama-3-8b");
        let w = weights(&m, &Quant::parse("BF16").unwrap(), MlaTensorLayout::Split);
        let g = estimate(
            &m,
            &w,
            Bytes((79.22 * GIB as f64) as u64),
            &VllmSettings::default(),
        )
        .unwrap();
        assert!((g.weights.as_gib() - 14.96).abs() < 0.01, "{}", g.weights);
        assert!((g.usable.as_gib() - 71.30).abs() < 0.01);
        // Our activation estimate is 1.15 GiB against vLLM's measured 1.26 GiB.
        assert!(
            (g.kv_pool.as_gib() - 53.29).abs() / 53.29 < 0.01,
            "{}",
            g.kv_pool
        );
    }

    #[test]
    fn r1_fp8_on_8_h200_and_tp_must_divide_heads() {
        let m = spec("deepseek-r1");
        let w = weights(&m, &Quant::Fp8, MlaTensorLayout::Split);
        let v = VllmSettings {
            tensor_parallel: 8,
            ..Default::default()
        };
        let g = estimate(&m, &w, Bytes::gib(141), &v).unwrap();
        assert!(g.fits, "{g:?}");
        // 61 layers × 576 × 2 B per token, replicated on every rank.
        assert_eq!(g.kv_per_token, Bytes(61 * 1152));
        let bad = VllmSettings {
            tensor_parallel: 3,
            ..Default::default()
        };
        assert!(matches!(
            estimate(&m, &w, Bytes::gib(141), &bad),
            Err(VllmError::TpHeads { .. })
        ));
        // R1 in FP8 does not fit 8 × 80 GB with a 32k context.
        let g = estimate(&m, &w, Bytes::gib(80), &v).unwrap();
        assert!(!g.fits);
    }
}
