//! canirun's port of llama.cpp's `--fit` search (common/fit.cpp, 0c1e57098)
//! against the decisions of a real `llama-fit-params`
//! (data/llama_fit_params_rpc.csv: RPC devices standing in for GPUs, free
//! memory imposed per device).
//!
//! The search is driven here by llama.cpp's *own* projections, read from its
//! trace (data/llama_fit_params_probes.csv), so this checks the search itself,
//! independently of canirun's memory model: it must ask for exactly the
//! configurations llama.cpp tried (a configuration missing from the trace fails
//! the test) and end with the same `-c`, `-ngl`, `-ts` and `-ot`. How close
//! canirun's own projections come is `canirun validate fit … --probes …`.

mod common;

use canirun_core::memory::{Backend, FlashAttn, OutputRows, RunSettings};
use canirun_core::placement::llama_cpp::fit::{
    fit_with, FitDevice, FitRequest, Projection, Projector, Trial,
};
use canirun_core::placement::llama_cpp::PlacementError;
use canirun_core::placement::{DeviceSpec, Loc};
use canirun_core::units::Bytes;
use std::collections::HashMap;

/// Whole MiB as llama.cpp prints them: (total, model) per device.
type Row = (Vec<i64>, Vec<i64>);

struct Trace {
    /// (fixture, n_ctx, "given"/"cpu_moe"/config, n_devices) → per device.
    rows: HashMap<(String, u64, String, usize), Row>,
}

impl Trace {
    fn load() -> Trace {
        let text = include_str!("../data/llama_fit_params_probes.csv");
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let h = rdr.headers().unwrap().clone();
        let col = |n: &str| h.iter().position(|x| x == n).unwrap();
        let mut rows: HashMap<_, Row> = HashMap::new();
        for rec in rdr.records() {
            let rec = rec.unwrap();
            let kind = match &rec[col("kind")] {
                "initial" | "min_ctx" => "given".to_string(),
                "cpu_moe" => "cpu_moe".to_string(),
                _ => rec[col("config")].to_string(),
            };
            let nd: usize = rec[col("n_devices")].parse().unwrap();
            let dev: usize = rec[col("device")].parse().unwrap();
            let key = (
                rec[col("fixture")].to_string(),
                rec[col("n_ctx_projected")].parse().unwrap(),
                kind,
                nd,
            );
            let e = rows
                .entry(key)
                .or_insert_with(|| (vec![-1; nd], vec![-1; nd]));
            e.0[dev] = rec[col("total_MiB")].parse().unwrap();
            e.1[dev] = rec[col("model_MiB")].parse().unwrap();
        }
        Trace { rows }
    }
}

struct TraceProjector<'a> {
    trace: &'a Trace,
    fixture: String,
    n_devices: usize,
    missing: Vec<String>,
}

impl Projector for TraceProjector<'_> {
    fn project(&mut self, n_ctx: u64, trial: Trial<'_>) -> Result<Projection, PlacementError> {
        let what = match trial {
            Trial::Given => "given".to_string(),
            Trial::AllExpertsOnCpu => "cpu_moe".to_string(),
            Trial::Layers { layers, .. } => layers
                .iter()
                .map(|d| format!("{}/{}/{}", d.n_layer, d.n_part, d.overflow.code()))
                .collect::<Vec<_>>()
                .join(";"),
        };
        let key = (self.fixture.clone(), n_ctx, what.clone(), self.n_devices);
        match self.trace.rows.get(&key) {
            Some((total, model)) => Ok(Projection {
                used: total.iter().map(|m| Bytes::mib(*m as u64)).collect(),
                model: model.iter().map(|m| Bytes::mib(*m as u64)).collect(),
                host: Bytes::ZERO,
            }),
            None => {
                self.missing.push(format!("n_ctx {n_ctx} {what}"));
                // Something llama.cpp never tried: make it not fit, and fail below.
                Ok(Projection {
                    used: vec![Bytes::gib(1 << 20); self.n_devices],
                    model: vec![Bytes::ZERO; self.n_devices],
                    host: Bytes::ZERO,
                })
            }
        }
    }
}

#[test]
fn the_search_makes_llama_fit_params_decisions_from_its_own_projections() {
    let trace = Trace::load();
    let text = include_str!("../data/llama_fit_params_rpc.csv");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap();
        let fixture = rec[col("fixture")].to_string();
        let m = common::fixture_spec(&fixture).expect("a known fixture");
        let n_ctx = match &rec[col("n_ctx")] {
            "auto" => 0,
            c => c.parse().unwrap(),
        };
        let reported = Bytes::mib(rec[col("device_free_MiB")].parse().unwrap());
        let free: Vec<u64> = rec[col("imposed_free_MiB")]
            .split('/')
            .map(|x| x.parse().unwrap())
            .collect();
        let req = FitRequest {
            model: &m,
            settings: RunSettings {
                n_ctx,
                flash_attn: FlashAttn::On,
                backend: Backend::Cpu,
                outputs: OutputRows::PerToken,
                ..Default::default()
            },
            given: Default::default(),
            devices: free
                .iter()
                .enumerate()
                .map(|(d, f)| FitDevice {
                    spec: DeviceSpec {
                        name: format!("RPC{d}"),
                        memory: reported,
                        backend: Backend::Cpu,
                    },
                    free: reported,
                    margin: reported.saturating_sub(Bytes::mib(*f)),
                })
                .collect(),
            host: None,
            n_ctx_min: 4096,
        };
        let mut proj = TraceProjector {
            trace: &trace,
            fixture: fixture.clone(),
            n_devices: free.len(),
            missing: vec![],
        };
        let got = fit_with(&req, &mut proj).unwrap();
        // llama-fit-params names an RPC device RPC0[127.0.0.1:PORT], device i on port 50152 + i.
        let line = got.fit_params_line(|l| match l {
            Loc::Cpu => "CPU".into(),
            Loc::Gpu(d) => format!("RPC0[127.0.0.1:{}]", 50152 + d),
        });
        let want = &rec[col("fit_params_output")];
        if !same_decision(&line, want, n_ctx == 0) || !proj.missing.is_empty() {
            failures.push(format!(
                "line {}: {fixture} free {:?}: llama.cpp '{want}', canirun '{line}', configurations llama.cpp never projected: {:?}",
                i + 2,
                free,
                proj.missing
            ));
        }
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} decisions read");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same flags. When llama.cpp chose the context (no `-c`), it interpolates
/// between two projections in bytes; the trace has them in whole MiB, which
/// moves the interpolated context by up to 128 tokens per MiB of rounding on
/// these fixtures (a 131072-token span over about 1000 MiB), so a context one
/// 256-token alignment step away is the same decision at the trace's resolution.
fn same_decision(ours: &str, theirs: &str, ctx_auto: bool) -> bool {
    if ours == theirs {
        return true;
    }
    let split = |s: &str| -> Option<(u64, String)> {
        let rest = s.strip_prefix("-c ")?;
        let (c, tail) = rest.split_once(' ')?;
        Some((c.parse().ok()?, tail.to_string()))
    };
    match (ctx_auto, split(ours), split(theirs)) {
        (true, Some((a, ta)), Some((b, tb))) => ta == tb && a.abs_diff(b) <= 256,
        _ => false,
    }
}
