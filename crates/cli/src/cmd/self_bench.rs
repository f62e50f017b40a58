//! `canirun self-bench`: how fast the estimator is over the whole catalog.

use crate::render;
use anyhow::Result;
use canirun_core::memory::{llama_cpp, RunSettings};
use canirun_core::model::{catalog, MlaTensorLayout};
use canirun_core::quant::{weights, FileType, Quant, ALL_FILE_TYPES};
use clap::Args;
use serde_json::json;
use std::time::Instant;

/// Arguments of `canirun self-bench`.
#[derive(Args, Debug)]
pub struct SelfBenchArgs {
    /// Repetitions (the best time is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
}

/// Time catalog × every llama.cpp file type × 3 contexts.
pub fn run(a: &SelfBenchArgs, json_out: bool) -> Result<()> {
    let contexts = [4096u64, 32768, 131072];
    let mut best = f64::MAX;
    let mut n = 0usize;
    let mut checksum = 0u64;
    for _ in 0..a.repeat {
        let t0 = Instant::now();
        n = 0;
        for e in catalog() {
            let m = e.spec();
            for f in ALL_FILE_TYPES {
                if f == FileType::MXFP4_MOE && m.moe.is_none() {
                    continue;
                }
                let w = weights(&m, &Quant::gguf(f), MlaTensorLayout::Split);
                for &c in &contexts {
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
    if json_out {
        render::json(&json!({
            "estimates": n, "best_seconds": best, "per_estimate_us": best * 1e6 / n as f64,
            "repeat": a.repeat, "checksum": checksum,
        }))?;
    } else {
        println!(
            "self-bench: {} models × {} file types × {} contexts = {n} estimates in {:.1} ms (best of {}), {:.1} µs each",
            catalog().len(),
            ALL_FILE_TYPES.len(),
            contexts.len(),
            best * 1e3,
            a.repeat,
            best * 1e6 / n as f64
        );
    }
    Ok(())
}
