//! The guide's "VRAM requirements at a glance", computed: every model of a
//! family (or any models named as a user types them) under each
//! quantization, through [`crate::estimate`], with the smallest single GPU
//! that holds it.

use crate::hardware::{Catalog, CatalogError, Device, DeviceKind, Target};
use crate::memory::RunSettings;
use crate::model::{catalog, resolve, CatalogEntry, MlaTensorLayout, ResolveError};
use crate::pipeline::{estimate, EstimateError, Model, ModelError, Request};
use crate::quant::Quant;
use crate::units::Bytes;
use serde::Serialize;

/// One row: a model under one quantization.
#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    /// Catalog id.
    pub model: String,
    /// Its first Ollama tag.
    pub ollama: Option<String>,
    /// The quantization.
    pub quant: String,
    /// The memory parts and their total, bytes.
    pub memory: MemoryCells,
    /// The smallest single GPU (least memory, then cheapest) that holds it.
    pub smallest_single_gpu: Option<String>,
    /// That GPU's memory.
    pub smallest_single_gpu_memory: Option<Bytes>,
    /// When no single GPU holds it: about how many of the largest would.
    pub multi_gpu: Option<String>,
}

/// The memory columns.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryCells {
    /// Weights.
    pub weights: Bytes,
    /// KV cache.
    pub kv: Bytes,
    /// Compute buffer.
    pub compute: Bytes,
    /// Output buffer.
    pub output: Bytes,
    /// Backend overhead.
    pub overhead: Bytes,
    /// Sum.
    pub total: Bytes,
}

/// Why there is no table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A quantization that does not parse.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Settings llama.cpp refuses.
    #[error(transparent)]
    Estimate(#[from] EstimateError),
    /// The hardware catalog does not load.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A quantization that does not parse.
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
    /// A named model the catalog does not hold.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
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

/// Rows for every model of `family` × `quants` under `settings`.
pub fn table(
    family: &str,
    quants: &[String],
    settings: &RunSettings,
    mla_tensors: MlaTensorLayout,
) -> Result<Vec<TableRow>, TableError> {
    let quants = parse_quants(quants)?;
    let rows: Vec<(&'static CatalogEntry, Vec<Quant>)> = catalog()
        .iter()
        .filter(|e| e.family == family)
        .map(|e| (e, quants.clone()))
        .collect();
    rows_for(&rows, settings, mla_tensors)
}

/// Rows for the models named in `models` (catalog ids, Ollama tags, Hugging
/// Face ids, short names: whatever [`resolve`] reads), in the order given,
/// each under `quants`; a quantization named inside a reference
/// (`qwen3:32b-q8_0`, `repo:Q4_K_M`) replaces `quants` for that model.
pub fn table_of_models(
    models: &[String],
    quants: &[String],
    settings: &RunSettings,
    mla_tensors: MlaTensorLayout,
) -> Result<Vec<TableRow>, TableError> {
    let quants = parse_quants(quants)?;
    let mut rows = Vec::new();
    for name in models {
        let r = resolve(name)?;
        let qs = match &r.quant {
            Some(q) => vec![Quant::parse(q)?],
            None => quants.clone(),
        };
        rows.push((r.entry, qs));
    }
    rows_for(&rows, settings, mla_tensors)
}

fn parse_quants(quants: &[String]) -> Result<Vec<Quant>, TableError> {
    Ok(quants
        .iter()
        .map(|q| Quant::parse(q))
        .collect::<Result<_, _>>()?)
}

/// One row per entry × quantization; a publisher recipe made for another
/// architecture has no row.
fn rows_for(
    models: &[(&'static CatalogEntry, Vec<Quant>)],
    settings: &RunSettings,
    mla_tensors: MlaTensorLayout,
) -> Result<Vec<TableRow>, TableError> {
    let devices = Catalog::embedded()?.devices();
    let nothing = Target::given(None, None).unwrap_or_else(|_| unreachable!("no size given"));
    let mut rows = Vec::new();
    for (e, quants) in models {
        for q in quants {
            let Ok(model) = Model::from_entry(&e.id, e, q.clone(), mla_tensors) else {
                continue; // a recipe for another architecture
            };
            let req = Request::new(&model, &nothing, settings.clone());
            let r = estimate(&req)?;
            let Some(b) = &r.memory else { continue };
            let total = b.total();
            let gpu = smallest_gpu(devices, total);
            // Each GPU of a split also pays its own compute buffer and overhead.
            let multi_gpu = gpu
                .is_none()
                .then(|| largest_gpu(devices))
                .flatten()
                .and_then(|d| {
                    d.memory.map(|mem| {
                        let per = mem.saturating_sub(b.compute.bytes + b.overhead.bytes);
                        let n = (b.weights.bytes + b.kv.bytes).0.div_ceil(per.0.max(1));
                        format!("{n}× {}", d.name)
                    })
                });
            rows.push(TableRow {
                model: e.id.clone(),
                ollama: e.ollama.first().cloned(),
                quant: q.to_string(),
                memory: MemoryCells {
                    weights: b.weights.bytes,
                    kv: b.kv.bytes,
                    compute: b.compute.bytes,
                    output: b.output.bytes,
                    overhead: b.overhead.bytes,
                    total,
                },
                smallest_single_gpu: gpu.map(|d| d.name.clone()),
                smallest_single_gpu_memory: gpu.and_then(|d| d.memory),
                multi_gpu,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::RunSettings;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn named_models_come_in_the_order_typed_with_the_family_tables_numbers() {
        let s = RunSettings::default();
        let quants = names(&["Q4_K_M", "Q8_0"]);
        let rows = table_of_models(
            &names(&["qwen3:32b", "deepseek-r1:7b", "llama3.3:70b"]),
            &quants,
            &s,
            MlaTensorLayout::default(),
        )
        .unwrap();
        let ids: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.model.as_str(), r.quant.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("qwen3-32b", "Q4_K_M"),
                ("qwen3-32b", "Q8_0"),
                ("deepseek-r1-distill-qwen-7b", "Q4_K_M"),
                ("deepseek-r1-distill-qwen-7b", "Q8_0"),
                ("llama-3.3-70b", "Q4_K_M"),
                ("llama-3.3-70b", "Q8_0"),
            ]
        );
        // The same model through the family table gives the same cells: one pipeline.
        let fam = table("deepseek-r1", &quants, &s, MlaTensorLayout::default()).unwrap();
        let f = fam
            .iter()
            .find(|r| r.model == "deepseek-r1-distill-qwen-7b" && r.quant == "Q8_0")
            .unwrap();
        assert_eq!(f.memory.total, rows[3].memory.total);
        assert_eq!(f.smallest_single_gpu, rows[3].smallest_single_gpu);
    }

    #[test]
    fn a_quant_in_the_name_replaces_the_quant_list_and_unknown_names_are_refused() {
        let s = RunSettings::default();
        let rows = table_of_models(
            &names(&["qwen3:32b-q8_0"]),
            &names(&["Q4_K_M", "Q6_K"]),
            &s,
            MlaTensorLayout::default(),
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].quant, "Q8_0");
        let e = table_of_models(
            &names(&["qwen3:33b"]),
            &names(&["Q4_K_M"]),
            &s,
            MlaTensorLayout::default(),
        )
        .unwrap_err();
        assert!(matches!(e, TableError::Resolve(_)), "{e}");
    }
}
