//! `canirun table`: the guide's "VRAM requirements at a glance", computed.

use crate::args::SettingsArgs;
use crate::render;
use anyhow::Result;
use canirun_core::search::table::{table, table_of_models};
use clap::Args;
use serde_json::json;

/// Arguments of `canirun table`.
#[derive(Args, Debug)]
pub struct TableArgs {
    /// Quantizations to show (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "Q4_K_M,Q8_0")]
    pub quants: Vec<String>,
    /// Model family to tabulate.
    #[arg(long, default_value = "deepseek-r1")]
    pub family: String,
    /// Models to tabulate instead of a family (comma-separated catalog ids,
    /// Ollama tags or Hugging Face ids), in this order.
    #[arg(long, value_delimiter = ',', conflicts_with = "family")]
    pub models: Vec<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Build and print the table.
pub fn run(a: &TableArgs, json_out: bool) -> Result<()> {
    let s = a.settings.settings();
    let rows = if a.models.is_empty() {
        table(&a.family, &a.quants, &s, a.settings.mla_tensors)?
    } else {
        table_of_models(&a.models, &a.quants, &s, a.settings.mla_tensors)?
    };
    if json_out {
        render::json(
            &json!({"schema": canirun_core::pipeline::SCHEMA, "settings": s, "rows": rows}),
        )?;
        return Ok(());
    }
    println!(
        "VRAM requirements at a glance: llama.cpp, context {}, flash attention {:?}, cache {}/{}, {}",
        s.n_ctx, s.flash_attn, s.type_k, s.type_v, s.backend
    );
    let mut t = render::table(&[
        "model",
        "quant",
        "weights",
        "KV",
        "compute+out+overhead",
        "total",
        "smallest single GPU",
    ]);
    for r in &rows {
        let m = &r.memory;
        t.add_row(vec![
            comfy_table::Cell::new(r.ollama.as_ref().unwrap_or(&r.model)),
            comfy_table::Cell::new(&r.quant),
            render::right(m.weights),
            render::right(m.kv),
            render::right(m.compute + m.output + m.overhead),
            render::right(m.total),
            comfy_table::Cell::new(match (&r.smallest_single_gpu, &r.multi_gpu) {
                (Some(d), _) => d.clone(),
                (None, Some(f)) => format!("none; ≈ {f}"),
                (None, None) => "none".into(),
            }),
        ]);
    }
    println!("{t}");
    println!("Computed tensor by tensor; change the context with -c, the cache with -ctk/-ctv, the quants with --quants, the models with --models.");
    Ok(())
}
