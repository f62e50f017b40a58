//! `canirun history`: the runs `canirun bench` kept for this machine.

use crate::inputs::{DbArgs, HardwareArgs};
use crate::render;
use anyhow::Result;
use clap::Args;

/// Arguments of `canirun history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Every machine's runs, not only this one's.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// List the runs.
pub fn run(a: &HistoryArgs, json_out: bool) -> Result<()> {
    let target = (!a.all).then(|| a.hardware.target()).transpose()?;
    let runs = canirun_bench::session::list(&a.db.path(), target.as_ref())?;
    if json_out {
        let v: Vec<_> = runs
            .iter()
            .map(|(id, r)| serde_json::json!({ "id": id, "run": r }))
            .collect();
        return render::json(&v);
    }
    let mut t = render::table(&[
        "id",
        "hardware",
        "engine",
        "model",
        "test",
        "prompt",
        "measured tok/s",
        "predicted",
    ]);
    for (id, r) in &runs {
        t.add_row(vec![
            id.to_string(),
            r.meta.fingerprint.clone(),
            format!("{} {}", r.meta.engine, r.meta.engine_version),
            format!("{} {}", r.meta.model, r.meta.quant),
            r.test.clone(),
            r.prompt_tokens.to_string(),
            format!("{:.2} ± {:.2}", r.measured_tps, r.spread_tps),
            render::or(r.predicted_tps.map(|p| format!("{p:.2}")), "-"),
        ]);
    }
    println!("{t}\n{} runs", runs.len());
    Ok(())
}
