//! Run-setting flags shared by the commands, named after llama.cpp's own.

use anyhow::{Context, Result};
use canirun_core::memory::{Backend, FlashAttn, MlaCache, RunSettings};
use canirun_core::model::MlaTensorLayout;
use canirun_core::placement::llama_cpp::{parse_buft, Override, PlacementArgs, SplitMode};
use canirun_core::placement::Loc;
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
    #[arg(long = "parallel", visible_alias = "np", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub parallel: u64,
    /// One KV stream shared by all sequences (llama.cpp --kv-unified).
    #[arg(long = "kv-unified", visible_alias = "kvu")]
    pub kv_unified: bool,
    /// Logical batch size.
    #[arg(short = 'b', long = "batch-size", value_name = "N", default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub batch: u64,
    /// Physical batch size (tokens per graph evaluation).
    #[arg(long = "ubatch-size", visible_alias = "ub", value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
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
pub fn parse_ctx(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.strip_suffix('k') {
        Some(n) => (n, 1024),
        None => (t.as_str(), 1),
    };
    let n: i64 = num.parse().map_err(|_| {
        format!("'{s}' is not a context size; use a whole number of tokens such as 4096 or 32k")
    })?;
    if n < 0 {
        return Err(format!(
            "context {s} is negative; use 1 to 10000000 tokens, or 0 for the training context"
        ));
    }
    let n = n as u64 * mult;
    if n > 10_000_000 {
        return Err(format!("context {s} is absurd; use 1 to 10000000 tokens"));
    }
    Ok(n)
}

fn parse_fa(s: &str) -> Result<FlashAttn, String> {
    FlashAttn::parse(s).ok_or_else(|| format!("'{s}' is not on, off or auto"))
}

fn parse_cache_type(s: &str) -> Result<GgmlType, String> {
    let t: GgmlType = s.parse().map_err(|_| {
        format!(
            "'{s}' is not a cache type; use f16, bf16, f32, q8_0, q4_0, q4_1, q5_0, q5_1 or iq4_nl"
        )
    })?;
    if canirun_core::memory::CACHE_TYPES.contains(&t) {
        Ok(t)
    } else {
        Err(format!("{t} is not a cache type llama.cpp accepts; use f16, bf16, f32, q8_0, q4_0, q4_1, q5_0, q5_1 or iq4_nl"))
    }
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
/// wants two. Rewrite those tokens so users can paste their own command line.
pub fn llama_style_args(args: impl Iterator<Item = String>) -> Vec<String> {
    const SINGLE_DASH: [(&str, &str); 10] = [
        ("-fa", "--flash-attn"),
        ("-ctk", "--cache-type-k"),
        ("-ctv", "--cache-type-v"),
        ("-np", "--parallel"),
        ("-ub", "--ubatch-size"),
        ("-ngl", "--n-gpu-layers"),
        ("-ot", "--override-tensor"),
        ("-ts", "--tensor-split"),
        ("-kvu", "--kv-unified"),
        ("-sm", "--split-mode"),
    ];
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
            SINGLE_DASH
                .iter()
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
    #[arg(long = "n-gpu-layers", visible_alias = "ngl", value_name = "N", allow_negative_numbers = true, value_parser = parse_ngl)]
    pub ngl: Option<Ngl>,
    /// Proportions of the layers per GPU, e.g. 3,1.
    #[arg(long = "tensor-split", visible_alias = "ts", value_name = "A,B,…", value_parser = parse_ts)]
    pub ts: Option<Vec<f64>>,
    /// How to split across GPUs: layer, row or none.
    #[arg(long = "split-mode", visible_alias = "sm", value_name = "MODE", value_parser = ["layer", "row", "none"])]
    pub sm: Option<String>,
    /// The main GPU (for row split and none).
    #[arg(
        long = "main-gpu",
        visible_alias = "mg",
        value_name = "I",
        default_value_t = 0
    )]
    pub mg: usize,
    /// Override where tensors go: REGEX=BUFFER, e.g. exps=CPU (repeatable).
    #[arg(
        long = "override-tensor",
        visible_alias = "ot",
        value_name = "PATTERN=BUFFER"
    )]
    pub ot: Vec<String>,
    /// Keep all MoE experts in system RAM (llama.cpp --cpu-moe).
    #[arg(long = "cpu-moe", visible_alias = "cmoe")]
    pub cmoe: bool,
    /// Keep the KV cache in system RAM.
    #[arg(long = "no-kv-offload", visible_alias = "nkvo")]
    pub nkvo: bool,
}

/// `-ngl`: a layer count, or every layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ngl(pub Option<u64>);

fn parse_ngl(s: &str) -> Result<Ngl, String> {
    match s {
        "all" | "-1" | "auto" => Ok(Ngl(None)),
        _ => s
            .parse::<u64>()
            .map(|n| Ngl(Some(n)))
            .map_err(|_| format!("'{s}' is not a layer count; use a whole number or all")),
    }
}

fn parse_ts(s: &str) -> Result<Vec<f64>, String> {
    let v: Result<Vec<f64>, _> = s
        .split([',', '/'])
        .map(|p| p.trim().parse::<f64>())
        .collect();
    match v {
        Ok(v) if v.iter().all(|x| x.is_finite() && *x >= 0.0) && v.iter().any(|x| *x > 0.0) => {
            Ok(v)
        }
        _ => Err(format!(
            "'{s}' is not a tensor split; give one non-negative proportion per GPU, e.g. 3,1"
        )),
    }
}

impl PlacementFlags {
    /// The flags as placement arguments, or `None` when none was given.
    pub(crate) fn args(&self) -> Result<Option<PlacementArgs>> {
        let given = self.ngl.is_some()
            || self.ts.is_some()
            || self.sm.is_some()
            || !self.ot.is_empty()
            || self.cmoe
            || self.nkvo
            || self.mg != 0;
        if !given {
            return Ok(None);
        }
        let mut overrides = Vec::new();
        for rule in &self.ot {
            for part in rule.split(',') {
                let (pat, buft) = part
                    .split_once('=')
                    .with_context(|| format!("-ot {rule}: write PATTERN=BUFFER, e.g. exps=CPU"))?;
                let target = parse_buft(buft).with_context(|| {
                    format!("-ot {rule}: the buffer must be CPU, CUDA0, ROCm0, Vulkan0 or Metal")
                })?;
                overrides.push(Override {
                    pattern: pat.to_string(),
                    target,
                });
            }
        }
        if self.cmoe {
            overrides.push(Override {
                pattern: r"\.ffn_(up|down|gate)_(ch|)exps".into(),
                target: Loc::Cpu,
            });
        }
        Ok(Some(PlacementArgs {
            n_gpu_layers: self.ngl.and_then(|n| n.0),
            split_mode: match self.sm.as_deref() {
                Some("row") => SplitMode::Row,
                Some("none") => SplitMode::None,
                _ => SplitMode::Layer,
            },
            tensor_split: self.ts.clone(),
            main_gpu: self.mg,
            overrides,
            no_kv_offload: self.nkvo,
        }))
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
