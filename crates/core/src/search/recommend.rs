//! `canirun recommend`: every variant × quantization × context of a family
//! that runs on the hardware, through [`crate::estimate`], ranked by quality
//! (published benchmarks and KLD tiers only, `crate::quality`), then speed.

use crate::hardware::Target;
use crate::memory::verdict::Verdict;
use crate::memory::RunSettings;
use crate::model::{catalog, MlaTensorLayout};
use crate::pipeline::{estimate, Model, Report, Request};
use crate::quality::{model_quality, quant_kld, tier, Tier};
use crate::quant::{Quant, QuantError};
use crate::units::Bytes;
use serde::Serialize;

/// What to rank.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendRequest {
    /// Only setups generating at least this many tokens per second.
    pub min_tps: Option<f64>,
    /// Only setups with at least this context.
    pub min_ctx: u64,
    /// Model family.
    pub family: String,
    /// Picks to return.
    pub top: usize,
}

/// The ranking.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// Options tried.
    pub considered: usize,
    /// Options that run.
    pub runnable: usize,
    /// The best option of each model, best first.
    pub picks: Vec<Pick>,
}

/// One runnable option.
#[derive(Debug, Clone, Serialize)]
pub struct Pick {
    /// Catalog id.
    pub model: String,
    /// Its first Ollama tag.
    pub ollama: Option<String>,
    /// Quantization.
    pub quant: String,
    /// Context tokens.
    pub context: u64,
    /// Quantization quality tier.
    pub tier: Tier,
    /// Mean of the model's published benchmarks.
    pub model_score: f64,
    /// KLD of the quantization vs F16, when measured.
    pub quant_kld: Option<f64>,
    /// Decode at the full context.
    pub decode_tps: Option<f64>,
    /// Memory in all pools.
    pub memory: Bytes,
    /// Everything on the accelerators.
    pub fits_fully_on_gpu: bool,
    /// Where it lives, in words or flags.
    pub placement: String,
    /// Why it ranks here.
    pub why: String,
    /// The report behind the pick.
    pub report: Report,
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

/// Rank every option of `a.family` that runs on `hw` under `settings` (its context is varied).
pub fn recommend(
    hw: &Target,
    settings: &RunSettings,
    a: &RecommendRequest,
) -> Result<Recommendation, QuantError> {
    let mut picks = Vec::new();
    let mut considered = 0usize;
    for e in catalog().iter().filter(|e| e.family == a.family) {
        let Some(q) = model_quality(&e.id) else {
            continue;
        };
        let spec = e.spec();
        for qn in QUANTS {
            let quant = Quant::parse(qn)?;
            let Ok(model) = Model::from_entry(&e.id, e, quant.clone(), MlaTensorLayout::Split)
            else {
                continue; // a recipe for another architecture
            };
            let contexts = CONTEXTS
                .into_iter()
                .filter(|c| *c >= a.min_ctx && *c <= spec.n_ctx_train);
            // When the weights alone outweigh every pool together, some pool is
            // short at any context: no estimate can fit, so none is run.
            if let Some(ram) = hw.ram {
                let pools: Bytes = hw.gpus.iter().copied().sum::<Bytes>() + ram;
                if model.weights.total() > pools {
                    considered += contexts.count();
                    continue;
                }
            }
            for ctx in contexts {
                considered += 1;
                let req = Request::new(
                    &model,
                    hw,
                    RunSettings {
                        n_ctx: ctx,
                        ..settings.clone()
                    },
                );
                let Ok(r) = estimate(&req) else {
                    continue;
                };
                if matches!(r.verdict, Verdict::DoesNotFit { .. } | Verdict::Unknown) {
                    continue;
                }
                let tps = r.speed.report().map(|sp| sp.decode_last().estimate.rate.0);
                // With a speed floor, an option whose speed cannot be estimated does not qualify.
                if let Some(min) = a.min_tps {
                    if tps.is_none_or(|t| t < min) {
                        continue;
                    }
                }
                let t = tier(&quant);
                let kld = quant_kld(&quant);
                let total: Bytes = r.memory_needed();
                let placement = match (&r.verdict, hw.has_gpu()) {
                    (Verdict::Fits { .. }, true) => "all on GPU".to_string(),
                    (Verdict::Fits { .. }, false) => "all in RAM (CPU)".to_string(),
                    _ => r.placement_line(),
                };
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
                    fits_fully_on_gpu: matches!(r.verdict, Verdict::Fits { .. }) && hw.has_gpu(),
                    placement,
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
                    report: r,
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
    Ok(Recommendation {
        considered,
        runnable: picks.len(),
        picks: top,
    })
}
