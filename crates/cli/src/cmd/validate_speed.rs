//! `canirun validate speed FILE.csv[,FILE2.csv…] [--test tg|pp] [--fit]`:
//! predicted vs published throughput, and the fit that produces the
//! calibration. Several files, separated by commas, are read one after the
//! other into one report (and one fit).

use crate::render;
use anyhow::{bail, Result};
use canirun_core::speed::benchmarks::{self, TestFilter};
use canirun_core::speed::{self, Calibration};
use std::path::Path;

/// The files named by the argument: one path, or several separated by commas.
fn read_all(arg: &Path) -> Result<Vec<(String, String)>> {
    let s = arg.to_string_lossy();
    let paths: Vec<&str> = if arg.exists() {
        vec![s.as_ref()]
    } else {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    };
    paths
        .iter()
        .map(|p| Ok((p.to_string(), read(Path::new(p))?)))
        .collect()
}

fn read(file: &Path) -> Result<String> {
    crate::inputs::read_text(file, "; pass a CSV with the columns of ../shared/data/benchmarks.csv (a copy is crates/core/data/benchmarks.csv)")
}

fn filter(test: Option<&str>) -> Result<Option<TestFilter>> {
    match test {
        None => Ok(None),
        Some(t) => match TestFilter::parse(t) {
            Some(f) => Ok(Some(f)),
            None => bail!("--test '{t}': use tg (generation rows) or pp (prompt rows)"),
        },
    }
}

/// Print predicted vs published for every row, the reason for every skipped
/// row, and the summary line last.
pub fn run(file: &Path, test: Option<&str>, json: bool) -> Result<()> {
    let files = read_all(file)?;
    let named: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let f = filter(test)?;
    let cal = Calibration::embedded()?;
    let rep = benchmarks::validate_files(&named, f, cal)?;
    if json {
        return render::print_json_report(&rep, &rep.summary);
    }
    let mut t = render::table(&[
        "line",
        "hardware | model | quant | test",
        "published",
        "predicted",
        "error",
        "interpreted as",
    ]);
    for r in &rep.rows {
        t.add_row(vec![
            render::right(r.line),
            comfy_table::Cell::new(&r.what),
            render::right(format!("{:.2}", r.published)),
            render::right(format!("{:.2}", r.predicted)),
            render::right(format!("{:+.1}%", r.err_pct)),
            comfy_table::Cell::new(&r.interpreted_as),
        ]);
    }
    println!(
        "tokens/s, canirun vs published (calibration: {})",
        cal.meta.command
    );
    println!("{t}");
    render::print_skipped(&rep.skipped);
    print_by_class(&rep.by_class);
    println!("{}", rep.summary.line());
    Ok(())
}

/// The residual tables: one per dimension, a line per group.
fn print_by_class(tables: &[benchmarks::ClassTable]) {
    println!(
        "residuals by class (error = (predicted − published) ÷ published; + = predicted too fast)"
    );
    let mut t = render::table(&[
        "dimension",
        "class",
        "rows",
        "median error",
        "median |error|",
        "p90 |error|",
    ]);
    for tab in tables {
        for (i, g) in tab.groups.iter().enumerate() {
            t.add_row(vec![
                comfy_table::Cell::new(if i == 0 { tab.dimension.as_str() } else { "" }),
                comfy_table::Cell::new(&g.class),
                render::right(g.rows),
                render::right(format!("{:+.1}%", g.median_err_pct)),
                render::right(format!("{:.1}%", g.median_abs_err_pct)),
                render::right(format!("{:.1}%", g.p90_abs_err_pct)),
            ]);
        }
    }
    println!("{t}");
}

/// Fit the calibration constants on `file` and print the new
/// `speed_calibration.toml` (to stdout; redirect it into
/// crates/core/data/speed_calibration.toml), then both validation summaries.
pub fn fit(file: &Path, json: bool) -> Result<()> {
    let files = read_all(file)?;
    let named: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let label = file.display().to_string();
    let (cal, unfitted) = benchmarks::refit(&named, &label, Calibration::embedded()?)?;
    if json {
        return render::json(&cal);
    }
    print!("{}", speed::to_toml(&cal, &unfitted));
    eprintln!("{}", cal.meta.tg_summary);
    eprintln!("{}", cal.meta.pp_summary);
    Ok(())
}
