//! `canirun command MODEL [--engine …]`: the exact commands that start the model
//! in llama.cpp, Ollama, vLLM, SGLang, MLX or ExLlamaV2/TabbyAPI. Every word comes
//! from `canirun_core::commands`; this file only gathers the flags and prints.

use crate::args::{PlacementFlags, SettingsArgs};
use crate::inputs::{HardwareArgs, ServerArgs};
use crate::render;
use anyhow::{bail, Result};
use canirun_core::commands::Runner;
use canirun_core::memory::Backend;
use canirun_core::model::resolve;
use canirun_core::pipeline::{commands, CommandSet, CommandsRequest, ServerChoice};
use canirun_core::quant::Quant;
use clap::Args;

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
    let quant = match a.quant.as_ref().or(r.quant.as_ref()) {
        Some(q) => Some(Quant::parse(q)?),
        None => None,
    };
    let hw = &a.hardware;
    let named = !hw.gpu.is_empty() || hw.vram.is_some() || hw.ram.is_some();
    // Named hardware decides the backend (Metal for a Mac), the GPU count and,
    // through the estimate's own pipeline, llama.cpp's fitted placement.
    let target = if named { Some(hw.target()?) } else { None };
    let run = a.server.run();
    let set = commands(&CommandsRequest {
        reference: &a.model,
        entry: r.entry,
        quant,
        runners: match a.engine {
            EngineChoice::All => Runner::ALL.to_vec(),
            EngineChoice::One(e) => vec![e],
        },
        settings: a
            .settings
            .settings_on(target.as_ref().map_or(Backend::Cuda, |t| t.backend)),
        llama: a.placement.llama_run(),
        hardware: target.as_ref(),
        mla_tensors: a.settings.mla_tensors,
        server: ServerChoice {
            tensor_parallel: run.tensor_parallel,
            pipeline_parallel: a.server.flags.read.pipeline_parallel,
            gpus_per_node: a.gpus_per_node,
            expert_parallel: a.expert_parallel,
            kv_fp8: a.kv_fp8,
            gpu_memory_utilization: run.gpu_memory_utilization,
            max_num_seqs: run.max_num_seqs,
        },
        local_path: a.path.as_deref(),
    })?;
    if json_out {
        // Through a JSON value, whose keys are sorted, as schema 1 prints them.
        render::json(&serde_json::to_value(&set)?)?;
    } else {
        print_text(&set);
    }
    if set.commands.is_empty() {
        let why: Vec<String> = set.skipped.iter().map(|e| e.to_string()).collect();
        bail!("no engine can run this: {}", why.join("; "));
    }
    Ok(())
}

fn print_text(set: &CommandSet) {
    println!("Commands to run {}:", set.model.name);
    for c in &set.commands {
        println!("\n{c}");
    }
    if !set.skipped.is_empty() {
        println!();
        println!("Not applicable:");
        for e in &set.skipped {
            println!("  {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn placement_flags_read_back() {
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            p: PlacementFlags,
        }
        let words = [
            "canirun",
            "--n-gpu-layers",
            "62",
            "--ts",
            "3,1",
            "--ot",
            "exps=CPU",
        ];
        let f = canirun_core::placement::llama_cpp::LlamaFlags::from_args(
            P::parse_from(words).p.args().unwrap(),
        );
        assert_eq!(
            canirun_core::commands::llama_cpp::flag_strings(&f),
            vec!["-ngl 62", "-ts 3,1", "-ot exps=CPU"]
        );
        // -mg 0 alone is no placement flag: canirun fits as llama.cpp would.
        assert_eq!(P::parse_from(["canirun", "--mg", "0"]).p.args(), None);
        assert_eq!(PlacementFlags::default().args(), None);
        assert_eq!(parse_engine("ALL").unwrap(), EngineChoice::All);
        assert!(parse_engine("docker").is_err());
    }
}
