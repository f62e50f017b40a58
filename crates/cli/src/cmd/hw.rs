//! `canirun hw`: hardware detection and the hardware catalog (issue 4).
use anyhow::Context;
use canirun_core::hardware::{resolve, Catalog, Device};
use canirun_io::detect::{self, bandwidth, Detection, Provenance};
use clap::{Args, Subcommand};
/// `println!` that stops quietly when stdout is closed (`canirun hw list | head`)
/// instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        match writeln!(std::io::stdout(), $($t)*) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r?,
        }
    }};
}

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

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
    pub bandwidth: Option<f64>,

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
            d.apply_overrides(
                catalog,
                &args.gpu,
                args.ram,
                args.bandwidth
                    .map(canirun_core::units::BytesPerSecond::gbps),
            )?;
            print_detection(&d, json)
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "–".into())
}

fn mem(d: &Device) -> String {
    match (d.memory, d.memory_max) {
        (Some(m), _) => format!("{:.0} GB", m.as_gib()),
        (None, Some(m)) => format!("≤{:.0} GB", m.as_gib()),
        _ => "–".into(),
    }
}

fn list(catalog: &Catalog, filter: Option<&str>, json: bool) -> anyhow::Result<()> {
    let devices: Vec<&Device> = match filter {
        Some(f) => catalog.filter(f),
        None => catalog.devices().iter().collect(),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&devices)?);
        return Ok(());
    }
    if devices.is_empty() {
        anyhow::bail!("no catalog entry matches '{}'", filter.unwrap_or_default());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if t.width().is_none() {
        t.set_width(120);
    }
    t.set_header(["id", "name", "kind", "memory", "bandwidth", "FP16", "TDP"]);
    for d in &devices {
        t.add_row([
            d.id.clone(),
            d.name.clone(),
            d.kind.to_string(),
            mem(d),
            opt(d.bandwidth),
            opt(d.fp16),
            opt(d.tdp),
        ]);
    }
    outln!("{t}");
    outln!(
        "{} entries. `canirun hw show NAME` prints one with its sources.",
        devices.len()
    );
    Ok(())
}

fn show(catalog: &Catalog, name: &str, json: bool) -> anyhow::Result<()> {
    let resolved = resolve(catalog, name)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&resolved)?);
        return Ok(());
    }
    for r in &resolved {
        let d = &r.device;
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        if t.width().is_none() {
            t.set_width(120);
        }
        t.set_header([format!("{} × {}", r.count, d.name), d.id.clone()]);
        let ic = &d.interconnect;
        let rows: Vec<(&str, String)> = vec![
            ("vendor / kind", format!("{} / {}", d.vendor, d.kind)),
            ("memory", mem(d)),
            ("memory type", opt(d.memory_type.as_deref())),
            ("bandwidth", opt(d.bandwidth)),
            ("FP16 tensor (dense)", opt(d.fp16)),
            ("BF16 tensor (dense)", opt(d.bf16)),
            ("FP8 tensor (dense)", opt(d.fp8)),
            ("TDP", opt(d.tdp)),
            ("launch price", opt(d.price_note.as_deref())),
            ("bus", opt(ic.bus.as_deref())),
            ("PCIe bandwidth", opt(ic.pcie_bandwidth())),
            (
                "NVLink / fabric",
                opt(ic.nvlink).to_string()
                    + &ic
                        .fabric
                        .as_deref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default(),
            ),
            ("GPU cores", opt(d.gpu_cores)),
            ("CPU vector compute", opt(d.cpu.as_ref().map(|c| c.basis()))),
            (
                "sources: CPU FLOP/cycle",
                opt(d.cpu.as_ref().map(|c| c.source.clone())),
            ),
            ("aliases", d.aliases.join(", ")),
            ("sources", d.sources.row.clone()),
            ("sources: BF16/FP8", opt(d.sources.flops.as_deref())),
            ("sources: links", opt(d.sources.interconnect.as_deref())),
            ("sources: platform", opt(d.sources.platform.as_deref())),
            ("notes", opt(d.notes.as_deref())),
        ];
        for (k, v) in rows {
            t.add_row([k.to_string(), v]);
        }
        outln!("{t}");
        for a in &r.assumptions {
            outln!("assumed: {a}");
        }
    }
    Ok(())
}

fn parse_gbps(s: &str) -> Result<f64, String> {
    let t = s
        .trim()
        .trim_end_matches("GB/s")
        .trim_end_matches("gb/s")
        .trim();
    match t.parse::<f64>() {
        Ok(v) if v > 0.0 && v < 100_000.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a bandwidth; give GB/s between 0 and 100000, e.g. 460"
        )),
    }
}

fn provenance(p: &Provenance) -> String {
    match p {
        Provenance::Detected(by) => format!("detected ({by})"),
        Provenance::Catalog(id) => format!("catalog ({id})"),
        Provenance::Measured(how) => format!("measured ({how})"),
        Provenance::Assumed(why) => format!("assumed: {why}"),
        Provenance::Unknown(hint) => format!("unknown: {hint}"),
        Provenance::Given(flag) => format!("given ({flag})"),
    }
}

fn print_detection(d: &Detection, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(d)?);
        return Ok(());
    }
    outln!(
        "CPU: {} ({}), {} logical cores{}",
        d.cpu.brand,
        d.cpu.arch,
        d.cpu.logical_cores,
        d.cpu
            .physical_cores
            .map(|p| format!(", {p} physical"))
            .unwrap_or_default()
    );
    outln!(
        "RAM: {:.1} GiB total, {:.1} GiB available",
        d.cpu.ram_total.as_gib(),
        d.cpu.ram_available.as_gib()
    );
    if d.gpus.is_empty() {
        outln!("GPU: no GPU found");
    }
    for (i, g) in d.gpus.iter().enumerate() {
        outln!(
            "GPU {i}: {}{}{}{}",
            g.name,
            g.memory_total
                .map(|m| format!(", {:.1} GiB", m.as_gib()))
                .unwrap_or_default(),
            if g.integrated { ", integrated" } else { "" },
            g.catalog_id
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default()
        );
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    if t.width().is_none() {
        t.set_width(120);
    }
    t.set_header(["what", "value", "source"]);
    for f in &d.facts {
        t.add_row([f.what.clone(), f.value.clone(), provenance(&f.provenance)]);
    }
    outln!("{t}");
    for n in d.notes.iter().filter(|n| n.as_str() != "no GPU found") {
        outln!("note: {n}");
    }
    outln!(
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
        outln!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        outln!(
            "read {} · copy {} ({} threads, {:.0} MiB buffer, {:.1} s)",
            m.read_bandwidth(),
            m.copy_bandwidth(),
            m.threads,
            m.buffer_bytes as f64 / (1 << 20) as f64,
            m.seconds
        );
    }
    match saved {
        Some(Ok(path)) if !json => outln!("cached in {}", path.display()),
        Some(Err(e)) => eprintln!("warning: {e}"),
        _ => {}
    }
    Ok(())
}
