//! Predicted next to measured: each finished test with canirun's prediction
//! for exactly that prompt length and depth (`canirun_core::estimate` on the
//! request the binary built for the server's command), with and without this
//! machine's local calibration, and the history rows and fit points they
//! become.

use crate::history::Run;
use crate::measure::{TestKind, TestResult};
use canirun_core::pipeline::{estimate, Request};
use canirun_core::speed::local::{LocalCalibration, LocalPoint, Phase};
use serde::Serialize;

/// One test, measured and predicted.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// llama-bench's name.
    pub test: String,
    /// "prefill" or "decode".
    pub phase: &'static str,
    /// Prompt tokens the server counted (mean).
    pub prompt_tokens: u64,
    /// Tokens generated (mean).
    pub generated: u64,
    /// Context depth of the test.
    pub depth: u64,
    /// Repetitions done.
    pub repetitions: usize,
    /// Measured tokens per second: mean.
    pub measured_tps: f64,
    /// Standard deviation over the repetitions.
    pub spread_tps: f64,
    /// Measured tokens per second: median over the repetitions (robust to
    /// one slow repetition on a loaded machine; the mean is the figure).
    pub median_tps: f64,
    /// Time to first token: mean, seconds.
    pub ttft_s: Option<f64>,
    /// Standard deviation of the time to first token.
    pub ttft_spread_s: Option<f64>,
    /// canirun's prediction without local calibration.
    pub predicted_tps: Option<f64>,
    /// Share of the predicted time that scales with bandwidth (decode) or
    /// compute (prefill): what `canirun calibrate` needs to fit exactly.
    pub scalable_share: Option<f64>,
    /// Signed error of `predicted_tps`: (predicted − measured) ÷ measured.
    pub error: Option<f64>,
    /// The prediction with this machine's calibration (when one is used).
    pub calibrated_tps: Option<f64>,
    /// Signed error of `calibrated_tps`.
    pub calibrated_error: Option<f64>,
}

/// The predicted rate of `r`'s figure for `req` (the prompt the server
/// counted for prefill; for decode the mean depth of the generated tokens,
/// as llama-bench's tg figure averages over them).
pub fn predict(req: &Request<'_>, r: &TestResult) -> Option<f64> {
    let mut q = req.clone();
    let tokens = r.prompt_tokens().max(1);
    q.workload.prompt = tokens;
    q.workload.depths = vec![tokens + r.generated() / 2];
    let report = estimate(&q).ok()?;
    let s = report.speed.report()?;
    match r.test.kind {
        TestKind::Prefill => s.prefill.as_ref().map(|e| e.rate.0),
        TestKind::Decode => s.decode.first().map(|d| d.estimate.rate.0),
    }
}

/// The share of the predicted time that scales with the phase's rate: the
/// time is a/k + b in the factor k, so predicting again at k = ½ gives a.
fn share(raw: &Request<'_>, r: &TestResult, predicted: f64) -> Option<f64> {
    let (bw, c) = match r.test.kind {
        TestKind::Prefill => (1.0, 0.5),
        TestKind::Decode => (0.5, 1.0),
    };
    let half = LocalCalibration {
        bandwidth_factor: bw,
        compute_factor: c,
        decode_runs: 0,
        prefill_runs: 0,
    };
    let slow = predict(
        &Request {
            local: Some(half),
            ..raw.clone()
        },
        r,
    )?;
    let (t1, t_half) = (1.0 / predicted, 1.0 / slow);
    Some(((t_half - t1) / t1).clamp(0.0, 1.0))
}

fn err(p: Option<f64>, m: f64) -> Option<f64> {
    p.filter(|_| m > 0.0).map(|p| (p - m) / m)
}

/// Rows for `results`: predictions from `req` without its local
/// calibration, and with it when `req.local` is set.
pub fn rows(req: Option<&Request<'_>>, results: &[TestResult]) -> Vec<Row> {
    results
        .iter()
        .filter_map(|r| {
            let (measured_tps, spread_tps) = r.rate()?;
            let (predicted, calibrated, scalable_share) = match req {
                Some(q) => {
                    let raw = Request {
                        local: None,
                        ..q.clone()
                    };
                    let p = predict(&raw, r);
                    let share = p.and_then(|p| share(&raw, r, p));
                    (p, q.local.and_then(|_| predict(q, r)), share)
                }
                None => (None, None, None),
            };
            let ttft = r.ttft();
            Some(Row {
                test: r.test.label(),
                phase: match r.test.kind {
                    TestKind::Prefill => "prefill",
                    TestKind::Decode => "decode",
                },
                prompt_tokens: r.prompt_tokens(),
                generated: r.generated(),
                depth: r.test.depth,
                repetitions: r.samples.len(),
                measured_tps,
                spread_tps,
                median_tps: r.median_rate().unwrap_or(measured_tps),
                ttft_s: ttft.map(|t| t.0),
                ttft_spread_s: ttft.map(|t| t.1),
                predicted_tps: predicted,
                scalable_share,
                error: err(predicted, measured_tps),
                calibrated_tps: calibrated,
                calibrated_error: err(calibrated, measured_tps),
            })
        })
        .collect()
}

