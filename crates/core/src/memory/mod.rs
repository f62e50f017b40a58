//! Memory an engine allocates for a model: weights, KV cache, compute and
//! output buffers and fixed overheads, each with the terms behind it.
//! One file per engine; only `llama_cpp.rs` knows llama.cpp's rules.

pub mod llama_cpp;
pub mod verdict;
pub mod vllm;

use crate::quant::GgmlType;
use crate::units::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A named contribution with the formula that produced it, for `--explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    /// What it is.
    pub label: String,
    /// How it was computed, with the numbers filled in.
    pub formula: String,
    /// The result.
    pub bytes: Bytes,
}

impl Term {
    /// A new term.
    pub fn new(label: impl Into<String>, formula: impl Into<String>, bytes: Bytes) -> Self {
        Term {
            label: label.into(),
            formula: formula.into(),
            bytes,
        }
    }
}

/// One part of the breakdown (weights, KV, …) with its terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    /// Total bytes of this part.
    pub bytes: Bytes,
    /// The terms that add up to (or, for the compute buffer, bound) it.
    pub terms: Vec<Term>,
}

/// Everything an engine allocates for one model and run settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryBreakdown {
    /// Model weights as loaded.
    pub weights: Part,
    /// KV cache.
    pub kv: Part,
    /// Compute (activation) buffer reserved by the scheduler.
    pub compute: Part,
    /// Output (logits) buffer.
    pub output: Part,
    /// Fixed per-backend overhead not reported by the engine's buffers.
    pub overhead: Part,
    /// Settings as the engine resolves them (padded context, flash attention, …).
    pub resolved: ResolvedSettings,
    /// On the CPU backend: the anonymous CPU_REPACK copy llama.cpp makes of
    /// Q4_0/Q4_K/IQ4_NL/MXFP4 matmul weights (not in `total`: the mapped
    /// originals can be evicted, so the steady state stays near the weights).
    pub cpu_repack: Bytes,
    /// Caveats worth showing next to the numbers.
    pub notes: Vec<String>,
}

impl MemoryBreakdown {
    /// Sum of all parts.
    pub fn total(&self) -> Bytes {
        self.weights.bytes
            + self.kv.bytes
            + self.compute.bytes
            + self.output.bytes
            + self.overhead.bytes
    }
}

/// How many logit rows a llama.cpp program reserves in its worst-case graph.
/// It decides whether the vocabulary-sized logits can dominate the compute
/// buffer, which is why `llama-fit-params` and `llama-bench` report a larger
/// compute buffer than `llama-server` for the same model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputRows {
    /// `llama-server` and `llama-cli`: one row per sequence (`n_outputs_max = n_parallel`).
    #[default]
    PerSequence,
    /// The library default, `llama-bench`, `llama-completion` and
    /// `llama-fit-params`: every token of the micro-batch may produce logits.
    PerToken,
}

/// Flash attention setting (`-fa on|off|auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttn {
    /// Enabled.
    On,
    /// Disabled.
    Off,
    /// Let the engine decide (llama.cpp's default).
    #[default]
    Auto,
}

impl FlashAttn {
    /// Parse `on|off|auto` (also `1/0/true/false`).
    pub fn parse(s: &str) -> Option<FlashAttn> {
        match s.trim().to_ascii_lowercase().as_str() {
            "on" | "1" | "true" | "enabled" => Some(FlashAttn::On),
            "off" | "0" | "false" | "disabled" => Some(FlashAttn::Off),
            "auto" | "-1" => Some(FlashAttn::Auto),
            _ => None,
        }
    }
}

/// Compute backend that holds the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// CPU only.
    Cpu,
    /// NVIDIA CUDA.
    #[default]
    Cuda,
    /// Apple Metal.
    Metal,
    /// Vulkan.
    Vulkan,
    /// AMD ROCm/HIP.
    Rocm,
}

impl Backend {
    /// Parse a backend name.
    pub fn parse(s: &str) -> Option<Backend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Some(Backend::Cpu),
            "cuda" | "nvidia" => Some(Backend::Cuda),
            "metal" | "mps" | "apple" => Some(Backend::Metal),
            "vulkan" => Some(Backend::Vulkan),
            "rocm" | "hip" | "amd" => Some(Backend::Rocm),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::Metal => "metal",
            Backend::Vulkan => "vulkan",
            Backend::Rocm => "rocm",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How llama.cpp caches DeepSeek's multi-head latent attention; it changed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MlaCache {
    /// K only: the 512 latent + 64 rope values per token and layer
    /// (llama.cpp PR #19067, January 2026, and later).
    #[default]
    Latent,
    /// K = 576 latent+rope, V = 512 latent (PR #12801, April 2025, to January 2026).
    LatentKv,
    /// Decompressed heads: K = n_head × 192, V = n_head × 128 (before April 2025, and Ollama then).
    Expanded,
}

