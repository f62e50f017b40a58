//! The roofline terms: decode and prefill time of a placement.

use super::work_split::{
    DeviceClass, DeviceShare, WorkSplit, KQ_BYTES_PER_PAIR_HEAD, MMVQ_MAX_ROWS,
    REFERENCE_GPU_CLOCK_GHZ,
};
use super::{Calibration, ClassConstants, SpeedError};
use crate::memory::Backend;
use crate::units::{Seconds, TokensPerSecond};
use serde::Serialize;

/// One term of an estimate, for `--explain` and `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeedTerm {
    /// What it is.
    pub label: String,
    /// How it was computed, numbers filled in.
    pub formula: String,
    /// Its time.
    pub seconds: Seconds,
}

/// A speed estimate: point value, range and the terms behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Tokens the figure is about.
    pub tokens: u64,
    /// Time for those tokens.
    pub seconds: Seconds,
    /// Point estimate of the throughput.
    pub rate: TokensPerSecond,
    /// Low end of the range (10th percentile of the calibration residuals).
    pub low: TokensPerSecond,
    /// High end of the range (90th percentile).
    pub high: TokensPerSecond,
    /// The terms that add up to `seconds` (for one token in decode, for
    /// the whole prompt in prefill).
    pub terms: Vec<SpeedTerm>,
    /// Caveats (calibration fallbacks, assumptions).
    pub notes: Vec<String>,
}

impl Estimate {
    fn new(
        tokens: u64,
        seconds: f64,
        terms: Vec<SpeedTerm>,
        notes: Vec<String>,
        (p10, p90): (f64, f64),
    ) -> Estimate {
        let rate = if seconds > 0.0 {
            tokens as f64 / seconds
        } else {
            0.0
        };
        Estimate {
            tokens,
            seconds: Seconds(seconds),
            rate: TokensPerSecond(rate),
            low: TokensPerSecond(rate * p10.exp()),
            high: TokensPerSecond(rate * p90.exp()),
            terms,
            notes,
        }
    }

    /// Time range matching the throughput range: (fastest, slowest).
    pub fn seconds_range(&self) -> (Seconds, Seconds) {
        let t = |r: TokensPerSecond| {
            if r.0 > 0.0 {
                Seconds(self.tokens as f64 / r.0)
            } else {
                Seconds(f64::INFINITY)
            }
        };
        (t(self.high), t(self.low))
    }
}

fn check(p: &WorkSplit) -> Result<(), SpeedError> {
    if p.devices.is_empty() {
        return Err(SpeedError::NoDevices);
    }
    for d in &p.devices {
        let bw = d.device.bandwidth.0;
        if !(bw.is_finite() && bw > 0.0) {
            return Err(SpeedError::NoBandwidth(d.device.label.clone()));
        }
    }
    Ok(())
}

/// What the device's reads reach of its class's `bw_eff`: `global.hbm_read_eff`
/// for a device with HBM, times its architecture's `[[read_path]]` fraction
/// where the table lists one; else 1.
fn read_factor(d: &DeviceShare, cal: &Calibration) -> f64 {
    let path = d.device.read_path.as_ref().map_or(1.0, |(f, _)| *f);
    path * if d.device.hbm {
        cal.global.hbm_read_eff
    } else {
        1.0
    }
}

fn gb(x: f64) -> String {
    format!("{:.2} GB", x / 1e9)
}

/// The memory side of one decode step on a device, term by term (seconds),
/// with the effective bandwidth and the bytes read.
pub(crate) struct DecodeMemory {
    /// Effective bandwidth, bytes/s.
    pub bw: f64,
    /// Dense weights.
    pub dense: f64,
    /// The active routed experts.
    pub experts: f64,
    /// KV-cache reads at the depth.
    pub kv: f64,
    /// Times each cached K/V byte is read (the GQA group without flash attention).
    pub kv_reads: f64,
    /// Score matrices through memory (flash attention off).
    pub kq: f64,
    /// Bytes read: weights, active experts and KV rows.
    pub bytes: f64,
}

impl DecodeMemory {
    /// All memory terms together.
    pub fn seconds(&self) -> f64 {
        self.dense + self.experts + self.kv + self.kq
    }
}

