//! From command-line arguments to the core's `Request`: the argument groups
//! the commands share, model loading (with a progress bar for remote
//! headers) and the hardware target (named, given or detected).

use crate::args::{parse_size, PlacementFlags, ServerFlags, SettingsArgs};
use anyhow::{Context, Result};
use canirun_core::cmdline::CompanionFlags;
use canirun_core::hardware::{Catalog, Target};
use canirun_core::pipeline::{CommandOptions, Companions, Engine, Model, Request, ServerRun};
use canirun_core::units::Bytes;
use canirun_io::load::{self, LoadOptions};
use clap::Args;

/// The hardware flags.
#[derive(Args, Debug, Clone, Default)]
pub struct HardwareArgs {
    /// Hardware: 4090, 2x4090, rtx3090*4, m3-ultra-512, "4090 + epyc-9004-12ch-ddr5-4800" … (repeatable). Default: this machine.
    #[arg(long = "gpu", visible_alias = "hw", value_name = "NAME")]
    pub gpu: Vec<String>,
    /// GPU memory available, e.g. 24GiB (instead of naming or detecting the GPU).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub vram: Option<Bytes>,
    /// System RAM available for offloaded layers, e.g. 64GiB (default: detected or none); its speed is this machine's CPU's unless --gpu names a CPU.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub ram: Option<Bytes>,
}

impl HardwareArgs {
    /// The target: named devices, given sizes, or this machine.
    pub fn target(&self) -> Result<Target> {
        let catalog = Catalog::embedded().context("loading the embedded hardware catalog")?;
        let (gpu, vram, ram) = (&self.gpu, self.vram, self.ram);
        Ok(canirun_io::detect::chosen_target(catalog, gpu, vram, ram)?)
    }

    /// One named setup (`compare --hw NAME`).
    pub fn named(name: &str, ram: Option<Bytes>) -> Result<Target> {
        let catalog = Catalog::embedded().context("loading the embedded hardware catalog")?;
        canirun_io::detect::named_target(catalog, name, ram).with_context(|| format!("--hw {name}"))
    }
}

/// Flags of the quantization.
#[derive(Args, Debug, Clone, Default)]
pub struct QuantArgs {
    /// Quantization: Q4_K_M, Q8_0, IQ2_XXS, Q5_K_L, UD-IQ1_S, F16, BF16, FP8, AWQ, EXL2-4.0bpw, MLX-4bit … (default: the tag's, else Q4_K_M; vLLM: the published checkpoint)
    #[arg(short = 'q', long = "quant", value_name = "QUANT")]
    pub quant: Option<String>,
    /// Quantized with an importance matrix (changes a few llama.cpp rules).
    #[arg(long)]
    pub imatrix: bool,
}

/// vLLM/SGLang launch flags, shared by the estimate and `canirun command`.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerArgs {
    #[command(flatten)]
    pub flags: ServerFlags,
    /// vLLM/SGLang: speculative decoding with R1's MTP layer, N draft tokens per step.
    #[arg(long = "mtp", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=16))]
    pub mtp: Option<u64>,
    /// Acceptance of each MTP draft token (default 0.85, DeepSeek-V3's report).
    #[arg(long = "mtp-acceptance", value_name = "F", value_parser = canirun_core::flags::parse_fraction)]
    pub mtp_acceptance: Option<f64>,
}

impl ServerArgs {
    /// The launch settings as given (vLLM's defaults elsewhere).
    pub fn run(&self) -> ServerRun {
        ServerRun::from_command(&self.flags.read)
    }

    /// The speculative decoding asked for.
    pub fn speculative(&self) -> Option<canirun_core::pipeline::Speculative> {
        self.mtp.map(|k| canirun_core::pipeline::Speculative {
            draft_tokens: k,
            acceptance: self
                .mtp_acceptance
                .unwrap_or(canirun_core::pipeline::MTP_ACCEPTANCE),
        })
    }
}

