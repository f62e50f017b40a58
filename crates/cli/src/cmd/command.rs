//! `canirun command MODEL [--engine …]`: the exact commands that start the model
//! in llama.cpp, Ollama, vLLM, SGLang, MLX or ExLlamaV2/TabbyAPI. Every word comes
//! from `canirun_core::commands`; this file only gathers the flags and prints.

use crate::args::PlacementFlags;
use crate::args::SettingsArgs;
use anyhow::{bail, Result};
use canirun_core::commands::{generate, CommandError, Request, RunCommand, Runner};
use canirun_core::memory::vllm::VllmSettings;
use canirun_core::memory::Backend;
use canirun_core::model::{resolve, CatalogEntry};
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
    /// Hardware: 4090, 2x3090, 8xh200, m3-ultra-512 … (repeatable); sets the backend and the vLLM/SGLang GPU count.
    #[arg(long = "gpu", visible_alias = "hw", value_name = "NAME")]
    pub gpu: Vec<String>,
    /// A local model file or directory to load instead of downloading.
    #[arg(long = "path", value_name = "PATH")]
    pub path: Option<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub placement: PlacementFlags,
    /// vLLM/SGLang tensor-parallel size (default: the GPUs of one node).
    #[arg(long = "tensor-parallel-size", visible_alias = "tp", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub tp: Option<u64>,
    /// vLLM/SGLang pipeline-parallel size (default: one stage per node).
    #[arg(long = "pipeline-parallel-size", visible_alias = "pp", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub pp: Option<u64>,
    /// GPUs per node when the GPUs span several machines.
    #[arg(long = "gpus-per-node", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub gpus_per_node: u64,
    /// vLLM/SGLang: place whole experts per GPU (--enable-expert-parallel).
    #[arg(long = "expert-parallel")]
    pub expert_parallel: bool,
    /// vLLM/SGLang: FP8 KV cache.
    #[arg(long = "kv-fp8")]
    pub kv_fp8: bool,
    /// vLLM's share of each GPU (SGLang's --mem-fraction-static).
    #[arg(
        long = "gpu-memory-utilization",
        value_name = "F",
        default_value_t = 0.9
    )]
    pub gpu_memory_utilization: f64,
    /// vLLM/SGLang maximum concurrent sequences.
    #[arg(long = "max-num-seqs", value_name = "N", default_value_t = 256)]
    pub max_num_seqs: u64,
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

/// The llama.cpp placement the user gave, typed (`None`: no placement flag).
fn placement_flags(p: &PlacementFlags) -> Result<Option<LlamaFlags>> {
    Ok(p.args()?.map(LlamaFlags::from_args))
}

/// The quantization an engine runs by default when none was named.
fn default_quant(engine: Runner, entry: &CatalogEntry) -> Quant {
    let native = || match entry.native_dtype.to_ascii_uppercase().as_str() {
        "FP8" => Quant::Fp8,
        "F16" => Quant::parse("F16").unwrap_or(Quant::Fp8),
        _ => Quant::parse("BF16").unwrap_or(Quant::Fp8),
    };
    match engine {
        Runner::Vllm | Runner::Sglang => native(),
        Runner::Mlx => Quant::Mlx { bits: 4 },
        Runner::Exllamav2 => Quant::Exl2 { millibits: 4000 },
        Runner::LlamaCpp | Runner::Ollama => {
            Quant::parse("Q4_K_M").unwrap_or(Quant::Mlx { bits: 4 })
        }
    }
}

/// Run `canirun command`.
pub fn run(a: &CommandArgs, json_out: bool) -> Result<()> {
    let r = resolve(&a.model)?;
    let entry = r.entry;
    let quant = match a.quant.as_ref().or(r.quant.as_ref()) {
        Some(q) => Some(Quant::parse(q)?),
        None => None,
    };
    if !(a.gpu_memory_utilization > 0.0 && a.gpu_memory_utilization <= 1.0) {
        bail!(
            "--gpu-memory-utilization {} must be in (0, 1]",
            a.gpu_memory_utilization
        );
    }
    // Named hardware decides the backend (Metal for a Mac) and the GPU count.
    let (backend, n_gpus) = if a.gpu.is_empty() {
        (Backend::Cuda, 1)
    } else {
        let cat = canirun_core::hardware::Catalog::embedded()?;
        let t = canirun_core::hardware::Target::named(cat, &a.gpu, None)?;
        (t.backend, t.gpus.len().max(1) as u64)
    };
    let settings = a.settings.settings_on(backend);
    let per_node = a.gpus_per_node;
    let (tp, pp) = match (a.tp, a.pp) {
        (Some(tp), Some(pp)) => (tp, pp),
        (Some(tp), None) => (tp, n_gpus.div_ceil(tp).max(1)),
        (None, Some(pp)) => (n_gpus.div_ceil(pp).max(1), pp),
        // vLLM's advice: tensor parallel within a node, pipeline parallel across nodes.
        (None, None) => (n_gpus.min(per_node), n_gpus.div_ceil(per_node).max(1)),
    };
    let server = VllmSettings {
        tensor_parallel: tp,
        pipeline_parallel: pp,
        expert_parallel: a.expert_parallel,
        gpu_memory_utilization: a.gpu_memory_utilization,
        max_model_len: settings.n_ctx,
        max_num_seqs: a.max_num_seqs,
        kv_fp8: a.kv_fp8,
        ..VllmSettings::default()
    };
    let flags = placement_flags(&a.placement)?;
    let engines: Vec<Runner> = match a.engine {
        EngineChoice::All => Runner::ALL.to_vec(),
        EngineChoice::One(e) => vec![e],
    };
    let spec = entry.spec();
    let mut commands = Vec::new();
    let mut skipped = Vec::new();
    for &engine in &engines {
        let q = quant
            .clone()
            .unwrap_or_else(|| default_quant(engine, entry));
        let req = Request {
            entry: Some(entry),
            local_path: a.path.as_deref(),
            placement: flags.as_ref(),
            server: Some(&server),
            gpus_per_node: per_node,
            ..Request::new(&spec, &q, &settings)
        };
        match generate(engine, &req) {
            Ok(c) => commands.push((q.to_string(), c)),
            Err(e) => skipped.push(e),
        }
    }
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
        let f = placement_flags(&p).unwrap().unwrap();
        assert_eq!(
            canirun_core::commands::llama_cpp::flag_strings(&f),
            vec!["-ngl 62", "-ts 3,1", "-ot exps=CPU"]
        );
        assert_eq!(parse_engine("ALL").unwrap(), EngineChoice::All);
        assert!(parse_engine("docker").is_err());
    }
}
