//! `canirun MODEL [settings]`: the memory llama.cpp allocates, and whether it fits.

use crate::args::{parse_size, SettingsArgs};
use crate::render;
use crate::target::target;
use anyhow::{bail, Context, Result};
use canirun_core::memory::fit::{verdict, Verdict};
use canirun_core::memory::llama_cpp;
use canirun_core::memory::MlaCache;
use canirun_core::model::{resolve, tensors::param_counts, ModelSpec};
use canirun_core::placement::llama_cpp::{
    buft_name,
    fit::{fit, FitDevice, FitOutcome, FitRequest, FitSettings},
    parse_buft, place, Override, PlacementArgs, SplitMode,
};
use canirun_core::placement::{DeviceSpec, Loc, Placement};
use canirun_core::quant::{weights, Quant, Weights};
use canirun_core::units::Bytes;
use canirun_io::gguf::DataStatus;
use clap::Args;
use serde_json::json;
use std::path::Path;

/// Arguments of the default command.
#[derive(Args, Debug)]
pub struct EstimateArgs {
    /// Model: an Ollama tag (deepseek-r1:7b), a Hugging Face id, a short name (r1-7b), a .gguf file, or a remote model (hf.co/<repo>:<quant>, https://…/file.gguf) read header-only.
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,
    /// Quantization: Q4_K_M, Q8_0, IQ2_XXS, Q5_K_L, UD-IQ1_S, F16, BF16, FP8, AWQ, EXL2-4.0bpw, MLX-4bit …
    #[arg(short = 'q', long = "quant", value_name = "QUANT")]
    pub quant: Option<String>,
    /// Quantized with an importance matrix (changes a few llama.cpp rules).
    #[arg(long)]
    pub imatrix: bool,
    /// Hardware to check against: 4090, 2x4090, rtx3090*4, m3-ultra-512, h100-sxm x8 … (repeatable). Default: this machine.
    #[arg(long = "gpu", visible_alias = "hw", value_name = "NAME")]
    pub gpu: Vec<String>,
    /// GPU memory available, e.g. 24GiB (instead of naming or detecting the GPU).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub vram: Option<Bytes>,
    /// System RAM available for offloaded layers, e.g. 64GiB (default: detected or none).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub ram: Option<Bytes>,
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
    /// Engine: llama.cpp (default), vllm or sglang.
    #[arg(long, value_name = "ENGINE", default_value = "llama.cpp", value_parser = ["llama.cpp", "llamacpp", "vllm", "sglang"])]
    pub engine: String,
    /// vLLM/SGLang tensor-parallel size (default: every GPU).
    #[arg(long = "tensor-parallel-size", visible_alias = "tp", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub tp: Option<u64>,
    /// vLLM/SGLang pipeline-parallel size.
    #[arg(long = "pipeline-parallel-size", visible_alias = "pp", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub pp: u64,
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
    /// A command to read instead: everything after `--`, e.g. `-- llama-server -m model.gguf -c 32768 -ngl 40 -ts 3,1 -fa on -ot exps=CPU`.
    #[arg(last = true, value_name = "COMMAND")]
    pub pasted: Vec<String>,
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

/// Where the model went and how that was decided.
pub(crate) struct Placed {
    /// The placement.
    pub placement: Placement,
    /// How it was chosen, for the output.
    pub how: String,
    /// The context after llama.cpp's `--fit`, when it shrank it.
    pub n_ctx: Option<u64>,
    /// The fit's search with the memory per device it projected and the
    /// target of each device (free − margin), for `--explain`.
    pub fit: Option<(canirun_core::placement::llama_cpp::fit::Fit, Vec<Bytes>)>,
}

/// Place the model as llama.cpp would: the flags as given, after its `--fit`
/// (on unless `-fit off`), which shrinks an unset context and, when no
/// placement flag was given, assigns layers and experts to keep a margin
/// (1 GiB by default) free on every GPU.
pub(crate) fn place_on(
    spec: &ModelSpec,
    w: &Weights,
    s: &canirun_core::memory::RunSettings,
    hw: &crate::target::Target,
    flags: &PlacementFlags,
    pasted: Option<PlacementArgs>,
    fit_settings: &FitSettings,
) -> Result<Placed> {
    let gpus: Vec<DeviceSpec> = hw
        .gpus
        .iter()
        .zip(&hw.gpu_names)
        .map(|(m, n)| DeviceSpec {
            name: n.clone(),
            memory: *m,
            backend: s.backend,
        })
        .collect();
    let given = pasted.or(flags.args()?).unwrap_or_default();
    if !fit_settings.enabled {
        return Ok(Placed {
            placement: place(spec, w, s, &gpus, hw.ram, &given)?,
            how: "as given, -fit off".into(),
            n_ctx: None,
            fit: None,
        });
    }
    // The backend's own context (CUDA, Metal) is already taken when llama.cpp
    // reads the free memory.
    let devices: Vec<FitDevice> = gpus
        .iter()
        .enumerate()
        .map(|(i, g)| FitDevice {
            spec: g.clone(),
            free: g
                .memory
                .saturating_sub(canirun_core::memory::llama_cpp::backend_overhead(g.backend).0),
            margin: fit_settings.margin(i),
        })
        .collect();
    let req = FitRequest {
        model: spec,
        settings: s.clone(),
        given: given.clone(),
        devices,
        host: hw.ram.map(|r| (r, fit_settings.margin(0))),
        n_ctx_min: fit_settings.n_ctx_min,
    };
    let f = fit(&req, w)?;
    let targets: Vec<Bytes> = req
        .devices
        .iter()
        .map(|d| d.free.saturating_sub(d.margin))
        .collect();
    let fitted_ctx = (f.n_ctx != s.n_ctx).then_some(f.n_ctx);
    let s_fit = canirun_core::memory::RunSettings {
        n_ctx: f.n_ctx,
        ..s.clone()
    };
    let placement = place(spec, w, &s_fit, &gpus, hw.ram, &f.args)?;
    let margin = fit_settings.margin(0).as_mib();
    let ctx_note = match fitted_ctx {
        Some(c) if s.n_ctx == 0 => format!(
            "; the training context ({}) did not fit, so the context is {c}",
            spec.n_ctx_train * s.n_parallel.max(1)
        ),
        Some(c) => format!("; context {c}"),
        None => String::new(),
    };
    let how = match f.outcome {
        FitOutcome::Unchanged if gpus.is_empty() => format!("CPU only{ctx_note}"),
        FitOutcome::Unchanged if given != PlacementArgs::default() => format!("as given{ctx_note}"),
        FitOutcome::Unchanged => format!("everything offloaded; at least {margin:.0} MiB stays free per GPU, so llama.cpp's --fit changes nothing{ctx_note}"),
        FitOutcome::ContextReduced => format!("llama.cpp --fit{ctx_note}"),
        FitOutcome::LayersAssigned => format!(
            "fitted like llama.cpp --fit: {margin:.0} MiB margin per GPU{ctx_note}; llama-fit-params would print: {}",
            f.fit_params_line(|l| buft_name(l, &gpus))
        ),
        FitOutcome::DoesNotFit => {
            format!("CPU only; llama.cpp --fit cannot make it fit in RAM{ctx_note}")
        }
    };
    Ok(Placed {
        placement,
        how,
        n_ctx: fitted_ctx,
        fit: Some((f, targets)),
    })
}

/// Run the estimate.
pub fn run(a: &EstimateArgs, json_out: bool) -> Result<()> {
    if matches!(a.engine.as_str(), "vllm" | "sglang") && a.pasted.is_empty() {
        return run_vllm(a, json_out);
    }
    // A pasted command line (`canirun -- llama-server -m … -c … -ngl …`) brings its own
    // model, settings and placement.
    let pasted = if a.pasted.is_empty() {
        None
    } else {
        Some(canirun_core::cmdline::parse(&a.pasted).context("reading the pasted command")?)
    };
    let name: String = match (&pasted, a.model.as_deref()) {
        (Some(p), _) => {
            let m = p.model.clone().with_context(|| format!("the pasted {} command names no model (-m, -hf, or the model argument)", p.program))?;
            // llama.cpp's -hf takes repo[:quant]; canirun reads it remotely.
            if p.engine == canirun_core::cmdline::Engine::LlamaCpp && !is_file(&m) && m.contains('/') && !is_remote(&m) {
                format!("hf.co/{m}")
            } else {
                m
            }
        }
        (None, Some(n)) => n.to_string(),
        (None, None) => bail!("name a model, e.g. `canirun deepseek-r1:7b` (run `canirun models` for the list, `canirun --help` for more)"),
    };
    let name = name.as_str();
    let mut pasted_notes = Vec::new();
    if let Some(p) = &pasted {
        for u in &p.unknown {
            pasted_notes.push(format!(
                "canirun does not know '{u}' of {}: it was not taken into account",
                p.program
            ));
        }
        if p.engine != canirun_core::cmdline::Engine::LlamaCpp {
            pasted_notes.push(format!("{} runs llama.cpp (Ollama) or its own engine (vLLM): memory is shown with llama.cpp's rules; vLLM's own pool is not modelled yet", p.program));
        }
    }
    let loaded = load(name, a)?;
    let spec = &loaded.spec;
    let w = &loaded.weights;
    let hw = target(&a.gpu, a.vram, a.ram)?;
    let mut s = match &pasted {
        Some(p) => canirun_core::memory::RunSettings {
            backend: a.settings.backend.unwrap_or(hw.backend),
            ..p.settings.clone()
        },
        None => a.settings.settings_on(hw.backend),
    };
    if loaded.expanded_mla {
        s.mla_cache = MlaCache::Expanded;
    }
    let b = llama_cpp::estimate(spec, w, &s).context("llama.cpp would refuse these settings")?;
    let pasted_placement = pasted
        .as_ref()
        .map(|p| p.placement.clone())
        .filter(|p| *p != PlacementArgs::default());
    let fit_settings = pasted.as_ref().map(|p| p.fit.clone()).unwrap_or_default();
    let placed = place_on(
        spec,
        w,
        &s,
        &hw,
        &a.placement,
        pasted_placement,
        &fit_settings,
    )?;
    // llama.cpp runs with the context its --fit chose.
    let b = match placed.n_ctx {
        Some(c) => {
            s.n_ctx = c;
            llama_cpp::estimate(spec, w, &s).context("llama.cpp would refuse these settings")?
        }
        None => b,
    };
    // From here on the context is the one llama.cpp runs with, not "unset".
    if s.n_ctx == 0 {
        s.n_ctx = b.resolved.n_ctx;
    }
    let fit_trace = placed.fit;
    let (placement, how) = (placed.placement, placed.how);
    let embedding: canirun_core::units::Bytes = w
        .tensors
        .iter()
        .filter(|t| t.tensor.layer.is_none() && t.tensor.base == "token_embd.weight")
        .map(|t| t.bytes)
        .sum();
    let v = verdict(&placement, spec.n_layer, embedding);
    let speed = speed_for(spec, w, &s, &hw, &placement);
    // The commands that run this setup (llama.cpp with the placement above, Ollama).
    let commands: Vec<canirun_core::commands::RunCommand> = match &loaded.catalog {
        Some((entry, quant)) if !matches!(v, Verdict::DoesNotFit { .. }) => {
            crate::cmd::command::commands_for(entry, Some(quant), &s, &placement.flags, None)
                .into_iter()
                .filter(|c| {
                    matches!(
                        c.engine,
                        canirun_core::commands::Runner::LlamaCpp
                            | canirun_core::commands::Runner::Ollama
                    )
                })
                .collect()
        }
        _ => vec![],
    };
    let extra_notes: Vec<String> = loaded.notes.iter().cloned().chain(pasted_notes).collect();
    let extra_notes = &extra_notes;

    if json_out {
        let out = json!({
            "model": loaded.model_json,
            "quant": loaded.quant_label,
            "engine": "llama.cpp",
            "settings": s,
            "resolved": b.resolved,
            "memory": {
                "weights": b.weights.bytes, "kv": b.kv.bytes, "compute": b.compute.bytes,
                "output": b.output.bytes, "overhead": b.overhead.bytes, "total": b.total(),
            },
            "terms": {
                "weights": b.weights.terms, "kv": b.kv.terms, "compute": b.compute.terms,
                "output": b.output.terms, "overhead": b.overhead.terms,
            },
            "hardware": hw,
            "placement": placement,
            "placement_method": how,
            "commands": commands,
            "speed": match &speed { Ok(sp) => serde_json::to_value(sp)?, Err(e) => json!({"error": e}) },
            "verdict": v,
            "notes": b.notes.iter().chain(extra_notes.iter()).collect::<Vec<_>>(),
            "tensors": if a.tensors { serde_json::to_value(&w.tensors)? } else { serde_json::Value::Null },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }

    let r = &b.resolved;
    println!(
        "{} ({}, {:.2}B params) · {} · llama.cpp on {}",
        spec.name,
        spec.arch,
        w.n_params() as f64 / 1e9,
        loaded.quant_label,
        s.backend
    );
    println!(
        "context {} ({} per sequence × {}), flash attention {}, cache K {} / V {}, micro-batch {} tokens",
        r.n_ctx,
        r.n_ctx_seq,
        r.n_stream,
        if r.flash_attn { "on" } else { "off" },
        s.type_k,
        s.type_v,
        r.n_tokens
    );
    println!("{}", render::breakdown_table(&b));
    println!("hardware: {}", hw.description);
    println!(
        "placement ({how}): {}",
        if placement.flags.is_empty() {
            "CPU only".to_string()
        } else {
            placement.flags.join(" ")
        }
    );
    println!("{}", render::placement_table(&placement));
    let label = if hw.origin == crate::target::Origin::Detected {
        "detection"
    } else {
        "assumed"
    };
    for asm in &hw.assumptions {
        println!("{label}: {asm}");
    }
    match &v {
        Verdict::Fits { headroom } => {
            println!("verdict: FITS, {headroom} to spare")
        }
        Verdict::FitsOffloaded {
            gpu_layers,
            n_layer,
            in_ram,
        } => println!(
            "verdict: FITS WITH PART OFFLOADED: {gpu_layers}/{n_layer} blocks on the GPU, {in_ram} of weights in system RAM ({}); expect slower generation",
            placement.flags.join(" ")
        ),
        Verdict::DoesNotFit { short_by, pool } => {
            println!("verdict: DOES NOT FIT: {pool} is short by {short_by}; try a smaller quant (-q), a shorter context (-c), a quantized cache (-ctk q8_0 -ctv q8_0), more RAM (--ram) or more GPUs")
        }
        Verdict::Unknown => println!(
            "verdict: no memory to check against; name the hardware (--gpu 4090) or give --vram/--ram"
        ),
    }
    match &speed {
        Ok(sp) => {
            let pre = match (&sp.prefill, &sp.prefill_missing) {
                (Some(p), _) => format!(
                    "prefill {} ({}-token prompt: first token after {}), ",
                    p.rate, p.tokens, p.seconds
                ),
                (None, Some(why)) => format!("prefill not estimated: {why}; "),
                _ => String::new(),
            };
            println!(
                "speed: {pre}generation {} on an empty context, {} at {} tokens (ranges {}–{} and {}–{})",
                sp.decode_empty.rate, sp.decode_full.rate, sp.depth,
                sp.decode_empty.low, sp.decode_empty.high, sp.decode_full.low, sp.decode_full.high
            );
            if let Some(at) = &sp.answer {
                println!(
                    "time to a full R1 answer: {} ({} prompt + {} thinking + {} answer tokens; {}–{})",
                    at.total, at.prompt_tokens, at.thinking_tokens, at.answer_tokens, at.total_low, at.total_high
                );
            }
        }
        Err(e) => println!("speed: not estimated: {e}"),
    }
    for c in &commands {
        println!("run with {}: {}", c.engine, c.shell_line());
    }
    if let Some((_, sockets)) = hw.host_device.as_ref().filter(|(_, n)| *n > 1) {
        println!("note: {sockets} CPU sockets are counted with {sockets}× the bandwidth of one; llama.cpp across NUMA nodes usually reaches less (try --numa distribute)");
    }
    for n in b.notes.iter().chain(extra_notes.iter()) {
        println!("note: {n}");
    }
    if a.explain {
        if let Ok(sp) = &speed {
            println!();
            println!(
                "decode time per token on an empty context = {}",
                sp.decode_empty.seconds
            );
            for t in &sp.decode_empty.terms {
                println!(
                    "  {:<44} {:>10}  {}",
                    t.label,
                    t.seconds.to_string(),
                    t.formula
                );
            }
            if let Some(pre) = &sp.prefill {
                println!("prefill of {} tokens = {}", pre.tokens, pre.seconds);
                for t in &pre.terms {
                    println!(
                        "  {:<44} {:>10}  {}",
                        t.label,
                        t.seconds.to_string(),
                        t.formula
                    );
                }
            }
        }
        if let Some((f, targets)) = fit_trace.as_ref().filter(|(f, _)| f.probes.len() > 1) {
            println!();
            println!(
                "llama.cpp --fit: {} configurations projected (model + KV + compute per GPU; a partial layer keeps its routed experts in RAM; target = free − margin: {})",
                f.probes.len(),
                targets.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
            );
            for p in &f.probes {
                let layers = if p.layers.is_empty() {
                    p.kind.to_string()
                } else {
                    p.layers
                        .iter()
                        .map(|d| {
                            use canirun_core::placement::llama_cpp::fit::LayerFraction as F;
                            let first = match d.overflow {
                                _ if d.n_part == 0 => "",
                                F::Moe => "",
                                F::Up => ", the first sends gate+down",
                                F::Gate => ", the first sends down only",
                                F::Attn => ", the first sends its whole FFN",
                            };
                            format!("{} layers, {} partial{first}", d.n_layer, d.n_part)
                        })
                        .collect::<Vec<_>>()
                        .join(" | ")
                };
                let used: Vec<String> = p
                    .used
                    .iter()
                    .zip(targets)
                    .map(|(u, t)| format!("{u}{}", if u <= t { "" } else { " (over)" }))
                    .collect();
                println!("  -c {:<7} {:<58} {}", p.n_ctx, layers, used.join(", "));
            }
        }
        println!();
        println!("{}", render::explain(&b));
        println!("weight types:");
        for (ty, n, bytes) in w.type_census() {
            println!("  {ty:<20} {n:>5} tensors  {bytes:>12}");
        }
        println!("sources: {}", loaded.sources);
    }
    if a.tensors {
        let mut t = render::table(&["tensor", "shape", "type", "bytes"]);
        for tw in &w.tensors {
            t.add_row(vec![
                comfy_table::Cell::new(tw.tensor.name()),
                comfy_table::Cell::new(format!("{:?}", tw.tensor.shape())),
                comfy_table::Cell::new(tw.storage.to_string()),
                render::right(tw.bytes.0),
            ]);
        }
        println!("{t}");
    }
    Ok(())
}

/// A model ready for estimation, from the catalog or from a file.
struct Loaded {
    /// The catalog entry and quantization, when the model came from the catalog.
    catalog: Option<(&'static canirun_core::model::CatalogEntry, Quant)>,
    spec: ModelSpec,
    weights: Weights,
    quant_label: String,
    model_json: serde_json::Value,
    sources: String,
    expanded_mla: bool,
    notes: Vec<String>,
}

/// Whether the argument names a file rather than a catalog model.
fn is_file(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".gguf") || Path::new(name).is_file()
}

fn load(name: &str, a: &EstimateArgs) -> Result<Loaded> {
    if is_file(name) {
        if a.quant.is_some() {
            bail!("-q/--quant does not apply to a file: its tensors already have their types");
        }
        let file = canirun_io::gguf::read_file(name)
            .with_context(|| format!("reading the GGUF header of {name}"))?;
        let fm = canirun_io::model_file::from_gguf(&file, name)?;
        let mut notes = fm.notes.clone();
        for part in file.parts() {
            if let DataStatus::Incomplete { .. } = part.data_status() {
                notes.push(format!(
                    "{} holds only part of its tensor data (a truncated download?); the estimate uses the header, which is complete",
                    part.path.display()
                ));
            }
        }
        let model_json = json!({"file": name, "name": fm.spec.name, "arch": fm.arch_name,
            "params": fm.weights.n_params(), "parts": file.parts().len(),
            "file_type": fm.file_type.map(|f| f.name())});
        return Ok(Loaded {
            catalog: None,
            quant_label: fm.weights.quant.clone(),
            sources: format!("GGUF header of {name} (tensor types and shapes exact)"),
            expanded_mla: fm.mla_expanded_cache,
            spec: fm.spec,
            weights: fm.weights,
            model_json,
            notes,
        });
    }
    if is_remote(name) {
        match load_remote(name, a) {
            Ok(l) => return Ok(l),
            // Offline, but the catalog knows the model: say so and carry on from the catalog.
            Err(e) if resolve(name).is_ok() => {
                let mut l = load_catalog(name, a)?;
                l.notes.push(format!(
                    "could not read the remote header ({e:#}); used the embedded catalog instead"
                ));
                return Ok(l);
            }
            Err(e) => return Err(e),
        }
    }
    load_catalog(name, a)
}

/// Whether the argument names a remote model (Hugging Face or a URL).
fn is_remote(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    ["hf.co/", "huggingface.co/", "hf://", "http://", "https://"]
        .iter()
        .any(|p| l.starts_with(p))
}

/// Read a remote model's headers only (HTTP range requests), with a progress
/// bar when the fetch takes a while.
fn load_remote(name: &str, a: &EstimateArgs) -> Result<Loaded> {
    use canirun_io::remote::{self, Fetcher, RemoteModel, RemoteOptions};
    let spec = remote::parse_spec(name)?
        .with_context(|| format!("'{name}' is not a Hugging Face repository or URL"))?;
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("reading remote header {bytes} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let started = std::time::Instant::now();
    let progress = |p: &remote::FetchProgress<'_>| {
        // Only draw when the fetch is slow enough to wonder about.
        if started.elapsed() > std::time::Duration::from_millis(300) {
            bar.set_position(p.total_fetched);
            bar.set_message(p.url.to_string());
        }
    };
    let fetcher = Fetcher::new(RemoteOptions::from_env()).with_progress(&progress);
    let model = fetcher.fetch(&spec)?;
    bar.finish_and_clear();
    let fetched = fetcher.bytes_fetched();
    let (fm, total_size) = match &model {
        RemoteModel::Gguf(m) => {
            let headers: Vec<&canirun_io::gguf::GgufHeader> =
                m.parts.iter().map(|p| &p.header).collect();
            let size: u64 = m.parts.iter().filter_map(|p| p.file_size).sum();
            (canirun_io::model_file::from_headers(&headers, name)?, size)
        }
        RemoteModel::Safetensors(m) => {
            let config = m.config.as_ref().context(
                "the repository has no config.json; canirun needs it for the model's shape",
            )?;
            let tensors: Vec<canirun_io::model_file::CheckpointTensor<'_>> = m
                .tensors
                .iter()
                .map(|t| canirun_io::model_file::CheckpointTensor {
                    name: &t.name,
                    dtype: &t.dtype,
                    shape: &t.shape,
                    bytes: t.bytes,
                })
                .collect();
            (
                canirun_io::model_file::from_safetensors(config, &tensors, name)?,
                m.tensor_bytes_total(),
            )
        }
    };
    if a.quant.is_some() {
        bail!("-q/--quant does not apply to a remote file: name the quant in the reference instead, e.g. hf.co/unsloth/DeepSeek-R1-GGUF:Q4_K_M");
    }
    let mut notes = fm.notes.clone();
    notes.push(format!(
        "read {} of headers over the network for a {} model (header only, cached for next time)",
        canirun_core::units::Bytes(fetched),
        canirun_core::units::Bytes(total_size)
    ));
    Ok(Loaded {
        catalog: None,
        model_json: json!({"remote": name, "name": fm.spec.name, "arch": fm.arch_name,
            "params": fm.weights.n_params(), "bytes_fetched": fetched, "file_bytes": total_size}),
        quant_label: fm.weights.quant.clone(),
        sources: format!("remote header of {name} (tensor types and shapes exact)"),
        expanded_mla: fm.mla_expanded_cache,
        spec: fm.spec,
        weights: fm.weights,
        notes,
    })
}

fn load_catalog(name: &str, a: &EstimateArgs) -> Result<Loaded> {
    let r = resolve(name)?;
    let entry = r.entry;
    let spec = entry.spec();
    let quant_text = a
        .quant
        .clone()
        .or(r.quant.clone())
        .unwrap_or_else(|| "Q4_K_M".to_string());
    let mut quant = Quant::parse(&quant_text)?;
    if a.imatrix {
        quant = quant.with_imatrix(true);
    }
    if let Some(v) = quant.variant() {
        if let Some(arch) = &v.arch {
            if arch != spec.arch.as_str() {
                bail!(
                    "{} is a recipe for {arch} models (DeepSeek R1/V3), not {}; pick a standard quant such as Q4_K_M",
                    v.name,
                    spec.name
                );
            }
        }
    }
    let w = weights(&spec, &quant, a.settings.mla_tensors);
    let counts = param_counts(&spec);
    let mut notes = Vec::new();
    if !quant.is_gguf() {
        notes.push(format!(
            "{quant} is not a GGUF format: weights are exact for that format, but llama.cpp cannot load it; the KV/compute terms follow llama.cpp and serve as a guide until the vLLM/SGLang/ExLlamaV2/MLX engines are modelled"
        ));
    }
    if let Some(v) = quant.variant() {
        notes.push(format!(
            "{} ({}): {}; source: {}",
            v.name, v.publisher, v.description, v.source
        ));
    }
    Ok(Loaded {
        catalog: Some((entry, quant.clone())),
        model_json: json!({"id": entry.id, "name": entry.name, "arch": spec.arch, "hf_repo": entry.hf_repo,
                       "params": counts.main, "params_source": entry.params_source,
                       "config_source": entry.config_source()}),
        quant_label: quant.to_string(),
        sources: format!(
            "config {}; params {}",
            entry.config_source(),
            entry.params_source
        ),
        expanded_mla: false,
        spec,
        weights: w,
        notes,
    })
}

/// `--engine vllm|sglang`: per-GPU memory and the KV pool's concurrency.
fn run_vllm(a: &EstimateArgs, json_out: bool) -> Result<()> {
    use canirun_core::memory::vllm::{estimate as vllm_estimate, VllmSettings};
    let name = a
        .model
        .as_deref()
        .context("name a model, e.g. `canirun deepseek-r1 --engine vllm --gpu 8xh200`")?;
    if is_file(name) || is_remote(name) {
        bail!(
            "--engine {} reads catalog models; name one such as deepseek-r1 (run `canirun models`)",
            a.engine
        );
    }
    let r = resolve(name)?;
    let entry = r.entry;
    let spec = entry.spec();
    // vLLM serves the checkpoint as published: FP8 for R1/V3, BF16 for the distills.
    let quant = match a.quant.as_deref().or(r.quant.as_deref()) {
        Some(q) => Quant::parse(q)?,
        None if entry.native_dtype == "FP8" => Quant::Fp8,
        None => Quant::parse("BF16")?,
    };
    if matches!(quant, Quant::Gguf { ftype, .. } if ftype.is_quantized()) {
        bail!("{quant} is a GGUF quantization; vLLM serves FP8, BF16, AWQ or GPTQ checkpoints (use -q fp8, -q bf16, -q awq)");
    }
    let hw = target(&a.gpu, a.vram, a.ram)?;
    if hw.gpus.is_empty() {
        bail!("vLLM needs GPUs: name them, e.g. --gpu 8xh200 or --gpu 2x4090");
    }
    let n = hw.gpus.len() as u64;
    let tp = a.tp.unwrap_or(n / a.pp.max(1)).max(1);
    if tp * a.pp > n {
        bail!(
            "--tp {tp} × --pp {} needs {} GPUs, but {n} are named",
            a.pp,
            tp * a.pp
        );
    }
    let gpu_mem = *hw.gpus.iter().min().expect("non-empty");
    let v = VllmSettings {
        tensor_parallel: tp,
        pipeline_parallel: a.pp,
        expert_parallel: false,
        gpu_memory_utilization: a.gpu_memory_utilization,
        max_model_len: if a.settings.ctx == 0 {
            spec.n_ctx_train
        } else {
            a.settings.ctx
        },
        max_num_seqs: a.max_num_seqs,
        max_num_batched_tokens: 8192,
        kv_fp8: a.settings.type_k == canirun_core::quant::GgmlType::Q8_0,
    };
    let w = weights(&spec, &quant, a.settings.mla_tensors);
    let g = vllm_estimate(&spec, &w, gpu_mem, &v)?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "model": entry.id, "engine": a.engine, "quant": quant.to_string(), "settings": v,
                "hardware": hw, "per_gpu": g, "gpus_used": tp * a.pp,
            }))?
        );
        return Ok(());
    }
    println!(
        "{} · {} · {} on {} × {} (TP {tp}, PP {})",
        entry.name,
        quant,
        a.engine,
        tp * a.pp,
        hw.gpu_names.first().cloned().unwrap_or_default(),
        a.pp
    );
    let mut t = render::table(&["per GPU", "size", "what"]);
    for (k, b, what) in [
        (
            "usable",
            g.usable,
            format!(
                "{gpu_mem} × gpu_memory_utilization {}",
                v.gpu_memory_utilization
            ),
        ),
        (
            "weights",
            g.weights,
            format!("{} / (TP {tp} × PP {})", w.total(), a.pp),
        ),
        (
            "non-torch",
            g.non_torch,
            "CUDA context, cuBLAS, NCCL (vllm#10511)".to_string(),
        ),
        (
            "activations",
            g.activation,
            format!(
                "profiling pass at {} batched tokens + sampler",
                v.max_num_batched_tokens
            ),
        ),
        (
            "KV pool",
            g.kv_pool,
            format!("{} tokens × {} per token", g.kv_tokens, g.kv_per_token),
        ),
    ] {
        t.add_row(vec![
            comfy_table::Cell::new(k),
            render::right(b),
            comfy_table::Cell::new(what),
        ]);
    }
    println!("{t}");
    println!(
        "Maximum concurrency for {} tokens per request: {:.2}×",
        v.max_model_len, g.max_concurrency
    );
    if g.fits {
        println!("verdict: FITS");
    } else {
        println!("verdict: DOES NOT FIT: the weights and overheads leave {} for KV, less than one {}-token request; add GPUs (--tp), shorten --ctx-size or use -ctk q8_0 (fp8 KV)", g.kv_pool, v.max_model_len);
    }
    println!("note: the activation term follows llama.cpp's live set in BF16 (1.15 GiB vs 1.26 GiB measured by vLLM for Llama-3-8B, vllm#10511){}", if a.engine == "sglang" { "; SGLang is sized with vLLM's rules and --gpu-memory-utilization standing for --mem-fraction-static" } else { "" });
    Ok(())
}

