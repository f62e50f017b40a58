//! `canirun validate …`: the subcommands, and `validate sizes`.
//! (cmd::run_validate dispatches to one file per comparison.)

use crate::render;
use anyhow::Result;
use canirun_core::validate::sizes;
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
        #[arg(long)]
        fit: bool,
    },
}

/// `validate sizes`: read the CSV, compare in the core, render.
pub fn sizes(file: &Path, json_out: bool) -> Result<()> {
    let text = crate::inputs::read_text(
        file,
        "; pass a CSV file such as ../shared/data/quant_file_sizes.csv",
    )?;
    let rep = sizes::validate(&text)?;
    if json_out {
        return render::print_json_report(&rep, &rep.summary);
    }
    let mut t = render::table(&[
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
        t.add_row(vec![
            render::right(r.line),
            comfy_table::Cell::new(&r.model),
            comfy_table::Cell::new(&r.quant),
            comfy_table::Cell::new(truncate(&r.source, 28)),
            render::right(format!("{:.3} GB", r.published_bytes / 1e9)),
            render::right(format!("{:.3} GB", r.predicted_bytes as f64 / 1e9)),
            render::right(format!("{:+.2}%", r.err_pct)),
            comfy_table::Cell::new(&r.interpreted_as),
        ]);
    }
    println!("{t}");
    for r in rep.rows.iter().filter(|r| r.unit_note.is_some()) {
        println!(
            "unit line {}: {}",
            r.line,
            r.unit_note.as_deref().unwrap_or_default()
        );
    }
    render::print_skipped(&rep.skipped);
    println!("{}", rep.summary.line());
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
