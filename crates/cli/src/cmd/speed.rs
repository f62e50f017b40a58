//! `canirun speed MODEL --gpu NAME [-c N] [-q QUANT] [--depths 0,4096,…]`:
//! prefill and decode speed over context depths, time to first token, and
//! the time to a full R1 answer — the same report as the estimate, at more depths.

use crate::args::{PlacementFlags, SettingsArgs};
use crate::inputs::{load_model, request, EngineArgs, HardwareArgs, QuantArgs};
use crate::render;
use anyhow::Result;
use canirun_core::pipeline::{estimate, Speed};
use canirun_core::speed::{self, Calibration, Estimate};
use canirun_core::text::flash_attention_effect;
use clap::Args;

/// Arguments of `canirun speed`.
#[derive(Args, Debug)]
pub struct SpeedArgs {
    /// Model: catalog name, Ollama tag, Hugging Face id, a .gguf file or a remote model.
    #[arg(value_name = "MODEL")]
    pub model: String,
    #[command(flatten)]
    pub quant: QuantArgs,
    #[command(flatten)]
    pub hardware: HardwareArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub placement: PlacementFlags,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Context depths at which to report decode speed (those beyond -c are left out).
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
    /// Show every term of the estimates.
    #[arg(long)]
    pub explain: bool,
}

/// Run `canirun speed`.
pub fn run(a: &SpeedArgs, json: bool) -> Result<()> {
    let model = load_model(&a.model, &a.quant, &a.settings, a.engine.is_server())?;
    let hw = a.hardware.target()?;
    let mut req = request(&model, &hw, &a.settings, a.engine.engine(&a.placement));
    req.workload.speculative = a.engine.server.speculative();
    req.workload.depths = req.settings.depths_within(&a.depths);
    req.workload.prompt = a.prompt;
    req.workload.thinking = a.thinking;
    req.workload.answer = a.answer;
    req.commands.runners.clear();
    let r = estimate(&req)?;
    if json {
        return render::json(&r);
    }
    println!(
        "{} {} on {} ({}, {})",
        model.spec.name,
        r.quant,
        hw.label(),
        r.engine,
        r.placement_method
    );
    for w in &r.warnings {
        println!("warning: {w}");
    }
    let sp = match &r.speed {
        Speed::Estimated(sp) => sp,
        Speed::NotEstimated { reason } => {
            println!("speed: not estimated: {reason}");
            return Ok(());
        }
    };
    match (&sp.prefill, &sp.prefill_missing) {
        (Some(pre), _) => println!(
            "prefill {} tokens: {} (range {} – {}), time to first token {}",
            a.prompt, pre.rate, pre.low, pre.high, pre.seconds
        ),
        (None, Some(why)) => println!("prefill not estimated: {why}"),
        _ => {}
    }
    let mut t = render::table(&["context depth", "decode", "range", "ms/token"]);
    for d in &sp.decode {
        t.add_row(vec![
            render::right(d.depth),
            render::right(d.estimate.rate),
            render::right(format!("{} – {}", d.estimate.low, d.estimate.high)),
            render::right(format!("{:.1}", d.estimate.seconds.as_ms())),
        ]);
    }
    println!("{t}");
    if let Some(line) = flash_attention_effect(&req, &r) {
        println!("{line}");
    }
    if let Some(m) = &sp.speculative {
        println!("{m}");
    }
    if let Some(an) = &sp.answer {
        println!(
            "full R1 answer ({} prompt + {} thinking + {} answer tokens): {} (range {} – {}) = prefill {} + thinking {} + answer {}",
            an.prompt_tokens, an.thinking_tokens, an.answer_tokens, an.total, an.total_low,
            an.total_high, an.prefill.seconds, an.thinking.seconds, an.answer.seconds
        );
    }
    if a.explain {
        let deepest = (sp.decode.len() > 1).then(|| sp.decode_last());
        for d in sp.decode.first().into_iter().chain(deepest) {
            println!("\ndecode at depth {}, per token:", d.depth);
            print_terms(&d.estimate);
        }
        if let Some(pre) = &sp.prefill {
            println!("\nprefill of {} tokens:", a.prompt);
            print_terms(pre);
        }
        if let Ok(cal) = Calibration::embedded() {
            println!(
                "\nranges: 10th–90th percentile of the calibration residuals ({})",
                cal.meta.command
            );
        }
        if let Some(src) = sp.thinking_source {
            println!("thinking tokens: {src}");
        }
    }
    for n in sp.notes() {
        println!("note: {n}");
    }
    Ok(())
}

fn print_terms(e: &Estimate) {
    let rows = e.terms.iter().map(|t| (&t.label, t.seconds, &t.formula));
    let mut t = render::terms(&["term", "time", "formula"], rows);
    t.add_row(vec![
        comfy_table::Cell::new("total"),
        render::right(e.seconds),
        comfy_table::Cell::new(format!("{} tokens → {}", e.tokens, e.rate)),
    ]);
    println!("{t}");
}
