//! `canirun self-bench`: how fast the estimator is over the whole catalog
//! (catalog × every llama.cpp file type × 3 contexts, best of N).

use canirun_core::memory::{llama_cpp, RunSettings};
use canirun_core::model::{catalog, MlaTensorLayout};
use canirun_core::quant::{weights, FileType, Quant, ALL_FILE_TYPES};
use serde::Serialize;
use std::fmt;
use std::time::Instant;

/// The contexts each model and file type is estimated at.
pub const CONTEXTS: [u64; 3] = [4096, 32768, 131072];

/// The timing. Serialised, it is `canirun self-bench --json`.
#[derive(Debug, Clone, Serialize)]
pub struct SelfBench {
    /// Estimates made in one repetition.
    pub estimates: usize,
    /// The fastest repetition, seconds.
    pub best_seconds: f64,
    /// The fastest repetition per estimate, microseconds.
    pub per_estimate_us: f64,
    /// Repetitions.
    pub repeat: u32,
    /// Sum of the estimated totals, so the work cannot be optimised away.
    pub checksum: u64,
}

/// Time `repeat` passes over the catalog.
pub fn run(repeat: u32) -> SelfBench {
    let mut best = f64::MAX;
    let mut n = 0usize;
    let mut checksum = 0u64;
    for _ in 0..repeat {
        let t0 = Instant::now();
        n = 0;
        for e in catalog() {
            let m = e.spec();
            for f in ALL_FILE_TYPES {
                if f == FileType::MXFP4_MOE && m.moe.is_none() {
                    continue;
                }
                let w = weights(&m, &Quant::gguf(f), MlaTensorLayout::Split);
                for &c in &CONTEXTS {
                    let s = RunSettings {
                        n_ctx: c,
                        ..Default::default()
                    };
                    if let Ok(b) = llama_cpp::estimate(&m, &w, &s) {
                        checksum = checksum.wrapping_add(b.total().0);
                        n += 1;
                    }
                }
            }
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    SelfBench {
        estimates: n,
        best_seconds: best,
        per_estimate_us: best * 1e6 / n as f64,
        repeat,
        checksum,
    }
}

impl fmt::Display for SelfBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "self-bench: {} models × {} file types × {} contexts = {} estimates in {:.1} ms (best of {}), {:.1} µs each",
            catalog().len(),
            ALL_FILE_TYPES.len(),
            CONTEXTS.len(),
            self.estimates,
            self.best_seconds * 1e3,
            self.repeat,
            self.per_estimate_us
        )
    }
}
