//! `validate speed`: predicted vs published throughput for every row of a
//! CSV with the columns of ../shared/data/benchmarks.csv (hardware,
//! n_devices, model, params_b, quant, model_size_gib, test, tokens_per_s,
//! engine, version, source, notes, confidence). Pure: callers pass the text.
//!
//! Each row is turned into a [`Placement`] and a workload exactly as a user
//! would describe it; a row that cannot be interpreted is skipped with its
//! reason. The embedded copy is `data/benchmarks.csv`.

use super::placement::{DeviceClass, DeviceSpec, ModelCost, Placement};
use super::roofline::{decode_token_seconds, prefill_seconds};
use super::{default_backend, Calibration, SpeedError};
use crate::hardware::{self, Catalog, DeviceKind};
use crate::memory::Backend;
use crate::model::{self, MlaTensorLayout};
use crate::quant::{weights, Quant};
use crate::units::BytesPerSecond;
use crate::validate::{Skipped, Summary};
use serde::Serialize;

/// The calibration set, embedded (a verbatim copy of ../shared/data/benchmarks.csv).
pub const BENCHMARKS_CSV: &str = include_str!("../../data/benchmarks.csv");

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
    pub placement: Placement,
    /// What was measured.
    pub workload: Workload,
    /// Published tokens per second.
    pub published: f64,
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
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedReport {
    /// Compared rows.
    pub rows: Vec<SpeedRow>,
    /// Skipped rows.
    pub skipped: Vec<Skipped>,
    /// Closing statistics.
    pub summary: Summary,
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

/// A number after `key` in free text (`n_batch 4096`).
fn number_after(text: &str, key: &str) -> Option<u64> {
    let i = text.find(key)? + key.len();
    text[i..]
        .trim_start_matches([' ', '=', ':'])
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `N` in "… (N layers offloaded)": the `-ngl` of a partial offload.
fn layers_offloaded(hw: &str) -> Option<u64> {
    let lower = hw.to_ascii_lowercase();
    let i = lower.find("layers offloaded")?;
    lower[..i].split_whitespace().last()?.parse().ok()
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
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
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
        match prepare_row(
            cat,
            cal,
            get(c_hw),
            get(c_n),
            get(c_model),
            get(c_quant),
            get(c_size),
            get(c_test),
            get(c_tps),
            get(c_engine),
            notes_cell,
        ) {
            Ok((placement, workload, published, interpreted_as)) => out.push(Prepared {
                line,
                what,
                interpreted_as,
                placement,
                workload,
                published,
            }),
            Err(reason) => skipped.push(Skipped { line, what, reason }),
        }
    }
    Ok((out, skipped))
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
    notes: &str,
) -> Result<(Placement, Workload, f64, String), String> {
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
    let (q, quant_note) = resolve_quant(quant)?;
    let w = weights(&spec, &q, MlaTensorLayout::Split);
    let mut cost = ModelCost::new(&spec, &w);
    let mut notes_out: Vec<String> = [test_note, model_note, quant_note]
        .into_iter()
        .flatten()
        .collect();
    // llama-bench prints the model size; when the label disagrees with it
    // (mixed quants labelled by their dominant type), trust the size.
    if let Ok(gib) = size_gib.parse::<f64>() {
        let ours = w.total().as_gib();
        if gib > 0.0 && ours > 0.0 && ((gib / ours) - 1.0).abs() > 0.03 {
            cost = cost.scaled_weights(gib / ours);
            notes_out.push(format!(
                "weights scaled to the published {gib} GiB (label {} gives {ours:.2} GiB)",
                q
            ));
        }
    }
    let resolved = hardware::resolve(cat, hw).map_err(|e| e.to_string())?;
    let n_col: u32 = n_devices.parse().unwrap_or(1).max(1);
    let gpus: Vec<_> = resolved
        .iter()
        .filter(|r| r.device.kind != DeviceKind::CpuPlatform)
        .collect();
    let cpus: Vec<_> = resolved
        .iter()
        .filter(|r| r.device.kind == DeviceKind::CpuPlatform)
        .collect();
    let spec_of = |r: &hardware::Resolved| -> Result<DeviceSpec, String> {
        let backend = engine_backend(engine, &r.device);
        DeviceSpec::from_device(&r.device, backend, cal).map_err(|e| e.to_string())
    };
    let mut placement = match (gpus.as_slice(), cpus.as_slice()) {
        ([g], []) => {
            let n = if n_col > 1 { n_col } else { g.count };
            let d = spec_of(g)?;
            if n > 1 {
                let link = g.device.interconnect.pcie_bandwidth();
                notes_out.push(format!("{n}× layer split"));
                Placement::layer_split(&cost, d, n, link)
            } else {
                Placement::single_device(&cost, d)
            }
        }
        ([], [c]) => {
            let d = spec_of(c)?.times(c.count);
            Placement::single_device(&cost, d)
        }
        ([g], [c]) => {
            let layers = layers_offloaded(hw);
            let Some(ngl) = layers else {
                return Err("CPU + GPU machine without a stated placement (-ngl / -ot)".into());
            };
            let gd = spec_of(g)?;
            let cd = spec_of(c)?.times(c.count);
            let link = g
                .device
                .interconnect
                .pcie_bandwidth()
                .unwrap_or(BytesPerSecond::gbps(31.5));
            notes_out.push(format!(
                "-ngl {ngl}: {ngl} of {} layers on the GPU",
                spec.n_layer
            ));
            Placement::layer_offload(&cost, gd, cd, ngl, link)
        }
        _ => {
            return Err(format!(
                "hardware '{hw}': more than one GPU model or CPU platform"
            ))
        }
    };
    let nl = notes.to_ascii_lowercase();
    if let Some(b) = number_after(&nl, "n_batch").filter(|&b| b > 0 && b <= 1 << 20) {
        placement.n_batch = b;
    }
    if let Some(u) = number_after(&nl, "n_ubatch").filter(|&u| u > 0 && u <= 1 << 20) {
        placement.n_ubatch = u;
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

fn device_class_label(c: DeviceClass) -> &'static str {
    c.as_str()
}

/// Compare every interpretable row of `csv_text`, optionally only
/// generation or only prompt rows.
pub fn validate(
    csv_text: &str,
    filter: Option<TestFilter>,
    cal: &Calibration,
) -> Result<SpeedReport, BenchError> {
    let (prepared, mut skipped) = prepare(csv_text, cal)?;
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
            Ok(pred) => rows.push(SpeedRow {
                line: p.line,
                what: p.what.clone(),
                interpreted_as: p.interpreted_as.clone(),
                test: p.what.rsplit(" | ").next().unwrap_or("").to_string(),
                published: p.published,
                predicted: pred,
                err_pct: (pred - p.published) / p.published * 100.0,
            }),
            Err(e) => skipped.push(Skipped {
                line: p.line,
                what: p.what.clone(),
                reason: e.to_string(),
            }),
        }
    }
    skipped.sort_by_key(|s| s.line);
    let errs: Vec<f64> = rows.iter().map(|r| r.err_pct).collect();
    let summary = Summary::of(&errs, skipped.len());
    Ok(SpeedReport {
        rows,
        skipped,
        summary,
    })
}
