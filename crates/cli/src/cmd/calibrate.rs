//! `canirun calibrate`: fit this machine's effective bandwidth and compute
//! factors (`canirun_core::speed::local`) from its bench history, per engine.

use crate::cmd::bench::DbArgs;
use crate::inputs::HardwareArgs;
use crate::render;
use anyhow::{bail, Result};
use canirun_bench::{compare, history::StoredCalibration};
use clap::Args;

/// Arguments of `canirun calibrate`.
#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// Fit, store and print.
pub fn run(a: &CalibrateArgs, json_out: bool) -> Result<()> {
    let fp = compare::machine_fingerprint(&a.hardware.target()?);
    let db = a.db.open()?;
    let runs: Vec<_> = db.list(Some(&fp), None)?.into_iter().map(|r| r.1).collect();
    if runs.is_empty() {
        bail!("no bench runs of this machine ({fp}) in the history: run `canirun bench` first");
    }
    let fits = compare::fit_engines(&fp, &runs)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    for f in &fits {
        let c = &f.calibration;
        let stored = StoredCalibration::from(*c);
        db.save_calibration(&fp, &f.engine, &stored, now.as_secs() as i64)?;
        if c.at_bound() {
            eprintln!("warning: a factor is at its bound ({:?}): the hardware canirun assumed is far from this machine; name it with --gpu", canirun_core::speed::local::FACTOR_BOUNDS);
        }
        if !json_out {
            println!("{} on {fp}: calibrated on {} local runs ({} decode, {} prefill): bandwidth ×{:.3}, compute ×{:.3}; median |error| {:.1}% before, {:.1}% after (the same runs predicted again)",
                f.engine, c.runs(), c.decode_runs, c.prefill_runs, c.bandwidth_factor, c.compute_factor, f.median_abs_error_before_pct, f.median_abs_error_after_pct);
        }
    }
    if json_out {
        render::json(&fits)?;
    }
    Ok(())
}
