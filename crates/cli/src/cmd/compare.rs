//! `canirun compare MODEL --hw NAME --hw NAME --hw api …`: setups side by
//! side — fit, speed, power, energy per token, electricity, purchase price,
//! amortised cost per million tokens and the break-even against the API.
//! Each column is one report of the core pipeline.

use crate::args::SettingsArgs;
use crate::inputs::{load_model, HardwareArgs, QuantArgs};
use crate::render;
use anyhow::Result;
use canirun_core::cost::PowerModel;
use canirun_core::memory::Backend;
use canirun_core::pipeline::{CostFlags, PowerRequest};
use canirun_core::search::compare::compare;
use canirun_core::units::Bytes;
use clap::Args;

/// Arguments of `canirun compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Model: catalog name, Ollama tag or Hugging Face id (e.g. deepseek-r1:70b).
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// A setup per flag: `mac-studio-m3-ultra-256`, `2x4090`, `"4090 + epyc-9004-12ch-ddr5-4800"`, `api` (the API price column).
    #[arg(
        long = "hw",
        visible_alias = "gpu",
        value_name = "NAME",
        required = true
    )]
    pub hw: Vec<String>,
    /// System RAM of every setup (experts or layers in RAM), e.g. 384GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::args::parse_size)]
    pub ram: Option<Bytes>,
    #[command(flatten)]
    pub quant: QuantArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Prompt length for prefill speed.
    #[arg(short = 'p', long = "prompt", value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub prompt: u64,
    /// Electricity price per kWh, with an optional currency: 0.17, 0.17 USD, 0.29 EUR (default: US residential average, see --explain).
    #[arg(long = "kwh-price", value_name = "PRICE", allow_hyphen_values = true)]
    pub kwh_price: Option<String>,
    /// Amortisation period of the purchase, years (default 3).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub years: Option<f64>,
    /// Generated tokens per day for the amortised cost (default 1000000).
    #[arg(long = "tokens-per-day", value_name = "N", allow_hyphen_values = true)]
    pub tokens_per_day: Option<f64>,
    /// API input price, USD per 1M tokens (default: DeepSeek R1, 0.55).
    #[arg(long = "api-price-in", value_name = "USD", allow_hyphen_values = true)]
    pub api_price_in: Option<f64>,
    /// API output price, USD per 1M tokens (default: DeepSeek R1, 2.19).
    #[arg(long = "api-price-out", value_name = "USD", allow_hyphen_values = true)]
    pub api_price_out: Option<f64>,
    /// Prompt tokens billed per generated token (API input cost and local prefill energy).
    #[arg(
        long = "input-per-output",
        value_name = "R",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub input_per_output: f64,
    /// Your price for a part, replacing the price file's: `--price 4090=1600`, `--price motherboard=900`, `--price ram=6000` (USD; repeatable).
    #[arg(long = "price", value_name = "PART=USD")]
    pub prices: Vec<String>,
    /// Show the power terms and the method.
    #[arg(long)]
    pub explain: bool,
}

/// Run `canirun compare`.
pub fn run(a: &CompareArgs, json: bool) -> Result<()> {
    PowerModel::embedded()?;
    let pr = PowerRequest::from_flags(&CostFlags {
        kwh: a.kwh_price.as_deref(),
        years: a.years,
        tokens_per_day: a.tokens_per_day,
        api_in: a.api_price_in,
        api_out: a.api_price_out,
        input_per_output: a.input_per_output,
        prices: &a.prices,
    })?;
    let model = load_model(&a.model, &a.quant, &a.settings, false)?;
    let is_api = |name: &String| name.trim().eq_ignore_ascii_case("api");
    let setups =
        a.hw.iter()
            .filter(|n| !is_api(n))
            .map(|n| Ok((n.clone(), HardwareArgs::named(n, a.ram)?)))
            .collect::<Result<Vec<_>>>()?;
    let settings = a.settings.settings_on(Backend::Cuda);
    let api = a.hw.iter().any(is_api);
    let out = compare(
        &model,
        &settings,
        a.settings.backend,
        a.prompt,
        &pr,
        &setups,
        api,
    )?;
    if json {
        return render::json(&out);
    }
    render::text(&canirun_core::text::compare::text(&out, a.explain));
    Ok(())
}
