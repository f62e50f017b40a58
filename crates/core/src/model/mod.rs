//! Model architectures: the shape facts that decide memory and speed, and the
//! list of weight tensors under llama.cpp's GGUF names.

pub mod catalog;
pub mod resolve;
pub mod tensors;

use serde::Serialize;
use std::fmt;

pub use catalog::{catalog, CatalogEntry};
pub use resolve::{resolve, ModelRef, ResolveError};
pub use tensors::param_counts;
pub use tensors::{enumerate_tensors, MlaTensorLayout, TensorSpec};

/// A model architecture as llama.cpp names it (`general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Llama 1/2/3, Mistral and the R1 Llama distills: GQA, SwiGLU, no biases.
    Llama,
    /// Qwen2 / Qwen2.5 and the R1 Qwen distills: like Llama plus q/k/v biases.
    Qwen2,
    /// Qwen3: like Llama plus per-head RMS norms on q and k.
    Qwen3,
    /// DeepSeek V2/V3/R1: multi-head latent attention (MLA) and a routed MoE.
    Deepseek2,
    /// Qwen3 MoE: Qwen3 attention, routed experts in every block, no shared expert.
    Qwen3Moe,
    /// Gemma 3: sliding-window attention on 5 of every 6 blocks.
    Gemma3,
    /// Phi-3/Phi-4: fused QKV and gate/up projections.
    Phi3,
    /// gpt-oss: alternating sliding-window blocks, attention sinks, MXFP4 experts.
    GptOss,
    /// GLM-4.5 / GLM-4.5-Air (`glm4moe`): GQA with q/k/v biases, a post-attention
    /// norm instead of an FFN norm, leading dense blocks, sigmoid-routed experts
    /// plus one shared expert.
    Glm4Moe,
    /// Llama 4 (`llama4`): MoE blocks with one shared expert, interleaved with dense
    /// blocks (`interleave_moe_layer_step`), chunked attention on 3 of every 4 blocks.
    Llama4,
    /// DeepSeek V3.2 (`deepseek32`): DeepSeek V3 plus the DSA lightning indexer,
    /// which caches one extra key per token and layer.
    Deepseek32,
    /// LFM2 (`lfm2`, Liquid AI): a hybrid of double-gated short-convolution blocks
    /// (a fixed-size recurrent state per sequence) and GQA blocks with q/k norms;
    /// llama.cpp marks a block recurrent where its per-layer `head_count_kv` is 0.
    Lfm2,
    /// Qwen3-Next (`qwen3next`): gated delta net (linear attention, a fixed-size
    /// state per sequence) on 3 of every 4 blocks (`full_attention_interval`), gated
    /// GQA with q/k norms on the others, 512 routed experts plus a shared expert.
    Qwen3Next,
    /// Mamba-2 (`mamba2`): every block a Mamba-2 mixer, no attention and no KV cache.
    Mamba2,
    /// Nemotron-H (`nemotron_h`): Mamba-2 blocks, a few GQA blocks and MLP-only
    /// blocks; llama.cpp tells them apart by the per-layer `head_count_kv` and
    /// `feed_forward_length` (both 0: Mamba-2; only the FFN 0: attention).
    NemotronH,
    /// An architecture canirun has no specific rules for: weights are still
    /// exact from a file, the KV cache follows the generic GQA layout.
    Generic,
}

