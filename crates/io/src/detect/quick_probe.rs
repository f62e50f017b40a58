//! A short memory-bandwidth probe for the detected machine's speed estimate
//! (about 200 ms; `canirun hw --measure` is the long one): the streaming-read
//! bandwidth of all threads together, and of one core alone (what llama.cpp's
//! `-t 1` can pull). Measured once and cached beside `bandwidth.json`, so
//! every later run on this machine (and two commands compared against each
//! other) reads the same figures.

use super::bandwidth::cache_dir;
use canirun_core::units::{Bytes, BytesPerSecond, MIB};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// What the short probe measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuickProbe {
    /// Streaming-read bandwidth of all threads, bytes per second.
    pub all_threads_read: f64,
    /// Streaming-read bandwidth of one thread over the whole buffer.
    pub one_thread_read: f64,
    /// Threads of the all-thread phase.
    pub threads: usize,
    /// Buffer size in bytes.
    pub buffer_bytes: u64,
    /// Seconds the probe took, allocation included.
    pub seconds: f64,
    /// CPU it was measured on; a cache from another CPU is ignored.
    pub cpu_brand: String,
}

impl QuickProbe {
    /// All threads' read bandwidth.
    pub fn all(&self) -> BytesPerSecond {
        BytesPerSecond(self.all_threads_read)
    }
    /// One core's read bandwidth.
    pub fn one(&self) -> BytesPerSecond {
        BytesPerSecond(self.one_thread_read)
    }
}

const CACHE_FILE: &str = "bandwidth-probe.json";

/// Time of each read phase: long enough for hundreds of MB to stream, short
/// enough that the whole probe stays near 200 ms.
const PHASE: Duration = Duration::from_millis(60);

fn sum(s: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    for c in s.chunks_exact(8) {
        for k in 0..8 {
            acc[k] = acc[k].wrapping_add(c[k]);
        }
    }
    acc.iter().fold(0u64, |a, &b| a.wrapping_add(b))
}

/// Stream through `s` in 4 MiB chunks until `stop_after` has passed; the
/// median rate of the chunks in bytes per second. Each chunk is timed on its
/// own, so a thread descheduled by a busy machine (CI runs builds beside it)
/// loses a few chunks, not the figure.
fn read_for(s: &[u64], stop_after: Duration) -> f64 {
    const CHUNK_WORDS: usize = 4 * 1024 * 1024 / 8;
    let t0 = Instant::now();
    let mut rates = Vec::new();
    let mut acc = 0u64;
    while t0.elapsed() < stop_after {
        for c in s.chunks(CHUNK_WORDS) {
            let t = Instant::now();
            acc = acc.wrapping_add(sum(black_box(c)));
            let dt = t.elapsed().as_secs_f64();
            if dt > 0.0 {
                rates.push((c.len() * 8) as f64 / dt);
            }
        }
    }
    black_box(acc);
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}

/// Run the probe: `threads` threads first-touch and read their slices of a
/// `buffer`-byte block at once, then this thread reads the whole block alone.
pub fn measure(threads: usize, buffer: Bytes, cpu_brand: &str) -> QuickProbe {
    let start = Instant::now();
    let threads = threads.max(1);
    let words = ((buffer.0 / 8) as usize / threads / 8).max(1024) * 8;
    let mut block = vec![0u64; words * threads];
    let barrier = Barrier::new(threads);
    let mut results = vec![0.0f64; threads];
    std::thread::scope(|s| {
        for ((t, chunk), out) in block.chunks_mut(words).enumerate().zip(results.iter_mut()) {
            let barrier = &barrier;
            s.spawn(move || {
                // First touch here, so pages land near the thread that reads them.
                for (i, w) in chunk.iter_mut().enumerate() {
                    *w = i as u64 ^ t as u64;
                }
                barrier.wait();
                *out = read_for(chunk, PHASE);
            });
        }
    });
    let one = read_for(&block, PHASE);
    QuickProbe {
        // The threads read at once: their rates add up.
        all_threads_read: results.iter().sum(),
        one_thread_read: one,
        threads,
        buffer_bytes: (block.len() * 8) as u64,
        seconds: start.elapsed().as_secs_f64(),
        cpu_brand: cpu_brand.to_string(),
    }
}

fn load(dir: &Path, cpu_brand: &str) -> Option<QuickProbe> {
    let text = std::fs::read_to_string(dir.join(CACHE_FILE)).ok()?;
    serde_json::from_str::<QuickProbe>(&text)
        .ok()
        .filter(|p| p.cpu_brand == cpu_brand && p.one_thread_read > 0.0)
}

/// The probe of this machine: cached in `dir` (first writer wins, so
/// processes probing at once all end up with one figure), else measured now
/// with all logical CPUs over a 256 MiB block (less when RAM is short;
/// `None` under 64 MiB free).
pub fn this_machine(
    dir: Option<&Path>,
    cpu_brand: &str,
    available_ram: Bytes,
) -> Option<(QuickProbe, bool)> {
    static RUN: std::sync::OnceLock<Option<(QuickProbe, bool)>> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        if let Some(p) = dir.and_then(|d| load(d, cpu_brand)) {
            return Some((p, true));
        }
        let buffer = (available_ram.0 / 8).min(256 * MIB);
        if buffer < 64 * MIB {
            return None;
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let p = measure(threads, Bytes(buffer), cpu_brand);
        if let Some(d) = dir {
            if let Some(kept) = save_first(d, &p) {
                return Some((kept, true));
            }
        }
        Some((p, false))
    })
    .clone()
}

/// Default cache folder for [`this_machine`].
pub fn default_dir() -> Option<std::path::PathBuf> {
    cache_dir()
}

/// Write `p` unless another process already did; returns the figure on disk.
fn save_first(dir: &Path, p: &QuickProbe) -> Option<QuickProbe> {
    std::fs::create_dir_all(dir).ok()?;
    let tmp = dir.join(format!("{CACHE_FILE}.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_string_pretty(p).ok()?).ok()?;
    // A hard link fails when the file exists: the first writer wins atomically.
    let _ = std::fs::hard_link(&tmp, dir.join(CACHE_FILE));
    let _ = std::fs::remove_file(&tmp);
    load(dir, &p.cpu_brand)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_both_phases_and_the_first_cache_wins() {
        let p = measure(2, Bytes::mib(16), "test cpu");
        assert!(p.one_thread_read > 1e8 && p.all_threads_read > 1e8, "{p:?}");
        assert!(p.seconds < 2.0, "{p:?}");
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(save_first(dir.path(), &p), Some(p.clone()));
        let mut other = p.clone();
        other.one_thread_read *= 2.0;
        assert_eq!(save_first(dir.path(), &other), Some(p.clone()));
        assert_eq!(load(dir.path(), "another cpu"), None);
    }
}
