//! The fitted efficiency constants (`data/speed_calibration.toml`) and the
//! fit that produces them.
//!
//! The fit is least squares on the log error, ln(predicted / published),
//! over every interpretable row of the calibration set, by coordinate
//! descent: each constant in turn is set to the best value on a geometric
//! grid within physical bounds (efficiencies in (0, 1], latencies ≥ 0),
//! then the grid is refined around it; a few sweeps converge. Log error
//! treats a 2× over- and under-estimate alike, and no constant is per row
//! or per device.

use super::benchmarks::Prepared;
use super::work_split::DeviceClass;
use super::SpeedError;
use crate::memory::Backend;
use crate::units::FlopsPerSecond;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The embedded calibration file.
pub const CALIBRATION_TOML: &str = include_str!("../../data/speed_calibration.toml");

/// Constants shared by every backend and device class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalConstants {
    /// Cost of one attention FLOP relative to a weight-matmul FLOP in
    /// prefill (softmax, masking and the score matrix make attention run
    /// slower than the big matmuls).
    pub attn_cost: f64,
    /// Bytes actually moved per KV byte read at depth, relative to weight
    /// bytes (attention kernels read the cache less efficiently than GEMV).
    pub kv_read_factor: f64,
    /// Achieved fraction of the device's weight-read efficiency when reading
    /// routed experts (small scattered matrices per token).
    pub expert_read_eff: f64,
    /// Fixed latency of one device-to-device hop per token (synchronisation,
    /// launch of the copy), in seconds.
    pub hop_latency_s: f64,
    /// Rows of a matmul batch at which a prefill GEMM reaches half of its
    /// large-batch rate: a matmul of b token rows runs at b ÷ (b + this) of
    /// it. Routed experts see only u × (experts used ÷ experts) rows of a
    /// micro-batch of u tokens, so MoE prefill runs far below dense prefill.
    #[serde(default = "default_gemm_half_batch")]
    pub gemm_half_batch: f64,
    /// Seconds per kernel (graph node) of a decode step replayed as one CUDA
    /// graph: the GPU-side gap between dependent kernels once the host no
    /// longer launches each one (CUDA on compute capability 8.0+ with a
    /// build that reuses the graph; see [`super::DeviceRates::cuda_graphs`]).
    /// Stated at [`super::REFERENCE_GPU_CLOCK_GHZ`]: the gap is GPU cycles,
    /// so a GPU's own is this × reference clock ÷ its boost clock.
    #[serde(default = "default_graph_node_s")]
    pub graph_node_s: f64,
    /// How far host kernel launches overlap GPU work in a decode step that
    /// is not replayed as a graph: the host enqueues kernels asynchronously
    /// while the GPU drains the queue, so a step costs about the larger of
    /// (GPU time, launch time), not their sum. Combined as the p-norm
    /// (gpuᵖ + launchᵖ)^(1/p): p = 1 is no overlap (serial, the sum), large
    /// p a perfect queue (the max); between, the per-token synchronisation
    /// and the mix of short and long kernels that let the GPU run dry.
    #[serde(default = "default_launch_overlap")]
    pub launch_overlap: f64,
    /// Achieved fraction of a device's read efficiency when its memory is
    /// HBM (HBM2, HBM2e, HBM3, HBM3e) rather than GDDR or LPDDR: HBM spreads
    /// a read over many narrow pseudo-channels at lower clocks, and a GEMV
    /// stream reaches a smaller share of its (much larger) peak.
    #[serde(default = "default_hbm_read_eff")]
    pub hbm_read_eff: f64,
}

fn default_hbm_read_eff() -> f64 {
    prior(7)
}

fn default_launch_overlap() -> f64 {
    prior(6)
}

fn default_gemm_half_batch() -> f64 {
    prior(4)
}

fn default_graph_node_s() -> f64 {
    prior(5)
}

/// Number of global constants in the fitted vector.
const GLOBALS: usize = 8;

