//! Text rendering of a core `Report` (the default command's output).

use crate::render;
use canirun_core::hardware::Origin;
use canirun_core::pipeline::{Model, Report, ServerReport};

/// Print a report as text; `explain` adds every term, `tensors` every tensor.
pub fn report(r: &Report, model: &Model, explain: bool, tensors: bool) {
    if let Some(h) = r.headline(model) {
        println!("{h}");
    }
    if let Some(s) = &r.server {
        server_table(r, s);
    }
    if let Some(b) = &r.memory {
        println!("{}", render::breakdown_table(b, explain));
    }
    println!("hardware: {}", r.hardware.description);
    if let Some(p) = &r.placement {
        // The flags are shown once: in the llama.cpp command when there is one.
        let in_command = r
            .commands
            .iter()
            .any(|c| c.engine == canirun_core::commands::Runner::LlamaCpp);
        let flags = r.placement_line();
        let shown = match (in_command, flags.is_empty()) {
            (true, false) => "the flags of the llama.cpp command below",
            (_, true) => "CPU only",
            (false, false) => flags.as_str(),
        };
        println!("placement ({}): {shown}", r.placement_method);
        println!("{}", render::placement_table(p));
        for c in &r.companions {
            println!("with {c}");
        }
    }
    let label = if r.hardware.origin == Origin::Detected {
        "detection"
    } else {
        "assumed"
    };
    for a in &r.hardware.assumptions {
        println!("{label}: {a}");
    }
    println!("verdict: {}", r.verdict);
    println!("{}", r.speed);
    for c in &r.commands {
        println!("run with {}: {}", c.engine, c.shell_line());
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    if explain {
        explain_all(r, model);
    }
    if tensors {
        let mut t = render::table(&["tensor", "shape", "type", "bytes"]);
        for tw in &model.weights.tensors {
            t.add_row(vec![
                comfy_table::Cell::new(tw.tensor.name()),
                comfy_table::Cell::new(format!("{:?}", tw.tensor.shape())),
                comfy_table::Cell::new(tw.storage.to_string()),
                render::right(tw.bytes.0),
            ]);
        }
        println!("{t}");
    }
}

fn server_table(r: &Report, s: &ServerReport) {
    let v = &s.settings;
    let mut t = render::table(&["per GPU", "size", "what"]);
    let rows = s.parts(&r.quant);
    for (k, b, what) in rows {
        t.add_row(vec![
            comfy_table::Cell::new(k),
            render::right(b),
            comfy_table::Cell::new(what),
        ]);
    }
    println!("{t}");
    println!(
        "Maximum concurrency for {} tokens per request: {:.2}×",
        v.max_model_len, s.per_gpu.max_concurrency
    );
}

fn explain_all(r: &Report, model: &Model) {
    if let Some(sp) = r.speed.report() {
        println!();
        let first = sp.decode_first();
        println!(
            "decode time per token on an empty context = {}",
            first.seconds
        );
        print!("{}", first.terms_text());
        if let Some(pre) = &sp.prefill {
            println!("prefill of {} tokens = {}", pre.tokens, pre.seconds);
            print!("{}", pre.terms_text());
        }
    }
    if let Some(ft) = r.fit.as_ref().filter(|f| f.fit.probes.len() > 1) {
        print!("\n{ft}");
    }
    if let Some(b) = &r.memory {
        println!("\n{}", b.explain());
    }
    println!("weight types:");
    for (ty, n, bytes) in model.weights.type_census() {
        println!("  {ty:<20} {n:>5} tensors  {bytes:>12}");
    }
    println!("sources: {}", model.sources);
}
