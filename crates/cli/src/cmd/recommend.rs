//! `canirun recommend` (and `canirun` with no model): every R1 variant ×
//! quantization × context that runs on the hardware, ranked by quality, then
//! speed. Quality comes from published data only (`canirun_core::quality`).

use crate::args::SettingsArgs;
use crate::inputs::HardwareArgs;
use crate::render::{self, or};
use anyhow::Result;
use canirun_core::search::recommend::{recommend, RecommendRequest};
use clap::Args;

/// Arguments of `canirun recommend`.
#[derive(Args, Debug, Default)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub hardware: HardwareArgs,
    /// Only setups generating at least this many tokens per second.
    #[arg(long = "min-tps", value_name = "TOK/S")]
    pub min_tps: Option<f64>,
    /// Only setups with at least this context.
    #[arg(long = "min-ctx", value_name = "N", default_value_t = 4096)]
    pub min_ctx: u64,
    /// Model family (deepseek-r1 by default).
    #[arg(long, default_value = "deepseek-r1")]
    pub family: String,
    /// How many picks to show.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// Rank every option that runs.
pub fn run(a: &RecommendArgs, json_out: bool) -> Result<()> {
    let hw = a.hardware.target()?;
    let settings = SettingsArgs::default().settings_on(hw.backend);
    let req = RecommendRequest {
        min_tps: a.min_tps,
        min_ctx: a.min_ctx,
        family: a.family.clone(),
        top: a.top,
    };
    let res = recommend(&hw, &settings, &req)?;
    let top = &res.picks;
    if json_out {
        render::json(&serde_json::json!({
            "schema": canirun_core::pipeline::SCHEMA, "hardware": hw, "considered": res.considered, "runnable": res.runnable, "picks": top,
        }))?;
        return Ok(());
    }
    println!("hardware: {}", hw.description);
    if top.is_empty() {
        println!("nothing in the {} family runs here with at least {} context{}; try `canirun plan deepseek-r1:7b` to see what hardware would",
            a.family, a.min_ctx, a.min_tps.map(|t| format!(" and {t} tok/s")).unwrap_or_default());
        return Ok(());
    }
    let mut t = render::table(&[
        "#",
        "model",
        "quant",
        "context",
        "tok/s",
        "memory",
        "placement",
        "quality",
    ]);
    for (i, p) in top.iter().enumerate() {
        t.add_row(vec![
            render::right(i + 1),
            comfy_table::Cell::new(p.ollama.clone().unwrap_or_else(|| p.model.clone())),
            comfy_table::Cell::new(&p.quant),
            render::right(p.context),
            render::right(or(p.decode_tps.map(|t| format!("{t:.1}")), "–")),
            render::right(p.memory),
            comfy_table::Cell::new(&p.placement),
            comfy_table::Cell::new(format!("tier {:?}, score {:.1}", p.tier, p.model_score)),
        ]);
    }
    println!("{t}");
    for (i, p) in top.iter().enumerate() {
        println!("{}. {}", i + 1, p.why);
    }
    println!(
        "{} options considered, {} run here. Ranking: whole model on the GPU (or in RAM on a CPU-only machine) first, quantizations with KLD < 0.15 next, then the model's published benchmarks, then the quantization tier, then speed.",
        res.considered,
        res.runnable
    );
    Ok(())
}
