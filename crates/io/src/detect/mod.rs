//! Detection of the machine canirun runs on.
//!
//! Each detector is split in two: a thin reader of the world (NVML, sysfs,
//! `sysctl`, sysinfo) and a pure function over what it read, so the logic is
//! tested on recorded fixtures. [`assemble`] joins the readings, matches each
//! device against the catalog and records, for every figure, whether it was
//! detected, taken from the catalog, measured, or assumed.

pub mod amd_sysfs;
pub mod apple;
pub mod bandwidth;
pub mod cpu;
pub mod nvml;
pub mod quick_probe;
mod target;
pub use target::{
    chosen as chosen_target, named as named_target, this_machine as this_machine_target,
};

use canirun_core::hardware::{resolve, Catalog, ResolveError};
use canirun_core::units::{Bytes, BytesPerSecond};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// GPU vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuVendor {
    /// NVIDIA (PCI vendor 0x10de).
    Nvidia,
    /// AMD (PCI vendor 0x1002).
    Amd,
    /// Intel (PCI vendor 0x8086).
    Intel,
    /// Apple Silicon GPU.
    Apple,
}

/// A GPU found on this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedGpu {
    /// Vendor.
    pub vendor: GpuVendor,
    /// Name as the driver reports it.
    pub name: String,
    /// Memory the GPU can use: VRAM, or for Apple the Metal working-set limit.
    pub memory_total: Option<Bytes>,
    /// Memory free now, when the driver says.
    pub memory_free: Option<Bytes>,
    /// Integrated GPU sharing system memory.
    pub integrated: bool,
    /// PCI bus id or sysfs card name.
    pub location: Option<String>,
    /// How it was found: `nvml`, `sysfs`, `sysctl`.
    pub detected_by: String,
    /// Catalog entry it matched, if any.
    pub catalog_id: Option<String>,
    /// Memory bandwidth from the catalog entry.
    pub bandwidth: Option<BytesPerSecond>,
}

/// CPU and system memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuInfo {
    /// Brand string, e.g. `AMD EPYC 9654 96-Core Processor`.
    pub brand: String,
    /// Architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// Logical CPUs.
    pub logical_cores: usize,
    /// Physical cores, when known.
    pub physical_cores: Option<usize>,
    /// Total RAM.
    pub ram_total: Bytes,
    /// RAM available now.
    pub ram_available: Bytes,
}

/// Where a figure came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "lowercase")]
pub enum Provenance {
    /// Read from the machine (NVML, sysfs, sysctl, sysinfo).
    Detected(String),
    /// Taken from the catalog entry named.
    Catalog(String),
    /// Measured by `canirun hw --measure`.
    Measured(String),
    /// Not known; a default was used, with the reason.
    Assumed(String),
    /// Given by the user on the command line (overrides detection).
    Given(String),
    /// Not known and not assumed.
    Unknown(String),
}

impl Detection {
    /// One line for the CPU, one for the RAM, one per GPU (or that there is none).
    pub fn summary(&self) -> Vec<String> {
        let c = &self.cpu;
        let physical = c.physical_cores.map(|p| format!(", {p} physical"));
        let mut lines = vec![
            format!(
                "CPU: {} ({}), {} logical cores{}",
                c.brand,
                c.arch,
                c.logical_cores,
                physical.unwrap_or_default()
            ),
            format!(
                "RAM: {:.1} GiB total, {:.1} GiB available",
                c.ram_total.as_gib(),
                c.ram_available.as_gib()
            ),
        ];
        if self.gpus.is_empty() {
            lines.push("GPU: no GPU found".into());
        }
        for (i, g) in self.gpus.iter().enumerate() {
            let memory = g.memory_total.map(|m| format!(", {:.1} GiB", m.as_gib()));
            let catalog = g.catalog_id.as_deref().map(|c| format!(" [{c}]"));
            lines.push(format!(
                "GPU {i}: {}{}{}{}",
                g.name,
                memory.unwrap_or_default(),
                if g.integrated { ", integrated" } else { "" },
                catalog.unwrap_or_default()
            ));
        }
        lines
    }
}

