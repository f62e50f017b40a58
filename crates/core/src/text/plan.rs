//! The text of `canirun plan`: the setups that meet the target, ranked
//! three ways, the closest when none does, and each price with its source.

use super::table::{Cell, Table, Text};
use crate::search::plan::{PlanRequest, PlanResult, Setup, NOTES};

/// `v`, or `none` when there is no value.
fn or(v: Option<impl ToString>, none: &str) -> String {
    v.map_or_else(|| none.to_string(), |v| v.to_string())
}

/// The plan for `model` at `quant` as text; `seconds` is how long the search took.
pub fn plan(model: &str, quant: &str, req: &PlanRequest, res: &PlanResult, seconds: f64) -> Text {
    let mut out = Text::default();
    out.line(format!(
        "{model} at {quant} with {} tokens of context, at least {} tok/s: {} setups evaluated, {} meet the target ({} kinds) in {seconds:.2} s",
        req.ctx, req.min_tps, res.evaluated, res.meeting, res.kinds.len()
    ));
    let mut show = |title: &str, list: &[Setup]| {
        if list.is_empty() {
            return;
        }
        out.line(format!("\n{title}"));
        out.table(setups(list));
    };
    show("cheapest of each kind", &res.cheapest);
    show("fastest", &res.fastest);
    show(
        "most energy-efficient (tokens per kJ at TDP)",
        &res.most_efficient,
    );
    if res.meeting == 0 {
        out.line("\nno setup meets the target; the closest:");
        for s in &res.closest {
            let why = s.limited_by.join("; ");
            out.line(format!("  {} ({}): {why}", s.hardware, s.kind));
        }
    }
    out.line("\nprices (each row's kind, date and source; crates/core/data/prices-2026-12.csv):");
    let mut seen = std::collections::HashSet::new();
    let listed = res.cheapest.iter().chain(&res.fastest);
    for s in listed.chain(&res.most_efficient) {
        if let Some(p) = s.price.as_ref().filter(|_| seen.insert(&s.hardware)) {
            out.line(format!("  {} = {}", s.hardware, p.total_text()));
            p.lines().iter().for_each(|l| out.line(format!("    {l}")));
        }
    }
    out.line(format!("\n{}", NOTES.join("\n")));
    out
}

/// One ranking's table.
fn setups(list: &[Setup]) -> Table {
    let mut t = Table::new(&[
        "kind", "hardware", "tok/s", "price", "TDP", "BTU/h", "tok/kJ", "RAM", "engine",
    ]);
    for s in list {
        let ram = s.price.as_ref().and_then(|p| p.memory).or(s.ram_needed);
        t.row(vec![
            Cell::left(s.kind),
            Cell::left(&s.hardware),
            Cell::right(or(
                s.decode_tps
                    .map(|d| format!("{:.1} ({:.1}–{:.1})", d.0, d.1, d.2)),
                "–",
            )),
            Cell::right(or(s.price.as_ref().map(|p| p.total_text()), "?")),
            Cell::right(or(s.power_w.map(|p| format!("{p:.0} W")), "?")),
            Cell::right(or(s.heat_btu_h.map(|p| format!("{p:.0}")), "?")),
            Cell::right(or(s.tokens_per_kj.map(|p| format!("{p:.1}")), "?")),
            Cell::right(or(ram.map(|r| r.to_string()), "–")),
            Cell::left(&s.engine),
        ]);
    }
    t
}
