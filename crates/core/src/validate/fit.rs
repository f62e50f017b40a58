//! `validate fit`: canirun's `--fit` against the decisions of a real
//! `llama-fit-params` (scripts/fit_params_rpc.sh: local RPC servers stand in
//! for GPUs, free memory imposed through the margin), and, with the probes
//! CSV, canirun's projection of every configuration llama.cpp tried.
//!
//! A decision that differs only because canirun projects a configuration on
//! the other side of the target is the memory model's error, and is
//! explained; any other difference is a fault in the search.

use super::{column, Fixture, LoadError, MissingColumn};
use crate::memory::{Backend, FlashAttn, OutputRows, RunSettings};
use crate::model::ModelSpec;
use crate::placement::llama_cpp::fit::{
    fit, DeviceLayers, FitDevice, FitRequest, LayerFraction, PlaceProjector, Probe, Trial,
};
use crate::placement::llama_cpp::PlacementError;
use crate::placement::{DeviceSpec, Loc};
use crate::units::Bytes;
use serde::Serialize;
use std::collections::HashMap;

/// The RPC devices of scripts/fit_params_rpc.sh listen on consecutive ports from this one.
pub const FIRST_RPC_PORT: u32 = 50152;

/// One compared decision.
#[derive(Debug, Clone, Serialize)]
pub struct FitRow {
    /// Line number in the decisions CSV.
    pub line: usize,
    /// Fixture name.
    pub fixture: String,
    /// `-c` as written (`auto`: unset).
    pub n_ctx: String,
    /// Imposed free memory per device, MiB, as written.
    pub free_mib: String,
    /// llama-fit-params's decision, devices named `GPUi`.
    pub llama_cpp: String,
    /// canirun's decision.
    pub canirun: String,
    /// The two are the same.
    pub agree: bool,
    /// For a different decision: the projection that made it, canirun's and
    /// llama.cpp's (None: the searches themselves diverged).
    pub why: Option<String>,
}

/// One compared projection.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRow {
    /// Line number in the probes CSV.
    pub line: usize,
    /// Fixture name.
    pub fixture: String,
    /// Context of the projection.
    pub n_ctx: u64,
    /// `initial`, `min_ctx`, `cpu_moe` or `probe`.
    pub kind: String,
    /// Device index.
    pub device: usize,
    /// Layers/part/fraction per device, as written.
    pub config: String,
    /// Model, KV, compute and their total, MiB.
    pub llama_cpp_mib: [i64; 4],
    /// The same, canirun.
    pub canirun_mib: [i64; 4],
    /// Total, canirun − llama.cpp.
    pub diff_mib: i64,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    /// Compared decisions.
    pub rows: Vec<FitRow>,
    /// Compared projections (empty without the probes CSV).
    pub probes: Vec<ProbeRow>,
    /// Decisions that agree.
    pub agree: usize,
    /// Decisions compared.
    pub total: usize,
}

/// Statistics of the projections' total differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProbeStats {
    /// Projections compared.
    pub compared: usize,
    /// Median |diff|, MiB (upper median).
    pub median_abs_diff_mib: i64,
    /// Largest |diff|, MiB.
    pub max_abs_diff_mib: i64,
}

impl FitReport {
    /// Differing decisions a projection explains.
    pub fn explained(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| !r.agree && r.why.is_some())
            .count()
    }

    /// Differing decisions nothing explains: faults in the search.
    pub fn unexplained(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| !r.agree && r.why.is_none())
            .count()
    }

    /// Statistics of the projections, when any were compared.
    pub fn probe_stats(&self) -> Option<ProbeStats> {
        let mut d: Vec<i64> = self.probes.iter().map(|p| p.diff_mib.abs()).collect();
        d.sort_unstable();
        Some(ProbeStats {
            compared: d.len(),
            median_abs_diff_mib: *d.get(d.len() / 2)?,
            max_abs_diff_mib: *d.last()?,
        })
    }
}

