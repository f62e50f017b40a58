//! One whole `canirun bench` run, as a library call: start or reach the
//! server, work out what canirun predicts for, measure, compare, keep the
//! run in the history, and hand back a typed [`BenchReport`] that the binary
//! renders (text or `--json`) and a web page can reuse. Also the other
//! history commands' work: [`export`], [`list`] and [`calibrate`].

use crate::compare::{self, EngineFit, Row, RunMeta};
use crate::history::{self, History, Run, StoredCalibration};
use crate::measure::{self, Plan};
use crate::{client, spawn, Api, BenchError};
use canirun_core::cmdline;
use canirun_core::hardware::Target;
use canirun_core::memory::RunSettings;
use canirun_core::pipeline::Model;
use canirun_core::pipeline::{estimate, Request};
use canirun_core::speed::local::LocalCalibration;
use canirun_core::units::Bytes;
use canirun_io::load;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What to bench and how (the flags of `canirun bench`).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The hardware predicted for, and whose history the run joins.
    pub target: Target,
    /// A running server; without it, `command` is started.
    pub url: Option<String>,
    /// The API to use (default: asked from the server).
    pub api: Option<Api>,
    /// The model to ask the server for (default: the one it serves).
    pub served_model: Option<String>,
    /// The model canirun predicts for, when the server's name is not one.
    pub predict_for: Option<String>,
    /// Prompt sizes of the prefill tests.
    pub pp: Vec<u64>,
    /// Tokens generated in each generation test (0: none).
    pub tg: u64,
    /// Context depths of the generation tests.
    pub depths: Vec<u64>,
    /// Repetitions of each test.
    pub repetitions: u32,
    /// Longest one request may take.
    pub timeout: Duration,
    /// Longest a started server may take to become ready.
    pub ready_timeout: Duration,
    /// The history database.
    pub db: PathBuf,
    /// Predict with this machine's stored calibration factors.
    pub local_calibration: bool,
    /// Write the run to the history.
    pub keep_history: bool,
    /// The server command to start (with `url`: only what canirun predicts for).
    pub command: Vec<String>,
}

/// Progress of a run, for a progress bar or a log.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// No prediction: the model could not be loaded (the run goes on).
    NoPrediction {
        /// The model name tried.
        model: &'a str,
        /// Why it failed.
        error: &'a load::LoadError,
    },
    /// The measurement starts: `samples` samples are planned.
    Planned {
        /// Tests × repetitions.
        samples: u64,
    },
    /// A step of the measurement.
    Measure(measure::Event<'a>),
}

/// Everything a bench produced. Serialised, it is `canirun bench --json`.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// The endpoint measured.
    pub url: String,
    /// The API used.
    pub api: &'static str,
    /// The model name the server was asked for.
    pub model: String,
    /// The engine that answered.
    pub engine: String,
    /// The engine's version, when it tells it (in the text headline only).
    #[serde(skip)]
    pub engine_version: Option<String>,
    /// Each finished test, measured and predicted.
    pub rows: Vec<Row>,
    /// The server's peak RSS (started servers) or its own figure, bytes.
    pub memory_measured: Option<u64>,
    /// canirun's memory prediction for the run.
    pub memory_predicted: Option<Bytes>,
    /// Each buffer the started server reported (llama.cpp's log) and, on
    /// an NVIDIA GPU, what the driver counts for the process, per pool and
    /// part, next to canirun's figure for the same pool and part. Empty for
    /// a server canirun did not start.
    pub memory_parts: Vec<crate::buffers::MemoryRow>,
    /// This machine's calibration, when the prediction used one.
    pub local_calibration: Option<LocalCalibration>,
    /// Whether the stop flag ended the run early.
    pub interrupted: bool,
    /// The error that ended the run early; the finished tests are kept.
    #[serde(serialize_with = "as_text")]
    pub error: Option<BenchError>,
}

