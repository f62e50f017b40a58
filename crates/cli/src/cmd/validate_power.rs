//! `canirun validate power FILE.csv`: predicted energy per token against the
//! whole-system rows of power.csv.
//!
//! For each row the power model predicts the setup's wall power in decode
//! (catalog ratings, the speed model's duty per device); the compared figure
//! is that power ÷ the row's own measured tokens/s, so the comparison tests
//! the power model alone. The J/token with canirun's predicted tokens/s is
//! printed beside it (power and speed models together).

use crate::render;
use anyhow::{Context, Result};
use canirun_core::cost::{energy_per_token, loads_for, wall_power, Phase, PowerModel};
use canirun_core::memory::RunSettings;
use canirun_core::model::{self, MlaTensorLayout};
use canirun_core::quant::{weights, Quant};
use canirun_core::speed::{decode, Calibration, ModelCost};
use canirun_core::units::{TokensPerSecond, Watts};
use canirun_core::validate::{Skipped, Summary};
use serde::Serialize;
use std::path::Path;

/// One compared row.
#[derive(Debug, Serialize)]
struct Row {
    line: usize,
    hardware: String,
    model: String,
    interpreted_as: String,
    measured_tps: f64,
    measured_w: f64,
    measured_j_per_token: f64,
    predicted_w: f64,
    /// Predicted watts ÷ measured tokens/s: the compared figure.
    predicted_j_per_token: f64,
    err_pct: f64,
    /// canirun's own decode speed and the J/token it gives.
    predicted_tps: f64,
    predicted_j_per_token_own_speed: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    rows: Vec<Row>,
    skipped: Vec<Skipped>,
    summary: Summary,
    method: &'static str,
}

/// The device part of a power.csv hardware cell and the host it sits in.
fn split_host(h: &str) -> (&str, Option<&str>) {
    for sep in [" in ", " on "] {
        if let Some(i) = h.find(sep) {
            return (h[..i].trim(), Some(h[i + sep.len()..].trim()));
        }
    }
    (h.trim(), None)
}

