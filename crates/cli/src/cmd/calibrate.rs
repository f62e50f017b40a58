//! `canirun calibrate`: fit this machine's effective bandwidth and compute
//! factors (`canirun_core::speed::local`) from its bench history, per engine.

use crate::cmd::bench::DbArgs;
use crate::inputs::HardwareArgs;
use crate::render;
use anyhow::{bail, Result};
use canirun_bench::{compare, history::StoredCalibration};
use canirun_core::speed::local;
use clap::Args;

/// Arguments of `canirun calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// Median of |error| in percent.
fn median_abs(mut e: Vec<f64>) -> f64 {
    e.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    e.get(e.len() / 2).map_or(0.0, |x| x.abs() * 100.0)
}

/// Fit and store.
pub fn run(a: &CalibrateArgs, json_out: bool) -> Result<()> {
    let fp = compare::machine_fingerprint(&a.hardware.target()?);
    let db = a.db.open()?;
    let runs: Vec<_> = db.list(Some(&fp), None)?.into_iter().map(|r| r.1).collect();
    let mut engines: Vec<&str> = runs.iter().map(|r| r.engine.as_str()).collect();
    engines.dedup();
    engines.sort();
    engines.dedup();
    if engines.is_empty() {
        bail!("no bench runs of this machine ({fp}) in the history: run `canirun bench` first");
    }
    let mut out = vec![];
    for engine in engines {
        let mine: Vec<_> = runs
            .iter()
            .filter(|r| r.engine == engine)
            .cloned()
            .collect();
        let points = compare::points(&mine);
        let c = local::fit(&points)?;
        let err = |p: &local::LocalPoint, f: f64| (p.predicted_with(f) - p.measured) / p.measured;
        let factor = |p: &local::LocalPoint| match p.phase {
            local::Phase::Decode => c.bandwidth_factor,
            local::Phase::Prefill => c.compute_factor,
        };
        let before = median_abs(points.iter().map(|p| err(p, 1.0)).collect());
        let after = median_abs(points.iter().map(|p| err(p, factor(p))).collect());
        let stored = StoredCalibration {
            bandwidth_factor: c.bandwidth_factor,
            compute_factor: c.compute_factor,
            decode_runs: c.decode_runs as u32,
            prefill_runs: c.prefill_runs as u32,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs() as i64;
        db.save_calibration(&fp, engine, &stored, now)?;
        if !json_out {
            println!("{engine} on {fp}: calibrated on {} local runs ({} decode, {} prefill): bandwidth ×{:.3}, compute ×{:.3}; median |error| {before:.1}% before, {after:.1}% after (refitted predictions of the same runs)",
                c.runs(), c.decode_runs, c.prefill_runs, c.bandwidth_factor, c.compute_factor);
        }
        out.push(serde_json::json!({ "engine": engine, "hardware": fp, "calibration": c, "median_abs_error_before_pct": before, "median_abs_error_after_pct": after }));
    }
    if json_out {
        render::json(&out)?;
    }
    Ok(())
}
