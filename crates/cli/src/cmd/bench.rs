//! `canirun bench`: measure a running (`--url`) or started (`-- llama-server …`)
//! server llama-bench style, next to canirun's prediction for it, and keep
//! the run in the local history. The work is `canirun_bench`'s.

use crate::inputs::HardwareArgs;
use crate::render;
use anyhow::{bail, Context, Result};
use canirun_bench::{client, compare, history, measure, spawn, Api};
use canirun_core::{
    cmdline, memory::RunSettings, pipeline::Request, speed::local::LocalCalibration,
};
use canirun_io::load;
use clap::Args;
use serde_json::json;
use std::sync::{atomic::AtomicBool, Arc};
use std::time::Duration;

/// Arguments of `canirun bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A running server: llama-server, Ollama, or OpenAI-compatible (vLLM, SGLang, LM Studio).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The API to use (default: asked from the server).
    #[arg(long, value_parser = ["llama-server", "ollama", "completions", "chat"])]
    pub api: Option<String>,
    /// The model to ask the server for (default: the one it serves).
    #[arg(long = "served-model", value_name = "NAME")]
    pub served_model: Option<String>,
    /// The model canirun predicts for (catalog name, .gguf, Hugging Face id), when the server's name is not one.
    #[arg(long = "predict-for", value_name = "MODEL")]
    pub predict_for: Option<String>,
    /// Prompt sizes of the prefill tests (llama-bench -p).
    #[arg(short = 'p', long = "pp", value_delimiter = ',', default_value = "512")]
    pub pp: Vec<u64>,
    /// Tokens generated in each generation test (llama-bench -n; 0: none).
    #[arg(short = 'n', long = "tg", default_value_t = 128)]
    pub tg: u64,
    /// Context depths of the generation tests (llama-bench -d).
    #[arg(
        short = 'd',
        long = "depth",
        value_delimiter = ',',
        default_value = "0"
    )]
    pub depths: Vec<u64>,
    /// Repetitions of each test (llama-bench -r).
    #[arg(short = 'r', long = "repetitions", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repetitions: u32,
    /// Longest one request may take, seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Longest a started server may take to become ready, seconds.
    #[arg(long = "ready-timeout", default_value_t = 300)]
    pub ready_timeout: u64,
    #[command(flatten)]
    pub db: DbArgs,
    /// Do not write this run to the history.
    #[arg(long = "no-history")]
    pub no_history: bool,
    /// Write this machine's history as rows in the columns of benchmarks.csv and exit.
    #[arg(long)]
    pub export: bool,
    #[command(flatten)]
    pub hardware: HardwareArgs,
    /// The server command to start, measure and stop (`-- llama-server -m model.gguf -c 8192`); with --url, only what canirun predicts for.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The history flags `bench`, `history` and `calibrate` share.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// History database (default: $CANIRUN_HISTORY, else the user's data directory).
    #[arg(long, value_name = "FILE")]
    pub db: Option<std::path::PathBuf>,
    /// Predict with the catalog's rates, not this machine's `canirun calibrate` factors.
    #[arg(long = "no-local-calibration")]
    pub no_local_calibration: bool,
}

impl DbArgs {
    /// The open history.
    pub fn open(&self) -> Result<history::History> {
        Ok(history::History::open(
            &self.db.clone().unwrap_or_else(history::default_path),
        )?)
    }
}

