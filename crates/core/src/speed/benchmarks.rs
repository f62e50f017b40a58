//! `validate speed`: predicted vs published throughput for every row of a
//! CSV with the columns of ../shared/data/benchmarks.csv (hardware,
//! n_devices, model, params_b, quant, model_size_gib, test, tokens_per_s,
//! engine, version, source, notes, confidence). Pure: callers pass the text.
//!
//! Each row is turned into a [`WorkSplit`] and a workload exactly as a user
//! would describe it; a row that cannot be interpreted is skipped with its
//! reason. The embedded copy is `data/benchmarks.csv`.

use super::roofline::{decode_token_seconds, prefill_seconds};
use super::work_split::{DeviceClass, DeviceRates, ModelCost, WorkSplit};
use super::{bridge, default_backend, Calibration, SpeedError};
use crate::hardware::{self, Catalog, DeviceKind};
use crate::memory::{Backend, FlashAttn, MlaCache, RunSettings};
use crate::model::{self, MlaTensorLayout};
use crate::placement::llama_cpp::{parse_buft, place, Override, PlacementArgs, SplitMode};
use crate::placement::{DeviceSpec as MemDevice, Loc};
use crate::quant::{weights, GgmlType, Quant, Weights};
use crate::units::{Bytes, BytesPerSecond};
use crate::validate::{Skipped, Summary};
use serde::Serialize;
use std::collections::HashMap;

/// The calibration set, embedded (a verbatim copy of ../shared/data/benchmarks.csv).
pub const BENCHMARKS_CSV: &str = include_str!("../../data/benchmarks.csv");

/// The second calibration file, embedded (a verbatim copy of
/// ../shared/data/benchmarks-2026-12.csv: DeepSeek 671B hybrid rigs,
/// ik_llama.cpp, depth tests).
pub const BENCHMARKS_2026_12_CSV: &str = include_str!("../../data/benchmarks-2026-12.csv");

/// Placement facts some rows leave out of their notes but their source
/// states elsewhere (each entry with that source); the CSVs stay verbatim.
pub const NOTES_SUPPLEMENT_TOML: &str = include_str!("../../data/benchmark_notes_supplement.toml");

/// One entry of [`NOTES_SUPPLEMENT_TOML`].
#[derive(Debug, Clone, serde::Deserialize)]
struct NotesSupplement {
    /// The file the row is in (documentation; the other keys match it).
    #[allow(dead_code)]
    file: String,
    hardware: String,
    quant: String,
    test: String,
    tokens_per_s: f64,
    /// Words appended to the row's notes.
    add: String,
    /// Where they come from.
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, serde::Deserialize)]
struct NotesSupplementFile {
    row: Vec<NotesSupplement>,
}

/// The supplement for a row, if one matches it.
fn notes_supplement<'a>(
    table: &'a [NotesSupplement],
    hw: &str,
    quant: &str,
    test: &str,
    tps: &str,
) -> Option<&'a str> {
    let tps: f64 = tps.parse().unwrap_or(f64::NAN);
    table
        .iter()
        .find(|r| {
            r.hardware == hw
                && r.quant == quant
                && r.test == test
                && (r.tokens_per_s - tps).abs() < 1e-9
        })
        .map(|r| r.add.as_str())
}

/// Both embedded calibration files, named as in the repository.
pub const CALIBRATION_FILES: [(&str, &str); 2] = [
    ("crates/core/data/benchmarks.csv", BENCHMARKS_CSV),
    (
        "crates/core/data/benchmarks-2026-12.csv",
        BENCHMARKS_2026_12_CSV,
    ),
];

/// Which rows to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestFilter {
    /// Generation rows (tgN, decode, eval rate).
    Tg,
    /// Prompt rows (ppN, prefill, ppN+tgM).
    Pp,
}

impl TestFilter {
    /// Parse `tg` or `pp`.
    pub fn parse(s: &str) -> Option<TestFilter> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tg" | "generation" | "decode" => Some(TestFilter::Tg),
            "pp" | "prompt" | "prefill" => Some(TestFilter::Pp),
            _ => None,
        }
    }
}

/// What a row measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Workload {
    /// Generate `n` tokens after `start` tokens of context.
    Generation {
        /// Tokens generated.
        n: u64,
        /// Context before the first generated token.
        start: u64,
    },
    /// Process a prompt of `n` tokens after `start` tokens of context.
    Prompt {
        /// Prompt tokens.
        n: u64,
        /// Context already in the cache.
        start: u64,
    },
    /// llama-bench `ppP+tgG`: (P + G) ÷ (prefill + generation time).
    Mixed {
        /// Prompt tokens.
        pp: u64,
        /// Generated tokens.
        tg: u64,
    },
}

impl Workload {
    fn is_generation(&self) -> bool {
        matches!(self, Workload::Generation { .. })
    }
}

/// A row turned into a placement and a workload.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    /// Line in the CSV (header = 1).
    pub line: usize,
    /// Hardware, model, quant and test as written.
    pub what: String,
    /// How the row was read.
    pub interpreted_as: String,
    /// Where the model lives.
    pub placement: WorkSplit,
    /// What was measured.
    pub workload: Workload,
    /// Published tokens per second.
    pub published: f64,
    /// The engine cell as written.
    pub engine: String,
}

impl Prepared {
    /// Predicted tokens per second for this row's workload (the figure the
    /// row publishes).
    pub fn predict(&self, cal: &Calibration) -> Result<f64, SpeedError> {
        let p = &self.placement;
        let gen_seconds = |n: u64, start: u64| -> Result<f64, SpeedError> {
            // Decode time is linear in depth: the mean is the time at the middle.
            Ok(decode_token_seconds(p, start + n / 2, cal)? * n as f64)
        };
        let (tokens, secs) = match self.workload {
            Workload::Generation { n, start } => (n, gen_seconds(n, start)?),
            Workload::Prompt { n, start } => (n, prefill_seconds(p, n, start, cal)?),
            Workload::Mixed { pp, tg } => (
                pp + tg,
                prefill_seconds(p, pp, 0, cal)? + gen_seconds(tg, pp)?,
            ),
        };
        if secs > 0.0 && secs.is_finite() {
            Ok(tokens as f64 / secs)
        } else {
            Err(SpeedError::BadInput("zero predicted time".into()))
        }
    }

    /// The terms behind [`Self::predict`]: decode at the middle of the
    /// generated tokens, the prompt's prefill, or both for a mixed test.
    pub fn explain(&self, cal: &Calibration) -> Result<Vec<super::SpeedTerm>, SpeedError> {
        let p = &self.placement;
        Ok(match self.workload {
            Workload::Generation { n, start } => super::decode(p, start + n / 2, cal)?.terms,
            Workload::Prompt { n, start } => super::prefill(p, n, start, cal)?.terms,
            Workload::Mixed { pp, tg } => {
                let mut t = super::prefill(p, pp, 0, cal)?.terms;
                t.extend(super::decode(p, pp + tg / 2, cal)?.terms);
                t
            }
        })
    }

    /// The compared row at prediction `pred`.
    fn row(&self, pred: f64) -> SpeedRow {
        SpeedRow {
            line: self.line,
            what: self.what.clone(),
            interpreted_as: self.interpreted_as.clone(),
            test: self.what.rsplit(" | ").next().unwrap_or("").to_string(),
            published: self.published,
            predicted: pred,
            err_pct: (pred - self.published) / self.published * 100.0,
            classes: classes_of(self),
        }
    }

    /// Whether it is a generation row.
    pub fn is_generation(&self) -> bool {
        self.workload.is_generation()
    }

    /// Backend of the first device (the one that decides the class).
    pub fn backend(&self) -> Backend {
        self.placement
            .devices
            .first()
            .map_or(Backend::Cuda, |d| d.device.backend)
    }

    /// Device class of the first device.
    pub fn device_class(&self) -> DeviceClass {
        self.placement
            .devices
            .first()
            .map_or(DeviceClass::DiscreteGpu, |d| d.device.class)
    }
}

/// One compared row.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedRow {
    /// Line in the CSV.
    pub line: usize,
    /// Hardware, model, quant and test as written.
    pub what: String,
    /// How canirun read it.
    pub interpreted_as: String,
    /// Test as written.
    pub test: String,
    /// Published tokens per second.
    pub published: f64,
    /// Predicted tokens per second.
    pub predicted: f64,
    /// (predicted − published) ÷ published, in percent.
    pub err_pct: f64,
    /// The classes the row falls in, one per dimension of [`CLASS_DIMENSIONS`].
    pub classes: Vec<String>,
}

/// The dimensions `validate speed` groups its residuals by.
pub const CLASS_DIMENSIONS: [&str; 7] = [
    "device class",
    "devices",
    "model size",
    "dense vs MoE",
    "experts in RAM",
    "context depth",
    "engine",
];

/// One group of rows in a residual table.
#[derive(Debug, Clone, Serialize)]
pub struct ClassResidual {
    /// The group (e.g. `cuda×discrete_gpu`, `MoE`).
    pub class: String,
    /// Rows in it.
    pub rows: usize,
    /// Median of the signed error, percent (bias: + = predicted too fast).
    pub median_err_pct: f64,
    /// Median |error|, percent.
    pub median_abs_err_pct: f64,
    /// 90th-percentile |error|, percent.
    pub p90_abs_err_pct: f64,
}

/// The residuals of one dimension, group by group.
#[derive(Debug, Clone, Serialize)]
pub struct ClassTable {
    /// The dimension (one of [`CLASS_DIMENSIONS`]).
    pub dimension: String,
    /// Its groups, largest first.
    pub groups: Vec<ClassResidual>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedReport {
    /// Compared rows.
    pub rows: Vec<SpeedRow>,
    /// Skipped rows.
    pub skipped: Vec<Skipped>,
    /// Residuals by class, one table per dimension of [`CLASS_DIMENSIONS`].
    pub by_class: Vec<ClassTable>,
    /// Closing statistics.
    pub summary: Summary,
}

/// The engine family of an engine cell: the forks and wrappers whose
/// kernels or defaults differ.
fn engine_family(engine: &str) -> &'static str {
    let e = engine.to_ascii_lowercase();
    if e.contains("ik_llama") {
        "ik_llama.cpp"
    } else if e.contains("ollama") {
        "Ollama"
    } else if e.contains("lm studio") {
        "LM Studio"
    } else if e.contains("rpc") {
        "llama.cpp RPC"
    } else if e.contains("llama.cpp") || e.contains("llama-bench") {
        "llama.cpp"
    } else {
        "other"
    }
}

