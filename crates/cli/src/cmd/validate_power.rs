//! `canirun validate power FILE.csv`: predicted energy per token against the
//! whole-system rows of power.csv (core::validate::power compares; this file
//! reads the CSV and renders).

use crate::render;
use anyhow::{Context, Result};
use canirun_core::cost::PowerModel;
use canirun_core::hardware::Catalog;
use canirun_core::speed::Calibration;
use canirun_core::units::Watts;
use canirun_core::validate::power;
use std::path::Path;

/// Run `canirun validate power`.
pub fn run(file: &Path, json: bool) -> Result<()> {
    let text = crate::inputs::read_text(file, "; pass a CSV with the columns of ../shared/data/power.csv (a copy is crates/core/data/power.csv)")?;
    let pm = PowerModel::embedded()?;
    let cal = Calibration::embedded()?;
    let cat = Catalog::embedded().context("loading the embedded hardware catalog")?;
    let rep = power::validate(&text, pm, cal, cat).with_context(|| file.display().to_string())?;
    if json {
        return render::print_json_report(&rep, &rep.summary);
    }
    println!("energy per token, canirun vs power.csv (whole-system wall power). predicted J/token = predicted wall power ÷ the row's measured tok/s; 'own speed' divides by canirun's predicted tok/s instead");
    let mut t = render::table(&[
        "line",
        "hardware | model",
        "tok/s meas / pred",
        "W meas / pred",
        "J/tok meas",
        "J/tok pred",
        "error",
        "J/tok own speed",
        "interpreted as",
    ]);
    for r in &rep.rows {
        t.add_row(vec![
            render::right(r.line),
            comfy_table::Cell::new(format!("{} | {}", r.hardware, r.model)),
            render::right(format!("{:.1} / {:.1}", r.measured_tps, r.predicted_tps)),
            render::right(format!("{:.0} / {}", r.measured_w, Watts(r.predicted_w))),
            render::right(format!("{:.2}", r.measured_j_per_token)),
            render::right(format!("{:.2}", r.predicted_j_per_token)),
            render::right(format!("{:+.1}%", r.err_pct)),
            render::right(format!("{:.2}", r.predicted_j_per_token_own_speed)),
            comfy_table::Cell::new(&r.interpreted_as),
        ]);
    }
    println!("{t}");
    render::print_skipped(&rep.skipped);
    println!("method: {}", rep.method);
    println!("{}", rep.summary.line());
    Ok(())
}
