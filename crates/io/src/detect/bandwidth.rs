//! Memory-bandwidth probe (`canirun hw --measure`) and its cache.
//!
//! Every thread allocates and first-touches its own slice of a buffer much
//! larger than any CPU cache (so on NUMA machines pages land near the thread
//! that reads them), then all threads stream through their slices at once:
//! first a read pass (sum of u64s, several accumulators so the adds never
//! limit), then a copy pass. Read bandwidth is what token generation needs:
//! decoding streams the weights once per token.

use canirun_core::units::{Bytes, BytesPerSecond, GIB, MIB};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Errors of the probe and its cache.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Writing the cache failed.
    #[error("cannot write bandwidth cache {path}: {source}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not enough free memory for a meaningful buffer.
    #[error("only {0} of RAM available; the probe needs at least 256 MiB")]
    TooLittleMemory(Bytes),
}

/// A bandwidth measurement, as cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Streaming-read bandwidth in bytes per second.
    pub read_bytes_per_s: f64,
    /// Copy bandwidth (bytes read + bytes written per second, as STREAM counts it).
    pub copy_bytes_per_s: f64,
    /// Threads used.
    pub threads: usize,
    /// Total buffer size in bytes.
    pub buffer_bytes: u64,
    /// Seconds spent measuring.
    pub seconds: f64,
    /// When it was measured (seconds since the Unix epoch).
    pub unix_time: u64,
    /// CPU it was measured on; a cache from another CPU is ignored.
    pub cpu_brand: String,
}

impl Measurement {
    /// Read bandwidth.
    pub fn read_bandwidth(&self) -> BytesPerSecond {
        BytesPerSecond(self.read_bytes_per_s)
    }
    /// Copy bandwidth.
    pub fn copy_bandwidth(&self) -> BytesPerSecond {
        BytesPerSecond(self.copy_bytes_per_s)
    }
}

/// Probe settings.
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    /// Threads (default: all logical CPUs).
    pub threads: usize,
    /// Total buffer.
    pub buffer: Bytes,
    /// Time for each of the read and the copy phase.
    pub phase: Duration,
}

impl ProbeConfig {
    /// Defaults for this machine: all CPUs, 1 GiB or a quarter of available
    /// RAM (whichever is smaller; far above any L3), 1.5 s per phase.
    pub fn for_machine(available_ram: Bytes) -> Result<ProbeConfig, ProbeError> {
        let buffer = (available_ram.0 / 4).min(GIB);
        if buffer < 256 * MIB {
            return Err(ProbeError::TooLittleMemory(available_ram));
        }
        Ok(ProbeConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            buffer: Bytes(buffer),
            phase: Duration::from_millis(1500),
        })
    }
}

fn sum_slice(s: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let chunks = s.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] = acc[k].wrapping_add(c[k]);
        }
    }
    acc.iter().chain(rem).fold(0u64, |a, &b| a.wrapping_add(b))
}

