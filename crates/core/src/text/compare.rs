//! The words of `canirun compare`'s table: one row per figure, one cell per
//! setup and the API column, so that every front end shows a comparison the
//! same way.

use super::table::{Cell, Table, Text};
use crate::cost::BreakEven;
use crate::memory::verdict::Verdict;
use crate::search::compare::{Comparison, Setup};
use serde::Serialize;

/// One row of the comparison table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// What the row shows.
    pub label: String,
    /// One cell per local setup, in the order given.
    pub cells: Vec<String>,
    /// The API column's cell.
    pub api: String,
}

/// `1234 USD`, `0.42 USD`, or `unknown`.
fn money(v: Option<f64>, cur: &str) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0} {cur}"),
        Some(x) => format!("{x:.2} {cur}"),
        None => "unknown".into(),
    }
}

/// `1.5M`, `800K`: tokens per day.
pub fn tokens(t: f64) -> String {
    if t >= 1e6 {
        format!("{:.1}M", t / 1e6)
    } else {
        format!("{:.0}K", t / 1e3)
    }
}

fn or_unknown(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "unknown".into(), |v| v.to_string())
}

impl Comparison {
    /// The table: hardware, fit, speed, power, heat, supply, energy,
    /// electricity, price, amortised cost and break-even.
    pub fn rows(&self) -> Vec<CompareRow> {
        let cur = self.kwh_price.currency.as_str();
        let row = |label: String, f: &dyn Fn(&Setup) -> String, api: &str| CompareRow {
            label,
            cells: self.setups.iter().map(f).collect(),
            api: api.to_string(),
        };
        let fits = |s: &Setup| {
            let word = match s.report.verdict {
                Verdict::Fits { .. } => "yes",
                Verdict::FitsOffloaded { .. } => "part in RAM",
                Verdict::DoesNotFit { .. } => "NO",
                Verdict::Unknown => "?",
            };
            let (need, cap) = (s.report.memory_needed(), s.capacity());
            format!("{word} {:.0}/{:.0} GiB", need.as_gib(), cap.as_gib())
        };
        let power = |s: &Setup| match s.power().map(|p| (&p.decode_power, &p.prefill_power)) {
            Some((Some(d), Some(p))) => format!("{} / {}", d.wall, p.wall),
            _ => "unknown".into(),
        };
        let heat = |s: &Setup| {
            let heat = s.power().and_then(|p| p.heat_btu_per_hour);
            or_unknown(heat.map(|b| format!("{b:.0} BTU/h")))
        };
        let psu = |s: &Setup| match s.power().map(|p| (p.psu, &p.decode_power)) {
            Some((Some(w), _)) => format!("{w}"),
            Some((None, Some(_))) => "built in".into(),
            _ => "unknown".into(),
        };
        let be_text = |s: &Setup, b: Option<BreakEven>| match b {
            Some(BreakEven::At(t)) => format!("{}/day", tokens(t)),
            Some(BreakEven::BeyondCapacity(t)) => {
                let capacity = tokens(s.decode().0 * 86_400.0);
                format!("{}/day > capacity {capacity}", tokens(t))
            }
            Some(BreakEven::Never) => "never".into(),
            None => "unknown".into(),
        };
        let break_even =
            |s: &Setup| be_text(s, s.power().and_then(|p| p.roi).map(|r| r.break_even));
        let purchase = |s: &Setup| match s.power().and_then(|p| p.system_price.as_ref()) {
            Some(sp) if sp.total_usd.is_some() => {
                let basis = match (sp.parts.as_slice(), sp.missing.len()) {
                    ([one], 0) => format!("{}, {}", one.price.kind, one.price.as_of_text),
                    (parts, 0) => format!("{} parts", parts.len()),
                    ([_], m) => format!("1 part, {m} missing"),
                    (parts, m) => format!("{} parts, {m} missing", parts.len()),
                };
                format!("{} ({basis})", sp.total_text())
            }
            _ => "unknown".into(),
        };
        let rental = |s: &Setup| match s.power().and_then(|p| p.rental.as_ref()) {
            Some(r) => {
                let dates: Vec<&str> = r.rows.iter().map(|p| p.as_of_text.as_str()).collect();
                format!("{:.2} USD/h ({})", r.usd_per_hour, dates.join(", "))
            }
            None => "no rental price".into(),
        };
        let rental_m = |s: &Setup| {
            money(
                s.power()
                    .and_then(|p| p.rental.as_ref())
                    .map(|r| r.usd_per_m),
                "USD",
            )
        };
        let rental_be = |s: &Setup| match s.power().and_then(|p| p.rental.as_ref()) {
            Some(r) => be_text(s, r.break_even),
            None => "–".into(),
        };
        let api_m = self
            .api
            .as_ref()
            .map(|a| format!("{:.2} USD", a.usd_per_m_generated));
        vec![
            row(
                "hardware".into(),
                &|s| s.report.hardware.label(),
                "DeepSeek API (R1)",
            ),
            row(format!("fits ({} ctx)", self.ctx), &fits, "–"),
            row("decode (depth 0)".into(), &|s| s.decode().to_string(), "–"),
            row("prefill".into(), &|s| s.prefill().to_string(), "–"),
            row(
                "power decode / prefill".into(),
                &power,
                "0 W here (the provider's)",
            ),
            row("heat (decode)".into(), &heat, "–"),
            row("power supply".into(), &psu, "–"),
            row(
                "energy per token".into(),
                &|s| or_unknown(s.power().and_then(|p| p.joules_per_token)),
                "–",
            ),
            row(
                format!("electricity / 1M tok @ {} {cur}/kWh", self.kwh_price.amount),
                &|s| money(s.power().and_then(|p| p.electricity_per_m), cur),
                "–",
            ),
            row("purchase price".into(), &purchase, "0 USD (pay per token)"),
            row(
                format!(
                    "cost / 1M tok @ {}/day, {} y",
                    tokens(self.tokens_per_day),
                    self.years
                ),
                &|s| {
                    money(
                        s.power().and_then(|p| p.roi).map(|r| r.local_usd_per_m),
                        "USD",
                    )
                },
                api_m.as_deref().unwrap_or_default(),
            ),
            row("break-even vs API".into(), &break_even, "– (the reference)"),
            row("rent the GPUs instead".into(), &rental, "–"),
            row(
                "cost / 1M tok renting (generating hours only)".into(),
                &rental_m,
                "–",
            ),
            row("break-even vs renting".into(), &rental_be, "–"),
        ]
    }
}

