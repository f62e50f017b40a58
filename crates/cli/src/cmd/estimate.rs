//! `canirun MODEL [settings]`: memory, placement, verdict, speed and the
//! command, from the core's one pipeline; or the same for a pasted command.

use crate::args::{PlacementFlags, SettingsArgs};
use crate::inputs::{companions, load_model, request, EngineArgs, HardwareArgs, QuantArgs};
use crate::render;
use anyhow::{bail, Context, Result};
use canirun_core::cluster::{nodes, plan_request, ClusterOptions};
use canirun_core::cmdline::{self, ParsedCommand};
use canirun_core::hardware::{Catalog, Target};
use canirun_core::pipeline::{estimate, Engine, Model};
use canirun_io::load;
use clap::Args;

/// Arguments of the default command.
#[derive(Args, Debug)]
pub struct EstimateArgs {
    /// Model: an Ollama tag (deepseek-r1:7b), a Hugging Face id, a short name (r1-7b), a .gguf file, or a remote model (hf.co/<repo>:<quant>, https://…/file.gguf) read header-only.
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,
    #[command(flatten)]
    pub quant: QuantArgs,
    #[command(flatten)]
    pub hardware: HardwareArgs,
    /// Print the terms behind every number.
    #[arg(long)]
    pub explain: bool,
    /// Also list every tensor with its type and size.
    #[arg(long)]
    pub tensors: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub placement: PlacementFlags,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Predict speed with the catalog's rates, not this machine's `canirun calibrate` factors.
    #[arg(long = "no-local-calibration")]
    pub no_local_calibration: bool,
    /// Cluster: this many nodes, each with the hardware of --gpu (vLLM over Ray, SGLang, llama.cpp RPC, exo).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub nodes: Option<u32>,
    /// Cluster of unlike nodes, one per flag, in order (exo, llama.cpp RPC): --node m3-ultra-256 --node m3-ultra-256 --node m3-ultra-96 --node m3-ultra-96.
    #[arg(long = "node", value_name = "HW")]
    pub node: Vec<String>,
    /// Network between the nodes: ib-ndr, ib-hdr, roce, 100gbe, 25gbe, 10gbe, 5gbe, tb5, tb5-rdma (default: ib-ndr; exo tb5; llama.cpp 10gbe).
    #[arg(long, value_name = "NET")]
    pub interconnect: Option<String>,
    /// SGLang: DP attention over every GPU (--enable-dp-attention --dp-size N).
    #[arg(long)]
    pub dp_attention: bool,
    /// A command to read instead: everything after `--`, e.g. `-- llama-server -m model.gguf -c 32768 -ngl 40 -ts 3,1 -fa on -ot exps=CPU`.
    #[arg(last = true, value_name = "COMMAND")]
    pub pasted: Vec<String>,
}

/// Run the estimate.
pub fn run(a: &EstimateArgs, json_out: bool) -> Result<()> {
    let pasted = (!a.pasted.is_empty())
        .then(|| cmdline::parse(&a.pasted))
        .transpose()
        .context("reading the pasted command")?;
    let name = match (&pasted, a.model.as_deref()) {
        (Some(p), _) => load::pasted_model(p).with_context(|| {
            format!(
                "the pasted {} command names no model (-m, -hf, or the model argument)",
                p.program
            )
        })?,
        (None, Some(n)) => n.to_string(),
        (None, None) => bail!("name a model, e.g. `canirun deepseek-r1:7b` (run `canirun models` for the list, `canirun --help` for more)"),
    };
    let server = pasted.as_ref().map_or(a.engine.is_server(), |p| {
        matches!(p.engine, cmdline::Engine::Vllm | cmdline::Engine::Sglang)
    });
    let model = load_model(&name, &a.quant, &a.settings, server)?;
    let hw = a.hardware.target()?;
    let (engine, gpus) = (a.engine.engine.as_str(), hw.gpus.len());
    if let Some(n) = nodes::asked(a.nodes, a.node.len(), engine, pasted.as_ref(), gpus) {
        return cluster(a, &model, &hw, pasted.as_ref(), n, json_out);
    }
    let mut req = request(&model, &hw, &a.settings, a.engine.engine(&a.placement));
    req.workload.speculative = a.engine.server.speculative();
    let mut notes = pasted
        .as_ref()
        .map(|p| req.use_pasted(p))
        .unwrap_or_default();
    // `-md` and `--mmproj`, typed or in the pasted command.
    let cf = pasted
        .as_ref()
        .map_or(&a.settings.run.read.companions, |p| &p.companions);
    if cf.draft_model.is_some() || cf.mmproj.is_some() {
        match &mut req.engine {
            Engine::LlamaCpp(run) => {
                run.companions = companions(cf, &a.settings, a.engine.draft_acceptance)?
            }
            e => notes.push(format!(
                "-md and --mmproj are llama.cpp's; {} is sized without them",
                e.name()
            )),
        }
    }
    // This machine (detected, not named) with a `canirun calibrate` fit: use it.
    if a.hardware.gpu.is_empty() && a.hardware.vram.is_none() && !a.no_local_calibration {
        let fp = canirun_bench::compare::machine_fingerprint(&hw);
        req.local = canirun_bench::history::stored_local(&fp, "llama.cpp").filter(|_| !server);
        notes.extend(req.local.map(|c| format!("speed calibrated on {} local runs of this machine (bandwidth ×{:.3}, compute ×{:.3}); --no-local-calibration turns it off", c.runs(), c.bandwidth_factor, c.compute_factor)));
    }
    let mut r = estimate(&req)?;
    r.notes.extend(notes);
    if json_out {
        let mut v = serde_json::to_value(&r)?;
        if a.tensors {
            v["tensors"] = serde_json::to_value(&model.weights.tensors)?;
        }
        return render::json(&v);
    }
    let text = canirun_core::text::report::report(&r, &model, a.explain, a.tensors);
    render::text(&text);
    Ok(())
}

/// A cluster (`--nodes`, `--node`, exo, or a pasted multi-node command):
/// the core's plan (`core::cluster`), printed.
fn cluster(
    a: &EstimateArgs,
    model: &Model,
    hw: &Target,
    pasted: Option<&ParsedCommand>,
    nodes: u32,
    json: bool,
) -> Result<()> {
    // `--node`, once per node: each resolved alone; the request runs on the first.
    let (unlike, first) = nodes::named(Catalog::embedded()?, &a.node)?;
    let hw = first.as_ref().unwrap_or(hw);
    let mut req = request(model, hw, &a.settings, a.engine.engine(&a.placement));
    let notes = pasted.map(|p| req.use_pasted(p)).unwrap_or_default();
    let o = ClusterOptions {
        nodes,
        interconnect: a.interconnect.as_deref(),
        dp_attention: a.dp_attention,
        engine: &a.engine.engine,
        run: a.engine.server.run(),
        unlike,
    };
    let plan = plan_request(&req, &o)?;
    if json {
        return render::json(&plan);
    }
    let lines = plan.lines(&model.spec.name, &model.quant_label, a.explain);
    lines.iter().chain(&notes).for_each(|l| println!("{l}"));
    Ok(())
}
