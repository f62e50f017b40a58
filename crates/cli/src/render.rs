//! Terminal rendering helpers shared by the commands.

use canirun_core::memory::{MemoryBreakdown, Part};
use canirun_core::units::Bytes;
use canirun_core::validate::{Skipped, Summary};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};

/// A table with canirun's look.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new));
    t
}

/// A table with canirun's look that wraps at 120 columns when the terminal's
/// width is unknown (piped output), for long catalog text.
pub fn wrapped<T: Into<Cell>>(header: impl IntoIterator<Item = T>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if t.width().is_none() {
        t.set_width(120);
    }
    t
}

/// A table of the terms behind a figure: label, value (right-aligned), formula.
pub fn terms<'a>(
    header: &[&str],
    rows: impl Iterator<Item = (&'a String, impl ToString, &'a String)>,
) -> Table {
    let mut t = table(header);
    for (label, value, formula) in rows {
        t.add_row(vec![Cell::new(label), right(value), Cell::new(formula)]);
    }
    t
}

/// `v`, or `none` when there is no value.
pub fn or(v: Option<impl ToString>, none: &str) -> String {
    v.map_or_else(|| none.to_string(), |v| v.to_string())
}

/// A right-aligned cell.
pub fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

/// `4.36 GiB (4.68 GB)`: binary first, decimal for comparison with listings.
pub fn size(b: Bytes) -> String {
    if b.0 >= 1_000_000_000 {
        format!("{b} ({:.2} GB)", b.as_gb())
    } else {
        b.to_string()
    }
}

/// The memory breakdown table; `what` adds a column that says what each part is.
pub fn breakdown_table(b: &MemoryBreakdown, what: bool) -> Table {
    let mut t = table(if what {
        &["part", "size", "what"][..]
    } else {
        &["part", "size"][..]
    });
    let rows: [(&str, &Part, &str); 5] = [
        ("weights", &b.weights, "model tensors"),
        ("KV cache", &b.kv, "keys/values for the whole context"),
        ("compute", &b.compute, "scheduler's activation buffer"),
        ("output", &b.output, "logits buffer"),
        (
            "overhead",
            &b.overhead,
            "runtime context (fixed, not a llama.cpp buffer)",
        ),
    ];
    for (name, part, text) in rows {
        let mut row = vec![Cell::new(name), right(size(part.bytes))];
        if what {
            row.push(Cell::new(text));
        }
        t.add_row(row);
    }
    t.add_row(vec![Cell::new("total"), right(size(b.total()))]);
    t
}

/// The per-device placement table.
pub fn placement_table(p: &canirun_core::placement::Placement) -> Table {
    let mut t = table(&[
        "device", "blocks", "weights", "KV", "compute", "other", "total", "capacity", "free",
    ]);
    for d in &p.devices {
        let blocks = match (d.layers.first(), d.layers.last()) {
            (Some(a), Some(b)) if a == b => format!("{a}"),
            (Some(a), Some(b)) => format!("{a}-{b} ({})", d.layers.len()),
            _ => "–".into(),
        };
        let free = match d.free() {
            Some(f) if f < 0 => format!("SHORT {}", Bytes((-f) as u64)),
            Some(f) => Bytes(f as u64).to_string(),
            None => "–".into(),
        };
        t.add_row(vec![
            Cell::new(match d.loc {
                canirun_core::placement::Loc::Cpu => d.name.clone(),
                gpu => format!("{gpu} {}", d.name),
            }),
            Cell::new(blocks),
            right(d.weights),
            right(d.kv),
            right(d.compute),
            // "other" holds the output buffer, the overhead and any
            // companion model (-md, --mmproj), listed under the table.
            right(d.output + d.overhead + d.companions),
            right(d.total()),
            right(
                d.capacity
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "unknown".into()),
            ),
            right(free),
        ]);
    }
    t
}

/// `--json` output: pretty-printed JSON.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `--json` output of a validate command: the report, then the summary line
/// that closes every validate command's output.
pub fn print_json_report<T: serde::Serialize>(report: &T, summary: &Summary) -> anyhow::Result<()> {
    json(report)?;
    println!("{}", summary.line());
    Ok(())
}

/// One line per ground-truth row a validate command did not compare, with why.
pub fn print_skipped(skipped: &[Skipped]) {
    for s in skipped {
        println!("skipped {s}");
    }
}