/// The memory terms of device `d` decoding one token at `depth` in `p`.
pub(crate) fn decode_memory(
    p: &WorkSplit,
    d: &DeviceShare,
    depth: u64,
    cal: &Calibration,
) -> DecodeMemory {
    let g = &cal.global;
    let (k, _) = cal.class(d.device.backend, d.device.class);
    let bw = d.device.bandwidth.0 * k.bw_eff * read_factor(d, cal);
    let active_experts = d.expert_bytes.0 as f64 * d.expert_active_fraction;
    let kv_bytes = d.kv_bytes_per_token * depth as f64;
    // Without flash attention every query head re-reads the K/V head of
    // its group (one matrix-vector product per head), and the f32 scores
    // go through memory: written by `kq`, read and written by the
    // softmax, read by `kqv` (KQ_BYTES_PER_PAIR_HEAD a key and head).
    let kv_reads = if p.flash_attn { 1.0 } else { p.model.kv_group };
    let kq_bytes = if p.flash_attn {
        0.0
    } else {
        d.attn_heads * depth as f64 * KQ_BYTES_PER_PAIR_HEAD
    };
    let per = |b: f64| if bw > 0.0 { b / bw } else { 0.0 };
    DecodeMemory {
        bw,
        dense: per(d.dense_bytes.0 as f64),
        experts: per(active_experts) / g.expert_read_eff,
        kv: per(kv_bytes * kv_reads * g.kv_read_factor),
        kv_reads,
        kq: per(kq_bytes),
        bytes: d.dense_bytes.0 as f64 + active_experts + kv_bytes,
    }
}

/// Launch and synchronisation cost of one op on a device: the class's
/// `kernel_launch_s`; on a CPU that constant is per thread, since every
/// ggml op ends in a barrier each thread crosses on one shared counter
/// ([`super::CpuUnit::threads`]); on a GPU it is stated at
/// [`super::REFERENCE_GPU_CLOCK_GHZ`] and scales with 1 / the GPU's clock
/// ([`super::DeviceRates::kernel_gap_scale`]).
fn op_sync_seconds(d: &DeviceShare, k: &ClassConstants) -> f64 {
    if d.device.class == DeviceClass::Cpu {
        k.kernel_launch_s * f64::from(d.device.cpu.map_or(1, |c| c.threads).max(1))
    } else {
        k.kernel_launch_s * d.device.kernel_gap_scale()
    }
}

/// Reference-unit cycles per second a CPU's threads have for dot products:
/// its int8 rate ÷ its unit's int8 operations per cycle (the core cycles),
/// ÷ the unit's `vec_dot_cycle_factor`. A CPU without a known unit: the
/// AVX2 unit the costs were measured on.
fn core_cycles_per_s(d: &DeviceShare, int8_rate: f64) -> f64 {
    match d.device.cpu {
        Some(c) => int8_rate / c.int8_ops_per_cycle / c.vec_dot_cycle_factor.max(1e-3),
        None => int8_rate / super::vec_dot::REF_INT8_OPS_PER_CYCLE,
    }
}

/// The compute side of one decode step on a device: a GPU's matrix-vector
/// kernels at its int8 (MMVQ, the same instructions as MMQ) or FP16 rate
/// times the class's `flops_eff`; a CPU's `vec_dot` over every weight at the
/// measured cost of its type ([`super::vec_dot`], not fitted) over the
/// core cycles its threads have (threads × clock).
pub(crate) fn decode_compute_seconds(d: &DeviceShare, k: &ClassConstants) -> f64 {
    let Some(c) = d.device.compute else {
        return 0.0;
    };
    if d.device.class == DeviceClass::Cpu && d.dot_cycles > 0.0 {
        return d.dot_cycles / core_cycles_per_s(d, c.0);
    }
    let rate = d.device.mmq.as_ref().map_or(c.0, |m| m.compute.0);
    2.0 * d.active_params / (rate * k.flops_eff)
}

