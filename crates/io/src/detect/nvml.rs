//! NVIDIA GPUs through NVML, loaded at run time.
//!
//! `nvml-wrapper` opens `libnvidia-ml` with dlopen when [`query`] runs, so a
//! machine without the NVIDIA driver simply has no NVIDIA GPUs.

use super::{DetectedGpu, GpuVendor};
use canirun_core::units::Bytes;
use serde::{Deserialize, Serialize};

/// What NVML reports for one device; fixtures build these by hand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NvmlGpu {
    /// `nvmlDeviceGetName`, e.g. `NVIDIA GeForce RTX 4090`.
    pub name: String,
    /// Total framebuffer memory in bytes.
    pub memory_total: u64,
    /// Free framebuffer memory in bytes.
    pub memory_free: u64,
    /// PCI bus id, e.g. `00000000:01:00.0`.
    pub pci_bus_id: String,
}

/// Turn NVML readings into detected GPUs. Pure.
pub fn to_gpus(devices: &[NvmlGpu]) -> Vec<DetectedGpu> {
    devices
        .iter()
        .map(|d| DetectedGpu {
            vendor: GpuVendor::Nvidia,
            name: d.name.trim().to_string(),
            memory_total: (d.memory_total > 0).then_some(Bytes(d.memory_total)),
            memory_free: (d.memory_total > 0).then_some(Bytes(d.memory_free.min(d.memory_total))),
            integrated: false,
            location: (!d.pci_bus_id.is_empty()).then(|| d.pci_bus_id.clone()),
            detected_by: "nvml".into(),
            catalog_id: None,
            bandwidth: None,
        })
        .collect()
}

/// Ask NVML. Returns the devices, or none and the reason NVML is unavailable.
pub fn query() -> (Vec<NvmlGpu>, Option<String>) {
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut out = Vec::new();
    for i in 0..count {
        let Ok(dev) = nvml.device_by_index(i) else {
            continue;
        };
        let mem = dev.memory_info().ok();
        out.push(NvmlGpu {
            name: dev.name().unwrap_or_else(|_| format!("NVIDIA GPU {i}")),
            memory_total: mem.as_ref().map(|m| m.total).unwrap_or(0),
            memory_free: mem.as_ref().map(|m| m.free).unwrap_or(0),
            pci_bus_id: dev.pci_info().map(|p| p.bus_id).unwrap_or_default(),
        });
    }
    (out, None)
}

/// GPU memory process `pid` holds on each NVIDIA GPU, as the driver counts
/// it (compute and graphics contexts): `(NVML index, bytes)` for each GPU
/// where it holds any. `Err`: why NVML cannot tell (no driver, no GPU),
/// so a caller leaves the figure out.
pub fn process_memory(pid: u32) -> Result<Vec<(u32, u64)>, String> {
    use nvml_wrapper::enums::device::UsedGpuMemory;
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| e.to_string())?;
    let count = nvml.device_count().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..count {
        let Ok(dev) = nvml.device_by_index(i) else {
            continue;
        };
        let procs = dev
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .chain(dev.running_graphics_processes().unwrap_or_default());
        // A process with both kinds of context is listed twice with the same
        // figure: take the larger, not the sum.
        let used: u64 = procs
            .filter(|p| p.pid == pid)
            .map(|p| match p.used_gpu_memory {
                UsedGpuMemory::Used(b) => b,
                UsedGpuMemory::Unavailable => 0,
            })
            .max()
            .unwrap_or(0);
        if used > 0 {
            out.push((i, used));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvml_values_become_gpus() {
        let g = to_gpus(&[
            NvmlGpu {
                name: "NVIDIA GeForce RTX 4090".into(),
                memory_total: 25_757_220_864,
                memory_free: 25_000_000_000,
                pci_bus_id: "00000000:01:00.0".into(),
            },
            NvmlGpu {
                name: "NVIDIA GeForce RTX 3090".into(),
                memory_total: 25_769_803_776,
                memory_free: 30_000_000_000, // nonsense from a driver: clamp, don't trust
                pci_bus_id: String::new(),
            },
        ]);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].memory_total, Some(Bytes(25_757_220_864)));
        assert_eq!(g[1].memory_free, g[1].memory_total);
        assert_eq!(g[1].location, None);
    }

    #[test]
    fn query_never_panics() {
        let (devs, why) = query();
        assert!(!devs.is_empty() || why.is_some() || devs.is_empty());
    }

    /// Without NVML (no NVIDIA driver, as on CI's machines) the figure is an
    /// error to leave out, never a zero; with it, this test process holds
    /// no GPU memory.
    #[test]
    fn process_memory_is_absent_without_nvml() {
        match (query().1, process_memory(std::process::id())) {
            (Some(_), r) => assert!(r.is_err()),
            (None, r) => assert_eq!(r, Ok(Vec::new())),
        }
    }
}
