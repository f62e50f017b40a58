//! Hardware: the devices canirun knows, and how people name them.
//!
//! The catalog (`data/hardware.csv`) is embedded in the binary. Every value
//! in it carries a source; a value the sources do not give is `None`, never a
//! guess. [`resolve`] turns what users type (`4090`, `2x4090`,
//! `m3-ultra-512`, "NVIDIA GeForce RTX 4090 24GB") into catalog devices.

mod catalog;
mod resolve;
mod target;

pub use catalog::{cpu_compute_for, Catalog, CatalogError, CPU_PLATFORMS_CSV, HARDWARE_CSV};
pub use resolve::{resolve, resolve_set, ResolveError, Resolved};
pub use target::{Origin, Target, TargetError};

use crate::units::{Bytes, BytesPerSecond, FlopsPerSecond, Watts};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of memory system a device is, which decides how it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A discrete accelerator with its own memory (VRAM / HBM).
    Gpu,
    /// An Apple Silicon SoC: CPU and GPU share one unified memory.
    AppleSoc,
    /// A non-Apple unified-memory SoC (DGX Spark, Strix Halo, Jetson).
    UnifiedSoc,
    /// A CPU and its system memory (channels × transfer rate).
    CpuPlatform,
}

impl DeviceKind {
    /// Short lower-case label, as in the catalog's `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Gpu => "gpu",
            DeviceKind::AppleSoc => "apple_soc",
            DeviceKind::UnifiedSoc => "unified_soc",
            DeviceKind::CpuPlatform => "cpu_platform",
        }
    }

    /// Whether the amount of memory is chosen when the machine is bought
    /// (Macs, CPU platforms) rather than fixed by the device.
    pub fn memory_is_configurable(self) -> bool {
        matches!(self, DeviceKind::AppleSoc | DeviceKind::CpuPlatform)
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a device talks to the host and to its peers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interconnect {
    /// Host bus as the source writes it, e.g. `PCIe 4.0 x16` or `SXM5`.
    pub bus: Option<String>,
    /// PCIe generation (3, 4, 5), when the device sits on PCIe.
    pub pcie_gen: Option<u8>,
    /// PCIe lanes (8, 16).
    pub pcie_lanes: Option<u8>,
    /// NVLink / Infinity Fabric bandwidth per device, when a source gives it.
    pub nvlink: Option<BytesPerSecond>,
    /// Peer link as the source describes it (may say "unconfirmed").
    pub fabric: Option<String>,
}

impl Interconnect {
    /// PCIe bandwidth per direction: lanes × per-lane rate of the generation
    /// (PCI-SIG: 3.0 = 8 GT/s 128b/130b ≈ 0.985 GB/s per lane, each later
    /// generation doubles it).
    pub fn pcie_bandwidth(&self) -> Option<BytesPerSecond> {
        let per_lane_gbs = match self.pcie_gen? {
            3 => 0.985,
            4 => 1.969,
            5 => 3.938,
            6 => 7.563,
            _ => return None,
        };
        Some(BytesPerSecond::gbps(
            per_lane_gbs * f64::from(self.pcie_lanes?),
        ))
    }
}

/// A CPU memory system: sockets × channels × MT/s × 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryPlatform {
    /// Memory channels per socket (64-bit each).
    pub channels: u32,
    /// Transfer rate in mega-transfers per second (DDR5-4800 → 4800).
    pub mts: u32,
    /// Sockets counted in the total.
    pub sockets: u32,
}

impl MemoryPlatform {
    /// Theoretical peak bandwidth; sustained bandwidth is typically lower.
    pub fn peak_bandwidth(&self) -> BytesPerSecond {
        BytesPerSecond(
            f64::from(self.sockets) * f64::from(self.channels) * f64::from(self.mts) * 1e6 * 8.0,
        )
    }
}

