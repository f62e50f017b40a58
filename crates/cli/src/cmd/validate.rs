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

/// Run a validation.
pub fn run(cmd: &ValidateCmd, json_out: bool) -> Result<()> {
    match cmd {
        ValidateCmd::Speed { file, test, fit } if *fit => {
            let _ = test;
            super::validate_speed::fit(file, json_out)
        }
        ValidateCmd::Speed { file, test, .. } => {
            super::validate_speed::run(file, test.as_deref(), json_out)
        }
        ValidateCmd::Fit {
            file,
            probes,
            fixtures,
        } => super::validate_fit::run(
            file,
            probes.as_deref(),
            &fixtures.clone().unwrap_or_else(default_fixture_dir),
            json_out,
        ),
        ValidateCmd::Power { file } => super::validate_power::run(file, json_out),
        ValidateCmd::LlamaCpp { file, fixtures } => llama_cpp(file, fixtures.as_deref(), json_out),
        ValidateCmd::Sizes { file } => {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!(
                    "cannot read {}; pass a CSV file such as ../shared/data/quant_file_sizes.csv",
                    file.display()
                )
            })?;
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
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// One compared llama.cpp run.
#[derive(Debug, serde::Serialize)]
struct BufferRow {
    fixture: String,
    settings: String,
    weights: (f64, f64),
    kv: (f64, f64),
    compute: (f64, f64),
    output: (f64, f64),
    /// CPU_REPACK copy (canirun, llama.cpp) when repack was on.
    repack: Option<(f64, f64)>,
    total: (f64, f64),
    weights_exact_to_byte: bool,
    ok: bool,
}

fn default_fixture_dir() -> PathBuf {
    std::env::var_os("CANIRUN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/canirun")))
        .unwrap_or_else(|| PathBuf::from(".cache/canirun"))
        .join("fixtures")
}

/// The index of column `name` in a CSV header, or an error naming the file.
pub(crate) fn column(h: &csv::StringRecord, file: &std::path::Path, name: &str) -> Result<usize> {
    h.iter()
        .position(|x| x == name)
        .with_context(|| format!("{} has no '{name}' column", file.display()))
}

/// Read a fixture GGUF (`DIR/NAME.gguf`, written by scripts/make_fixtures.py).
fn read_fixture(
    dir: &std::path::Path,
    name: &str,
) -> Result<(
    canirun_io::model_file::FileModel,
    canirun_io::gguf::GgufModelFile,
)> {
    let path = dir.join(format!("{name}.gguf"));
    let f = canirun_io::gguf::read_file(&path).with_context(|| {
        format!(
            "reading fixture {}; run scripts/make_fixtures.py --out {}",
            path.display(),
            dir.display()
        )
    })?;
    let fm = canirun_io::model_file::from_gguf(&f, name)?;
    Ok((fm, f))
}

/// The model of a fixture GGUF.
pub(crate) fn load_fixture(
    dir: &std::path::Path,
    name: &str,
) -> Result<canirun_io::model_file::FileModel> {
    Ok(read_fixture(dir, name)?.0)
}

