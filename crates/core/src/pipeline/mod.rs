//! One computation behind every answer: [`estimate`] takes a [`Request`]
//! (model, run settings, engine, hardware, workload) and returns a
//! [`Report`] (memory with its terms, placement per device, verdict, speed
//! with ranges, power and cost where asked, and the commands).
//!
//! Every command of the binary, the web page and the searches (`plan`,
//! `recommend`) call this function; none of them computes a number of its
//! own. The direction is fixed: model → memory → placement → verdict →
//! speed → power and cost → commands.
//!
//! `Report` serialises to the versioned JSON schema of `docs/json-schema.md`.

mod companions;
mod llama_cpp;
mod model;
mod pasted;
mod power;
mod runners;
mod server;
pub use server::engine_step_rates;
mod speculative;
mod speed;

pub use companions::{CompanionMemory, Companions, Projector};
pub use llama_cpp::FitTrace;
pub use model::{Model, ModelError, ModelInfo, ModelOrigin, DEFAULT_QUANT};
pub use power::{CostFlags, PowerReport, PowerRequest, Rental};
pub use runners::{
    commands, commands_for, default_quant, server_settings, CommandModel, CommandSet,
    CommandsRequest, QuantCommand, ServerChoice,
};
pub use server::{native_quant, ServerReport, ServerRun, ALL_REDUCE_LATENCY_S};
pub use speculative::{Speculative, SpeculativeReport, MTP_ACCEPTANCE, MTP_ACCEPTANCE_SOURCE};
pub use speed::{DecodeAt, Speed, SpeedReport};

use crate::commands::{self, CommandError, RunCommand, Runner};
use crate::hardware::Target;
use crate::memory::verdict::Verdict;
use crate::memory::{MemoryBreakdown, RunSettings, SettingsError};
use crate::placement::llama_cpp::{fit::FitSettings, PlacementArgs, PlacementError};
use crate::placement::Placement;
use serde::Serialize;

/// The version of the JSON schema [`Report`] serialises to.
pub const SCHEMA: u32 = 1;

/// The engine that serves the model, with its own settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Engine {
    /// llama.cpp (llama-server, llama-cli; Ollama runs it too).
    LlamaCpp(LlamaCppRun),
    /// vLLM.
    Vllm(ServerRun),
    /// SGLang (sized with vLLM's rules).
    Sglang(ServerRun),
}

impl Engine {
    /// The engine's name as printed.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::LlamaCpp(_) => "llama.cpp",
            Engine::Vllm(_) => "vllm",
            Engine::Sglang(_) => "sglang",
        }
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::LlamaCpp(LlamaCppRun::default())
    }
}

/// llama.cpp's placement: flags as given (`None`: none given) and its `--fit`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlamaCppRun {
    /// `-ngl`, `-ts`, `-sm`, `-ot`, `--cpu-moe`, `-nkvo` as given.
    pub placement: Option<PlacementArgs>,
    /// `-fit`, `-fitt`, `-fitc`.
    pub fit: FitSettings,
    /// `-md`, `--mmproj`: models loaded beside the main one.
    pub companions: Companions,
}

/// What the user will run: the prompt, the depths to report decode at, and
/// (for a reasoning model) the tokens of a full answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Prompt tokens for prefill and time to first token.
    pub prompt: u64,
    /// Context depths at which decode is reported; empty: 0 and the context per sequence.
    pub depths: Vec<u64>,
    /// Thinking tokens of one answer (reasoning models).
    pub thinking: u64,
    /// Answer tokens after the thinking.
    pub answer: u64,
    /// Speculative decoding with the model's MTP layer (vLLM, SGLang).
    pub speculative: Option<Speculative>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            prompt: 1000,
            depths: vec![],
            thinking: crate::speed::R1_THINKING_TOKENS,
            answer: crate::speed::R1_ANSWER_TOKENS,
            speculative: None,
        }
    }
}

/// Extra inputs of the commands section.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOptions {
    /// Engines to write a command for (empty: none).
    pub runners: Vec<Runner>,
    /// A local model path to load instead of downloading.
    pub local_path: Option<String>,
    /// GPUs per node, to split vLLM/SGLang over machines.
    pub gpus_per_node: u64,
}

impl Default for CommandOptions {
    fn default() -> Self {
        CommandOptions {
            runners: vec![Runner::LlamaCpp, Runner::Ollama],
            local_path: None,
            gpus_per_node: 8,
        }
    }
}

/// Everything an estimate depends on.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The model and its tensors.
    pub model: &'a Model,
    /// Run settings; `backend` is the one the hardware runs (see [`Target::backend`]).
    pub settings: RunSettings,
    /// The engine and its settings.
    pub engine: Engine,
    /// The hardware.
    pub hardware: &'a Target,
    /// Prompt, depths, answer length.
    pub workload: Workload,
    /// Power, electricity and ROI, when asked.
    pub power: Option<PowerRequest>,
    /// Which commands to write.
    pub commands: CommandOptions,
    /// This machine's fitted bandwidth and compute factors (`canirun
    /// calibrate`), applied to every device's rates; `None`: the catalog's.
    pub local: Option<crate::speed::local::LocalCalibration>,
}