/// Efficiency constants of one backend on one device class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassConstants {
    /// Backend (`cuda`, `metal`, `rocm`, `vulkan`, `cpu`).
    pub backend: Backend,
    /// Device class (`discrete_gpu`, `apple_unified`, `unified_soc`, `cpu`).
    pub device: DeviceClass,
    /// Achieved fraction of peak memory bandwidth when reading weights in decode.
    pub bw_eff: f64,
    /// Achieved fraction of peak FP16 FLOP/s in prefill matmuls.
    pub flops_eff: f64,
    /// Launch and synchronisation cost of one graph kernel on this class, in
    /// seconds; paid once per kernel per decoded token and per prefill
    /// micro-batch ([`super::ModelCost::kernels_per_token`] kernels). On a
    /// CPU it is per thread: each op's barrier is crossed by every thread;
    /// on a GPU it is stated at [`super::REFERENCE_GPU_CLOCK_GHZ`] and scales
    /// with reference clock ÷ the GPU's boost clock (the GPU's side of each
    /// launch, retiring one grid and filling the next, is cycles).
    pub kernel_launch_s: f64,
    /// Generation rows this class was fitted on.
    #[serde(default)]
    pub rows_tg: usize,
    /// Prompt rows this class was fitted on.
    #[serde(default)]
    pub rows_pp: usize,
}

/// Per-core FP16 rate of an Apple GPU generation (no published matrix rate exists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppleGeneration {
    /// Chip family prefix, e.g. `M2`.
    pub chip: String,
    /// FP16 TFLOP/s per GPU core.
    pub tflops_per_core: f64,
    /// Where the figure comes from.
    pub source: String,
}

/// Residual quantiles of ln(published / predicted) on the calibration set,
/// used to turn a point estimate into a range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Residuals {
    /// 10th percentile for generation rows.
    pub tg_p10: f64,
    /// 90th percentile for generation rows.
    pub tg_p90: f64,
    /// 10th percentile for prompt rows.
    pub pp_p10: f64,
    /// 90th percentile for prompt rows.
    pub pp_p90: f64,
}

/// Provenance of the fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FitMeta {
    /// The data the constants were fitted on.
    pub fitted_on: String,
    /// The command that reproduces the fit.
    pub command: String,
    /// How it was fitted.
    pub method: String,
    /// Validation summary line for generation rows.
    pub tg_summary: String,
    /// Validation summary line for prompt rows.
    pub pp_summary: String,
}

/// Everything the speed model takes from data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Provenance.
    pub meta: FitMeta,
    /// Shared constants.
    pub global: GlobalConstants,
    /// Range quantiles.
    pub residuals: Residuals,
    /// Per backend × device class constants.
    #[serde(rename = "class")]
    pub classes: Vec<ClassConstants>,
    /// Apple GPU per-core rates.
    #[serde(default)]
    pub apple: Vec<AppleGeneration>,
}

static EMBEDDED: OnceLock<Result<Calibration, SpeedError>> = OnceLock::new();

impl Calibration {
    /// The calibration embedded in the binary.
    pub fn embedded() -> Result<&'static Calibration, SpeedError> {
        EMBEDDED
            .get_or_init(|| Calibration::from_toml(CALIBRATION_TOML))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parse a calibration file.
    pub fn from_toml(text: &str) -> Result<Calibration, SpeedError> {
        let c: Calibration =
            toml::from_str(text).map_err(|e| SpeedError::Calibration(e.to_string()))?;
        if c.classes.is_empty() {
            return Err(SpeedError::Calibration("no [[class]] entries".into()));
        }
        for k in &c.classes {
            let ok = |x: f64| x.is_finite() && x > 0.0 && x <= 1.5;
            if !ok(k.bw_eff)
                || !ok(k.flops_eff)
                || k.kernel_launch_s.is_nan()
                || k.kernel_launch_s < 0.0
            {
                return Err(SpeedError::Calibration(format!(
                    "{}×{}: efficiencies must be in (0, 1.5] and overheads ≥ 0",
                    k.backend, k.device
                )));
            }
        }
        Ok(c)
    }

    /// Constants for a backend on a device class, with the fallback used
    /// and why: exact match, else the same backend on any class, else the
    /// same class on any backend, else the first entry (CUDA discrete GPU).
    pub fn class(
        &self,
        backend: Backend,
        device: DeviceClass,
    ) -> (&ClassConstants, Option<String>) {
        if let Some(k) = self
            .classes
            .iter()
            .find(|k| k.backend == backend && k.device == device)
        {
            return (k, None);
        }
        let pick = self
            .classes
            .iter()
            .find(|k| k.backend == backend)
            .or_else(|| self.classes.iter().find(|k| k.device == device))
            .unwrap_or(&self.classes[0]);
        let note = format!(
            "no calibration for {backend} on {device}; using {}×{}",
            pick.backend, pick.device
        );
        (pick, Some(note))
    }

