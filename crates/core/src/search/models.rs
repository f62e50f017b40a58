//! `canirun models`: the catalog filtered by family, size and architecture,
//! and, for `--fits`, what runs on the hardware and how, each model through
//! [`crate::estimate`] (no model of its own).

use crate::hardware::Target;
use crate::memory::verdict::Verdict;
use crate::memory::RunSettings;
use crate::model::{catalog, param_counts, CatalogEntry, MlaTensorLayout};
use crate::pipeline::{estimate, Model, Request, DEFAULT_QUANT};
use crate::quant::Quant;
use crate::units::Bytes;
use serde::Serialize;

/// Which catalog models to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFilter {
    /// Text in the id, name, family or a tag (case-insensitive).
    pub text: Option<String>,
    /// Family, exactly (`qwen`, `llama`, `deepseek-r1`, …).
    pub family: Option<String>,
    /// llama.cpp architecture, exactly (`llama4`, `glm4moe`, …).
    pub arch: Option<String>,
    /// Only models with at least this many parameters (main model).
    pub min_params: Option<u64>,
    /// Only models with at most this many parameters (main model).
    pub max_params: Option<u64>,
}

impl ModelFilter {
    /// Whether `e` passes the filter.
    pub fn accepts(&self, e: &CatalogEntry) -> bool {
        let text_ok = self.text.as_deref().is_none_or(|f| {
            let f = f.to_ascii_lowercase();
            e.id.contains(&f)
                || e.name.to_ascii_lowercase().contains(&f)
                || e.family.contains(&f)
                || e.ollama.iter().any(|t| t.contains(&f))
        });
        let family_ok = self
            .family
            .as_deref()
            .is_none_or(|f| e.family.eq_ignore_ascii_case(f));
        let arch_ok = self
            .arch
            .as_deref()
            .is_none_or(|a| e.arch.eq_ignore_ascii_case(a));
        let size_ok = self.min_params.is_some() || self.max_params.is_some();
        let size_ok = !size_ok || {
            let n = param_counts(&e.spec()).main;
            self.min_params.is_none_or(|m| n >= m) && self.max_params.is_none_or(|m| n <= m)
        };
        text_ok && family_ok && arch_ok && size_ok
    }
}

/// A parameter count as people write it: `8B`, `1.5b`, `235B`, `600M`, or a plain number.
pub fn parse_param_count(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mul) = match t.chars().last()? {
        't' => (&t[..t.len() - 1], 1e12),
        'b' => (&t[..t.len() - 1], 1e9),
        'm' => (&t[..t.len() - 1], 1e6),
        _ => (t.as_str(), 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * mul).round() as u64)
}

/// One catalog model with its sources.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// The catalog entry (every value with its source), flattened in JSON.
    #[serde(flatten)]
    pub entry: &'static CatalogEntry,
    /// Parameters of the model llama.cpp runs.
    pub params: u64,
    /// Parameters including multi-token-prediction layers.
    pub params_with_mtp: u64,
    /// Parameters one token reads (routed experts: only the used ones).
    pub active_params: u64,
    /// Where the shape values come from.
    pub config_source: String,
}

/// The catalog models that pass `f`, in catalog order.
pub fn list(f: &ModelFilter) -> Vec<ModelRow> {
    catalog()
        .iter()
        .filter(|e| f.accepts(e))
        .map(|e| {
            let spec = e.spec();
            let c = param_counts(&spec);
            ModelRow {
                entry: e,
                params: c.main,
                params_with_mtp: c.checkpoint,
                active_params: spec.active_params(),
                config_source: e.config_source(),
            }
        })
        .collect()
}

/// Quantizations tried, in order, after the model's default: the first that
/// runs is shown. Sizes step down about 1 bit per weight each.
const SMALLER: [&str; 3] = ["Q3_K_M", "IQ2_M", "UD-IQ1_S"];

/// How a model runs on the hardware.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFit {
    /// Catalog id.
    pub model: String,
    /// What to type: its first Ollama tag, else the id.
    pub name: String,
    /// The quantization that runs (the tag's default when it runs).
    pub quant: String,
    /// Context tokens.
    pub context: u64,
    /// "fits" (all on the accelerators, or in RAM on a CPU-only machine) or
    /// "offloaded" (some weights in system RAM).
    pub how: String,
    /// Memory in all pools.
    pub memory: Bytes,
    /// Placement flags or words.
    pub placement: String,
    /// Decode rate at the context, when it can be estimated.
    pub decode_tps: Option<f64>,
}

