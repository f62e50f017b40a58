//! `canirun compare MODEL --hw NAME --hw NAME --hw api …`: setups side by
//! side — fit, speed, power, energy per token, electricity, purchase price,
//! amortised cost per million tokens and the break-even against the API.

use crate::render;
use anyhow::{bail, Context, Result};
use canirun_core::cost::{
    self, energy_per_token, heat_btu_per_hour, loads_for, psu_size, roi, wall_power, ApiPrice,
    BreakEven, KwhPrice, Phase, PowerEstimate, PowerModel, Roi, RoiInput,
};
use canirun_core::hardware::{metal_working_set, DeviceKind};
use canirun_core::memory::{llama_cpp, RunSettings};
use canirun_core::model::{self, MlaTensorLayout};
use canirun_core::quant::{weights, Quant};
use canirun_core::speed::{decode, default_backend, prefill, Calibration, ModelCost};
use canirun_core::units::{Bytes, Joules, TokensPerSecond, Watts};
use clap::Args;
use serde::Serialize;

/// Arguments of `canirun compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Model: catalog name, Ollama tag or Hugging Face id (e.g. deepseek-r1:70b).
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// A setup per flag: `mac-studio-m3-ultra-256`, `2x4090`, `api` (the API price column).
    #[arg(
        long = "hw",
        visible_alias = "gpu",
        value_name = "NAME",
        required = true
    )]
    pub hw: Vec<String>,
    /// Quantization (default: the one in the model name, else Q4_K_M).
    #[arg(short = 'q', long = "quant", value_name = "QUANT")]
    pub quant: Option<String>,
    /// Context size for the memory check.
    #[arg(short = 'c', long = "ctx-size", value_name = "N", default_value_t = 4096, value_parser = crate::args::parse_ctx_given)]
    pub ctx: u64,
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

/// One local setup's column.
#[derive(Debug, Serialize)]
struct Local {
    input: String,
    hardware: String,
    memory_needed: Bytes,
    memory_available: Bytes,
    fits: bool,
    decode: TokensPerSecond,
    prefill: TokensPerSecond,
    decode_power: Option<PowerEstimate>,
    prefill_power: Option<PowerEstimate>,
    heat_btu_per_hour: Option<f64>,
    psu: Option<Watts>,
    joules_per_token: Option<Joules>,
    electricity_per_m: Option<f64>,
    purchase_usd: Option<f64>,
    roi: Option<Roi>,
    notes: Vec<String>,
}

/// The API column.
#[derive(Debug, Serialize)]
struct Api {
    price: ApiPrice,
    usd_per_m_generated: f64,
    source: &'static str,
}

#[derive(Debug, Serialize)]
struct CompareOut {
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

fn positive(what: &str, v: f64) -> Result<f64> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{what} {v}: must be a positive number");
    }
    Ok(v)
}

