//! `canirun models`: the embedded model catalog, filtered, and with `--fits`
//! what runs on the hardware (`canirun_core::search::models`).

use crate::args::SettingsArgs;
use crate::inputs::HardwareArgs;
use crate::render;
use anyhow::{anyhow, Result};
use canirun_core::search::models::{fits, list, parse_param_count, ModelFilter};
use clap::Args;
use comfy_table::Cell;

/// Arguments of `canirun models`.
#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// Only models whose id, name, family or Ollama tag contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Only this family (qwen, llama, gemma, mistral, deepseek-r1, gpt-oss, glm, …).
    #[arg(long)]
    pub family: Option<String>,
    /// Only this llama.cpp architecture (llama, qwen3moe, llama4, glm4moe, gpt-oss, …).
    #[arg(long)]
    pub arch: Option<String>,
    /// Only models with at least this many parameters (8B, 1.5B, 600M).
    #[arg(long = "min-params", value_name = "N")]
    pub min_params: Option<String>,
    /// Only models with at most this many parameters.
    #[arg(long = "max-params", value_name = "N")]
    pub max_params: Option<String>,
    /// Only models that run on the hardware (named with --gpu/--vram/--ram, or this machine), and how.
    #[arg(long)]
    pub fits: bool,
    #[command(flatten)]
    pub hardware: HardwareArgs,
}

/// List the catalog.
pub fn run(a: &ModelsArgs, json_out: bool) -> Result<()> {
    let size = |s: &Option<String>| -> Result<Option<u64>> {
        s.as_deref()
            .map(|v| {
                parse_param_count(v)
                    .ok_or_else(|| anyhow!("'{v}' is not a parameter count such as 8B"))
            })
            .transpose()
    };
    let f = ModelFilter {
        text: a.filter.clone(),
        family: a.family.clone(),
        arch: a.arch.clone(),
        min_params: size(&a.min_params)?,
        max_params: size(&a.max_params)?,
    };
    let rows = list(&f);
    if a.fits {
        let hw = a.hardware.target()?;
        let runs = fits(&rows, &hw, &SettingsArgs::default().settings_on(hw.backend));
        if json_out {
            return render::json(&serde_json::json!({"hardware": hw, "models": runs}));
        }
        let mut t = render::table(&[
            "model",
            "quant",
            "context",
            "how",
            "memory",
            "tok/s",
            "placement",
        ]);
        for r in &runs {
            let tps = r.decode_tps.map_or("–".into(), |x| format!("{x:.1}"));
            t.add_row(vec![
                Cell::new(&r.name),
                Cell::new(&r.quant),
                render::right(r.context),
                Cell::new(&r.how),
                render::right(r.memory),
                render::right(tps),
                Cell::new(&r.placement),
            ]);
        }
        println!("hardware: {}\n{t}\n{} of {} models run here (each at its default quantization, else the first smaller one that runs).", hw.description, runs.len(), rows.len());
        return Ok(());
    }
    if json_out {
        return render::json(&rows);
    }
    let mut t = render::table(&["id", "arch", "params", "context", "Ollama", "Hugging Face"]);
    for r in &rows {
        let e = r.entry;
        t.add_row(vec![
            Cell::new(&e.id),
            Cell::new(&e.arch),
            render::right(format!("{:.2}B", r.params as f64 / 1e9)),
            render::right(e.max_position_embeddings),
            Cell::new(e.ollama.join(", ")),
            Cell::new(&e.hf_repo),
        ]);
    }
    println!(
        "{t}\n{} models. Every shape and count has a source: canirun models --json",
        rows.len()
    );
    Ok(())
}