/// What a CPU computes with: cores × FLOP per core per cycle × clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuCompute {
    /// Physical cores (per socket).
    pub cores: u32,
    /// All-core clock used for the figure, GHz (the base clock, else the boost).
    pub clock_ghz: f64,
    /// The SIMD unit counted (`data/cpu_simd.csv`).
    pub unit: String,
    /// FP32 FLOP per core per cycle of that unit.
    pub flops_per_cycle: f64,
    /// Where the FLOP/cycle figure comes from.
    pub source: String,
    /// Int8 operations per core per cycle of llama.cpp's quantized dot
    /// products on this unit (256-bit intrinsics; VNNI/SDOT or AVX2's
    /// maddubs + madd pair; `data/cpu_simd.csv`).
    pub int8_ops_per_cycle: f64,
    /// Cycles of ggml-cpu's batch-1 dot products on this unit per cycle of
    /// the AVX2 unit `data/cpu_vec_dot.csv` was measured on (`cpu_simd.csv`;
    /// 1 unless the unit issues fewer SIMD bits per cycle).
    #[serde(default = "one")]
    pub vec_dot_cycle_factor: f64,
}

fn one() -> f64 {
    1.0
}

impl CpuCompute {
    /// Peak FP32 vector rate of one socket: cores × FLOP/cycle × clock.
    pub fn peak(&self) -> FlopsPerSecond {
        FlopsPerSecond(f64::from(self.cores) * self.flops_per_cycle * self.clock_ghz * 1e9)
    }

    /// Peak int8 rate of one socket for llama.cpp's quantized matmuls:
    /// cores × [`Self::int8_ops_per_cycle`] × clock (the FP32 rate when
    /// the unit has no int8 figure).
    pub fn int8_peak(&self) -> FlopsPerSecond {
        let per_cycle = if self.int8_ops_per_cycle > 0.0 {
            self.int8_ops_per_cycle
        } else {
            self.flops_per_cycle
        };
        FlopsPerSecond(f64::from(self.cores) * per_cycle * self.clock_ghz * 1e9)
    }

    /// How the figure is computed, numbers filled in.
    pub fn basis(&self) -> String {
        format!(
            "{} cores × {} FLOP/cycle ({}) × {} GHz = {:.2} TFLOP/s",
            self.cores,
            self.flops_per_cycle,
            self.unit,
            self.clock_ghz,
            self.peak().0 / 1e12
        )
    }
}

/// Id of the catalog's assumed typical dual-channel DDR5 desktop
/// (`data/cpu_platforms.csv`, last row).
pub const TYPICAL_DESKTOP_CPU_ID: &str = "typical-desktop-ddr5";

/// The platform to assume when only `--ram` is given and no CPU is named or
/// detected: a typical dual-channel DDR5 desktop (8 cores, AVX2, DDR5-5600;
/// the row's sources say why). The caller decides when to assume it and
/// should say so.
pub fn typical_desktop_cpu(cat: &Catalog) -> Option<&Device> {
    cat.get(TYPICAL_DESKTOP_CPU_ID)
}

/// Where each group of values of a device came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sources {
    /// Sources of the row: memory, bandwidth, FP16, TDP, price.
    pub row: String,
    /// Source of the BF16 / FP8 rates, when they are present.
    pub flops: Option<String>,
    /// Source of the PCIe / NVLink figures.
    pub interconnect: Option<String>,
    /// Source of the channel / transfer-rate figures of a CPU platform.
    pub platform: Option<String>,
    /// Source of a GPU's boost clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

