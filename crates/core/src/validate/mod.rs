//! Predictions against published ground truth. Pure: callers pass the CSV text.

pub mod fit;
pub mod llama_cpp;
pub mod power;
pub mod sizes;

use crate::model::ModelSpec;
use crate::quant::Weights;
use serde::Serialize;

/// A fixture model the caller read from its file (a GGUF written by
/// scripts/make_fixtures.py): the comparisons that need one take a loader
/// returning this, so reading files stays outside the core.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Shape facts from the header.
    pub spec: ModelSpec,
    /// Every tensor with its real type and bytes.
    pub weights: Weights,
    /// Sum of the tensor bytes the header lists.
    pub tensor_bytes: u64,
    /// Size of the file's data region (file size − data offset).
    pub data_region_bytes: u64,
}

/// Why the caller could not load a fixture; kept whole so its chain of
/// causes reaches the user.
pub type LoadError = Box<dyn std::error::Error + Send + Sync>;

/// A CSV lacks a column a comparison needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no '{0}' column")]
pub struct MissingColumn(pub String);

/// The index of column `name` in a CSV header.
pub fn column(headers: &csv::StringRecord, name: &str) -> Result<usize, MissingColumn> {
    headers
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| MissingColumn(name.to_string()))
}

/// An error and its causes, joined by `: ` (as the command line prints them).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// A ground-truth row a validate command did not compare, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// Line number in the CSV.
    pub line: usize,
    /// The row's subject as written (model and quant, hardware and test, ...).
    pub what: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The closing statistics every validate command prints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Rows compared.
    pub rows: usize,
    /// Rows skipped (each with a reason).
    pub skipped: usize,
    /// Median absolute error in percent.
    pub median_abs_err_pct: f64,
    /// 90th-percentile absolute error in percent.
    pub p90_abs_err_pct: f64,
    /// Largest absolute error in percent.
    pub max_abs_err_pct: f64,
}

impl Summary {
    /// Statistics of absolute percentage errors.
    pub fn of(errors_pct: &[f64], skipped: usize) -> Summary {
        let mut e: Vec<f64> = errors_pct.iter().map(|x| x.abs()).collect();
        e.sort_by(f64::total_cmp);
        let q = |p: f64| -> f64 {
            if e.is_empty() {
                return 0.0;
            }
            // Nearest-rank percentile.
            let rank = ((p * e.len() as f64).ceil() as usize).clamp(1, e.len());
            e[rank - 1]
        };
        let median = if e.is_empty() {
            0.0
        } else if e.len() % 2 == 1 {
            e[e.len() / 2]
        } else {
            (e[e.len() / 2 - 1] + e[e.len() / 2]) / 2.0
        };
        Summary {
            rows: e.len(),
            skipped,
            median_abs_err_pct: median,
            p90_abs_err_pct: q(0.9),
            max_abs_err_pct: e.last().copied().unwrap_or(0.0),
        }
    }

    /// The exact closing line: `summary: rows=N skipped=K median_abs_err_pct=X p90_abs_err_pct=Y max_abs_err_pct=Z`.
    pub fn line(&self) -> String {
        format!(
            "summary: rows={} skipped={} median_abs_err_pct={:.2} p90_abs_err_pct={:.2} max_abs_err_pct={:.2}",
            self.rows, self.skipped, self.median_abs_err_pct, self.p90_abs_err_pct, self.max_abs_err_pct
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_statistics() {
        let s = Summary::of(&[1.0, -2.0, 3.0, 4.0], 1);
        assert_eq!(s.rows, 4);
        assert_eq!(s.median_abs_err_pct, 2.5);
        assert_eq!(s.max_abs_err_pct, 4.0);
        assert_eq!(s.p90_abs_err_pct, 4.0);
        assert!(s
            .line()
            .starts_with("summary: rows=4 skipped=1 median_abs_err_pct=2.50 "));
        assert_eq!(Summary::of(&[], 0).rows, 0);
    }
}
