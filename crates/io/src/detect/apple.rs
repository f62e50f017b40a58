//! Apple Silicon through `sysctl` and `system_profiler`.
//!
//! Unified memory is `hw.memsize`; the chip is `machdep.cpu.brand_string`
//! (`Apple M3 Max`); the GPU core count comes from `system_profiler
//! SPDisplaysDataType` ("Total Number of Cores"). The GPU may only wire part
//! of the memory: Metal's `recommendedMaxWorkingSetSize`, raised by setting
//! `iogpu.wired_limit_mb` (`debug.iogpu.wired_limit` before macOS 14).

use super::{DetectedGpu, GpuVendor};
use canirun_core::units::{Bytes, MIB};
use serde::Serialize;
use std::process::Command;

/// Where the default working-set share comes from. Apple does not document
/// the ratio; these are the `recommendedMaxWorkingSetSize` values commonly
/// reported by llama.cpp's Metal backend (e.g. 10.7 GB of 16 GB, 48 GB of
/// 64 GB), so the figure is marked as assumed.
pub const DEFAULT_SHARE_SOURCE: &str = "iogpu.wired_limit_mb not set: assumed macOS default working set, 2/3 of RAM up to 36 GiB and 3/4 above (observed recommendedMaxWorkingSetSize; not documented by Apple)";

/// What was learnt about an Apple Silicon Mac.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppleInfo {
    /// Chip, e.g. `Apple M3 Max`.
    pub chip: String,
    /// Unified memory.
    pub memory: Bytes,
    /// GPU cores, when system_profiler reported them.
    pub gpu_cores: Option<u32>,
    /// Memory the GPU may wire (Metal working-set limit).
    pub working_set: Bytes,
    /// Whether `iogpu.wired_limit_mb` set the limit (else it is the default share).
    pub wired_limit_set: bool,
}

impl AppleInfo {
    /// The name to look up in the catalog: "Apple M3 Max (40-core GPU) 64GB".
    pub fn catalog_query(&self) -> String {
        let cores = self
            .gpu_cores
            .map(|c| format!(" ({c}-core GPU)"))
            .unwrap_or_default();
        format!("{}{cores} {:.0}GB", self.chip, self.memory.as_gib())
    }

    /// The SoC's GPU as a detected GPU; its memory is the working-set limit.
    pub fn to_gpu(&self) -> DetectedGpu {
        DetectedGpu {
            vendor: GpuVendor::Apple,
            name: match self.gpu_cores {
                Some(c) => format!("{} ({c}-core GPU)", self.chip),
                None => self.chip.clone(),
            },
            memory_total: Some(self.working_set),
            memory_free: None,
            integrated: true,
            location: None,
            detected_by: "sysctl".into(),
            catalog_id: None,
            bandwidth: None,
        }
    }
}

/// Default Metal working set for a given RAM size (see [`DEFAULT_SHARE_SOURCE`]).
pub fn default_working_set(ram: Bytes) -> Bytes {
    canirun_core::hardware::metal_working_set(ram)
}

/// Value of `key` in `sysctl` output (`key: value` or `key = value` lines).
pub fn sysctl_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(key)?;
        let rest = rest.trim_start();
        let v = rest.strip_prefix(':').or_else(|| rest.strip_prefix('='))?;
        Some(v.trim())
    })
}

/// GPU cores from `system_profiler SPDisplaysDataType` output.
pub fn gpu_cores_from_profiler(text: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Total Number of Cores:")
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Build [`AppleInfo`] from recorded `sysctl` (and optional system_profiler)
/// output. `None` when this is not Apple Silicon. Pure.
pub fn from_sysctl(sysctl: &str, profiler: Option<&str>) -> Option<AppleInfo> {
    let chip = sysctl_value(sysctl, "machdep.cpu.brand_string")?;
    if !chip.starts_with("Apple M") {
        return None; // an Intel Mac: its GPU, if any, is not Apple's
    }
    let memory = Bytes(sysctl_value(sysctl, "hw.memsize")?.parse().ok()?);
    let wired_mb = sysctl_value(sysctl, "iogpu.wired_limit_mb")
        .or_else(|| sysctl_value(sysctl, "debug.iogpu.wired_limit"))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&mb| mb > 0); // 0 means "use the default"
    let (working_set, wired_limit_set) = match wired_mb {
        // The limit cannot exceed physical memory, whatever was typed.
        Some(mb) => (Bytes(mb.saturating_mul(MIB).min(memory.0)), true),
        None => (default_working_set(memory), false),
    };
    Some(AppleInfo {
        chip: chip.to_string(),
        memory,
        gpu_cores: profiler.and_then(gpu_cores_from_profiler),
        working_set,
        wired_limit_set,
    })
}

/// Run `sysctl` for the keys above; `None` if it cannot run.
pub fn run_sysctl() -> Option<String> {
    // Unknown keys make sysctl exit non-zero but still print the known ones.
    let out = Command::new("sysctl")
        .args([
            "hw.memsize",
            "machdep.cpu.brand_string",
            "iogpu.wired_limit_mb",
        ])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run `system_profiler SPDisplaysDataType`; `None` if it cannot run.
pub fn run_system_profiler() -> Option<String> {
    let out = Command::new("system_profiler")
        .arg("SPDisplaysDataType")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_share_is_two_thirds_then_three_quarters() {
        assert_eq!(default_working_set(Bytes::gib(16)).as_gib().round(), 11.0);
        assert_eq!(default_working_set(Bytes::gib(64)), Bytes::gib(48));
        assert_eq!(default_working_set(Bytes::gib(192)), Bytes::gib(144));
    }

    #[test]
    fn intel_macs_and_garbage_are_not_apple_silicon() {
        let intel = "hw.memsize: 17179869184\nmachdep.cpu.brand_string: Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz\n";
        assert_eq!(from_sysctl(intel, None), None);
        assert_eq!(from_sysctl("", None), None);
        assert_eq!(
            from_sysctl(
                "machdep.cpu.brand_string: Apple M1\nhw.memsize: lots\n",
                None
            ),
            None
        );
    }
}
