//! `canirun plan MODEL --min-tps N -c N [--budget USD] [--max-power W]`: the
//! core's catalog search (`canirun_core::search::plan`), rendered.

use crate::args::SettingsArgs;
use crate::inputs::{load_model, QuantArgs};
use crate::render;
use anyhow::Result;
use canirun_core::search::plan::{plan, PlanRequest};
use clap::Args;
use std::time::Instant;

/// Arguments of `canirun plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The model, e.g. deepseek-r1:671b.
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Target generation speed at the full context, tokens per second.
    #[arg(long = "min-tps", value_name = "TOK/S", default_value_t = 10.0)]
    pub min_tps: f64,
    /// Context the setup must hold (32k, 128k accepted).
    #[arg(short = 'c', long = "ctx-size", value_name = "N", default_value = "32768", value_parser = canirun_core::flags::parse_ctx_given)]
    pub ctx: u64,
    /// Most you will spend, in USD (setups with an unknown price are kept, marked).
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Most power the setup may draw (sum of TDPs), in watts.
    #[arg(long = "max-power", value_name = "W")]
    pub max_power: Option<f64>,
    #[command(flatten)]
    pub quant: QuantArgs,
    /// Your price for a part, replacing the price file's: `--price 4090=1600`, `--price motherboard=900` (USD; repeatable).
    #[arg(long = "price", value_name = "PART=USD", value_parser = |s: &str| canirun_core::cost::PriceOverride::parse(s).map_err(|e| e.to_string()))]
    pub prices: Vec<canirun_core::cost::PriceOverride>,
    /// Setups to list per ranking.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// Run `canirun plan`.
pub fn run(a: &PlanArgs, json_out: bool) -> Result<()> {
    let t0 = Instant::now();
    let model = load_model(&a.model, &a.quant, &SettingsArgs::default(), false)?;
    let req = PlanRequest {
        min_tps: a.min_tps,
        ctx: a.ctx,
        budget: a.budget,
        max_power: a.max_power,
        top: a.top,
        prices: a.prices.clone(),
    };
    let res = plan(&model, &req)?;
    let elapsed = t0.elapsed().as_secs_f64();
    if json_out {
        render::json(&serde_json::json!({
            "schema": canirun_core::pipeline::SCHEMA,
            "model": model.info, "quant": model.quant_label, "request": req,
            "result": res, "seconds": elapsed,
            "notes": canirun_core::search::plan::NOTES,
        }))?;
        return Ok(());
    }
    let text =
        canirun_core::text::plan::plan(&model.spec.name, &model.quant_label, &req, &res, elapsed);
    render::text(&text);
    Ok(())
}
