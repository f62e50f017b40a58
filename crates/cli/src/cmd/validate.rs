//! `canirun validate …`: read the ground-truth files (`canirun_io::files`),
//! compare in the core (`core::validate`, `core::speed::benchmarks`,
//! `core::cluster::validate`), print the core's text (`core::text::validate`)
//! or JSON.

use crate::render;
use anyhow::{bail, Context, Result};
use canirun_core::cluster::{interconnect, validate as cluster};
use canirun_core::cost::PowerModel;
use canirun_core::hardware::Catalog;
use canirun_core::speed::benchmarks::{self, TestFilter};
use canirun_core::speed::{self, Calibration};
use canirun_core::text::validate as text;
use canirun_core::validate::{fit, llama_cpp, power, sizes};
use canirun_io::files::{read_list, read_text};
use canirun_io::fixtures;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// What to validate.
#[derive(Subcommand, Debug)]
pub enum ValidateCmd {
    /// Predicted file sizes vs published ones (CSV with the columns of quant_file_sizes.csv).
    Sizes {
        /// The CSV file.
        file: PathBuf,
    },
    /// Predicted buffers vs what a real llama.cpp reported on the fixtures
    /// (CSV written by scripts/llama_cpp_ground_truth.py).
    #[command(name = "llama-cpp")]
    LlamaCpp {
        /// The measurements CSV.
        file: PathBuf,
        /// Folder with the fixture GGUFs (default: $CANIRUN_CACHE/fixtures or ~/.cache/canirun/fixtures).
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
    /// canirun's automatic fit vs llama-fit-params's decisions under the same
    /// imposed free memory (crates/core/data/llama_fit_params_rpc.csv).
    Fit {
        /// The decisions CSV.
        file: PathBuf,
        /// Also compare every projection llama.cpp made during the search
        /// (crates/core/data/llama_fit_params_probes.csv).
        #[arg(long)]
        probes: Option<PathBuf>,
        /// Folder with the fixture GGUFs (default: $CANIRUN_CACHE/fixtures or ~/.cache/canirun/fixtures).
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
    /// Predicted energy per token vs the whole-system rows of power.csv.
    Power {
        /// The CSV file (columns of ../shared/data/power.csv; a copy is crates/core/data/power.csv).
        file: PathBuf,
    },
    /// Published multi-node runs (llama.cpp RPC, exo, multi-node vLLM/SGLang) vs the cluster plans' speed model.
    Cluster {
        /// Benchmark CSVs (columns of benchmarks.csv).
        files: Vec<PathBuf>,
        /// The network assumed between the hosts.
        #[arg(long, default_value = "5gbe")]
        interconnect: String,
        /// Published multi-node results with what each measured (columns of
        /// crates/core/data/cluster_benchmarks.csv; default: that file, embedded).
        #[arg(long)]
        published: Option<PathBuf>,
    },
    /// Predicted tokens/s vs published benchmarks (CSV with the columns of benchmarks.csv).
    Speed {
        /// The CSV file.
        file: PathBuf,
        /// Keep only generation (tg) or prompt (pp) rows.
        #[arg(long, value_name = "tg|pp")]
        test: Option<String>,
        /// Refit the calibration constants and print the new speed_calibration.toml.
        #[arg(long, conflicts_with = "explain")]
        fit: bool,
        /// Print how the row at this CSV line was read and every term of its
        /// prediction (e.g. --explain 435).
        #[arg(long, value_name = "LINE")]
        explain: Option<usize>,
    },
}

/// Run a validation.
pub fn run(cmd: &ValidateCmd, json: bool) -> Result<()> {
    match cmd {
        ValidateCmd::Speed {
            file, fit: true, ..
        } => speed_fit(file, json),
        ValidateCmd::Speed {
            file,
            explain: Some(line),
            ..
        } => speed_explain(file, *line, json),
        ValidateCmd::Speed { file, test, .. } => speed(file, test.as_deref(), json),
        ValidateCmd::Fit {
            file,
            probes,
            fixtures,
        } => fit(file, probes.as_deref(), fixtures.as_deref(), json),
        ValidateCmd::Power { file } => power(file, json),
        ValidateCmd::LlamaCpp { file, fixtures } => llama_cpp(file, fixtures.as_deref(), json),
        ValidateCmd::Sizes { file } => sizes(file, json),
        ValidateCmd::Cluster {
            files,
            interconnect,
            published,
        } => cluster(files, interconnect, published.as_deref(), json),
    }
}

/// `validate sizes`: predicted vs published file sizes.
fn sizes(file: &Path, json: bool) -> Result<()> {
    let hint = "; pass a CSV file such as ../shared/data/quant_file_sizes.csv";
    let rep = sizes::validate(&read_text(file, hint)?)?;
    if json {
        return render::print_json_report(&rep, &rep.summary);
    }
    render::text(&text::sizes(&rep));
    Ok(())
}

const BENCHMARKS_HINT: &str = "; pass a CSV with the columns of ../shared/data/benchmarks.csv (a copy is crates/core/data/benchmarks.csv)";

/// `validate speed FILE[,FILE…]`: predicted vs published tokens/s, several
/// files read one after the other into one report.
fn speed(file: &Path, test: Option<&str>, json: bool) -> Result<()> {
    let files = read_list(file, BENCHMARKS_HINT)?;
    let named: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let f = match test {
        None => None,
        Some(t) => match TestFilter::parse(t) {
            Some(f) => Some(f),
            None => bail!("--test '{t}': use tg (generation rows) or pp (prompt rows)"),
        },
    };
    let cal = Calibration::embedded()?;
    let rep = benchmarks::validate_files(&named, f, cal)?;
    if json {
        // Standard output holds the JSON alone (its `summary` object); the
        // closing line goes to standard error for whoever reads along.
        eprintln!("{}", rep.summary.line());
        return render::json(&rep);
    }
    render::text(&text::speed(&rep, &cal.meta.command));
    Ok(())
}

/// `validate speed --explain LINE`: the terms behind one row's prediction.
fn speed_explain(file: &Path, line: usize, json: bool) -> Result<()> {
    let files = read_list(file, BENCHMARKS_HINT)?;
    let named: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let (rows, not) = benchmarks::explain_line(&named, line, Calibration::embedded()?)?;
    if json {
        return render::json(&serde_json::json!({ "rows": rows, "skipped": not }));
    }
    render::text(&text::speed_explain(&rows, &not, line));
    if rows.is_empty() && not.is_empty() {
        bail!("no benchmark row at line {line} of {}", file.display());
    }
    Ok(())
}

/// `validate speed --fit`: the new `speed_calibration.toml` on standard
/// output (redirect it into crates/core/data/), both summaries on standard error.
fn speed_fit(file: &Path, json: bool) -> Result<()> {
    let files = read_list(file, BENCHMARKS_HINT)?;
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

/// `validate power`: energy per token against power.csv's whole-system rows.
fn power(file: &Path, json: bool) -> Result<()> {
    let csv = read_text(file, "; pass a CSV with the columns of ../shared/data/power.csv (a copy is crates/core/data/power.csv)")?;
    let (pm, cal) = (PowerModel::embedded()?, Calibration::embedded()?);
    let cat = Catalog::embedded().context("loading the embedded hardware catalog")?;
    let rep = power::validate(&csv, pm, cal, cat).with_context(|| file.display().to_string())?;
    if json {
        return render::print_json_report(&rep, &rep.summary);
    }
    render::text(&text::power(&rep));
    Ok(())
}

/// `validate fit`; fails when a decision differs without a projection that
/// explains it.
fn fit(file: &Path, probes: Option<&Path>, fixtures: Option<&Path>, json: bool) -> Result<()> {
    let dir = fixtures.map_or_else(fixtures::default_dir, Path::to_path_buf);
    let hint = "; crates/core/data/llama_fit_params_rpc.csv holds the measured decisions";
    let decisions = read_text(file, hint)?;
    let probes_text = probes.map(|p| read_text(p, "")).transpose()?;
    let rep = fit::validate(&decisions, probes_text.as_deref(), |name| {
        Ok(fixtures::read(&dir, name)?)
    })
    .with_context(|| file.display().to_string())?;
    if json {
        render::json(&rep)?;
    } else {
        render::text(&text::fit(&rep));
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

/// `validate llama-cpp`; fails when a row is outside the tolerances or
/// canirun accepts settings llama.cpp refused.
fn llama_cpp(file: &Path, fixtures: Option<&Path>, json: bool) -> Result<()> {
    let dir = fixtures.map_or_else(fixtures::default_dir, Path::to_path_buf);
    let csv = read_text(file, "; run scripts/llama_cpp_ground_truth.py first")?;
    let rep = llama_cpp::validate(&csv, |name| Ok(fixtures::read(&dir, name)?))
        .with_context(|| file.display().to_string())?;
    let failed = rep.failed();
    if json {
        let skipped: Vec<String> = rep.skipped.iter().map(|s| s.to_string()).collect();
        let refusals: Vec<String> = rep.refusals.iter().map(|r| r.message()).collect();
        render::json(&serde_json::json!({
            "rows": rep.rows,
            "skipped": skipped,
            "refusals": refusals,
            "failed": failed
        }))?;
    } else {
        render::text(&text::llama_cpp(&rep));
    }
    println!("{}", rep.summary.line());
    let refusal_mismatch = rep.refusal_mismatches();
    if failed > 0 || refusal_mismatch > 0 {
        bail!("{failed} rows outside the tolerances, {refusal_mismatch} settings llama.cpp refused but canirun accepted");
    }
    Ok(())
}

/// `validate cluster`: published multi-node rows vs the cluster speed model.
fn cluster(files: &[PathBuf], net: &str, published: Option<&Path>, json: bool) -> Result<()> {
    let texts = files
        .iter()
        .map(|f| Ok((f.display().to_string(), read_text(f, "")?)))
        .collect::<Result<Vec<_>>>()?;
    let named: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let net = interconnect::find(net).map_err(anyhow::Error::msg)?;
    let rows = cluster::compare(&named, net, Calibration::embedded()?)?;
    let published_text = match published {
        Some(p) => read_text(p, "")?,
        None => cluster::CLUSTER_BENCHMARKS_CSV.to_string(),
    };
    let plans = cluster::compare_published(&published_text)?;
    if json {
        return render::json(&serde_json::json!({ "rows": rows, "published": plans }));
    }
    let file = published.map_or(text::CLUSTER_BENCHMARKS_FILE.to_string(), |p| {
        p.display().to_string()
    });
    render::text(&text::cluster(&rows, &net.name, &plans, &file));
    Ok(())
}
