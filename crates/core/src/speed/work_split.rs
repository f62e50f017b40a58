//! What the speed model needs to know about where a model lives.

use super::{vec_dot, Calibration, SpeedError};
use crate::hardware::Device;
use crate::memory::{llama_cpp, Backend, RunSettings};
use crate::model::ModelSpec;
use crate::quant::{TensorStage, Weights};
use crate::units::{Bytes, BytesPerSecond, FlopsPerSecond, Seconds};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The memory system of a device, which decides its efficiency class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// A discrete GPU with its own VRAM / HBM.
    DiscreteGpu,
    /// Apple Silicon: CPU and GPU share one unified memory.
    AppleUnified,
    /// A non-Apple unified-memory SoC (DGX Spark, Strix Halo).
    UnifiedSoc,
    /// A CPU reading system RAM.
    Cpu,
}

impl DeviceClass {
    /// Lower-case label, as in `speed_calibration.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::DiscreteGpu => "discrete_gpu",
            DeviceClass::AppleUnified => "apple_unified",
            DeviceClass::UnifiedSoc => "unified_soc",
            DeviceClass::Cpu => "cpu",
        }
    }
}

impl fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The per-token costs of a model under a quantization, independent of where it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCost {
    /// Display name.
    pub name: String,
    /// Transformer blocks.
    pub n_layer: u64,
    /// Bytes of non-expert weights read for every token: all tensors except
    /// the routed experts and the token embedding (a row lookup, not a read
    /// of the whole matrix, unless the output head shares it).
    pub dense_bytes: Bytes,
    /// Bytes of all routed-expert tensors.
    pub expert_bytes: Bytes,
    /// Experts used per token ÷ routed experts (8/256 for R1); 0 for dense models.
    pub expert_active_fraction: f64,
    /// KV-cache bytes per token of context (all layers).
    pub kv_bytes_per_token: f64,
    /// Weights multiplied per token (routed experts: only the used ones),
    /// without the embedding lookup; FLOPs per token = 2 × this.
    pub active_params: f64,
    /// Core cycles a CPU's dot products spend per token on the non-expert
    /// weights (Σ weights × the measured cost of their type,
    /// `data/cpu_vec_dot.csv`; see [`super::vec_dot`]).
    pub dense_dot_cycles: f64,
    /// The same over all routed-expert weights (a token uses
    /// `expert_active_fraction` of them).
    pub expert_dot_cycles: f64,
    /// Σ over layers of the attention widths (query·key + attention·value);
    /// FLOPs per (query token, key token) pair = 2 × this.
    pub attn_width: f64,
    /// Σ over layers of the query heads: without flash attention every head
    /// writes and reads its score matrix (one f32 per query·key pair) in memory.
    pub attn_heads: f64,
    /// Query heads per cached K/V head (grouped-query attention; 1 for
    /// multi-head and for MLA's shared latent). Without flash attention
    /// llama.cpp's decode runs `kq` and `kqv` as one matrix-vector product
    /// per query head, broadcasting the K/V head of its group, so each
    /// cached K/V byte is read this many times.
    pub kv_group: f64,
    /// Bytes of the hidden state handed from one device to the next per token
    /// (n_embd × 4 B, f32 activations).
    pub hidden_bytes: Bytes,
    /// GPU kernels (graph nodes that launch work) one token's forward pass
    /// runs, over all layers: see [`kernels_per_layer`]. Each pays the
    /// backend's launch and synchronisation cost, so a 61-layer MoE pays more
    /// than a 28-layer dense model.
    pub kernels_per_token: f64,
    /// Extra kernel launches per decoded token that a llama.cpp build issues
    /// from host loops inside single graph nodes, over all layers: before
    /// llama.cpp PR #13014 (2025-04) CUDA/HIP ran a batch-1 `mul_mat_id` as
    /// one matrix-vector kernel per used expert, and `kq` over a quantized K
    /// cache without flash attention as one per query head. 0 for builds
    /// since, and for every estimate of a current build; set by `validate
    /// speed` from a row's build (see `benchmarks::host_loop_kernels`).
    pub host_loop_kernels_per_token: f64,
    /// Prefill's batched `mul_mat_id` as a host loop over experts, in
    /// builds that ran it so (see [`ExpertLoop`]); `None` for current builds.
    pub expert_loop: Option<ExpertLoop>,
    /// The output head is the token embedding (tied weights): where the head
    /// runs on the pool holding `token_embd`, that matrix is read in full for
    /// every token, not only gathered one row at a time.
    pub tied_output: bool,
}

/// A batched `mul_mat_id` run as a host loop over experts, as llama.cpp's
/// CUDA/HIP backend does wherever MMQ does not take it: in every build
/// before PR #13199 ("CUDA: batched+noncont MMQ, refactor bs>1 MoE code",
/// 2025-04), and since then for micro-batches of 64 tokens and more on a GPU
/// whose MMQ is not used at that size (`ggml_cuda_should_use_mmq` false:
/// RDNA 3 before its WMMA MMQ, CDNA before its MFMA MMQ). The expert ids
/// are copied to the host, then for every expert the micro-batch routes a
/// token to, its rows are multiplied as an ordinary matmul of that many
/// rows (ik_llama.cpp PR #283 describes the gather kernel "invoked n_as
/// times"): each a few launches, and an expert with at most
/// `MMVQ_MAX_BATCH_SIZE` rows goes to the matrix-vector kernel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExpertLoop {
    /// MoE layers of the model.
    pub moe_layers: f64,
    /// Routed experts per layer.
    pub n_expert: f64,
    /// Experts each token is routed to.
    pub n_expert_used: f64,
    /// Launches per expert and layer: three `mul_mat_id` (gate, up, down)
    /// × the launches of one looped expert matmul
    /// ([`EXPERT_LOOP_KERNELS_PER_MATMUL`] before PR #13199,
    /// [`SORTED_LOOP_KERNELS_PER_MATMUL`] since).
    pub kernels_per_expert: f64,
    /// The smallest micro-batch (tokens) that takes the loop: 1 before PR
    /// #13199; `MMQ_DP4A_MAX_BATCH_SIZE` (64) where MMQ's `mul_mat_id`
    /// takes the smaller ones.
    pub min_batch: f64,
    /// Which build or path runs the loop, for `--explain`.
    pub why: &'static str,
}

