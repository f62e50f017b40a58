//! `canirun validate cluster FILE…`: published multi-node rows vs the
//! cluster speed model (core::cluster::validate).

use crate::render;
use anyhow::Result;
use canirun_core::cluster::{interconnect, validate};
use canirun_core::speed::Calibration;
use std::path::PathBuf;

/// Print published, local (validate speed's reading) and cluster predictions.
pub fn run(files: &[PathBuf], net: &str, json: bool) -> Result<()> {
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
    if json {
        return render::json(&rows);
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
    println!("tokens/s of published multi-node runs; network assumed: {} (the rows do not name theirs)\n{t}", net.name);
    Ok(())
}