/// `validate llama-cpp`: every measured server run against canirun's prediction
/// from the fixture's own header. Pass: weights and KV exact (llama.cpp prints
/// two decimals), compute within 5% or 16 MiB, total within 2%.
fn llama_cpp(
    file: &std::path::Path,
    fixtures: Option<&std::path::Path>,
    json_out: bool,
) -> Result<()> {
    use canirun_core::memory::{llama_cpp, Backend, FlashAttn, OutputRows, RunSettings};
    use canirun_core::validate::Summary;
    let dir = fixtures
        .map(PathBuf::from)
        .unwrap_or_else(default_fixture_dir);
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read {}; run scripts/llama_cpp_ground_truth.py first",
            file.display()
        )
    })?;
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let h = rdr.headers()?.clone();
    let col = |name: &str| column(&h, file, name);
    let (c_fix, c_tool, c_status) = (col("fixture")?, col("tool")?, col("status")?);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let mut total_errs = Vec::new();
    let mut refusals = Vec::new();
    let mut refusal_mismatch = 0usize;
    let mut loaded: std::collections::HashMap<
        String,
        (canirun_io::model_file::FileModel, u64, u64),
    > = Default::default();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i + 2;
        let get = |c: &str| -> Result<String> { Ok(rec.get(col(c)?).unwrap_or("").to_string()) };
        let fixture = rec.get(c_fix).unwrap_or("").to_string();
        // llama-server reserves one logit row per sequence; llama-fit-params
        // (the library default) one per token of the micro-batch.
        let (outputs, fit_params) = match rec.get(c_tool) {
            Some("server") => (OutputRows::PerSequence, false),
            Some("fit-params") => (OutputRows::PerToken, true),
            other => {
                skipped.push(format!(
                    "line {line}: {fixture}: measured with '{}', a program canirun does not model",
                    other.unwrap_or("?")
                ));
                continue;
            }
        };
        let repack = get("repack")? == "on";
        if !loaded.contains_key(&fixture) {
            let (fm, f) = read_fixture(&dir, &fixture)?;
            let part = &f.parts()[0];
            let data = part.header.tensor_bytes_total();
            let region = part.file_size.saturating_sub(part.header.data_offset);
            loaded.insert(fixture.clone(), (fm, data, region));
        }
        let (fm, data, region) = &loaded[&fixture];
        let num = |c: &str| -> Result<u64> {
            get(c)?
                .parse::<u64>()
                .with_context(|| format!("line {line}: {c} is not a number"))
        };
        if rec.get(c_status) != Some("ok") {
            // llama.cpp refused these settings: canirun must refuse them too.
            let s = RunSettings {
                n_ctx: num("n_ctx_requested")?,
                n_parallel: num("n_parallel").unwrap_or(1),
                flash_attn: FlashAttn::parse(&get("flash_attn")?).context("flash_attn")?,
                type_k: get("type_k")?.parse().map_err(anyhow::Error::msg)?,
                type_v: get("type_v")?.parse().map_err(anyhow::Error::msg)?,
                ..Default::default()
            };
            match llama_cpp::resolve_settings(&fm.spec, &s) {
                Err(e) => refusals.push(format!(
                    "line {line}: {fixture}: both refuse: llama.cpp '{}', canirun '{e}'",
                    get("notes")?
                )),
                Ok(_) => {
                    refusals.push(format!(
                        "line {line}: {fixture}: llama.cpp refused but canirun accepted ({})",
                        get("notes")?
                    ));
                    refusal_mismatch += 1;
                }
            }
            continue;
        }
        let s = RunSettings {
            n_ctx: num("n_ctx_requested")?,
            n_batch: num("n_batch")?,
            n_ubatch: num("n_ubatch")?,
            n_parallel: num("n_parallel")?,
            kv_unified: get("kv_unified")? == "true",
            flash_attn: FlashAttn::parse(&get("flash_attn")?).context("flash_attn")?,
            type_k: get("type_k")?.parse().map_err(anyhow::Error::msg)?,
            type_v: get("type_v")?.parse().map_err(anyhow::Error::msg)?,
            backend: Backend::Cpu,
            outputs,
            ..Default::default()
        };
        let b = llama_cpp::estimate(&fm.spec, &fm.weights, &s)?;
        let mib = |c: &str| -> Result<f64> {
            get(c)?
                .parse::<f64>()
                .with_context(|| format!("line {line}: {c}"))
        };
        // fit-params prints the model in whole MiB (truncated).
        let ours_weights = if fit_params {
            b.weights.bytes.as_mib().floor()
        } else {
            b.weights.bytes.as_mib()
        };
        let weights = (ours_weights, mib("model_MiB")?);
        let kv = (b.kv.bytes.as_mib(), mib("kv_MiB")?);
        let compute = (b.compute.bytes.as_mib(), mib("compute_MiB")?);
        let output = (b.output.bytes.as_mib(), mib("output_MiB")?);
        // With repack on, llama.cpp keeps the mapped file and adds a CPU_REPACK copy.
        let repack_pair = if repack {
            (
                llama_cpp::cpu_repack_bytes(&fm.weights).as_mib(),
                mib("repack_MiB")?,
            )
        } else {
            (0.0, 0.0)
        };
        let ours = weights.0 + kv.0 + compute.0 + output.0 + repack_pair.0;
        let theirs = weights.1 + kv.1 + compute.1 + output.1 + repack_pair.1;
        let total = (ours, theirs);
        let close = |p: (f64, f64)| (p.0 - p.1).abs() <= 0.006;
        let ok = close(weights)
            && close(kv)
            && close(repack_pair)
            && (compute.0 - compute.1).abs() <= (0.05 * compute.1).max(16.0)
            && (total.0 - total.1).abs() <= 0.02 * total.1;
        total_errs.push((ours - theirs) / theirs * 100.0);
        rows.push(BufferRow {
            fixture: fixture.clone(),
            settings: format!(
                "{} -c {} -np {}{} -ub {} -fa {} -ctk {} -ctv {}{}",
                if fit_params {
                    "llama-fit-params"
                } else {
                    "llama-server"
                },
                s.n_ctx,
                s.n_parallel,
                if s.kv_unified { " -kvu" } else { "" },
                s.n_ubatch,
                get("flash_attn")?,
                get("type_k")?,
                get("type_v")?,
                if repack { "" } else { " --no-repack" }
            ),
            weights,
            repack: repack.then_some(repack_pair),
            kv,
            compute,
            output,
            total,
            weights_exact_to_byte: *data == *region && b.weights.bytes.0 == *data,
            ok,
        });
    }
    let summary = Summary::of(&total_errs, skipped.len());
    let failed = rows.iter().filter(|r| !r.ok).count();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"rows": rows, "skipped": skipped, "refusals": refusals, "failed": failed})
            )?
        );
    } else {
        let mut t = render::table(&[
            "fixture",
            "settings",
            "weights MiB",
            "KV MiB",
            "compute MiB",
            "output MiB",
            "repack MiB",
            "total MiB",
            "ok",
        ]);
        let pair = |p: (f64, f64)| format!("{:.2} / {:.2}", p.0, p.1);
        for r in &rows {
            t.add_row(vec![
                comfy_table::Cell::new(&r.fixture),
                comfy_table::Cell::new(&r.settings),
                render::right(format!(
                    "{}{}",
                    pair(r.weights),
                    if r.weights_exact_to_byte { " =B" } else { "" }
                )),
                render::right(pair(r.kv)),
                render::right(pair(r.compute)),
                render::right(pair(r.output)),
                render::right(r.repack.map(pair).unwrap_or_else(|| "–".into())),
                render::right(pair(r.total)),
                comfy_table::Cell::new(if r.ok { "ok" } else { "FAIL" }),
            ]);
        }
        println!("canirun / llama.cpp (CPU backend); =B: header tensor bytes equal the file's data region to the byte");
        println!("{t}");
        for s in &skipped {
            println!("skipped {s}");
        }
        for r in &refusals {
            println!("refused {r}");
        }
        println!("pass: weights, KV and CPU_REPACK exact (2 decimals; fit-params prints whole MiB), compute within 5% or 16 MiB, total within 2%: {} of {} rows", rows.len() - failed, rows.len());
    }
    println!("{}", summary.line());
    if failed > 0 || refusal_mismatch > 0 {
        anyhow::bail!("{failed} rows outside the tolerances, {refusal_mismatch} settings llama.cpp refused but canirun accepted");
    }
    Ok(())
}