fn as_text<S: serde::Serializer>(e: &Option<BenchError>, s: S) -> Result<S::Ok, S::Error> {
    e.as_ref().map(|e| e.to_string()).serialize(s)
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Run the bench `o` describes; `stop` ends it after the request in flight
/// and keeps what is finished. Errors before the measurement are returned;
/// an error during it is in the report, next to the tests it let finish.
pub fn run(
    o: &BenchOptions,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<BenchReport, BenchError> {
    let hw = &o.target;
    let fp = compare::machine_fingerprint(hw);
    let pasted = (!o.command.is_empty())
        .then(|| cmdline::parse(&o.command))
        .transpose()?;
    let spawned = match (&o.url, o.command.is_empty()) {
        (Some(_), _) => None,
        (None, false) => Some(spawn::Spawned::start(&o.command, o.ready_timeout)?),
        (None, true) => return Err(BenchError::NoServer),
    };
    let url = o
        .url
        .clone()
        .or(spawned.as_ref().map(|s| s.url.clone()))
        .unwrap_or_default();
    let cl = client::Client::new(&url, o.timeout);
    let served = o
        .served_model
        .clone()
        .or(spawned.as_ref().and_then(|s| s.model.clone()));
    let info = cl.probe(o.api, served.as_deref())?;
    // What canirun predicts for: exactly the command when there is one, else what the server says.
    let name = o
        .predict_for
        .clone()
        .or(pasted.as_ref().and_then(load::pasted_model));
    let name = name
        .or(info.model_path.clone())
        .unwrap_or(info.model.clone());
    let server = pasted
        .as_ref()
        .is_some_and(|p| matches!(p.engine, cmdline::Engine::Vllm | cmdline::Engine::Sglang));
    let opts = load::LoadOptions {
        quant: None,
        imatrix: false,
        mla_tensors: Default::default(),
        server,
    };
    let model: Option<Model> = match load::load(&name, &opts, None) {
        Ok(m) => Some(m),
        Err(error) => {
            progress(Progress::NoPrediction {
                model: &name,
                error: &error,
            });
            None
        }
    };
    let db = History::open(&o.db)?;
    let stored = db
        .calibration(&fp, &info.engine)?
        .filter(|_| o.local_calibration);
    let req = model.as_ref().map(|m| {
        let mut q = Request::new(
            m,
            hw,
            RunSettings {
                backend: hw.backend,
                ..Default::default()
            },
        );
        if let Some(p) = &pasted {
            q.use_pasted(p);
        }
        q.settings.n_ctx = info.n_ctx.unwrap_or(q.settings.n_ctx);
        q.local = stored.map(LocalCalibration::from);
        q
    });
    let mut plan = Plan::new(&o.pp, o.tg, &o.depths, o.repetitions);
    plan.seed = now().as_nanos() as u64;
    progress(Progress::Planned {
        samples: plan.tests.len() as u64 * plan.repetitions as u64,
    });
    let out = measure::run(&cl, &info, &plan, stop, &mut |e| {
        progress(Progress::Measure(e))
    });
    let rows = compare::rows(req.as_ref(), &out.results);
    let memory = spawned.as_ref().and_then(|s| s.peak_rss()).or(info.memory);
    let predicted_report = req.as_ref().and_then(|q| estimate(q).ok());
    let predicted_memory = predicted_report.as_ref().map(|r| r.memory_needed());
    let memory_parts = spawned.as_ref().map_or_else(Vec::new, |s| {
        let log = s.log_text().unwrap_or_default();
        // No NVIDIA driver (or no GPU): the driver's figure is left out.
        let gpus = s
            .pid()
            .and_then(|pid| canirun_io::detect::nvml::process_memory(pid).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(index, used)| crate::buffers::GpuUse {
                index,
                used: Bytes(used),
            })
            .collect::<Vec<_>>();
        crate::buffers::compare(
            &crate::buffers::parse_llama_log(&log),
            &gpus,
            predicted_report.as_ref(),
        )
    });
    if o.keep_history && !rows.is_empty() {
        let m = model.as_ref();
        let meta = RunMeta {
            time: now().as_secs() as i64,
            fingerprint: fp.clone(),
            hardware: hw.description.clone(),
            n_devices: hw.gpus.len() as u32,
            engine: info.engine.clone(),
            engine_version: info.engine_version.clone().unwrap_or_default(),
            model: m.map_or(info.model.clone(), |m| m.info.name.clone()),
            params_b: m.map_or(0.0, |m| m.info.params as f64 / 1e9),
            quant: m.map_or(String::new(), |m| m.quant_label.clone()),
            model_size: std::fs::metadata(&name).map_or(0, |f| f.len()),
            model_hash: history::model_hash(name.as_ref()).unwrap_or(name.clone()),
            settings: if o.command.is_empty() {
                format!("--url {url}")
            } else {
                o.command.join(" ")
            },
            memory_bytes: memory,
        };
        compare::runs(&meta, &rows)
            .iter()
            .try_for_each(|r| db.add(r).map(|_| ()))?;
    }
    // The started server stops here, once its peak memory is read.
    drop(spawned);
    Ok(BenchReport {
        url,
        api: info.api.name(),
        model: info.model,
        engine: info.engine,
        engine_version: info.engine_version,
        rows,
        memory_measured: memory,
        memory_predicted: predicted_memory,
        memory_parts,
        local_calibration: req.as_ref().and_then(|q| q.local),
        interrupted: out.interrupted,
        error: out.error,
    })
}

/// Write `target`'s runs in `db` as rows in the columns of benchmarks.csv.
pub fn export<W: std::io::Write>(
    db: &std::path::Path,
    target: &Target,
    w: W,
) -> Result<(), BenchError> {
    let fp = compare::machine_fingerprint(target);
    let runs: Vec<_> = History::open(db)?
        .list(Some(&fp), None)?
        .into_iter()
        .map(|r| r.1)
        .collect();
    history::export_csv(&runs, w)
}

/// The runs in `db` with their ids: `target`'s, or every machine's when `None`.
pub fn list(db: &std::path::Path, target: Option<&Target>) -> Result<Vec<(i64, Run)>, BenchError> {
    let fp = target.map(compare::machine_fingerprint);
    History::open(db)?.list(fp.as_deref(), None)
}

/// `canirun calibrate`'s work: fit `target`'s factors per engine from its
/// runs in `db` and store them there.
pub fn calibrate(db: &std::path::Path, target: &Target) -> Result<Calibrated, BenchError> {
    let fingerprint = compare::machine_fingerprint(target);
    let db = History::open(db)?;
    let runs: Vec<_> = db
        .list(Some(&fingerprint), None)?
        .into_iter()
        .map(|r| r.1)
        .collect();
    if runs.is_empty() {
        return Err(BenchError::NoRuns(fingerprint));
    }
    let fits = compare::fit_engines(&fingerprint, &runs)?;
    for f in &fits {
        let stored = StoredCalibration::from(f.calibration);
        db.save_calibration(&fingerprint, &f.engine, &stored, now().as_secs() as i64)?;
    }
    Ok(Calibrated { fingerprint, fits })
}

/// What [`calibrate`] fitted and stored.
#[derive(Debug, Clone)]
pub struct Calibrated {
    /// The machine's fingerprint.
    pub fingerprint: String,
    /// One fit per engine.
    pub fits: Vec<EngineFit>,
}
