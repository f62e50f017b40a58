//! Speed: how many tokens per second a placement of a model runs at.
//!
//! The model is a roofline with explicit terms, so `--explain` can show
//! every one of them:
//!
//! * **decode** (one token): Σ over devices of the bytes read there ÷ the
//!   effective bandwidth (dense weights, the active share of the routed
//!   experts, the KV rows up to the current depth) + cross-device transfers
//!   + kernel launches: the model's graph kernels on the device × a per-kernel
//!     launch and synchronisation cost (grows with layers and ops);
//! * **prefill** (a prompt): per micro-batch, the larger of FLOPs ÷ effective
//!   compute and bytes ÷ effective bandwidth on each device, with attention
//!   FLOPs growing with the context; layer-split GPUs pipeline the
//!   micro-batches of one batch the way llama.cpp does.
//!
//! The efficiency factors (achieved fraction of peak bandwidth, of peak
//! FLOP/s, a per-token latency) belong to a backend × device class, never to
//! a device, and are fitted on `data/benchmarks.csv`; they live in
//! `data/speed_calibration.toml` with their meaning and the fit's error.
//! A device without any benchmark gets exactly the same treatment as one
//! with many.
//!
//! [`WorkSplit`] is what the placement code (`-ngl`, `--tensor-split`,
//! `-ot exps=CPU`) produces; [`WorkSplit::single_device`] and
//! [`WorkSplit::layer_split`] cover the common cases.

pub mod benchmarks;
pub mod bridge;
mod calibration;
pub mod cpu_host;
mod derived;
pub mod local;
mod roofline;
pub mod speculative;
pub mod threads;
pub mod vec_dot;
mod work_split;

pub use calibration::{
    calibration_min_rows, fit, to_toml, AppleGeneration, Calibration, ClassConstants, FitMeta,
    FitReport, GlobalConstants, Residuals, CALIBRATION_TOML,
};
pub use derived::{
    answer_time, AnswerTime, R1_ANSWER_TOKENS, R1_THINKING_TOKENS, R1_THINKING_TOKENS_SOURCE,
};
pub use roofline::{decode, generation, prefill, Estimate, SpeedTerm};
pub(crate) use roofline::{decode_compute_seconds, decode_memory};
pub use work_split::{
    CpuUnit, DeviceClass, DeviceRates, DeviceShare, ExpertLoop, Link, MmqRate, ModelCost,
    WorkSplit, DEFAULT_LINK_GBS, REFERENCE_GPU_CLOCK_GHZ, REFERENCE_INT8_PER_STATED,
};

use crate::hardware::DeviceKind;
use crate::memory::Backend;

/// Why a speed could not be estimated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpeedError {
    /// The placement has no device.
    #[error("the placement has no device to run on")]
    NoDevices,
    /// A device has no bandwidth figure.
    #[error("{0}: no memory bandwidth figure in the catalog, so no speed estimate")]
    NoBandwidth(String),
    /// Prefill needs a compute rate the catalog does not have.
    #[error("the catalog has no FP16/BF16 compute figure for {0}; decode is bandwidth-bound and still estimated")]
    NoCompute(String),
    /// The calibration data does not parse.
    #[error("speed calibration: {0}")]
    Calibration(String),
    /// An input out of range (zero tokens, zero devices, …).
    #[error("{0}")]
    BadInput(String),
}

/// The device class of a catalog kind.
pub fn device_class(kind: DeviceKind) -> DeviceClass {
    match kind {
        DeviceKind::Gpu => DeviceClass::DiscreteGpu,
        DeviceKind::AppleSoc => DeviceClass::AppleUnified,
        DeviceKind::UnifiedSoc => DeviceClass::UnifiedSoc,
        DeviceKind::CpuPlatform => DeviceClass::Cpu,
    }
}

/// The llama.cpp backend a device normally runs: CUDA on NVIDIA, ROCm on
/// AMD GPUs, Metal on Apple, Vulkan on Intel GPUs, the CPU backend on CPUs.
pub fn default_backend(d: &crate::hardware::Device) -> Backend {
    let v = d.vendor.to_ascii_lowercase();
    match d.kind {
        DeviceKind::CpuPlatform => Backend::Cpu,
        DeviceKind::AppleSoc => Backend::Metal,
        _ if v.contains("nvidia") => Backend::Cuda,
        _ if v.contains("amd") => Backend::Rocm,
        _ if v.contains("apple") => Backend::Metal,
        _ if v.contains("intel") => Backend::Vulkan,
        DeviceKind::UnifiedSoc => Backend::Cuda,
        DeviceKind::Gpu => Backend::Vulkan,
    }
}

#[cfg(test)]
mod tests;