/// Launches per expert of one looped `mul_mat_id` before PR #13199: gather
/// the expert's rows, quantize or convert them, multiply, scatter back.
pub const EXPERT_LOOP_KERNELS_PER_MATMUL: f64 = 4.0;

/// Launches per expert of one looped `mul_mat_id` since PR #13199, which
/// gathers and scatters every expert's rows in one `get_rows` each and
/// calls `ggml_cuda_mul_mat` per expert on its sorted rows: quantize the
/// rows to q8_1, multiply.
pub const SORTED_LOOP_KERNELS_PER_MATMUL: f64 = 2.0;

/// Token rows up to which llama.cpp's CUDA/HIP backend multiplies quantized
/// weights with its matrix-vector kernel (MMVQ): `MMVQ_MAX_BATCH_SIZE` = 8
/// in ggml-cuda/mmvq.cuh. It reads each weight once and does one dot
/// product per row, so it has no tile of rows to leave idle.
pub const MMVQ_MAX_ROWS: f64 = 8.0;

/// Token rows from which MMQ's dp4a path is not used on GPUs that have a
/// faster BLAS path (`MMQ_DP4A_MAX_BATCH_SIZE` = 64 in ggml-cuda): larger
/// batches go to cuBLAS/hipBLAS, and a batched `mul_mat_id` of that many
/// tokens to the [`ExpertLoop`].
pub const MMQ_DP4A_MAX_BATCH: f64 = 64.0;

impl ExpertLoop {
    /// Kernel launches of the loops for a micro-batch of `u` tokens, over
    /// all MoE layers: the expected number of experts at least one of the
    /// `u` tokens is routed to (uniform routing), n × (1 − (1 − k/n)^u);
    /// none below [`Self::min_batch`].
    pub fn kernels(&self, u: f64) -> f64 {
        if !self.loops(u) {
            return 0.0;
        }
        let n = self.n_expert.max(1.0);
        let hit = n * (1.0 - (1.0 - self.n_expert_used.min(n) / n).powf(u.max(1.0)));
        self.moe_layers * hit * self.kernels_per_expert
    }

    /// Whether a micro-batch of `u` tokens goes through the loop.
    pub fn loops(&self, u: f64) -> bool {
        u >= self.min_batch
    }
}

/// Kernels of one attention block in llama.cpp's graph (`build_attn` and the
/// projections around it): norm (2), Q/K/V matmuls (3), RoPE (2), KV-cache
/// copies (2), attention (1 with flash attention), output matmul (1),
/// residual add (1). View, reshape and permute nodes launch nothing.
const ATTN_KERNELS: f64 = 12.0;
/// Extra kernels of multi-head latent attention (DeepSeek): the low-rank
/// Q and KV projections with their norms (4 + 2), the absorbed K and V
/// up-projections (2) and the rope/no-rope concatenation (1).
const MLA_EXTRA_KERNELS: f64 = 9.0;
/// Kernels of a dense FFN (`build_ffn`): norm (2), gate and up matmuls (2),
/// SiLU × up (1–2), down matmul (1), residual add (1).
const DENSE_FFN_KERNELS: f64 = 8.0;
/// Kernels of a routed-expert FFN (`build_moe_ffn`): norm (2), router matmul
/// (1), gating function and bias (2), top-k (argsort + view, 2), weight
/// gather and normalisation (4), three `mul_mat_id` (3), SiLU × up (2), the
/// expert-weight multiply (1), the sum of the selected experts (about 6 adds
/// for 8 experts) and the residual add (1).
const MOE_FFN_KERNELS: f64 = 24.0;

/// Kernels of layer `il` of `spec` (see [`ATTN_KERNELS`] and the FFN counts).
fn kernels_per_layer(spec: &ModelSpec, il: u64) -> f64 {
    let attn = ATTN_KERNELS
        + if spec.mla.is_some() {
            MLA_EXTRA_KERNELS
        } else {
            0.0
        };
    let ffn = match spec.moe {
        Some(m) if spec.is_moe_layer(il) => {
            MOE_FFN_KERNELS
                + if m.n_expert_shared > 0 {
                    // The shared expert is a dense FFN without its own norm.
                    DENSE_FFN_KERNELS - 2.0
                } else {
                    0.0
                }
        }
        _ => DENSE_FFN_KERNELS,
    };
    attn + ffn
}

impl ModelCost {
    /// Costs of `spec` with the given tensors, F16 KV cache and llama.cpp's
    /// current MLA cache layout.
    pub fn new(spec: &ModelSpec, weights: &Weights) -> ModelCost {
        Self::with_settings(spec, weights, &RunSettings::default())
    }