/// Run the bench.
pub fn run(a: &BenchArgs, json_out: bool) -> Result<()> {
    let hw = a.hardware.target()?;
    let fp = compare::machine_fingerprint(&hw);
    if a.export {
        let runs: Vec<_> =
            a.db.open()?
                .list(Some(&fp), None)?
                .into_iter()
                .map(|r| r.1)
                .collect();
        return Ok(history::export_csv(&runs, std::io::stdout().lock())?);
    }
    let pasted = (!a.command.is_empty())
        .then(|| cmdline::parse(&a.command))
        .transpose()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let spawned = match (&a.url, a.command.is_empty()) {
        (Some(_), _) => None,
        (None, false) => Some(spawn::Spawned::start(
            &a.command,
            Duration::from_secs(a.ready_timeout),
        )?),
        (None, true) => bail!("give --url of a running server, or the server command after --"),
    };
    let url = a
        .url
        .clone()
        .or(spawned.as_ref().map(|s| s.url.clone()))
        .unwrap_or_default();
    let cl = client::Client::new(&url, Duration::from_secs(a.timeout));
    let served = a
        .served_model
        .clone()
        .or(spawned.as_ref().and_then(|s| s.model.clone()));
    let info = cl.probe(a.api.as_deref().and_then(Api::from_name), served.as_deref())?;
    // What canirun predicts for: exactly the command when there is one, else what the server says.
    let name = a
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
    let model = load::load(&name, &opts, None)
        .map_err(|e| eprintln!("no prediction: {name}: {e}"))
        .ok();
    let db = a.db.open()?;
    let stored = db
        .calibration(&fp, &info.engine)?
        .filter(|_| !a.db.no_local_calibration);
    let req = model.as_ref().map(|m| {
        let mut q = Request::new(
            m,
            &hw,
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
    let mut plan = measure::Plan::new(&a.pp, a.tg, &a.depths, a.repetitions);
    plan.seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let bar = indicatif::ProgressBar::new(plan.tests.len() as u64 * plan.repetitions as u64);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} {wide_msg}",
    )?);
    let out = measure::run(&cl, &info, &plan, &stop, &mut |e| match e {
        measure::Event::Warmup => bar.set_message("warm-up"),
        measure::Event::Start { test, rep, .. } => {
            bar.set_message(format!("{} #{}", test.label(), rep + 1))
        }
        measure::Event::Sample(_) => bar.inc(1),
    });
    bar.finish_and_clear();
    let rows = compare::rows(req.as_ref(), &out.results);
    let memory = spawned.as_ref().and_then(|s| s.peak_rss()).or(info.memory);
    let report = req
        .as_ref()
        .and_then(|q| canirun_core::pipeline::estimate(q).ok());
    let predicted_memory = report.as_ref().map(|r| r.memory_needed());
    if !a.no_history && !rows.is_empty() {
        let m = model.as_ref();
        let meta = compare::RunMeta {
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64,
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
            settings: if a.command.is_empty() {
                format!("--url {url}")
            } else {
                a.command.join(" ")
            },
            memory_bytes: memory,
        };
        compare::runs(&meta, &rows)
            .iter()
            .try_for_each(|r| db.add(r).map(|_| ()))?;
    }
    let cal = req.as_ref().and_then(|q| q.local);
    if json_out {
        render::json(
            &json!({ "url": url, "api": info.api.name(), "model": info.model, "engine": info.engine,
            "rows": rows, "memory_measured": memory, "memory_predicted": predicted_memory,
            "local_calibration": cal, "interrupted": out.interrupted,
            "error": out.error.as_ref().map(|e| e.to_string()) }),
        )?;
    } else {
        print_rows(&rows, &info, memory, predicted_memory.map(|b| b.0), cal);
    }
    drop(spawned);
    if let Some(e) = out.error {
        return Err(e).context(format!("{} finished tests kept", rows.len()));
    }
    if out.interrupted {
        eprintln!("interrupted: {} finished tests kept", rows.len());
        std::process::exit(130);
    }
    Ok(())
}

fn print_rows(
    rows: &[compare::Row],
    info: &canirun_bench::ServerInfo,
    mem: Option<u64>,
    pred: Option<u64>,
    cal: Option<LocalCalibration>,
) {
    println!(
        "{} via {} ({}{})",
        info.model,
        info.api.name(),
        info.engine,
        info.engine_version
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default()
    );
    let pct = |e: Option<f64>| render::or(e.map(|e| format!("{:+.0}%", e * 100.0)), "-");
    let mut t = render::table(&[
        "test",
        "prompt",
        "measured tok/s",
        "TTFT",
        "predicted",
        "error",
        "calibrated",
        "error",
    ]);
    for r in rows {
        t.add_row(vec![
            r.test.clone(),
            r.prompt_tokens.to_string(),
            format!("{:.2} ± {:.2}", r.measured_tps, r.spread_tps),
            render::or(r.ttft_s.map(|s| format!("{:.3} s", s)), "-"),
            render::or(r.predicted_tps.map(|p| format!("{p:.2}")), "-"),
            pct(r.error),
            render::or(r.calibrated_tps.map(|p| format!("{p:.2}")), "-"),
            pct(r.calibrated_error),
        ]);
    }
    println!("{t}");
    if let Some(c) = cal {
        println!("calibrated on {} local runs: bandwidth ×{:.3}, compute ×{:.3} (--no-local-calibration to turn off)", c.runs(), c.bandwidth_factor, c.compute_factor);
    }
    let gib = |b: u64| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64);
    if mem.is_some() || pred.is_some() {
        println!(
            "memory: measured {} (the server's peak RSS or its own figure; mapped weights and llama.cpp's repack copy count), predicted {}",
            render::or(mem.map(gib), "unknown"),
            render::or(pred.map(gib), "-")
        );
    }
}
