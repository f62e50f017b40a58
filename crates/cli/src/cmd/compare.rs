//! `canirun compare MODEL --hw NAME --hw NAME --hw api …`: setups side by
//! side — fit, speed, power, energy per token, electricity, purchase price,
//! amortised cost per million tokens and the break-even against the API.
//! Each column is one report of the core pipeline.

use crate::args::SettingsArgs;
use crate::inputs::{load_model, HardwareArgs, QuantArgs};
use crate::render::{self, or};
use anyhow::Result;
use canirun_core::cost::{self, BreakEven, PowerModel};
use canirun_core::memory::{verdict::Verdict, Backend};
use canirun_core::pipeline::{CostFlags, PowerRequest};
use canirun_core::search::compare::{compare, Comparison, Setup};
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

fn print_table(o: &Comparison, explain: bool) {
    let cur = o.kwh_price.currency.as_str();
    let mut header: Vec<&str> = vec![""];
    header.extend(o.setups.iter().map(|s| s.input.as_str()));
    if o.api.is_some() {
        header.push("api");
    }
    let mut t = render::table(&header);
    let mut row = |label: &str, f: &dyn Fn(&Setup) -> String, api: &str| {
        let mut r = vec![comfy_table::Cell::new(label)];
        r.extend(o.setups.iter().map(|s| render::right(f(s))));
        if o.api.is_some() {
            r.push(render::right(api));
        }
        t.add_row(r);
    };
    row(
        "hardware",
        &|s| s.report.hardware.label(),
        "DeepSeek API (R1)",
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
        "–",
    );
    row("decode (depth 0)", &|s| s.decode().to_string(), "–");
    row("prefill", &|s| s.prefill().to_string(), "–");
    row(
        "power decode / prefill",
        &|s| match s.power().map(|p| (&p.decode_power, &p.prefill_power)) {
            Some((Some(d), Some(p))) => format!("{} / {}", d.wall, p.wall),
            _ => "unknown".into(),
        },
        "–",
    );
    row(
        "heat (decode)",
        &|s| {
            let heat = s.power().and_then(|p| p.heat_btu_per_hour);
            or(heat.map(|b| format!("{b:.0} BTU/h")), "unknown")
        },
        "–",
    );
    row(
        "power supply",
        &|s| match s.power().map(|p| (p.psu, &p.decode_power)) {
            Some((Some(w), _)) => format!("{w}"),
            Some((None, Some(_))) => "built in".into(),
            _ => "unknown".into(),
        },
        "–",
    );
    row(
        "energy per token",
        &|s| or(s.power().and_then(|p| p.joules_per_token), "unknown"),
        "–",
    );
    row(
        &format!("electricity / 1M tok @ {} {cur}/kWh", o.kwh_price.amount),
        &|s| money(s.power().and_then(|p| p.electricity_per_m), cur),
        "–",
    );
    row(
        "purchase price",
        &|s| money(s.power().and_then(|p| p.purchase_usd), "USD"),
        "0",
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
        api_m.as_deref().unwrap_or_default(),
    );
    row(
        "break-even vs API",
        &|s| match s.power().and_then(|p| p.roi).map(|r| r.break_even) {
            Some(BreakEven::At(t)) => format!("{}/day", tokens(t)),
            Some(BreakEven::BeyondCapacity(t)) => {
                let capacity = tokens(s.decode().0 * 86_400.0);
                format!("{}/day > capacity {capacity}", tokens(t))
            }
            Some(BreakEven::Never) => "never".into(),
            None => "unknown".into(),
        },
        "–",
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
                let rows = pw.terms.iter().map(|t| (&t.label, t.watts, &t.formula));
                println!("{}", render::terms(&["term", "watts", "formula"], rows));
            }
        }
    }
    if explain {
        println!("\nmethod: {}", o.method);
        println!("electricity: energy per token × 1M ÷ 3.6 MJ/kWh × price; ROI counts generation energy only (not idle hours); hardware amortised straight-line over {} years of {} days", o.years, cost::money::DAYS_PER_YEAR);
    }
}