    /// FP16 rate of an Apple GPU named `name` with `cores` GPU cores.
    pub fn apple_compute(&self, name: &str, cores: Option<u32>) -> Option<FlopsPerSecond> {
        let cores = f64::from(cores?);
        let words: Vec<String> = name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(|w| w.to_ascii_uppercase())
            .collect();
        let g = self.apple.iter().find(|g| words.contains(&g.chip))?;
        Some(FlopsPerSecond::tflops(g.tflops_per_core * cores))
    }

    /// Round every constant to the precision [`to_toml`] writes, so the
    /// summaries stored with the file are exactly what the file gives.
    pub fn round_for_toml(&mut self) {
        let r4 = |x: &mut f64| *x = (*x * 1e4).round() / 1e4;
        let r6 = |x: &mut f64| *x = (*x * 1e6).round() / 1e6;
        r4(&mut self.global.attn_cost);
        r4(&mut self.global.kv_read_factor);
        r4(&mut self.global.expert_read_eff);
        r6(&mut self.global.hop_latency_s);
        r4(&mut self.global.gemm_half_batch);
        self.global.graph_node_s = (self.global.graph_node_s * 1e9).round() / 1e9;
        r4(&mut self.global.launch_overlap);
        r4(&mut self.global.hbm_read_eff);
        r4(&mut self.residuals.tg_p10);
        r4(&mut self.residuals.tg_p90);
        r4(&mut self.residuals.pp_p10);
        r4(&mut self.residuals.pp_p90);
        for k in &mut self.classes {
            r4(&mut k.bw_eff);
            r4(&mut k.flops_eff);
            // Microsecond-scale: keep three significant digits of it.
            k.kernel_launch_s = (k.kernel_launch_s * 1e9).round() / 1e9;
        }
    }

    /// The fitted constants as a flat vector (see [`Self::set_param`]).
    fn n_params(&self) -> usize {
        GLOBALS + 3 * self.classes.len()
    }

    fn param(&self, i: usize) -> f64 {
        match i {
            0 => self.global.attn_cost,
            1 => self.global.kv_read_factor,
            2 => self.global.expert_read_eff,
            3 => self.global.hop_latency_s,
            4 => self.global.gemm_half_batch,
            5 => self.global.graph_node_s,
            6 => self.global.launch_overlap,
            7 => self.global.hbm_read_eff,
            _ => {
                let k = &self.classes[(i - GLOBALS) / 3];
                match (i - GLOBALS) % 3 {
                    0 => k.bw_eff,
                    1 => k.flops_eff,
                    _ => k.kernel_launch_s,
                }
            }
        }
    }

    fn set_param(&mut self, i: usize, v: f64) {
        match i {
            0 => self.global.attn_cost = v,
            1 => self.global.kv_read_factor = v,
            2 => self.global.expert_read_eff = v,
            3 => self.global.hop_latency_s = v,
            4 => self.global.gemm_half_batch = v,
            5 => self.global.graph_node_s = v,
            6 => self.global.launch_overlap = v,
            7 => self.global.hbm_read_eff = v,
            _ => {
                let k = &mut self.classes[(i - GLOBALS) / 3];
                match (i - GLOBALS) % 3 {
                    0 => k.bw_eff = v,
                    1 => k.flops_eff = v,
                    _ => k.kernel_launch_s = v,
                }
            }
        }
    }

    /// Physical bounds of parameter `i`.
    fn bounds(&self, i: usize) -> (f64, f64) {
        match i {
            0 => (0.5, 20.0),
            1 => (0.5, 8.0),
            2 => (0.1, 1.0),
            3 => (1e-6, 5e-3),
            // From one row (a GEMV-like kernel) to a batch of 1024.
            4 => (1.0, 1024.0),
            // A replayed graph still waits for each kernel to drain and the
            // next to fill the GPU: from ~0.1 µs a node to the ~10 µs of
            // a host launch it replaces.
            5 => (1e-7, 1e-5),
            // From no overlap at all (1: launches and GPU work in series)
            // to a near-perfect queue (16: within a few % of the max).
            6 => (1.0, 16.0),
            // From half the efficiency of GDDR to the same.
            7 => (0.5, 1.0),
            // No DRAM sustains more than ~95% of its theoretical peak.
            _ => match (i - GLOBALS) % 3 {
                0 => (0.1, 0.95),
                1 => (0.02, 1.0),
                // A CPU's is per thread (`DeviceRates::threads`): one
                // handoff of the barrier's cache line, from a shared-L3 hit
                // (~10 ns) to a cross-socket transfer with a wake-up (~1 µs).
                _ if self.is_cpu_class(i) => (1e-8, 1e-6),
                // From a CUDA-graph replay (~0.1 µs a node) to an
                // unbatched launch with a host synchronisation (~50 µs).
                _ => (1e-7, 5e-5),
            },
        }
    }

