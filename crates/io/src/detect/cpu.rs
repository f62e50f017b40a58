//! CPU model, cores and RAM through sysinfo.
//!
//! Only the cheap parts are refreshed: the CPU list without frequency or
//! usage (usage needs two samples 200 ms apart) and the memory counters.

use super::CpuInfo;
use canirun_core::units::Bytes;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// Read CPU and RAM. Unknown values are left at zero / empty.
pub fn query() -> CpuInfo {
    let Ok(sys) = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(MemoryRefreshKind::nothing().with_ram()),
    ) else {
        return CpuInfo {
            arch: System::cpu_arch(),
            ..CpuInfo::default()
        };
    };
    let brand = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_string())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "unknown CPU".into());
    CpuInfo {
        brand,
        arch: System::cpu_arch(),
        logical_cores: sys.cpus().len(),
        physical_cores: System::physical_core_count().ok(),
        ram_total: Bytes(sys.total_memory()),
        ram_available: Bytes(sys.available_memory()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_machine() {
        let c = super::query();
        assert!(c.logical_cores >= 1);
        assert!(c.ram_total.0 > 0);
        assert!(c.ram_available <= c.ram_total);
    }
}
