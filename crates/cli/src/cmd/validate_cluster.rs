//! `canirun validate cluster FILE…`: published multi-node rows vs the
//! cluster speed model (core::cluster::validate): the llama.cpp RPC rows of
//! the benchmark CSVs, then the published vLLM, SGLang and exo results of
//! data/cluster_benchmarks.csv (compared, or skipped with the reason).

use crate::render;
use anyhow::Result;
use canirun_core::cluster::{interconnect, validate};
use canirun_core::speed::Calibration;
use std::path::{Path, PathBuf};

/// Print published, local (validate speed's reading) and cluster predictions,
/// then the published multi-node results against the cluster plans.
pub fn run(files: &[PathBuf], net: &str, published: Option<&Path>, json: bool) -> Result<()> {
    let texts = files
        .iter()
        .map(|f| Ok((f.display().to_string(), crate::inputs::read_text(f, "")?)))
        .collect::<Result<Vec<_>>>()?;
    let named: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let net = interconnect::find(net).map_err(anyhow::Error::msg)?;
    let rows = validate::compare(&named, net, Calibration::embedded()?)?;
    let published_text = match published {
        Some(p) => crate::inputs::read_text(p, "")?,
        None => validate::CLUSTER_BENCHMARKS_CSV.to_string(),
    };
    let plans = validate::compare_published(&published_text)?;
    if json {
        return render::json(&serde_json::json!({
            "rows": rows,
            "published": plans,
        }));
    }
    let mut t = render::table(&[
        "hardware | model | quant | test",
        "engine",
        "published",
        "as local devices",
        "over the network",
        "error",
    ]);
    for r in &rows {
        t.add_row(vec![
            comfy_table::Cell::new(&r.what),
            comfy_table::Cell::new(&r.engine),
            render::right(format!("{:.2}", r.published)),
            render::right(format!("{:.2}", r.local)),
            render::right(format!("{:.2}", r.cluster)),
            render::right(format!("{:+.1}%", r.error() * 100.0)),
        ]);
    }
    if !rows.is_empty() {
        println!("tokens/s of published multi-node runs; network assumed: {} (the rows do not name theirs)\n{t}", net.name);
    }
    let mut t = render::table(&[
        "result (date)",
        "hardware · engine · model",
        "concurrency",
        "published tok/s",
        "canirun decode (range)",
        "error",
        "note",
    ]);
    for p in &plans {
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
        t.add_row(vec![
            comfy_table::Cell::new(format!("{} ({})", r.id, r.date)),
            comfy_table::Cell::new(format!(
                "{} · {} · {} {}",
                r.hardware, r.engine, r.model, r.quant
            )),
            comfy_table::Cell::new(&r.concurrency),
            render::right(format!("{:.2}", r.published_tok_s)),
            comfy_table::Cell::new(pred),
            render::right(err),
            comfy_table::Cell::new(note),
        ]);
    }
    println!(
        "published multi-node results (vLLM, SGLang, exo; sources in {}) vs canirun's cluster plans, one request on a short context\n{t}",
        published.map_or("crates/core/data/cluster_benchmarks.csv".to_string(), |p| p.display().to_string())
    );
    Ok(())
}
