//! `canirun speed MODEL --gpu NAME [-c N] [-q QUANT] [--depths 0,4096,…]`:
//! prefill and decode speed over context depths, time to first token, and
//! the time to a full R1 answer.

use crate::render;
use anyhow::Result;
use canirun_core::memory::RunSettings;
use canirun_core::model::{self, MlaTensorLayout};
use canirun_core::quant::{weights, Quant};
use canirun_core::speed::{
    self, answer_time, decode, prefill, Calibration, Estimate, ModelCost, Placement,
};
use canirun_core::units::Seconds;
use clap::Args;
use serde::Serialize;

/// Arguments of `canirun speed`.
#[derive(Args, Debug)]
pub struct SpeedArgs {
    /// Model: catalog name, Ollama tag or Hugging Face id (e.g. deepseek-r1:70b, r1).
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Hardware: `4090`, `2x4090`, `m3-ultra-512`, `epyc-9654 + 4090` (with --cpu-moe).
    #[arg(
        long = "gpu",
        visible_alias = "hw",
        value_name = "NAME",
        required = true
    )]
    pub gpu: Vec<String>,
    /// Quantization (default: the one in the model name, else Q4_K_M).
    #[arg(short = 'q', long = "quant", value_name = "QUANT")]
    pub quant: Option<String>,
    /// Context size; depths beyond it are not shown.
    #[arg(short = 'c', long = "ctx-size", value_name = "N", default_value_t = 32768, value_parser = crate::args::parse_ctx_given)]
    pub ctx: u64,
    /// Context depths at which to report decode speed.
    #[arg(
        long,
        value_name = "N,N,…",
        value_delimiter = ',',
        default_value = "0,4096,16384,32768"
    )]
    pub depths: Vec<u64>,
    /// Prompt length for prefill and time to first token.
    #[arg(short = 'p', long = "prompt", value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub prompt: u64,
    /// Thinking tokens of one R1 answer (default: R1's 12K average on AIME, see --explain).
    #[arg(long, value_name = "N", default_value_t = speed::R1_THINKING_TOKENS)]
    pub thinking: u64,
    /// Answer tokens after the thinking.
    #[arg(long, value_name = "N", default_value_t = speed::R1_ANSWER_TOKENS)]
    pub answer: u64,
    /// Routed experts in RAM on the CPU platform of --gpu, the rest on the GPU (llama.cpp --cpu-moe / -ot exps=CPU).
    #[arg(long = "cpu-moe", visible_alias = "cmoe")]
    pub cpu_moe: bool,
    /// Show every term of the estimates.
    #[arg(long)]
    pub explain: bool,
}

#[derive(Serialize)]
struct DepthRow {
    depth: u64,
    decode: Estimate,
}

#[derive(Serialize)]
struct SpeedOut<'a> {
    model: String,
    quant: String,
    hardware: String,
    placement: &'a Placement,
    prefill: Estimate,
    depths: Vec<DepthRow>,
    answer: Option<speed::AnswerTime>,
    thinking_source: &'static str,
    notes: Vec<String>,
}

/// Build the placement the flags describe (shared with `compare` in crate::hwplace).
fn placement(a: &SpeedArgs, cost: &ModelCost, cal: &Calibration) -> Result<(Placement, String)> {
    let (p, hw, _) = crate::hwplace::speed_placement(&a.gpu, a.cpu_moe, cost, cal)?;
    Ok((p, hw))
}

/// Run `canirun speed`.
pub fn run(a: &SpeedArgs, json: bool) -> Result<()> {
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
    let cost = ModelCost::with_settings(&spec, &w, &RunSettings::default());
    let (p, hw) = placement(a, &cost, cal)?;
    let pre = prefill(&p, a.prompt, 0, cal)?;
    let mut depths: Vec<u64> = a.depths.iter().copied().filter(|&d| d <= a.ctx).collect();
    if depths.is_empty() {
        depths.push(0);
    }
    let rows = depths
        .iter()
        .map(|&d| {
            Ok(DepthRow {
                depth: d,
                decode: decode(&p, d, cal)?,
            })
        })
        .collect::<Result<Vec<_>, speed::SpeedError>>()?;
    let is_reasoner = spec.id.starts_with("deepseek-r1");
    let ans = if is_reasoner {
        Some(answer_time(&p, a.prompt, a.thinking, a.answer, cal)?)
    } else {
        None
    };
    let mut notes: Vec<String> = pre.notes.clone();
    for r in &rows {
        for n in &r.decode.notes {
            if !notes.contains(n) && !n.starts_with("terms are per token") {
                notes.push(n.clone());
            }
        }
    }
    if json {
        let out = SpeedOut {
            model: spec.name.clone(),
            quant: q.to_string(),
            hardware: hw,
            placement: &p,
            prefill: pre,
            depths: rows,
            answer: ans,
            thinking_source: speed::R1_THINKING_TOKENS_SOURCE,
            notes,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} {} on {} — {:.1} GB of weights read per token at depth 0",
        spec.name,
        q,
        hw,
        cost.active_bytes() / 1e9
    );
    println!(
        "prefill {} tokens: {} (range {} – {}), time to first token {}",
        a.prompt, pre.rate, pre.low, pre.high, pre.seconds
    );
    let mut t = render::table(&["context depth", "decode", "range", "ms/token"]);
    for r in &rows {
        t.add_row(vec![
            render::right(r.depth),
            render::right(r.decode.rate),
            render::right(format!("{} – {}", r.decode.low, r.decode.high)),
            render::right(format!("{:.1}", r.decode.seconds.as_ms())),
        ]);
    }
    println!("{t}");
    if let Some(an) = &ans {
        println!(
            "full R1 answer ({} prompt + {} thinking + {} answer tokens): {} (range {} – {}) = prefill {} + thinking {} + answer {}",
            an.prompt_tokens,
            an.thinking_tokens,
            an.answer_tokens,
            an.total,
            an.total_low,
            an.total_high,
            an.prefill.seconds,
            an.thinking.seconds,
            an.answer.seconds
        );
    }
    if a.explain {
        println!("\ndecode at depth {}, per token:", rows[0].depth);
        print_terms(&rows[0].decode);
        if let Some(last) = rows.last().filter(|_| rows.len() > 1) {
            println!("\ndecode at depth {}, per token:", last.depth);
            print_terms(&last.decode);
        }
        println!("\nprefill of {} tokens:", a.prompt);
        print_terms(&pre);
        println!(
            "\nranges: 10th–90th percentile of the calibration residuals ({})",
            cal.meta.command
        );
        if is_reasoner {
            println!("thinking tokens: {}", speed::R1_THINKING_TOKENS_SOURCE);
        }
    }
    for n in &notes {
        println!("note: {n}");
    }
    Ok(())
}

fn print_terms(e: &Estimate) {
    let mut t = render::table(&["term", "time", "formula"]);
    for term in &e.terms {
        t.add_row(vec![
            comfy_table::Cell::new(&term.label),
            render::right(term.seconds),
            comfy_table::Cell::new(&term.formula),
        ]);
    }
    let per = if e.tokens == 1 {
        e.seconds
    } else {
        Seconds(e.seconds.0)
    };
    t.add_row(vec![
        comfy_table::Cell::new("total"),
        render::right(per),
        comfy_table::Cell::new(format!("{} tokens → {}", e.tokens, e.rate)),
    ]);
    println!("{t}");
}