/// Names to try for a hardware cell: as written, without parentheses, and
/// without the machine's brand words ("Dell Pro Max with", "Framework Desktop").
fn hw_candidates(dev: &str) -> Vec<String> {
    let no_paren: String = {
        let mut out = String::new();
        let mut depth = 0;
        for c in dev.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let mut v = vec![dev.to_string(), no_paren.clone()];
    if let Some(i) = no_paren.find(" with ") {
        v.push(no_paren[i + 6..].to_string());
    }
    v
}

/// Names to try for a model cell: the Ollama tag in parentheses, the cell,
/// and `family:size` (`DeepSeek-R1 671B` → `deepseek-r1:671b`).
fn model_candidates(m: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let (Some(a), Some(b)) = (m.find('('), m.rfind(')')) {
        if a < b {
            v.push(m[a + 1..b].to_string());
        }
    }
    v.push(m.to_string());
    if let Some(i) = m.rfind(' ') {
        v.push(format!("{}:{}", &m[..i], &m[i + 1..]).to_ascii_lowercase());
    }
    v
}

/// Run `canirun validate power`.
pub fn run(file: &Path, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read {}; pass a CSV with the columns of ../shared/data/power.csv (a copy is crates/core/data/power.csv)",
            file.display()
        )
    })?;
    let pm = PowerModel::embedded()?;
    let cal = Calibration::embedded()?;
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers()?.clone();
    let col = |name: &str| super::validate::column(&h, file, name);
    let c = [
        col("hardware")?,
        col("model")?,
        col("quant")?,
        col("workload")?,
        col("tokens_per_s")?,
        col("power_w")?,
        col("power_scope")?,
        col("joules_per_token")?,
    ];
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let get = |k: usize| rec.get(c[k]).unwrap_or("").trim().to_string();
        let (hw, mname, quant, workload, tps, watts, scope, jpt) = (
            get(0),
            get(1),
            get(2),
            get(3),
            get(4),
            get(5),
            get(6),
            get(7),
        );
        let what = format!("{hw} | {mname}");
        let mut skip = |reason: String| {
            skipped.push(Skipped {
                line,
                what: what.clone(),
                reason,
            })
        };
        if !scope.contains("whole-system") {
            skip(format!(
                "power scope '{scope}' is not whole-system wall power; canirun predicts wall power"
            ));
            continue;
        }
        if workload.starts_with("idle") {
            skip(format!(
                "idle row ({watts} W): a source of the base idle draw in power_model.toml, not an inference row"
            ));
            continue;
        }
        let (Ok(tps), Ok(watts)) = (tps.parse::<f64>(), watts.parse::<f64>()) else {
            skip("no numeric tokens/s and watts".into());
            continue;
        };
        let measured_j = jpt.parse::<f64>().unwrap_or(watts / tps);
        let (dev, host) = split_host(&hw);
        if let Some(host) = host {
            if !host.contains("265K") {
                skip(format!("host '{host}': canirun's base draw is a desktop PC (265K, 47.7 W idle); no idle measurement of this host in the data"));
                continue;
            }
        }
        let Some(model_ref) = model_candidates(&mname)
            .iter()
            .find_map(|m| model::resolve(m).ok())
        else {
            skip(format!(
                "model '{mname}' is not in canirun's model catalog; the duty cycle needs its bytes per token"
            ));
            continue;
        };
        // Ollama's library tags for these models are Q4_K_M (notes of the rows).
        let qname = if quant.contains("Q4_K_M") || quant.starts_with("Ollama default") {
            "Q4_K_M"
        } else {
            skip(format!("quantization '{quant}' is not interpretable"));
            continue;
        };
        let q = Quant::parse(qname).map_err(|e| anyhow::anyhow!("{e}"))?;
        let spec = model_ref.entry.spec();
        let w = weights(&spec, &q, MlaTensorLayout::Split);
        let mcost = ModelCost::with_settings(&spec, &w, &RunSettings::default());
        let mut placed = None;
        let mut last_err = String::new();
        for cand in hw_candidates(dev) {
            match crate::hwplace::speed_placement(&[cand.as_str()], false, &mcost, cal) {
                Ok(x) => {
                    placed = Some(x);
                    break;
                }
                Err(e) => last_err = format!("{e:#}"),
            }
        }
        let Some((p, hwname, set)) = placed else {
            skip(format!("hardware '{dev}': {last_err}"));
            continue;
        };
        let loads = loads_for(&set, &p, 0, cal)?;
        let pw = match wall_power(pm, &loads, Phase::Decode) {
            Ok(x) => x,
            Err(e) => {
                skip(format!("{e}"));
                continue;
            }
        };
        let own = decode(&p, 0, cal)?.rate;
        let pred_j = energy_per_token(pw.wall, TokensPerSecond(tps)).map_or(f64::NAN, |j| j.0);
        let own_j = energy_per_token(pw.wall, own).map_or(f64::NAN, |j| j.0);
        let duty: Vec<String> = loads.iter().map(|l| format!("{:.2}", l.duty)).collect();
        rows.push(Row {
            line,
            hardware: hw.clone(),
            model: mname.clone(),
            interpreted_as: format!(
                "{} {} on {hwname}, {:?} host, duty {}",
                spec.name,
                q,
                pw.host,
                duty.join("/")
            ),
            measured_tps: tps,
            measured_w: watts,
            measured_j_per_token: measured_j,
            predicted_w: pw.wall.0,
            predicted_j_per_token: pred_j,
            err_pct: (pred_j - measured_j) / measured_j * 100.0,
            predicted_tps: own.0,
            predicted_j_per_token_own_speed: own_j,
        });
    }
    let errs: Vec<f64> = rows.iter().map(|r| r.err_pct).collect();
    let summary = Summary::of(&errs, skipped.len());
    let rep = Report {
        rows,
        skipped,
        summary,
        method: canirun_core::cost::METHOD,
    };
    if json {
        return render::print_json_report(&rep, &rep.summary);
    }
    println!("energy per token, canirun vs power.csv (whole-system wall power). predicted J/token = predicted wall power ÷ the row's measured tok/s; 'own speed' divides by canirun's predicted tok/s instead");
    let mut t = render::table(&[
        "line",
        "hardware | model",
        "tok/s meas / pred",
        "W meas / pred",
        "J/tok meas",
        "J/tok pred",
        "error",
        "J/tok own speed",
        "interpreted as",
    ]);
    for r in &rep.rows {
        t.add_row(vec![
            render::right(r.line),
            comfy_table::Cell::new(format!("{} | {}", r.hardware, r.model)),
            render::right(format!("{:.1} / {:.1}", r.measured_tps, r.predicted_tps)),
            render::right(format!("{:.0} / {}", r.measured_w, Watts(r.predicted_w))),
            render::right(format!("{:.2}", r.measured_j_per_token)),
            render::right(format!("{:.2}", r.predicted_j_per_token)),
            render::right(format!("{:+.1}%", r.err_pct)),
            render::right(format!("{:.2}", r.predicted_j_per_token_own_speed)),
            comfy_table::Cell::new(&r.interpreted_as),
        ]);
    }
    println!("{t}");
    render::print_skipped(&rep.skipped);
    println!("method: {}", rep.method);
    println!("{}", rep.summary.line());
    Ok(())
}