/// One device of the catalog, or a configured instance of one.
///
/// A value the sources do not give is `None`. Memory sizes printed on spec
/// sheets as "GB" are binary for GPU and unified memory (a "24GB" card has
/// 24 GiB, as the driver reports it), so they are stored as GiB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Stable identifier, e.g. `rtx-4090-24gb`.
    pub id: String,
    /// Full name as the source writes it.
    pub name: String,
    /// Vendor (NVIDIA, AMD, Intel, Apple, or `CPU platform`).
    pub vendor: String,
    /// Kind of memory system.
    pub kind: DeviceKind,
    /// Source category (consumer GPU, datacenter GPU, ...).
    pub category: String,
    /// Architecture (Ampere, Ada, ...), when known.
    pub architecture: Option<String>,
    /// Memory of this device; `None` when it depends on the configuration
    /// (a Mac chip before its memory is chosen, a CPU platform) or is unknown.
    pub memory: Option<Bytes>,
    /// Largest memory the device can be configured with (Apple chips).
    pub memory_max: Option<Bytes>,
    /// Memory technology (GDDR6X, HBM3, LPDDR5, ...).
    pub memory_type: Option<String>,
    /// Memory bandwidth (theoretical peak from the spec sheet).
    pub bandwidth: Option<BytesPerSecond>,
    /// Dense FP16 tensor rate; see `fp16_basis` for what the figure means.
    pub fp16: Option<FlopsPerSecond>,
    /// What the FP16 figure means (accumulate precision, derived or published).
    pub fp16_basis: Option<String>,
    /// Dense BF16 tensor rate.
    pub bf16: Option<FlopsPerSecond>,
    /// Dense FP8 tensor rate.
    pub fp8: Option<FlopsPerSecond>,
    /// Board power (TDP / TBP).
    pub tdp: Option<Watts>,
    /// Launch price in US dollars (see `price_note` for its quality).
    pub price_usd: Option<f64>,
    /// The price cell as the source writes it ("~33600 (analyst estimate)").
    pub price_note: Option<String>,
    /// Host bus and peer links.
    pub interconnect: Interconnect,
    /// Channels and transfer rate of a CPU memory platform.
    pub platform: Option<MemoryPlatform>,
    /// GPU cores of an Apple chip.
    pub gpu_cores: Option<u32>,
    /// A GPU's boost clock in GHz (`boost_clock_mhz` of the catalog, with
    /// its `clock_source`): the speed model prices the GPU's own gap between
    /// dependent kernels in its cycles.
    pub boost_clock_ghz: Option<f64>,
    /// CPU cores, when the name gives them (Apple configurations).
    pub cpu_cores: Option<u32>,
    /// The vector units of a CPU platform, when its catalog row gives cores,
    /// clock and SIMD extension (`data/cpu_platforms.csv`).
    #[serde(default)]
    pub cpu: Option<CpuCompute>,
    /// Other names that resolve to exactly this device.
    pub aliases: Vec<String>,
    /// Where the values came from.
    pub sources: Sources,
    /// Notes of the source (conflicts, caveats).
    pub notes: Option<String>,
}

impl Device {
    /// Memory to plan with: the configured memory, else the largest configuration.
    pub fn usable_memory(&self) -> Option<Bytes> {
        self.memory.or(self.memory_max)
    }
}

/// Several devices, each with a count: `2x4090 + 3090`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HardwareSet {
    /// The devices and how many of each.
    pub devices: Vec<(Device, u32)>,
    /// What was assumed while resolving the names (shown to the user).
    pub assumptions: Vec<String>,
}

impl HardwareSet {
    /// Total number of devices.
    pub fn count(&self) -> u32 {
        self.devices.iter().map(|(_, n)| *n).sum()
    }

    /// Total memory of the devices whose memory is known.
    pub fn total_memory(&self) -> Bytes {
        self.devices
            .iter()
            .filter_map(|(d, n)| d.usable_memory().map(|m| m * u64::from(*n)))
            .sum()
    }

    /// Whether the set has no devices.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

/// Source of [`metal_working_set`]'s default share.
pub const METAL_WORKING_SET_SOURCE: &str = "iogpu.wired_limit_mb not set: assumed macOS default working set, 2/3 of RAM up to 36 GiB and 3/4 above (observed recommendedMaxWorkingSetSize; not documented by Apple)";

/// Memory the GPU of an Apple Silicon Mac may use by default (Metal's
/// `recommendedMaxWorkingSetSize`), unless `iogpu.wired_limit_mb` raises it.
pub fn metal_working_set(ram: Bytes) -> Bytes {
    const GIB: u64 = 1 << 30;
    if ram.0 <= 36 * GIB {
        Bytes(ram.0 / 3 * 2)
    } else {
        Bytes(ram.0 / 4 * 3)
    }
}