impl<'a> Request<'a> {
    /// llama.cpp with its defaults (no placement flag, `--fit` on), the
    /// default workload, no power and no commands: what the searches ask.
    pub fn new(model: &'a Model, hardware: &'a Target, settings: RunSettings) -> Request<'a> {
        Request {
            model,
            settings,
            engine: Engine::default(),
            hardware,
            workload: Workload::default(),
            power: None,
            commands: CommandOptions {
                runners: vec![],
                ..CommandOptions::default()
            },
            local: None,
        }
    }
}

/// Why there is no report at all (a setup that merely does not fit still gets one).
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// The engine refuses these settings.
    #[error("llama.cpp would refuse these settings: {0}")]
    Settings(#[from] SettingsError),
    /// The placement flags are impossible.
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// vLLM/SGLang cannot run this request.
    #[error("{0}")]
    Server(String),
    /// Power or cost inputs are invalid.
    #[error(transparent)]
    Cost(#[from] crate::cost::CostError),
    /// The model cannot be built with this quantization.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The answer to one request.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// JSON schema version ([`SCHEMA`]).
    pub schema: u32,
    /// The model.
    pub model: ModelInfo,
    /// The quantization.
    pub quant: String,
    /// The engine.
    pub engine: &'static str,
    /// Run settings as used (after `--fit` shrank an unset context).
    pub settings: RunSettings,
    /// The hardware.
    pub hardware: Target,
    /// llama.cpp's memory, every part with its terms (llama.cpp only).
    pub memory: Option<MemoryBreakdown>,
    /// The sum of the memory parts (llama.cpp only).
    pub memory_total: Option<crate::units::Bytes>,
    /// vLLM/SGLang's per-GPU memory (those engines only).
    pub server: Option<ServerReport>,
    /// Where every tensor and KV row lives, device by device (llama.cpp).
    pub placement: Option<Placement>,
    /// How the placement was chosen.
    pub placement_method: String,
    /// llama.cpp's `--fit` search with each configuration it projected.
    pub fit: Option<FitTrace>,
    /// Models loaded beside the main one (`-md`, `--mmproj`), pool by pool;
    /// already in the placement's totals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub companions: Vec<CompanionMemory>,
    /// Whether it runs.
    pub verdict: Verdict,
    /// Prefill, decode at depth, time to a full answer.
    pub speed: Speed,
    /// Power, energy per token, electricity and ROI (when asked).
    pub power: Option<PowerReport>,
    /// The commands that start this setup.
    pub commands: Vec<RunCommand>,
    /// Engines that get no command, with why.
    pub commands_skipped: Vec<String>,
    /// Things the user must know (does not fit, beyond the trained context).
    pub warnings: Vec<String>,
    /// Caveats.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether the setup runs at all (fits, or fits with part in RAM).
    pub fn runs(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Fits { .. } | Verdict::FitsOffloaded { .. }
        )
    }

    /// The llama.cpp placement flags as one display string (empty: none).
    pub fn placement_line(&self) -> String {
        self.placement
            .as_ref()
            .map(|p| p.flags_line())
            .unwrap_or_default()
    }

    /// Memory the setup needs in all pools together.
    pub fn memory_needed(&self) -> crate::units::Bytes {
        match (&self.placement, &self.server) {
            (Some(p), _) => p.devices.iter().map(|d| d.total()).sum(),
            (None, Some(s)) => s.needed_total,
            _ => crate::units::Bytes::ZERO,
        }
    }
}

