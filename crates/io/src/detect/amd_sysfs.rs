//! GPUs in Linux sysfs: `/sys/class/drm/card*/device/`.
//!
//! amdgpu exposes `mem_info_vram_total` / `mem_info_vram_used` (bytes) and,
//! on recent kernels, `product_name`. Intel and NVIDIA cards are recorded too
//! (vendor only): an Intel iGPU shares system RAM, and an NVIDIA card seen
//! here while NVML is missing means the driver is not loaded.

use super::{DetectedGpu, GpuVendor};
use canirun_core::units::{Bytes, GIB};
use std::fs;
use std::path::Path;

/// Where DRM devices live.
pub const DRM_ROOT: &str = "/sys/class/drm";

/// An AMD APU's carve-out is small; a dGPU has at least a few GiB. Above this,
/// an amdgpu device is treated as discrete (heuristic: Strix Halo can carve
/// out more, and is then reported as discrete, which is how it behaves).
const IGPU_VRAM_MAX: u64 = 2 * GIB;

/// One card as sysfs shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SysfsGpu {
    /// `card0`, `card1`, ...
    pub card: String,
    /// Vendor from `device/vendor`.
    pub vendor: GpuVendor,
    /// PCI device id from `device/device`, e.g. `0x744c`.
    pub device_id: Option<String>,
    /// `device/product_name`, when the driver provides it.
    pub product_name: Option<String>,
    /// `device/mem_info_vram_total`.
    pub vram_total: Option<Bytes>,
    /// `device/mem_info_vram_used`.
    pub vram_used: Option<Bytes>,
}

impl SysfsGpu {
    /// Whether this is an integrated GPU sharing system memory.
    pub fn integrated(&self) -> bool {
        match self.vendor {
            // Intel Arc dGPUs are not told apart here; i915/xe give no VRAM size.
            GpuVendor::Intel => true,
            GpuVendor::Amd => self.vram_total.is_none_or(|v| v.0 <= IGPU_VRAM_MAX),
            _ => false,
        }
    }

    /// As a detected GPU.
    pub fn to_gpu(&self) -> DetectedGpu {
        let vendor_name = match self.vendor {
            GpuVendor::Amd => "AMD",
            GpuVendor::Intel => "Intel",
            GpuVendor::Nvidia => "NVIDIA",
            GpuVendor::Apple => "Apple",
        };
        let name = self.product_name.clone().unwrap_or_else(|| {
            format!(
                "{vendor_name} GPU (PCI device {})",
                self.device_id.as_deref().unwrap_or("unknown")
            )
        });
        DetectedGpu {
            vendor: self.vendor,
            name,
            memory_total: self.vram_total,
            memory_free: match (self.vram_total, self.vram_used) {
                (Some(t), Some(u)) => Some(t.saturating_sub(u)),
                _ => None,
            },
            integrated: self.integrated(),
            location: Some(self.card.clone()),
            detected_by: "sysfs".into(),
            catalog_id: None,
            bandwidth: None,
        }
    }
}

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn read_u64(p: &Path) -> Option<u64> {
    read_trim(p)?.parse().ok()
}

/// Scan a DRM root (the real `/sys/class/drm` or a fixture tree). Missing or
/// unreadable files are skipped, never errors.
pub fn scan(root: &Path) -> Vec<SysfsGpu> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut cards: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // `card0` but not the connectors `card0-DP-1`.
        .filter(|n| {
            n.strip_prefix("card")
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    cards.sort_by_key(|c| c[4..].parse::<u32>().unwrap_or(u32::MAX));
    let mut out = Vec::new();
    for card in cards {
        let dev = root.join(&card).join("device");
        let vendor = match read_trim(&dev.join("vendor")).as_deref() {
            Some("0x1002") => GpuVendor::Amd,
            Some("0x8086") => GpuVendor::Intel,
            Some("0x10de") => GpuVendor::Nvidia,
            _ => continue,
        };
        out.push(SysfsGpu {
            card,
            vendor,
            device_id: read_trim(&dev.join("device")),
            product_name: read_trim(&dev.join("product_name")),
            vram_total: read_u64(&dev.join("mem_info_vram_total")).map(Bytes),
            vram_used: read_u64(&dev.join("mem_info_vram_used")).map(Bytes),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_root_is_no_gpus() {
        assert!(scan(Path::new("/nonexistent/drm")).is_empty());
    }

    #[test]
    fn connectors_and_unknown_vendors_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("card0-DP-1")).unwrap();
        fs::create_dir_all(root.join("card0/device")).unwrap();
        fs::write(root.join("card0/device/vendor"), "0x1af4\n").unwrap();
        fs::create_dir_all(root.join("renderD128")).unwrap();
        assert!(scan(root).is_empty());
    }
}