    /// Costs with explicit run settings (cache types, MLA cache layout).
    pub fn with_settings(spec: &ModelSpec, weights: &Weights, s: &RunSettings) -> ModelCost {
        let mut dense = Bytes::ZERO;
        let mut experts = Bytes::ZERO;
        let mut embd_params = 0u64;
        let (mut dense_dot_cycles, mut expert_dot_cycles) = (0.0, 0.0);
        for (t, role) in weights.tensors.iter().zip(weights.roles().iter()) {
            let dot = t.tensor.n_elements() as f64 * vec_dot::cycles_per_weight(&t.storage);
            if role.stage == TensorStage::RoutedExperts {
                experts += t.bytes;
                expert_dot_cycles += dot;
            } else if t.tensor.layer.is_none()
                && t.tensor.base.starts_with("token_embd")
                && !spec.tied_embeddings
            {
                // Looked up one row per token: neither read whole nor multiplied.
                embd_params += t.tensor.n_elements();
            } else {
                dense += t.bytes;
                // Norms and biases (1-D) are added, not multiplied.
                if t.tensor.shape().len() > 1 {
                    dense_dot_cycles += dot;
                }
            }
        }
        let frac = spec
            .moe
            .map(|m| m.n_expert_used as f64 / m.n_expert.max(1) as f64)
            .unwrap_or(0.0);
        // KV bytes per token: the memory module's own cache layout, so speed
        // and memory agree on what a KV row is. One sequence: a request reads
        // its own cells, however many slots share the cache.
        let kv_per_token = {
            let probe = RunSettings {
                n_ctx: 4096,
                n_parallel: 1,
                kv_unified: false,
                ..s.clone()
            };
            match llama_cpp::resolve_settings(spec, &probe) {
                Ok(r) if r.n_ctx > 0 => {
                    llama_cpp::kv_cache(spec, &probe, &r).bytes.0 as f64 / r.n_ctx as f64
                }
                // Settings the engine refuses: fall back to the F16 GQA layout.
                _ => (2 * spec.n_layer * spec.n_head_kv * spec.head_dim_k * 2) as f64,
            }
        };
        let attn_per_layer = match spec.mla {
            // llama.cpp runs MLA with the projections absorbed: every head
            // attends over the cached latent (kv_lora_rank + rope) and
            // returns a kv_lora_rank-wide value.
            Some(m) => spec.n_head * (2 * m.kv_lora_rank + m.qk_rope_head_dim),
            None => spec.n_head * (spec.head_dim_k + spec.head_dim_v),
        };
        ModelCost {
            name: spec.name.clone(),
            n_layer: spec.n_layer,
            dense_bytes: dense,
            expert_bytes: experts,
            expert_active_fraction: frac,
            kv_bytes_per_token: kv_per_token,
            active_params: spec.active_params().saturating_sub(embd_params) as f64,
            dense_dot_cycles,
            expert_dot_cycles,
            attn_width: (attn_per_layer * spec.n_layer) as f64,
            attn_heads: (spec.n_head * spec.n_layer) as f64,
            // MLA caches one latent that every head attends over as one
            // matrix product, so it is read once.
            kv_group: if spec.mla.is_some() || spec.n_head_kv == 0 {
                1.0
            } else {
                (spec.n_head as f64 / spec.n_head_kv as f64).max(1.0)
            },
            hidden_bytes: Bytes(spec.n_embd * 4),
            kernels_per_token: (0..spec.n_layer)
                .map(|il| kernels_per_layer(spec, il))
                .sum(),
            host_loop_kernels_per_token: 0.0,
            expert_loop: None,
            tied_output: spec.tied_embeddings,
        }
    }

    /// Bytes read per decoded token at depth 0: dense weights plus the active experts.
    pub fn active_bytes(&self) -> f64 {
        self.dense_bytes.0 as f64 + self.expert_bytes.0 as f64 * self.expert_active_fraction
    }

    /// Core cycles per token of a CPU's dot products over
    /// `dense` bytes of the non-expert weights and `experts` bytes of the
    /// routed experts (the used share of them): each side's measured
    /// operations in proportion to the bytes held.
    pub fn dot_cycles_of(&self, dense: Bytes, experts: Bytes) -> f64 {
        let share = |part: Bytes, whole: Bytes| {
            if whole.0 == 0 {
                0.0
            } else {
                (part.0 as f64 / whole.0 as f64).min(1.0)
            }
        };
        self.dense_dot_cycles * share(dense, self.dense_bytes)
            + self.expert_dot_cycles
                * self.expert_active_fraction
                * share(experts, self.expert_bytes)
    }

    /// All weight bytes (dense + experts).
    pub fn weight_bytes(&self) -> Bytes {
        self.dense_bytes + self.expert_bytes
    }

    /// The same model with every weight byte scaled by `f` (e.g. to match a
    /// published file size when the quantization label is unreliable).
    pub fn scaled_weights(mut self, f: f64) -> ModelCost {
        let f = if f.is_finite() && f > 0.0 { f } else { 1.0 };
        self.dense_bytes = Bytes((self.dense_bytes.0 as f64 * f).round() as u64);
        self.expert_bytes = Bytes((self.expert_bytes.0 as f64 * f).round() as u64);
        self
    }
}

/// One device as the speed model sees it: its peaks and its classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRates {
    /// Display name.
    pub label: String,
    /// Backend that runs on it.
    pub backend: Backend,
    /// Memory-system class.
    pub class: DeviceClass,
    /// Peak memory bandwidth (spec sheet).
    pub bandwidth: BytesPerSecond,
    /// Peak dense FP16 (else BF16) tensor rate; for CPUs the FP32 vector
    /// rate; for an architecture in `llama_cpp_tensor_paths.toml` the share
    /// of it llama.cpp's kernels can reach.
    pub compute: Option<FlopsPerSecond>,
    /// Why `compute` is below the datasheet rate, for `--explain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_note: Option<String>,
    /// Decode runs as a replayed CUDA graph: CUDA backend on a GPU of
    /// compute capability 8.0 or later, with a llama.cpp build that captures
    /// the graph once and replays it (see `data/llama_cpp_tensor_paths.toml`).
    /// Each kernel then costs `global.graph_node_s` instead of the class's
    /// `kernel_launch_s`.
    pub cuda_graphs: bool,
    /// The decode step's kernel launches run in series with the GPU work
    /// instead of overlapping it (`global.launch_overlap`): set for engines
    /// whose launch term stands in for per-step host work the GPU waits on
    /// (vLLM and SGLang's scheduler and sampling, exo/MLX), which the
    /// llama.cpp-fitted overlap does not describe; and for llama.cpp builds
    /// before PR #13014 running a MoE on CUDA/HIP, whose batch-1
    /// `mul_mat_id` copies the expert ids to the host and synchronises the
    /// stream at every MoE layer, so the host cannot run ahead of the GPU.
    #[serde(default)]
    pub serial_launches: bool,
    /// Seconds per kernel of a decode step that is priced by a fixed
    /// stand-in instead of the class's fitted `kernel_launch_s` (vLLM and
    /// SGLang: `pipeline::server::ENGINE_STEP_KERNEL_S`); `None` elsewhere.
    #[serde(default)]
    pub step_kernel_s: Option<f64>,
    /// The device's memory is HBM (catalog memory type HBM*): its reads go
    /// at `global.hbm_read_eff` of the class's efficiency.
    #[serde(default)]
    pub hbm: bool,
    /// Prefill of quantized weights goes through the dequantize + FP16
    /// BLAS path for micro-batches of at least this many tokens, writing
    /// every touched weight out as FP16 first: 33 in llama.cpp CUDA builds
    /// before MMQ became the default (PR #8075, merged 2024-06-24; MMQ up to
    /// 32 rows), [`MMQ_DP4A_MAX_BATCH`] on a GPU whose MMQ has no int8
    /// matrix path for large batches (Volta on every build, AMD matrix-core
    /// paths before their `since_build`). `None`: MMQ at every size (a
    /// current build elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dequant_f16_prefill: Option<f64>,
    /// llama.cpp's batched `mul_mat_id` (routed experts in prefill) on this
    /// device runs one BLAS GEMM per expert, which first copies the chosen
    /// expert ids to the host and synchronises the stream at every MoE
    /// layer (`ggml_cuda_mul_mat_id` outside MMQ): the one scheduler thread
    /// that feeds every GPU waits there, so the micro-batches of a batch do
    /// not overlap across GPUs. Set where MoE prefill goes through BLAS: the
    /// dequantize + FP16 paths ([`Self::dequant_f16_prefill`]), mainline
    /// builds before MMQ took `mul_mat_id` (PR #13199) and ik_llama.cpp.
    /// MMQ's `mul_mat_id` (mainline since then) sorts the ids on the GPU.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub moe_batch_host_sync: bool,
    /// The rate of llama.cpp's quantized matmul (MMQ) on this device, where
    /// its int8 instruction path differs from the int8 tensor-core path
    /// `compute` is calibrated on (`[[mmq_path]]` of
    /// `data/llama_cpp_tensor_paths.toml`): prefill prices quantized weights
    /// at this rate, attention and unquantized weights at `compute`. `None`:
    /// `compute` for both (also every backend other than CUDA and ROCm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mmq: Option<MmqRate>,
    /// A CPU's cores and SIMD unit as its threads run them; `None` for
    /// other devices and for a CPU built without a core count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUnit>,
    /// A GPU's boost clock in GHz (catalog `boost_clock_mhz`); `None` where
    /// the catalog has none (Apple, CPUs, a few datacenter parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_ghz: Option<f64>,
    /// The share of the datasheet bandwidth llama.cpp's kernels read at on
    /// this architecture relative to its class's `bw_eff`, and why
    /// (`[[read_path]]` of `data/llama_cpp_tensor_paths.toml`); `None`: the
    /// class's efficiency as fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_path: Option<(f64, String)>,
}

