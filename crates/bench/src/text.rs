//! The bench's sentences, as `Display` impls, so the binary and a web page
//! word a report the same way (tables stay with whoever draws them).

use crate::compare::EngineFit;
use crate::session::BenchReport;
use std::fmt;

/// The report's first line: model, API and engine.
#[derive(Debug, Clone, Copy)]
pub struct Headline<'a>(pub &'a BenchReport);

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(f, "{} via {} ({}", r.model, r.api, r.engine)?;
        if let Some(v) = &r.engine_version {
            write!(f, " {v}")?;
        }
        write!(f, ")")
    }
}

/// Measured next to predicted memory, or `None` when neither is known.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLine<'a>(pub &'a BenchReport);

impl MemoryLine<'_> {
    /// Whether there is anything to say.
    pub fn known(&self) -> bool {
        self.0.memory_measured.is_some() || self.0.memory_predicted.is_some()
    }
}

impl fmt::Display for MemoryLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = |b: u64| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64);
        let r = self.0;
        write!(
            f,
            "memory: measured {} (the server's peak RSS or its own figure; mapped weights and llama.cpp's repack copy count), predicted {}",
            r.memory_measured.map_or("unknown".into(), gib),
            r.memory_predicted.map_or("-".into(), |b| gib(b.0))
        )
    }
}

/// One engine's calibration with its errors before and after.
impl fmt::Display for EngineFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.calibration;
        write!(f, "{} on {}: calibrated on {} local runs ({} decode, {} prefill): bandwidth ×{:.3}, compute ×{:.3}; median |error| {:.1}% before, {:.1}% after (the same runs predicted again)",
            self.engine, self.hardware, c.runs(), c.decode_runs, c.prefill_runs, c.bandwidth_factor, c.compute_factor, self.median_abs_error_before_pct, self.median_abs_error_after_pct)
    }
}
