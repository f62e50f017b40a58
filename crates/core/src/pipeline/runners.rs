//! The commands for every engine a user asks for: each engine's default
//! quantization when none is named, vLLM/SGLang's parallel sizes from the
//! GPU count (tensor parallel inside a node, pipeline parallel across nodes),
//! and llama.cpp's placement as the estimate fitted it.

use crate::commands::{generate, CommandError, Request, RunCommand, Runner};
use crate::memory::vllm::VllmSettings;
use crate::memory::RunSettings;
use crate::model::CatalogEntry;
use crate::placement::llama_cpp::LlamaFlags;
use crate::quant::Quant;

/// vLLM/SGLang choices as given (`None`: derived from the GPU count).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerChoice {
    /// `--tensor-parallel-size`.
    pub tensor_parallel: Option<u64>,
    /// `--pipeline-parallel-size`.
    pub pipeline_parallel: Option<u64>,
    /// GPUs per node.
    pub gpus_per_node: u64,
    /// `--enable-expert-parallel`.
    pub expert_parallel: bool,
    /// FP8 KV cache.
    pub kv_fp8: bool,
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
    /// `--max-num-seqs`.
    pub max_num_seqs: u64,
}

/// The quantization an engine runs by default when none was named: the
/// published checkpoint for vLLM/SGLang, 4-bit for MLX, 4.0 bpw for EXL2, Q4_K_M for GGUF engines.
pub fn default_quant(engine: Runner, entry: &CatalogEntry) -> Quant {
    match engine {
        Runner::Vllm | Runner::Sglang => super::native_quant(entry),
        Runner::Mlx => Quant::Mlx { bits: 4 },
        Runner::Exllamav2 => Quant::Exl2 { millibits: 4000 },
        Runner::LlamaCpp | Runner::Ollama => {
            Quant::parse(super::DEFAULT_QUANT).unwrap_or(Quant::Mlx { bits: 4 })
        }
    }
}

/// vLLM's launch settings for `n_gpus`: tensor parallel within a node,
/// pipeline parallel across nodes (vLLM's advice), unless given.
pub fn server_settings(c: &ServerChoice, n_gpus: u64, max_model_len: u64) -> VllmSettings {
    let n = n_gpus.max(1);
    let per_node = c.gpus_per_node.max(1);
    let (tp, pp) = match (c.tensor_parallel, c.pipeline_parallel) {
        (Some(tp), Some(pp)) => (tp, pp),
        (Some(tp), None) => (tp, n.div_ceil(tp).max(1)),
        (None, Some(pp)) => (n.div_ceil(pp).max(1), pp),
        (None, None) => (n.min(per_node), n.div_ceil(per_node).max(1)),
    };
    VllmSettings {
        tensor_parallel: tp,
        pipeline_parallel: pp,
        expert_parallel: c.expert_parallel,
        gpu_memory_utilization: c.gpu_memory_utilization,
        max_model_len,
        max_num_seqs: c.max_num_seqs,
        kv_fp8: c.kv_fp8,
        ..VllmSettings::default()
    }
}

/// Commands for `entry` on each of `runners`, each with its quantization
/// (`quant`, else the engine's default), and why the others cannot run it.
#[allow(clippy::too_many_arguments)]
pub fn commands_for(
    entry: &CatalogEntry,
    quant: Option<&Quant>,
    settings: &RunSettings,
    placement: Option<&LlamaFlags>,
    server: &VllmSettings,
    gpus_per_node: u64,
    local_path: Option<&str>,
    runners: &[Runner],
) -> (Vec<(Quant, RunCommand)>, Vec<CommandError>) {
    let spec = entry.spec();
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for &engine in runners {
        let q = quant
            .cloned()
            .unwrap_or_else(|| default_quant(engine, entry));
        let req = Request {
            entry: Some(entry),
            local_path,
            placement,
            server: Some(server),
            gpus_per_node,
            ..Request::new(&spec, &q, settings)
        };
        match generate(engine, &req) {
            Ok(c) => ok.push((q, c)),
            Err(e) => skipped.push(e),
        }
    }
    (ok, skipped)
}
