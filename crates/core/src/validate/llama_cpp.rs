//! `validate llama-cpp`: canirun's CPU buffers against what a real llama.cpp
//! reported on the fixtures (CSV written by scripts/llama_cpp_ground_truth.py).
//!
//! Pass: weights, KV (with the recurrent state of hybrid models) and CPU_REPACK exact (llama.cpp prints two decimals;
//! llama-fit-params whole MiB), compute within 5% or 16 MiB, total within 2%.
//! Settings llama.cpp refused must be refused by canirun too.

use super::{column, Fixture, LoadError, MissingColumn, Skipped, Summary};
use crate::memory::{llama_cpp, Backend, FlashAttn, OutputRows, RunSettings, SettingsError};
use crate::units::Bytes;
use serde::Serialize;
use std::collections::HashMap;

/// Largest difference, MiB, that still counts as exact (llama.cpp prints two decimals).
pub const EXACT_MIB: f64 = 0.006;
/// Compute buffer: relative tolerance …
pub const COMPUTE_REL: f64 = 0.05;
/// … or this many MiB, whichever is larger.
pub const COMPUTE_ABS_MIB: f64 = 16.0;
/// Total: relative tolerance.
pub const TOTAL_REL: f64 = 0.02;

/// A (canirun, llama.cpp) pair of sizes in MiB.
pub type Pair = (f64, f64);

/// One compared llama.cpp run.
#[derive(Debug, Clone, Serialize)]
pub struct BufferRow {
    /// Fixture name (the GGUF is `DIR/NAME.gguf`).
    pub fixture: String,
    /// The command line the run stands for.
    pub settings: String,
    /// Model weights.
    pub weights: Pair,
    /// KV cache.
    pub kv: Pair,
    /// Compute buffer.
    pub compute: Pair,
    /// Output (logits) buffer.
    pub output: Pair,
    /// CPU_REPACK copy (canirun, llama.cpp) when repack was on.
    pub repack: Option<Pair>,
    /// Sum of the above.
    pub total: Pair,
    /// The header's tensor bytes equal the file's data region and canirun's weights, to the byte.
    pub weights_exact_to_byte: bool,
    /// Every part within its tolerance.
    pub ok: bool,
}

/// Settings llama.cpp refused, and what canirun made of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// Line number in the CSV.
    pub line: usize,
    /// Fixture name.
    pub fixture: String,
    /// llama.cpp's message (the notes column).
    pub llama_cpp: String,
    /// canirun's refusal; `None`: canirun accepted the settings (a failure).
    pub canirun: Option<String>,
}

impl Refusal {
    /// The line the command prints for it.
    pub fn message(&self) -> String {
        match &self.canirun {
            Some(e) => format!(
                "line {}: {}: both refuse: llama.cpp '{}', canirun '{e}'",
                self.line, self.fixture, self.llama_cpp
            ),
            None => format!(
                "line {}: {}: llama.cpp refused but canirun accepted ({})",
                self.line, self.fixture, self.llama_cpp
            ),
        }
    }
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct LlamaCppReport {
    /// Compared runs.
    pub rows: Vec<BufferRow>,
    /// Runs of programs canirun does not model.
    pub skipped: Vec<Skipped>,
    /// Settings llama.cpp refused.
    pub refusals: Vec<Refusal>,
    /// Statistics of the total's error.
    pub summary: Summary,
}

impl LlamaCppReport {
    /// Rows outside the tolerances.
    pub fn failed(&self) -> usize {
        self.rows.iter().filter(|r| !r.ok).count()
    }