impl std::fmt::Display for Provenance {
    /// How the figure was obtained, as the detection table prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::Detected(by) => write!(f, "detected ({by})"),
            Provenance::Catalog(id) => write!(f, "catalog ({id})"),
            Provenance::Measured(how) => write!(f, "measured ({how})"),
            Provenance::Assumed(why) => write!(f, "assumed: {why}"),
            Provenance::Unknown(hint) => write!(f, "unknown: {hint}"),
            Provenance::Given(flag) => write!(f, "given ({flag})"),
        }
    }
}

/// One figure and its provenance, for the "detected vs assumed" table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    /// What the figure is (`RAM total`, `GPU 0 bandwidth`).
    pub what: String,
    /// The value, formatted.
    pub value: String,
    /// Where it came from.
    pub provenance: Provenance,
}

/// Everything detected about this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// CPU and RAM.
    pub cpu: CpuInfo,
    /// GPUs, discrete first.
    pub gpus: Vec<DetectedGpu>,
    /// Apple Silicon details, on a Mac.
    pub apple: Option<apple::AppleInfo>,
    /// Memory bandwidth of the CPU side, if known.
    pub cpu_bandwidth: Option<BytesPerSecond>,
    /// Each figure with its provenance.
    pub facts: Vec<Fact>,
    /// Things worth telling the user (e.g. an NVIDIA card without a driver).
    pub notes: Vec<String>,
    /// How long detection took, in milliseconds.
    pub elapsed_ms: f64,
}

/// What the readers gathered; every field can come from a fixture.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// CPU and RAM (sysinfo).
    pub cpu: CpuInfo,
    /// NVML devices; empty when NVML is absent.
    pub nvml: Vec<nvml::NvmlGpu>,
    /// Why NVML could not be used, if it could not.
    pub nvml_unavailable: Option<String>,
    /// GPUs found in sysfs (AMD, Intel, and NVIDIA cards seen without NVML).
    pub sysfs: Vec<amd_sysfs::SysfsGpu>,
    /// `sysctl` output on a Mac.
    pub sysctl: Option<String>,
    /// `system_profiler SPDisplaysDataType` output on a Mac.
    pub system_profiler: Option<String>,
    /// A cached bandwidth measurement.
    pub measured: Option<bandwidth::Measurement>,
}

fn gb(b: Bytes) -> String {
    format!("{:.1} GiB", b.as_gib())
}

/// Match a detected GPU against the catalog by its name and memory size.
fn match_catalog(
    catalog: &Catalog,
    name: &str,
    memory: Option<Bytes>,
) -> Option<canirun_core::hardware::Device> {
    let with_mem = memory.map(|m| format!("{name} {:.0}GB", m.as_gib()));
    with_mem
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(name))
        .find_map(|n| resolve(catalog, n).ok())
        .and_then(|mut v| (v.len() == 1).then(|| v.remove(0).device))
}

