//! `canirun table`: the guide's "VRAM requirements at a glance", computed.

use crate::args::SettingsArgs;
use crate::render;
use anyhow::Result;
use canirun_core::hardware::{Catalog, Device, DeviceKind};
use canirun_core::memory::llama_cpp;
use canirun_core::model::catalog;
use canirun_core::quant::{weights, Quant};
use canirun_core::units::Bytes;
use clap::Args;
use serde_json::json;

/// Arguments of `canirun table`.
#[derive(Args, Debug)]
pub struct TableArgs {
    /// Quantizations to show (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "Q4_K_M,Q8_0")]
    pub quants: Vec<String>,
    /// Model family to tabulate.
    #[arg(long, default_value = "deepseek-r1")]
    pub family: String,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// The smallest single GPU (least memory, then cheapest) that holds `need`.
fn smallest_gpu(devices: &[Device], need: Bytes) -> Option<&Device> {
    devices
        .iter()
        .filter(|d| d.kind == DeviceKind::Gpu)
        .filter(|d| d.memory.is_some_and(|m| m >= need))
        .min_by(|a, b| {
            a.memory.cmp(&b.memory).then(
                a.price_usd
                    .unwrap_or(f64::MAX)
                    .total_cmp(&b.price_usd.unwrap_or(f64::MAX)),
            )
        })
}

/// The GPU with the most memory, for "N × that" when nothing single fits.
fn largest_gpu(devices: &[Device]) -> Option<&Device> {
    devices
        .iter()
        .filter(|d| d.kind == DeviceKind::Gpu)
        .max_by_key(|d| d.memory.unwrap_or_default())
}

/// Build and print the table.
pub fn run(a: &TableArgs, json_out: bool) -> Result<()> {
    let hw = Catalog::embedded()?;
    let devices = hw.devices();
    let s = a.settings.settings();
    let quants: Vec<Quant> = a
        .quants
        .iter()
        .map(|q| Quant::parse(q))
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for e in catalog().iter().filter(|e| e.family == a.family) {
        let m = e.spec();
        for q in &quants {
            let w = weights(&m, q, a.settings.mla_tensors);
            let b = llama_cpp::estimate(&m, &w, &s)?;
            let total = b.total();
            let gpu = smallest_gpu(devices, total);
            let fallback = if gpu.is_none() {
                largest_gpu(devices).and_then(|d| {
                    d.memory.map(|mem| {
                        // Each GPU also pays its own compute buffer and overhead.
                        let per = mem.saturating_sub(b.compute.bytes + b.overhead.bytes);
                        let n = (b.weights.bytes + b.kv.bytes).0.div_ceil(per.0.max(1));
                        format!("{n}× {}", d.name)
                    })
                })
            } else {
                None
            };
            rows.push((e, q.clone(), b, gpu.cloned(), fallback));
        }
    }
    if json_out {
        let v: Vec<_> = rows
            .iter()
            .map(|(e, q, b, gpu, fb)| {
                json!({"model": e.id, "ollama": e.ollama.first(), "quant": q.to_string(),
                       "memory": {"weights": b.weights.bytes, "kv": b.kv.bytes, "compute": b.compute.bytes,
                                  "output": b.output.bytes, "overhead": b.overhead.bytes, "total": b.total()},
                       "smallest_single_gpu": gpu.as_ref().map(|d| &d.name),
                       "smallest_single_gpu_memory": gpu.as_ref().and_then(|d| d.memory),
                       "multi_gpu": fb})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"settings": s, "rows": v}))?
        );
        return Ok(());
    }
    println!(
        "VRAM requirements at a glance: llama.cpp, context {}, flash attention {:?}, cache {}/{}, {}",
        s.n_ctx, s.flash_attn, s.type_k, s.type_v, s.backend
    );
    let mut t = render::table(&[
        "model",
        "quant",
        "weights",
        "KV",
        "compute+out+overhead",
        "total",
        "smallest single GPU",
    ]);
    for (e, q, b, gpu, fb) in &rows {
        t.add_row(vec![
            comfy_table::Cell::new(e.ollama.first().unwrap_or(&e.id)),
            comfy_table::Cell::new(q.to_string()),
            render::right(b.weights.bytes),
            render::right(b.kv.bytes),
            render::right(b.compute.bytes + b.output.bytes + b.overhead.bytes),
            render::right(b.total()),
            comfy_table::Cell::new(match (gpu, fb) {
                (Some(d), _) => d.name.clone(),
                (None, Some(f)) => format!("none; ≈ {f}"),
                (None, None) => "none".into(),
            }),
        ]);
    }
    println!("{t}");
    println!("Computed tensor by tensor; change the context with -c, the cache with -ctk/-ctv, the quants with --quants.");
    Ok(())
}
