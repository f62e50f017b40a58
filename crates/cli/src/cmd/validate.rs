//! `canirun validate …`: predictions against published ground truth.

use crate::render;
use anyhow::{Context, Result};
use canirun_core::validate::sizes;
use clap::Subcommand;
use std::path::PathBuf;

/// What to validate.
#[derive(Subcommand, Debug)]
pub enum ValidateCmd {
    /// Predicted file sizes vs published ones (CSV with the columns of quant_file_sizes.csv).
    Sizes {
        /// The CSV file.
        file: PathBuf,
    },
}

/// Run a validation.
pub fn run(cmd: &ValidateCmd, json_out: bool) -> Result<()> {
    match cmd {
        ValidateCmd::Sizes { file } => {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!(
                    "cannot read {}; pass a CSV file such as ../shared/data/quant_file_sizes.csv",
                    file.display()
                )
            })?;
            let rep = sizes::validate(&text)?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&rep)?);
                println!("{}", rep.summary.line());
                return Ok(());
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
            for s in &rep.skipped {
                println!("skipped line {}: {}: {}", s.line, s.what, s.reason);
            }
            println!("{}", rep.summary.line());
            Ok(())
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
