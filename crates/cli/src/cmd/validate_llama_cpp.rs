//! `canirun validate llama-cpp FILE.csv [--fixtures DIR]`: canirun's CPU
//! buffers against a real llama.cpp's (core::validate::llama_cpp compares;
//! this file reads the files and renders).

use crate::render;
use anyhow::{bail, Context, Result};
use canirun_core::validate::llama_cpp::{self, Pair};
use canirun_io::fixtures;
use std::path::Path;

/// Run `validate llama-cpp`; fails when a row is outside the tolerances or
/// canirun accepts settings llama.cpp refused.
pub fn run(file: &Path, fixtures: Option<&Path>, json_out: bool) -> Result<()> {
    let dir = fixtures.map_or_else(fixtures::default_dir, Path::to_path_buf);
    let text = crate::inputs::read_text(file, "; run scripts/llama_cpp_ground_truth.py first")?;
    let rep = llama_cpp::validate(&text, |name| Ok(fixtures::read(&dir, name)?))
        .with_context(|| file.display().to_string())?;
    let failed = rep.failed();
    let skipped: Vec<String> = rep.skipped.iter().map(|s| s.to_string()).collect();
    let refusals: Vec<String> = rep.refusals.iter().map(|r| r.message()).collect();
    if json_out {
        render::json(&serde_json::json!({
            "rows": rep.rows,
            "skipped": skipped,
            "refusals": refusals,
            "failed": failed
        }))?;
    } else {
        let mut t = render::table(&[
            "fixture",
            "settings",
            "weights MiB",
            "KV MiB",
            "compute MiB",
            "output MiB",
            "repack MiB",
            "total MiB",
            "ok",
        ]);
        let pair = |p: Pair| format!("{:.2} / {:.2}", p.0, p.1);
        for r in &rep.rows {
            t.add_row(vec![
                comfy_table::Cell::new(&r.fixture),
                comfy_table::Cell::new(&r.settings),
                render::right(format!(
                    "{}{}",
                    pair(r.weights),
                    if r.weights_exact_to_byte { " =B" } else { "" }
                )),
                render::right(pair(r.kv)),
                render::right(pair(r.compute)),
                render::right(pair(r.output)),
                render::right(r.repack.map(pair).unwrap_or_else(|| "–".into())),
                render::right(pair(r.total)),
                comfy_table::Cell::new(if r.ok { "ok" } else { "FAIL" }),
            ]);
        }
        println!("canirun / llama.cpp (CPU backend); =B: header tensor bytes equal the file's data region to the byte");
        println!("{t}");
        for s in &skipped {
            println!("skipped {s}");
        }
        for r in &refusals {
            println!("refused {r}");
        }
        println!("{}", rep.pass_line());
    }
    println!("{}", rep.summary.line());
    let refusal_mismatch = rep.refusal_mismatches();
    if failed > 0 || refusal_mismatch > 0 {
        bail!("{failed} rows outside the tolerances, {refusal_mismatch} settings llama.cpp refused but canirun accepted");
    }
    Ok(())
}