/// What a history row records besides the figure: filled by the caller.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunMeta {
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// [`crate::history::fingerprint`] of the hardware.
    pub fingerprint: String,
    /// The hardware as a person reads it.
    pub hardware: String,
    /// Number of accelerators (0: CPU only).
    pub n_devices: u32,
    /// Engine: llama.cpp, ollama, vllm …
    pub engine: String,
    /// Its version or build, when known.
    pub engine_version: String,
    /// Model name.
    pub model: String,
    /// Parameters, billions.
    pub params_b: f64,
    /// Quantization label.
    pub quant: String,
    /// Model file size, bytes.
    pub model_size: u64,
    /// SHA-256 of the model's header bytes (or its name when there is no file).
    pub model_hash: String,
    /// The settings, as the command line read them.
    pub settings: String,
    /// Memory measured (peak RSS, or what the server reported), bytes.
    pub memory_bytes: Option<u64>,
}

/// History rows for `rows`.
pub fn runs(meta: &RunMeta, rows: &[Row]) -> Vec<Run> {
    rows.iter()
        .map(|r| Run {
            meta: meta.clone(),
            test: r.test.clone(),
            phase: r.phase.into(),
            prompt_tokens: r.prompt_tokens,
            generated: r.generated,
            depth: r.depth,
            measured_tps: r.measured_tps,
            spread_tps: r.spread_tps,
            repetitions: r.repetitions as u32,
            ttft_s: r.ttft_s,
            predicted_tps: r.predicted_tps,
            scalable_share: r.scalable_share,
        })
        .collect()
}

/// The fit points of history rows (rows without a prediction are skipped).
pub fn points(runs: &[Run]) -> Vec<LocalPoint> {
    runs.iter()
        .filter_map(|r| {
            Some(LocalPoint {
                phase: if r.phase == "prefill" {
                    Phase::Prefill
                } else {
                    Phase::Decode
                },
                predicted: r.predicted_tps?,
                measured: r.measured_tps,
                // Rows without the share (none so far) count as fully scaling.
                scalable: r.scalable_share.unwrap_or(1.0),
            })
        })
        .collect()
}

/// This machine as the history keys it: the CPU model and logical cores,
/// total RAM in GiB, and the target's accelerators. Free memory and
/// measured bandwidth stay out, so the key does not drift between runs.
pub fn machine_fingerprint(target: &canirun_core::hardware::Target) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .unwrap_or("")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| (kb as f64 / (1u64 << 20) as f64).round() as u64)
        .unwrap_or(0);
    let gpus: Vec<String> = target
        .gpu_names
        .iter()
        .zip(&target.gpus)
        .map(|(n, b)| format!("{n}:{}", b.0))
        .collect();
    crate::history::fingerprint(&[
        &cpu,
        &cores.to_string(),
        &ram_gib.to_string(),
        &gpus.join(","),
        &format!("{:?}", target.backend),
    ])
}

/// One engine's fit on this machine, with the error before and after.
#[derive(Debug, Clone, Serialize)]
pub struct EngineFit {
    /// The engine.
    pub engine: String,
    /// The hardware fingerprint.
    pub hardware: String,
    /// The fitted factors.
    pub calibration: canirun_core::speed::local::LocalCalibration,
    /// Median |error| of the stored (uncalibrated) predictions, percent.
    pub median_abs_error_before_pct: f64,
    /// Median |error| of the same runs predicted with the factors, percent.
    pub median_abs_error_after_pct: f64,
}

fn median_abs_pct(mut e: Vec<f64>) -> f64 {
    e.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    e.get(e.len() / 2).map_or(0.0, |x| x.abs() * 100.0)
}

/// Fit each engine of one machine's `runs` (`canirun calibrate`).
pub fn fit_engines(
    fingerprint: &str,
    runs: &[Run],
) -> Result<Vec<EngineFit>, canirun_core::speed::local::LocalFitError> {
    let mut engines: Vec<&str> = runs.iter().map(|r| r.meta.engine.as_str()).collect();
    engines.sort();
    engines.dedup();
    engines
        .into_iter()
        .map(|engine| {
            let mine: Vec<Run> = runs
                .iter()
                .filter(|r| r.meta.engine == engine)
                .cloned()
                .collect();
            let pts = points(&mine);
            let c = canirun_core::speed::local::fit(&pts)?;
            let err = |p: &LocalPoint, k: f64| (p.predicted_with(k) - p.measured) / p.measured;
            let k = |p: &LocalPoint| match p.phase {
                Phase::Decode => c.bandwidth_factor,
                Phase::Prefill => c.compute_factor,
            };
            Ok(EngineFit {
                engine: engine.to_string(),
                hardware: fingerprint.to_string(),
                calibration: c,
                median_abs_error_before_pct: median_abs_pct(
                    pts.iter().map(|p| err(p, 1.0)).collect(),
                ),
                median_abs_error_after_pct: median_abs_pct(
                    pts.iter().map(|p| err(p, k(p))).collect(),
                ),
            })
        })
        .collect()
}
