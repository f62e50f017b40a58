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

/// The `--explain` listing: every term behind every part.
pub fn explain(b: &MemoryBreakdown) -> String {
    let mut s = String::new();
    for (name, part) in [
        ("weights", &b.weights),
        ("KV cache", &b.kv),
        ("compute buffer", &b.compute),
        ("output buffer", &b.output),
        ("overhead", &b.overhead),
    ] {
        s.push_str(&format!("{name} = {:#}\n", part.bytes));
        for term in &part.terms {
            s.push_str(&format!(
                "  {:<40} {:>12}  {}\n",
                term.label,
                term.bytes.to_string(),
                term.formula
            ));
        }
    }
    s
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
            right(d.output + d.overhead),
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

/// `--json` output of a validate command: the report, then the summary line
/// that closes every validate command's output.
pub fn print_json_report<T: serde::Serialize>(report: &T, summary: &Summary) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    println!("{}", summary.line());
    Ok(())
}

/// One line per ground-truth row a validate command did not compare, with why.
pub fn print_skipped(skipped: &[Skipped]) {
    for s in skipped {
        println!("skipped line {}: {}: {}", s.line, s.what, s.reason);
    }
}

/// llama.cpp's `--fit` search: every configuration it projected, for `--explain`.
pub fn fit_trace(ft: &canirun_core::pipeline::FitTrace) {
    use canirun_core::placement::llama_cpp::fit::LayerFraction as F;
    let (f, targets) = (&ft.fit, &ft.targets);
    println!();
    println!(
        "llama.cpp --fit: {} configurations projected (model + KV + compute per GPU; a partial layer keeps its routed experts in RAM; target = free − margin: {})",
        f.probes.len(),
        targets.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    );
    println!("llama-fit-params would print: {}", ft.fit_params_line);
    for p in &f.probes {
        let layers = if p.layers.is_empty() {
            p.kind.to_string()
        } else {
            p.layers
                .iter()
                .map(|d| {
                    let first = match d.overflow {
                        _ if d.n_part == 0 => "",
                        F::Moe => "",
                        F::Up => ", the first sends gate+down",
                        F::Gate => ", the first sends down only",
                        F::Attn => ", the first sends its whole FFN",
                    };
                    format!("{} layers, {} partial{first}", d.n_layer, d.n_part)
                })
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let used: Vec<String> = p
            .used
            .iter()
            .zip(targets)
            .map(|(u, t)| format!("{u}{}", if u <= t { "" } else { " (over)" }))
            .collect();
        println!("  -c {:<7} {:<58} {}", p.n_ctx, layers, used.join(", "));
    }
}