/// What a CPU's threads run on, beyond its peak rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuUnit {
    /// Compute threads, all sockets (llama.cpp's `-t`, by default one per
    /// physical core). Every ggml op ends in a barrier each thread crosses
    /// on one shared counter, so a CPU op's synchronisation grows with
    /// them: the cpu class's `kernel_launch_s` is per thread.
    pub threads: u32,
    /// Int8 operations per core per cycle of the SIMD unit
    /// (`data/cpu_simd.csv`): `compute` ÷ this is the core cycles per
    /// second the threads have, which decode's dot products spend
    /// ([`DeviceShare::dot_cycles`]).
    pub int8_ops_per_cycle: f64,
    /// Cycles of a dot product here per cycle of the unit the costs were
    /// measured on (`data/cpu_simd.csv` `vec_dot_cycle_factor`).
    pub vec_dot_cycle_factor: f64,
}

/// The quantized-matmul rate of one device: which instruction path
/// llama.cpp's MMQ takes on its architecture, and from which build.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MmqRate {
    /// Quantized-matmul rate in the basis of `compute` (peak int8 rate of
    /// the path ÷ [`REFERENCE_INT8_PER_STATED`]).
    pub compute: FlopsPerSecond,
    /// The first llama.cpp build that takes this path for micro-batches of
    /// 64 tokens and more; earlier builds dequantize to FP16 for the BLAS
    /// library (see [`DeviceRates::dequant_f16_prefill`]). `None`: every
    /// build the calibration set holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_build: Option<u32>,
    /// The path and its peak, for `--explain`.
    pub note: String,
}

/// Int8 operations of MMQ's path per FLOP of the stated rate on the GPUs the
/// calibration's `flops_eff` describes: NVIDIA compute capability 7.5 and
/// later, whose int8 tensor cores run at twice the FP16 tensor rate the
/// catalog states (datasheets: A100 624 INT8 TOPS against 312 FP16 TFLOPS,
/// RTX 4090 660.6 against 330.3). A quantized matmul on another path runs at
/// its int8 peak ÷ this in the basis of `compute`.
pub const REFERENCE_INT8_PER_STATED: f64 = 2.0;

/// The share of an architecture's datasheet tensor rate llama.cpp's kernels
/// reach (`data/llama_cpp_tensor_paths.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
struct TensorPath {
    name: String,
    tensor_rate_fraction: f64,
    /// Why the kernels fall short there, for `--explain`.
    why: String,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, serde::Deserialize)]
struct TensorPaths {
    architecture: Vec<TensorPath>,
    #[serde(default)]
    vector_path: Vec<VectorPath>,
    #[serde(default)]
    mmq_path: Vec<MmqPath>,
    #[serde(default)]
    matrix_rate: Vec<MatrixRate>,
    #[serde(default)]
    read_path: Vec<ReadPath>,
    #[serde(default)]
    cuda_graphs: Option<CudaGraphArchs>,
}

/// The share of a GPU architecture's datasheet bandwidth llama.cpp's
/// kernels read at, relative to the class's `bw_eff` (`[[read_path]]`).
#[derive(Debug, Clone, serde::Deserialize)]
struct ReadPath {
    name: String,
    read_fraction: f64,
    why: String,
    #[allow(dead_code)]
    source: String,
}

/// The `[[read_path]]` fraction for `architecture` and why, if listed.
pub(super) fn read_fraction(architecture: Option<&str>) -> Option<(f64, &'static str)> {
    let a = architecture?.trim();
    tensor_paths()
        .read_path
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(a))
        .filter(|r| r.read_fraction > 0.0 && r.read_fraction <= 1.0)
        .map(|r| (r.read_fraction, r.why.as_str()))
}

/// GPU architectures on which llama.cpp replays decode as a CUDA graph
/// (`[cuda_graphs]` of `data/llama_cpp_tensor_paths.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
struct CudaGraphArchs {
    architectures: Vec<String>,
    #[allow(dead_code)]
    source: String,
}

/// Whether llama.cpp's CUDA backend replays a decode step as one CUDA graph
/// on a GPU of `architecture` (compute capability 8.0 and later).
fn cuda_graph_capable(architecture: Option<&str>) -> bool {
    let Some(a) = architecture else { return false };
    tensor_paths().cuda_graphs.as_ref().is_some_and(|g| {
        g.architectures
            .iter()
            .any(|x| x.eq_ignore_ascii_case(a.trim()))
    })
}