/// The classes of a prepared row, in the order of [`CLASS_DIMENSIONS`].
fn classes_of(p: &Prepared) -> Vec<String> {
    let w = &p.placement;
    let gib = (w.model.dense_bytes.0 + w.model.expert_bytes.0) as f64 / (1u64 << 30) as f64;
    let size = match gib {
        g if g < 8.0 => "< 8 GiB",
        g if g < 32.0 => "8-32 GiB",
        g if g < 128.0 => "32-128 GiB",
        _ => "≥ 128 GiB",
    };
    let moe = if w.model.expert_bytes.0 > 0 {
        "MoE"
    } else {
        "dense"
    };
    let gpu = w.devices.iter().any(|d| d.device.class != DeviceClass::Cpu);
    let ram_experts = w
        .devices
        .iter()
        .any(|d| d.device.class == DeviceClass::Cpu && d.expert_bytes.0 > 0);
    let in_ram = match (
        gpu,
        ram_experts || w.devices.iter().any(|d| d.streamed_over.is_some()),
    ) {
        (false, _) => "CPU only",
        (true, true) => "yes (GPU + RAM)",
        (true, false) => "no",
    };
    let depth = match p.workload {
        Workload::Generation { n, start } => start + n / 2,
        Workload::Prompt { n, start } => start + n / 2,
        Workload::Mixed { pp, tg } => (pp + tg) / 2,
    };
    let depth = match depth {
        d if d < 1024 => "< 1K",
        d if d < 8192 => "1K-8K",
        _ => "≥ 8K",
    };
    let n = w
        .devices
        .iter()
        .filter(|d| d.device.class != DeviceClass::Cpu)
        .count();
    let devices = match n {
        0 | 1 => "one device",
        _ => "several GPUs",
    };
    vec![
        format!("{}×{}", p.backend(), p.device_class()),
        devices.to_string(),
        size.to_string(),
        moe.to_string(),
        in_ram.to_string(),
        depth.to_string(),
        engine_family(&p.engine).to_string(),
    ]
}

/// Residual tables of `rows`, one per dimension of [`CLASS_DIMENSIONS`].
pub fn residuals_by_class(rows: &[SpeedRow]) -> Vec<ClassTable> {
    CLASS_DIMENSIONS
        .iter()
        .enumerate()
        .map(|(i, dim)| {
            let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
            for r in rows {
                let Some(c) = r.classes.get(i) else { continue };
                match groups.iter_mut().find(|(g, _)| g == c) {
                    Some((_, v)) => v.push(r.err_pct),
                    None => groups.push((c.clone(), vec![r.err_pct])),
                }
            }
            let mut groups: Vec<ClassResidual> = groups
                .into_iter()
                .map(|(class, errs)| {
                    let s = Summary::of(&errs, 0);
                    let mut signed = errs.clone();
                    signed.sort_by(f64::total_cmp);
                    let m = signed.len();
                    let median = if m % 2 == 1 {
                        signed[m / 2]
                    } else {
                        (signed[m / 2 - 1] + signed[m / 2]) / 2.0
                    };
                    ClassResidual {
                        class,
                        rows: m,
                        median_err_pct: median,
                        median_abs_err_pct: s.median_abs_err_pct,
                        p90_abs_err_pct: s.p90_abs_err_pct,
                    }
                })
                .collect();
            groups.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.class.cmp(&b.class)));
            ClassTable {
                dimension: dim.to_string(),
                groups,
            }
        })
        .collect()
}

/// Errors reading the CSV itself.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Not CSV, or missing columns.
    #[error("not a benchmark CSV: {0}; it needs the columns hardware,n_devices,model,quant,model_size_gib,test,tokens_per_s,engine,notes")]
    Format(String),
    /// The embedded catalogs failed.
    #[error("{0}")]
    Catalog(String),
}

/// Whether a test string names a generation figure.
fn test_is_generation(test: &str) -> bool {
    let t = test.trim().to_ascii_lowercase();
    t.starts_with("tg") || t.contains("decode") || t.contains("eval")
}

/// Parse a llama-bench or free-text test into a workload.
fn parse_test(test: &str) -> Result<(Workload, Option<String>), String> {
    let t = test.trim().to_ascii_lowercase();
    // llama-bench `-d N` prints `tg128 @ d8192`: the test after N tokens of context.
    if let Some((head, depth)) = t.split_once('@') {
        let d = depth
            .trim()
            .strip_prefix('d')
            .and_then(|d| d.trim().parse::<u64>().ok())
            .filter(|&d| d <= 10_000_000)
            .ok_or_else(|| format!("test '{test}': depth after '@' is not dN"))?;
        let (w, note) = parse_test(head)?;
        return match w {
            Workload::Generation { n, start } => Ok((
                Workload::Generation {
                    n,
                    start: start + d,
                },
                note,
            )),
            Workload::Prompt { n, start } => Ok((
                Workload::Prompt {
                    n,
                    start: start + d,
                },
                note,
            )),
            Workload::Mixed { .. } => Err(format!("test '{test}': a depth on ppN+tgM is not read")),
        };
    }
    let num = |s: &str| s.parse::<u64>().ok().filter(|&n| n > 0 && n <= 10_000_000);
    if let Some((a, b)) = t.split_once('+') {
        if let (Some(pp), Some(tg)) = (
            a.strip_prefix("pp").and_then(num),
            b.strip_prefix("tg").and_then(num),
        ) {
            return Ok((Workload::Mixed { pp, tg }, None));
        }
    }
    if let Some(n) = t.strip_prefix("pp").and_then(num) {
        return Ok((Workload::Prompt { n, start: 0 }, None));
    }
    if let Some(n) = t.strip_prefix("tg").and_then(num) {
        return Ok((Workload::Generation { n, start: 0 }, None));
    }
    if t.starts_with("eval (generation, ") {
        let n = t
            .trim_start_matches("eval (generation, ")
            .split_whitespace()
            .next()
            .and_then(num)
            .unwrap_or(512);
        return Ok((Workload::Generation { n, start: 0 }, None));
    }
    if t.starts_with("eval rate") {
        // Ollama's obench: a one-line prompt, a few hundred tokens of answer.
        return Ok((
            Workload::Generation { n: 400, start: 30 },
            Some("Ollama eval rate read as 400 tokens after a 30-token prompt (assumed)".into()),
        ));
    }
    if let Some(rest) = t.strip_prefix("decode @") {
        let k = rest.trim_end_matches(" context").trim_end_matches('k');
        if let Some(n) = num(k) {
            return Ok((
                Workload::Generation {
                    n: 1,
                    start: n * 1000,
                },
                None,
            ));
        }
    }
    Err(format!(
        "test '{test}' is neither ppN, tgN, ppN+tgM, eval nor decode @Nk"
    ))
}

/// Model names of the set that the catalog spells differently.
fn resolve_model(name: &str) -> Result<(model::ModelSpec, Option<String>), String> {
    let stripped = name.split('(').next().unwrap_or(name).trim();
    for cand in [name, stripped] {
        if let Ok(r) = model::resolve(cand) {
            return Ok((r.entry.spec(), None));
        }
    }
    let lower = stripped.to_ascii_lowercase();
    // LLaMA 1 7B and Code Llama 7B have Llama 2 7B's shape (32 × 4096,
    // FFN 11008, 32k vocabulary; Code Llama adds 16 tokens).
    if lower == "llama 7b" {
        if let Ok(r) = model::resolve("llama-2-7b") {
            return Ok((
                r.entry.spec(),
                Some("LLaMA 7B read as Llama 2 7B (same shape)".into()),
            ));
        }
    }
    model::resolve(stripped)
        .map(|r| (r.entry.spec(), None))
        .map_err(|e| e.to_string())
}

/// A quantization from a free-text cell: the cell itself, else its first
/// token that is a quant name; Ollama's default tags are Q4_K_M.
fn resolve_quant(cell: &str) -> Result<(Quant, Option<String>), String> {
    if let Ok(q) = Quant::parse(cell) {
        return Ok((q, None));
    }
    for tok in cell.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
        if tok.len() >= 3 && tok.chars().any(|c| c.is_ascii_digit()) {
            if let Ok(q) = Quant::parse(tok) {
                return Ok((q, Some(format!("quant '{cell}' read as {tok}"))));
            }
        }
    }
    if cell.to_ascii_lowercase().contains("ollama default") {
        if let Ok(q) = Quant::parse("Q4_K_M") {
            return Ok((
                q,
                Some(
                    "Ollama default tag read as Q4_K_M (the library's default quantization)".into(),
                ),
            ));
        }
    }
    Err(format!("quantization '{cell}' not understood"))
}

/// The backend named by the engine column, else the device's default.
fn engine_backend(engine: &str, d: &hardware::Device) -> Backend {
    let e = engine.to_ascii_lowercase();
    if e.contains("vulkan") {
        Backend::Vulkan
    } else if e.contains("rocm") || e.contains("hip") {
        Backend::Rocm
    } else if e.contains("metal") {
        Backend::Metal
    } else if e.contains("cuda") && d.kind != DeviceKind::CpuPlatform {
        Backend::Cuda
    } else if e.contains("(cpu)") {
        Backend::Cpu
    } else {
        default_backend(d)
    }
}

/// `N` in "… (N layers offloaded)": the `-ngl` of a partial offload.
fn layers_offloaded(hw: &str) -> Option<u64> {
    let lower = hw.to_ascii_lowercase();
    let i = lower.find("layers offloaded")?;
    lower[..i]
        .split_whitespace()
        .last()?
        .trim_start_matches('(')
        .parse()
        .ok()
}

