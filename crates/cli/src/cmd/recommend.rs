//! `canirun recommend` (and `canirun` with no model): every R1 variant ×
//! quantization × context that runs on the hardware, ranked by quality, then
//! speed. Quality comes from published data only (`canirun_core::quality`).

use crate::render;
use crate::target::target;
use crate::{
    args::PlacementFlags,
    cmd::estimate::{place_on, speed_for},
};
use anyhow::Result;
use canirun_core::memory::fit::{verdict, Verdict};
use canirun_core::memory::RunSettings;
use canirun_core::model::{catalog, MlaTensorLayout};
use canirun_core::quality::{model_quality, quant_kld, tier, Tier};
use canirun_core::quant::{weights, Quant};
use canirun_core::units::Bytes;
use clap::Args;
use serde::Serialize;

/// Arguments of `canirun recommend`.
#[derive(Args, Debug, Default)]
pub struct RecommendArgs {
    /// Hardware (default: this machine): 4090, 2x3090, m3-ultra-512 … (repeatable).
    #[arg(long = "gpu", visible_alias = "hw", value_name = "NAME")]
    pub gpu: Vec<String>,
    /// GPU memory instead of a named GPU, e.g. 24GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::args::parse_size)]
    pub vram: Option<Bytes>,
    /// System RAM, e.g. 64GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::args::parse_size)]
    pub ram: Option<Bytes>,
    /// Only setups generating at least this many tokens per second.
    #[arg(long = "min-tps", value_name = "TOK/S")]
    pub min_tps: Option<f64>,
    /// Only setups with at least this context.
    #[arg(long = "min-ctx", value_name = "N", default_value_t = 4096)]
    pub min_ctx: u64,
    /// Model family (deepseek-r1 by default).
    #[arg(long, default_value = "deepseek-r1")]
    pub family: String,
    /// How many picks to show.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// One runnable option.
#[derive(Debug, Clone, Serialize)]
pub struct Pick {
    model: String,
    ollama: Option<String>,
    quant: String,
    context: u64,
    tier: Tier,
    model_score: f64,
    quant_kld: Option<f64>,
    decode_tps: Option<f64>,
    memory: Bytes,
    fits_fully_on_gpu: bool,
    flags: Vec<String>,
    why: String,
}

const QUANTS: [&str; 14] = [
    "F16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q4_K_M",
    "IQ4_XS",
    "Q3_K_M",
    "IQ3_M",
    "Q2_K",
    "IQ2_M",
    "UD-Q2_K_XL",
    "UD-IQ2_XXS",
    "UD-IQ1_M",
    "UD-IQ1_S",
];
const CONTEXTS: [u64; 6] = [131072, 65536, 32768, 16384, 8192, 4096];

/// Rank every option that runs.
pub fn run(a: &RecommendArgs, json_out: bool) -> Result<()> {
    let hw = target(&a.gpu, a.vram, a.ram)?;
    let mut picks = Vec::new();
    let mut considered = 0usize;
    for e in catalog().iter().filter(|e| e.family == a.family) {
        let Some(q) = model_quality(&e.id) else {
            continue;
        };
        let spec = e.spec();
        for qn in QUANTS {
            let quant = Quant::parse(qn)?;
            if let Some(v) = quant.variant() {
                if v.arch
                    .as_deref()
                    .is_some_and(|arch| arch != spec.arch.as_str())
                {
                    continue;
                }
            }
            let w = weights(&spec, &quant, MlaTensorLayout::Split);
            for ctx in CONTEXTS
                .into_iter()
                .filter(|c| *c >= a.min_ctx && *c <= spec.n_ctx_train)
            {
                considered += 1;
                let s = RunSettings {
                    n_ctx: ctx,
                    backend: hw.backend,
                    ..Default::default()
                };
                let Ok(placed) = place_on(
                    &spec,
                    &w,
                    &s,
                    &hw,
                    &PlacementFlags::default(),
                    None,
                    &Default::default(),
                ) else {
                    continue;
                };
                let p = placed.placement;
                let v = verdict(&p, spec.n_layer, Bytes::ZERO);
                if matches!(v, Verdict::DoesNotFit { .. } | Verdict::Unknown) {
                    continue;
                }
                let tps = speed_for(&spec, &w, &s, &hw, &p)
                    .ok()
                    .map(|sp| sp.decode_full.rate.0);
                // With a speed floor, an option whose speed cannot be estimated does not qualify.
                if let Some(min) = a.min_tps {
                    if tps.is_none_or(|t| t < min) {
                        continue;
                    }
                }
                let t = tier(&quant);
                let kld = quant_kld(&quant);
                let total: Bytes = p.devices.iter().map(|d| d.total()).sum();
                picks.push(Pick {
                    model: e.id.clone(),
                    ollama: e.ollama.first().cloned(),
                    quant: quant.to_string(),
                    context: ctx,
                    tier: t,
                    model_score: q.score(),
                    quant_kld: kld,
                    decode_tps: tps,
                    memory: total,
                    fits_fully_on_gpu: matches!(v, Verdict::Fits { .. }),
                    flags: p.flags(),
                    why: format!(
                        "{} scores {:.1} (mean of AIME 2024 {:.1}, GPQA {:.1}, LiveCodeBench {:.1}); {} is tier {:?}{}",
                        e.name,
                        q.score(),
                        q.aime2024,
                        q.gpqa_diamond,
                        q.livecodebench,
                        quant,
                        t,
                        kld.map(|k| format!(" (KLD {k:.3} vs F16 on llama.cpp's LLaMA-3-8B scoreboard)"))
                            .unwrap_or_else(|| " (no KLD measured)".into())
                    ),
                });
                break; // the largest context that fits
            }
        }
    }
    // Whole model on the accelerators before partial offload (which is slow);
    // then near-lossless quantizations (tiers A–C); then the model's published
    // benchmarks; then the quantization tier; within a tier (differences there
    // are within noise), the faster option; the lower KLD last.
    picks.sort_by(|x, y| {
        let usable = |p: &Pick| p.tier > Tier::C;
        (!x.fits_fully_on_gpu)
            .cmp(&!y.fits_fully_on_gpu)
            .then(usable(x).cmp(&usable(y)))
            .then(y.model_score.total_cmp(&x.model_score))
            .then(x.tier.cmp(&y.tier))
            .then(
                y.decode_tps
                    .unwrap_or(0.0)
                    .total_cmp(&x.decode_tps.unwrap_or(0.0)),
            )
            .then(
                x.quant_kld
                    .unwrap_or(9.0)
                    .total_cmp(&y.quant_kld.unwrap_or(9.0)),
            )
    });
    // One pick per model: the best quantization of each.
    let mut seen = std::collections::HashSet::new();
    let top: Vec<Pick> = picks
        .iter()
        .filter(|p| seen.insert(p.model.clone()))
        .take(a.top)
        .cloned()
        .collect();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "hardware": hw, "considered": considered, "runnable": picks.len(), "picks": top,
            }))?
        );
        return Ok(());
    }
    println!("hardware: {}", hw.description);
    if top.is_empty() {
        println!("nothing in the {} family runs here with at least {} context{}; try `canirun plan deepseek-r1:7b` to see what hardware would",
            a.family, a.min_ctx, a.min_tps.map(|t| format!(" and {t} tok/s")).unwrap_or_default());
        return Ok(());
    }
    let mut t = render::table(&[
        "#",
        "model",
        "quant",
        "context",
        "tok/s",
        "memory",
        "placement",
        "quality",
    ]);
    for (i, p) in top.iter().enumerate() {
        t.add_row(vec![
            render::right(i + 1),
            comfy_table::Cell::new(p.ollama.clone().unwrap_or_else(|| p.model.clone())),
            comfy_table::Cell::new(&p.quant),
            render::right(p.context),
            render::right(
                p.decode_tps
                    .map(|t| format!("{t:.1}"))
                    .unwrap_or_else(|| "–".into()),
            ),
            render::right(p.memory),
            comfy_table::Cell::new(if p.fits_fully_on_gpu {
                "all on GPU".to_string()
            } else {
                p.flags.join(" ")
            }),
            comfy_table::Cell::new(format!("tier {:?}, score {:.1}", p.tier, p.model_score)),
        ]);
    }
    println!("{t}");
    for (i, p) in top.iter().enumerate() {
        println!("{}. {}", i + 1, p.why);
    }
    println!(
        "{} options considered, {} run here. Ranking: whole model on the GPU first, quantizations with KLD < 0.15 next, then the model's published benchmarks, then the quantization tier, then speed.",
        considered,
        picks.len()
    );
    Ok(())
}
