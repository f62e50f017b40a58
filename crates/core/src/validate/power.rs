//! `validate power`: predicted energy per token against the whole-system rows
//! of power.csv.
//!
//! For each row the power model predicts the setup's wall power in decode
//! (catalog ratings, the speed model's duty per device); the compared figure
//! is that power ÷ the row's own measured tokens/s, so the comparison tests
//! the power model alone. The J/token with canirun's predicted tokens/s is
//! reported beside it (power and speed models together).

use super::{column, error_chain, MissingColumn, Skipped, Summary};
use crate::cost::{energy_per_token, loads_for, wall_power, Phase, PowerModel};
use crate::hardware::{Catalog, Target};
use crate::memory::RunSettings;
use crate::model::{self, MlaTensorLayout};
use crate::pipeline::{estimate, Model, Request, Speed};
use crate::quant::Quant;
use crate::speed::{Calibration, SpeedError};
use crate::units::TokensPerSecond;
use serde::Serialize;

/// One compared row.
#[derive(Debug, Clone, Serialize)]
pub struct PowerRow {
    /// Line number in the CSV.
    pub line: usize,
    /// Hardware as written.
    pub hardware: String,
    /// Model as written.
    pub model: String,
    /// How canirun read the row (model, quant, hardware, host, duty per device).
    pub interpreted_as: String,
    /// Measured decode tokens/s.
    pub measured_tps: f64,
    /// Measured wall power, W.
    pub measured_w: f64,
    /// Measured J/token (the CSV's, or watts ÷ tokens/s).
    pub measured_j_per_token: f64,
    /// Predicted wall power, W.
    pub predicted_w: f64,
    /// Predicted watts ÷ measured tokens/s: the compared figure.
    pub predicted_j_per_token: f64,
    /// (predicted − measured) / measured J/token, in percent.
    pub err_pct: f64,
    /// canirun's own decode speed …
    pub predicted_tps: f64,
    /// … and the J/token it gives.
    pub predicted_j_per_token_own_speed: f64,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct PowerReport {
    /// Compared rows.
    pub rows: Vec<PowerRow>,
    /// Rows not compared, with why.
    pub skipped: Vec<Skipped>,
    /// Statistics of `err_pct`.
    pub summary: Summary,
    /// How the power model works, in one sentence.
    pub method: String,
}

/// Errors that stop the comparison.
#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    /// A column is missing.
    #[error(transparent)]
    Column(#[from] MissingColumn),
    /// Not readable as CSV.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// The speed model failed on a placement it built.
    #[error(transparent)]
    Speed(#[from] SpeedError),
    /// A quantization name canirun's tables lack.
    #[error("{0}")]
    Quant(String),
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

/// Compare every whole-system inference row of `csv_text` (the columns of power.csv).
pub fn validate(
    csv_text: &str,
    pm: &PowerModel,
    cal: &Calibration,
    cat: &Catalog,
) -> Result<PowerReport, PowerError> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let h = rdr.headers()?.clone();
    let c = [
        column(&h, "hardware")?,
        column(&h, "model")?,
        column(&h, "quant")?,
        column(&h, "workload")?,
        column(&h, "tokens_per_s")?,
        column(&h, "power_w")?,
        column(&h, "power_scope")?,
        column(&h, "joules_per_token")?,
    ];
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let get = |k: usize| rec.get(c[k]).unwrap_or("").trim().to_string();
        let (hw, mname, quant, workload) = (get(0), get(1), get(2), get(3));
        let (tps, watts, scope, jpt) = (get(4), get(5), get(6), get(7));
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
        let q = Quant::parse(qname).map_err(|e| PowerError::Quant(e.to_string()))?;
        let m = Model::from_entry(&mname, model_ref.entry, q.clone(), MlaTensorLayout::Split)
            .map_err(|e| PowerError::Quant(e.to_string()))?;
        let spec = &m.spec;
        // The setup as the user's estimate sees it: the same pipeline, placement and speed.
        let mut placed = None;
        let mut last_err = String::new();
        for cand in hw_candidates(dev) {
            let t = match Target::named(cat, &[cand.as_str()], None) {
                Ok(t) => t,
                Err(e) => {
                    last_err = error_chain(&e);
                    continue;
                }
            };
            let settings = RunSettings {
                backend: t.backend,
                ..RunSettings::default()
            };
            match estimate(&Request::new(&m, &t, settings)).map(|r| r.speed) {
                Ok(Speed::Estimated(sp)) => {
                    placed = Some((sp, t));
                    break;
                }
                Ok(Speed::NotEstimated { reason }) => last_err = reason,
                Err(e) => last_err = error_chain(&e),
            }
        }
        let Some((sp, t)) = placed else {
            skip(format!("hardware '{dev}': {last_err}"));
            continue;
        };
        let (p, hwname) = (&sp.placement, t.label());
        let Some(set) = &t.set else {
            skip(format!("hardware '{dev}': not a catalog set"));
            continue;
        };
        let loads = loads_for(set, p, 0, cal)?;
        let pw = match wall_power(pm, &loads, Phase::Decode) {
            Ok(x) => x,
            Err(e) => {
                skip(format!("{e}"));
                continue;
            }
        };
        let own = sp.decode_first().rate;
        let pred_j = energy_per_token(pw.wall, TokensPerSecond(tps)).map_or(f64::NAN, |j| j.0);
        let own_j = energy_per_token(pw.wall, own).map_or(f64::NAN, |j| j.0);
        let duty: Vec<String> = loads
            .iter()
            .map(|l| format!("{:.2} ({:.0} GB/s)", l.duty, l.stream_gbs))
            .collect();
        rows.push(PowerRow {
            line,
            interpreted_as: format!(
                "{} {} on {hwname}, {:?} host, duty {}",
                spec.name,
                q,
                pw.host,
                duty.join("/")
            ),
            hardware: hw,
            model: mname,
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
    Ok(PowerReport {
        rows,
        skipped,
        summary,
        method: pm.method(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(csv: &str) -> PowerReport {
        validate(
            csv,
            PowerModel::embedded().unwrap(),
            Calibration::embedded().unwrap(),
            Catalog::embedded().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_shipped_power_csv() {
        let rep = run(include_str!("../../data/power.csv"));
        assert_eq!(rep.rows.len() + rep.skipped.len(), 26);
        assert!(!rep.rows.is_empty());
        for r in &rep.rows {
            assert!(r.predicted_w > 0.0 && r.err_pct.is_finite(), "{r:?}");
        }
        // Board power is not what canirun predicts.
        assert!(rep
            .skipped
            .iter()
            .any(|s| s.reason.contains("is not whole-system wall power")));
        assert_eq!(rep.summary.rows, rep.rows.len());
        assert_eq!(rep.summary.skipped, rep.skipped.len());
    }

    #[test]
    fn cells_are_read_as_hardware_host_and_model_names() {
        assert_eq!(
            split_host("NVIDIA RTX A4000 on Raspberry Pi CM5 host"),
            ("NVIDIA RTX A4000", Some("Raspberry Pi CM5 host"))
        );
        assert_eq!(split_host(" RTX 4090 "), ("RTX 4090", None));
        assert_eq!(
            hw_candidates("Dell Pro Max with GB10 (128GB)"),
            [
                "Dell Pro Max with GB10 (128GB)",
                "Dell Pro Max with GB10",
                "GB10"
            ]
        );
        assert_eq!(
            model_candidates("DeepSeek-R1 671B"),
            ["DeepSeek-R1 671B", "deepseek-r1:671b"]
        );
        assert_eq!(model_candidates("X (qwen3:8b)")[0], "qwen3:8b");
    }
}