/// Turn every row of `csv_text` into a placement and workload; rows that
/// cannot be read are returned with their reason.
pub fn prepare(
    csv_text: &str,
    cal: &Calibration,
) -> Result<(Vec<Prepared>, Vec<Skipped>), BenchError> {
    let cat = Catalog::embedded().map_err(|e| BenchError::Catalog(e.to_string()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv_text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| BenchError::Format(e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| BenchError::Format(format!("no '{name}' column")))
    };
    let c_hw = col("hardware")?;
    let c_n = col("n_devices")?;
    let c_model = col("model")?;
    let c_quant = col("quant")?;
    let c_size = col("model_size_gib")?;
    let c_test = col("test")?;
    let c_tps = col("tokens_per_s")?;
    let c_engine = col("engine")?;
    let c_notes = col("notes").ok();
    let c_version = col("version").ok();
    let supplements: NotesSupplementFile = toml::from_str(NOTES_SUPPLEMENT_TOML)
        .map_err(|e| BenchError::Format(format!("benchmark_notes_supplement.toml: {e}")))?;
    let records: Vec<_> = rdr.records().collect();
    let described = described_quants(&records, c_model, c_quant, c_size);
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (i, rec) in records.into_iter().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                skipped.push(Skipped {
                    line,
                    what: String::new(),
                    reason: format!("unreadable CSV record: {e}"),
                });
                continue;
            }
        };
        let get = |c: usize| rec.get(c).unwrap_or("").trim();
        let what = format!(
            "{} | {} | {} | {}",
            get(c_hw),
            get(c_model),
            get(c_quant),
            get(c_test)
        );
        let notes_cell = c_notes.map(get).unwrap_or("");
        let supplement = notes_supplement(
            &supplements.row,
            get(c_hw),
            get(c_quant),
            get(c_test),
            get(c_tps),
        );
        let notes_cell = match supplement {
            Some(add) => format!("{notes_cell}; {add}"),
            None => notes_cell.to_string(),
        };
        // A quant label without its file type or size ("UD-Q4_K_XL (unsloth
        // dynamic)") names the same file another row of this file describes.
        let mut quant_cell = get(c_quant).to_string();
        let mut size_cell = get(c_size).to_string();
        let mut quant_note = None;
        if resolve_quant(&quant_cell).is_err() && size_cell.is_empty() {
            if let Some((q, size, from)) =
                described.get(&(get(c_model).to_string(), quant_label(&quant_cell)))
            {
                quant_note = Some(format!(
                    "quant '{quant_cell}' read as '{q}' ({size} GiB), the same file as line {from} describes"
                ));
                quant_cell = q.clone();
                size_cell = size.clone();
            }
        }
        match prepare_row(
            cat,
            cal,
            get(c_hw),
            get(c_n),
            get(c_model),
            &quant_cell,
            &size_cell,
            get(c_test),
            get(c_tps),
            get(c_engine),
            c_version.map(get).unwrap_or(""),
            &notes_cell,
        ) {
            Ok((placement, workload, published, mut interpreted_as)) => {
                if let Some(n) = quant_note {
                    interpreted_as.push_str(&format!("; {n}"));
                }
                if let Some(add) = supplement {
                    interpreted_as.push_str(&format!(
                        "; notes supplemented with '{add}' (benchmark_notes_supplement.toml)"
                    ));
                }
                out.push(Prepared {
                    line,
                    what,
                    interpreted_as,
                    placement,
                    workload,
                    published,
                    engine: get(c_engine).to_string(),
                });
            }
            Err(reason) => skipped.push(Skipped { line, what, reason }),
        }
    }
    Ok((out, skipped))
}

/// A quant cell's label: the text before its parenthetical note.
fn quant_label(cell: &str) -> String {
    cell.split('(').next().unwrap_or(cell).trim().to_string()
}

/// (model cell, quant label) → (quant cell, size cell, line) of the first row
/// whose quant resolves and that states the file's size: what the file is,
/// for rows that name it by its label alone.
fn described_quants(
    records: &[Result<csv::StringRecord, csv::Error>],
    c_model: usize,
    c_quant: usize,
    c_size: usize,
) -> HashMap<(String, String), (String, String, usize)> {
    let mut out = HashMap::new();
    for (i, rec) in records.iter().enumerate() {
        let Ok(rec) = rec else { continue };
        let get = |c: usize| rec.get(c).unwrap_or("").trim();
        let size_ok = get(c_size).parse::<f64>().is_ok_and(|g| g > 0.0);
        if size_ok && resolve_quant(get(c_quant)).is_ok() {
            out.entry((get(c_model).to_string(), quant_label(get(c_quant))))
                .or_insert_with(|| (get(c_quant).to_string(), get(c_size).to_string(), i + 2));
        }
    }
    out
}

/// The llama.cpp flags a row states, in its notes or its hardware cell.
#[derive(Debug, Clone, Default)]
struct RowFlags {
    /// Run settings (llama-bench defaults where the row is silent).
    settings: RunSettings,
    /// WorkSplit flags.
    args: PlacementArgs,
    /// What was read, for the interpretation column.
    read: Vec<String>,
}

/// One token of free text without the punctuation around it.
fn clean_token(t: &str) -> &str {
    t.trim_matches(|c: char| matches!(c, '(' | ')' | ',' | ';' | ':' | '[' | ']'))
}

/// Read the flags of a row: `-ngl N` (also `ngl N`, "N layers offloaded" in
/// the hardware cell), `-ot PATTERN=BUFT`, `-cmoe`, `--n-cpu-moe N`, `-ts`,
/// `-sm`, `-nkvo`, `-fa [0|1]` (also `fa 1`, "no-FA"), `-ctk`/`-ctv`,
/// `-b`/`n_batch`, `-ub`/`n_ubatch`. Later flags win, as on a command line.
/// Where the row is silent the settings are llama-bench's defaults:
/// `-b 2048 -ub 512`, F16 cache, flash attention off.
fn read_flags(notes: &str, hw: &str, backend: Backend) -> RowFlags {
    let mut f = RowFlags {
        settings: RunSettings {
            backend,
            flash_attn: FlashAttn::Off,
            ..RunSettings::default()
        },
        ..RowFlags::default()
    };
    if let Some(n) = layers_offloaded(hw) {
        f.args.n_gpu_layers = Some(n);
        f.read.push(format!("-ngl {n}"));
    }
    let lower = notes.to_ascii_lowercase();
    if lower.contains("no-fa") {
        f.read.push("-fa 0".into());
    }
    let toks: Vec<&str> = notes
        .split(|c: char| c.is_whitespace() || c == ';')
        .map(clean_token)
        .filter(|t| !t.is_empty())
        .collect();
    let num = |i: usize| toks.get(i).and_then(|t| t.parse::<u64>().ok());
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let key = t.to_ascii_lowercase();
        let mut used = 1;
        match key.as_str() {
            "-ngl" | "--n-gpu-layers" | "--gpu-layers" | "ngl" => {
                if let Some(n) = num(i + 1) {
                    f.args.n_gpu_layers = Some(n);
                    f.read.push(format!("-ngl {n}"));
                    used = 2;
                }
            }
            "-ot" | "--override-tensor" => {
                // "-ot A=CUDA0 then B=CPU" in prose: two rules in order.
                let mut values = vec![];
                let mut j = i + 1;
                while let Some(v) = toks.get(j).filter(|v| v.contains('=')) {
                    values.push(*v);
                    j += 1;
                    if toks.get(j).is_some_and(|w| w.eq_ignore_ascii_case("then")) {
                        j += 1;
                    }
                }
                for v in &values {
                    for rule in v.split(',') {
                        if let Some((pat, buft)) = rule.rsplit_once('=') {
                            if let Some(target) = parse_buft(buft) {
                                f.args.overrides.push(Override {
                                    pattern: pat.to_string(),
                                    target,
                                });
                                f.read.push(format!("-ot {pat}={buft}"));
                            }
                        }
                    }
                }
                used = j - i;
            }
            "-cmoe" | "--cpu-moe" => {
                f.args.overrides.push(Override {
                    pattern: r"\.ffn_(up|down|gate)_(ch|)exps".into(),
                    target: Loc::Cpu,
                });
                f.read.push("-cmoe".into());
            }
            "-ncmoe" | "--n-cpu-moe" => {
                if let Some(n) = num(i + 1).filter(|&n| n <= 10_000) {
                    for il in 0..n {
                        f.args.overrides.push(Override {
                            pattern: format!(r"blk\.{il}\.ffn_(up|down|gate)_(ch|)exps"),
                            target: Loc::Cpu,
                        });
                    }
                    f.read.push(format!("--n-cpu-moe {n}"));
                    used = 2;
                }
            }
            "-ts" | "--tensor-split" => {
                if let Some(v) = toks.get(i + 1) {
                    let parts: Option<Vec<f64>> =
                        v.split([',', '/']).map(|x| x.parse::<f64>().ok()).collect();
                    if let Some(ts) = parts.filter(|p| !p.is_empty()) {
                        f.args.tensor_split = Some(ts);
                        f.read.push(format!("-ts {v}"));
                        used = 2;
                    }
                }
            }
            "-sm" | "--split-mode" => {
                let mode = toks.get(i + 1).map(|v| v.to_ascii_lowercase());
                let m = match mode.as_deref() {
                    Some("layer") => Some(SplitMode::Layer),
                    Some("row") => Some(SplitMode::Row),
                    Some("none") => Some(SplitMode::None),
                    _ => None,
                };
                if let Some(m) = m {
                    f.args.split_mode = m;
                    f.read.push(format!("-sm {}", mode.unwrap_or_default()));
                    used = 2;
                }
            }
            "-nkvo" | "--no-kv-offload" => {
                f.args.no_kv_offload = true;
                f.read.push("-nkvo".into());
            }
            "-fa" | "--flash-attn" | "fa" => {
                let v = toks.get(i + 1).map(|v| v.to_ascii_lowercase());
                let (on, n) = match v.as_deref() {
                    Some("0" | "off" | "false") => (false, 2),
                    Some("1" | "on" | "true") => (true, 2),
                    Some("auto") => (true, 2),
                    // A bare `-fa` (older llama.cpp, ik_llama.cpp) turns it on.
                    _ if key != "fa" => (true, 1),
                    _ => {
                        i += 1;
                        continue;
                    }
                };
                f.settings.flash_attn = if on { FlashAttn::On } else { FlashAttn::Off };
                f.read.push(format!("-fa {}", u8::from(on)));
                used = n;
            }
            "-ctk" | "--cache-type-k" | "-ctv" | "--cache-type-v" => {
                if let Some(ty) = toks.get(i + 1).and_then(|v| v.parse::<GgmlType>().ok()) {
                    if key == "-ctk" || key == "--cache-type-k" {
                        f.settings.type_k = ty;
                    } else {
                        f.settings.type_v = ty;
                    }
                    f.read.push(format!("{t} {}", toks[i + 1]));
                    used = 2;
                }
            }
            "-b" | "--batch-size" | "n_batch" => {
                if let Some(n) = num(i + 1).filter(|&n| n > 0 && n <= 1 << 20) {
                    f.settings.n_batch = n;
                    f.read.push(format!("-b {n}"));
                    used = 2;
                }
            }
            "-ub" | "--ubatch-size" | "n_ubatch" => {
                if let Some(n) = num(i + 1).filter(|&n| n > 0 && n <= 1 << 20) {
                    f.settings.n_ubatch = n;
                    f.read.push(format!("-ub {n}"));
                    used = 2;
                }
            }
            // An override rule written in prose without its `-ot`
            // ("blk.3 experts on GPU, rest exps=CPU"): a tensor pattern
            // naming experts or blocks, `=`, and a buffer type.
            _ if key.contains('=') && (key.contains("exps") || key.starts_with("blk.")) => {
                if let Some((pat, buft)) = t.rsplit_once('=') {
                    if let Some(target) = parse_buft(buft) {
                        f.args.overrides.push(Override {
                            pattern: pat.to_string(),
                            target,
                        });
                        f.read.push(format!("-ot {pat}={buft}"));
                    }
                }
            }
            _ => {}
        }
        i += used;
    }
    f
}