/// How llama.cpp multiplies quantized weights on a GPU generation without
/// tensor cores or fast FP16 (`data/llama_cpp_tensor_paths.toml`): int8
/// operations per FP32 FLOP of its vector units.
#[derive(Debug, Clone, serde::Deserialize)]
struct VectorPath {
    name: String,
    int8_ops_per_fp32_flop: f64,
    #[allow(dead_code)]
    source: String,
}

/// The instruction path of llama.cpp's quantized matmul on one GPU
/// architecture (`[[mmq_path]]` of `data/llama_cpp_tensor_paths.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
struct MmqPath {
    name: String,
    instruction: String,
    /// Peak int8 operations of the path per FLOP of the catalog's stated rate.
    int8_per_stated: f64,
    /// First build on this path for batches of 64 tokens and more.
    #[serde(default)]
    since_build: Option<u32>,
    /// Batches of 64 tokens and more are dequantized to FP16 for cuBLAS on
    /// every build (no int8 matrix instruction in MMQ).
    #[serde(default)]
    fp16_blas: bool,
    /// The path applies only to devices whose catalog row states a vector
    /// rate and no FP16 figure (Pascal's GP102/GP104 with dp4a, not GP100).
    #[serde(default)]
    stated_vector_only: bool,
    #[allow(dead_code)]
    source: String,
}

/// FP16 matrix rate per stated FLOP where the catalog states a vector rate
/// (`[[matrix_rate]]`), used by Vulkan's cooperative-matrix matmuls.
#[derive(Debug, Clone, serde::Deserialize)]
struct MatrixRate {
    name: String,
    fp16_matrix_per_stated: f64,
    #[allow(dead_code)]
    source: String,
}

fn mmq_path(architecture: Option<&str>) -> Option<&'static MmqPath> {
    let a = architecture?.trim();
    tensor_paths()
        .mmq_path
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(a))
        .filter(|p| p.int8_per_stated > 0.0 && p.int8_per_stated.is_finite())
}

fn matrix_rate(architecture: Option<&str>) -> Option<f64> {
    let a = architecture?.trim();
    tensor_paths()
        .matrix_rate
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(a))
        .map(|p| p.fp16_matrix_per_stated)
        .filter(|f| *f >= 1.0 && f.is_finite())
}

fn tensor_paths() -> &'static TensorPaths {
    static TABLE: std::sync::OnceLock<TensorPaths> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        toml::from_str::<TensorPaths>(TENSOR_PATHS_TOML).unwrap_or(TensorPaths {
            architecture: Vec::new(),
            vector_path: Vec::new(),
            mmq_path: Vec::new(),
            matrix_rate: Vec::new(),
            read_path: Vec::new(),
            cuda_graphs: None,
        })
    })
}

/// The vector rate a catalog row states in its FP16 basis when it has no
/// tensor figure ("FP32 vector 11.8 TFLOPS (TechPowerUp)", "FP16 vector
/// 10.65 TFLOPS"), with the precision it names.
fn stated_vector_rate(basis: &str) -> Option<(&'static str, f64)> {
    let re = regex::Regex::new(r"(FP32|FP16) vector ([0-9]+(?:\.[0-9]+)?) TFLOPS").ok()?;
    let c = re.captures(basis)?;
    let tflops: f64 = c[2].parse().ok().filter(|t: &f64| *t > 0.0)?;
    Some((if &c[1] == "FP32" { "FP32" } else { "FP16" }, tflops))
}

/// The embedded table of tensor paths.
pub const TENSOR_PATHS_TOML: &str = include_str!("../../data/llama_cpp_tensor_paths.toml");

/// The fraction for `architecture` and why, if the table names it.
fn tensor_rate_fraction(architecture: &str) -> Option<(f64, &'static str)> {
    tensor_paths()
        .architecture
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(architecture.trim()))
        .filter(|a| a.tensor_rate_fraction > 0.0 && a.tensor_rate_fraction <= 1.0)
        .map(|a| (a.tensor_rate_fraction, a.why.as_str()))
}

/// The GPU clock the per-kernel constants (`graph_node_s`, the GPU classes'
/// `kernel_launch_s`) are stated at.
pub const REFERENCE_GPU_CLOCK_GHZ: f64 = 2.0;

impl DeviceRates {
    /// How much longer this device's gap between dependent kernels is than
    /// at [`REFERENCE_GPU_CLOCK_GHZ`]: the gap (the front end retiring one
    /// grid, flushing and dispatching the next, the first wave's ramp) is a
    /// number of GPU cycles, so it scales with 1 / clock. 1 for a device
    /// without a catalog clock.
    pub fn kernel_gap_scale(&self) -> f64 {
        self.clock_ghz
            .filter(|c| c.is_finite() && *c > 0.1)
            .map_or(1.0, |c| REFERENCE_GPU_CLOCK_GHZ / c)
    }

    /// A device with only its peaks: no CUDA graphs, no MMQ rate, no
    /// pre-MMQ dequantize pass, launches overlapped, GDDR-class reads.
    /// Engine- and build-specific paths are set on top with struct update.
    pub fn plain(
        label: impl Into<String>,
        backend: Backend,
        class: DeviceClass,
        bandwidth: BytesPerSecond,
        compute: Option<FlopsPerSecond>,
    ) -> DeviceRates {
        DeviceRates {
            label: label.into(),
            backend,
            class,
            bandwidth,
            compute,
            compute_note: None,
            cuda_graphs: false,
            serial_launches: false,
            step_kernel_s: None,
            hbm: false,
            dequant_f16_prefill: None,
            moe_batch_host_sync: false,
            mmq: None,
            cpu: None,
            clock_ghz: None,
            read_path: None,
        }
    }