    /// Whether parameter `i` is a constant of the CPU class.
    fn is_cpu_class(&self, i: usize) -> bool {
        i >= GLOBALS
            && self
                .classes
                .get((i - GLOBALS) / 3)
                .is_some_and(|k| k.device == DeviceClass::Cpu)
    }

    /// Starting value of parameter `i`: [`prior`], except the CPU's
    /// per-thread op synchronisation (~100 ns, a few cache-line handoffs).
    fn prior_of(&self, i: usize) -> f64 {
        if self.is_cpu_class(i) && (i - GLOBALS) % 3 == 2 {
            1e-7
        } else {
            prior(i)
        }
    }

    fn param_name(&self, i: usize) -> String {
        match i {
            0 => "global.attn_cost".into(),
            1 => "global.kv_read_factor".into(),
            2 => "global.expert_read_eff".into(),
            3 => "global.hop_latency_s".into(),
            4 => "global.gemm_half_batch".into(),
            5 => "global.graph_node_s".into(),
            6 => "global.launch_overlap".into(),
            7 => "global.hbm_read_eff".into(),
            _ => {
                let k = &self.classes[(i - GLOBALS) / 3];
                let p = ["bw_eff", "flops_eff", "kernel_launch_s"][(i - GLOBALS) % 3];
                format!("{}×{}.{p}", k.backend, k.device)
            }
        }
    }
}

/// What the fit did.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    /// The fitted calibration (residual quantiles recomputed).
    pub calibration: Calibration,
    /// Mean squared log error before and after.
    pub loss_before: f64,
    /// Mean squared log error after the fit.
    pub loss_after: f64,
    /// Constants left at their prior value because fewer than [`MIN_ROWS`] rows inform them.
    pub unfitted: Vec<String>,
}

/// Mean squared log error of `cal` over `rows`, skipping rows it cannot predict.
fn loss(rows: &[Prepared], cal: &Calibration) -> f64 {
    let mut s = 0.0;
    let mut n = 0usize;
    for r in rows {
        if let Ok(p) = r.predict(cal) {
            if p > 0.0 && p.is_finite() {
                let e = (p / r.published).ln();
                s += e * e;
                n += 1;
            }
        }
    }
    if n == 0 {
        f64::INFINITY
    } else {
        s / n as f64
    }
}

/// Rows whose prediction parameter `i` of `cal` influences.
fn informs(rows: &[Prepared], cal: &Calibration, i: usize) -> usize {
    let base: Vec<f64> = rows.iter().map(|r| r.predict(cal).unwrap_or(0.0)).collect();
    let mut probe = cal.clone();
    let (lo, hi) = cal.bounds(i);
    probe.set_param(
        i,
        if cal.param(i) * 1.5 <= hi {
            cal.param(i) * 1.5
        } else {
            lo
        },
    );
    rows.iter()
        .zip(&base)
        .filter(|(r, b)| (r.predict(&probe).unwrap_or(0.0) - **b).abs() > 1e-9 * b.abs().max(1.0))
        .count()
}

/// Prior value of parameter `i`: the starting point of the fit and the
/// value of a constant too few rows inform (typical achieved fractions).
fn prior(i: usize) -> f64 {
    match i {
        0 => 2.0,
        1 => 1.0,
        2 => 0.7,
        3 => 2e-4,
        4 => 32.0,
        5 => 1e-6,
        // Start from the serial sum, the model without overlap.
        6 => 1.0,
        // Start from no difference between memory types.
        7 => 1.0,
        _ => [0.7, 0.3, 3e-6][(i - GLOBALS) % 3],
    }
}

/// Fewest rows that must inform a constant before it is fitted.
pub const MIN_ROWS: usize = 4;