/// Errors that stop the comparison.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// A column is missing.
    #[error(transparent)]
    Column(#[from] MissingColumn),
    /// Not readable as CSV.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// A cell of the decisions CSV that does not parse.
    #[error("line {line}: {what}")]
    Value {
        /// Line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A cell of the probes CSV that does not parse.
    #[error("probes line {line}: {what}")]
    Probe {
        /// Line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The caller could not load a fixture.
    #[error(transparent)]
    Fixture(LoadError),
    /// canirun's fit or projection failed.
    #[error("line {line}: fitting {fixture}")]
    Fit {
        /// Line number.
        line: usize,
        /// Fixture name.
        fixture: String,
        /// Why.
        #[source]
        source: PlacementError,
    },
}

/// llama-fit-params's run settings: the library defaults, one logit row per
/// token of the micro-batch, flash attention resolved to on for these devices.
fn fit_settings(n_ctx: u64) -> RunSettings {
    RunSettings {
        n_ctx,
        flash_attn: FlashAttn::On,
        backend: Backend::Cpu,
        outputs: OutputRows::PerToken,
        ..Default::default()
    }
}

/// A fit onto RPC devices that each report `reported` free, with the free
/// memory `free[i]` imposed through the margin (as scripts/fit_params_rpc.sh does).
fn rpc_request<'a>(
    spec: &'a ModelSpec,
    settings: RunSettings,
    reported: Bytes,
    free: &[Bytes],
) -> FitRequest<'a> {
    FitRequest {
        model: spec,
        settings,
        given: Default::default(),
        devices: free
            .iter()
            .enumerate()
            .map(|(i, f)| FitDevice {
                spec: DeviceSpec {
                    name: format!("RPC{i}"),
                    memory: reported,
                    backend: Backend::Cpu,
                },
                free: reported,
                margin: reported.saturating_sub(*f),
            })
            .collect(),
        host: None,
        n_ctx_min: 4096,
    }
}