impl MlaCache {
    /// Parse `latent`, `latent-kv`, `expanded` or an engine era (`2025-03`, `2025-06`, `2026`).
    pub fn parse(s: &str) -> Option<MlaCache> {
        match s.trim().to_ascii_lowercase().as_str() {
            "latent" | "k-only" | "v-less" | "current" | "2026" => Some(MlaCache::Latent),
            "latent-kv" | "k+v" | "2025" | "2025-06" => Some(MlaCache::LatentKv),
            "expanded" | "naive" | "old" | "2025-01" | "2025-03" => Some(MlaCache::Expanded),
            _ => None,
        }
    }
}

/// Run settings, named after llama.cpp's flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSettings {
    /// `-c`: total context in tokens (0 = the model's training context).
    pub n_ctx: u64,
    /// `-b`: logical batch size.
    pub n_batch: u64,
    /// `-ub`: physical batch size.
    pub n_ubatch: u64,
    /// `-np`: parallel sequences.
    pub n_parallel: u64,
    /// `--kv-unified`: one KV stream shared by all sequences.
    pub kv_unified: bool,
    /// `-fa`.
    pub flash_attn: FlashAttn,
    /// `-ctk`.
    pub type_k: GgmlType,
    /// `-ctv`.
    pub type_v: GgmlType,
    /// `--backend`.
    pub backend: Backend,
    /// DeepSeek MLA cache layout (engine version).
    pub mla_cache: MlaCache,
    /// Logit rows reserved in the worst-case graph (which program runs).
    pub outputs: OutputRows,
    /// `-t`: CPU threads llama.cpp computes with; `None` is llama.cpp's
    /// default, one per physical (performance) core (`cpu_get_num_math`).
    /// Changes speed only, never memory.
    pub threads: Option<u32>,
}

impl Default for RunSettings {
    /// llama.cpp's defaults, except the context: 4096 rather than the training
    /// context, which for R1 (163840) is rarely what anyone runs.
    fn default() -> Self {
        RunSettings {
            n_ctx: 4096,
            n_batch: 2048,
            n_ubatch: 512,
            n_parallel: 1,
            kv_unified: false,
            flash_attn: FlashAttn::Auto,
            type_k: GgmlType::F16,
            type_v: GgmlType::F16,
            backend: Backend::Cuda,
            mla_cache: MlaCache::Latent,
            outputs: OutputRows::PerSequence,
            threads: None,
        }
    }
}

impl RunSettings {
    /// Tokens of context one sequence can use: all of it when the sequences
    /// share one unified KV stream (llama-context.cpp: `n_ctx_seq = n_ctx`
    /// with `kv_unified`), else an equal share of it.
    pub fn context_per_sequence(&self) -> u64 {
        if self.kv_unified {
            self.n_ctx
        } else {
            self.n_ctx / self.n_parallel.max(1)
        }
    }
}

/// Settings after the engine applied its rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedSettings {
    /// Context after padding (all sequences together).
    pub n_ctx: u64,
    /// Context per sequence.
    pub n_ctx_seq: u64,
    /// KV streams (1 when unified).
    pub n_stream: u64,
    /// Tokens in the reserved worst-case micro-batch.
    pub n_tokens: u64,
    /// Logit rows reserved.
    pub n_outputs: u64,
    /// Whether flash attention is on.
    pub flash_attn: bool,
}

/// Settings the engine would refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// Context too large to be meant.
    #[error("context {0} is out of range: use 1 to 10,000,000 tokens (or 0 for the model's training context)")]
    Context(u64),
    /// Batch or parallel count of zero or absurd size.
    #[error("{what} = {value} is out of range ({range})")]
    Range {
        /// Flag.
        what: &'static str,
        /// Value given.
        value: u64,
        /// Allowed range.
        range: &'static str,
    },
    /// Cache type llama.cpp does not accept.
    #[error("cache type {0} is not allowed; use one of f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl")]
    CacheType(GgmlType),
    /// Quantized V cache without flash attention.
    #[error("a quantized V cache (-ctv {0}) requires flash attention; use -fa on (or auto)")]
    QuantizedVNeedsFlashAttn(GgmlType),
    /// MLA needs equal K and V cache types.
    #[error("this model (MLA) needs the same K and V cache types, got -ctk {0} -ctv {1}")]
    MlaCacheTypes(GgmlType, GgmlType),
    /// Head size not divisible by the cache type's block.
    #[error("cache type {ty} (block {block}) does not divide the head size {head}; pick another cache type")]
    HeadBlock {
        /// Cache type.
        ty: GgmlType,
        /// Its block size.
        block: u64,
        /// Head size.
        head: u64,
    },
}

/// Cache types llama.cpp accepts for `-ctk`/`-ctv`.
pub const CACHE_TYPES: [GgmlType; 9] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::IQ4_NL,
];