impl Arch {
    /// llama.cpp's architecture string.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Deepseek2 => "deepseek2",
            Arch::Qwen3Moe => "qwen3moe",
            Arch::Gemma3 => "gemma3",
            Arch::Phi3 => "phi3",
            Arch::GptOss => "gpt-oss",
            Arch::Glm4Moe => "glm4moe",
            Arch::Llama4 => "llama4",
            Arch::Deepseek32 => "deepseek32",
            Arch::Lfm2 => "lfm2",
            Arch::Qwen3Next => "qwen3next",
            Arch::Mamba2 => "mamba2",
            Arch::NemotronH => "nemotron_h",
            Arch::Generic => "generic",
        }
    }

    /// Parse llama.cpp's architecture string (also Mistral, which llama.cpp loads as llama).
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "llama" | "mistral" | "mixtral" => Some(Arch::Llama),
            "qwen2" => Some(Arch::Qwen2),
            "qwen3" => Some(Arch::Qwen3),
            "deepseek2" | "deepseek_v3" | "deepseek_v2" => Some(Arch::Deepseek2),
            "qwen3moe" | "qwen3_moe" => Some(Arch::Qwen3Moe),
            "gemma3" | "gemma3_text" => Some(Arch::Gemma3),
            "phi3" => Some(Arch::Phi3),
            "gpt-oss" | "gpt_oss" => Some(Arch::GptOss),
            "glm4moe" | "glm4_moe" => Some(Arch::Glm4Moe),
            "llama4" | "llama4_text" => Some(Arch::Llama4),
            "deepseek32" | "deepseek_v32" => Some(Arch::Deepseek32),
            "lfm2" => Some(Arch::Lfm2),
            "qwen3next" | "qwen3_next" => Some(Arch::Qwen3Next),
            "mamba2" => Some(Arch::Mamba2),
            "nemotron_h" => Some(Arch::NemotronH),
            _ => None,
        }
    }
}

impl Arch {
    /// llama.cpp's hard-coded sliding-window block pattern (`load_swa_pattern`
    /// in models/gemma3.cpp, openai-moe.cpp, llama4.cpp): Gemma 3 slides on 5 of
    /// every 6 blocks, gpt-oss on every other block, Llama 4 uses chunked
    /// attention on 3 of every 4 blocks. `None`: llama.cpp ignores the window.
    pub fn swa_period(self) -> Option<u64> {
        match self {
            Arch::Gemma3 => Some(6),
            Arch::GptOss => Some(2),
            Arch::Llama4 => Some(4),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Mixture-of-experts shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MoeSpec {
    /// Routed experts per MoE layer.
    pub n_expert: u64,
    /// Routed experts used per token.
    pub n_expert_used: u64,
    /// Shared experts (always active) per MoE layer.
    pub n_expert_shared: u64,
    /// Hidden width of one expert.
    pub n_ff_exp: u64,
    /// Leading layers that use a dense FFN instead of experts.
    pub n_layer_dense_lead: u64,
    /// Every `layer_step`-th block (after the dense lead) has experts, the others a
    /// dense FFN: block `il` is MoE iff `(il + 1) % layer_step == 0` (llama.cpp's
    /// `n_moe_layer_step`; Llama 4 Maverick: 2). 1 for every other MoE model.
    pub layer_step: u64,
}

/// Multi-head latent attention shape (DeepSeek V2/V3/R1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MlaSpec {
    /// Rank of the query compression (`None`: queries are not compressed, as in V2-Lite).
    pub q_lora_rank: Option<u64>,
    /// Rank of the joint key/value compression: the latent that MLA caches.
    pub kv_lora_rank: u64,
    /// Per-head query/key width without rotary part.
    pub qk_nope_head_dim: u64,
    /// Per-head rotary width (shared across heads in the cache).
    pub qk_rope_head_dim: u64,
    /// Per-head value width.
    pub v_head_dim: u64,
}

/// DeepSeek Sparse Attention's lightning indexer (DeepSeek V3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DsaSpec {
    /// Indexer query heads.
    pub n_head: u64,
    /// Width of the indexer key (one key head, cached per token and layer).
    pub head_dim: u64,
    /// Tokens each query attends to after the indexer's selection.
    pub top_k: u64,
}

/// Sliding-window attention: some blocks attend only to the last `window` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SwaSpec {
    /// Tokens a sliding-window block attends to.
    pub window: u64,
    /// Period of the block pattern: block `il` slides iff `il % period < period - 1`
    /// (llama.cpp's `set_swa_pattern`; Gemma 3: 6, gpt-oss: 2).
    pub period: u64,
}

impl SwaSpec {
    /// Whether block `il` uses the sliding window.
    pub fn is_swa(&self, il: u64) -> bool {
        self.period > 0 && il % self.period < self.period - 1
    }
}

