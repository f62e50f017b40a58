//! `canirun compare MODEL --hw NAME --hw NAME --hw api …`: setups side by
//! side — fit, speed, power, energy per token, electricity, purchase price,
//! amortised cost per million tokens and the break-even against the API.
//! Each column is one report of the core pipeline.

use crate::args::SettingsArgs;
use crate::inputs::{load_model, request, EngineArgs, HardwareArgs, QuantArgs};
use crate::render;
use anyhow::Result;
use canirun_core::cost::{self, BreakEven, KwhPrice, PowerModel};
use canirun_core::memory::verdict::Verdict;
use canirun_core::pipeline::{estimate, CostFlags, PowerReport, PowerRequest, Report};
use canirun_core::units::{Bytes, TokensPerSecond};
use clap::Args;
use serde::Serialize;

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
    /// Show the power terms and the method.
    #[arg(long)]
    pub explain: bool,
}

/// One local setup's column: the input and its report.
#[derive(Debug, Serialize)]
struct Local {
    input: String,
    report: Report,
}

impl Local {
    fn power(&self) -> Option<&PowerReport> {
        self.report.power.as_ref()
    }
    fn decode(&self) -> TokensPerSecond {
        self.report
            .speed
            .report()
            .map(|s| s.decode_first().rate)
            .unwrap_or_default()
    }
    fn prefill(&self) -> TokensPerSecond {
        self.report
            .speed
            .report()
            .and_then(|s| s.prefill.as_ref().map(|p| p.rate))
            .unwrap_or_default()
    }
    fn capacity(&self) -> Bytes {
        let p = self.report.placement.as_ref();
        p.map(|p| p.devices.iter().filter_map(|d| d.capacity).sum())
            .unwrap_or_default()
    }
}

/// The API column.
#[derive(Debug, Serialize)]
struct Api {
    input_per_m: f64,
    output_per_m: f64,
    usd_per_m_generated: f64,
    source: &'static str,
}

#[derive(Debug, Serialize)]
struct CompareOut {
    schema: u32,
    model: String,
    quant: String,
    ctx: u64,
    kwh_price: KwhPrice,
    years: f64,
    tokens_per_day: f64,
    input_per_output: f64,
    setups: Vec<Local>,
    api: Option<Api>,
    method: &'static str,
}

const API_SOURCE: &str = "DeepSeek API deepseek-reasoner (R1), api-docs.deepseek.com/quick_start/pricing-details-usd, R1-era snapshot (crates/core/data/prices.csv)";

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
    })?;
    let model = load_model(&a.model, &a.quant, &a.settings, false)?;
    let mut setups = Vec::new();
    let mut api_col = None;
    for name in &a.hw {
        if name.trim().eq_ignore_ascii_case("api") {
            api_col = Some(Api {
                input_per_m: pr.api.input_per_m,
                output_per_m: pr.api.output_per_m,
                usd_per_m_generated: pr.api.per_million_generated(pr.input_per_output),
                source: API_SOURCE,
            });
            continue;
        }
        let hw = HardwareArgs::named(name, a.ram)?;
        let engine = EngineArgs::default().engine(&Default::default())?;
        let mut req = request(&model, &hw, &a.settings, engine);
        req.workload.prompt = a.prompt;
        req.power = Some(pr.clone());
        req.commands.runners.clear();
        setups.push(Local {
            input: name.clone(),
            report: estimate(&req)?,
        });
    }
    let out = CompareOut {
        schema: canirun_core::pipeline::SCHEMA,
        model: model.spec.name.clone(),
        quant: model.quant_label.clone(),
        ctx: a.settings.ctx,
        kwh_price: pr.kwh.clone(),
        years: pr.years,
        tokens_per_day: pr.tokens_per_day,
        input_per_output: pr.input_per_output,
        setups,
        api: api_col,
        method: cost::METHOD,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    print_table(&out, a.explain);
    Ok(())
}

fn money(v: Option<f64>, cur: &str) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0} {cur}"),
        Some(x) => format!("{x:.2} {cur}"),
        None => "unknown".into(),
    }
}

fn tokens(t: f64) -> String {
    if t >= 1e6 {
        format!("{:.1}M", t / 1e6)
    } else {
        format!("{:.0}K", t / 1e3)
    }
}