/// Fit the constants of `start` on `rows` (coordinate descent, see the module docs).
pub fn fit(rows: &[Prepared], start: &Calibration) -> FitReport {
    // Always start from the same priors, so the fit is reproducible whatever
    // the current file holds.
    let mut cal = start.clone();
    for i in 0..cal.n_params() {
        cal.set_param(i, cal.prior_of(i));
    }
    let before = loss(rows, &cal);
    // A constant informed by fewer than MIN_ROWS rows would be a per-row
    // fit in disguise: it keeps its prior value.
    let active: Vec<usize> = (0..cal.n_params())
        .filter(|&i| informs(rows, &cal, i) >= MIN_ROWS)
        .collect();
    let unfitted = (0..cal.n_params())
        .filter(|i| !active.contains(i))
        .map(|i| cal.param_name(i))
        .collect();
    let mut best = before;
    for _sweep in 0..20 {
        let prev = best;
        for &i in &active {
            let (lo, hi) = cal.bounds(i);
            // Coarse geometric grid over the bounds, then two refinements.
            let mut a = lo;
            let mut b = hi;
            for _level in 0..3 {
                let n = 24;
                let ratio = (b / a).powf(1.0 / n as f64);
                let mut arg = cal.param(i);
                for k in 0..=n {
                    let v = a * ratio.powi(k);
                    let mut trial = cal.clone();
                    trial.set_param(i, v);
                    let l = loss(rows, &trial);
                    if l < best {
                        best = l;
                        arg = v;
                    }
                }
                cal.set_param(i, arg);
                a = (arg / ratio.powi(2)).max(lo);
                b = (arg * ratio.powi(2)).min(hi);
            }
        }
        if prev - best < 1e-6 {
            break;
        }
    }
    // Residual quantiles for the ranges, and the per-class row counts.
    let mut tg = Vec::new();
    let mut pp = Vec::new();
    for k in cal.classes.iter_mut() {
        k.rows_tg = 0;
        k.rows_pp = 0;
    }
    let snapshot = cal.clone();
    for r in rows {
        if let Ok(p) = r.predict(&snapshot) {
            let e = (r.published / p).ln();
            if r.is_generation() {
                tg.push(e);
            } else {
                pp.push(e);
            }
            if let Some(k) = cal
                .classes
                .iter_mut()
                .find(|k| k.backend == r.backend() && k.device == r.device_class())
            {
                if r.is_generation() {
                    k.rows_tg += 1;
                } else {
                    k.rows_pp += 1;
                }
            }
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        let idx = ((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1);
        v[idx]
    };
    cal.residuals = super::calibration::Residuals {
        tg_p10: q(&mut tg, 0.1),
        tg_p90: q(&mut tg, 0.9),
        pp_p10: q(&mut pp, 0.1),
        pp_p90: q(&mut pp, 0.9),
    };
    FitReport {
        calibration: cal,
        loss_before: before,
        loss_after: best,
        unfitted,
    }
}

/// [`MIN_ROWS`], for callers that print the method.
pub fn calibration_min_rows() -> usize {
    MIN_ROWS
}

/// Write `cal` as the commented `speed_calibration.toml`: every constant
/// with its meaning, the data, the command and the resulting error.
pub fn to_toml(cal: &Calibration, unfitted: &[String]) -> String {
    use std::fmt::Write;
    let m = &cal.meta;
    let g = &cal.global;
    let r = &cal.residuals;
    let mut s = String::new();
    let q = |x: &str| format!("{x:?}");
    let _ = writeln!(
        s,
        "# canirun speed calibration: efficiency constants of the roofline speed model
# (crates/core/src/speed). Every constant belongs to a backend × device class or
# is global; none is per row or per device. GENERATED by the command in
# [meta].command; do not edit by hand, re-run the fit.
#
# Resulting error on the calibration set:
#   generation rows: {}
#   prompt rows:     {}
",
        m.tg_summary, m.pp_summary
    );
    let _ = writeln!(s, "[meta]");
    let _ = writeln!(s, "fitted_on = {}", q(&m.fitted_on));
    let _ = writeln!(s, "command = {}", q(&m.command));
    let _ = writeln!(s, "method = {}", q(&m.method));
    let _ = writeln!(s, "tg_summary = {}", q(&m.tg_summary));
    let _ = writeln!(s, "pp_summary = {}", q(&m.pp_summary));
    if !unfitted.is_empty() {
        let _ = writeln!(
            s,
            "# kept at their prior (too few informing rows): {}",
            unfitted.join(", ")
        );
    }
    let ref_ghz = super::REFERENCE_GPU_CLOCK_GHZ;
    let _ = writeln!(
        s,
        "
[global]
# Cost of an attention FLOP relative to a weight-matmul FLOP in prefill
# (softmax, masking, the score matrix): why pp8192 is slower than pp512.
attn_cost = {:.4}
# Effective bytes moved per KV-cache byte read in decode, relative to weights:
# why tg slows down with depth more than the raw KV bytes imply.
kv_read_factor = {:.4}
# Weight-read efficiency of routed experts relative to dense weights
# (small, scattered expert matrices per token; fitted on the MoE rows).
expert_read_eff = {:.4}
# Fixed latency of one device-to-device hop per token or micro-batch, seconds.
hop_latency_s = {:.6}
# Token rows at which a prefill matmul reaches half its large-batch rate
# on a GPU (b rows run at b / (b + this)); routed experts get u x used/total
# rows. CPUs use a fixed 4 rows (SIMD dot products, 4-row blocks; not fitted),
# Metal a fixed 32 (kernel_mul_mm's token tile; not fitted).
gemm_half_batch = {:.4}
# Seconds per kernel of a decode step replayed as one CUDA graph (CUDA on
# compute capability 8.0+, builds that reuse the graph): replaces the class's
# kernel_launch_s there (llama_cpp_tensor_paths.toml [cuda_graphs]). Stated
# at a {ref_ghz} GHz GPU clock: a GPU's own is this x {ref_ghz} GHz / its boost clock
# (hardware.csv boost_clock_mhz; none known: as stated).
graph_node_s = {:.9}
# Overlap of host kernel launches with GPU work in a decode step that is not
# a replayed graph: step = (gpu^p + launches^p)^(1/p); 1 = serial, 16 = the max.
launch_overlap = {:.4}
# Read efficiency of HBM relative to GDDR/LPDDR at the same bw_eff (decode
# and prefill weight reads of devices whose catalog memory type is HBM*).
hbm_read_eff = {:.4}

[residuals]
# Quantiles of ln(published / predicted) after the fit: the range reported
# with every estimate is point × exp(p10) … point × exp(p90).
tg_p10 = {:.4}
tg_p90 = {:.4}
pp_p10 = {:.4}
pp_p90 = {:.4}",
        g.attn_cost,
        g.kv_read_factor,
        g.expert_read_eff,
        g.hop_latency_s,
        g.gemm_half_batch,
        g.graph_node_s,
        g.launch_overlap,
        g.hbm_read_eff,
        r.tg_p10,
        r.tg_p90,
        r.pp_p10,
        r.pp_p90
    );
    for k in &cal.classes {
        let _ = writeln!(
            s,
            "
# {} on {}: bw_eff = achieved fraction of peak memory bandwidth reading
# weights in decode; flops_eff = achieved fraction of peak FP16 FLOP/s in
# prefill; kernel_launch_s = seconds of launch and synchronisation per graph
# kernel, paid per token (and per micro-batch) for every kernel of the layers
# on the device (about 20 a dense layer, 50 a DeepSeek MoE layer); on a GPU
# stated at a {ref_ghz} GHz clock and scaled by {ref_ghz} GHz / its boost clock where the
# catalog has one; on a CPU per thread.
[[class]]
backend = {}
device = {}
bw_eff = {:.4}
flops_eff = {:.4}
kernel_launch_s = {:.9}
rows_tg = {}
rows_pp = {}",
            k.backend,
            k.device,
            q(k.backend.as_str()),
            q(k.device.as_str()),
            k.bw_eff,
            k.flops_eff,
            k.kernel_launch_s,
            k.rows_tg,
            k.rows_pp
        );
    }
    let _ = writeln!(
        s,
        "
# Apple GPUs: no published matrix rate, so FP16 FLOP/s = GPU cores × the
# per-core rate of the generation (not fitted; flops_eff absorbs the rest)."
    );
    for a in &cal.apple {
        let _ = writeln!(
            s,
            "[[apple]]\nchip = {}\ntflops_per_core = {}\nsource = {}\n",
            q(&a.chip),
            a.tflops_per_core,
            q(&a.source)
        );
    }
    s
}
