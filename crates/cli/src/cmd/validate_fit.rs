//! `canirun validate fit FILE.csv [--probes FILE.csv] [--fixtures DIR]`:
//! canirun's `--fit` against the decisions of a real `llama-fit-params`
//! (core::validate::fit compares and explains; this file reads the files and
//! renders).

use crate::render;
use anyhow::{bail, Context, Result};
use canirun_core::validate::fit::{self, FitReport};
use canirun_io::fixtures;
use std::path::Path;

/// Run `validate fit`; fails when a decision differs without a projection
/// that explains it.
pub fn run(
    file: &Path,
    probes: Option<&Path>,
    fixtures: Option<&Path>,
    json_out: bool,
) -> Result<()> {
    let dir = fixtures.map_or_else(fixtures::default_dir, Path::to_path_buf);
    let text = crate::inputs::read_text(
        file,
        "; crates/core/data/llama_fit_params_rpc.csv holds the measured decisions",
    )?;
    let probes_text = probes
        .map(|p| crate::inputs::read_text(p, ""))
        .transpose()?;
    let rep = fit::validate(&text, probes_text.as_deref(), |name| {
        Ok(fixtures::read(&dir, name)?)
    })
    .with_context(|| file.display().to_string())?;
    if json_out {
        render::json(&rep)?;
    } else {
        print_report(&rep);
    }
    let unexplained = rep.unexplained();
    if unexplained > 0 {
        bail!(
            "{unexplained} of {} fit decisions differ from llama-fit-params without a projection that explains it{}",
            rep.total,
            if probes.is_none() { " (pass --probes to look for one)" } else { "" }
        );
    }
    Ok(())
}

fn print_report(rep: &FitReport) {
    let mut t = render::table(&[
        "line",
        "fixture",
        "-c",
        "free MiB",
        "llama-fit-params",
        "canirun",
        "",
    ]);
    for r in &rep.rows {
        t.add_row(vec![
            render::right(r.line),
            comfy_table::Cell::new(&r.fixture),
            comfy_table::Cell::new(&r.n_ctx),
            render::right(&r.free_mib),
            comfy_table::Cell::new(&r.llama_cpp),
            comfy_table::Cell::new(if r.agree { "same" } else { &r.canirun }),
            comfy_table::Cell::new(if r.agree { "ok" } else { "DIFFERS" }),
        ]);
    }
    println!("{t}");
    for line in rep.differences() {
        println!("{line}");
    }
    if let Some(stats) = rep.probe_stats() {
        let mut t = render::table(&[
            "fixture",
            "-c",
            "projection",
            "device",
            "layers/part/fraction",
            "llama.cpp model+KV+compute",
            "canirun model+KV+compute",
            "diff",
        ]);
        let show = |v: [i64; 4]| format!("{} + {} + {} = {}", v[0], v[1], v[2], v[3]);
        for p in &rep.probes {
            t.add_row(vec![
                comfy_table::Cell::new(&p.fixture),
                render::right(p.n_ctx),
                comfy_table::Cell::new(&p.kind),
                render::right(p.device),
                comfy_table::Cell::new(&p.config),
                render::right(show(p.llama_cpp_mib)),
                render::right(show(p.canirun_mib)),
                render::right(format!("{:+}", p.diff_mib)),
            ]);
        }
        println!("{t}");
        println!("{stats}");
    }
    println!("{}", rep.summary_line());
}