    /// Settings llama.cpp refused but canirun accepted.
    pub fn refusal_mismatches(&self) -> usize {
        self.refusals.iter().filter(|r| r.canirun.is_none()).count()
    }
}

/// Errors that stop the comparison.
#[derive(Debug, thiserror::Error)]
pub enum LlamaCppError {
    /// A column is missing.
    #[error(transparent)]
    Column(#[from] MissingColumn),
    /// Not readable as CSV.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// A cell that does not parse.
    #[error("line {line}: {what}")]
    Value {
        /// Line number in the CSV.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The caller could not load a fixture.
    #[error(transparent)]
    Fixture(LoadError),
    /// canirun refused settings llama.cpp ran with.
    #[error("line {line}")]
    Settings {
        /// Line number in the CSV.
        line: usize,
        /// canirun's reason.
        #[source]
        source: SettingsError,
    },
}

/// Whether a row's parts are within the tolerances.
pub fn within_tolerance(weights: Pair, kv: Pair, repack: Pair, compute: Pair, total: Pair) -> bool {
    let exact = |p: Pair| (p.0 - p.1).abs() <= EXACT_MIB;
    exact(weights)
        && exact(kv)
        && exact(repack)
        && (compute.0 - compute.1).abs() <= (COMPUTE_REL * compute.1).max(COMPUTE_ABS_MIB)
        && (total.0 - total.1).abs() <= TOTAL_REL * total.1
}

/// Compare every run of `csv_text`; `load(name)` reads fixture `name`
/// (called once per fixture, only for rows that need it).
pub fn validate(
    csv_text: &str,
    mut load: impl FnMut(&str) -> Result<Fixture, LoadError>,
) -> Result<LlamaCppReport, LlamaCppError> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let h = rdr.headers()?.clone();
    let (c_fix, c_tool, c_status) = (
        column(&h, "fixture")?,
        column(&h, "tool")?,
        column(&h, "status")?,
    );
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut total_errs = Vec::new();
    let mut refusals = Vec::new();
    let mut loaded: HashMap<String, Fixture> = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let get = |c: &str| -> Result<String, LlamaCppError> {
            Ok(rec.get(column(&h, c)?).unwrap_or("").to_string())
        };
        let bad = |what: String| LlamaCppError::Value { line, what };
        let fixture = rec.get(c_fix).unwrap_or("").to_string();
        // llama-server reserves one logit row per sequence; llama-fit-params
        // (the library default) one per token of the micro-batch.
        let (outputs, fit_params) = match rec.get(c_tool) {
            Some("server") => (OutputRows::PerSequence, false),
            Some("fit-params") => (OutputRows::PerToken, true),
            other => {
                skipped.push(Skipped {
                    line,
                    what: fixture,
                    reason: format!(
                        "measured with '{}', a program canirun does not model",
                        other.unwrap_or("?")
                    ),
                });
                continue;
            }
        };
        let repack = get("repack")? == "on";
        if !loaded.contains_key(&fixture) {
            let f = load(&fixture).map_err(LlamaCppError::Fixture)?;
            loaded.insert(fixture.clone(), f);
        }
        let fx = &loaded[&fixture];
        let num = |c: &str| -> Result<u64, LlamaCppError> {
            get(c)?
                .parse::<u64>()
                .map_err(|_| bad(format!("{c} is not a number")))
        };
        let flash_attn = FlashAttn::parse(&get("flash_attn")?).ok_or_else(|| {
            bad(format!(
                "flash_attn '{}'",
                get("flash_attn").unwrap_or_default()
            ))
        });
        let cache_type = |c: &str| -> Result<_, LlamaCppError> { get(c)?.parse().map_err(bad) };
        if rec.get(c_status) != Some("ok") {
            // llama.cpp refused these settings: canirun must refuse them too.
            let s = RunSettings {
                n_ctx: num("n_ctx_requested")?,
                n_parallel: num("n_parallel").unwrap_or(1),
                flash_attn: flash_attn?,
                type_k: cache_type("type_k")?,
                type_v: cache_type("type_v")?,
                ..Default::default()
            };
            refusals.push(Refusal {
                line,
                fixture,
                llama_cpp: get("notes")?,
                canirun: llama_cpp::resolve_settings(&fx.spec, &s)
                    .err()
                    .map(|e| e.to_string()),
            });
            continue;
        }
        let s = RunSettings {
            n_ctx: num("n_ctx_requested")?,
            n_batch: num("n_batch")?,
            n_ubatch: num("n_ubatch")?,
            n_parallel: num("n_parallel")?,
            kv_unified: get("kv_unified")? == "true",
            flash_attn: flash_attn?,
            type_k: cache_type("type_k")?,
            type_v: cache_type("type_v")?,
            backend: Backend::Cpu,
            outputs,
            ..Default::default()
        };
        let b = llama_cpp::estimate(&fx.spec, &fx.weights, &s)
            .map_err(|source| LlamaCppError::Settings { line, source })?;
        let mib = |c: &str| -> Result<f64, LlamaCppError> {
            get(c)?.parse::<f64>().map_err(|e| bad(format!("{c}: {e}")))
        };
        // fit-params prints the model in whole MiB (truncated).
        let ours_weights = if fit_params {
            b.weights.bytes.as_mib().floor()
        } else if repack {
            // Repacked tensors at either end of the file leave the mapped range.
            llama_cpp::cpu_mapped_bytes_with_repack(&fx.weights).as_mib()
        } else {
            b.weights.bytes.as_mib()
        };
        let weights = (ours_weights, mib("model_MiB")?);
        // Hybrid recurrent models: llama.cpp prints the recurrent state (r + s rows
        // per sequence) beside the KV cache; canirun's KV part holds both.
        let rs = match get("rs_MiB").unwrap_or_default().as_str() {
            "" => 0.0,
            _ => mib("rs_MiB")?,
        };
        // Each of llama.cpp's two numbers is rounded to 2 decimals: round canirun's
        // KV and recurrent-state terms the same way before adding them.
        let ours_rs: Bytes =
            b.kv.terms
                .iter()
                .filter(|t| t.label.starts_with("recurrent state"))
                .map(|t| t.bytes)
                .sum();
        // printf rounds an exact tie to even (6.125 MiB prints as 6.12).
        let round2 = |x: f64| (x * 100.0).round_ties_even() / 100.0;
        let ours_kv = if ours_rs.0 > 0 {
            round2((b.kv.bytes - ours_rs).as_mib()) + round2(ours_rs.as_mib())
        } else {
            b.kv.bytes.as_mib()
        };
        let kv = (ours_kv, mib("kv_MiB")? + rs);
        let compute = (b.compute.bytes.as_mib(), mib("compute_MiB")?);
        let output = (b.output.bytes.as_mib(), mib("output_MiB")?);
        // With repack on, llama.cpp keeps the mapped file and adds a CPU_REPACK copy.
        let repack_pair = if repack {
            (
                llama_cpp::cpu_repack_bytes(&fx.weights).as_mib(),
                mib("repack_MiB")?,
            )
        } else {
            (0.0, 0.0)
        };
        let ours = weights.0 + kv.0 + compute.0 + output.0 + repack_pair.0;
        let theirs = weights.1 + kv.1 + compute.1 + output.1 + repack_pair.1;
        let total = (ours, theirs);
        total_errs.push((ours - theirs) / theirs * 100.0);
        rows.push(BufferRow {
            fixture,
            settings: format!(
                "{} -c {} -np {}{} -ub {} -fa {} -ctk {} -ctv {}{}",
                if fit_params {
                    "llama-fit-params"
                } else {
                    "llama-server"
                },
                s.n_ctx,
                s.n_parallel,
                if s.kv_unified { " -kvu" } else { "" },
                s.n_ubatch,
                get("flash_attn")?,
                get("type_k")?,
                get("type_v")?,
                if repack { "" } else { " --no-repack" }
            ),
            weights,
            repack: repack.then_some(repack_pair),
            kv,
            compute,
            output,
            total,
            weights_exact_to_byte: fx.tensor_bytes == fx.data_region_bytes
                && b.weights.bytes.0 == fx.tensor_bytes,
            ok: within_tolerance(weights, kv, repack_pair, compute, total),
        });
    }
    let summary = Summary::of(&total_errs, skipped.len());
    Ok(LlamaCppReport {
        rows,
        skipped,
        refusals,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{resolve, MlaTensorLayout};
    use crate::quant::{weights, Quant};

    /// A catalog model standing in for a fixture GGUF.
    fn fixture() -> Fixture {
        let spec = resolve("llama3.1:8b").unwrap().entry.spec();
        let w = weights(
            &spec,
            &Quant::parse("Q4_K_M").unwrap(),
            MlaTensorLayout::Split,
        );
        let bytes = w.total().0;
        Fixture {
            spec,
            weights: w,
            tensor_bytes: bytes,
            data_region_bytes: bytes,
        }
    }

    const HEADER: &str = "fixture,tool,status,repack,n_ctx_requested,n_batch,n_ubatch,n_parallel,kv_unified,flash_attn,type_k,type_v,model_MiB,kv_MiB,compute_MiB,output_MiB,repack_MiB,notes\n";

    /// A server row with canirun's own prediction, the compute buffer scaled by `compute_scale`.
    fn row(compute_scale: f64) -> String {
        let f = fixture();
        let s = RunSettings {
            n_ctx: 4096,
            n_batch: 2048,
            n_ubatch: 512,
            n_parallel: 1,
            flash_attn: FlashAttn::On,
            backend: Backend::Cpu,
            outputs: OutputRows::PerSequence,
            ..Default::default()
        };
        let b = llama_cpp::estimate(&f.spec, &f.weights, &s).unwrap();
        format!(
            "fx,server,ok,off,4096,2048,512,1,false,on,f16,f16,{:.2},{:.2},{:.2},{:.2},,\n",
            b.weights.bytes.as_mib(),
            b.kv.bytes.as_mib(),
            b.compute.bytes.as_mib() * compute_scale,
            b.output.bytes.as_mib(),
        )
    }

    #[test]
    fn a_matching_run_passes_and_a_far_compute_buffer_fails() {
        let csv = format!(
            "{HEADER}{}{}fx,vllm,ok,off,,,,,,,,,,,,,,\nfx,server,failed,off,4096,,,1,,off,f16,q8_0,,,,,,quantized V cache requires flash_attn to be enabled\n",
            row(1.0),
            row(1.5)
        );
        let mut loads = 0;
        let rep = validate(&csv, |name| {
            assert_eq!(name, "fx");
            loads += 1;
            Ok(fixture())
        })
        .unwrap();
        assert_eq!(loads, 1, "one load per fixture");
        assert_eq!(rep.rows.len(), 2);
        assert!(rep.rows[0].ok, "{:?}", rep.rows[0]);
        assert!(rep.rows[0].weights_exact_to_byte);
        assert!(!rep.rows[1].ok, "compute 50% off is outside 5% / 16 MiB");
        assert_eq!(rep.failed(), 1);
        assert_eq!(rep.skipped.len(), 1);
        assert_eq!(rep.skipped[0].line, 4);
        assert!(rep.skipped[0].reason.contains("'vllm'"));
        assert_eq!(rep.refusals.len(), 1);
        assert!(rep.refusals[0].canirun.is_some(), "canirun refuses too");
        assert_eq!(rep.refusal_mismatches(), 0);
        assert_eq!(rep.summary.rows, 2);
        assert_eq!(
            rep.rows[0].settings,
            "llama-server -c 4096 -np 1 -ub 512 -fa on -ctk f16 -ctv f16 --no-repack"
        );
    }

    #[test]
    fn tolerances() {
        let z = (0.0, 0.0);
        assert!(within_tolerance(
            (10.0, 10.004),
            z,
            z,
            (100.0, 110.0),
            (110.0, 110.0)
        ));
        assert!(!within_tolerance((10.0, 10.01), z, z, z, (10.0, 10.0)));
        assert!(!within_tolerance(z, z, z, (500.0, 530.0), (1000.0, 1000.0)));
        assert!(!within_tolerance(z, z, z, z, (1000.0, 1030.0)));
    }

    #[test]
    fn a_missing_fixture_stops_the_comparison() {
        let csv = format!("{HEADER}{}", row(1.0));
        let e = validate(&csv, |_| Err("no such file".into())).unwrap_err();
        assert_eq!(e.to_string(), "no such file");
    }
}
