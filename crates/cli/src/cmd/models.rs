//! `canirun models`: the embedded model catalog.

use crate::render;
use anyhow::Result;
use canirun_core::model::{catalog, tensors::param_counts};
use clap::Args;
use serde_json::json;

/// Arguments of `canirun models`.
#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// Only models whose id, name or family contains this text.
    #[arg(long)]
    pub filter: Option<String>,
}

/// List the catalog.
pub fn run(a: &ModelsArgs, json_out: bool) -> Result<()> {
    let f = a.filter.as_deref().map(str::to_ascii_lowercase);
    let entries: Vec<_> = catalog()
        .iter()
        .filter(|e| {
            f.as_ref().is_none_or(|f| {
                e.id.contains(f.as_str())
                    || e.name.to_ascii_lowercase().contains(f.as_str())
                    || e.family.contains(f.as_str())
            })
        })
        .collect();
    if json_out {
        let v: Vec<_> = entries
            .iter()
            .map(|e| {
                let c = param_counts(&e.spec());
                json!({"id": e.id, "name": e.name, "family": e.family, "arch": e.arch,
                       "hf_repo": e.hf_repo, "ollama": e.ollama, "aliases": e.aliases,
                       "params": c.main, "params_with_mtp": c.checkpoint,
                       "context": e.max_position_embeddings,
                       "params_source": e.params_source, "config_source": e.config_source(),
                       "unconfirmed": e.unconfirmed})
            })
            .collect();
        return render::json(&v);
    }
    let mut t = render::table(&["id", "arch", "params", "context", "Ollama", "Hugging Face"]);
    for e in &entries {
        let c = param_counts(&e.spec());
        t.add_row(vec![
            comfy_table::Cell::new(&e.id),
            comfy_table::Cell::new(&e.arch),
            render::right(format!("{:.2}B", c.main as f64 / 1e9)),
            render::right(e.max_position_embeddings),
            comfy_table::Cell::new(e.ollama.join(", ")),
            comfy_table::Cell::new(&e.hf_repo),
        ]);
    }
    println!("{t}");
    println!(
        "{} models. Every shape and count has a source: canirun models --json",
        entries.len()
    );
    Ok(())
}