/// The memory a host cell states for its CPU ("12x DDR5-6400", "8x DDR5 @4800",
/// "DDR5-6400 (dual channel)", "768GB DDR5-5600"): channels (stated, else the
/// catalog's) × MT/s × 8 bytes, when it differs from the catalog's platform.
fn stated_memory(text: &str, d: &hardware::Device) -> Option<(BytesPerSecond, String)> {
    let t = text.to_ascii_lowercase();
    let re_ch = regex::Regex::new(r"(\d+)\s*x\s*ddr[45]").ok()?;
    let re_mts = regex::Regex::new(r"ddr[45][\s@-]*(\d{4})").ok()?;
    let mts: u32 = re_mts.captures(&t)?.get(1)?.as_str().parse().ok()?;
    let channels: u32 = match re_ch.captures(&t) {
        Some(c) => c.get(1)?.as_str().parse().ok()?,
        None if t.contains("dual channel") || t.contains("dual-channel") => 2,
        None => d.platform?.channels,
    };
    if d.platform
        .is_some_and(|p| p.channels == channels && p.mts == mts)
    {
        return None;
    }
    let bw = BytesPerSecond(f64::from(channels) * f64::from(mts) * 1e6 * 8.0);
    Some((bw, format!("{channels} channels × {mts} MT/s × 8 B = {bw}")))
}

/// Scale every tensor's bytes by `factor` (a published file size that the
/// quantization label does not give).
fn scale_weights(w: &mut Weights, factor: f64) {
    for t in &mut w.tensors {
        t.bytes = Bytes((t.bytes.0 as f64 * factor).round() as u64);
    }
}