    /// From a catalog device. Apple chips get their FP16 rate from the GPU
    /// core count × the per-core rate of their generation (calibration data);
    /// CPU platforms their vector rate, cores × FLOP/cycle × clock
    /// ([`crate::hardware::CpuCompute`]), when the catalog gives all three.
    pub fn from_device(
        d: &Device,
        backend: Backend,
        cal: &Calibration,
    ) -> Result<DeviceRates, SpeedError> {
        let bandwidth = d
            .bandwidth
            .filter(|b| b.0.is_finite() && b.0 > 0.0)
            .ok_or_else(|| SpeedError::NoBandwidth(d.name.clone()))?;
        let mut compute_note = None;
        let mut cpu = None;
        let mut compute = d
            .fp16
            .or(d.bf16)
            .or_else(|| cal.apple_compute(&d.name, d.gpu_cores));
        if compute.is_none() && d.kind == crate::hardware::DeviceKind::CpuPlatform {
            // llama.cpp multiplies quantized weights on a CPU with int8 dot
            // products: the int8 rate of its SIMD unit, not the FP32 one.
            let own = d.cpu.clone();
            // A CPU whose cores are stated but whose clock is not (an
            // uncatalogued EPYC/Threadripper read as its series' platform):
            // its cores at the typical desktop CPU's per-core rate.
            let typical = || {
                let cores = d.cpu_cores?;
                let cat = crate::hardware::Catalog::embedded().ok()?;
                let mut c = crate::hardware::typical_desktop_cpu(cat)?.cpu.clone()?;
                c.cores = cores;
                // A series whose cores all share one SIMD unit (Zen 4
                // Threadripper PRO): that unit, at the typical clock.
                if let Some(s) = super::cpu_host::series_simd(d.architecture.as_deref())
                    .and_then(|simd| crate::hardware::cpu_compute_for(simd, cores, c.clock_ghz))
                {
                    c = s;
                }
                Some(c)
            };
            if let Some(c) = own.clone().or_else(typical) {
                compute = Some(c.int8_peak());
                if c.int8_ops_per_cycle > 0.0 && c.cores > 0 {
                    cpu = Some(CpuUnit {
                        threads: c.cores,
                        int8_ops_per_cycle: c.int8_ops_per_cycle,
                        vec_dot_cycle_factor: c.vec_dot_cycle_factor,
                    });
                }
                compute_note = Some(format!(
                    "{}{} cores × {} int8 operations/cycle (llama.cpp's quantized dot products on {}, cpu_simd.csv) × {} GHz = {:.2} TOPS",
                    match (&own, super::cpu_host::series_simd(d.architecture.as_deref())) {
                        (Some(_), _) => "",
                        (None, Some(_)) => "cores as stated, the SIMD unit of its series (cpu_threads.toml [[series_simd]]) at the typical desktop CPU's clock (not in the catalog): ",
                        (None, None) => "cores as stated, per-core rate and clock of the typical desktop CPU (not in the catalog): ",
                    },
                    c.cores,
                    c.int8_ops_per_cycle,
                    c.unit,
                    c.clock_ghz,
                    c.int8_peak().0 / 1e12
                ));
            }
        }
        if compute.is_none() {
            // No tensor or FP16 matrix figure (Kepler, Maxwell, Pascal,
            // Jetson): the vector rate the row states, times the int8 path
            // llama.cpp takes on that generation.
            if let Some((precision, tflops)) = d.fp16_basis.as_deref().and_then(stated_vector_rate)
            {
                let int8 = d
                    .architecture
                    .as_deref()
                    .and_then(|a| {
                        tensor_paths()
                            .vector_path
                            .iter()
                            .find(|v| v.name.eq_ignore_ascii_case(a.trim()))
                    })
                    .map(|v| v.int8_ops_per_fp32_flop)
                    .filter(|f| *f >= 1.0)
                    .unwrap_or(1.0);
                compute = Some(FlopsPerSecond::tflops(tflops * int8));
                compute_note = Some(format!(
                    "no tensor-core figure: the stated {precision} vector rate {tflops} TFLOP/s × {int8} (llama.cpp's matmul path on {}, llama_cpp_tensor_paths.toml [[vector_path]])",
                    d.architecture.as_deref().unwrap_or("this generation")
                ));
            }
        }
        let path = d
            .architecture
            .as_deref()
            .and_then(|a| tensor_rate_fraction(a).map(|(f, why)| (a, f, why)));
        if let (Some(c), Some((arch, f, why)), true) = (compute, path, d.fp16.or(d.bf16).is_some())
        {
            compute = Some(FlopsPerSecond(c.0 * f));
            compute_note = Some(format!(
                "{arch}: llama.cpp's matmul kernels reach {f:.2} of the datasheet tensor rate, {why} (llama_cpp_tensor_paths.toml)"
            ));
        }
        let arch = d.architecture.as_deref();
        if backend == Backend::Vulkan {
            // Vulkan's cooperative-matrix matmuls run on the matrix units.
            if let (Some(c), Some(f)) = (compute, matrix_rate(arch)) {
                compute = Some(FlopsPerSecond(c.0 * f));
                compute_note = Some(format!(
                    "{}: FP16 matrix units at {f} × the stated vector rate, through Vulkan's cooperative matrices (llama_cpp_tensor_paths.toml)",
                    arch.unwrap_or_default()
                ));
            }
        }
        let mut mmq = None;
        let mut dequant_f16_prefill = None;
        if matches!(backend, Backend::Cuda | Backend::Rocm) {
            let stated_fp16 = d.fp16.or(d.bf16).is_some();
            let path = mmq_path(arch).filter(|p| !(p.stated_vector_only && stated_fp16));
            if let (Some(c), Some(p)) = (compute, path) {
                let rate = c.0 * p.int8_per_stated / REFERENCE_INT8_PER_STATED;
                // A path with no int8 matrix instruction for large batches
                // (Volta) dequantizes to FP16 for cuBLAS on every build.
                dequant_f16_prefill =
                    (p.fp16_blas && backend == Backend::Cuda).then_some(MMQ_DP4A_MAX_BATCH);
                if !p.fp16_blas {
                    mmq = Some(MmqRate {
                        compute: FlopsPerSecond(rate),
                        since_build: p.since_build,
                        note: format!(
                            "quantized matmuls (MMQ) on {}: {} at {:.1} int8 TOPS = {} × the stated {:.1} TFLOP/s, priced as {:.1} TFLOP/s (÷ {REFERENCE_INT8_PER_STATED}, the int8-to-stated ratio of the tensor-core GPUs flops_eff is fitted on; llama_cpp_tensor_paths.toml)",
                            p.name,
                            p.instruction,
                            c.0 * p.int8_per_stated / 1e12,
                            p.int8_per_stated,
                            c.0 / 1e12,
                            rate / 1e12
                        ),
                    });
                }
            }
        }
        Ok(DeviceRates {
            label: d.name.clone(),
            backend,
            class: super::device_class(d.kind),
            bandwidth,
            compute,
            compute_note,
            cuda_graphs: backend == Backend::Cuda && cuda_graph_capable(arch),
            dequant_f16_prefill,
            moe_batch_host_sync: dequant_f16_prefill.is_some(),
            mmq,
            serial_launches: false,
            step_kernel_s: None,
            hbm: d
                .memory_type
                .as_deref()
                .is_some_and(|t| t.to_ascii_uppercase().starts_with("HBM")),
            cpu,
            clock_ghz: d
                .boost_clock_ghz
                .filter(|_| d.kind == crate::hardware::DeviceKind::Gpu),
            read_path: read_fraction(arch).map(|(f, why)| (f, why.to_string())),
        })
    }

