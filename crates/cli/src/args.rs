//! Run-setting flags shared by the commands, named after llama.cpp's own.

use anyhow::Result;
use canirun_core::flags::{self, ValueError};
use canirun_core::memory::{Backend, FlashAttn, MlaCache, RunSettings};
use canirun_core::model::MlaTensorLayout;
use canirun_core::placement::llama_cpp::fit::FitSettings;
use canirun_core::placement::llama_cpp::{Override, PlacementArgs, SplitMode};
use canirun_core::quant::GgmlType;
use canirun_core::units::Bytes;
use clap::Args;

/// llama.cpp run settings.
#[derive(Args, Debug, Clone)]
pub struct SettingsArgs {
    /// Context size in tokens, all sequences together (0 = the model's training context).
    #[arg(short = 'c', long = "ctx-size", value_name = "N", default_value_t = 4096, value_parser = parse_ctx, allow_negative_numbers = true)]
    pub ctx: u64,
    /// Flash attention: on, off or auto.
    #[arg(long = "flash-attn", visible_alias = "fa", value_name = "on|off|auto", default_value = "auto", value_parser = parse_fa)]
    pub flash_attn: FlashAttn,
    /// K cache type: f16, bf16, f32, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl.
    #[arg(long = "cache-type-k", visible_alias = "ctk", value_name = "TYPE", default_value = "f16", value_parser = parse_cache_type)]
    pub type_k: GgmlType,
    /// V cache type (quantized types need flash attention).
    #[arg(long = "cache-type-v", visible_alias = "ctv", value_name = "TYPE", default_value = "f16", value_parser = parse_cache_type)]
    pub type_v: GgmlType,
    /// Parallel sequences (slots).
    #[arg(long = "parallel", visible_alias = "np", value_name = "N", default_value_t = 1, value_parser = |s: &str| flags::parse_count(s, 1, 4096))]
    pub parallel: u64,
    /// One KV stream shared by all sequences (llama.cpp --kv-unified).
    #[arg(long = "kv-unified", visible_alias = "kvu")]
    pub kv_unified: bool,
    /// Logical batch size.
    #[arg(short = 'b', long = "batch-size", value_name = "N", default_value_t = 2048, value_parser = |s: &str| flags::parse_count(s, 1, 1 << 20))]
    pub batch: u64,
    /// Physical batch size (tokens per graph evaluation).
    #[arg(long = "ubatch-size", visible_alias = "ub", value_name = "N", default_value_t = 512, value_parser = |s: &str| flags::parse_count(s, 1, 1 << 20))]
    pub ubatch: u64,
    /// Backend that holds the model: cpu, cuda, metal, vulkan, rocm (default: from the hardware, else cuda).
    #[arg(long, value_name = "NAME", value_parser = parse_backend)]
    pub backend: Option<Backend>,
    /// DeepSeek MLA cache layout of the engine version: latent (llama.cpp since Jan 2026), latent-kv (Apr 2025–Jan 2026), expanded (before Apr 2025).
    #[arg(long = "mla-cache", value_name = "LAYOUT", default_value = "latent", value_parser = parse_mla)]
    pub mla_cache: MlaCache,
    /// DeepSeek GGUF tensor layout: split (attn_k_b/attn_v_b, converted since Apr 2025) or fused (attn_kv_b).
    #[arg(long = "mla-tensors", value_name = "LAYOUT", default_value = "split", value_parser = parse_mla_tensors)]
    pub mla_tensors: MlaTensorLayout,
}

impl SettingsArgs {
    /// As core run settings, with `default_backend` when `--backend` was not given.
    pub fn settings_on(&self, default_backend: Backend) -> RunSettings {
        RunSettings {
            backend: self.backend.unwrap_or(default_backend),
            ..self.settings()
        }
    }

    /// As core run settings (CUDA unless `--backend` says otherwise).
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            n_ctx: self.ctx,
            n_batch: self.batch,
            n_ubatch: self.ubatch,
            n_parallel: self.parallel,
            kv_unified: self.kv_unified,
            flash_attn: self.flash_attn,
            type_k: self.type_k,
            type_v: self.type_v,
            backend: self.backend.unwrap_or(Backend::Cuda),
            mla_cache: self.mla_cache,
            // canirun sizes llama-server, which reserves one logit row per sequence.
            outputs: canirun_core::memory::OutputRows::PerSequence,
        }
    }
}

