//! `canirun command MODEL [--engine …]`: the exact commands that start the model
//! in llama.cpp, Ollama, vLLM, SGLang, MLX or ExLlamaV2/TabbyAPI. Every word comes
//! from `canirun_core::commands`; this file only gathers the flags and prints.

use crate::args::{PlacementFlags, SettingsArgs};
use crate::inputs::{request, HardwareArgs, ServerArgs};
use anyhow::{bail, Result};
use canirun_core::commands::{CommandError, RunCommand, Runner};
use canirun_core::memory::Backend;
use canirun_core::model::resolve;
use canirun_core::pipeline::{
    commands_for, default_quant, estimate, server_settings, Engine, LlamaCppRun, Model,
    ServerChoice,
};
use canirun_core::placement::llama_cpp::LlamaFlags;
use canirun_core::quant::Quant;
use clap::Args;
use serde_json::json;

/// Arguments of `canirun command`.
#[derive(Args, Debug)]
pub struct CommandArgs {
    /// Model: an Ollama tag (deepseek-r1:7b), a Hugging Face id or a short name (r1-70b).
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Engine: llama.cpp, ollama, vllm, sglang, mlx, exllamav2, or all (every engine that fits).
    #[arg(long, value_name = "ENGINE", default_value = "all", value_parser = parse_engine)]
    pub engine: EngineChoice,
    /// Quantization (default: Q4_K_M for GGUF engines, the original checkpoint for vLLM/SGLang, 4-bit for MLX, 4.0 bpw for EXL2).
    #[arg(short = 'q', long = "quant", value_name = "QUANT")]
    pub quant: Option<String>,
    /// Hardware (sets the backend, the vLLM/SGLang GPU count and llama.cpp's fitted placement).
    #[command(flatten)]
    pub hardware: HardwareArgs,
    /// A local model file or directory to load instead of downloading.
    #[arg(long = "path", value_name = "PATH")]
    pub path: Option<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub placement: PlacementFlags,
    #[command(flatten)]
    pub server: ServerArgs,
    /// GPUs per node when the GPUs span several machines.
    #[arg(long = "gpus-per-node", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub gpus_per_node: u64,
    /// vLLM/SGLang: place whole experts per GPU (--enable-expert-parallel).
    #[arg(long = "expert-parallel")]
    pub expert_parallel: bool,
    /// vLLM/SGLang: FP8 KV cache.
    #[arg(long = "kv-fp8")]
    pub kv_fp8: bool,
}

/// One engine or all of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EngineChoice {
    /// Every engine; those that cannot run the model are listed with the reason.
    All,
    /// One engine.
    One(Runner),
}

fn parse_engine(s: &str) -> Result<EngineChoice, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(EngineChoice::All);
    }
    Runner::parse(s).map(EngineChoice::One).ok_or_else(|| {
        format!(
            "'{s}' is not an engine; use llama.cpp, ollama, vllm, sglang, mlx, exllamav2 or all"
        )
    })
}