/// What a block is, for the memory it keeps per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Self-attention: a KV cache row per token.
    Attention,
    /// LFM2's short convolution: `(l_cache - 1) × n_embd` f32 per sequence, no KV.
    ShortConv,
    /// A Mamba-2 mixer (Mamba-2, Nemotron-H): a convolution state and an SSM state
    /// of fixed size per sequence, no KV.
    Mamba2,
    /// A gated delta net (Qwen3-Next's linear attention): a convolution state and a
    /// `head_dim × head_dim` state per value head, fixed size per sequence, no KV.
    DeltaNet,
    /// A block with neither attention nor a recurrent mixer (Nemotron-H's MLP-only
    /// blocks): it keeps nothing per sequence.
    FeedForward,
    /// A block without KV heads in an architecture canirun has no rules for
    /// (RWKV, Kimi delta attention, …): its state is not sized, and the output says so.
    Unknown,
}

/// Hybrid recurrent models: which blocks are recurrent and how big their state is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecurrentSpec {
    /// Kind of each block, `n_layer` entries in block order.
    pub layers: Vec<LayerKind>,
    /// Short-convolution kernel length (`shortconv.l_cache`, HF `conv_L_cache`).
    pub conv_l_cache: u64,
    /// The `ssm.*` shape of Mamba-2 and gated-delta-net blocks, if the model has them.
    pub ssm: Option<SsmSpec>,
}

/// The `<arch>.ssm.*` keys llama.cpp reads for Mamba-2 mixers and gated delta nets
/// (models/mamba2.cpp, nemotron-h.cpp, qwen3next.cpp `load_arch_hparams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SsmSpec {
    /// Convolution kernel length (`ssm.conv_kernel`).
    pub d_conv: u64,
    /// Inner width (`ssm.inner_size`; Qwen3-Next: value heads × value head size).
    pub d_inner: u64,
    /// State size (`ssm.state_size`; Qwen3-Next: the key head size).
    pub d_state: u64,
    /// Groups of B and C (`ssm.group_count`; Qwen3-Next: the key heads).
    pub n_group: u64,
    /// SSM heads (`ssm.time_step_rank`; Qwen3-Next: the value heads).
    pub n_head: u64,
}

impl LayerKind {
    /// Whether the block keeps a fixed-size recurrent state per sequence.
    pub fn is_recurrent(self) -> bool {
        matches!(
            self,
            LayerKind::ShortConv | LayerKind::Mamba2 | LayerKind::DeltaNet
        )
    }
}

impl RecurrentSpec {
    /// f32 values of the "r" (convolution) state per sequence and recurrent block:
    /// llama.cpp's `llama_hparams::n_embd_r` (llama-hparams.cpp:208 at 0c1e57098):
    /// `n_embd × (l_cache − 1)` for LFM2, else `(d_conv − 1) × (d_inner + 2 ×
    /// n_group × d_state)`, the conv window of x, B and C (Qwen3-Next: q, k and v).
    pub fn n_embd_r(&self, n_embd: u64) -> u64 {
        if self.conv_l_cache != 0 {
            return n_embd * self.conv_l_cache.saturating_sub(1);
        }
        self.ssm.map_or(0, |s| {
            s.d_conv.saturating_sub(1) * (s.d_inner + 2 * s.n_group * s.d_state)
        })
    }

    /// f32 values of the "s" (SSM) state per sequence and recurrent block:
    /// `llama_hparams::n_embd_s` (llama-hparams.cpp:236) is `d_state × d_inner`,
    /// 0 for LFM2's short convolutions.
    pub fn n_embd_s(&self) -> u64 {
        self.ssm.map_or(0, |s| s.d_state * s.d_inner)
    }

    /// Blocks of the given kind.
    pub fn count(&self, kind: LayerKind) -> u64 {
        self.layers.iter().filter(|&&k| k == kind).count() as u64
    }

    /// Blocks that keep a recurrent state (llama.cpp's `is_recr` filter).
    pub fn n_recurrent(&self) -> u64 {
        self.layers.iter().filter(|k| k.is_recurrent()).count() as u64
    }
}

