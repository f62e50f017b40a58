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

/// What the CPU computes with, read from `/proc/cpuinfo` and cpufreq.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuFeatures {
    /// The widest SIMD unit llama.cpp uses, in `data/cpu_simd.csv`'s words
    /// (`AVX2`, `AVX-512 incl. VNNI and BF16`, …), when known.
    pub simd: Option<&'static str>,
    /// Base clock in GHz (cpufreq `base_frequency`, else the `cpu MHz` line).
    pub clock_ghz: Option<f64>,
}

/// Read the SIMD flags and the clock (Linux; elsewhere nothing).
pub fn features() -> CpuFeatures {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return CpuFeatures::default();
    };
    let base = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .map(|khz| khz / 1e6);
    let mut f = parse_cpuinfo(&info);
    if base.is_some() {
        f.clock_ghz = base;
    }
    f
}

/// The first processor of a `/proc/cpuinfo` text: its SIMD unit and clock.
pub fn parse_cpuinfo(text: &str) -> CpuFeatures {
    let field = |key: &str| {
        text.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim())
    };
    let vendor = field("vendor_id").unwrap_or_default();
    let family = field("cpu family").and_then(|v| v.parse::<u32>().ok());
    let flags: Vec<&str> = field("flags")
        .or_else(|| field("Features"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let has = |f: &str| flags.contains(&f);
    // Rows of cpu_simd.csv, matched the way the catalog matches its simd cells.
    let simd = if has("avx512f") {
        Some(match (vendor, family) {
            ("AuthenticAMD", Some(f)) if f >= 26 => "AVX-512 (Zen 5)",
            ("AuthenticAMD", _) => "AVX-512 incl. VNNI and BF16",
            _ if has("avx512_fp16") => "AVX-512 incl. FP16",
            _ => "AVX-512 (2 FMA units)",
        })
    } else if has("avx2") {
        Some("AVX2")
    } else if has("sve2") {
        Some("SVE2")
    } else {
        None
    };
    let clock_ghz = field("cpu MHz")
        .and_then(|v| v.parse::<f64>().ok())
        .map(|mhz| mhz / 1e3)
        .filter(|g| *g > 0.1);
    CpuFeatures { simd, clock_ghz }
}

#[cfg(test)]
mod tests {
    #[test]
    fn simd_and_clock_from_cpuinfo() {
        let zen3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\ncpu MHz\t\t: 2445.406\nflags\t\t: fpu sse avx fma avx2 bmi2\n";
        let f = super::parse_cpuinfo(zen3);
        assert_eq!(f.simd, Some("AVX2"));
        assert!((f.clock_ghz.unwrap() - 2.445406).abs() < 1e-9);
        let zen4 = zen3.replace("avx2", "avx2 avx512f avx512_vnni");
        assert_eq!(
            super::parse_cpuinfo(&zen4).simd,
            Some("AVX-512 incl. VNNI and BF16")
        );
        let spr = "vendor_id\t: GenuineIntel\ncpu family\t: 6\nflags\t: avx2 avx512f\n";
        assert_eq!(
            super::parse_cpuinfo(spr).simd,
            Some("AVX-512 (2 FMA units)")
        );
        assert_eq!(super::parse_cpuinfo("flags\t: sse2\n").simd, None);
        // Every unit named here is a row of the SIMD table.
        for s in [
            "AVX2",
            "AVX-512 (Zen 5)",
            "AVX-512 incl. VNNI and BF16",
            "AVX-512 incl. FP16",
            "AVX-512 (2 FMA units)",
            "SVE2",
        ] {
            assert!(
                canirun_core::hardware::cpu_compute_for(s, 1, 1.0).is_some(),
                "{s}"
            );
        }
    }

    #[test]
    fn reads_this_machine() {
        let c = super::query();
        assert!(c.logical_cores >= 1);
        assert!(c.ram_total.0 > 0);
        assert!(c.ram_available <= c.ram_total);
    }
}
