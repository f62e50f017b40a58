//! `validate sizes`: predicted file sizes against published ones
//! (columns of ../shared/data/quant_file_sizes.csv).

use super::{Skipped, Summary};
use crate::model::{resolve, tensors::param_counts, Arch, MlaTensorLayout};
use crate::quant::{checkpoint_bytes, weights, Quant};
use serde::Serialize;

/// One compared row.
#[derive(Debug, Clone, Serialize)]
pub struct SizeRow {
    /// Line number in the CSV (header = 1).
    pub line: usize,
    /// Model as written.
    pub model: String,
    /// Quant as written.
    pub quant: String,
    /// Who published it.
    pub source: String,
    /// How canirun read the row (model id, quant, layout, imatrix).
    pub interpreted_as: String,
    /// The publisher recipe (data/quant_variants.toml) the row was read as, if any.
    pub variant: Option<String>,
    /// Published size in bytes.
    pub published_bytes: f64,
    /// Predicted size in bytes.
    pub predicted_bytes: u64,
    /// (predicted − published) / published, in percent.
    pub err_pct: f64,
    /// Set when the listed unit was read as GiB instead of GB, with the reason.
    pub unit_note: Option<String>,
    /// Half a unit of the last printed digit, in percent of the size: the rounding in the listing itself.
    pub rounding_pct: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    /// Compared rows.
    pub rows: Vec<SizeRow>,
    /// Skipped rows.
    pub skipped: Vec<Skipped>,
    /// Closing statistics.
    pub summary: Summary,
}

/// Errors reading the CSV itself.
#[derive(Debug, thiserror::Error)]
pub enum SizesError {
    /// Not CSV, or missing columns.
    #[error("not a quant-size CSV: {0}; it needs the columns model,quant,source,size,unit,size_bytes_exact")]
    Format(String),
}

/// Parse a published size: `4.7` with unit GB/MB/GiB/MiB; `size_bytes_exact` wins.
fn published_bytes(size: &str, unit: &str, exact: &str) -> Result<(f64, f64), String> {
    if let Ok(b) = exact.trim().parse::<u64>() {
        return Ok((b as f64, 0.0));
    }
    let v: f64 = size
        .trim()
        .parse()
        .map_err(|_| format!("size '{size}' is not a number (unconfirmed in the source)"))?;
    let mult = match unit.trim() {
        "GB" => 1e9,
        "MB" => 1e6,
        "GiB" => (1u64 << 30) as f64,
        "MiB" => (1u64 << 20) as f64,
        "TB" => 1e12,
        other => return Err(format!("unit '{other}' is not GB, MB, GiB or MiB")),
    };
    // Rounding of the listing: half a unit in the last printed digit.
    let decimals = size.trim().split('.').nth(1).map_or(0, str::len);
    let half_ulp = 0.5 * 10f64.powi(-(decimals as i32));
    Ok((v * mult, half_ulp / v * 100.0))
}

/// Whether the publisher used an importance matrix, from the source column.
fn publisher_imatrix(source: &str) -> Option<bool> {
    let s = source.to_ascii_lowercase();
    if s.contains("imatrix") || s.contains("i1") {
        Some(true)
    } else if s.contains("static") {
        Some(false)
    } else if s.contains("bartowski") {
        // bartowski computes an imatrix for every quant he publishes (model cards).
        Some(true)
    } else {
        None
    }
}

