//! `canirun calibrate`: fit this machine's effective bandwidth and compute
//! factors (`canirun_core::speed::local`) from its bench history, per engine;
//! the fit and the store are `canirun_bench::session::calibrate`'s.

use crate::inputs::{DbArgs, HardwareArgs};
use crate::render;
use anyhow::Result;
use canirun_bench::session;
use canirun_core::speed::local::FACTOR_BOUNDS;
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
    let fits = session::calibrate(&a.db.path(), &a.hardware.target()?)?.fits;
    for f in &fits {
        if f.calibration.at_bound() {
            eprintln!("warning: a factor is at its bound ({:?}): the hardware canirun assumed is far from this machine; name it with --gpu", FACTOR_BOUNDS);
        }
        if !json_out {
            println!("{f}");
        }
    }
    if json_out {
        render::json(&fits)?;
    }
    Ok(())
}
