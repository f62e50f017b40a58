//! `canirun MODEL [settings]`: the memory llama.cpp allocates, and whether it fits.

use crate::args::{parse_size, SettingsArgs};
use crate::render;
use crate::target::target;
use anyhow::{bail, Context, Result};
use canirun_core::memory::fit::{verdict, Verdict};
use canirun_core::memory::llama_cpp;
use canirun_core::memory::MlaCache;
use canirun_core::model::{resolve, tensors::param_counts, ModelSpec};
use canirun_core::quant::{weights, Quant, Weights};
use canirun_core::units::Bytes;
use canirun_io::gguf::DataStatus;
use clap::Args;
use serde_json::json;
use std::path::Path;

/// Arguments of the default command.
#[derive(Args, Debug)]
pub struct EstimateArgs {
    /// Model: an Ollama tag (deepseek-r1:7b), a Hugging Face id, a short name (r1-7b), or a .gguf file.
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
}

/// Run the estimate.
pub fn run(a: &EstimateArgs, json_out: bool) -> Result<()> {
    let Some(name) = a.model.as_deref() else {
        bail!("name a model, e.g. `canirun deepseek-r1:7b` (run `canirun models` for the list, `canirun --help` for more)");
    };
    let loaded = load(name, a)?;
    let spec = &loaded.spec;
    let w = &loaded.weights;
    let hw = target(&a.gpu, a.vram, a.ram)?;
    let mut s = a.settings.settings_on(hw.backend);
    if loaded.expanded_mla {
        s.mla_cache = MlaCache::Expanded;
    }
    let b = llama_cpp::estimate(spec, w, &s).context("llama.cpp would refuse these settings")?;
    let per_device = b.compute.bytes + b.overhead.bytes;
    let v = verdict(&b, w, spec.n_layer, hw.effective_vram(per_device), hw.ram);
    let extra_notes = &loaded.notes;

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
    if hw.gpus.len() > 1 {
        println!(
            "note: {} GPUs hold one model: every GPU pays its own compute buffer and runtime ({per_device} each); per-device placement comes with `--tensor-split`",
            hw.gpus.len()
        );
    }
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
            "verdict: FITS WITH PART OFFLOADED: {gpu_layers}/{n_layer} layers on the GPU (-ngl {gpu_layers}), {in_ram} in system RAM; expect slower generation"
        ),
        Verdict::DoesNotFit { short_by } => {
            println!("verdict: DOES NOT FIT, short by {short_by}; try a smaller quant (-q), a shorter context (-c) or a quantized cache (-ctk q8_0 -ctv q8_0)")
        }
        Verdict::Unknown => println!(
            "verdict: no memory to check against; name the hardware (--gpu 4090) or give --vram/--ram"
        ),
    }
    for n in b.notes.iter().chain(extra_notes.iter()) {
        println!("note: {n}");
    }
    if a.explain {
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
            quant_label: fm.weights.quant.clone(),
            sources: format!("GGUF header of {name} (tensor types and shapes exact)"),
            expanded_mla: fm.mla_expanded_cache,
            spec: fm.spec,
            weights: fm.weights,
            model_json,
            notes,
        });
    }
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
