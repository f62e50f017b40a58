//! `canirun hw`: hardware detection and the hardware catalog (issue 4).
//! (`canirun hw list | head` stops quietly: main restores SIGPIPE's default.)

use crate::render;
use anyhow::Context;
use canirun_core::hardware::{resolve, Catalog, Device};
use canirun_core::text::dash;
use canirun_core::units::{BytesPerSecond, UnitError};
use canirun_io::detect::{self, bandwidth, Detection};
use clap::{Args, Subcommand};

/// Arguments of `canirun hw`.
#[derive(Args, Debug)]
pub struct HwArgs {
    /// Measure this machine's memory bandwidth (a few seconds) and cache it.
    #[arg(long)]
    pub measure: bool,

    /// Override the detected GPUs with catalog names (repeatable): 4090, 2x3090, m3-ultra-512.
    #[arg(long = "gpu", value_name = "NAME")]
    pub gpu: Vec<String>,

    /// Override the detected RAM, e.g. 384GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::args::parse_size)]
    pub ram: Option<canirun_core::units::Bytes>,

    /// Override the CPU memory bandwidth, in GB/s (e.g. 460 for a 12-channel DDR5-4800 EPYC).
    #[arg(long, value_name = "GB/S", value_parser = parse_gbps)]
    pub bandwidth: Option<BytesPerSecond>,

    #[command(subcommand)]
    pub action: Option<HwAction>,
}

/// `canirun hw list | show`.
#[derive(Subcommand, Debug)]
pub enum HwAction {
    /// List the hardware catalog.
    List {
        /// Only entries whose id, name, vendor, kind or aliases contain every word.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Resolve a hardware name (`4090`, `2x4090`, `m3-ultra-512`) and show it with sources.
    Show {
        /// The name, as you would write it.
        #[arg(required = true, num_args = 1..)]
        name: Vec<String>,
    },
}

/// Run `canirun hw`.
pub fn run(args: &HwArgs, json: bool) -> anyhow::Result<()> {
    let catalog = Catalog::embedded().context("loading the embedded hardware catalog")?;
    match &args.action {
        Some(HwAction::List { filter }) => list(catalog, filter.as_deref(), json),
        Some(HwAction::Show { name }) => show(catalog, &name.join(" "), json),
        None if args.measure => measure(json),
        None => {
            let mut d = detect::detect_this_machine(catalog, bandwidth::cache_dir().as_deref());
            d.apply_overrides(catalog, &args.gpu, args.ram, args.bandwidth)?;
            print_detection(&d, json)
        }
    }
}

fn list(catalog: &Catalog, filter: Option<&str>, json: bool) -> anyhow::Result<()> {
    let devices: Vec<&Device> = match filter {
        Some(f) => catalog.filter(f),
        None => catalog.devices().iter().collect(),
    };
    if json {
        return render::json(&devices);
    }
    if devices.is_empty() {
        anyhow::bail!("no catalog entry matches '{}'", filter.unwrap_or_default());
    }
    let mut t = render::wrapped(["id", "name", "kind", "memory", "bandwidth", "FP16", "TDP"]);
    for d in &devices {
        t.add_row([
            d.id.clone(),
            d.name.clone(),
            d.kind.to_string(),
            d.memory_label(),
            dash(d.bandwidth),
            dash(d.fp16),
            dash(d.tdp),
        ]);
    }
    println!("{t}");
    println!(
        "{} entries. `canirun hw show NAME` prints one with its sources.",
        devices.len()
    );
    Ok(())
}

fn show(catalog: &Catalog, name: &str, json: bool) -> anyhow::Result<()> {
    let resolved = resolve(catalog, name)?;
    if json {
        return render::json(&resolved);
    }
    for r in &resolved {
        let d = &r.device;
        let mut t = render::wrapped([format!("{} × {}", r.count, d.name), d.id.clone()]);
        let rows = d.facts();
        for (k, v) in rows {
            t.add_row([k.to_string(), v]);
        }
        println!("{t}");
        for a in &r.assumptions {
            println!("assumed: {a}");
        }
    }
    Ok(())
}

fn parse_gbps(s: &str) -> Result<BytesPerSecond, UnitError> {
    BytesPerSecond::parse_gbps(s)
}

fn print_detection(d: &Detection, json: bool) -> anyhow::Result<()> {
    if json {
        return render::json(d);
    }
    for line in d.summary() {
        println!("{line}");
    }
    let mut t = render::wrapped(["what", "value", "source"]);
    for f in &d.facts {
        t.add_row([f.what.clone(), f.value.clone(), f.provenance.to_string()]);
    }
    println!("{t}");
    for n in d.notes.iter().filter(|n| n.as_str() != "no GPU found") {
        println!("note: {n}");
    }
    println!(
        "Wrong? Override with --gpu, --ram or --bandwidth. (detected in {:.0} ms)",
        d.elapsed_ms
    );
    Ok(())
}

fn measure(json: bool) -> anyhow::Result<()> {
    let cpu = detect::cpu::query();
    let cfg = bandwidth::ProbeConfig::for_machine(cpu.ram_available)?;
    let bar = indicatif::ProgressBar::new(1000);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("measuring memory bandwidth {bar:40} {percent}%")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let m = bandwidth::measure(cfg, &cpu.brand, &|f| bar.set_position((f * 1000.0) as u64));
    bar.finish_and_clear();
    let saved = bandwidth::cache_dir().map(|dir| bandwidth::save_cache(&dir, &m));
    if json {
        render::json(&m)?;
    } else {
        println!(
            "read {} · copy {} ({} threads, {:.0} MiB buffer, {:.1} s)",
            m.read_bandwidth(),
            m.copy_bandwidth(),
            m.threads,
            m.buffer_bytes as f64 / (1 << 20) as f64,
            m.seconds
        );
    }
    match saved {
        Some(Ok(path)) if !json => println!("cached in {}", path.display()),
        Some(Err(e)) => eprintln!("warning: {e}"),
        _ => {}
    }
    Ok(())
}
