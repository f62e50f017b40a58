//! The text of `canirun speed`: prefill, decode over depths, flash
//! attention's effect, speculative decoding, the full R1 answer and, with
//! `explain`, every term.

use super::flash_attention_effect;
use super::table::{Cell, Table, Text};
use crate::pipeline::{Report, Request, Speed};
use crate::speed::{Calibration, Estimate, SpeedTerm};

/// The speed report of `req` (the estimate `r` of it) as text.
pub fn speed(req: &Request<'_>, r: &Report, explain: bool) -> Text {
    let mut out = Text::default();
    let prompt = req.workload.prompt;
    out.line(format!(
        "{} {} on {} ({}, {})",
        req.model.spec.name,
        r.quant,
        req.hardware.label(),
        r.engine,
        r.placement_method
    ));
    r.warnings
        .iter()
        .for_each(|w| out.line(format!("warning: {w}")));
    let sp = match &r.speed {
        Speed::Estimated(sp) => sp,
        Speed::NotEstimated { reason } => {
            out.line(format!("speed: not estimated: {reason}"));
            return out;
        }
    };
    match (&sp.prefill, &sp.prefill_missing) {
        (Some(pre), _) => out.line(format!(
            "prefill {prompt} tokens: {} (range {} – {}), time to first token {}",
            pre.rate, pre.low, pre.high, pre.seconds
        )),
        (None, Some(why)) => out.line(format!("prefill not estimated: {why}")),
        _ => {}
    }
    let mut t = Table::new(&["context depth", "decode", "range", "ms/token"]);
    for d in &sp.decode {
        t.row(vec![
            Cell::right(d.depth),
            Cell::right(d.estimate.rate),
            Cell::right(format!("{} – {}", d.estimate.low, d.estimate.high)),
            Cell::right(format!("{:.1}", d.estimate.seconds.as_ms())),
        ]);
    }
    out.table(t);
    if let Some(line) = flash_attention_effect(req, r) {
        out.line(line);
    }
    if let Some(m) = &sp.speculative {
        out.line(m.to_string());
    }
    if let Some(an) = &sp.answer {
        out.line(format!(
            "full R1 answer ({} prompt + {} thinking + {} answer tokens): {} (range {} – {}) = prefill {} + thinking {} + answer {}",
            an.prompt_tokens, an.thinking_tokens, an.answer_tokens, an.total, an.total_low,
            an.total_high, an.prefill.seconds, an.thinking.seconds, an.answer.seconds
        ));
    }
    if explain {
        let deepest = (sp.decode.len() > 1).then(|| sp.decode_last());
        for d in sp.decode.first().into_iter().chain(deepest) {
            out.line(format!("\ndecode at depth {}, per token:", d.depth));
            out.table(terms(&d.estimate));
        }
        if let Some(pre) = &sp.prefill {
            out.line(format!("\nprefill of {prompt} tokens:"));
            out.table(terms(pre));
        }
        if let Ok(cal) = Calibration::embedded() {
            out.line(format!(
                "\nranges: 10th–90th percentile of the calibration residuals ({})",
                cal.meta.command
            ));
        }
        if let Some(src) = sp.thinking_source {
            out.line(format!("thinking tokens: {src}"));
        }
    }
    sp.notes()
        .iter()
        .for_each(|n| out.line(format!("note: {n}")));
    out
}

/// A table of speed terms: label, time, formula.
pub(super) fn term_table(terms: &[SpeedTerm]) -> Table {
    let mut t = Table::new(&["term", "time", "formula"]);
    for term in terms {
        t.row(vec![
            Cell::left(&term.label),
            Cell::right(term.seconds),
            Cell::left(&term.formula),
        ]);
    }
    t
}

/// The terms of one estimate with their total.
fn terms(e: &Estimate) -> Table {
    let mut t = term_table(&e.terms);
    t.row(vec![
        Cell::left("total"),
        Cell::right(e.seconds),
        Cell::left(format!("{} tokens → {}", e.tokens, e.rate)),
    ]);
    t
}