/// The engine flags (vLLM/SGLang ones apply to those engines only).
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Engine: llama.cpp (default), vllm, sglang, or exo (Macs, with --nodes).
    #[arg(long, value_name = "ENGINE", default_value = "llama.cpp", value_parser = ["llama.cpp", "llamacpp", "vllm", "sglang", "exo"])]
    pub engine: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// llama.cpp -md: acceptance of each draft token (default 0.35, llama.cpp's own measurements).
    #[arg(long = "draft-acceptance", value_name = "F", value_parser = canirun_core::flags::parse_fraction)]
    pub draft_acceptance: Option<f64>,
}

impl EngineArgs {
    /// Whether vLLM or SGLang was chosen.
    pub fn is_server(&self) -> bool {
        matches!(self.engine.as_str(), "vllm" | "sglang")
    }

    /// The engine with its settings; llama.cpp takes `placement`.
    pub fn engine(&self, placement: &PlacementFlags) -> Engine {
        match self.engine.as_str() {
            "vllm" => Engine::Vllm(self.server.run()),
            "sglang" => Engine::Sglang(self.server.run()),
            _ => Engine::LlamaCpp(placement.llama_run()),
        }
    }
}

/// Load a model by what the user typed, drawing a progress bar while a
/// remote header takes long enough to wonder about. vLLM/SGLang default to
/// the published checkpoint's format instead of Q4_K_M.
pub fn load_model(name: &str, q: &QuantArgs, s: &SettingsArgs, server: bool) -> Result<Model> {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("reading remote header {bytes} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let started = std::time::Instant::now();
    let progress = |p: &canirun_io::remote::FetchProgress<'_>| {
        if started.elapsed() > std::time::Duration::from_millis(300) {
            bar.set_position(p.total_fetched);
            bar.set_message(p.url.to_string());
        }
    };
    let opts = LoadOptions {
        quant: q.quant.as_deref(),
        imatrix: q.imatrix,
        mla_tensors: s.mla_tensors,
        server,
    };
    let m = load::load(name, &opts, Some(&progress));
    bar.finish_and_clear();
    Ok(m?)
}

/// The models a llama.cpp command loads beside the main one (`-md`, a
/// catalog model at its default quantization, a file or a remote header;
/// `--mmproj`, a GGUF file or remote header), loaded.
pub fn companions(
    f: &CompanionFlags,
    s: &SettingsArgs,
    draft_acceptance: Option<f64>,
) -> Result<Companions> {
    let draft = f
        .draft_model
        .as_deref()
        .map(|n| load_model(n, &QuantArgs::default(), s, false).with_context(|| format!("-md {n}")))
        .transpose()?
        .map(Box::new);
    let mmproj = f.mmproj.as_deref().map(load::projector).transpose()?;
    Ok(Companions {
        draft,
        draft_cache: Some((f.draft_type_k, f.draft_type_v)),
        draft_tokens: Some(f.draft_max),
        draft_acceptance,
        mmproj,
        mmproj_on_cpu: !f.mmproj_offload,
    })
}

/// The request for `model` on `hardware` with the flags' settings, writing
/// the llama.cpp and Ollama commands.
pub fn request<'a>(
    model: &'a Model,
    hardware: &'a Target,
    settings: &SettingsArgs,
    engine: Engine,
) -> Request<'a> {
    Request {
        engine,
        commands: CommandOptions::default(),
        ..Request::new(model, hardware, settings.settings_on(hardware.backend))
    }
}

/// The history flags `bench`, `history` and `calibrate` share.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// History database (default: $CANIRUN_HISTORY, else the user's data directory).
    #[arg(long, value_name = "FILE")]
    pub db: Option<std::path::PathBuf>,
    /// Predict with the catalog's rates, not this machine's `canirun calibrate` factors.
    #[arg(long = "no-local-calibration")]
    pub no_local_calibration: bool,
}

impl DbArgs {
    /// The history database file.
    pub fn path(&self) -> std::path::PathBuf {
        self.db
            .clone()
            .unwrap_or_else(canirun_bench::history::default_path)
    }
}