/// Context: a whole number from 0 to 10,000,000 (`32k` and `128K` accepted).
pub fn parse_ctx(s: &str) -> Result<u64, ValueError> {
    flags::parse_ctx(s)
}

/// Context for commands without a training-context default: 1 to 10,000,000 (`32k` accepted).
pub fn parse_ctx_given(s: &str) -> Result<u64, ValueError> {
    flags::parse_ctx_given(s)
}

fn parse_fa(s: &str) -> Result<FlashAttn, ValueError> {
    flags::parse_flash_attn(s)
}

fn parse_cache_type(s: &str) -> Result<GgmlType, ValueError> {
    flags::parse_cache_type(s)
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    Backend::parse(s)
        .ok_or_else(|| format!("'{s}' is not a backend; use cpu, cuda, metal, vulkan or rocm"))
}

fn parse_mla(s: &str) -> Result<MlaCache, String> {
    MlaCache::parse(s).ok_or_else(|| {
        format!("'{s}' is not an MLA cache layout; use latent, latent-kv or expanded")
    })
}

fn parse_mla_tensors(s: &str) -> Result<MlaTensorLayout, String> {
    match s.to_ascii_lowercase().as_str() {
        "split" | "new" => Ok(MlaTensorLayout::Split),
        "fused" | "old" | "kv_b" => Ok(MlaTensorLayout::Fused),
        _ => Err(format!("'{s}' is not a tensor layout; use split or fused")),
    }
}

/// A memory size such as 24GiB, 24GB or 512MiB.
pub fn parse_size(s: &str) -> Result<Bytes, String> {
    Bytes::parse(s).map_err(|e| e.to_string())
}

/// llama.cpp spells some long options with one dash (`-fa`, `-ctk`, `-ngl`); clap
/// wants two. Rewrite those tokens (the single-dash aliases of core's flag table)
/// so users can paste their own command line.
pub fn llama_style_args(args: impl Iterator<Item = String>) -> Vec<String> {
    // Everything after a bare `--` is a pasted command, read by its own parser.
    let mut pasted = false;
    let out: Vec<String> = args
        .map(|a| {
            if pasted {
                return a;
            }
            if a == "--" {
                pasted = true;
                return a;
            }
            flags::single_dash_aliases()
                .find(|(short, _)| *short == a)
                .map(|(_, long)| long.to_string())
                .unwrap_or(a)
        })
        .collect();
    // `--json` before a subcommand (`canirun --json models`) would be taken for the
    // default command's flags; move it just before the pasted command, or to the end.
    let cut = out.iter().position(|a| a == "--").unwrap_or(out.len());
    let (head, tail) = out.split_at(cut);
    if head.iter().skip(1).any(|a| a == "--json") {
        let mut v: Vec<String> = head.iter().filter(|a| *a != "--json").cloned().collect();
        v.push("--json".into());
        v.extend(tail.iter().cloned());
        return v;
    }
    out
}

/// llama.cpp's placement flags; without any, canirun offloads everything that
/// fits and otherwise fits like llama.cpp's `--fit` (experts to RAM first, then layers).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PlacementFlags {
    /// Layers to offload to the GPU(s), counting the output head as the last one (`all` = every layer).
    #[arg(long = "n-gpu-layers", visible_alias = "ngl", alias = "gpu-layers", value_name = "N", allow_negative_numbers = true, value_parser = parse_ngl)]
    pub ngl: Option<Ngl>,
    /// Proportions of the layers per GPU, e.g. 3,1.
    #[arg(long = "tensor-split", visible_alias = "ts", value_name = "A,B,…", value_parser = parse_ts)]
    pub ts: Option<TensorSplit>,
    /// How to split across GPUs: layer, row or none.
    #[arg(long = "split-mode", visible_alias = "sm", value_name = "MODE", value_parser = flags::parse_split_mode)]
    pub sm: Option<SplitMode>,
    /// The main GPU (for row split and none).
    #[arg(long = "main-gpu", visible_alias = "mg", value_name = "I", default_value_t = 0, value_parser = |s: &str| flags::parse_count(s, 0, 64).map(|n| n as usize))]
    pub mg: usize,
    /// Override where tensors go: REGEX=BUFFER, e.g. exps=CPU (repeatable; several separated by commas).
    #[arg(long = "override-tensor", visible_alias = "ot", value_name = "PATTERN=BUFFER", value_parser = parse_ot)]
    pub ot: Vec<Overrides>,
    /// Keep all MoE experts in system RAM (llama.cpp --cpu-moe).
    #[arg(long = "cpu-moe", visible_alias = "cmoe")]
    pub cmoe: bool,
    /// Keep the MoE experts of the first N layers in system RAM (llama.cpp --n-cpu-moe).
    #[arg(long = "n-cpu-moe", visible_alias = "ncmoe", value_name = "N", value_parser = |s: &str| flags::parse_count(s, 0, 100_000))]
    pub ncmoe: Option<u64>,
    /// Keep the KV cache in system RAM.
    #[arg(long = "no-kv-offload", visible_alias = "nkvo")]
    pub nkvo: bool,
    #[command(flatten)]
    pub fit: FitArgs,
}