    /// A CPU memory platform without cores or clock in the catalog takes
    /// the compute of `typical` (its rate and its unit), so that it still
    /// gets a prefill estimate; returns the note saying so, which also
    /// becomes its `compute_note`.
    pub fn assume_cpu_compute_of(&mut self, typical: &DeviceRates) -> String {
        self.compute = typical.compute;
        self.cpu = typical.cpu;
        let note = format!(
            "no CPU cores or clock in the catalog for {}: assumed the compute of {} for its prefill",
            self.label, typical.label
        );
        self.compute_note = Some(note.clone());
        note
    }

    /// The same device `n` times over as one memory pool (CPU sockets): n × bandwidth and compute.
    pub fn times(mut self, n: u32) -> DeviceRates {
        let n = f64::from(n.max(1));
        self.bandwidth = BytesPerSecond(self.bandwidth.0 * n);
        self.compute = self.compute.map(|c| FlopsPerSecond(c.0 * n));
        if let Some(c) = self.cpu.as_mut() {
            c.threads = c.threads.saturating_mul(n as u32);
        }
        if let Some(m) = self.mmq.as_mut() {
            m.compute = FlopsPerSecond(m.compute.0 * n);
        }
        if n > 1.0 {
            self.label = format!("{}× {}", n, self.label);
        }
        self
    }
}

/// One device's share of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceShare {
    /// The device.
    pub device: DeviceRates,
    /// Fraction of the transformer blocks it runs (scales the kernel launches it pays).
    pub layer_fraction: f64,
    /// Non-expert weight bytes held and read per token here.
    pub dense_bytes: Bytes,
    /// Routed-expert bytes held here.
    pub expert_bytes: Bytes,
    /// Fraction of those experts one token uses.
    pub expert_active_fraction: f64,
    /// KV bytes per token of depth held here.
    pub kv_bytes_per_token: f64,
    /// Weights multiplied here per token.
    pub active_params: f64,
    /// Core cycles of those multiplications on a CPU
    /// ([`ModelCost::dot_cycles_of`]): the compute bound of a CPU's decode.
    pub dot_cycles: f64,
    /// Attention width of the layers here (see [`ModelCost::attn_width`]).
    pub attn_width: f64,
    /// Query heads of the layers here (see [`ModelCost::attn_heads`]).
    pub attn_heads: f64,
    /// When set, llama.cpp copies these weights to an accelerator over this
    /// link for large batches (its op offload for CPU-held weights) instead
    /// of computing on this device.
    pub streamed_over: Option<BytesPerSecond>,
}

impl DeviceShare {
    /// The share of `frac` of every layer of `m` (experts included) on `device`.
    pub fn of_layers(m: &ModelCost, device: DeviceRates, frac: f64) -> DeviceShare {
        let f = frac.clamp(0.0, 1.0);
        let scale = |b: Bytes| Bytes((b.0 as f64 * f).round() as u64);
        DeviceShare {
            device,
            layer_fraction: f,
            dense_bytes: scale(m.dense_bytes),
            expert_bytes: scale(m.expert_bytes),
            expert_active_fraction: m.expert_active_fraction,
            kv_bytes_per_token: m.kv_bytes_per_token * f,
            active_params: m.active_params * f,
            dot_cycles: m.dot_cycles_of(scale(m.dense_bytes), scale(m.expert_bytes)),
            attn_width: m.attn_width * f,
            attn_heads: m.attn_heads * f,
            streamed_over: None,
        }
    }
}

/// A transfer between devices on every token's path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// What it is (`PCIe 4.0 x16 GPU0→GPU1`).
    pub label: String,
    /// Bandwidth of the link per direction.
    pub bandwidth: BytesPerSecond,
    /// Fixed latency per crossing; `None`: the calibrated hop latency.
    pub latency: Option<Seconds>,
    /// Bytes crossing it per token (the hidden state).
    pub bytes_per_token: Bytes,
}

/// Where a model lives: devices, their shares, and the links between them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkSplit {
    /// The model's costs.
    pub model: ModelCost,
    /// Each device's share, in the order a token visits them.
    pub devices: Vec<DeviceShare>,
    /// Cross-device transfers on every token's path.
    pub links: Vec<Link>,
    /// Whether llama.cpp's scheduler pipelines the micro-batches of one
    /// batch across the devices: every layer on a GPU and several GPUs
    /// (its `pipeline_parallel` context setting). They then overlap unless
    /// a GPU holding routed experts synchronises with the host in them
    /// ([`DeviceRates::moe_batch_host_sync`]); see
    /// [`WorkSplit::micro_batches_overlap`].
    pub pipeline_parallel: bool,
    /// `-b`: logical batch (llama-bench default 2048).
    pub n_batch: u64,
    /// `-ub`: micro-batch (default 512).
    pub n_ubatch: u64,
    /// `-fa`: flash attention. Off, prefill attention writes and reads the
    /// f32 score matrix of every head in memory (see [`KQ_BYTES_PER_PAIR_HEAD`]).
    pub flash_attn: bool,
}

/// Bytes of memory traffic per (query, key) pair and head when attention runs
/// without flash attention: llama.cpp's `build_attn_mha` writes the f32 scores
/// `kq` (4 B), `ggml_soft_max_ext` reads and writes them (8 B), and the `kqv`
/// matmul reads them again (4 B). Derived from the graph, not fitted.
pub const KQ_BYTES_PER_PAIR_HEAD: f64 = 16.0;

/// PCIe 4.0 x16, the default link between GPUs when the catalog has no figure.
pub const DEFAULT_LINK_GBS: f64 = 31.5;