/// Run the probe. `progress` is called with the fraction done (0..=1).
pub fn measure(cfg: ProbeConfig, cpu_brand: &str, progress: &(dyn Fn(f64) + Sync)) -> Measurement {
    let threads = cfg.threads.max(1);
    let words_per_thread = ((cfg.buffer.0 / 8) as usize / threads).max(1024) & !15;
    let read_bytes = AtomicU64::new(0);
    let copy_bytes = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let ready = Barrier::new(threads + 1);
    let phase2 = Barrier::new(threads + 1);
    let done = Barrier::new(threads + 1);
    let start_all = Instant::now();
    let (mut t_read, mut t_copy) = (Duration::ZERO, Duration::ZERO);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (read_bytes, copy_bytes, stop) = (&read_bytes, &copy_bytes, &stop);
            let (ready, phase2, done) = (&ready, &phase2, &done);
            s.spawn(move || {
                // First touch by the thread that will read it.
                let mut buf: Vec<u64> =
                    (0..words_per_thread as u64).map(|i| i ^ t as u64).collect();
                let half = words_per_thread / 2;
                ready.wait();
                let mut acc = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    acc = acc.wrapping_add(sum_slice(black_box(&buf)));
                    read_bytes.fetch_add((words_per_thread * 8) as u64, Ordering::Relaxed);
                }
                black_box(acc);
                phase2.wait();
                while stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                while !stop.load(Ordering::Relaxed) {
                    let (a, b) = buf.split_at_mut(half);
                    b[..half].copy_from_slice(black_box(&a[..half]));
                    black_box(&b);
                    copy_bytes.fetch_add((half * 16) as u64, Ordering::Relaxed);
                }
                done.wait();
            });
        }
        ready.wait();
        let tick = |t0: Instant, base: f64| {
            while t0.elapsed() < cfg.phase {
                std::thread::sleep(Duration::from_millis(50));
                progress(
                    base + 0.5 * (t0.elapsed().as_secs_f64() / cfg.phase.as_secs_f64()).min(1.0),
                );
            }
        };
        let t0 = Instant::now();
        tick(t0, 0.0);
        stop.store(true, Ordering::Relaxed);
        phase2.wait();
        t_read = t0.elapsed();
        // Threads stop adding before the barrier, so the count matches t_read
        // up to the pass each thread was finishing.
        stop.store(false, Ordering::Relaxed);
        let t1 = Instant::now();
        tick(t1, 0.5);
        stop.store(true, Ordering::Relaxed);
        done.wait();
        t_copy = t1.elapsed();
    });
    progress(1.0);
    Measurement {
        read_bytes_per_s: read_bytes.load(Ordering::Relaxed) as f64
            / t_read.as_secs_f64().max(1e-9),
        copy_bytes_per_s: copy_bytes.load(Ordering::Relaxed) as f64
            / t_copy.as_secs_f64().max(1e-9),
        threads,
        buffer_bytes: (words_per_thread * threads * 8) as u64,
        seconds: start_all.elapsed().as_secs_f64(),
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        cpu_brand: cpu_brand.to_string(),
    }
}

/// `$XDG_CACHE_HOME/canirun`, else `~/.cache/canirun`.
pub fn cache_dir() -> Option<PathBuf> {
    let from = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|h| h.join(".cache")))
        .map(|d| d.join("canirun"))
}

const CACHE_FILE: &str = "bandwidth.json";

/// Read a cached measurement; a missing or unreadable cache is `None`.
pub fn load_cache(dir: &Path) -> Option<Measurement> {
    let text = std::fs::read_to_string(dir.join(CACHE_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Write the measurement to the cache; returns the file written.
pub fn save_cache(dir: &Path, m: &Measurement) -> Result<PathBuf, ProbeError> {
    let path = dir.join(CACHE_FILE);
    let err = |source| ProbeError::Cache {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let json = serde_json::to_string_pretty(m).map_err(|e| err(std::io::Error::other(e)))?;
    std::fs::write(&path, json).map_err(err)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_word() {
        let v: Vec<u64> = (1..=21).collect();
        assert_eq!(sum_slice(&v), 231);
    }

    #[test]
    fn short_probe_gives_a_positive_rate_and_caches() {
        let cfg = ProbeConfig {
            threads: 2,
            buffer: Bytes::mib(16),
            phase: Duration::from_millis(100),
        };
        let m = measure(cfg, "test cpu", &|_| {});
        assert!(m.read_bytes_per_s > 1e8, "{m:?}");
        assert!(m.copy_bytes_per_s > 1e8, "{m:?}");
        let dir = tempfile::tempdir().unwrap();
        save_cache(dir.path(), &m).unwrap();
        // Exact: serde_json's float_roundtrip keeps every f64 bit.
        assert_eq!(load_cache(dir.path()), Some(m));
        std::fs::write(dir.path().join(CACHE_FILE), "{not json").unwrap();
        assert_eq!(load_cache(dir.path()), None);
    }

    /// The real probe on this machine: `cargo test --release -p canirun-io full_probe -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn full_probe() {
        let cpu = crate::detect::cpu::query();
        let cfg = ProbeConfig::for_machine(cpu.ram_available).unwrap();
        let m = measure(cfg, &cpu.brand, &|_| {});
        println!(
            "read {} copy {} {m:?}",
            m.read_bandwidth(),
            m.copy_bandwidth()
        );
    }

    #[test]
    fn refuses_tiny_machines() {
        assert!(ProbeConfig::for_machine(Bytes::mib(100)).is_err());
        assert!(ProbeConfig::for_machine(Bytes::gib(64)).is_ok());
    }
}
