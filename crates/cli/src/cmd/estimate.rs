//! `canirun MODEL [settings]`: memory, placement, verdict, speed and the
//! command, from the core's one pipeline; or the same for a pasted command.

use crate::args::{PlacementFlags, SettingsArgs};
use crate::inputs::{load_model, request, EngineArgs, HardwareArgs, QuantArgs};
use crate::show;
use anyhow::{bail, Context, Result};
use canirun_core::cmdline::{self, ParsedCommand};
use canirun_core::pipeline::{estimate, Engine, LlamaCppRun, ServerRun};
use canirun_io::load::{is_file, is_remote};
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
    /// A command to read instead: everything after `--`, e.g. `-- llama-server -m model.gguf -c 32768 -ngl 40 -ts 3,1 -fa on -ot exps=CPU`.
    #[arg(last = true, value_name = "COMMAND")]
    pub pasted: Vec<String>,
}

/// The model a pasted command names, as canirun reads it.
fn pasted_model(p: &ParsedCommand) -> Result<String> {
    let m = p.model.clone().with_context(|| {
        format!(
            "the pasted {} command names no model (-m, -hf, or the model argument)",
            p.program
        )
    })?;
    // llama.cpp's -hf takes repo[:quant]; canirun reads it remotely.
    Ok(
        if p.engine == cmdline::Engine::LlamaCpp
            && !is_file(&m)
            && m.contains('/')
            && !is_remote(&m)
        {
            format!("hf.co/{m}")
        } else {
            m
        },
    )
}

/// Run the estimate.
pub fn run(a: &EstimateArgs, json_out: bool) -> Result<()> {
    let pasted = if a.pasted.is_empty() {
        None
    } else {
        Some(cmdline::parse(&a.pasted).context("reading the pasted command")?)
    };
    let name = match (&pasted, a.model.as_deref()) {
        (Some(p), _) => pasted_model(p)?,
        (None, Some(n)) => n.to_string(),
        (None, None) => bail!("name a model, e.g. `canirun deepseek-r1:7b` (run `canirun models` for the list, `canirun --help` for more)"),
    };
    let server = match &pasted {
        Some(p) => matches!(p.engine, cmdline::Engine::Vllm | cmdline::Engine::Sglang),
        None => a.engine.is_server(),
    };
    let model = load_model(&name, &a.quant, &a.settings, server)?;
    let hw = a.hardware.target()?;
    let mut req = request(&model, &hw, &a.settings, a.engine.engine(&a.placement)?);
    req.workload.speculative = a.engine.server.speculative();
    let mut notes = Vec::new();
    if let Some(p) = &pasted {
        req.settings = canirun_core::memory::RunSettings {
            backend: a.settings.backend.unwrap_or(hw.backend),
            ..p.settings.clone()
        };
        let server = ServerRun {
            tensor_parallel: p.tensor_parallel,
            pipeline_parallel: p.pipeline_parallel.unwrap_or(1),
            gpu_memory_utilization: p.gpu_memory_utilization.unwrap_or(0.9),
            max_num_seqs: p.settings.n_parallel.max(1),
            ..ServerRun::default()
        };
        req.engine = match p.engine {
            cmdline::Engine::Vllm => Engine::Vllm(server),
            cmdline::Engine::Sglang => Engine::Sglang(server),
            _ => Engine::LlamaCpp(LlamaCppRun {
                placement: Some(p.placement.clone()).filter(|x| *x != Default::default()),
                fit: p.fit.clone(),
            }),
        };
        if !p.ctx_given && p.engine != cmdline::Engine::LlamaCpp {
            // vLLM and SGLang default to the model's whole trained context.
            req.settings.n_ctx = model.spec.n_ctx_train;
        }
        for u in &p.unknown {
            notes.push(format!(
                "canirun does not know '{u}' of {}: it was not taken into account",
                p.program
            ));
        }
        if p.engine == cmdline::Engine::Ollama {
            notes.push(format!(
                "{} runs llama.cpp: memory follows llama.cpp's rules and --fit",
                p.program
            ));
        }
    }
    let mut r = estimate(&req)?;
    r.notes.extend(notes);
    if json_out {
        let mut v = serde_json::to_value(&r)?;
        if a.tensors {
            v["tensors"] = serde_json::to_value(&model.weights.tensors)?;
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    show::report(&r, &model, a.explain, a.tensors);
    Ok(())
}