/// Speed of the placed model: prefill, decode at two depths, and a full R1 answer.
#[derive(serde::Serialize)]
pub(crate) struct SpeedSummary {
    pub(crate) prefill: Option<canirun_core::speed::Estimate>,
    pub(crate) prefill_missing: Option<String>,
    pub(crate) decode_empty: canirun_core::speed::Estimate,
    pub(crate) decode_full: canirun_core::speed::Estimate,
    pub(crate) depth: u64,
    pub(crate) answer: Option<canirun_core::speed::AnswerTime>,
    pub(crate) answer_source: &'static str,
}

pub(crate) fn speed_for(
    spec: &ModelSpec,
    w: &Weights,
    s: &canirun_core::memory::RunSettings,
    hw: &crate::target::Target,
    placement: &Placement,
) -> Result<SpeedSummary, String> {
    use canirun_core::memory::Backend;
    use canirun_core::speed::{self, Calibration, DeviceClass, ModelCost};
    let cal = Calibration::embedded().map_err(|e| e.to_string())?;
    let model = ModelCost::with_settings(spec, w, s);
    let host = match (&hw.host_device, hw.host_bandwidth) {
        (Some((d, sockets)), _) => speed::DeviceSpec::from_device(d, Backend::Cpu, cal)
            .ok()
            .map(|spec| spec.times(*sockets)),
        (None, Some(bw)) => Some(speed::DeviceSpec {
            label: "this CPU (measured bandwidth)".into(),
            backend: Backend::Cpu,
            class: DeviceClass::Cpu,
            bandwidth: bw,
            compute: None,
        }),
        _ => None,
    };
    let mut devices = vec![host];
    for d in &hw.devices {
        devices.push(
            d.as_ref()
                .and_then(|d| speed::DeviceSpec::from_device(d, s.backend, cal).ok()),
        );
    }
    // Host-GPU link: the first GPU's PCIe figure, else PCIe 4.0 x16 (31.5 GB/s).
    let link = hw.link.unwrap_or_else(|| {
        hw.devices
            .iter()
            .flatten()
            .find_map(|d| d.interconnect.pcie_bandwidth())
            .unwrap_or(canirun_core::units::BytesPerSecond::gbps(31.5))
    });
    let p = speed::bridge::from_memory(&model, placement, &devices, link, s).map_err(|e| {
        format!("{e} (name the hardware with --gpu, or measure this machine with `canirun hw --measure`)")
    })?;
    let depth = placement_depth(s);
    let prompt = 1000;
    // Prefill needs a compute figure (CPU platforms have none in the catalog); decode does not.
    let (prefill, prefill_missing) = match speed::prefill(&p, prompt, 0, cal) {
        Ok(e) => (Some(e), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let decode_empty = speed::decode(&p, 0, cal).map_err(|e| e.to_string())?;
    let decode_full = speed::decode(&p, depth, cal).map_err(|e| e.to_string())?;
    let answer = (spec.id.starts_with("deepseek-r1") && prefill.is_some())
        .then(|| {
            speed::answer_time(
                &p,
                prompt,
                speed::R1_THINKING_TOKENS,
                speed::R1_ANSWER_TOKENS,
                cal,
            )
            .ok()
        })
        .flatten();
    Ok(SpeedSummary {
        prefill,
        prefill_missing,
        decode_empty,
        decode_full,
        depth,
        answer,
        answer_source: speed::R1_THINKING_TOKENS_SOURCE,
    })
}

/// The deepest context the run reaches: the context per sequence.
fn placement_depth(s: &canirun_core::memory::RunSettings) -> u64 {
    (s.n_ctx / s.n_parallel.max(1)).max(1)
}