/// `-ngl`: a layer count, or every layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ngl(pub Option<u64>);

/// `-ts`: proportions per GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSplit(pub Vec<f64>);

/// One `-ot` value: its rules in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Overrides(pub Vec<Override>);

/// `-ngl` (core's parser).
pub fn parse_ngl(s: &str) -> Result<Ngl, ValueError> {
    flags::parse_ngl(s).map(Ngl)
}

/// `-ts` (core's parser).
pub fn parse_ts(s: &str) -> Result<TensorSplit, ValueError> {
    flags::parse_tensor_split(s).map(TensorSplit)
}

/// `-ot` (core's parser).
pub fn parse_ot(s: &str) -> Result<Overrides, ValueError> {
    flags::parse_overrides(s).map(Overrides)
}

impl PlacementFlags {
    /// The flags as placement arguments, or `None` when none was given.
    /// Overrides are in llama.cpp's order for its own parser: `-ot` rules, then
    /// `--cpu-moe`, then `--n-cpu-moe` (order only matters when targets differ).
    pub(crate) fn args(&self) -> Result<Option<PlacementArgs>> {
        let given = self.ngl.is_some()
            || self.ts.is_some()
            || self.sm.is_some()
            || !self.ot.is_empty()
            || self.cmoe
            || self.ncmoe.is_some()
            || self.nkvo
            || self.mg != 0;
        if !given {
            return Ok(None);
        }
        let mut overrides: Vec<Override> = self.ot.iter().flat_map(|o| o.0.clone()).collect();
        if self.cmoe {
            overrides.extend(flags::cpu_moe_overrides());
        }
        if let Some(n) = self.ncmoe {
            overrides.extend(flags::n_cpu_moe_overrides(n));
        }
        Ok(Some(PlacementArgs {
            n_gpu_layers: self.ngl.and_then(|n| n.0),
            split_mode: self.sm.unwrap_or_default(),
            tensor_split: self.ts.as_ref().map(|t| t.0.clone()),
            main_gpu: self.mg,
            overrides,
            no_kv_offload: self.nkvo,
        }))
    }
}

/// llama.cpp's `--fit` options.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FitArgs {
    /// llama.cpp's automatic fit: on (default) or off.
    #[arg(long = "fit", value_name = "on|off", value_parser = flags::parse_on_off)]
    pub fit: Option<bool>,
    /// MiB the fit leaves free per device (one value for all, or one per device; default 1024).
    #[arg(long = "fit-target", value_name = "MiB[,MiB…]", value_parser = parse_fitt)]
    pub fit_target: Option<FitTarget>,
    /// The fit never shrinks the context below this (default 4096).
    #[arg(long = "fit-ctx", value_name = "N", value_parser = |s: &str| flags::parse_count(s, 0, flags::MAX_CTX))]
    pub fit_ctx: Option<u64>,
}

/// `-fitt`: MiB per device.
#[derive(Debug, Clone, PartialEq)]
pub struct FitTarget(pub Vec<Bytes>);

/// `-fitt` (core's parser).
pub fn parse_fitt(s: &str) -> Result<FitTarget, ValueError> {
    flags::parse_mib_list(s).map(FitTarget)
}

impl FitArgs {
    /// As core fit settings (llama.cpp's defaults where not given).
    pub fn settings(&self) -> FitSettings {
        let d = FitSettings::default();
        FitSettings {
            enabled: self.fit.unwrap_or(d.enabled),
            margins: self.fit_target.clone().map_or(d.margins, |t| t.0),
            n_ctx_min: self.fit_ctx.unwrap_or(d.n_ctx_min),
        }
    }
}

impl SettingsArgs {
    /// The settings when no flag is given (llama.cpp's defaults, 4096 context).
    pub fn defaults() -> SettingsArgs {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            s: SettingsArgs,
        }
        <P as clap::Parser>::parse_from(["canirun"]).s
    }
}
