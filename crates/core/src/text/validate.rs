//! The text of `canirun validate …`: each comparison's table, the rows it
//! skipped with why, and its closing lines, built from the core's reports so
//! that a front end only draws them.

use super::table::{Cell, Table, Text};
use crate::cluster::validate::{ClusterRow, PublishedComparison};
use crate::speed::benchmarks::{ClassTable, RowExplain, SpeedReport};
use crate::units::Watts;
use crate::validate::fit::FitReport;
use crate::validate::llama_cpp::{LlamaCppReport, Pair};
use crate::validate::power::PowerReport;
use crate::validate::sizes::SizeReport;
use crate::validate::Skipped;

/// Where the published multi-node results come from when no file is given.
pub const CLUSTER_BENCHMARKS_FILE: &str = "crates/core/data/cluster_benchmarks.csv";

fn skipped(out: &mut Text, rows: &[Skipped]) {
    for s in rows {
        out.line(format!("skipped {s}"));
    }
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// `validate speed --explain LINE`: each row at that line, how it was read,
/// and the terms of its prediction.
pub fn speed_explain(rows: &[RowExplain], not: &[Skipped], line: usize) -> Text {
    let mut out = Text::default();
    if rows.is_empty() && not.is_empty() {
        out.line(format!("no benchmark row at line {line}"));
    }
    for r in rows {
        let x = &r.row;
        out.line(format!("line {}: {}", x.line, x.what));
        out.line(format!("  read as: {}", x.interpreted_as));
        out.line(format!(
            "  published {:.2} tok/s, predicted {:.2} ({:+.1}%)",
            x.published, x.predicted, x.err_pct
        ));
        out.table(super::speed::term_table(&r.terms));
    }
    skipped(&mut out, not);
    out
}

/// `validate sizes`: predicted vs published file sizes.
pub fn sizes(rep: &SizeReport) -> Text {
    let mut t = Table::new(&[
        "line",
        "model",
        "quant",
        "source",
        "published",
        "predicted",
        "error",
        "interpreted as",
    ]);
    for r in &rep.rows {
        t.row(vec![
            Cell::right(r.line),
            Cell::left(&r.model),
            Cell::left(&r.quant),
            Cell::left(truncate(&r.source, 28)),
            Cell::right(format!("{:.3} GB", r.published_bytes / 1e9)),
            Cell::right(format!("{:.3} GB", r.predicted_bytes as f64 / 1e9)),
            Cell::right(format!("{:+.2}%", r.err_pct)),
            Cell::left(&r.interpreted_as),
        ]);
    }
    let mut out = Text::default();
    out.table(t);
    for r in rep.rows.iter().filter(|r| r.unit_note.is_some()) {
        let note = r.unit_note.as_deref().unwrap_or_default();
        out.line(format!("unit line {}: {note}", r.line));
    }
    skipped(&mut out, &rep.skipped);
    out.line(rep.summary.line());
    out
}

/// `validate speed`: predicted vs published tokens/s per row, the skipped
/// rows, the residuals by class and the summary line last.
pub fn speed(rep: &SpeedReport, calibration_command: &str) -> Text {
    let mut t = Table::new(&[
        "line",
        "hardware | model | quant | test",
        "published",
        "predicted",
        "error",
        "interpreted as",
    ]);
    for r in &rep.rows {
        t.row(vec![
            Cell::right(r.line),
            Cell::left(&r.what),
            Cell::right(format!("{:.2}", r.published)),
            Cell::right(format!("{:.2}", r.predicted)),
            Cell::right(format!("{:+.1}%", r.err_pct)),
            Cell::left(&r.interpreted_as),
        ]);
    }
    let mut out = Text::default();
    out.line(format!(
        "tokens/s, canirun vs published (calibration: {calibration_command})"
    ));
    out.table(t);
    skipped(&mut out, &rep.skipped);
    out.line(
        "residuals by class (error = (predicted − published) ÷ published; + = predicted too fast)",
    );
    out.table(by_class(&rep.by_class));
    out.line(rep.summary.line());
    out
}

/// The residual tables of `validate speed`: one per dimension, a line per group.
fn by_class(tables: &[ClassTable]) -> Table {
    let mut t = Table::new(&[
        "dimension",
        "class",
        "rows",
        "median error",
        "median |error|",
        "p90 |error|",
    ]);
    for tab in tables {
        for (i, g) in tab.groups.iter().enumerate() {
            t.row(vec![
                Cell::left(if i == 0 { tab.dimension.as_str() } else { "" }),
                Cell::left(&g.class),
                Cell::right(g.rows),
                Cell::right(format!("{:+.1}%", g.median_err_pct)),
                Cell::right(format!("{:.1}%", g.median_abs_err_pct)),
                Cell::right(format!("{:.1}%", g.p90_abs_err_pct)),
            ]);
        }
    }
    t
}

/// `validate power`: energy per token against power.csv's whole-system rows.
pub fn power(rep: &PowerReport) -> Text {
    let mut out = Text::default();
    out.line("energy per token, canirun vs power.csv (whole-system wall power). predicted J/token = predicted wall power ÷ the row's measured tok/s; 'own speed' divides by canirun's predicted tok/s instead");
    let mut t = Table::new(&[
        "line",
        "hardware | model",
        "tok/s meas / pred",
        "W meas / pred",
        "J/tok meas",
        "J/tok pred",
        "error",
        "J/tok own speed",
        "interpreted as",
    ]);
    for r in &rep.rows {
        t.row(vec![
            Cell::right(r.line),
            Cell::left(format!("{} | {}", r.hardware, r.model)),
            Cell::right(format!("{:.1} / {:.1}", r.measured_tps, r.predicted_tps)),
            Cell::right(format!("{:.0} / {}", r.measured_w, Watts(r.predicted_w))),
            Cell::right(format!("{:.2}", r.measured_j_per_token)),
            Cell::right(format!("{:.2}", r.predicted_j_per_token)),
            Cell::right(format!("{:+.1}%", r.err_pct)),
            Cell::right(format!("{:.2}", r.predicted_j_per_token_own_speed)),
            Cell::left(&r.interpreted_as),
        ]);
    }
    out.table(t);
    skipped(&mut out, &rep.skipped);
    out.line(format!("method: {}", rep.method));
    out.line(rep.summary.line());
    out
}

/// `validate fit`: canirun's `--fit` decisions next to llama-fit-params's,
/// the differences, every projection when given, and the summary.
pub fn fit(rep: &FitReport) -> Text {
    let mut out = Text::default();
    let mut t = Table::new(&[
        "line",
        "fixture",
        "-c",
        "free MiB",
        "llama-fit-params",
        "canirun",
        "",
    ]);
    for r in &rep.rows {
        t.row(vec![
            Cell::right(r.line),
            Cell::left(&r.fixture),
            Cell::left(&r.n_ctx),
            Cell::right(&r.free_mib),
            Cell::left(&r.llama_cpp),
            Cell::left(if r.agree { "same" } else { &r.canirun }),
            Cell::left(if r.agree { "ok" } else { "DIFFERS" }),
        ]);
    }
    out.table(t);
    rep.differences().into_iter().for_each(|l| out.line(l));
    if let Some(stats) = rep.probe_stats() {
        let mut t = Table::new(&[
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
            t.row(vec![
                Cell::left(&p.fixture),
                Cell::right(p.n_ctx),
                Cell::left(&p.kind),
                Cell::right(p.device),
                Cell::left(&p.config),
                Cell::right(show(p.llama_cpp_mib)),
                Cell::right(show(p.canirun_mib)),
                Cell::right(format!("{:+}", p.diff_mib)),
            ]);
        }
        out.table(t);
        out.line(stats.to_string());
    }
    out.line(rep.summary_line());
    out
}

/// `validate llama-cpp`: canirun's buffers next to llama.cpp's, the skipped
/// runs, the refused settings and the pass line (the summary line follows
/// in every output format, so the caller prints it).
pub fn llama_cpp(rep: &LlamaCppReport) -> Text {
    let mut t = Table::new(&[
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
        let exact = if r.weights_exact_to_byte { " =B" } else { "" };
        t.row(vec![
            Cell::left(&r.fixture),
            Cell::left(&r.settings),
            Cell::right(format!("{}{exact}", pair(r.weights))),
            Cell::right(pair(r.kv)),
            Cell::right(pair(r.compute)),
            Cell::right(pair(r.output)),
            Cell::right(r.repack.map(pair).unwrap_or_else(|| "–".into())),
            Cell::right(pair(r.total)),
            Cell::left(if r.ok { "ok" } else { "FAIL" }),
        ]);
    }
    let mut out = Text::default();
    out.line("canirun / llama.cpp (CPU backend); =B: header tensor bytes equal the file's data region to the byte");
    out.table(t);
    skipped(&mut out, &rep.skipped);
    for r in &rep.refusals {
        out.line(format!("refused {}", r.message()));
    }
    out.line(rep.pass_line());
    out
}

/// `validate cluster`: the published multi-node rows of the benchmark CSVs
/// (as local devices and over `network`), then the published vLLM, SGLang
/// and exo results against the cluster plans; `published_file` names where
/// those came from.
pub fn cluster(
    rows: &[ClusterRow],
    network: &str,
    plans: &[PublishedComparison],
    published_file: &str,
) -> Text {
    let mut out = Text::default();
    let mut t = Table::new(&[
        "hardware | model | quant | test",
        "engine",
        "published",
        "as local devices",
        "over the network",
        "error",
    ]);
    for r in rows {
        t.row(vec![
            Cell::left(&r.what),
            Cell::left(&r.engine),
            Cell::right(format!("{:.2}", r.published)),
            Cell::right(format!("{:.2}", r.local)),
            Cell::right(format!("{:.2}", r.cluster)),
            Cell::right(format!("{:+.1}%", r.error() * 100.0)),
        ]);
    }
    if !rows.is_empty() {
        out.line(format!("tokens/s of published multi-node runs; network assumed: {network} (the rows do not name theirs)"));
        out.table(t);
    }
    let mut t = Table::new(&[
        "result (date)",
        "hardware · engine · model",
        "concurrency",
        "published tok/s",
        "canirun decode (range)",
        "error",
        "note",
    ]);
    for p in plans {
        let r = &p.row;
        let (pred, err, note) = match (&p.predicted, &p.skipped) {
            (Some(x), _) => (
                format!(
                    "{:.1} ({:.1}–{:.1}), {}, network {:.0}%",
                    x.rate,
                    x.low,
                    x.high,
                    x.split,
                    x.network_share * 100.0
                ),
                format!(
                    "{:+.0}%{}",
                    p.error().unwrap_or(0.0) * 100.0,
                    if p.within_range() == Some(true) {
                        " (in range)"
                    } else {
                        ""
                    }
                ),
                [
                    (r.use_ == "compare-unstated").then(|| r.reason.clone()),
                    x.note.clone(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
            ),
            (None, Some(why)) => ("not compared".into(), "".into(), why.clone()),
            (None, None) => ("".into(), "".into(), "".into()),
        };
        t.row(vec![
            Cell::left(format!("{} ({})", r.id, r.date)),
            Cell::left(format!(
                "{} · {} · {} {}",
                r.hardware, r.engine, r.model, r.quant
            )),
            Cell::left(&r.concurrency),
            Cell::right(format!("{:.2}", r.published_tok_s)),
            Cell::left(pred),
            Cell::right(err),
            Cell::left(note),
        ]);
    }
    out.line(format!("published multi-node results (vLLM, SGLang, exo; sources in {published_file}) vs canirun's cluster plans, one request on a short context"));
    out.table(t);
    out
}