/// Join the readings into a [`Detection`]. Pure: no I/O.
pub fn assemble(inputs: Inputs, catalog: &Catalog) -> Detection {
    let mut facts = Vec::new();
    let mut notes = Vec::new();
    let mut gpus = Vec::new();
    let cpu = inputs.cpu;
    facts.push(Fact {
        what: "CPU".into(),
        value: format!(
            "{} ({} logical cores{})",
            cpu.brand,
            cpu.logical_cores,
            cpu.physical_cores
                .map(|p| format!(", {p} physical"))
                .unwrap_or_default()
        ),
        provenance: Provenance::Detected("sysinfo".into()),
    });
    facts.push(Fact {
        what: "RAM".into(),
        value: format!(
            "{} total, {} available",
            gb(cpu.ram_total),
            gb(cpu.ram_available)
        ),
        provenance: Provenance::Detected("sysinfo".into()),
    });

    for g in nvml::to_gpus(&inputs.nvml) {
        gpus.push(g);
    }
    let nvml_found = !gpus.is_empty();
    for s in &inputs.sysfs {
        if s.vendor == GpuVendor::Nvidia {
            if !nvml_found {
                notes.push(format!(
                    "an NVIDIA GPU is present ({}) but NVML is not available{}; install the NVIDIA driver or name it with --gpu",
                    s.card,
                    inputs
                        .nvml_unavailable
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
            continue;
        }
        gpus.push(s.to_gpu());
    }

    let apple = inputs
        .sysctl
        .as_deref()
        .and_then(|t| apple::from_sysctl(t, inputs.system_profiler.as_deref()));
    if let Some(a) = &apple {
        gpus.push(a.to_gpu());
        facts.push(Fact {
            what: "Metal working-set limit".into(),
            value: gb(a.working_set),
            provenance: if a.wired_limit_set {
                Provenance::Detected("sysctl iogpu.wired_limit_mb".into())
            } else {
                Provenance::Assumed(apple::DEFAULT_SHARE_SOURCE.into())
            },
        });
    }

    // Catalog match: gives bandwidth and confirms the name.
    for (i, g) in gpus.iter_mut().enumerate() {
        let lookup_mem = if g.vendor == GpuVendor::Apple {
            apple.as_ref().map(|a| a.memory)
        } else {
            g.memory_total
        };
        let lookup_name = match (&apple, g.vendor) {
            (Some(a), GpuVendor::Apple) => a.catalog_query(),
            _ => g.name.clone(),
        };
        facts.push(Fact {
            what: format!("GPU {i}"),
            value: format!(
                "{}{}",
                g.name,
                g.memory_total
                    .map(|m| format!(", {}", gb(m)))
                    .unwrap_or_default()
            ),
            provenance: Provenance::Detected(g.detected_by.clone()),
        });
        match (!g.integrated || g.vendor == GpuVendor::Apple)
            .then(|| match_catalog(catalog, &lookup_name, lookup_mem))
            .flatten()
        {
            Some(d) => {
                g.catalog_id = Some(d.id.clone());
                g.bandwidth = d.bandwidth;
                facts.push(Fact {
                    what: format!("GPU {i} bandwidth"),
                    value: d
                        .bandwidth
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "unknown".into()),
                    provenance: Provenance::Catalog(d.id),
                });
            }
            None => facts.push(Fact {
                what: format!("GPU {i} bandwidth"),
                value: "unknown".into(),
                provenance: Provenance::Unknown(
                    "not in the catalog; name it with --gpu or give --bandwidth".into(),
                ),
            }),
        }
    }
    // Discrete GPUs first: they are where weights go.
    gpus.sort_by_key(|g| g.integrated);

    let cpu_bandwidth = match &inputs.measured {
        Some(m) => {
            facts.push(Fact {
                what: "CPU memory bandwidth".into(),
                value: m.read_bandwidth().to_string(),
                provenance: Provenance::Measured(format!(
                    "canirun hw --measure, {} threads, cached at unix time {}",
                    m.threads, m.unix_time
                )),
            });
            Some(m.read_bandwidth())
        }
        None => {
            // On a Mac the CPU shares the SoC's memory, whose bandwidth the catalog knows.
            let soc = gpus
                .iter()
                .find(|g| g.vendor == GpuVendor::Apple)
                .and_then(|g| g.bandwidth);
            facts.push(Fact {
                what: "CPU memory bandwidth".into(),
                value: soc
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                provenance: match soc {
                    Some(_) => Provenance::Catalog("unified memory of the Apple SoC".into()),
                    None => Provenance::Unknown(
                        "run `canirun hw --measure`, or give --bandwidth".into(),
                    ),
                },
            });
            soc
        }
    };
    if gpus.is_empty() {
        notes.push("no GPU found".into());
    }
    Detection {
        cpu,
        gpus,
        apple,
        cpu_bandwidth,
        facts,
        notes,
        elapsed_ms: 0.0,
    }
}

/// Detect this machine. Never fails: what cannot be read is left out and noted.
/// Fast (no CPU-usage sampling, no frequency reads) so it can run on every call.
pub fn detect_this_machine(catalog: &Catalog, cache_dir: Option<&Path>) -> Detection {
    let start = Instant::now();
    let (nvml, nvml_unavailable) = nvml::query();
    let cpu = cpu::query();
    // A measurement from another CPU (a copied home directory) is not this machine's.
    let measured = cache_dir
        .and_then(bandwidth::load_cache)
        .filter(|m| m.cpu_brand == cpu.brand);
    let mut inputs = Inputs {
        cpu,
        nvml,
        nvml_unavailable,
        sysfs: amd_sysfs::scan(Path::new(amd_sysfs::DRM_ROOT)),
        measured,
        ..Inputs::default()
    };
    if cfg!(target_os = "macos") {
        inputs.sysctl = apple::run_sysctl();
        inputs.system_profiler = apple::run_system_profiler();
    }
    let mut d = assemble(inputs, catalog);
    d.elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    d
}

impl Detection {
    /// Replace detected figures with the ones given on the command line (`--gpu`,
    /// `--ram`, `--bandwidth`), and say so in the facts.
    pub fn apply_overrides(
        &mut self,
        catalog: &Catalog,
        gpus: &[String],
        ram: Option<Bytes>,
        bandwidth: Option<BytesPerSecond>,
    ) -> Result<(), ResolveError> {
        let d = self;
        if !gpus.is_empty() {
            let set = canirun_core::hardware::resolve_set(catalog, gpus)?;
            d.gpus.clear();
            d.facts.retain(|f| !f.what.starts_with("GPU"));
            for (dev, n) in &set.devices {
                for _ in 0..*n {
                    let i = d.gpus.len();
                    d.gpus.push(DetectedGpu {
                        vendor: match dev.vendor.as_str() {
                            "AMD" => GpuVendor::Amd,
                            "Intel" => GpuVendor::Intel,
                            "Apple" => GpuVendor::Apple,
                            _ => GpuVendor::Nvidia,
                        },
                        name: dev.name.clone(),
                        memory_total: dev.usable_memory(),
                        memory_free: None,
                        integrated: false,
                        location: None,
                        detected_by: "given (--gpu)".into(),
                        catalog_id: Some(dev.id.clone()),
                        bandwidth: dev.bandwidth,
                    });
                    d.facts.push(Fact {
                        what: format!("GPU {i} memory"),
                        value: dev
                            .usable_memory()
                            .map(|m| m.to_string())
                            .unwrap_or_else(|| "unknown".into()),
                        provenance: Provenance::Given("--gpu, catalog memory".into()),
                    });
                }
            }
            d.notes.retain(|n| n != "no GPU found");
            d.notes.extend(set.assumptions.iter().cloned());
        }
        if let Some(r) = ram {
            d.cpu.ram_total = r;
            d.cpu.ram_available = r;
            d.facts.retain(|f| !f.what.starts_with("RAM"));
            d.facts.push(Fact {
                what: "RAM total".into(),
                value: r.to_string(),
                provenance: Provenance::Given("--ram".into()),
            });
        }
        if let Some(bw) = bandwidth {
            d.cpu_bandwidth = Some(bw);
            d.facts
                .retain(|f| !f.what.contains("bandwidth") || f.what.starts_with("GPU"));
            d.facts.push(Fact {
                what: "CPU memory bandwidth".into(),
                value: bw.to_string(),
                provenance: Provenance::Given("--bandwidth".into()),
            });
        }
        Ok(())
    }
}
