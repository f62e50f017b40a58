//! Predictions against published ground truth. Pure: callers pass the CSV text.

pub mod sizes;

use serde::Serialize;

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