/// Everything canirun needs to know about a model's shape.
///
/// Built from the embedded catalog, or from a GGUF header or a config.json:
/// the rest of the pipeline does not care which.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSpec {
    /// Stable identifier (catalog id or file name).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Architecture.
    pub arch: Arch,
    /// Hidden size.
    pub n_embd: u64,
    /// Transformer blocks used at inference (not counting MTP layers).
    pub n_layer: u64,
    /// Attention heads.
    pub n_head: u64,
    /// Key/value heads (grouped-query attention); for MLA, the HF value (= n_head).
    pub n_head_kv: u64,
    /// Per-head key width.
    pub head_dim_k: u64,
    /// Per-head value width.
    pub head_dim_v: u64,
    /// Dense FFN hidden width.
    pub n_ff: u64,
    /// Vocabulary size (rows of the embedding).
    pub n_vocab: u64,
    /// Whether the output head reuses the token embedding.
    pub tied_embeddings: bool,
    /// Training context length.
    pub n_ctx_train: u64,
    /// Mixture of experts, if any.
    pub moe: Option<MoeSpec>,
    /// Multi-head latent attention, if any.
    pub mla: Option<MlaSpec>,
    /// Multi-token-prediction layers in the original checkpoint (not loaded by llama.cpp).
    pub n_mtp_layers: u64,
    /// Whether the GGUF carries a `rope_freqs.weight` (Llama 3.1-style rope scaling).
    pub rope_freqs: bool,
    /// Sliding-window attention, if any.
    pub swa: Option<SwaSpec>,
    /// Whether the blocks carry per-head RMS norm weights on q and k
    /// (Qwen3 and Gemma 3 always; GLM-4.5 but not GLM-4.5-Air).
    pub qk_norm: bool,
    /// DeepSeek Sparse Attention indexer, if any.
    pub dsa: Option<DsaSpec>,
    /// Recurrent (non-attention) blocks of a hybrid model, if any.
    pub recurrent: Option<RecurrentSpec>,
}

impl ModelSpec {
    /// Query heads per KV head.
    pub fn n_gqa(&self) -> u64 {
        self.n_head / self.n_head_kv.max(1)
    }

    /// Kind of block `il` (attention unless the model is a hybrid).
    pub fn layer_kind(&self, il: u64) -> LayerKind {
        self.recurrent
            .as_ref()
            .and_then(|r| r.layers.get(il as usize).copied())
            .unwrap_or(LayerKind::Attention)
    }

    /// Blocks that keep a KV cache.
    pub fn n_attention_layers(&self) -> u64 {
        self.recurrent
            .as_ref()
            .map_or(self.n_layer, |r| r.count(LayerKind::Attention))
    }

    /// Whether layer `il` has routed experts.
    pub fn is_moe_layer(&self, il: u64) -> bool {
        self.moe.is_some_and(|m| {
            il >= m.n_layer_dense_lead && (il + 1).is_multiple_of(m.layer_step.max(1))
        })
    }

    /// Parameters that take part in one token's forward pass (routed experts: only the used ones).
    pub fn active_params(&self) -> u64 {
        // Every estimate's speed model asks, and the searches ask for the same
        // few models thousands of times: remember the last few answers per
        // thread (a spec equal in every field has the same tensors).
        type Memo = std::cell::RefCell<Vec<(ModelSpec, u64)>>;
        thread_local! {
            static MEMO: Memo = const { std::cell::RefCell::new(Vec::new()) };
        }
        if let Some(n) = MEMO.with(|m| m.borrow().iter().find(|(s, _)| s == self).map(|e| e.1)) {
            return n;
        }
        let n = self.count_active_params();
        MEMO.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= 64 {
                m.remove(0);
            }
            m.push((self.clone(), n));
        });
        n
    }

    fn count_active_params(&self) -> u64 {
        let tensors = enumerate_tensors(self, MlaTensorLayout::Split);
        let mut n = 0u64;
        for t in tensors.iter().filter(|t| t.in_gguf && t.is_param) {
            let elems = t.n_elements();
            n += match (t.is_routed_expert(), self.moe) {
                (true, Some(m)) => elems / m.n_expert * m.n_expert_used,
                _ => elems,
            };
        }
        n
    }
}