/// Run `canirun compare`.
pub fn run(a: &CompareArgs, json: bool) -> Result<()> {
    let pm = PowerModel::embedded()?;
    let d = &pm.defaults;
    let kwh = match &a.kwh_price {
        Some(s) => KwhPrice::parse(s, &d.kwh_currency)?,
        None => KwhPrice {
            amount: d.kwh_price,
            currency: d.kwh_currency.clone(),
        },
    };
    let years = positive("--years", a.years.unwrap_or(d.years))?;
    let tpd = positive(
        "--tokens-per-day",
        a.tokens_per_day.unwrap_or(d.tokens_per_day),
    )?;
    if !(a.input_per_output.is_finite() && a.input_per_output >= 0.0) {
        bail!(
            "--input-per-output {}: must be zero or positive",
            a.input_per_output
        );
    }
    let api = ApiPrice::new(
        a.api_price_in.unwrap_or(d.api_price_in),
        a.api_price_out.unwrap_or(d.api_price_out),
    )?;
    let api_per_m = api.per_million_generated(a.input_per_output);

    let cal = Calibration::embedded()?;
    let r = model::resolve(&a.model)?;
    let spec = r.entry.spec();
    let qname = a
        .quant
        .clone()
        .or(r.quant.clone())
        .unwrap_or_else(|| "Q4_K_M".to_string());
    let q = Quant::parse(&qname).map_err(|e| anyhow::anyhow!("{e}"))?;
    let w = weights(&spec, &q, MlaTensorLayout::Split);
    let mcost = ModelCost::with_settings(&spec, &w, &RunSettings::default());

    let mut setups = Vec::new();
    let mut api_col = None;
    for name in &a.hw {
        if name.trim().eq_ignore_ascii_case("api") {
            api_col = Some(Api {
                price: api,
                usd_per_m_generated: api_per_m,
                source: API_SOURCE,
            });
            continue;
        }
        let (p, hw, set) = crate::hwplace::speed_placement(&[name], false, &mcost, cal)
            .with_context(|| format!("--hw {name}"))?;
        let mut notes = Vec::new();
        // Memory: llama.cpp's whole breakdown against the set's memory (for
        // a Mac, the GPU's default working set). Several GPUs: summed, an
        // approximation (each also holds its own compute buffer).
        let (dev0, _) = &set.devices[0];
        let settings = RunSettings {
            n_ctx: a.ctx,
            backend: default_backend(dev0),
            ..RunSettings::default()
        };
        let need = llama_cpp::estimate(&spec, &w, &settings)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .total();
        let avail: Bytes = set
            .devices
            .iter()
            .filter_map(|(d, n)| {
                d.usable_memory().map(|m| {
                    let m = if d.kind == DeviceKind::AppleSoc {
                        metal_working_set(m)
                    } else {
                        m
                    };
                    m * u64::from(*n)
                })
            })
            .sum();
        if set.count() > 1 {
            notes.push(
                "memory summed over the devices (each also needs its own compute buffer)".into(),
            );
        }
        let fits = need <= avail;
        let dec = decode(&p, 0, cal)?;
        let pre = prefill(&p, a.prompt, 0, cal).ok();
        let loads = loads_for(&set, &p, 0, cal)?;
        let dpow = match wall_power(pm, &loads, Phase::Decode) {
            Ok(x) => Some(x),
            Err(e) => {
                notes.push(e.to_string());
                None
            }
        };
        let ppow = wall_power(pm, &loads, Phase::Prefill).ok();
        let jpt = dpow
            .as_ref()
            .and_then(|pw| energy_per_token(pw.wall, dec.rate));
        // Prompt tokens add their prefill energy to each generated token.
        let jpt = match (jpt, &ppow, &pre) {
            (Some(j), Some(pp), Some(pr)) if a.input_per_output > 0.0 => {
                energy_per_token(pp.wall, pr.rate).map(|jp| Joules(j.0 + jp.0 * a.input_per_output))
            }
            (j, ..) => j,
        };
        let elec = jpt.map(|j| kwh.per_million_tokens(j));
        let purchase: Option<f64> = set
            .devices
            .iter()
            .map(|(d, n)| d.price_usd.map(|p| p * f64::from(*n)))
            .sum();
        match purchase {
            None => {
                notes.push("purchase price: not in the catalog for this device, so no ROI".into())
            }
            Some(_) if set.devices.iter().any(|(d, _)| d.kind == DeviceKind::Gpu) => {
                notes.push("purchase price: GPUs only, the host PC is not included".into())
            }
            Some(_) => {}
        }
        let energy_usd = if kwh.currency == "USD" { elec } else { None };
        if kwh.currency != "USD" {
            notes.push(format!(
                "ROI needs USD: electricity is priced in {}, hardware and API in USD",
                kwh.currency
            ));
        }
        let roi = roi(&RoiInput {
            purchase_usd: purchase,
            years,
            tokens_per_day: tpd,
            energy_usd_per_m: energy_usd,
            api_usd_per_m: api_per_m,
            capacity_tokens_per_day: dec.rate.0 * 86_400.0,
        })?;
        if !fits {
            notes.push(format!(
                "does not fit: needs {need}, has {avail}; speeds assume it did"
            ));
        }
        setups.push(Local {
            input: name.clone(),
            hardware: hw,
            memory_needed: need,
            memory_available: avail,
            fits,
            decode: dec.rate,
            prefill: pre.as_ref().map(|x| x.rate).unwrap_or_default(),
            heat_btu_per_hour: dpow.as_ref().map(|x| heat_btu_per_hour(x.wall)),
            psu: psu_size(pm, &loads),
            decode_power: dpow,
            prefill_power: ppow,
            joules_per_token: jpt,
            electricity_per_m: elec,
            purchase_usd: purchase,
            roi,
            notes,
        });
    }
    let out = CompareOut {
        model: spec.name.clone(),
        quant: q.to_string(),
        ctx: a.ctx,
        kwh_price: kwh,
        years,
        tokens_per_day: tpd,
        input_per_output: a.input_per_output,
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
        &|s| s.hardware.clone(),
        api_cell("DeepSeek API (R1)"),
    );
    row(
        &format!("fits ({} ctx)", o.ctx),
        &|s| {
            format!(
                "{} {:.0}/{:.0} GiB",
                if s.fits { "yes" } else { "NO" },
                s.memory_needed.as_gib(),
                s.memory_available.as_gib()
            )
        },
        api_cell("–"),
    );
    row("decode (depth 0)", &|s| s.decode.to_string(), api_cell("–"));
    row("prefill", &|s| s.prefill.to_string(), api_cell("–"));
    row(
        "power decode / prefill",
        &|s| match (&s.decode_power, &s.prefill_power) {
            (Some(d), Some(p)) => format!("{} / {}", d.wall, p.wall),
            _ => "unknown".into(),
        },
        api_cell("–"),
    );
    row(
        "heat (decode)",
        &|s| {
            s.heat_btu_per_hour
                .map(|b| format!("{b:.0} BTU/h"))
                .unwrap_or_else(|| "unknown".into())
        },
        api_cell("–"),
    );
    row(
        "power supply",
        &|s| match (s.psu, &s.decode_power) {
            (Some(w), _) => format!("{w}"),
            (None, Some(_)) => "built in".into(),
            _ => "unknown".into(),
        },
        api_cell("–"),
    );
    row(
        "energy per token",
        &|s| {
            s.joules_per_token
                .map(|j| j.to_string())
                .unwrap_or_else(|| "unknown".into())
        },
        api_cell("–"),
    );
    row(
        &format!("electricity / 1M tok @ {} {cur}/kWh", o.kwh_price.amount),
        &|s| money(s.electricity_per_m, cur),
        api_cell("–"),
    );
    row(
        "purchase price",
        &|s| money(s.purchase_usd, "USD"),
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
        &|s| money(s.roi.map(|r| r.local_usd_per_m), "USD"),
        api_m,
    );
    row(
        "break-even vs API",
        &|s| match s.roi.map(|r| r.break_even) {
            Some(BreakEven::At(t)) => format!("{}/day", tokens(t)),
            Some(BreakEven::BeyondCapacity(t)) => {
                format!(
                    "{}/day > capacity {}",
                    tokens(t),
                    tokens(s.decode.0 * 86_400.0)
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
            a.price.input_per_m, a.price.output_per_m, o.input_per_output, a.source
        );
    }
    for s in &o.setups {
        for n in &s.notes {
            println!("note: {}: {n}", s.input);
        }
        if explain {
            for pw in [&s.decode_power, &s.prefill_power].into_iter().flatten() {
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