fn print_table(o: &CompareOut, explain: bool) {
    let cur = o.kwh_price.currency.as_str();
    let mut header: Vec<String> = vec!["".into()];
    header.extend(o.setups.iter().map(|s| s.input.clone()));
    if o.api.is_some() {
        header.push("api".into());
    }
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = render::table(&hdr);
    let api_cell = |s: &str| -> Option<String> { o.api.as_ref().map(|_| s.to_string()) };
    let mut row = |label: &str, f: &dyn Fn(&Local) -> String, api: Option<String>| {
        let mut r = vec![comfy_table::Cell::new(label)];
        r.extend(o.setups.iter().map(|s| render::right(f(s))));
        if let Some(x) = api {
            r.push(render::right(x));
        }
        t.add_row(r);
    };
    row(
        "hardware",
        &|s| s.report.hardware.label(),
        api_cell("DeepSeek API (R1)"),
    );
    row(
        &format!("fits ({} ctx)", o.ctx),
        &|s| {
            format!(
                "{} {:.0}/{:.0} GiB",
                match s.report.verdict {
                    Verdict::Fits { .. } => "yes",
                    Verdict::FitsOffloaded { .. } => "part in RAM",
                    Verdict::DoesNotFit { .. } => "NO",
                    Verdict::Unknown => "?",
                },
                s.report.memory_needed().as_gib(),
                s.capacity().as_gib()
            )
        },
        api_cell("–"),
    );
    row(
        "decode (depth 0)",
        &|s| s.decode().to_string(),
        api_cell("–"),
    );
    row("prefill", &|s| s.prefill().to_string(), api_cell("–"));
    row(
        "power decode / prefill",
        &|s| match (
            s.power().and_then(|p| p.decode_power.as_ref()),
            s.power().and_then(|p| p.prefill_power.as_ref()),
        ) {
            (Some(d), Some(p)) => format!("{} / {}", d.wall, p.wall),
            _ => "unknown".into(),
        },
        api_cell("–"),
    );
    row(
        "heat (decode)",
        &|s| {
            s.power()
                .and_then(|p| p.heat_btu_per_hour)
                .map(|b| format!("{b:.0} BTU/h"))
                .unwrap_or_else(|| "unknown".into())
        },
        api_cell("–"),
    );
    row(
        "power supply",
        &|s| match (
            s.power().and_then(|p| p.psu),
            s.power().and_then(|p| p.decode_power.as_ref()),
        ) {
            (Some(w), _) => format!("{w}"),
            (None, Some(_)) => "built in".into(),
            _ => "unknown".into(),
        },
        api_cell("–"),
    );
    row(
        "energy per token",
        &|s| {
            s.power()
                .and_then(|p| p.joules_per_token)
                .map(|j| j.to_string())
                .unwrap_or_else(|| "unknown".into())
        },
        api_cell("–"),
    );
    row(
        &format!("electricity / 1M tok @ {} {cur}/kWh", o.kwh_price.amount),
        &|s| money(s.power().and_then(|p| p.electricity_per_m), cur),
        api_cell("–"),
    );
    row(
        "purchase price",
        &|s| money(s.power().and_then(|p| p.purchase_usd), "USD"),
        api_cell("0"),
    );
    let api_m = o
        .api
        .as_ref()
        .map(|a| format!("{:.2} USD", a.usd_per_m_generated));
    row(
        &format!(
            "cost / 1M tok @ {}/day, {} y",
            tokens(o.tokens_per_day),
            o.years
        ),
        &|s| {
            money(
                s.power().and_then(|p| p.roi).map(|r| r.local_usd_per_m),
                "USD",
            )
        },
        api_m,
    );
    row(
        "break-even vs API",
        &|s| match s.power().and_then(|p| p.roi).map(|r| r.break_even) {
            Some(BreakEven::At(t)) => format!("{}/day", tokens(t)),
            Some(BreakEven::BeyondCapacity(t)) => {
                format!(
                    "{}/day > capacity {}",
                    tokens(t),
                    tokens(s.decode().0 * 86_400.0)
                )
            }
            Some(BreakEven::Never) => "never".into(),
            None => "unknown".into(),
        },
        api_cell("–"),
    );
    println!(
        "{} {} — local setups vs API; tokens are generated tokens",
        o.model, o.quant
    );
    println!("{t}");
    if let Some(a) = &o.api {
        println!(
            "api: {:.2} USD/1M input, {:.2} USD/1M output, {:.2} input tokens per output token ({})",
            a.input_per_m, a.output_per_m, o.input_per_output, a.source
        );
    }
    for s in &o.setups {
        let r = &s.report;
        let power_notes = s.power().map(|p| p.notes.clone()).unwrap_or_default();
        for n in r.warnings.iter().chain(&power_notes) {
            println!("note: {}: {n}", s.input);
        }
        if let canirun_core::pipeline::Speed::NotEstimated { reason } = &r.speed {
            println!("note: {}: speed not estimated: {reason}", s.input);
        }
        if explain {
            let phases = s
                .power()
                .map(|p| [p.decode_power.as_ref(), p.prefill_power.as_ref()])
                .unwrap_or_default();
            for pw in phases.into_iter().flatten() {
                println!("\n{} power, {:?}:", s.input, pw.phase);
                let mut t = render::table(&["term", "watts", "formula"]);
                for term in &pw.terms {
                    t.add_row(vec![
                        comfy_table::Cell::new(&term.label),
                        render::right(term.watts),
                        comfy_table::Cell::new(&term.formula),
                    ]);
                }
                println!("{t}");
            }
        }
    }
    if explain {
        println!("\nmethod: {}", o.method);
        println!("electricity: energy per token × 1M ÷ 3.6 MJ/kWh × price; ROI counts generation energy only (not idle hours); hardware amortised straight-line over {} years of {} days", o.years, cost::money::DAYS_PER_YEAR);
    }
}