/// Compare every interpretable row of `csv_text`.
pub fn validate(csv_text: &str) -> Result<SizeReport, SizesError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| SizesError::Format(e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| SizesError::Format(format!("no '{name}' column")))
    };
    let (c_model, c_quant, c_source, c_size, c_unit, c_exact) = (
        col("model")?,
        col("quant")?,
        col("source")?,
        col("size")?,
        col("unit")?,
        col("size_bytes_exact")?,
    );
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                skipped.push(Skipped {
                    line,
                    what: "?".into(),
                    reason: format!("unreadable CSV record: {e}"),
                });
                continue;
            }
        };
        let get = |c: usize| rec.get(c).unwrap_or("").to_string();
        let (model, quant_raw, source) = (get(c_model), get(c_quant), get(c_source));
        let what = format!("{model} {quant_raw} ({source})");
        let mut skip = |reason: String| {
            skipped.push(Skipped {
                line,
                what: what.clone(),
                reason,
            })
        };
        let (published, rounding_pct) =
            match published_bytes(&get(c_size), &get(c_unit), &get(c_exact)) {
                Ok(p) => p,
                Err(r) => {
                    skip(r);
                    continue;
                }
            };
        let entry = match resolve(&model) {
            Ok(r) => r.entry,
            Err(e) => {
                skip(format!("model not in the catalog: {e}"));
                continue;
            }
        };
        let spec = entry.spec();
        // "UD-Q2_K_XL (2.51-bit dynamic)" -> "UD-Q2_K_XL"
        let quant_name = quant_raw
            .split(" (")
            .next()
            .unwrap_or(&quant_raw)
            .trim()
            .to_string();
        let lower = quant_name.to_ascii_lowercase();
        let mut variant = None;
        let (predicted, interpreted) =
            if lower.ends_with("safetensors") && lower.starts_with("bf16") {
                // The original checkpoint: every parameter in BF16.
                let c = param_counts(&spec);
                (
                    c.checkpoint * 2,
                    format!(
                        "{}: {} params × 2 B (BF16 checkpoint)",
                        entry.id, c.checkpoint
                    ),
                )
            } else if lower.starts_with("fp8") {
                let b = checkpoint_bytes(&spec, &Quant::Fp8);
                (b.0, format!("{}: FP8 checkpoint incl. MTP", entry.id))
            } else {
                let gguf_name = lower.trim_end_matches(" gguf").replace("fp32", "f32");
                let parsed = Quant::parse(&gguf_name);
                // unsloth's `_L` is not bartowski's `_L` (see data/quant_variants.toml).
                let unsloth_l = source.to_ascii_lowercase().contains("unsloth")
                    && matches!(&parsed, Ok(q) if q.variant().is_some_and(|v| v.name == "L"));
                let mut quant = match parsed {
                    Ok(q) if unsloth_l => match q
                        .file_type()
                        .and_then(|f| Quant::with_variant(f, "unsloth-L"))
                    {
                        Some(u) => u,
                        None => q,
                    },
                    Ok(q) => q,
                    Err(_) => {
                        skip(format!(
                            "quantization '{quant_name}' is not one canirun knows"
                        ));
                        continue;
                    }
                };
                if quant.variant().is_none() {
                    if let Some(im) = publisher_imatrix(&source) {
                        quant = quant.with_imatrix(im);
                    }
                }
                // DeepSeek-R1 GGUFs of January 2025 (unsloth, Ollama) predate the split MLA tensors.
                let layout = if spec.arch == Arch::Deepseek2 && entry.id == "deepseek-r1" {
                    MlaTensorLayout::Fused
                } else {
                    MlaTensorLayout::Split
                };
                variant = quant.variant().map(|v| v.name.to_string());
                let w = weights(&spec, &quant, layout);
                let imatrix = matches!(quant, Quant::Gguf { imatrix: true, .. });
                (
                    w.total().0,
                    format!(
                        "{}: {}{}{}",
                        entry.id,
                        quant,
                        if imatrix && quant.variant().is_none() {
                            ""
                        } else if imatrix {
                            " (imatrix)"
                        } else {
                            ""
                        },
                        if layout == MlaTensorLayout::Fused {
                            ", attn_kv_b layout"
                        } else {
                            ""
                        }
                    ),
                )
            };
        let mut err_pct = (predicted as f64 - published) / published * 100.0;
        let mut published = published;
        let mut unit_note = None;
        // Some listings print binary sizes with a "GB" label (Unsloth's R1 blog does,
        // ground-truth-models.md §2). When the GB reading is off by more than 3% and
        // the GiB reading agrees within 1%, the label is the error: say so, use GiB.
        if get(c_unit).trim() == "GB" && get(c_exact).trim().is_empty() {
            let as_gib = published / 1e9 * (1u64 << 30) as f64;
            let err_gib = (predicted as f64 - as_gib) / as_gib * 100.0;
            if err_pct.abs() > 3.0 && err_gib.abs() < 1.0 {
                unit_note = Some(format!(
                    "listed as {} GB, but the number matches GiB ({:+.2}% as GB): the listing mislabels binary units",
                    get(c_size).trim(),
                    err_pct
                ));
                published = as_gib;
                err_pct = err_gib;
            }
        }
        rows.push(SizeRow {
            unit_note,
            line,
            model,
            quant: quant_raw,
            source,
            interpreted_as: interpreted,
            variant,
            published_bytes: published,
            predicted_bytes: predicted,
            err_pct,
            rounding_pct,
        });
    }
    let errs: Vec<f64> = rows.iter().map(|r| r.err_pct).collect();
    let summary = Summary::of(&errs, skipped.len());
    Ok(SizeReport {
        rows,
        skipped,
        summary,
    })
}