#[allow(clippy::too_many_arguments)]
fn prepare_row(
    cat: &Catalog,
    cal: &Calibration,
    hw: &str,
    n_devices: &str,
    model_name: &str,
    quant: &str,
    size_gib: &str,
    test: &str,
    tps: &str,
    engine: &str,
    version: &str,
    notes: &str,
) -> Result<(WorkSplit, Workload, f64, String), String> {
    let published: f64 = tps
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("tokens_per_s '{tps}' is not a positive number"))?;
    let eng = engine.to_ascii_lowercase();
    if eng.contains("ktransformers") {
        if eng.contains("as reported by") {
            return Err("llama.cpp run reported by ktransformers without its flags (GPU layers, threads): the placement is unknown".into());
        }
        return Err("engine ktransformers (its own AMX/CUDA-graph kernels and expert scheduling); the speed model is calibrated for llama.cpp and its forks".into());
    }
    let (workload, test_note) = parse_test(test)?;
    let (spec, model_note) = resolve_model(model_name)?;
    let size: Option<f64> = size_gib.parse().ok().filter(|g: &f64| *g > 0.0);
    let (q, quant_note) = match (resolve_quant(quant), size) {
        (Ok(r), _) => r,
        // ik_llama.cpp types (IQ4_K_R4, IQ2_K_R4, IQ4_KS_R4) and other labels
        // canirun has no table for: the published file size gives the bytes,
        // Q4_K_M's tensor layout spreads them (experts vs the rest).
        (Err(_), Some(gib)) => (
            Quant::parse("Q4_K_M").map_err(|e| e.to_string())?,
            Some(format!(
                "quant '{quant}' not in canirun's tables: Q4_K_M's tensor layout scaled to the published {gib} GiB"
            )),
        ),
        (Err(e), None) => return Err(e),
    };
    let mut w = weights(&spec, &q, MlaTensorLayout::Split);
    let mut notes_out: Vec<String> = [test_note, model_note, quant_note]
        .into_iter()
        .flatten()
        .collect();
    // llama-bench prints the model size; when the label disagrees with it
    // (mixed quants labelled by their dominant type), trust the size.
    if let Ok(gib) = size_gib.parse::<f64>() {
        let ours = w.total().as_gib();
        if gib > 0.0 && ours > 0.0 && ((gib / ours) - 1.0).abs() > 0.03 {
            scale_weights(&mut w, gib / ours);
            notes_out.push(format!(
                "weights scaled to the published {gib} GiB (label {} gives {ours:.2} GiB)",
                q
            ));
        }
    }
    // The operating system is not hardware ("…, Windows"), and the slot a
    // GPU sits in ("(PCIe 4.0 x16)") is not part of its name.
    let hw_clean = hw
        .trim_end_matches(", Windows")
        .trim_end_matches(", Linux")
        .trim();
    let hw_clean = regex::Regex::new(r"\s*\(PCIe [^)]*\)")
        .map(|re| re.replace_all(hw_clean, "").into_owned())
        .unwrap_or_else(|_| hw_clean.to_string());
    let resolved = hardware::resolve(cat, &hw_clean).map_err(|e| e.to_string())?;
    for r in &resolved {
        // A named CPU that matched only a generic memory-platform row (its
        // DDR rate) is a CPU the catalog does not have.
        let names_cpu = [
            "epyc",
            "threadripper",
            "xeon",
            "ryzen",
            "core i",
            "core ultra",
        ]
        .iter()
        .any(|k| r.input.to_ascii_lowercase().contains(k));
        if r.device.kind == DeviceKind::CpuPlatform
            && r.device.vendor == "CPU platform"
            && r.device.cpu.is_none()
            && names_cpu
        {
            return Err(format!(
                "CPU '{}' is not in the catalog (only its memory matched {})",
                r.input.trim(),
                r.device.id
            ));
        }
    }
    let n_col: u32 = n_devices.parse().unwrap_or(1).max(1);
    let gpus: Vec<_> = resolved
        .iter()
        .filter(|r| r.device.kind != DeviceKind::CpuPlatform)
        .collect();
    let cpus: Vec<_> = resolved
        .iter()
        .filter(|r| r.device.kind == DeviceKind::CpuPlatform)
        .collect();
    if gpus.len() > 1 || cpus.len() > 1 {
        return Err(format!(
            "hardware '{hw}': more than one GPU model or CPU platform"
        ));
    }
    let spec_of = |r: &hardware::Resolved| -> Result<DeviceRates, String> {
        let backend = engine_backend(engine, &r.device);
        DeviceRates::from_device(&r.device, backend, cal).map_err(|e| e.to_string())
    };
    let host = cpus
        .first()
        .map(|c| {
            let mut d = spec_of(c)?;
            if let Some((bw, how)) = stated_memory(&c.input, &c.device) {
                d.bandwidth = bw;
                notes_out.push(format!("{} memory as stated: {how}", c.device.id));
            }
            // A CPU with no clock in the catalog gets the typical desktop
            // CPU's vector rate for prefill, as the estimate pipeline gives it
            // (pipeline::speed::with_cpu_compute): validate measures that.
            if d.compute.is_none() {
                let typical = hardware::typical_desktop_cpu(cat)
                    .and_then(|t| DeviceRates::from_device(t, Backend::Cpu, cal).ok())
                    .filter(|t| t.compute.is_some());
                if let Some(t) = typical {
                    notes_out.push(d.assume_cpu_compute_of(&t));
                }
            }
            // The threads the row states, hybrid cores and the build's CPU
            // prefill kernels (speed::cpu_host).
            let (t, tb) = super::cpu_host::threads_in_notes(notes);
            let prompt = matches!(workload, Workload::Prompt { .. });
            let run = super::cpu_host::HostRun {
                threads: if prompt { tb.or(t) } else { t },
                vec_dot_prefill: if prompt {
                    super::cpu_host::pre_sgemm_build(engine, version)
                } else {
                    None
                },
            };
            let bw_eff = cal.class(Backend::Cpu, DeviceClass::Cpu).0.bw_eff;
            Ok::<_, String>(super::cpu_host::apply_host_run(
                d.times(c.count),
                &c.device.id,
                c.count,
                c.device
                    .cpu
                    .as_ref()
                    .map(|x| x.cores)
                    .or(c.device.cpu_cores),
                c.device.cpu.as_ref().map(|x| x.int8_ops_per_cycle),
                &run,
                bw_eff,
            ))
        })
        .transpose()?;
    // NUMA nodes and RAM the row states for its CPU host (first-touch placement below).
    let host_numa = cpus.first().map(|c| {
        (
            super::cpu_host::numa_nodes(&c.input, c.count),
            super::cpu_host::stated_ram(&c.input),
        )
    });
    let mut speed_devices = vec![host];
    let mut mem_gpus = Vec::new();
    let mut link = BytesPerSecond::gbps(super::DEFAULT_LINK_GBS);
    let backend = match (gpus.first(), cpus.first()) {
        (Some(g), _) => engine_backend(engine, &g.device),
        (None, Some(c)) => engine_backend(engine, &c.device),
        (None, None) => return Err(format!("hardware '{hw}': no device")),
    };
    if let Some(g) = gpus.first() {
        let n = if n_col > 1 { n_col } else { g.count };
        let d = spec_of(g)?;
        // Memory of each GPU for the split; unknown: room for the whole model.
        let memory = g
            .device
            .usable_memory()
            .unwrap_or(w.total() + Bytes(1 << 30));
        for i in 0..n {
            let mut di = d.clone();
            if n > 1 {
                di.label = format!("{} #{i}", di.label);
            }
            mem_gpus.push(MemDevice {
                name: di.label.clone(),
                memory,
                backend,
            });
            speed_devices.push(Some(di));
        }
        if let Some(l) = g.device.interconnect.pcie_bandwidth() {
            link = l;
        }
    }
    let mut flags = read_flags(notes, hw, backend);
    // Mainline builds before MLA (PR #12801) cache DeepSeek's decompressed
    // heads, with V a tensor of its own (an f16 V beside a quantized K needs
    // no flash attention). Since, MLA caches one latent per token: its V is
    // a view of K, so `-ctk` alone sets both (llama.cpp ignores `-ctv` there).
    let pre_mla = spec.mla.is_some()
        && mainline_llama_cpp(engine)
        && predates_dated(version, MLA_CACHE_BUILD, (2025, 4)).is_some();
    if pre_mla {
        flags.settings.mla_cache = MlaCache::Expanded;
        notes_out.push(format!(
            "decompressed K/V heads cached: {} before MLA (llama.cpp PR #12801, 2025-04)",
            predates_dated(version, MLA_CACHE_BUILD, (2025, 4)).unwrap_or_default()
        ));
    } else if spec.mla.is_some() {
        flags.settings.type_v = flags.settings.type_k;
    }
    let n_tokens = match workload {
        Workload::Generation { n, start } | Workload::Prompt { n, start } => n + start,
        Workload::Mixed { pp, tg } => pp + tg,
    };
    // llama-bench sizes the context to the test: prompt + generated + depth.
    flags.settings.n_ctx = n_tokens.max(256);
    let cost = ModelCost::with_settings(&spec, &w, &flags.settings);
    let mem_p = place(&spec, &w, &flags.settings, &mem_gpus, None, &flags.args)
        .map_err(|e| format!("placement: {e}"))?;
    let mut placement = bridge::from_memory(&cost, &mem_p, &speed_devices, link, &flags.settings)
        .map_err(|e| match e {
            SpeedError::NoBandwidth(ref pool) if pool.starts_with("CPU") => format!(
                "the placement ({}) keeps blocks or experts in system RAM, but the row names no CPU platform",
                if mem_p.llama.is_empty() { "default".to_string() } else { mem_p.flags_line() }
            ),
            e => e.to_string(),
        })?;
    // ik_llama.cpp's row-interleaved types (`_R4`, or any type repacked at
    // load with `-rtr`) have CPU kernels only: the weights held in RAM are
    // never copied to the GPU for large batches, the CPU multiplies them.
    let tokens: Vec<&str> = notes
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|t| !t.is_empty())
        .collect();
    // `-rtr 0` (written out in a row's notes) turns the repack off.
    let repacked = quant.to_ascii_uppercase().contains("_R4")
        || tokens
            .iter()
            .enumerate()
            .any(|(i, t)| *t == "-rtr" && tokens.get(i + 1) != Some(&"0"));
    if eng.contains("ik_llama")
        && repacked
        && placement.devices.iter().any(|d| d.streamed_over.is_some())
    {
        for d in &mut placement.devices {
            d.streamed_over = None;
        }
        notes_out
            .push("repacked (_R4/-rtr) weights in RAM: the CPU multiplies them in prefill".into());
    }
    if repacked || super::cpu_host::mmap_off(notes) {
        if let Some((nodes, Some(ram))) = host_numa {
            if let Some(n) = super::cpu_host::first_touch(&mut placement, nodes, ram) {
                notes_out.push(n);
            }
        }
    }
    // ik_llama.cpp rows are left at the link: its `-rtr 0` row on the
    // 7965WX + A6000 (memory-mapped by default) matches the pinned PCIe 4.0
    // rate, so its loader is taken to keep RAM weights in pinned memory.
    if !eng.contains("ik_llama") && !super::cpu_host::mmap_off(notes) {
        if let Some(n) = super::cpu_host::pageable_uploads(&mut placement, None) {
            notes_out.push(n);
        }
    }
    if placement.devices.iter().any(|d| d.device.cuda_graphs) {
        if let Some(why) = no_graph_replay(engine, version) {
            for d in &mut placement.devices {
                d.device.cuda_graphs = false;
            }
            notes_out.push(format!("no CUDA graph replay in decode: {why}"));
        }
    }
    if let Some(why) = host_loop_build(engine, version) {
        let gpu =
            |d: &super::DeviceShare| matches!(d.device.backend, Backend::Cuda | Backend::Rocm);
        if placement.devices.iter().any(gpu) {
            let n = host_loop_kernels(&spec, &flags.settings, placement.flash_attn);
            placement.model.host_loop_kernels_per_token = n;
            placement.model.expert_loop = expert_loop(
                &spec,
                super::work_split::EXPERT_LOOP_KERNELS_PER_MATMUL,
                1.0,
                "mul_mat_id looped over experts on the host (llama.cpp before PR #13199)",
            );
            // The expert ids are copied to the host and waited for at each
            // MoE layer: the host cannot queue launches ahead of the GPU.
            if spec.moe.is_some() {
                for d in placement.devices.iter_mut().filter(|d| gpu(d)) {
                    d.device.serial_launches = true;
                    d.device.moe_batch_host_sync = true;
                }
            }
            if n > 0.0 {
                notes_out.push(format!(
                    "{n:.0} host-loop kernel launches per token{}{}: {why}",
                    if spec.moe.is_some() {
                        ", prefill's mul_mat_id looped over the routed experts (PR #13199)"
                    } else {
                        ""
                    },
                    if spec.moe.is_some() {
                        ", launches in series (expert ids synchronised to the host per MoE layer)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    if placement
        .devices
        .iter()
        .any(|d| d.device.backend == crate::memory::Backend::Cuda)
    {
        if let Some(why) = dequant_f16_build(engine, version) {
            for d in &mut placement.devices {
                let cuda = d.device.backend == crate::memory::Backend::Cuda;
                if cuda {
                    d.device.dequant_f16_prefill = Some(PRE_MMQ_DEQUANT_FROM_ROWS);
                }
                d.device.moe_batch_host_sync |= cuda;
            }
            notes_out.push(format!("prefill through dequantize + FP16 cuBLAS: {why}"));
        }
    }
    // ik_llama.cpp forked before MMQ took `mul_mat_id` and keeps its own
    // MoE path: batched routed experts go through the per-expert loop that
    // waits on the host (its 16× RTX 3090 rows gain nothing from pp512 to
    // pp8192 with n_batch 4096).
    if eng.contains("ik_llama") && spec.moe.is_some() {
        for d in &mut placement.devices {
            d.device.moe_batch_host_sync |=
                matches!(d.device.backend, Backend::Cuda | Backend::Rocm);
        }
    }
    // An AMD matrix-core path of llama.cpp's MMQ arrived in a later build
    // than the row's: its large batches went through FP16 rocBLAS/hipBLAS.
    let mut before_mmq_path = None;
    for d in &mut placement.devices {
        let Some(since) = d.device.mmq.as_ref().and_then(|m| m.since_build) else {
            continue;
        };
        if let Some(why) = predates_build(version, since) {
            d.device.mmq = None;
            d.device.dequant_f16_prefill = Some(super::work_split::MMQ_DP4A_MAX_BATCH);
            d.device.moe_batch_host_sync = true;
            before_mmq_path = Some(why);
        }
    }
    if let Some(why) = before_mmq_path {
        // Such a build's batched `mul_mat_id` of 64+ tokens is not MMQ's
        // either: it loops over the experts on the host.
        if placement.model.expert_loop.is_none() {
            placement.model.expert_loop = expert_loop(
                &spec,
                super::work_split::SORTED_LOOP_KERNELS_PER_MATMUL,
                super::work_split::MMQ_DP4A_MAX_BATCH,
                "mul_mat_id of 64+ tokens looped over experts on the host (ggml_cuda_should_use_mmq false at that size on this GPU before its matrix-core MMQ)",
            );
        }
        notes_out.push(format!(
            "prefill through dequantize + FP16 rocBLAS/hipBLAS: {why} (llama_cpp_tensor_paths.toml [[mmq_path]])"
        ));
    }
    if mem_gpus.len() > 1 {
        notes_out.push(format!("{}× layer split", mem_gpus.len()));
    }
    if !flags.read.is_empty() {
        notes_out.push(format!("flags read: {}", flags.read.join(" ")));
    }
    if mem_p.experts_on_cpu > Bytes::ZERO || !mem_p.devices[0].layers.is_empty() {
        notes_out.push(format!(
            "{} of {} blocks on GPUs, {:.1} GiB of experts in RAM",
            mem_p.gpu_layers(),
            spec.n_layer,
            mem_p.experts_on_cpu.as_gib()
        ));
    }
    let first = &placement.devices[0].device;
    let mut interp = format!(
        "{} {} on {} ({}×{})",
        spec.id,
        q,
        first.label,
        first.backend,
        device_class_label(first.class)
    );
    if !notes_out.is_empty() {
        interp.push_str("; ");
        interp.push_str(&notes_out.join("; "));
    }
    Ok((placement, workload, published, interp))
}

/// First mainline llama.cpp build taken to replay decode as a reused CUDA
/// graph: graph reuse (PR #14482, opened 2025-07-01, opt-in through
/// `LLAMA_SET_ROWS=1` until it became the default) keeps the graph from one
/// token to the next, so the host no longer rebuilds it and updates the
/// captured CUDA graph every token. Builds around b6000 date from late July
/// 2025; the calibration set has no CUDA row between May 2024 (b2843) and
/// the August 2025 scoreboards, so the exact cut moves no fitted row.
const GRAPH_REUSE_BUILD: u32 = 6000;

/// Why a row's llama.cpp build does not replay decode as a reused CUDA
/// graph, if it does not: ik_llama.cpp compiles CUDA graphs out by default,
/// and mainline builds before graph reuse (numbered below
/// [`GRAPH_REUSE_BUILD`] or dated before 2025-08) rebuild and re-launch the
/// graph's kernels every token. `None`: a current build (also when the
/// version is a bare commit or unknown, as for a user's own estimate).
/// First mainline llama.cpp build of PR #13014 (opened 2025-04-18, merged
/// in the days after: "noncont MMVQ + batched bs1 MUL_MAT_ID"), which runs a
/// batch-1 `mul_mat_id` as one MMVQ/MMV kernel over the expert ids on the GPU
/// ("reduces the number of kernel launches needed by a factor equal to the
/// number of used src0 matrices ... eliminates the need for a call to
/// cudaStreamSynchronize") and the KQ product over a quantized K cache
/// without flash attention "in a single kernel launch". The calibration set
/// has no llama.cpp row between the early-2025 builds and b5997, so the exact
/// number moves no fitted row. Its follow-up PR #13199 ("batched+noncont
/// MMQ, refactor bs>1 MoE code", end of April 2025) replaced the host loop
/// over experts in prefill ([`super::ExpertLoop`]); the same cut stands for
/// both, for the same reason.
const BATCHED_MMVQ_ID_BUILD: u32 = 5200;

/// First mainline llama.cpp build that caches DeepSeek's attention as MLA
/// latents (PR #12801, April 2025); before it K and V were cached per head
/// (n_head × (192 + 128) values per token and layer). No calibration row lies
/// between the early-2025 builds and b5997, so the exact number moves no row.
const MLA_CACHE_BUILD: u32 = 5150;

/// Mainline llama.cpp (not the ik_llama.cpp fork, whose CUDA MoE and MLA
/// paths differ: ik_llama.cpp PRs #248, #283).
fn mainline_llama_cpp(engine: &str) -> bool {
    let e = engine.to_ascii_lowercase();
    e.contains("llama.cpp") && !e.contains("ik_llama")
}

/// Why `version` predates build `since` (by its number) or the month
/// `(year, month)` (by a stated date), if it does. A year alone, a bare
/// commit or "unknown" is taken as current, as for a user's estimate.
fn predates_dated(version: &str, since: u32, (y, m): (u32, u32)) -> Option<String> {
    if let Some(n) = build_number(version) {
        return (n < since).then(|| format!("build {n} predates b{since}"));
    }
    let (year, month) = build_year_month(version)?;
    let before = year < y || (year == y && month.is_some_and(|mo| mo < m));
    before.then(|| format!("a build from '{version}' predates {y}-{m:02}"))
}

/// Why a row's mainline llama.cpp CUDA/HIP build launches batch-1
/// `mul_mat_id` per expert and a quantized-K `kq` per query head (before
/// [`BATCHED_MMVQ_ID_BUILD`]), if it does.
fn host_loop_build(engine: &str, version: &str) -> Option<String> {
    if !mainline_llama_cpp(engine) {
        return None;
    }
    predates_dated(version, BATCHED_MMVQ_ID_BUILD, (2025, 4)).map(|why| {
        format!("{why}, before batched batch-1 MUL_MAT_ID and MMVQ (llama.cpp PR #13014)")
    })
}

/// Kernel launches per decoded token that a build before
/// [`BATCHED_MMVQ_ID_BUILD`] adds to [`ModelCost::kernels_per_token`]
/// (which counts one kernel per matrix product): each of a MoE layer's three
/// `mul_mat_id` runs one matrix-vector kernel per used expert, and without
/// flash attention `kq` over a quantized K cache runs one per query head
/// (`ggml_cuda_op_mul_mat` looped over the batch of src1, the query heads,
/// broadcasting the K head of each).
pub(crate) fn host_loop_kernels(spec: &model::ModelSpec, s: &RunSettings, flash_attn: bool) -> f64 {
    let moe: f64 = match spec.moe {
        Some(m) => (0..spec.n_layer)
            .filter(|&il| spec.is_moe_layer(il))
            .map(|_| 3.0 * (m.n_expert_used.max(1) - 1) as f64)
            .sum(),
        None => 0.0,
    };
    let kq = if !flash_attn && s.type_k.is_quantized() {
        (spec.n_head.max(1) - 1) as f64 * spec.n_layer as f64
    } else {
        0.0
    };
    moe + kq
}

/// The host loop over experts of a MoE `spec` (`None` for a dense model):
/// gate, up and down each loop, `kernels_per_matmul` launches per expert,
/// from micro-batches of `min_batch` tokens.
fn expert_loop(
    spec: &model::ModelSpec,
    kernels_per_matmul: f64,
    min_batch: f64,
    why: &'static str,
) -> Option<super::ExpertLoop> {
    spec.moe.map(|m| super::ExpertLoop {
        moe_layers: (0..spec.n_layer)
            .filter(|&il| spec.is_moe_layer(il))
            .count() as f64,
        n_expert: m.n_expert as f64,
        n_expert_used: m.n_expert_used as f64,
        kernels_per_expert: 3.0 * kernels_per_matmul,
        min_batch,
        why,
    })
}

/// llama.cpp's first build with MMQ as the CUDA default for GPUs with int8
/// tensor cores (PR #8075, merged 2024-06-24). No calibration row lies
/// between build 2843 (May 2024) and the 2025 builds, so the exact number
/// moves no row; a row dated before July 2024 is before it.
const MMQ_DEFAULT_BUILD: u32 = 3200;

/// The smallest micro-batch a build before [`MMQ_DEFAULT_BUILD`] sent to
/// dequantize + FP16 cuBLAS: MMQ took up to `MMQ_MAX_BATCH_SIZE` = 32 rows.
const PRE_MMQ_DEQUANT_FROM_ROWS: f64 = 33.0;

/// Why a row's mainline CUDA build multiplies quantized prefill weights
/// through dequantize + FP16 cuBLAS (see [`DeviceRates::dequant_f16_prefill`]),
/// or None for a build with MMQ as its default (ik_llama.cpp forked after it).
fn dequant_f16_build(engine: &str, version: &str) -> Option<String> {
    if engine.to_ascii_lowercase().contains("ik_llama") {
        return None;
    }
    if let Some(n) = build_number(version) {
        return (n < MMQ_DEFAULT_BUILD).then(|| {
            format!("build {n} predates MMQ by default (llama.cpp PR #8075, 2024-06-24)")
        });
    }
    let (year, month) = build_year_month(version)?;
    let before = year < 2024 || (year == 2024 && month.is_some_and(|m| m < 7));
    before.then(|| {
        format!("a build from '{version}' predates MMQ by default (llama.cpp PR #8075, 2024-06-24)")
    })
}

/// The build number in "build d46dbc76 (2833)", "66906cd8 (5997)" or
/// "b6652.amd0 docker image"; "unknown (2025)" is a year, not a build.
pub(crate) fn build_number(version: &str) -> Option<u32> {
    regex::Regex::new(r"\((\d{4,5})\)|\bb(\d{4,5})\b")
        .ok()?
        .captures(version)
        .and_then(|c| c.get(1).or(c.get(2)))
        .and_then(|m| m.as_str().parse::<u32>().ok())
        .filter(|n| !(2023..=2030).contains(n))
}

/// The year and, where given, the month a version string names.
pub(crate) fn build_year_month(version: &str) -> Option<(u32, Option<u32>)> {
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let v = version.to_ascii_lowercase();
    let year = regex::Regex::new(r"\b(20\d\d)\b")
        .ok()?
        .captures(&v)
        .and_then(|c| c[1].parse::<u32>().ok())?;
    let month = regex::Regex::new(r"\b20\d\d-(\d\d)\b")
        .ok()?
        .captures(&v)
        .and_then(|c| c[1].parse::<u32>().ok())
        .or_else(|| {
            months
                .iter()
                .position(|m| v.contains(m))
                .map(|i| i as u32 + 1)
        });
    Some((year, month))
}

/// Why a row's llama.cpp build predates build `since`, if it does: by its
/// build number, or by a date before 2025 (every `since_build` of
/// `[[mmq_path]]` lies in 2025 or later). `None` for a later or unknown
/// build (a bare commit is taken as current, as for a user's estimate).
fn predates_build(version: &str, since: u32) -> Option<String> {
    if let Some(n) = build_number(version) {
        return (n < since).then(|| format!("build {n} predates b{since}"));
    }
    let (year, _) = build_year_month(version)?;
    (year < 2025).then(|| format!("a build from '{version}' predates b{since} (2025)"))
}

fn no_graph_replay(engine: &str, version: &str) -> Option<String> {
    if engine.to_ascii_lowercase().contains("ik_llama") {
        return Some(
            "ik_llama.cpp builds with GGML_CUDA_USE_GRAPHS off by default (ik_llama.cpp issue #479)"
                .into(),
        );
    }
    if let Some(n) = build_number(version) {
        return (n < GRAPH_REUSE_BUILD)
            .then(|| format!("build {n} predates graph reuse (b{GRAPH_REUSE_BUILD}, mid 2025)"));
    }
    let (year, month) = build_year_month(version)?;
    // A year alone is too coarse to place a 2025 build.
    let before = year < 2025 || (year == 2025 && month.is_some_and(|m| m < 8));
    before.then(|| format!("a build from '{version}' predates graph reuse (mid 2025)"))
}

fn device_class_label(c: DeviceClass) -> &'static str {
    c.as_str()
}

/// [`prepare`] over several files, one after the other (`(name, text)`);
/// with more than one file each row's `what` starts with its file's name.
pub fn prepare_files(
    files: &[(&str, &str)],
    cal: &Calibration,
) -> Result<(Vec<Prepared>, Vec<Skipped>), BenchError> {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (name, text) in files {
        let (mut r, mut s) = prepare(text, cal)?;
        if files.len() > 1 {
            let short = name.rsplit('/').next().unwrap_or(name);
            for p in &mut r {
                p.what = format!("{short}: {}", p.what);
            }
            for k in &mut s {
                k.what = format!("{short}: {}", k.what);
            }
        }
        rows.append(&mut r);
        skipped.append(&mut s);
    }
    Ok((rows, skipped))
}

/// One row of `validate speed --explain LINE`: how it was read and the
/// terms of its prediction.
#[derive(Debug, Clone, Serialize)]
pub struct RowExplain {
    /// The row as [`SpeedRow`] shows it.
    pub row: SpeedRow,
    /// The terms that add up to the predicted time (per token in decode).
    pub terms: Vec<super::SpeedTerm>,
}

/// The rows at `line` of `files` (one a file), each with the terms of its
/// prediction; a row that cannot be read or predicted comes back as
/// [`Skipped`] with its reason.
pub fn explain_line(
    files: &[(&str, &str)],
    line: usize,
    cal: &Calibration,
) -> Result<(Vec<RowExplain>, Vec<Skipped>), BenchError> {
    let (prepared, skipped) = prepare_files(files, cal)?;
    let mut out = Vec::new();
    let mut not = skipped
        .into_iter()
        .filter(|s| s.line == line)
        .collect::<Vec<_>>();
    for p in prepared.iter().filter(|p| p.line == line) {
        match (p.predict(cal), p.explain(cal)) {
            (Ok(pred), Ok(terms)) => out.push(RowExplain {
                row: p.row(pred),
                terms,
            }),
            (Err(e), _) | (_, Err(e)) => not.push(Skipped {
                line: p.line,
                what: p.what.clone(),
                reason: e.to_string(),
            }),
        }
    }
    Ok((out, not))
}

/// `validate speed --fit`: the calibration fitted on `files` from the priors
/// of `start`, rounded as the TOML stores it, its record filled in (what it
/// was fitted on, named `label`; the command; the method; the generation and
/// prompt summaries it reaches), with the constants that kept their prior.
pub fn refit(
    files: &[(&str, &str)],
    label: &str,
    start: &Calibration,
) -> Result<(Calibration, Vec<String>), BenchError> {
    let (rows, skipped) = prepare_files(files, start)?;
    let report = super::fit(&rows, start);
    let mut cal = report.calibration.clone();
    cal.round_for_toml();
    let tg = validate_files(files, Some(TestFilter::Tg), &cal)?;
    let pp = validate_files(files, Some(TestFilter::Pp), &cal)?;
    cal.meta.tg_summary = tg.summary.line();
    cal.meta.pp_summary = pp.summary.line();
    cal.meta.fitted_on = format!(
        "{label} ({} rows interpreted, {} skipped with reasons)",
        rows.len(),
        skipped.len()
    );
    cal.meta.command = format!("canirun validate speed {label} --fit");
    cal.meta.method = format!(
        "least squares on ln(predicted/published) over all interpreted rows, coordinate descent on geometric grids within physical bounds; constants informed by fewer than {} rows keep their prior; mean squared log error {:.4} -> {:.4}",
        super::calibration_min_rows(),
        report.loss_before,
        report.loss_after
    );
    Ok((cal, report.unfitted))
}

/// Compare every interpretable row of `csv_text`, optionally only
/// generation or only prompt rows.
pub fn validate(
    csv_text: &str,
    filter: Option<TestFilter>,
    cal: &Calibration,
) -> Result<SpeedReport, BenchError> {
    validate_files(&[("", csv_text)], filter, cal)
}

/// [`validate`] over several files together (`(name, text)`): one report,
/// one summary.
pub fn validate_files(
    files: &[(&str, &str)],
    filter: Option<TestFilter>,
    cal: &Calibration,
) -> Result<SpeedReport, BenchError> {
    let (prepared, mut skipped) = prepare_files(files, cal)?;
    let keep = |is_gen: bool| match filter {
        None => true,
        Some(TestFilter::Tg) => is_gen,
        Some(TestFilter::Pp) => !is_gen,
    };
    // A skipped row counts toward the filter its test names.
    skipped.retain(|s| {
        let test = s.what.rsplit(" | ").next().unwrap_or("");
        keep(test_is_generation(test))
    });
    let mut rows = Vec::new();
    for p in prepared.iter().filter(|p| keep(p.is_generation())) {
        match p.predict(cal) {
            Ok(pred) => rows.push(p.row(pred)),
            Err(e) => skipped.push(Skipped {
                line: p.line,
                what: p.what.clone(),
                reason: e.to_string(),
            }),
        }
    }
    if files.len() == 1 {
        skipped.sort_by_key(|s| s.line);
    }
    let errs: Vec<f64> = rows.iter().map(|r| r.err_pct).collect();
    let summary = Summary::of(&errs, skipped.len());
    let by_class = residuals_by_class(&rows);
    Ok(SpeedReport {
        rows,
        skipped,
        by_class,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_tables_group_every_row_once_per_dimension() {
        let row = |err_pct: f64, classes: [&str; 7]| SpeedRow {
            line: 2,
            what: String::new(),
            interpreted_as: String::new(),
            test: "tg128".into(),
            published: 100.0,
            predicted: 100.0 + err_pct,
            err_pct,
            classes: classes.iter().map(|c| c.to_string()).collect(),
        };
        let a = [
            "cuda×discrete_gpu",
            "one device",
            "< 8 GiB",
            "dense",
            "no",
            "< 1K",
            "llama.cpp",
        ];
        let b = [
            "metal×apple_unified",
            "one device",
            "≥ 128 GiB",
            "MoE",
            "no",
            "< 1K",
            "llama.cpp",
        ];
        let rows = vec![row(10.0, a), row(-20.0, a), row(30.0, a), row(-5.0, b)];
        let tables = residuals_by_class(&rows);
        assert_eq!(tables.len(), CLASS_DIMENSIONS.len());
        for t in &tables {
            assert_eq!(t.groups.iter().map(|g| g.rows).sum::<usize>(), rows.len());
        }
        // Device class: the three CUDA rows first; signed median +10, |error| median 20.
        let cuda = &tables[0].groups[0];
        assert_eq!((cuda.class.as_str(), cuda.rows), ("cuda×discrete_gpu", 3));
        assert!((cuda.median_err_pct - 10.0).abs() < 1e-9);
        assert!((cuda.median_abs_err_pct - 20.0).abs() < 1e-9);
        // One group for a dimension every row shares.
        assert_eq!(tables[1].groups.len(), 1);
    }

    #[test]
    fn every_embedded_row_gets_a_class_in_every_dimension() {
        let cal = Calibration::embedded().unwrap();
        let rep = validate_files(&CALIBRATION_FILES, None, cal).unwrap();
        assert!(rep
            .rows
            .iter()
            .all(|r| r.classes.len() == CLASS_DIMENSIONS.len()));
        let moe = &rep.by_class[3];
        assert!(moe.groups.iter().any(|g| g.class == "MoE" && g.rows > 0));
    }

    #[test]
    fn the_build_of_a_row_decides_cuda_graph_replay() {
        // Mainline builds before graph reuse, by number or by date.
        assert!(no_graph_replay("llama.cpp (CUDA)", "build 4426e298 (2824)").is_some());
        assert!(no_graph_replay("llama.cpp (CUDA)", "unknown (2025-01-29)").is_some());
        assert!(no_graph_replay("llama.cpp (CUDA)", "PR #4766 branch, 2024-01-10").is_some());
        assert!(no_graph_replay("llama.cpp (CUDA)", "Jan 2025 (V3 support branch era)").is_some());
        // ik_llama.cpp compiles graphs out whatever its build.
        assert!(no_graph_replay("ik_llama.cpp (CUDA+CPU)", "3772 (5236c98b)").is_some());
        // Builds after it, bare commits and unknown versions: a current build.
        assert!(no_graph_replay("llama.cpp (ROCm 7.0.0)", "b6652.amd0 docker image").is_none());
        assert!(no_graph_replay("llama.cpp (Metal,BLAS)", "build 4d3726278 (7315)").is_none());
        assert!(no_graph_replay("llama.cpp (CUDA)", "commit b8e09f0").is_none());
        assert!(no_graph_replay("llama.cpp (CUDA)", "unknown").is_none());
        assert!(no_graph_replay("Ollama (obench.sh)", "unknown (2025)").is_none());
    }

    #[test]
    fn the_build_of_a_row_decides_the_dequantize_prefill_path() {
        // Mainline builds before MMQ by default (PR #8075, 2024-06-24).
        assert!(dequant_f16_build("llama.cpp (CUDA)", "build 4426e298 (2824)").is_some());
        assert!(dequant_f16_build("llama.cpp (CUDA)", "PR #4766 branch, 2024-01-10").is_some());
        assert!(dequant_f16_build("llama.cpp (CUDA)", "2023-08 build (unknown)").is_some());
        // After it, ik_llama.cpp (forked later) and unknown versions: MMQ.
        assert!(dequant_f16_build("llama.cpp (CUDA)", "unknown (2025-01-29)").is_none());
        assert!(dequant_f16_build("llama.cpp (CUDA)", "b6652").is_none());
        assert!(dequant_f16_build("ik_llama.cpp (CUDA+CPU)", "3772 (5236c98b)").is_none());
        assert!(dequant_f16_build("llama.cpp (CUDA)", "unknown").is_none());
        assert!(dequant_f16_build("llama.cpp (CUDA)", "2024-07 build").is_none());
    }

    #[test]
    fn every_notes_supplement_matches_one_embedded_row() {
        let table: NotesSupplementFile = toml::from_str(NOTES_SUPPLEMENT_TOML).unwrap();
        assert!(!table.row.is_empty());
        for r in &table.row {
            let hits: usize = CALIBRATION_FILES
                .iter()
                .map(|(_, text)| {
                    let mut rdr = csv::ReaderBuilder::new()
                        .flexible(true)
                        .from_reader(text.as_bytes());
                    rdr.records()
                        .filter_map(Result::ok)
                        .filter(|rec| {
                            notes_supplement(
                                std::slice::from_ref(r),
                                rec.get(0).unwrap_or("").trim(),
                                rec.get(4).unwrap_or("").trim(),
                                rec.get(6).unwrap_or("").trim(),
                                rec.get(7).unwrap_or("").trim(),
                            )
                            .is_some()
                        })
                        .count()
                })
                .sum();
            assert_eq!(hits, 1, "{} | {} | {}", r.hardware, r.quant, r.test);
        }
    }

    #[test]
    fn a_quant_label_alone_reads_the_file_another_row_describes() {
        let csv = "hardware,n_devices,model,params_b,quant,model_size_gib,test,tokens_per_s,engine,version,source,notes,confidence\n\
NVIDIA H100 80GB HBM3,1,Llama 2 7B,6.74,UD-Q4_K_XL (unsloth dynamic; ftype Q4_K_M),3.8,tg128,100,llama.cpp,1,x,,primary\n\
NVIDIA H100 80GB HBM3,1,Llama 2 7B,6.74,UD-Q4_K_XL (unsloth dynamic),,tg128,100,llama.cpp,1,x,,primary\n\
NVIDIA H100 80GB HBM3,1,Llama 2 7B,6.74,UD-Q5_K_XL (unsloth dynamic),,tg128,100,llama.cpp,1,x,,primary\n";
        let (rows, skipped) = prepare(csv, Calibration::embedded().unwrap()).unwrap();
        assert_eq!(rows.len(), 2, "{skipped:?}");
        assert!(rows[1]
            .interpreted_as
            .contains("the same file as line 2 describes"));
        // Same predicted bytes as the row that states the file.
        let cal = Calibration::embedded().unwrap();
        assert_eq!(rows[0].predict(cal).unwrap(), rows[1].predict(cal).unwrap());
        // A label no row describes stays skipped, with the reason.
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].reason.contains("not understood"));
    }

    #[test]
    fn depth_tests_are_read() {
        let (w, _) = parse_test("tg128 @ d8192").unwrap();
        assert_eq!(
            w,
            Workload::Generation {
                n: 128,
                start: 8192
            }
        );
        let (w, _) = parse_test("pp512 @ d32256").unwrap();
        assert_eq!(
            w,
            Workload::Prompt {
                n: 512,
                start: 32256
            }
        );
        assert!(parse_test("tg128 @ x").is_err());
    }

    #[test]
    fn flags_in_prose_are_read_in_order() {
        let f = read_flags(
            "sousekd; -fa -b 4096 -ctk q8_0 -ngl 63; -ub 2048; -ot blk.3.ffn_*=CUDA0 then exps=CPU (one MoE layer on GPU)",
            "",
            Backend::Cuda,
        );
        assert_eq!(f.settings.flash_attn, FlashAttn::On);
        assert_eq!((f.settings.n_batch, f.settings.n_ubatch), (4096, 2048));
        assert_eq!(f.settings.type_k, GgmlType::Q8_0);
        assert_eq!(f.args.n_gpu_layers, Some(63));
        let rules: Vec<(&str, Loc)> = f
            .args
            .overrides
            .iter()
            .map(|o| (o.pattern.as_str(), o.target))
            .collect();
        assert_eq!(
            rules,
            vec![("blk.3.ffn_*", Loc::Gpu(0)), ("exps", Loc::Cpu)]
        );
        // A rule written in prose without its -ot is still a rule.
        let bare = read_flags(
            "-ngl 63; -ub 4096; blk.3 experts on GPU, rest exps=CPU",
            "",
            Backend::Cuda,
        );
        assert_eq!(bare.args.overrides.len(), 1);
        assert_eq!(bare.args.overrides[0].pattern, "exps");
        assert_eq!(bare.args.overrides[0].target, Loc::Cpu);
        // llama-bench's defaults where the row is silent; "ngl 63, fa 1" without dashes.
        let g = read_flags(
            "ngl 63, fa 1, mla 2; n_batch 4096, n_ubatch 512",
            "",
            Backend::Cuda,
        );
        assert_eq!(g.settings.flash_attn, FlashAttn::On);
        assert_eq!((g.settings.n_batch, g.settings.n_ubatch), (4096, 512));
        let h = read_flags("", "Some rig (7 layers offloaded)", Backend::Cuda);
        assert_eq!(h.settings.flash_attn, FlashAttn::Off);
        assert_eq!(h.args.n_gpu_layers, Some(7));
    }

    #[test]
    fn stated_memory_overrides_the_platform() {
        let cat = Catalog::embedded().unwrap();
        let d = cat.get("core-i9-13900k").unwrap();
        let (bw, _) = stated_memory("Intel Core i9-13900K, DDR5-6400 (dual channel)", d).unwrap();
        assert!((bw.as_gbps() - 102.4).abs() < 1e-9);
        let epyc = cat.get("epyc-9355").unwrap();
        // The catalog already says 12 × DDR5-6400: nothing to override.
        assert!(stated_memory("AMD EPYC 9355 (32C, 12x DDR5-6400, 768GB)", epyc).is_none());
    }

    fn r1_spec() -> model::ModelSpec {
        model::resolve("deepseek-r1:671b")
            .expect("model")
            .entry
            .spec()
    }

    #[test]
    fn builds_before_pr_13014_launch_one_kernel_per_expert_and_per_query_head() {
        let spec = r1_spec();
        let moe = spec.moe.expect("moe");
        let moe_layers = (0..spec.n_layer)
            .filter(|&il| spec.is_moe_layer(il))
            .count() as f64;
        let f16 = RunSettings::default();
        // Flash attention or an f16 K: only the per-expert launches, n_used
        // per matrix instead of one.
        let experts = host_loop_kernels(&spec, &f16, false);
        assert_eq!(experts, moe_layers * 3.0 * (moe.n_expert_used - 1) as f64);
        let q4 = RunSettings {
            type_k: GgmlType::Q4_0,
            ..RunSettings::default()
        };
        assert_eq!(host_loop_kernels(&spec, &q4, true), experts);
        // A quantized K without flash attention: KQ once per query head.
        assert_eq!(
            host_loop_kernels(&spec, &q4, false) - experts,
            ((spec.n_head - 1) * spec.n_layer) as f64
        );
    }

    #[test]
    fn host_loops_belong_to_mainline_builds_before_april_2025() {
        assert!(host_loop_build("llama.cpp (CUDA)", "unknown (2025-01-29)").is_some());
        assert!(host_loop_build("llama.cpp (CUDA)", "unknown (Mar 2025)").is_some());
        assert!(host_loop_build("llama.cpp (CUDA)", "66906cd8 (5997)").is_none());
        assert!(host_loop_build("llama.cpp (CUDA)", "b6652.amd0 docker image").is_none());
        // A year alone or an unknown build is taken as current.
        assert!(host_loop_build("llama.cpp (CUDA)", "unknown (2025)").is_none());
        assert!(host_loop_build("ik_llama.cpp (CUDA)", "unknown (Mar 2025)").is_none());
    }

    #[test]
    fn expert_loop_grows_with_the_micro_batch_up_to_every_expert() {
        let spec = r1_spec();
        let moe = spec.moe.expect("moe");
        let l = super::super::ExpertLoop {
            moe_layers: 58.0,
            n_expert: moe.n_expert as f64,
            n_expert_used: moe.n_expert_used as f64,
            kernels_per_expert: 12.0,
            min_batch: 1.0,
            why: "test",
        };
        // One token reaches its n_used experts; a large batch reaches all.
        assert!((l.kernels(1.0) - 58.0 * moe.n_expert_used as f64 * 12.0).abs() < 1e-6);
        assert!(l.kernels(16.0) > l.kernels(1.0));
        assert!(l.kernels(512.0) > l.kernels(16.0));
        assert!(l.kernels(4096.0) <= 58.0 * moe.n_expert as f64 * 12.0 + 1e-6);
        // Where MMQ's mul_mat_id takes micro-batches below 64 tokens, only
        // the larger ones loop.
        let from_64 = super::super::ExpertLoop {
            min_batch: super::super::work_split::MMQ_DP4A_MAX_BATCH,
            ..l
        };
        assert_eq!(from_64.kernels(32.0), 0.0);
        assert_eq!(from_64.kernels(128.0), l.kernels(128.0));
    }

    #[test]
    fn an_rdna3_build_before_wmma_mmq_sends_large_batches_to_hipblas_and_loops_experts() {
        // Build 6110 predates RDNA 3's WMMA MMQ (PR #17576): micro-batches
        // of 64+ tokens go to dequantize + hipBLAS, and a batched mul_mat_id
        // of that size loops over the experts on the host.
        let csv = "hardware,n_devices,model,params_b,quant,model_size_gib,test,tokens_per_s,engine,version,source,notes,confidence\n\
AMD Ryzen AI Max+ 395 (Radeon 8060S),4,DeepSeek-R1 671B,671.03,UD-Q2_K_XL (unsloth dynamic),211.03,pp512,35,llama.cpp (ROCm),9a963895 (6110),test,,primary\n\
AMD Ryzen AI Max+ 395 (Radeon 8060S),4,DeepSeek-R1 671B,671.03,UD-Q2_K_XL (unsloth dynamic),211.03,pp512,35,llama.cpp (ROCm),b7400,test,,primary\n";
        let (rows, skipped) = prepare(csv, Calibration::embedded().unwrap()).expect("parse");
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(rows.len(), 2);
        let (old, new) = (&rows[0], &rows[1]);
        let dev = |r: &Prepared| r.placement.devices[0].device.clone();
        assert_eq!(
            dev(old).dequant_f16_prefill,
            Some(super::super::work_split::MMQ_DP4A_MAX_BATCH)
        );
        assert!(dev(old).mmq.is_none());
        let l = old.placement.model.expert_loop.expect("the host loop");
        assert!(!l.loops(32.0) && l.loops(64.0));
        assert!(
            old.interpreted_as.contains("predates b7260"),
            "{}",
            old.interpreted_as
        );
        // A build with the WMMA MMQ: MMQ at every size, no loop.
        assert_eq!(dev(new).dequant_f16_prefill, None);
        assert!(dev(new).mmq.is_some());
        assert!(new.placement.model.expert_loop.is_none());
    }

    #[test]
    fn a_january_2025_deepseek_row_caches_decompressed_heads_and_keeps_v_f16() {
        // Before MLA, -ctk q4_0 without flash attention quantizes K only:
        // the row is read, not refused for a quantized V.
        let csv = "hardware,n_devices,model,params_b,quant,model_size_gib,test,tokens_per_s,engine,version,source,notes,confidence\n\
NVIDIA H100 80GB HBM3,2,DeepSeek-R1 671B,671.03,UD-IQ1_S (unsloth dynamic 1.58-bit),130.6,tg128,11.89,llama.cpp (CUDA),unknown (2025-01-29),test,llama-bench -ngl 62 -t 12 -ctk q4_0 across 2 GPUs (layer split),primary-user\n";
        let (rows, skipped) = prepare(csv, Calibration::embedded().unwrap()).expect("parse");
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert!(
            r.interpreted_as.contains("PR #12801"),
            "{}",
            r.interpreted_as
        );
        assert!(
            r.interpreted_as.contains("PR #13014"),
            "{}",
            r.interpreted_as
        );
    }
}