/// Decode time of one token at `depth` tokens of context, with its terms.
fn decode_seconds(
    p: &WorkSplit,
    depth: u64,
    cal: &Calibration,
    explain: bool,
) -> (f64, Vec<SpeedTerm>, Vec<String>) {
    let g = &cal.global;
    let mut total = 0.0;
    let mut terms = Vec::new();
    let mut notes = Vec::new();
    for d in &p.devices {
        let (k, note) = cal.class(d.device.backend, d.device.class);
        if let Some(n) = note {
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
        let m = decode_memory(p, d, depth, cal);
        let (dense, experts, kv, kv_reads, kq) = (m.dense, m.experts, m.kv, m.kv_reads, m.kq);
        let mem = m.seconds();
        // Decode is bandwidth-bound everywhere canirun models, but a slow
        // compute unit must still bound it.
        let compute = decode_compute_seconds(d, k);
        // Host loops are the CUDA/HIP backend's; other devices run the op whole.
        let loop_kernels = if cuda_or_hip(d) {
            p.model.host_loop_kernels_per_token * d.layer_fraction
        } else {
            0.0
        };
        let kernels = p.model.kernels_per_token * d.layer_fraction + loop_kernels;
        // A replayed CUDA graph removes the host launch of every kernel; what
        // is left is the GPU's own gap between dependent kernels.
        let launch_s = d
            .device
            .step_kernel_s
            .unwrap_or_else(|| op_sync_seconds(d, k));
        let per_kernel = if d.device.cuda_graphs {
            g.graph_node_s * d.device.kernel_gap_scale()
        } else {
            launch_s
        };
        let launches = per_kernel * kernels;
        let gpu = mem.max(compute);
        // A replayed graph's node gaps are GPU time, in series with the
        // kernels; a CPU runs its ops on the threads that synchronise, also
        // in series. Otherwise the host enqueues launches while the GPU
        // drains the queue: the step costs the p-norm of the two.
        let overlapped = !d.device.cuda_graphs
            && !d.device.serial_launches
            && d.device.class != DeviceClass::Cpu;
        let step = if overlapped {
            let q = g.launch_overlap;
            (gpu.powf(q) + launches.powf(q)).powf(1.0 / q)
        } else {
            gpu + launches
        };
        let overhead = step - gpu;
        total += step;
        if explain {
            let name = &d.device.label;
            let eff = format!(
                "{:.0} GB/s × {:.2} ({}×{} bw_eff){}",
                d.device.bandwidth.as_gbps(),
                k.bw_eff,
                k.backend,
                k.device,
                if d.device.hbm {
                    format!(" × {:.2} (hbm_read_eff: HBM)", g.hbm_read_eff)
                } else {
                    String::new()
                } + &d
                    .device
                    .read_path
                    .as_ref()
                    .map(|(f, why)| format!(
                        " × {f:.2} ({why}; llama_cpp_tensor_paths.toml [[read_path]])"
                    ))
                    .unwrap_or_default()
            );
            if d.dense_bytes.0 > 0 {
                terms.push(SpeedTerm {
                    label: format!("{name}: dense weights"),
                    formula: format!("{} ÷ ({eff})", gb(d.dense_bytes.0 as f64)),
                    seconds: Seconds(dense),
                });
            }
            if d.expert_bytes.0 > 0 {
                terms.push(SpeedTerm {
                    label: format!("{name}: active routed experts"),
                    formula: format!(
                        "{} × {:.4} active ÷ ({eff} × {:.2} expert_read_eff)",
                        gb(d.expert_bytes.0 as f64),
                        d.expert_active_fraction,
                        g.expert_read_eff
                    ),
                    seconds: Seconds(experts),
                });
            }
            if depth > 0 && d.kv_bytes_per_token > 0.0 {
                terms.push(SpeedTerm {
                    label: format!("{name}: KV cache at depth {depth}"),
                    formula: if p.flash_attn {
                        format!(
                            "{:.0} B/token × {depth} × {:.2} kv_read_factor ÷ ({eff}) (flash attention)",
                            d.kv_bytes_per_token, g.kv_read_factor
                        )
                    } else {
                        format!(
                            "{:.0} B/token × {depth} × {:.0} query heads per KV head (flash attention off: one matrix-vector product per head) × {:.2} kv_read_factor ÷ ({eff})",
                            d.kv_bytes_per_token, kv_reads, g.kv_read_factor
                        )
                    },
                    seconds: Seconds(kv),
                });
                if kq > 0.0 {
                    terms.push(SpeedTerm {
                        label: format!("{name}: attention scores at depth {depth} (flash attention off)"),
                        formula: format!(
                            "{:.0} heads × {depth} × {KQ_BYTES_PER_PAIR_HEAD:.0} B (f32 scores written, softmaxed, read) ÷ ({eff})",
                            d.attn_heads
                        ),
                        seconds: Seconds(kq),
                    });
                }
            }
            if compute > mem {
                terms.push(SpeedTerm {
                    label: format!("{name}: compute bound exceeds memory"),
                    formula: if d.device.class == DeviceClass::Cpu {
                        format!(
                            "{:.2e} core cycles (Σ weights × the measured vec_dot cycles of their type, cpu_vec_dot.csv) ÷ {:.1} G core cycles/s (threads × clock) − memory time",
                            d.dot_cycles,
                            d.device.compute.map_or(0.0, |c| core_cycles_per_s(d, c.0) / 1e9)
                        )
                    } else {
                        format!(
                            "2 × {:.2e} params ÷ (peak × {:.2}) − memory time",
                            d.active_params, k.flops_eff
                        )
                    },
                    seconds: Seconds(compute - mem),
                });
            }
            // The reference-clock scaling of a GPU's per-kernel cost, as text.
            let clock = match d.device.clock_ghz {
                Some(c) if d.device.class != DeviceClass::Cpu => format!(
                    " × {REFERENCE_GPU_CLOCK_GHZ} GHz ÷ {c} GHz (its boost clock: a gap of GPU cycles)"
                ),
                _ => String::new(),
            };
            terms.push(if d.device.cuda_graphs {
                SpeedTerm {
                    label: format!("{name}: CUDA graph replay"),
                    formula: format!(
                        "{kernels:.0} graph nodes ({:.2} of the layers) × {:.2} µs (graph_node_s: decode replayed as one CUDA graph, compute capability 8.0+){clock}",
                        d.layer_fraction,
                        g.graph_node_s * 1e6,
                    ),
                    seconds: Seconds(overhead),
                }
            } else {
                SpeedTerm {
                    label: format!(
                        "{name}: kernel launches{}",
                        if overlapped { " (overlapped with GPU work)" } else { "" }
                    ),
                    formula: if overlapped {
                        format!(
                            "(gpu^{q:.2} + launches^{q:.2})^(1/{q:.2}) − gpu, launches = {kernels:.0} kernels{} ({:.2} of the layers) × {:.2} µs ({}×{} kernel_launch_s){clock} = {:.2} ms, {q:.2} launch_overlap",
                            host_loops_text(loop_kernels),
                            d.layer_fraction,
                            k.kernel_launch_s * 1e6,
                            k.backend,
                            k.device,
                            launches * 1e3,
                            q = g.launch_overlap,
                        )
                    } else {
                        format!(
                            "{kernels:.0} kernels{} ({:.2} of the layers) × {:.2} µs ({}), in series",
                            host_loops_text(loop_kernels),
                            d.layer_fraction,
                            launch_s * 1e6,
                            if d.device.step_kernel_s.is_some() {
                                "the engine's per-step stand-in".to_string()
                            } else if d.device.class == DeviceClass::Cpu {
                                format!(
                                    "{} threads × {:.3} µs {}×{} kernel_launch_s: each op's barrier, crossed by every thread",
                                    d.device.cpu.map_or(1, |c| c.threads),
                                    k.kernel_launch_s * 1e6,
                                    k.backend,
                                    k.device
                                )
                            } else {
                                format!(
                                    "{:.2} µs {}×{} kernel_launch_s{clock}",
                                    k.kernel_launch_s * 1e6,
                                    k.backend,
                                    k.device
                                )
                            }
                        )
                    },
                    seconds: Seconds(overhead),
                }
            });
        }
    }
    for l in &p.links {
        let lat = l.latency.map(|s| s.0).unwrap_or(g.hop_latency_s);
        let t = lat + l.bytes_per_token.0 as f64 / l.bandwidth.0.max(1.0);
        total += t;
        if explain {
            terms.push(SpeedTerm {
                label: format!("link {}", l.label),
                formula: format!(
                    "{:.3} ms hop latency + {} B ÷ {}",
                    lat * 1e3,
                    l.bytes_per_token.0,
                    l.bandwidth
                ),
                seconds: Seconds(t),
            });
        }
    }
    (total, terms, notes)
}

/// Decode speed of one token generated at `depth` tokens of context.
pub fn decode(p: &WorkSplit, depth: u64, cal: &Calibration) -> Result<Estimate, SpeedError> {
    check(p)?;
    let (t, terms, notes) = decode_seconds(p, depth, cal, true);
    let r = &cal.residuals;
    Ok(Estimate::new(1, t, terms, notes, (r.tg_p10, r.tg_p90)))
}

/// Generating `n` tokens after `start_depth` tokens of context (what
/// llama-bench's `tgN` measures with `start_depth` = 0). Decode time grows
/// linearly with depth, so the mean is the time at the middle depth.
pub fn generation(
    p: &WorkSplit,
    n: u64,
    start_depth: u64,
    cal: &Calibration,
) -> Result<Estimate, SpeedError> {
    check(p)?;
    if n == 0 {
        return Err(SpeedError::BadInput("generate at least one token".into()));
    }
    let mid = start_depth.saturating_add(n / 2);
    let (t, terms, notes) = decode_seconds(p, mid, cal, true);
    let r = &cal.residuals;
    let mut e = Estimate::new(n, t * n as f64, terms, notes, (r.tg_p10, r.tg_p90));
    e.notes.push(format!(
        "terms are per token at the mean depth {mid}; total = {n} tokens × {:.2} ms",
        t * 1e3
    ));
    Ok(e)
}

/// How much slower than large-batch GEMMs the weight matmuls of a micro-batch
/// of `u` tokens run on `d`: a matmul of b rows runs at b ÷ (b + h) of the
/// large-batch rate (h = `gemm_half_batch`). Dense weights see all `u` rows;
/// each routed expert only u × (experts used ÷ experts), the per-expert batch
/// of llama.cpp's MoE matmul. On CUDA/HIP a matmul of at most
/// [`MMVQ_MAX_ROWS`] rows is the matrix-vector kernel instead, with no tile
/// to fill: priced as decode prices it (factor 1). That holds for dense
/// weights at such small micro-batches, and for routed experts where the
/// build loops `mul_mat_id` over the experts (`vector_experts`, from
/// [`vector_experts`]); MMQ's own
/// `mul_mat_id` tiles the rows of every expert. Returns the factor on the
/// matmul FLOPs (≥ 1 outside the vector kernel), normalised so a 512-row
/// dense batch costs what the fitted `flops_eff` says.
fn batch_penalty(d: &DeviceShare, u: f64, h: f64, vector_experts: bool) -> f64 {
    let slow = |b: f64| (b.max(1.0) + h) / b.max(1.0);
    let reference = slow(512.0);
    let dense_slow = if vector_dense(d, u) {
        reference
    } else {
        slow(u)
    };
    let active_expert = d.expert_bytes.0 as f64 * d.expert_active_fraction;
    let total = d.dense_bytes.0 as f64 + active_expert;
    if total <= 0.0 {
        return 1.0;
    }
    let f_exp = active_expert / total;
    let per_expert = u * d.expert_active_fraction;
    let expert_slow = if vector_experts {
        reference
    } else {
        slow(per_expert)
    };
    ((1.0 - f_exp) * dense_slow + f_exp * expert_slow) / reference
}

/// Whether `d` runs llama.cpp's CUDA/HIP backend, whose quantized matmuls of
/// at most [`MMVQ_MAX_ROWS`] rows are the matrix-vector kernel and whose
/// batched `mul_mat_id` some builds loop over the experts on the host.
fn cuda_or_hip(d: &DeviceShare) -> bool {
    matches!(d.device.backend, Backend::Cuda | Backend::Rocm)
}

/// Whether the dense matmuls of a `u`-token micro-batch on `d` are the
/// matrix-vector kernel (at most [`MMVQ_MAX_ROWS`] rows on CUDA/HIP).
fn vector_dense(d: &DeviceShare, u: f64) -> bool {
    cuda_or_hip(d) && u <= MMVQ_MAX_ROWS
}

/// Whether the routed experts of a `u`-token micro-batch on `d` are
/// multiplied by the matrix-vector kernel: the build loops `mul_mat_id` over
/// the experts at this batch ([`super::ExpertLoop`]) and each expert gets at
/// most [`MMVQ_MAX_ROWS`] rows on average (u × experts used ÷ experts).
fn vector_experts(p: &WorkSplit, d: &DeviceShare, u: f64) -> bool {
    cuda_or_hip(d)
        && p.model.expert_loop.is_some_and(|l| l.loops(u))
        && d.expert_active_fraction > 0.0
        && u * d.expert_active_fraction <= MMVQ_MAX_ROWS
}

/// Token rows at which a matmul on `d` reaches half its large-batch rate.
/// GPUs fill tensor-core tiles of 64–128 rows (the fitted `gemm_half_batch`);
/// a CPU's SIMD dot products run at the same rate for one row as for many
/// (a single row is memory-bound, which the memory term already counts), so
/// it gets [`CPU_GEMM_HALF_BATCH`].
fn gemm_half_batch(d: &DeviceShare, cal: &Calibration) -> f64 {
    if d.device.class == super::DeviceClass::Cpu {
        CPU_GEMM_HALF_BATCH
    } else if d.device.backend == crate::memory::Backend::Metal {
        METAL_GEMM_HALF_BATCH
    } else {
        cal.global.gemm_half_batch
    }
}

/// See [`gemm_half_batch`]: llama.cpp's Metal matmul (`kernel_mul_mm`, also
/// behind `mul_mat_id` for routed experts) tiles the token dimension in
/// blocks of `BLOCK_SIZE_N` = 32 rows (4 simdgroup 8×8 matrices of B, in
/// ggml-metal.metal), a quarter of the 64–128-row tiles the CUDA/ROCm MMQ
/// kernels fill: a 16-row expert batch (512 tokens × 8 of 256 experts)
/// wastes far less of it. Not fitted (the tile size is in the source; the
/// dense Metal rows, all at 512-token batches, do not see it).
const METAL_GEMM_HALF_BATCH: f64 = 32.0;

/// See [`gemm_half_batch`]: ggml's CPU matmuls block 4 rows at a time
/// (its `_R4`/repacked and AMX paths 4–16), so fewer rows than one block
/// leave part of it idle.
const CPU_GEMM_HALF_BATCH: f64 = 4.0;

/// Bytes per weight of the FP16 copy the dequantize + cuBLAS path writes.
const F16_BYTES: f64 = 2.0;

/// Dense weights of at least this many bytes per parameter are FP16/BF16
/// (or wider) and skip the dequantize pass; the largest quantized type,
/// Q8_0, stores 1.0625 bytes per weight.
const UNQUANTIZED_MIN_BYTES_PER_PARAM: f64 = 1.9;

/// Whether the weights on `d` are quantized (the largest quantized type,
/// Q8_0, stores 1.0625 bytes per weight; FP16/BF16 store 2).
fn quantized(d: &DeviceShare, weight_bytes: f64) -> bool {
    d.expert_bytes.0 > 0 || weight_bytes < UNQUANTIZED_MIN_BYTES_PER_PARAM * d.active_params
}

/// The rate the weight matmuls of a `u`-token micro-batch run at on `d`:
/// quantized weights through MMQ at its instruction path's rate
/// ([`DeviceRates::mmq`](super::DeviceRates::mmq)), unless the build
/// dequantizes them to FP16 for the BLAS library at this batch size
/// ([`dequant_f16_seconds`]); unquantized weights at the FP16 rate.
fn matmul_rate(d: &DeviceShare, u: f64, weight_bytes: f64, fp16: f64) -> f64 {
    match &d.device.mmq {
        Some(m)
            if quantized(d, weight_bytes)
                && !d.device.dequant_f16_prefill.is_some_and(|from| u >= from) =>
        {
            m.compute.0
        }
        _ => fp16,
    }
}

/// The dequantize pass of a build that sends this micro-batch to FP16 BLAS
/// ([`DeviceRates::dequant_f16_prefill`](super::DeviceRates::dequant_f16_prefill)):
/// a kernel of its own before each GEMM reads the quantized weights and
/// writes them as FP16: quantized + 2 bytes per weight through memory, not
/// hidden under the matmul. The GEMM's read of that copy is not added: at
/// 33+ token rows a GEMM does 2 × rows FLOPs per 2 bytes it reads, past any
/// GPU's ridge point, so the read hides under its compute. Routed experts
/// are multiplied one expert at a time on such builds (`mul_mat_id`'s host
/// loop), each with its own rows: only experts whose share of the
/// micro-batch (u × experts used ÷ experts) reaches the BLAS size take the
/// pass; the others stay on MMVQ/MMQ. `touched` is the share of the experts
/// held here that the micro-batch reaches. Unquantized (FP16/BF16) dense
/// weights go to the BLAS library as they are.
pub(super) fn dequant_f16_seconds(d: &DeviceShare, u: f64, touched: f64, bw: f64) -> f64 {
    let Some(from) = d.device.dequant_f16_prefill.filter(|&from| u >= from) else {
        return 0.0;
    };
    let dense = d.dense_bytes.0 as f64;
    let expert = d.expert_bytes.0 as f64;
    if !quantized(d, dense + expert * touched) || bw <= 0.0 || d.active_params <= 0.0 {
        return 0.0;
    }
    let blas_experts = if d.expert_active_fraction > 0.0 && u * d.expert_active_fraction >= from {
        expert * touched
    } else {
        0.0
    };
    // Quantized bytes per weight of what one token multiplies here.
    let per_weight = (dense + expert * d.expert_active_fraction) / d.active_params;
    let bytes = dense + blas_experts;
    (bytes + F16_BYTES * bytes / per_weight.max(1e-9)) / bw
}

/// Time of one micro-batch of `u` tokens starting at depth `s` on device `d`.
fn ubatch_seconds(
    p: &WorkSplit,
    d: &DeviceShare,
    u: f64,
    s: f64,
    flash_attn: bool,
    cal: &Calibration,
) -> Result<(f64, f64, f64), SpeedError> {
    let (k, _) = cal.class(d.device.backend, d.device.class);
    let g = &cal.global;
    // Causal attention: token at position p attends to p + 1 keys.
    let pairs = u * s + u * (u + 1.0) / 2.0;
    let mm_flops = 2.0 * d.active_params * u;
    let attn_flops = 2.0 * d.attn_width * pairs;
    // A micro-batch of u tokens touches each expert with probability 1 − (1 − f)^u.
    let touched = if d.expert_active_fraction > 0.0 {
        1.0 - (1.0 - d.expert_active_fraction).powf(u)
    } else {
        0.0
    };
    let weight_bytes = d.dense_bytes.0 as f64 + d.expert_bytes.0 as f64 * touched;
    // Experts multiplied one at a time by the matrix-vector kernel are read
    // as decode reads them: one small matrix per kernel, at
    // `expert_read_eff` of the device's rate.
    let vector = vector_experts(p, d, u);
    let read_weight_bytes = if vector {
        d.dense_bytes.0 as f64 + d.expert_bytes.0 as f64 * touched / g.expert_read_eff
    } else {
        weight_bytes
    };
    let kv_bytes = d.kv_bytes_per_token * (s + u);
    // Without flash attention the score matrix of every head goes through
    // memory in kernels of its own (scores, softmax, weighted sum): their
    // time adds to the matmuls instead of hiding under them.
    let kq_bytes = if flash_attn {
        0.0
    } else {
        d.attn_heads * pairs * KQ_BYTES_PER_PAIR_HEAD
    };
    let bw = d.device.bandwidth.0 * k.bw_eff * read_factor(d, cal);
    let (compute_t, mem_t) = match (d.device.compute, d.streamed_over) {
        // Weights held here but multiplied on an accelerator: the copy is the cost.
        (_, Some(link)) if u >= 32.0 => (0.0, weight_bytes / link.0.max(1.0)),
        (Some(c), _) => (
            (mm_flops * batch_penalty(d, u, gemm_half_batch(d, cal), vector)
                / matmul_rate(d, u, weight_bytes, c.0)
                + g.attn_cost * attn_flops / c.0)
                / k.flops_eff,
            (read_weight_bytes + kv_bytes * g.kv_read_factor) / bw,
        ),
        (None, _) if d.active_params == 0.0 && d.attn_width == 0.0 => (0.0, 0.0),
        (None, _) => return Err(SpeedError::NoCompute(d.device.label.clone())),
    };
    let loop_kernels = match p.model.expert_loop {
        Some(l) if cuda_or_hip(d) => l.kernels(u),
        _ => 0.0,
    };
    let overhead =
        op_sync_seconds(d, k) * (p.model.kernels_per_token + loop_kernels) * d.layer_fraction;
    let kq_t = if compute_t > 0.0 || mem_t > 0.0 {
        kq_bytes / bw
    } else {
        0.0
    };
    let dequant_t = dequant_f16_seconds(d, u, touched, bw);
    Ok((
        compute_t.max(mem_t) + kq_t + dequant_t + overhead,
        compute_t,
        mem_t + kq_t + dequant_t,
    ))
}

/// Processing a prompt of `n` tokens after `start_depth` tokens already in
/// the cache (llama-bench's `ppN` has `start_depth` = 0). The prompt is cut
/// into batches of `n_batch` and micro-batches of `n_ubatch`; with pipeline
/// parallelism a batch of k micro-batches over stages s_j takes
/// Σ_j s_j + (k − 1) × max_j s_j, otherwise k × Σ_j s_j.
pub fn prefill(
    p: &WorkSplit,
    n: u64,
    start_depth: u64,
    cal: &Calibration,
) -> Result<Estimate, SpeedError> {
    check(p)?;
    if n == 0 {
        return Err(SpeedError::BadInput(
            "the prompt needs at least one token".into(),
        ));
    }
    let (total, per_dev, link_t, notes) = prefill_core(p, n, start_depth, cal)?;
    let ub = p.n_ubatch.max(1);
    let nb = p.n_batch.max(ub);
    // The largest micro-batch this prompt makes (a short prompt is one).
    let u_max = n.min(ub);
    let serial: f64 = per_dev.iter().map(|x| x.0).sum::<f64>() + link_t;
    let mut terms: Vec<SpeedTerm> = p
        .devices
        .iter()
        .zip(&per_dev)
        .map(|(d, (t, c, m))| SpeedTerm {
            label: format!("{}: micro-batches", d.device.label),
            formula: format!(
                "Σ max(compute {:.3} s, memory {:.3} s) + kernel launches over ⌈{n}/{ub}⌉ micro-batches; matmuls of b token rows at b/(b + {:.0} gemm_half_batch) of their large-batch rate, routed experts with b = {u_max} × {:.4}{}",
                c,
                m,
                gemm_half_batch(d, cal),
                d.expert_active_fraction,
                if p.flash_attn { "" } else { "; flash attention off: score matrices through memory" },
            ) + &d.device.dequant_f16_prefill.map(|from| format!(
                "; micro-batches of {from:.0}+ tokens dequantize every weight to FP16 first (quantized + 2 bytes per weight through memory, a kernel of its own) for cuBLAS/hipBLAS instead of MMQ"
            )).unwrap_or_default()
              + if vector_dense(d, u_max as f64) {
                "; dense matmuls of ≤ 8 rows through the matrix-vector kernel (MMVQ), no tile to fill"
            } else {
                ""
            } + &d.device.compute_note.as_ref().map(|n| format!("; {n}")).unwrap_or_default()
              + &d.device.mmq.as_ref().map(|m| format!("; {}", m.note)).unwrap_or_default()
                + &d.streamed_over.map(|l| format!("; weights held here go to the GPU at {l} for micro-batches of 32+ tokens (llama.cpp's op offload): the copy is their cost")).unwrap_or_default()
                + &p.model.expert_loop.filter(|l| l.loops(u_max as f64) && cuda_or_hip(d)).map(|l| format!(
                    "; expert_loop: {:.0} launches per {u_max}-token micro-batch ({:.0} MoE layers × experts routed to × {:.0}), {}{}",
                    l.kernels(u_max as f64), l.moe_layers, l.kernels_per_expert, l.why,
                    if vector_experts(p, d, u_max as f64) {
                        format!("; each expert's ≤ {MMVQ_MAX_ROWS:.0} rows through the matrix-vector kernel (MMVQ): no tile to fill, experts read one at a time as in decode (÷ {:.2} expert_read_eff)", cal.global.expert_read_eff)
                    } else {
                        String::new()
                    }
                )).unwrap_or_default(),
            seconds: Seconds(*t),
        })
        .collect();
    if link_t > 0.0 {
        terms.push(SpeedTerm {
            label: "links".into(),
            formula: "hop latency + hidden state × tokens ÷ link bandwidth, per micro-batch".into(),
            seconds: Seconds(link_t),
        });
    }
    if total < serial - 1e-12 {
        terms.push(SpeedTerm {
            label: "pipeline overlap".into(),
            formula: format!(
                "micro-batches of one {nb}-token batch overlap across {} devices",
                p.devices.len()
            ),
            seconds: Seconds(total - serial),
        });
    }
    let r = &cal.residuals;
    Ok(Estimate::new(n, total, terms, notes, (r.pp_p10, r.pp_p90)))
}

/// Per-device (total, compute, memory) seconds of a prefill.
type DevTimes = Vec<(f64, f64, f64)>;

/// Prefill total, per-device times, link time and calibration notes.
fn prefill_core(
    p: &WorkSplit,
    n: u64,
    start_depth: u64,
    cal: &Calibration,
) -> Result<(f64, DevTimes, f64, Vec<String>), SpeedError> {
    let ub = p.n_ubatch.max(1);
    let nb = p.n_batch.max(ub);
    let g = &cal.global;
    let mut total = 0.0;
    let mut per_dev = vec![(0.0f64, 0.0f64, 0.0f64); p.devices.len()];
    let mut link_t = 0.0;
    let mut notes = Vec::new();
    for d in &p.devices {
        if let (_, Some(n)) = cal.class(d.device.backend, d.device.class) {
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
    }
    let mut done = 0u64;
    while done < n {
        let batch = (n - done).min(nb);
        let mut stage_sum_last = 0.0;
        let mut stage_max_sum = 0.0;
        let mut k = 0u64;
        let mut in_batch = 0u64;
        let mut seq = 0.0;
        while in_batch < batch {
            let u = (batch - in_batch).min(ub);
            let s = (start_depth + done + in_batch) as f64;
            let mut sum = 0.0;
            let mut max = 0.0f64;
            for (j, d) in p.devices.iter().enumerate() {
                let (t, c, m) = ubatch_seconds(p, d, u as f64, s, p.flash_attn, cal)?;
                per_dev[j].0 += t;
                per_dev[j].1 += c;
                per_dev[j].2 += m;
                sum += t;
                max = max.max(t);
            }
            for l in &p.links {
                let lat = l.latency.map(|x| x.0).unwrap_or(g.hop_latency_s);
                let t = lat + (l.bytes_per_token.0 * u) as f64 / l.bandwidth.0.max(1.0);
                link_t += t;
                sum += t;
            }
            stage_sum_last = sum;
            stage_max_sum += max;
            seq += sum;
            k += 1;
            in_batch += u;
        }
        total += if p.micro_batches_overlap() && k > 1 {
            // Fill the pipeline once, then one slowest stage per micro-batch.
            let last_max = stage_max_sum / k as f64;
            stage_sum_last + stage_max_sum - last_max
        } else {
            seq
        };
        done += batch;
    }
    Ok((total, per_dev, link_t, notes))
}

/// Seconds of a prefill, without building the terms (used by the fit).
pub(crate) fn prefill_seconds(
    p: &WorkSplit,
    n: u64,
    start_depth: u64,
    cal: &Calibration,
) -> Result<f64, SpeedError> {
    check(p)?;
    Ok(prefill_core(p, n.max(1), start_depth, cal)?.0)
}

/// Seconds of one decoded token at `depth`, without building the terms (used by the fit).
pub(crate) fn decode_token_seconds(
    p: &WorkSplit,
    depth: u64,
    cal: &Calibration,
) -> Result<f64, SpeedError> {
    check(p)?;
    Ok(decode_seconds(p, depth, cal, false).0)
}

/// The part of a decode launch count that a build's host loops add (see
/// [`super::ModelCost::host_loop_kernels_per_token`]), for `--explain`.
fn host_loops_text(loop_kernels: f64) -> String {
    if loop_kernels > 0.0 {
        format!(
            " (incl. {loop_kernels:.0} host_loop_kernels: per-expert mul_mat_id and per-head KQ launches of a build before llama.cpp PR #13014)"
        )
    } else {
        String::new()
    }
}
