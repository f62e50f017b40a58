//! The hardware an estimate is checked against: named (`--gpu`), given
//! (`--vram`/`--ram`) or, when nothing is said, detected on this machine.

use anyhow::{Context, Result};
use canirun_core::hardware::{metal_working_set, resolve_set, Catalog, Device, DeviceKind};
use canirun_core::memory::Backend;
use canirun_core::units::Bytes;
use canirun_io::detect::{self, bandwidth, GpuVendor};
use serde::Serialize;

/// Where the numbers of a target come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--vram`/`--ram` sizes.
    Given,
    /// `--gpu` names resolved in the hardware catalog.
    Named,
    /// Detected on this machine.
    Detected,
}

/// Memory to fit into.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// One line describing it.
    pub description: String,
    /// Where it came from.
    pub origin: Origin,
    /// Memory of each accelerator (GPU VRAM, or a Mac's Metal working set).
    pub gpus: Vec<Bytes>,
    /// Name of each accelerator (same order as `gpus`).
    pub gpu_names: Vec<String>,
    /// Catalog entry of each accelerator, when known (for speed).
    #[serde(skip)]
    pub devices: Vec<Option<Device>>,
    /// The CPU memory platform and its socket count, when named (`--gpu 2x epyc-9654-12ch-ddr5`).
    #[serde(skip)]
    pub host_device: Option<(Device, u32)>,
    /// Measured or given CPU memory bandwidth.
    pub host_bandwidth: Option<canirun_core::units::BytesPerSecond>,
    /// The link between devices when it is not the GPUs' PCIe (a network between Macs).
    #[serde(skip)]
    pub link: Option<canirun_core::units::BytesPerSecond>,
    /// System RAM that can hold offloaded layers.
    pub ram: Option<Bytes>,
    /// The backend the hardware implies.
    pub backend: Backend,
    /// What was assumed along the way.
    pub assumptions: Vec<String>,
}

/// Work out the target from the flags, or detect it.
pub fn target(gpu: &[String], vram: Option<Bytes>, ram: Option<Bytes>) -> Result<Target> {
    if let Some(v) = vram {
        return Ok(Target {
            description: format!(
                "given: {v} of GPU memory{}",
                ram.map(|r| format!(", {r} of RAM")).unwrap_or_default()
            ),
            origin: Origin::Given,
            gpus: vec![v],
            gpu_names: vec![format!("GPU with {v}")],
            devices: vec![None],
            host_device: None,
            host_bandwidth: None,
            link: None,
            ram,
            backend: Backend::Cuda,
            assumptions: vec![],
        });
    }
    let catalog = Catalog::embedded().context("loading the embedded hardware catalog")?;
    if !gpu.is_empty() {
        let set = resolve_set(catalog, gpu)?;
        let mut gpus = Vec::new();
        let mut gpu_names = Vec::new();
        let mut devices = Vec::new();
        let mut host_device = None;
        let mut names = Vec::new();
        let mut backend = Backend::Cuda;
        let mut ram_total = ram;
        let mut assumptions = set.assumptions.clone();
        for (d, n) in &set.devices {
            names.push(if *n > 1 {
                format!("{n}× {}", d.name)
            } else {
                d.name.clone()
            });
            match d.kind {
                DeviceKind::Gpu | DeviceKind::UnifiedSoc => {
                    let mem = d.usable_memory().with_context(|| {
                        format!("{} has no memory size in the catalog; give --vram", d.name)
                    })?;
                    for _ in 0..*n {
                        gpus.push(mem);
                        gpu_names.push(d.name.clone());
                        devices.push(Some(d.clone()));
                    }
                    backend = match d.vendor.as_str() {
                        "AMD" => Backend::Rocm,
                        "Intel" => Backend::Vulkan,
                        _ => Backend::Cuda,
                    };
                }
                DeviceKind::AppleSoc => {
                    let mem = d.usable_memory().with_context(|| {
                        format!(
                            "{} has no memory size; name it with one, e.g. m3-ultra-512",
                            d.name
                        )
                    })?;
                    let ws = metal_working_set(mem);
                    for _ in 0..*n {
                        gpus.push(ws);
                        gpu_names.push(format!("{} (Metal working set)", d.name));
                        devices.push(Some(d.clone()));
                    }
                    assumptions.push(format!(
                        "{}: GPU may use {ws} of {mem} ({})",
                        d.name,
                        canirun_core::hardware::METAL_WORKING_SET_SOURCE
                    ));
                    backend = Backend::Metal;
                    ram_total = ram_total.or(Some(mem.saturating_sub(ws)));
                }
                DeviceKind::CpuPlatform => {
                    host_device = Some((d.clone(), *n));
                    if gpus.is_empty() {
                        backend = Backend::Cpu;
                    }
                    if ram_total.is_none() {
                        ram_total = d.usable_memory();
                    }
                    if ram_total.is_none() {
                        anyhow::bail!(
                            "{} is a memory platform of any size; add --ram, e.g. --ram 384GiB",
                            d.name
                        );
                    }
                }
            }
        }
        return Ok(Target {
            description: format!("named: {}", names.join(" + ")),
            origin: Origin::Named,
            gpus,
            gpu_names,
            devices,
            host_device,
            host_bandwidth: None,
            link: None,
            ram: ram_total,
            backend,
            assumptions,
        });
    }
    if let Some(r) = ram {
        return Ok(Target {
            description: format!("given: {r} of RAM, no GPU"),
            origin: Origin::Given,
            gpus: vec![],
            gpu_names: vec![],
            devices: vec![],
            host_device: None,
            host_bandwidth: None,
            link: None,
            ram: Some(r),
            backend: Backend::Cpu,
            assumptions: vec![],
        });
    }
    let d = detect::detect_this_machine(catalog, bandwidth::cache_dir().as_deref());
    let mut gpus = Vec::new();
    let mut backend = Backend::Cpu;
    let mut names = Vec::new();
    let mut devices = Vec::new();
    for g in d.gpus.iter().filter(|g| !g.integrated) {
        if let Some(m) = g.memory_total {
            gpus.push(m);
            names.push(g.name.clone());
            devices.push(
                g.catalog_id
                    .as_deref()
                    .and_then(|id| catalog.get(id))
                    .cloned(),
            );
            backend = match g.vendor {
                GpuVendor::Nvidia => Backend::Cuda,
                GpuVendor::Amd => Backend::Rocm,
                GpuVendor::Intel => Backend::Vulkan,
                GpuVendor::Apple => Backend::Metal,
            };
        }
    }
    let mut ram = Some(d.cpu.ram_available);
    if let Some(a) = &d.apple {
        gpus = vec![a.working_set];
        names = vec![format!("{} (Metal working set)", a.chip)];
        devices = vec![None];
        backend = Backend::Metal;
        ram = Some(a.memory.saturating_sub(a.working_set));
    }
    let gpu_text = if names.is_empty() {
        "no GPU".to_string()
    } else {
        names.join(" + ")
    };
    Ok(Target {
        description: format!(
            "detected: {}, {} RAM available of {} ({})",
            gpu_text, d.cpu.ram_available, d.cpu.ram_total, d.cpu.brand
        ),
        origin: Origin::Detected,
        gpus,
        gpu_names: names.clone(),
        devices,
        host_device: None,
        host_bandwidth: d.cpu_bandwidth,
        link: None,
        ram,
        backend,
        assumptions: d.notes.clone(),
    })
}