/// Device names as llama-fit-params prints them for RPC devices
/// (`RPC0[127.0.0.1:PORT]`), canonicalised to `GPUi`.
pub fn canonical(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("RPC") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let port = tail
            .find("[127.0.0.1:")
            .filter(|p| tail[3..*p].chars().all(|c| c.is_ascii_digit()))
            .and_then(|p| {
                let num = &tail[p + 11..];
                let end = num.find(']')?;
                Some((p + 11 + end + 1, num[..end].parse::<u32>().ok()?))
            });
        match port {
            Some((len, port)) => {
                out.push_str(&format!("GPU{}", port.saturating_sub(FIRST_RPC_PORT)));
                rest = &tail[len..];
            }
            None => {
                out.push_str("RPC");
                rest = &tail[3..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Fixtures loaded once each through the caller's loader.
struct Fixtures<L> {
    load: L,
    loaded: HashMap<String, Fixture>,
}

impl<L: FnMut(&str) -> Result<Fixture, LoadError>> Fixtures<L> {
    fn get(&mut self, name: &str) -> Result<&Fixture, FitError> {
        if !self.loaded.contains_key(name) {
            let f = (self.load)(name).map_err(FitError::Fixture)?;
            self.loaded.insert(name.to_string(), f);
        }
        Ok(&self.loaded[name])
    }
}

fn mib_list(s: &str, line: usize) -> Result<Vec<u64>, FitError> {
    s.split('/')
        .map(|x| {
            x.trim().parse::<u64>().map_err(|_| FitError::Value {
                line,
                what: format!("'{x}' is not a whole number of MiB"),
            })
        })
        .collect()
}

/// Compare every decision of `decisions_csv` (the columns of
/// crates/core/data/llama_fit_params_rpc.csv) and, given `probes_csv`
/// (llama_fit_params_probes.csv), explain differing decisions and compare
/// every projection; `load(name)` reads fixture `name` (once per fixture).
pub fn validate(
    decisions_csv: &str,
    probes_csv: Option<&str>,
    load: impl FnMut(&str) -> Result<Fixture, LoadError>,
) -> Result<FitReport, FitError> {
    let mut fx = Fixtures {
        load,
        loaded: HashMap::new(),
    };
    let mut rdr = csv::Reader::from_reader(decisions_csv.as_bytes());
    let h = rdr.headers()?.clone();
    let (c_fix, c_ctx, c_dev, c_free, c_out) = (
        column(&h, "fixture")?,
        column(&h, "n_ctx")?,
        column(&h, "device_free_MiB")?,
        column(&h, "imposed_free_MiB")?,
        column(&h, "fit_params_output")?,
    );
    let trace = probes_csv.map(load_trace).transpose()?;
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let bad = |what: String| FitError::Value { line, what };
        let fixture = rec[c_fix].to_string();
        let n_ctx = match &rec[c_ctx] {
            "auto" => 0,
            c => c.parse().map_err(|e| bad(format!("n_ctx '{c}': {e}")))?,
        };
        let reported = Bytes::mib(
            rec[c_dev]
                .parse()
                .map_err(|e| bad(format!("device_free_MiB: {e}")))?,
        );
        let free = mib_list(&rec[c_free], line)?;
        let f = fx.get(&fixture)?;
        let req = rpc_request(
            &f.spec,
            fit_settings(n_ctx),
            reported,
            &free.iter().map(|f| Bytes::mib(*f)).collect::<Vec<_>>(),
        );
        let got = fit(&req, &f.weights).map_err(|source| FitError::Fit {
            line,
            fixture: fixture.clone(),
            source,
        })?;
        let ours = got.fit_params_line(|l| match l {
            Loc::Cpu => "CPU".into(),
            Loc::Gpu(i) => format!("GPU{i}"),
        });
        let theirs = canonical(&rec[c_out]);
        let why = match &trace {
            Some(t) if ours != theirs => explain(t, &fixture, &got.probes, &free),
            _ => None,
        };
        rows.push(FitRow {
            line,
            fixture,
            n_ctx: rec[c_ctx].to_string(),
            free_mib: rec[c_free].to_string(),
            agree: ours == theirs,
            llama_cpp: theirs,
            canirun: ours,
            why,
        });
    }
    let probes = match probes_csv {
        Some(text) => compare_probes(text, &mut fx)?,
        None => Vec::new(),
    };
    let agree = rows.iter().filter(|r| r.agree).count();
    let total = rows.len();
    Ok(FitReport {
        rows,
        probes,
        agree,
        total,
    })
}

/// llama.cpp's projections by (fixture, context, configuration, devices):
/// whole MiB per device.
pub type TraceMap = HashMap<(String, u64, String, usize), Vec<i64>>;

/// llama.cpp's projections from the probes CSV.
pub fn load_trace(text: &str) -> Result<TraceMap, FitError> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers()?.clone();
    let c = [
        column(&h, "fixture")?,
        column(&h, "n_ctx_projected")?,
        column(&h, "kind")?,
        column(&h, "config")?,
        column(&h, "n_devices")?,
        column(&h, "device")?,
        column(&h, "total_MiB")?,
    ];
    let mut map = TraceMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let int = |k: usize| -> Result<i64, FitError> {
            rec[c[k]].parse().map_err(|e| FitError::Probe {
                line,
                what: format!("'{}': {e}", &rec[c[k]]),
            })
        };
        let what = match &rec[c[2]] {
            "initial" | "min_ctx" => "as given".to_string(),
            "cpu_moe" => "all experts in RAM".to_string(),
            _ => rec[c[3]].to_string(),
        };
        let (nd, dev, total, n_ctx) = (int(4)? as usize, int(5)? as usize, int(6)?, int(1)?);
        let e = map
            .entry((rec[c[0]].to_string(), n_ctx as u64, what, nd))
            .or_insert_with(|| vec![-1; nd]);
        if dev < nd {
            e[dev] = total;
        }
    }
    Ok(map)
}

/// The key of a projection in the trace: its configuration as the probes CSV writes it.
fn probe_name(p: &Probe) -> String {
    match p.kind {
        "initial" | "min_ctx" => "as given".into(),
        "cpu_moe" => "all experts in RAM".into(),
        _ => p
            .layers
            .iter()
            .map(|d| format!("{}/{}/{}", d.n_layer, d.n_part, d.overflow.code()))
            .collect::<Vec<_>>()
            .join(";"),
    }
}

/// Why canirun's search (its `probes`) ended elsewhere: the first
/// configuration it projected on the other side of a device's target than
/// llama.cpp did, or, when only the context differs, the two projections the
/// context is interpolated from. `free` is the target per device, MiB.
pub fn explain(trace: &TraceMap, fixture: &str, probes: &[Probe], free: &[u64]) -> Option<String> {
    let nd = free.len();
    let mut ctx_terms = Vec::new();
    for p in probes {
        let what = probe_name(p);
        let theirs = trace.get(&(fixture.to_string(), p.n_ctx, what.clone(), nd))?;
        let ours: Vec<i64> = p.used.iter().map(|b| b.as_mib().floor() as i64).collect();
        for (d, (o, t)) in p.used.iter().zip(theirs).enumerate() {
            let target = free[d] as i64;
            // canirun's bytes are exact; llama.cpp's trace is floored to whole MiB.
            if (*o <= Bytes::mib(free[d])) != (*t <= target) {
                return Some(format!(
                    "{what} at -c {}: canirun projects {:.1} MiB on GPU{d}, llama.cpp {t} MiB; the target is {target} MiB",
                    p.n_ctx,
                    o.as_mib()
                ));
            }
        }
        if matches!(p.kind, "initial" | "min_ctx") {
            ctx_terms.push(format!(
                "-c {}: canirun {} MiB, llama.cpp {} MiB",
                p.n_ctx,
                ours.iter().sum::<i64>(),
                theirs.iter().sum::<i64>()
            ));
        }
    }
    (ctx_terms.len() == 2).then(|| {
        format!(
            "the context is interpolated between two projections ({}); their difference moves it",
            ctx_terms.join("; ")
        )
    })
}

fn fraction(code: &str) -> Option<LayerFraction> {
    Some(match code {
        "1" => LayerFraction::Attn,
        "2" => LayerFraction::Up,
        "3" => LayerFraction::Gate,
        "4" => LayerFraction::Moe,
        _ => return None,
    })
}

/// Layers per device from a probe's config (`n_layer/n_part/overflow_type;…`).
fn parse_config(cfg: &str, line: usize) -> Result<Vec<DeviceLayers>, FitError> {
    cfg.split(';')
        .map(|d| {
            let v: Vec<&str> = d.split('/').collect();
            let bad = || FitError::Probe {
                line,
                what: format!("config '{d}' is not n_layer/n_part/overflow_type"),
            };
            match (v.first(), v.get(1), v.get(2).and_then(|c| fraction(c))) {
                (Some(a), Some(b), Some(overflow)) => Ok(DeviceLayers {
                    n_layer: a.parse().map_err(|_| bad())?,
                    n_part: b.parse().map_err(|_| bad())?,
                    overflow,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// Every projection llama-fit-params printed against canirun's for the same
/// configuration (scripts/fit_params_probes.py writes the CSV).
fn compare_probes<L: FnMut(&str) -> Result<Fixture, LoadError>>(
    text: &str,
    fx: &mut Fixtures<L>,
) -> Result<Vec<ProbeRow>, FitError> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers()?.clone();
    let (c_fix, c_ctx, c_kind, c_nd, c_dev, c_cfg) = (
        column(&h, "fixture")?,
        column(&h, "n_ctx_projected")?,
        column(&h, "kind")?,
        column(&h, "n_devices")?,
        column(&h, "device")?,
        column(&h, "config")?,
    );
    let parts = [
        column(&h, "model_MiB")?,
        column(&h, "context_MiB")?,
        column(&h, "compute_MiB")?,
        column(&h, "total_MiB")?,
    ];
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let int = |c: usize, name: &str| -> Result<u64, FitError> {
            rec[c].parse().map_err(|e| FitError::Probe {
                line,
                what: format!("{name}: {e}"),
            })
        };
        let fixture = rec[c_fix].to_string();
        let n_ctx = int(c_ctx, "n_ctx")?;
        let device = int(c_dev, "device")? as usize;
        let kind = rec[c_kind].to_string();
        let cfg = rec[c_cfg].to_string();
        let f = fx.get(&fixture)?;
        let n_dev = int(c_nd, "n_devices")? as usize;
        if device >= n_dev {
            return Err(FitError::Probe {
                line,
                what: format!("device {device} of {n_dev}"),
            });
        }
        let layers = if kind == "probe" {
            parse_config(&cfg, line)?
        } else {
            vec![]
        };
        let overflow_to = overflow_cpu_or_next(&layers);
        let trial = match kind.as_str() {
            "probe" => Trial::Layers {
                layers: &layers,
                overflow_to: &overflow_to,
            },
            "cpu_moe" => Trial::AllExpertsOnCpu,
            _ => Trial::Given,
        };
        // Every RPC device reports the same free memory, so the default split is even.
        let req = rpc_request(
            &f.spec,
            fit_settings(n_ctx),
            Bytes::gib(1),
            &vec![Bytes::gib(1); n_dev],
        );
        let p = PlaceProjector::new(&req, &f.weights);
        let placement = p.placement(n_ctx, trial).map_err(|source| FitError::Fit {
            line,
            fixture: fixture.clone(),
            source,
        })?;
        let d = &placement.devices[device + 1];
        // llama.cpp prints each part floored to whole MiB.
        let floor = |b: Bytes| b.as_mib().floor() as i64;
        let ours = [
            floor(d.weights),
            floor(d.kv),
            floor(d.compute),
            floor(d.weights + d.kv + d.compute),
        ];
        let mut theirs = [0i64; 4];
        for (t, c) in theirs.iter_mut().zip(parts) {
            *t = rec[c].parse().map_err(|e| FitError::Probe {
                line,
                what: format!("column {c}: {e}"),
            })?;
        }
        out.push(ProbeRow {
            line,
            fixture,
            n_ctx,
            kind,
            device,
            config: cfg,
            llama_cpp_mib: theirs,
            canirun_mib: ours,
            diff_mib: ours[3] - theirs[3],
        });
    }
    Ok(out)
}

/// llama.cpp overflows a device's first partial layer to the next device when
/// it tries the extra partial layer on a device that is not the last; on the
/// last device, and for every other partial layer, to system memory. The probe
/// log does not say which, so a non-MoE fraction on a device that is not the
/// last is taken to overflow to the next one.
fn overflow_cpu_or_next(layers: &[DeviceLayers]) -> Vec<Loc> {
    let nd = layers.len();
    layers
        .iter()
        .enumerate()
        .map(|(id, d)| {
            if id + 1 < nd && d.overflow != LayerFraction::Moe {
                Loc::Gpu(id + 1)
            } else {
                Loc::Cpu
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{resolve, MlaTensorLayout};
    use crate::quant::{weights, Quant};

    fn mib(x: f64) -> Bytes {
        Bytes((x * 1048576.0).round() as u64)
    }

    fn probe(kind: &'static str, n_ctx: u64, layers: Vec<DeviceLayers>, used: &[f64]) -> Probe {
        Probe {
            kind,
            n_ctx,
            layers,
            used: used.iter().map(|u| mib(*u)).collect(),
        }
    }

    #[test]
    fn rpc_devices_are_named_gpus() {
        assert_eq!(
            canonical(r#"-ngl 5 -ts 2,3 -ot "blk\.1\.ffn_down.*=RPC1[127.0.0.1:50153]""#),
            r#"-ngl 5 -ts 2,3 -ot "blk\.1\.ffn_down.*=GPU1""#
        );
        assert_eq!(canonical("RPCx RPC0"), "RPCx RPC0");
    }

    #[test]
    fn a_projection_across_the_target_explains_a_different_decision() {
        let layers = vec![DeviceLayers {
            n_layer: 4,
            n_part: 3,
            overflow: LayerFraction::Moe,
        }];
        let mut trace = TraceMap::new();
        trace.insert(("fx".into(), 4096, "as given".into(), 1), vec![2500]);
        trace.insert(("fx".into(), 4096, "4/3/4".into(), 1), vec![1953]);
        let probes = [
            probe("initial", 4096, vec![], &[2547.0]),
            probe("probe", 4096, layers, &[2000.4]),
        ];
        // As given both exceed the 2000 MiB target; 4/3/4 fits for llama.cpp only.
        assert_eq!(
            explain(&trace, "fx", &probes, &[2000]).as_deref(),
            Some("4/3/4 at -c 4096: canirun projects 2000.4 MiB on GPU0, llama.cpp 1953 MiB; the target is 2000 MiB")
        );
        // A projection llama.cpp never made explains nothing.
        assert_eq!(explain(&trace, "other", &probes, &[2000]), None);
    }

    #[test]
    fn the_context_interpolation_explains_a_different_context() {
        let mut trace = TraceMap::new();
        trace.insert(("fx".into(), 163840, "as given".into(), 1), vec![10139]);
        trace.insert(("fx".into(), 4096, "as given".into(), 1), vec![9281]);
        let probes = [
            probe("initial", 163840, vec![], &[10186.2]),
            probe("min_ctx", 4096, vec![], &[9328.9]),
        ];
        assert_eq!(
            explain(&trace, "fx", &probes, &[9800]).as_deref(),
            Some("the context is interpolated between two projections (-c 163840: canirun 10186 MiB, llama.cpp 10139 MiB; -c 4096: canirun 9328 MiB, llama.cpp 9281 MiB); their difference moves it")
        );
    }

    #[test]
    fn an_unexplained_difference_is_counted() {
        let csv = "fixture,n_ctx,device_free_MiB,imposed_free_MiB,fit_params_output\n\
                   fx,4096,100000,100000,-c 4096 -ngl 3 -ot RPC0[127.0.0.1:50152]\n";
        let rep = validate(csv, None, |_| {
            let spec = resolve("llama3.1:8b").unwrap().entry.spec();
            let w = weights(
                &spec,
                &Quant::parse("Q4_K_M").unwrap(),
                MlaTensorLayout::Split,
            );
            Ok(Fixture {
                spec,
                weights: w,
                tensor_bytes: 0,
                data_region_bytes: 0,
            })
        })
        .unwrap();
        assert_eq!((rep.total, rep.agree), (1, 0));
        assert_eq!(rep.rows[0].llama_cpp, "-c 4096 -ngl 3 -ot GPU0");
        assert!(
            rep.rows[0].canirun.starts_with("-c 4096"),
            "{}",
            rep.rows[0].canirun
        );
        assert_eq!(rep.unexplained(), 1);
        assert_eq!(rep.explained(), 0);
        assert_eq!(rep.probe_stats(), None);
    }
}