impl WorkSplit {
    /// Whether the micro-batches of one batch overlap across the devices:
    /// llama.cpp pipelines them ([`Self::pipeline_parallel`]) and no device
    /// holding routed experts stalls the scheduler thread at each MoE layer
    /// ([`DeviceRates::moe_batch_host_sync`]).
    pub fn micro_batches_overlap(&self) -> bool {
        self.pipeline_parallel
            && self.devices.len() > 1
            && !self
                .devices
                .iter()
                .any(|d| d.expert_bytes > Bytes::ZERO && d.device.moe_batch_host_sync)
    }

    fn new(model: &ModelCost, devices: Vec<DeviceShare>, links: Vec<Link>, pp: bool) -> Self {
        WorkSplit {
            model: model.clone(),
            devices,
            links,
            pipeline_parallel: pp,
            n_batch: 2048,
            n_ubatch: 512,
            flash_attn: false,
        }
    }

    /// Everything on one device.
    pub fn single_device(model: &ModelCost, device: DeviceRates) -> WorkSplit {
        let share = DeviceShare::of_layers(model, device, 1.0);
        Self::new(model, vec![share], Vec::new(), false)
    }

    /// llama.cpp's default `-sm layer` over `n` identical GPUs: each holds
    /// 1/n of the blocks, a token crosses n − 1 links, micro-batches
    /// pipeline (unless the device's MoE matmuls wait on the host:
    /// [`WorkSplit::micro_batches_overlap`]). `link` is the GPU-to-GPU
    /// bandwidth (`None`: PCIe 4.0 x16).
    pub fn layer_split(
        model: &ModelCost,
        device: DeviceRates,
        n: u32,
        link: Option<BytesPerSecond>,
    ) -> WorkSplit {
        let n = n.max(1);
        let frac = 1.0 / f64::from(n);
        let devices = (0..n)
            .map(|i| {
                let mut d = device.clone();
                if n > 1 {
                    d.label = format!("{} #{i}", d.label);
                }
                DeviceShare::of_layers(model, d, frac)
            })
            .collect();
        let bw = link.unwrap_or(BytesPerSecond::gbps(DEFAULT_LINK_GBS));
        let links = (1..n)
            .map(|i| Link {
                label: format!("GPU{} → GPU{i}", i - 1),
                bandwidth: bw,
                latency: None,
                bytes_per_token: model.hidden_bytes,
            })
            .collect();
        Self::new(model, devices, links, n > 1)
    }

    /// `-ngl N` partial offload: the last `gpu_layers` blocks on `gpu`, the
    /// rest (and their KV) on `cpu`; one hop each way per token. llama.cpp
    /// streams CPU-held weights to the GPU over `link` for large batches.
    pub fn layer_offload(
        model: &ModelCost,
        gpu: DeviceRates,
        cpu: DeviceRates,
        gpu_layers: u64,
        link: BytesPerSecond,
    ) -> WorkSplit {
        let f_gpu = if model.n_layer == 0 {
            1.0
        } else {
            (gpu_layers.min(model.n_layer) as f64) / model.n_layer as f64
        };
        let mut cpu_share = DeviceShare::of_layers(model, cpu, 1.0 - f_gpu);
        if gpu.compute.is_some() {
            cpu_share.streamed_over = Some(link);
        }
        let gpu_share = DeviceShare::of_layers(model, gpu, f_gpu);
        let links = vec![Link {
            label: "CPU ↔ GPU".into(),
            bandwidth: link,
            latency: None,
            bytes_per_token: model.hidden_bytes * 2,
        }];
        Self::new(model, vec![cpu_share, gpu_share], links, false)
    }

    /// `-ot exps=CPU`: routed experts in RAM on `cpu`, everything else (and
    /// the KV cache) on `gpu`; each MoE layer sends its input to the CPU and
    /// its output back.
    pub fn experts_on_cpu(
        model: &ModelCost,
        gpu: DeviceRates,
        cpu: DeviceRates,
        link: BytesPerSecond,
    ) -> WorkSplit {
        let mut g = DeviceShare::of_layers(model, gpu, 1.0);
        let expert_params = if model.expert_bytes.0 > 0 {
            // Split the multiplied weights by bytes: a good proxy when experts
            // and dense tensors share a quantization.
            let active_expert = model.expert_bytes.0 as f64 * model.expert_active_fraction;
            model.active_params * active_expert / model.active_bytes().max(1.0)
        } else {
            0.0
        };
        g.expert_bytes = Bytes::ZERO;
        g.active_params -= expert_params;
        g.dot_cycles = model.dot_cycles_of(model.dense_bytes, Bytes::ZERO);
        let c = DeviceShare {
            layer_fraction: 0.0,
            dense_bytes: Bytes::ZERO,
            expert_bytes: model.expert_bytes,
            expert_active_fraction: model.expert_active_fraction,
            kv_bytes_per_token: 0.0,
            active_params: expert_params,
            dot_cycles: model.dot_cycles_of(Bytes::ZERO, model.expert_bytes),
            attn_width: 0.0,
            attn_heads: 0.0,
            streamed_over: Some(link),
            device: cpu,
        };
        let links = vec![Link {
            label: "GPU ↔ CPU, in and out of every layer's experts".into(),
            bandwidth: link,
            latency: None,
            bytes_per_token: model.hidden_bytes * (2 * model.n_layer),
        }];
        Self::new(model, vec![g, c], links, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded table parses as a whole: `tensor_paths` falls back to an
    /// empty table on a parse error, which would silently drop every entry.
    #[test]
    fn the_tensor_paths_table_parses_and_every_fraction_is_a_share() {
        let t: TensorPaths =
            toml::from_str(TENSOR_PATHS_TOML).expect("llama_cpp_tensor_paths.toml");
        assert!(!t.architecture.is_empty() && !t.mmq_path.is_empty() && !t.read_path.is_empty());
        // Every fraction is a share of the stated rate, with its why and source.
        let entries = t
            .architecture
            .iter()
            .map(|a| (&a.name, a.tensor_rate_fraction, &a.why, &a.source))
            .chain(
                t.read_path
                    .iter()
                    .map(|r| (&r.name, r.read_fraction, &r.why, &r.source)),
            );
        for (name, f, why, source) in entries {
            assert!(f > 0.0 && f <= 1.0, "{name}");
            assert!(!why.is_empty() && !source.is_empty(), "{name}");
        }
        assert!(tensor_rate_fraction("CDNA 3").is_some_and(|(f, _)| f < 0.5));
    }
}
