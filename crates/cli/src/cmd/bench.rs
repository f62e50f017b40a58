//! `canirun bench`: measure a running (`--url`) or started (`-- llama-server …`)
//! server llama-bench style, next to canirun's prediction for it, and keep
//! the run in the local history. The work is `canirun_bench::session`'s;
//! here are the flags, Ctrl-C, the progress bar and the rendering.

use crate::inputs::{DbArgs, HardwareArgs};
use crate::render;
use anyhow::{Context, Result};
use canirun_bench::session::{self, BenchOptions, BenchReport, Progress};
use canirun_bench::{measure, text, Api};
use clap::Args;
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

/// Run the bench.
pub fn run(a: &BenchArgs, json_out: bool) -> Result<()> {
    let target = a.hardware.target()?;
    if a.export {
        return Ok(session::export(
            &a.db.path(),
            &target,
            std::io::stdout().lock(),
        )?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let opts = BenchOptions {
        target,
        url: a.url.clone(),
        api: a.api.as_deref().and_then(Api::from_name),
        served_model: a.served_model.clone(),
        predict_for: a.predict_for.clone(),
        pp: a.pp.clone(),
        tg: a.tg,
        depths: a.depths.clone(),
        repetitions: a.repetitions,
        timeout: Duration::from_secs(a.timeout),
        ready_timeout: Duration::from_secs(a.ready_timeout),
        db: a.db.path(),
        local_calibration: !a.db.no_local_calibration,
        keep_history: !a.no_history,
        command: a.command.clone(),
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} {wide_msg}",
    )?);
    let report = session::run(&opts, &stop, &mut |p| match p {
        Progress::NoPrediction { model, error } => eprintln!("no prediction: {model}: {error}"),
        Progress::Planned { samples } => bar.set_length(samples),
        Progress::Measure(measure::Event::Warmup) => bar.set_message("warm-up"),
        Progress::Measure(measure::Event::Start { test, rep, .. }) => {
            bar.set_message(format!("{} #{}", test.label(), rep + 1))
        }
        Progress::Measure(measure::Event::Sample(_)) => bar.inc(1),
    });
    bar.finish_and_clear();
    let report = report?;
    if json_out {
        render::json(&serde_json::to_value(&report)?)?;
    } else {
        print_report(&report);
    }
    let kept = report.rows.len();
    if let Some(e) = report.error {
        return Err(e).context(format!("{kept} finished tests kept"));
    }
    if report.interrupted {
        eprintln!("interrupted: {kept} finished tests kept");
        std::process::exit(130);
    }
    Ok(())
}

fn print_report(r: &BenchReport) {
    println!("{}", text::Headline(r));
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
    for r in &r.rows {
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
    if let Some(c) = r.local_calibration {
        println!("calibrated on {} local runs: bandwidth ×{:.3}, compute ×{:.3} (--no-local-calibration to turn off)", c.runs(), c.bandwidth_factor, c.compute_factor);
    }
    let memory = text::MemoryLine(r);
    if memory.known() {
        println!("{memory}");
    }
    if !r.memory_parts.is_empty() {
        let mut t = render::table(&[
            "pool",
            "part",
            "server's buffers",
            "measured",
            "predicted",
            "error",
        ]);
        for m in &r.memory_parts {
            t.add_row(vec![
                m.pool.clone(),
                m.part.label().to_string(),
                m.buffers.clone(),
                m.measured.to_string(),
                render::or(m.predicted.map(|p| p.to_string()), "-"),
                pct(m.error),
            ]);
        }
        println!("memory the server reported, per pool and part:\n{t}");
    }
}
