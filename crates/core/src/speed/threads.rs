//! llama.cpp's CPU threads (`-t`) as the speed model sees them: compute
//! scales with the physical cores that have a thread, and the bandwidth a
//! few threads can pull is capped by what one core's streaming reads reach
//! (`data/cpu_threads.toml`, with sources and bounds).

use super::{DeviceClass, DeviceRates};
use crate::units::{BytesPerSecond, FlopsPerSecond};
use serde::Deserialize;

/// The embedded thread constants.
pub const CPU_THREADS_TOML: &str = include_str!("../../data/cpu_threads.toml");

#[derive(Debug, Deserialize)]
struct PerCoreRead {
    gbs: f64,
    min_gbs: f64,
    max_gbs: f64,
    source: String,
}

#[derive(Debug, Deserialize)]
struct DefaultThreads {
    source: String,
}

#[derive(Debug, Deserialize)]
struct ThreadsToml {
    per_core_read: PerCoreRead,
    default_threads: DefaultThreads,
}

fn table() -> Option<&'static ThreadsToml> {
    static T: std::sync::OnceLock<Option<ThreadsToml>> = std::sync::OnceLock::new();
    T.get_or_init(|| toml::from_str(CPU_THREADS_TOML).ok())
        .as_ref()
        .filter(|t| {
            let p = &t.per_core_read;
            p.min_gbs > 0.0 && p.min_gbs <= p.gbs && p.gbs <= p.max_gbs
        })
}

/// The catalog-wide per-core streaming-read bandwidth, with its source.
pub fn default_per_core_read() -> (BytesPerSecond, &'static str) {
    match table() {
        Some(t) => (
            BytesPerSecond::gbps(t.per_core_read.gbs),
            t.per_core_read.source.as_str(),
        ),
        // Unreachable with the embedded file (a test parses it); the
        // Little's-law middle value keeps the model physical.
        None => (BytesPerSecond::gbps(20.0), "Little's law estimate"),
    }
}

/// Where llama.cpp's default thread count comes from.
pub fn default_threads_source() -> &'static str {
    table()
        .map(|t| t.default_threads.source.as_str())
        .unwrap_or("llama.cpp cpu_get_num_math")
}

/// The cores and threads of a CPU pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuThreads {
    /// Physical (performance) cores of the pool, all sockets.
    pub cores: u32,
    /// `-t`, when given; `None` is llama.cpp's default (one per core).
    pub threads: Option<u32>,
    /// One core's streaming-read bandwidth, when measured on this machine.
    pub per_core_read: Option<BytesPerSecond>,
}

impl CpuThreads {
    /// Physical cores that have a thread: llama.cpp's threads beyond the
    /// physical cores share them (hyperthreads add no SIMD units).
    pub fn busy_cores(&self) -> u32 {
        let cores = self.cores.max(1);
        self.threads.unwrap_or(cores).clamp(1, cores)
    }

    /// `r` as llama.cpp runs it with these threads: compute × busy ÷ cores,
    /// bandwidth capped so that its achieved share (× `bw_eff`, the CPU
    /// class's fitted efficiency) is at most busy cores × one core's
    /// streaming reads (an achieved rate, like the probe's). A non-CPU
    /// device is returned unchanged.
    pub fn apply(&self, mut r: DeviceRates, bw_eff: f64) -> DeviceRates {
        if r.class != DeviceClass::Cpu {
            return r;
        }
        let cores = self.cores.max(1);
        let busy = self.busy_cores();
        if let Some(c) = r.cpu.as_mut() {
            c.threads = busy;
        }
        let (per_core, source) = match self.per_core_read {
            Some(m) => (m, "measured by this machine's one-thread probe"),
            None => default_per_core_read(),
        };
        let bw_eff = if bw_eff > 0.0 { bw_eff } else { 1.0 };
        let cap = per_core.0 * f64::from(busy) / bw_eff;
        let mut said = Vec::new();
        if busy < cores {
            r.compute = r
                .compute
                .map(|c| FlopsPerSecond(c.0 * f64::from(busy) / f64::from(cores)));
            said.push(format!(
                "{busy} of {cores} physical cores compute (-t {})",
                self.threads.unwrap_or(busy)
            ));
        }
        if cap < r.bandwidth.0 {
            said.push(format!(
                "reads capped at {busy} core{} × {per_core} ({source}) = {} achieved, below the platform's {} × {bw_eff:.2} bw_eff",
                if busy == 1 { "" } else { "s" },
                BytesPerSecond(cap * bw_eff),
                r.bandwidth
            ));
            r.bandwidth = BytesPerSecond(cap);
        }
        if !said.is_empty() {
            let text = said.join("; ");
            r.compute_note = Some(match r.compute_note.take() {
                Some(n) => format!("{n}; {text}"),
                None => text,
            });
            r.label = format!(
                "{} ({busy} thread{})",
                r.label,
                if busy == 1 { "" } else { "s" }
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Backend;

    fn cpu(bw_gbs: f64, tops: f64) -> DeviceRates {
        DeviceRates::plain(
            "cpu",
            Backend::Cpu,
            DeviceClass::Cpu,
            BytesPerSecond::gbps(bw_gbs),
            Some(FlopsPerSecond::tflops(tops)),
        )
    }

    #[test]
    fn the_embedded_constants_parse_within_their_bounds() {
        let t = table().expect("cpu_threads.toml parses with gbs within its bounds");
        assert!(t.per_core_read.source.contains("Little"));
        assert!(default_threads_source().contains("cpu_get_num_math"));
    }

    #[test]
    fn one_thread_of_eight_computes_an_eighth_and_reads_one_core_worth() {
        let t = CpuThreads {
            cores: 8,
            threads: Some(1),
            per_core_read: None,
        };
        let r = t.apply(cpu(89.6, 2.0), 1.0);
        assert_eq!(r.compute, Some(FlopsPerSecond::tflops(0.25)));
        assert_eq!(r.bandwidth, default_per_core_read().0);
        assert!(r.compute_note.unwrap().contains("1 of 8 physical cores"));
    }

    #[test]
    fn the_default_uses_every_core_and_more_threads_than_cores_add_nothing() {
        let all = CpuThreads {
            cores: 8,
            threads: None,
            per_core_read: None,
        };
        let base = cpu(89.6, 2.0);
        // 8 cores × 20 GB/s exceed a dual-channel DDR5-5600 platform: unchanged.
        assert_eq!(all.apply(base.clone(), 0.7), base);
        let over = CpuThreads {
            threads: Some(32),
            ..all
        };
        assert_eq!(over.apply(base.clone(), 0.7), base);
    }

    #[test]
    fn a_measured_core_replaces_the_default_and_gpus_are_untouched() {
        let t = CpuThreads {
            cores: 2,
            threads: Some(1),
            per_core_read: Some(BytesPerSecond::gbps(12.0)),
        };
        assert_eq!(
            t.apply(cpu(40.0, 0.3), 0.5).bandwidth,
            BytesPerSecond::gbps(24.0)
        );
        let mut gpu = cpu(1000.0, 100.0);
        gpu.class = DeviceClass::DiscreteGpu;
        assert_eq!(t.apply(gpu.clone(), 0.5), gpu);
    }
}
