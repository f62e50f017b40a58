//! `canirun speed MODEL --gpu NAME [-c N] [-q QUANT] [--depths 0,4096,…]`:
//! prefill and decode speed over context depths, time to first token, and
//! the time to a full R1 answer — the same report as the estimate, at more depths.

use crate::args::{PlacementFlags, SettingsArgs};
use crate::inputs::{load_model, request, EngineArgs, HardwareArgs, QuantArgs};
use crate::render;
use anyhow::Result;
use canirun_core::pipeline::estimate;
use canirun_core::speed;
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
    render::text(&canirun_core::text::speed::speed(&req, &r, a.explain));
    Ok(())
}
