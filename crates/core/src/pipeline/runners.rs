//! The commands for every engine a user asks for: each engine's default
//! quantization when none is named, vLLM/SGLang's parallel sizes from the
//! GPU count (tensor parallel inside a node, pipeline parallel across nodes),
//! and llama.cpp's placement as the estimate fitted it.

use super::{estimate, Engine, EstimateError, LlamaCppRun, Model};
use crate::commands::{generate, CommandError, Request, RunCommand, Runner};
use crate::hardware::Target;
use crate::memory::vllm::VllmSettings;
use crate::memory::RunSettings;
use crate::model::{CatalogEntry, MlaTensorLayout};
use crate::placement::llama_cpp::LlamaFlags;
use crate::quant::Quant;
use serde::Serialize;

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

/// What `canirun command` asks for one catalog model.
#[derive(Debug, Clone)]
pub struct CommandsRequest<'a> {
    /// The model as the user typed it.
    pub reference: &'a str,
    /// Its catalog entry.
    pub entry: &'static CatalogEntry,
    /// The quantization named (`None`: each engine's default).
    pub quant: Option<Quant>,
    /// The engines to write a command for.
    pub runners: Vec<Runner>,
    /// Run settings (the backend is the hardware's when it is named).
    pub settings: RunSettings,
    /// llama.cpp's placement flags and `--fit`.
    pub llama: LlamaCppRun,
    /// The hardware, when named: llama.cpp's placement is then the estimate's
    /// own, and vLLM/SGLang split over its GPUs.
    pub hardware: Option<&'a Target>,
    /// DeepSeek GGUF tensor layout.
    pub mla_tensors: MlaTensorLayout,
    /// vLLM/SGLang choices.
    pub server: ServerChoice,
    /// A local model path to load instead of downloading.
    pub local_path: Option<&'a str>,
}

/// The model a command set is for.
#[derive(Debug, Clone, Serialize)]
pub struct CommandModel {
    /// Catalog id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Hugging Face repository.
    pub hf_repo: String,
}

/// One command with the quantization it runs.
#[derive(Debug, Clone, Serialize)]
pub struct QuantCommand {
    /// The quantization.
    pub quant: String,
    /// The command as one shell line.
    pub shell_line: String,
    /// The command.
    #[serde(flatten)]
    pub command: RunCommand,
}

/// The commands (`canirun command --json`), and why the other engines get none.
#[derive(Debug, Clone, Serialize)]
pub struct CommandSet {
    /// The model.
    pub model: CommandModel,
    /// One per engine that can run it.
    pub commands: Vec<QuantCommand>,
    /// The engines that cannot, with why.
    pub skipped: Vec<CommandError>,
}

/// The commands `req` asks for. With named hardware the settings and
/// llama.cpp's placement are those of the estimate (fitted like `--fit`),
/// and vLLM/SGLang's sizes follow its GPU count.
pub fn commands(req: &CommandsRequest<'_>) -> Result<CommandSet, EstimateError> {
    let (settings, n_gpus, placement) = match req.hardware {
        Some(target) => {
            let q = req
                .quant
                .clone()
                .unwrap_or_else(|| default_quant(Runner::LlamaCpp, req.entry));
            let model = Model::from_entry(req.reference, req.entry, q, req.mla_tensors)?;
            let mut r = super::Request::new(&model, target, req.settings.clone());
            r.engine = Engine::LlamaCpp(req.llama.clone());
            let rep = estimate(&r)?;
            let placement = rep.placement.map(|p| p.llama);
            (rep.settings, target.gpus.len().max(1) as u64, placement)
        }
        None => {
            let placement = req.llama.placement.clone().map(LlamaFlags::from_args);
            (req.settings.clone(), 1, placement)
        }
    };
    let server = server_settings(&req.server, n_gpus, settings.n_ctx);
    let (ok, skipped) = commands_for(
        req.entry,
        req.quant.as_ref(),
        &settings,
        placement.as_ref(),
        &server,
        req.server.gpus_per_node,
        req.local_path,
        &req.runners,
    );
    let e = req.entry;
    Ok(CommandSet {
        model: CommandModel {
            id: e.id.clone(),
            name: e.name.clone(),
            hf_repo: e.hf_repo.clone(),
        },
        commands: ok
            .into_iter()
            .map(|(q, c)| QuantCommand {
                quant: q.to_string(),
                shell_line: c.shell_line(),
                command: c,
            })
            .collect(),
        skipped,
    })
}
