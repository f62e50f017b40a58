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

/// One column of a report table: its title and how a row fills it.
type Column<R> = (&'static str, fn(&R) -> Cell);

/// A table with a line per row: each title stands next to the cell it
/// heads, so that the header and the rows cannot drift apart.
fn table<R>(rows: &[R], columns: &[Column<R>]) -> Table {
    let header: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let mut t = Table::new(&header);
    for r in rows {
        t.row(columns.iter().map(|c| (c.1)(r)).collect());
    }
    t
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
    let t = table(
        &rep.rows,
        &[
            ("line", |r| Cell::right(r.line)),
            ("model", |r| Cell::left(&r.model)),
            ("quant", |r| Cell::left(&r.quant)),
            ("source", |r| Cell::left(truncate(&r.source, 28))),
            ("published", |r| {
                Cell::right(format!("{:.3} GB", r.published_bytes / 1e9))
            }),
            ("predicted", |r| {
                Cell::right(format!("{:.3} GB", r.predicted_bytes as f64 / 1e9))
            }),
            ("error", |r| Cell::right(format!("{:+.2}%", r.err_pct))),
            ("interpreted as", |r| Cell::left(&r.interpreted_as)),
        ],
    );
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
    let t = table(
        &rep.rows,
        &[
            ("line", |r| Cell::right(r.line)),
            ("hardware | model | quant | test", |r| Cell::left(&r.what)),
            ("published", |r| Cell::right(format!("{:.2}", r.published))),
            ("predicted", |r| Cell::right(format!("{:.2}", r.predicted))),
            ("error", |r| Cell::right(format!("{:+.1}%", r.err_pct))),
            ("interpreted as", |r| Cell::left(&r.interpreted_as)),
        ],
    );
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
    let t = table(
        &rep.rows,
        &[
            ("line", |r| Cell::right(r.line)),
            ("hardware | model", |r| {
                Cell::left(format!("{} | {}", r.hardware, r.model))
            }),
            ("tok/s meas / pred", |r| {
                Cell::right(format!("{:.1} / {:.1}", r.measured_tps, r.predicted_tps))
            }),
            ("W meas / pred", |r| {
                Cell::right(format!("{:.0} / {}", r.measured_w, Watts(r.predicted_w)))
            }),
            ("J/tok meas", |r| {
                Cell::right(format!("{:.2}", r.measured_j_per_token))
            }),
            ("J/tok pred", |r| {
                Cell::right(format!("{:.2}", r.predicted_j_per_token))
            }),
            ("error", |r| Cell::right(format!("{:+.1}%", r.err_pct))),
            ("J/tok own speed", |r| {
                Cell::right(format!("{:.2}", r.predicted_j_per_token_own_speed))
            }),
            ("interpreted as", |r| Cell::left(&r.interpreted_as)),
        ],
    );
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
    out.table(table(
        &rep.rows,
        &[
            ("line", |r| Cell::right(r.line)),
            ("fixture", |r| Cell::left(&r.fixture)),
            ("-c", |r| Cell::left(&r.n_ctx)),
            ("free MiB", |r| Cell::right(&r.free_mib)),
            ("llama-fit-params", |r| Cell::left(&r.llama_cpp)),
            ("canirun", |r| {
                Cell::left(if r.agree { "same" } else { &r.canirun })
            }),
            ("", |r| Cell::left(if r.agree { "ok" } else { "DIFFERS" })),
        ],
    ));
    rep.differences().into_iter().for_each(|l| out.line(l));
    if let Some(stats) = rep.probe_stats() {
        fn show(v: [i64; 4]) -> Cell {
            Cell::right(format!("{} + {} + {} = {}", v[0], v[1], v[2], v[3]))
        }
        out.table(table(
            &rep.probes,
            &[
                ("fixture", |p| Cell::left(&p.fixture)),
                ("-c", |p| Cell::right(p.n_ctx)),
                ("projection", |p| Cell::left(&p.kind)),
                ("device", |p| Cell::right(p.device)),
                ("layers/part/fraction", |p| Cell::left(&p.config)),
                ("llama.cpp model+KV+compute", |p| show(p.llama_cpp_mib)),
                ("canirun model+KV+compute", |p| show(p.canirun_mib)),
                ("diff", |p| Cell::right(format!("{:+}", p.diff_mib))),
            ],
        ));
        out.line(stats.to_string());
    }
    out.line(rep.summary_line());
    out
}

/// `validate llama-cpp`: canirun's buffers next to llama.cpp's, the skipped
/// runs, the refused settings and the pass line (the summary line follows
/// in every output format, so the caller prints it).
pub fn llama_cpp(rep: &LlamaCppReport) -> Text {
    fn pair(p: Pair) -> String {
        format!("{:.2} / {:.2}", p.0, p.1)
    }
    let t = table(
        &rep.rows,
        &[
            ("fixture", |r| Cell::left(&r.fixture)),
            ("settings", |r| Cell::left(&r.settings)),
            ("weights MiB", |r| {
                let exact = if r.weights_exact_to_byte { " =B" } else { "" };
                Cell::right(format!("{}{exact}", pair(r.weights)))
            }),
            ("KV MiB", |r| Cell::right(pair(r.kv))),
            ("compute MiB", |r| Cell::right(pair(r.compute))),
            ("output MiB", |r| Cell::right(pair(r.output))),
            ("repack MiB", |r| {
                Cell::right(r.repack.map(pair).unwrap_or_else(|| "–".into()))
            }),
            ("total MiB", |r| Cell::right(pair(r.total))),
            ("ok", |r| Cell::left(if r.ok { "ok" } else { "FAIL" })),
        ],
    );
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
    if !rows.is_empty() {
        out.line(format!("tokens/s of published multi-node runs; network assumed: {network} (the rows do not name theirs)"));
        out.table(table(
            rows,
            &[
                ("hardware | model | quant | test", |r| Cell::left(&r.what)),
                ("engine", |r| Cell::left(&r.engine)),
                ("published", |r| Cell::right(format!("{:.2}", r.published))),
                ("as local devices", |r| {
                    Cell::right(format!("{:.2}", r.local))
                }),
                ("over the network", |r| {
                    Cell::right(format!("{:.2}", r.cluster))
                }),
                ("error", |r| {
                    Cell::right(format!("{:+.1}%", r.error() * 100.0))
                }),
            ],
        ));
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