/// `canirun compare` as text: the table, the API's prices, each setup's
/// price, rental, notes and (with `explain`) power terms, then the method.
pub fn text(o: &Comparison, explain: bool) -> Text {
    let mut header: Vec<&str> = vec![""];
    header.extend(o.setups.iter().map(|s| s.input.as_str()));
    if o.api.is_some() {
        header.push("api");
    }
    let mut t = Table::new(&header);
    for r in o.rows() {
        let mut cells = vec![Cell::left(&r.label)];
        cells.extend(r.cells.iter().map(Cell::right));
        if o.api.is_some() {
            cells.push(Cell::right(&r.api));
        }
        t.row(cells);
    }
    let mut out = Text::default();
    out.line(format!(
        "{} {} — local setups vs API; tokens are generated tokens",
        o.model, o.quant
    ));
    out.table(t);
    if let Some(a) = &o.api {
        out.line(format!(
            "api: {:.2} USD/1M input, {:.2} USD/1M output, {:.2} input tokens per output token ({})",
            a.input_per_m, a.output_per_m, o.input_per_output, a.source
        ));
    }
    for s in &o.setups {
        setup_lines(&mut out, s, explain);
    }
    if explain {
        out.line(format!("\nmethod: {}", o.method));
        out.line(format!("electricity: energy per token × 1M ÷ 3.6 MJ/kWh × price; ROI counts generation energy only (not idle hours); hardware amortised straight-line over {} years of {} days", o.years, crate::cost::money::DAYS_PER_YEAR));
    }
    out
}

/// The lines under the table for one setup.
fn setup_lines(out: &mut Text, s: &Setup, explain: bool) {
    let r = &s.report;
    let power = s.power();
    let power_notes = power.map(|p| p.notes.clone()).unwrap_or_default();
    let price = power.and_then(|p| p.system_price.as_ref());
    for l in price.map(|p| p.lines()).unwrap_or_default() {
        out.line(format!("price: {}: {l}", s.input));
    }
    let rentals = power.and_then(|p| p.rental.as_ref());
    for r in rentals.map(|r| r.rows.clone()).unwrap_or_default() {
        let (item, short, source) = (&r.item, r.short(), &r.source);
        out.line(format!("rent: {}: {item}: {short} [{source}]", s.input));
    }
    for n in r.warnings.iter().chain(&power_notes) {
        out.line(format!("note: {}: {n}", s.input));
    }
    if let crate::pipeline::Speed::NotEstimated { reason } = &r.speed {
        out.line(format!("note: {}: speed not estimated: {reason}", s.input));
    }
    if explain {
        let phases = power
            .map(|p| [p.decode_power.as_ref(), p.prefill_power.as_ref()])
            .unwrap_or_default();
        for pw in phases.into_iter().flatten() {
            out.line(format!("\n{} power, {:?}:", s.input, pw.phase));
            let mut t = Table::new(&["term", "watts", "formula"]);
            for term in &pw.terms {
                t.row(vec![
                    Cell::left(&term.label),
                    Cell::right(term.watts),
                    Cell::left(&term.formula),
                ]);
            }
            out.table(t);
        }
    }
}