/// The models of `rows` that run on `hw` under `settings`, each with the
/// first quantization that runs: its default (the Ollama tag's where
/// published, else Q4_K_M), then smaller ones.
pub fn fits(rows: &[ModelRow], hw: &Target, settings: &RunSettings) -> Vec<ModelFit> {
    let mut out = Vec::new();
    for row in rows {
        let e = row.entry;
        let default = e
            .ollama_quant
            .as_deref()
            .filter(|q| *q != "unverified")
            .unwrap_or(DEFAULT_QUANT);
        for qn in std::iter::once(default).chain(SMALLER) {
            let Ok(quant) = Quant::parse(qn) else {
                continue;
            };
            let Ok(model) = Model::from_entry(&e.id, e, quant, MlaTensorLayout::Split) else {
                continue; // a publisher recipe for another architecture
            };
            // Weights larger than every pool together cannot run: skip the
            // estimate (a necessary condition, so no answer changes; it keeps
            // the whole catalog under 100 ms).
            if let Some(ram) = hw.ram {
                let pools: Bytes = hw.gpus.iter().copied().sum::<Bytes>() + ram;
                if model.weights.total() > pools {
                    continue;
                }
            }
            let req = Request::new(&model, hw, settings.clone());
            let Ok(r) = estimate(&req) else {
                continue;
            };
            let how = match r.verdict {
                Verdict::Fits { .. } => "fits",
                Verdict::FitsOffloaded { .. } => "offloaded",
                Verdict::DoesNotFit { .. } | Verdict::Unknown => continue,
            };
            out.push(ModelFit {
                model: e.id.clone(),
                name: e.ollama.first().cloned().unwrap_or_else(|| e.id.clone()),
                quant: model.quant_label.clone(),
                context: r.settings.n_ctx,
                how: how.to_string(),
                memory: r.memory_needed(),
                placement: match (how, hw.has_gpu()) {
                    ("fits", true) => "all on GPU".to_string(),
                    ("fits", false) => "all in RAM (CPU)".to_string(),
                    _ => r.placement_line(),
                },
                decode_tps: r.speed.report().map(|sp| sp.decode_last().estimate.rate.0),
            });
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::Catalog;

    #[test]
    fn parameter_counts_parse() {
        assert_eq!(parse_param_count("8B"), Some(8_000_000_000));
        assert_eq!(parse_param_count("1.5b"), Some(1_500_000_000));
        assert_eq!(parse_param_count("600M"), Some(600_000_000));
        assert_eq!(parse_param_count("1T"), Some(1_000_000_000_000));
        assert_eq!(parse_param_count("x"), None);
    }

    #[test]
    fn filters_by_family_arch_and_size() {
        let by_arch = list(&ModelFilter {
            arch: Some("llama4".into()),
            ..Default::default()
        });
        let ids: Vec<_> = by_arch.iter().map(|r| r.entry.id.as_str()).collect();
        assert_eq!(ids, ["llama-4-scout", "llama-4-maverick"]);
        let small = list(&ModelFilter {
            family: Some("qwen".into()),
            max_params: Some(2_000_000_000),
            ..Default::default()
        });
        assert!(!small.is_empty());
        assert!(small
            .iter()
            .all(|r| r.params <= 2_000_000_000 && r.entry.family == "qwen"));
        assert_eq!(list(&ModelFilter::default()).len(), catalog().len());
    }

    /// On a 24 GB GPU with 64 GiB of RAM, an 8B model fits whole, a 70B model
    /// runs offloaded, and the 671B model does not run at all.
    #[test]
    fn fits_sorts_what_runs_from_what_does_not() {
        let hw = Target::named(
            Catalog::embedded().unwrap(),
            &["4090"],
            Some(Bytes::gib(64)),
        )
        .unwrap();
        let rows = list(&ModelFilter::default());
        let settings = RunSettings::default();
        let f = fits(&rows, &hw, &settings);
        let get = |id: &str| f.iter().find(|x| x.model == id);
        assert_eq!(get("llama-3.1-8b").map(|x| x.how.as_str()), Some("fits"));
        assert_eq!(
            get("llama-3.3-70b").map(|x| x.how.as_str()),
            Some("offloaded")
        );
        assert!(get("deepseek-r1").is_none());
        // gpt-oss runs in the quantization its Ollama tag publishes.
        assert_eq!(
            get("gpt-oss-20b").map(|x| x.quant.as_str()),
            Some("MXFP4_MOE")
        );
    }
}