/// Estimate everything for one request.
pub fn estimate(req: &Request<'_>) -> Result<Report, EstimateError> {
    let mut report = match &req.engine {
        Engine::LlamaCpp(run) => llama_cpp::estimate(req, run)?,
        Engine::Vllm(run) | Engine::Sglang(run) => server::estimate(req, run)?,
    };
    report.notes.splice(0..0, req.model.notes.iter().cloned());
    context_warning(req, &mut report);
    if let Verdict::DoesNotFit { short_by, pool } = &report.verdict {
        report.warnings.push(format!(
            "does not fit: {pool} is short by {short_by}; try a smaller quant (-q), a shorter context (-c), a quantized cache (-ctk q8_0 -ctv q8_0), more RAM (--ram) or more GPUs"
        ));
    }
    ram_warning(req, &mut report);
    if let Some(a) = report.speed.report().and_then(|s| s.assumed_cpu.clone()) {
        report.hardware.assumptions.push(a);
    }
    if let Some(spec) = req.workload.speculative {
        match speculative::unavailable(req) {
            Some(why) => report
                .notes
                .push(format!("MTP speculative decoding: {why}")),
            None => {
                let tp = report
                    .server
                    .as_ref()
                    .map_or(1, |s| s.settings.tensor_parallel);
                match speculative::estimate(req, spec, &report.speed, tp) {
                    Ok(r) => {
                        report.notes.push(format!(
                            "the MTP layer takes {} per GPU out of the KV pool; acceptance {:.0}% per draft token ({}); one request pays for the extra experts the draft tokens route to (independent routing assumed, an upper bound), which a large serving batch reads anyway",
                            r.memory_per_gpu,
                            r.acceptance * 100.0,
                            r.source
                        ));
                        if let Speed::Estimated(sp) = &mut report.speed {
                            sp.speculative = Some(r);
                        }
                    }
                    Err(e) => report.notes.push(format!("MTP speculative decoding: {e}")),
                }
            }
        }
    }
    if let Engine::LlamaCpp(run) = &req.engine {
        if let Some((draft, spec)) = run.companions.speculative() {
            let on_gpu = report
                .companions
                .iter()
                .filter(|c| c.loc != crate::placement::Loc::Cpu)
                .map(|c| c.bytes)
                .sum();
            match speculative::estimate_draft(req, draft, spec, &report.speed, on_gpu) {
                Ok(r) => {
                    report.notes.push(match run.companions.draft_acceptance {
                        Some(_) => format!(
                            "speculative decoding: acceptance {:.0}% per draft token, as given; the draft's decode is estimated as if it ran alone on the same hardware",
                            r.acceptance * 100.0
                        ),
                        None => format!(
                            "speculative decoding: acceptance {:.0}% per draft token ({}); pass --draft-acceptance for your own",
                            r.acceptance * 100.0,
                            r.source
                        ),
                    });
                    if let Speed::Estimated(sp) = &mut report.speed {
                        sp.speculative = Some(r);
                    }
                }
                Err(e) => report
                    .notes
                    .push(format!("speculative decoding with the draft model: {e}")),
            }
        }
    }
    if let (Some(p), Speed::Estimated(sp)) = (&req.power, &report.speed) {
        match power::estimate(req, p, sp) {
            Ok(pw) => report.power = Some(pw),
            Err(e) => report.notes.push(format!("power: {e}")),
        }
    }
    write_commands(req, &mut report);
    Ok(report)
}

/// Say so when weights go to a system RAM whose size nobody gave.
fn ram_warning(req: &Request<'_>, r: &mut Report) {
    let Some(p) = &r.placement else {
        return;
    };
    let host = p.devices[0].weights.saturating_sub(p.devices[0].embedding);
    if req.hardware.ram.is_none() && req.hardware.has_gpu() && host > crate::units::Bytes::gib(1) {
        r.warnings.push(format!(
            "{host} of weights do not fit on the GPUs and go to system RAM, whose size is unknown: give --ram to check that they fit"
        ));
    }
}

/// Say so when the context per sequence is beyond what the model was trained on.
fn context_warning(req: &Request<'_>, r: &mut Report) {
    let train = req.model.spec.n_ctx_train;
    let per_seq = r.settings.context_per_sequence();
    if train > 0 && per_seq > train {
        r.warnings.push(format!(
            "the context per sequence ({per_seq}) is {:.1}× the {train} tokens {} was trained on: memory is sized as asked, but answers past {train} tokens degrade",
            per_seq as f64 / train as f64,
            req.model.spec.name
        ));
    }
}

/// The commands that start the setup of the report (catalog models only:
/// a command needs a repository to download from).
fn write_commands(req: &Request<'_>, r: &mut Report) {
    let Some((entry, quant)) = &req.model.catalog else {
        return;
    };
    if req.commands.runners.is_empty() || matches!(r.verdict, Verdict::DoesNotFit { .. }) {
        return;
    }
    let server_settings = server::settings_of(req);
    let flags = r.placement.as_ref().map(|p| p.llama.clone());
    let spec = &req.model.spec;
    for &runner in &req.commands.runners {
        let q = match runner {
            Runner::LlamaCpp | Runner::Ollama => quant.clone(),
            _ => server::engine_quant(runner, entry, quant),
        };
        let creq = commands::Request {
            entry: Some(entry),
            local_path: req.commands.local_path.as_deref(),
            placement: flags.as_ref(),
            server: server_settings.as_ref(),
            gpus_per_node: req.commands.gpus_per_node,
            ..commands::Request::new(spec, &q, &r.settings)
        };
        match commands::generate(runner, &creq) {
            Ok(c) if runner == Runner::LlamaCpp => {
                if let Engine::LlamaCpp(run) = &req.engine {
                    let extra = run.companions.flags();
                    if !extra.is_empty() {
                        r.notes.push(format!(
                            "the llama.cpp command is the main model's; add {} to load what was sized beside it (a catalog name stands for its GGUF file)",
                            extra.join(" ")
                        ));
                    }
                }
                r.commands.push(c)
            }
            Ok(c) => r.commands.push(c),
            Err(CommandError::NotApplicable { engine, why }) => {
                r.commands_skipped.push(format!("{engine}: {why}"))
            }
        }
    }
}

#[cfg(test)]
mod tests;
