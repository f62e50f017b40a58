//! The text of the default command's report: headline, vLLM/SGLang pool
//! table, memory breakdown, placement per device, assumptions, verdict,
//! speed, commands, notes and (with `explain`) every term.

use super::table::{Cell, Table, Text};
use crate::hardware::Origin;
use crate::memory::{MemoryBreakdown, Part};
use crate::pipeline::{Model, Report, ServerReport};
use crate::placement::{Loc, Placement};
use crate::units::Bytes;

/// `4.36 GiB (4.68 GB)`: binary first, decimal for comparison with listings.
fn size(b: Bytes) -> String {
    if b.0 >= 1_000_000_000 {
        format!("{b} ({:.2} GB)", b.as_gb())
    } else {
        b.to_string()
    }
}

/// The report as text; `explain` adds every term, `tensors` every tensor.
pub fn report(r: &Report, model: &Model, explain: bool, tensors: bool) -> Text {
    let mut out = Text::default();
    if let Some(h) = r.headline(model) {
        out.line(h);
    }
    if let Some(s) = &r.server {
        server(&mut out, r, s);
    }
    if let Some(b) = &r.memory {
        out.table(breakdown(b, explain));
    }
    out.line(format!("hardware: {}", r.hardware.description));
    if let Some(p) = &r.placement {
        // The flags are shown once: in the llama.cpp command when there is one.
        let in_command = r
            .commands
            .iter()
            .any(|c| c.engine == crate::commands::Runner::LlamaCpp);
        let flags = r.placement_line();
        let shown = match (in_command, flags.is_empty()) {
            (true, false) => "the flags of the llama.cpp command below",
            (_, true) => "CPU only",
            (false, false) => flags.as_str(),
        };
        out.line(format!("placement ({}): {shown}", r.placement_method));
        out.table(placement(p));
        r.companions
            .iter()
            .for_each(|c| out.line(format!("with {c}")));
    }
    let label = if r.hardware.origin == Origin::Detected {
        "detection"
    } else {
        "assumed"
    };
    for a in &r.hardware.assumptions {
        out.line(format!("{label}: {a}"));
    }
    out.line(format!("verdict: {}", r.verdict));
    out.line(r.speed.to_string());
    for c in &r.commands {
        out.line(format!("run with {}: {}", c.engine, c.shell_line()));
    }
    r.warnings
        .iter()
        .for_each(|w| out.line(format!("warning: {w}")));
    r.notes.iter().for_each(|n| out.line(format!("note: {n}")));
    if explain {
        explain_all(&mut out, r, model);
    }
    if tensors {
        let mut t = Table::new(&["tensor", "shape", "type", "bytes"]);
        for tw in &model.weights.tensors {
            t.row(vec![
                Cell::left(tw.tensor.name()),
                Cell::left(format!("{:?}", tw.tensor.shape())),
                Cell::left(tw.storage.to_string()),
                Cell::right(tw.bytes.0),
            ]);
        }
        out.table(t);
    }
    out
}

/// vLLM/SGLang: the per-GPU pool and the concurrency it allows.
fn server(out: &mut Text, r: &Report, s: &ServerReport) {
    let mut t = Table::new(&["per GPU", "size", "what"]);
    for (k, b, what) in s.parts(&r.quant) {
        t.row(vec![Cell::left(k), Cell::right(b), Cell::left(what)]);
    }
    out.table(t);
    out.line(format!(
        "Maximum concurrency for {} tokens per request: {:.2}×",
        s.settings.max_model_len, s.per_gpu.max_concurrency
    ));
}

/// The memory breakdown table; `what` adds a column that says what each part is.
pub fn breakdown(b: &MemoryBreakdown, what: bool) -> Table {
    let mut t = Table::new(if what {
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
        let mut row = vec![Cell::left(name), Cell::right(size(part.bytes))];
        if what {
            row.push(Cell::left(text));
        }
        t.row(row);
    }
    t.row(vec![Cell::left("total"), Cell::right(size(b.total()))]);
    t
}

/// The per-device placement table.
pub fn placement(p: &Placement) -> Table {
    let mut t = Table::new(&[
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
        let capacity = d.capacity.map(|c| c.to_string());
        t.row(vec![
            Cell::left(match d.loc {
                Loc::Cpu => d.name.clone(),
                gpu => format!("{gpu} {}", d.name),
            }),
            Cell::left(blocks),
            Cell::right(d.weights),
            Cell::right(d.kv),
            Cell::right(d.compute),
            // "other" holds the output buffer, the overhead and any
            // companion model (-md, --mmproj), listed under the table.
            Cell::right(d.output + d.overhead + d.companions),
            Cell::right(d.total()),
            Cell::right(capacity.unwrap_or_else(|| "unknown".into())),
            Cell::right(free),
        ]);
    }
    t
}

/// `--explain`: the speed terms, llama.cpp's `--fit` trace, the memory
/// terms, the weight types and the model's sources.
fn explain_all(out: &mut Text, r: &Report, model: &Model) {
    if let Some(sp) = r.speed.report() {
        out.line("");
        let first = sp.decode_first();
        out.line(format!(
            "decode time per token on an empty context = {}",
            first.seconds
        ));
        out.raw(first.terms_text());
        if let Some(pre) = &sp.prefill {
            out.line(format!(
                "prefill of {} tokens = {}",
                pre.tokens, pre.seconds
            ));
            out.raw(pre.terms_text());
        }
    }
    if let Some(ft) = r.fit.as_ref().filter(|f| f.fit.probes.len() > 1) {
        out.raw(format!("\n{ft}"));
    }
    if let Some(b) = &r.memory {
        out.line(format!("\n{}", b.explain()));
    }
    out.line("weight types:");
    for (ty, n, bytes) in model.weights.type_census() {
        out.line(format!("  {ty:<20} {n:>5} tensors  {bytes:>12}"));
    }
    out.line(format!("sources: {}", model.sources));
}