/// Run `canirun command`.
pub fn run(a: &CommandArgs, json_out: bool) -> Result<()> {
    let r = resolve(&a.model)?;
    let entry = r.entry;
    let quant = match a.quant.as_ref().or(r.quant.as_ref()) {
        Some(q) => Some(Quant::parse(q)?),
        None => None,
    };
    if !(a.server.gpu_memory_utilization > 0.0 && a.server.gpu_memory_utilization <= 1.0) {
        bail!(
            "--gpu-memory-utilization {} must be in (0, 1]",
            a.server.gpu_memory_utilization
        );
    }
    let engines: Vec<Runner> = match a.engine {
        EngineChoice::All => Runner::ALL.to_vec(),
        EngineChoice::One(e) => vec![e],
    };
    let given = a.placement.args()?;
    let hw = &a.hardware;
    let named = !hw.gpu.is_empty() || hw.vram.is_some() || hw.ram.is_some();
    // Named hardware decides the backend (Metal for a Mac), the GPU count and,
    // through the estimate's own pipeline, llama.cpp's fitted placement.
    let (settings, n_gpus, placement) = if named {
        let target = hw.target()?;
        let q = quant
            .clone()
            .unwrap_or_else(|| default_quant(Runner::LlamaCpp, entry));
        let model = Model::from_entry(&a.model, entry, q, a.settings.mla_tensors)?;
        let mut req = request(
            &model,
            &target,
            &a.settings,
            Engine::LlamaCpp(LlamaCppRun {
                placement: given.clone(),
                fit: a.placement.fit.settings(),
            }),
        );
        req.commands.runners.clear();
        let rep = estimate(&req)?;
        let placement = rep.placement.as_ref().map(|p| p.llama.clone());
        (rep.settings, target.gpus.len().max(1) as u64, placement)
    } else {
        let s = a.settings.settings_on(Backend::Cuda);
        (s, 1, given.map(LlamaFlags::from_args))
    };
    let choice = ServerChoice {
        tensor_parallel: a.server.tp,
        pipeline_parallel: a.server.pp,
        gpus_per_node: a.gpus_per_node,
        expert_parallel: a.expert_parallel,
        kv_fp8: a.kv_fp8,
        gpu_memory_utilization: a.server.gpu_memory_utilization,
        max_num_seqs: a.server.max_num_seqs,
    };
    let server = server_settings(&choice, n_gpus, settings.n_ctx);
    let (commands, skipped) = commands_for(
        entry,
        quant.as_ref(),
        &settings,
        placement.as_ref(),
        &server,
        a.gpus_per_node,
        a.path.as_deref(),
        &engines,
    );
    let commands: Vec<(String, RunCommand)> = commands
        .into_iter()
        .map(|(q, c)| (q.to_string(), c))
        .collect();
    if json_out {
        let cmds: Vec<_> = commands
            .iter()
            .map(|(q, c)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["quant"] = json!(q);
                v["shell_line"] = json!(c.shell_line());
                v
            })
            .collect();
        let skipped: Vec<_> = skipped
            .iter()
            .map(|e| match e {
                CommandError::NotApplicable { engine, why } => {
                    json!({"engine": engine, "why": why})
                }
            })
            .collect();
        let out = json!({
            "model": {"id": entry.id, "name": entry.name, "hf_repo": entry.hf_repo},
            "commands": cmds,
            "skipped": skipped,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(&entry.name, &commands, &skipped);
    }
    if commands.is_empty() {
        let why: Vec<String> = skipped.iter().map(|e| e.to_string()).collect();
        bail!("no engine can run this: {}", why.join("; "));
    }
    Ok(())
}

fn print_text(name: &str, commands: &[(String, RunCommand)], skipped: &[CommandError]) {
    println!("Commands to run {name}:");
    for (q, c) in commands {
        println!();
        println!("# {} ({q})", c.engine);
        println!("# {}", c.version_note);
        println!("{}", c.shell_line());
        if let Some(m) = &c.modelfile {
            println!("# Modelfile:");
            for l in m.lines() {
                println!("  {l}");
            }
        }
        if let Some(f) = &c.config {
            println!("# {}:", f.name);
            for l in f.content.lines() {
                println!("  {l}");
            }
        }
        for n in &c.notes {
            println!("  note: {n}");
        }
    }
    if !skipped.is_empty() {
        println!();
        println!("Not applicable:");
        for e in skipped {
            println!("  {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_flags_read_back() {
        let p = PlacementFlags {
            ngl: Some(crate::args::Ngl(Some(62))),
            ts: Some(crate::args::TensorSplit(vec![3.0, 1.0])),
            ot: vec![crate::args::parse_ot("exps=CPU").unwrap()],
            ..PlacementFlags::default()
        };
        let f = LlamaFlags::from_args(p.args().unwrap().unwrap());
        assert_eq!(
            canirun_core::commands::llama_cpp::flag_strings(&f),
            vec!["-ngl 62", "-ts 3,1", "-ot exps=CPU"]
        );
        assert_eq!(parse_engine("ALL").unwrap(), EngineChoice::All);
        assert!(parse_engine("docker").is_err());
    }
}
