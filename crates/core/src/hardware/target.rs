//! The hardware an estimate is checked against: named in the catalog
//! (`--gpu 2x4090`), given as sizes (`--vram 24GiB --ram 64GiB`) or, built by
//! `canirun-io`, detected on this machine. Pure: detection itself is at the edge.

use super::{
    metal_working_set, resolve_set, Catalog, Device, DeviceKind, HardwareSet, ResolveError,
};
use crate::memory::Backend;
use crate::units::{Bytes, BytesPerSecond};
use serde::Serialize;

/// Where the numbers of a target come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--vram`/`--ram` sizes.
    Given,
    /// Names resolved in the hardware catalog.
    Named,
    /// Detected on this machine.
    Detected,
}

/// Memory to fit into, and what the speed model knows of each device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// One line describing it.
    pub description: String,
    /// Where it came from.
    pub origin: Origin,
    /// Memory of each accelerator (GPU VRAM, or a Mac's Metal working set).
    pub gpus: Vec<Bytes>,
    /// Name of each accelerator (same order as `gpus`).
    pub gpu_names: Vec<String>,
    /// Catalog entry of each accelerator, when known (for speed and power).
    #[serde(skip)]
    pub devices: Vec<Option<Device>>,
    /// The CPU memory platform and its socket count, when named or assumed.
    #[serde(skip)]
    pub host_device: Option<(Device, u32)>,
    /// Measured CPU memory bandwidth (the probe of `canirun hw --measure`).
    pub host_bandwidth: Option<BytesPerSecond>,
    /// One core's streaming-read bandwidth measured on this machine (the
    /// detected host's one-thread probe): what `-t 1` can pull.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_core_bandwidth: Option<BytesPerSecond>,
    /// The link between devices when it is not the GPUs' PCIe (a network between Macs).
    #[serde(skip)]
    pub link: Option<BytesPerSecond>,
    /// System RAM that can hold offloaded layers.
    pub ram: Option<Bytes>,
    /// The backend the hardware implies.
    pub backend: Backend,
    /// The catalog devices behind a named target, for power and prices.
    #[serde(skip)]
    pub set: Option<HardwareSet>,
    /// What was assumed along the way.
    pub assumptions: Vec<String>,
}

/// Why a target cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A name did not resolve.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A device has no memory size to check against.
    #[error("{0}")]
    NoMemory(String),
    /// `--vram` or `--ram` of zero.
    #[error("{0} is zero; give a size such as 24GiB")]
    Zero(&'static str),
}

/// A system's memory written as one more part of a set (`epyc-9355 + 4090 +
/// 768GiB`): the name without it, and the size. A part is a size only when it
/// has a unit (`768GiB`, `1.5 TB`), so `Max+ 395` stays a name.
fn split_memory(name: &str) -> (String, Option<Bytes>) {
    let mut size = None;
    let parts: Vec<&str> = name
        .split('+')
        .filter(|p| {
            let t = p.trim();
            let sized = t.chars().any(|c| c.is_ascii_alphabetic())
                && t.chars().next().is_some_and(|c| c.is_ascii_digit());
            match sized.then(|| Bytes::parse(t).ok()).flatten() {
                Some(b) => {
                    size = Some(b);
                    false
                }
                None => true,
            }
        })
        .collect();
    (parts.join("+"), size)
}

/// The llama.cpp backend a vendor's GPU runs by default.
fn gpu_backend(vendor: &str) -> Backend {
    match vendor {
        "AMD" => Backend::Rocm,
        "Intel" => Backend::Vulkan,
        _ => Backend::Cuda,
    }
}

impl Target {
    /// `--vram` (one GPU of that size) and/or `--ram` without names.
    pub fn given(vram: Option<Bytes>, ram: Option<Bytes>) -> Result<Target, TargetError> {
        if vram == Some(Bytes::ZERO) {
            return Err(TargetError::Zero("--vram"));
        }
        if ram == Some(Bytes::ZERO) {
            return Err(TargetError::Zero("--ram"));
        }
        let ram_text = ram.map(|r| format!(", {r} of RAM")).unwrap_or_default();
        let (description, gpus, names, backend) = match vram {
            Some(v) => (
                format!("given: {v} of GPU memory{ram_text}"),
                vec![v],
                vec![format!("GPU with {v}")],
                Backend::Cuda,
            ),
            None => (
                format!("given: {} of RAM, no GPU", ram.unwrap_or_default()),
                vec![],
                vec![],
                Backend::Cpu,
            ),
        };
        Ok(Target {
            description,
            origin: Origin::Given,
            devices: vec![None; gpus.len()],
            gpus,
            gpu_names: names,
            host_device: None,
            host_bandwidth: None,
            host_core_bandwidth: None,
            link: None,
            ram,
            backend,
            set: None,
            assumptions: vec![],
        })
    }

    /// Devices named in the catalog (`4090`, `2x4090`, `m3-ultra-512`,
    /// `4090 + epyc-9004-12ch-ddr5-4800`), with `ram` for a CPU platform.
    pub fn named<S: AsRef<str>>(
        catalog: &Catalog,
        names: &[S],
        ram: Option<Bytes>,
    ) -> Result<Target, TargetError> {
        let mut ram = ram;
        let mut kept = Vec::new();
        for n in names {
            let (rest, size) = split_memory(n.as_ref());
            ram = size.or(ram);
            kept.push(rest);
        }
        let set = resolve_set(catalog, &kept)?;
        Self::from_set(set, ram)
    }

    /// A resolved hardware set as a target.
    pub fn from_set(set: HardwareSet, ram: Option<Bytes>) -> Result<Target, TargetError> {
        let mut t = Target {
            description: String::new(),
            origin: Origin::Named,
            gpus: vec![],
            gpu_names: vec![],
            devices: vec![],
            host_device: None,
            host_bandwidth: None,
            host_core_bandwidth: None,
            link: None,
            ram,
            backend: Backend::Cuda,
            set: None,
            assumptions: set.assumptions.clone(),
        };
        let mut names = Vec::new();
        for (d, n) in &set.devices {
            names.push(if *n > 1 {
                format!("{n}× {}", d.name)
            } else {
                d.name.clone()
            });
            match d.kind {
                DeviceKind::Gpu | DeviceKind::UnifiedSoc => {
                    let mem = d.usable_memory().ok_or_else(|| {
                        TargetError::NoMemory(format!(
                            "{} has no memory size in the catalog; give --vram",
                            d.name
                        ))
                    })?;
                    t.push_gpu(mem, d.name.clone(), d, *n);
                    t.backend = gpu_backend(&d.vendor);
                }
                DeviceKind::AppleSoc => {
                    let mem = d.usable_memory().ok_or_else(|| {
                        TargetError::NoMemory(format!(
                            "{} has no memory size; name it with one, e.g. m3-ultra-512",
                            d.name
                        ))
                    })?;
                    let ws = metal_working_set(mem);
                    t.push_gpu(ws, format!("{} (Metal working set)", d.name), d, *n);
                    t.assumptions.push(format!(
                        "{}: GPU may use {ws} of {mem} ({})",
                        d.name,
                        super::METAL_WORKING_SET_SOURCE
                    ));
                    t.backend = Backend::Metal;
                    t.ram = t.ram.or(Some(mem.saturating_sub(ws)));
                }
                DeviceKind::CpuPlatform => {
                    t.host_device = Some((d.clone(), *n));
                    if t.gpus.is_empty() {
                        t.backend = Backend::Cpu;
                    }
                    t.ram = t.ram.or(d.usable_memory());
                    if t.ram.is_none() {
                        return Err(TargetError::NoMemory(format!(
                            "{} is a memory platform of any size; add --ram, e.g. --ram 384GiB",
                            d.name
                        )));
                    }
                }
            }
        }
        t.description = format!("named: {}", names.join(" + "));
        t.set = Some(set);
        Ok(t)
    }

    fn push_gpu(&mut self, mem: Bytes, name: String, d: &Device, n: u32) {
        for _ in 0..n {
            self.gpus.push(mem);
            self.gpu_names.push(name.clone());
            self.devices.push(Some(d.clone()));
        }
    }

    /// Whether the target has an accelerator.
    pub fn has_gpu(&self) -> bool {
        !self.gpus.is_empty()
    }

    /// Short name for tables: the named devices, or the description.
    pub fn label(&self) -> String {
        self.description
            .split_once(": ")
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_else(|| self.description.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_gpus_and_a_cpu_platform() {
        let cat = Catalog::embedded().unwrap();
        let t = Target::named(cat, &["2x4090"], None).unwrap();
        assert_eq!(t.gpus.len(), 2);
        assert_eq!(t.backend, Backend::Cuda);
        assert_eq!(t.ram, None);
        let t = Target::named(cat, &["m3-ultra-512"], None).unwrap();
        assert_eq!(t.backend, Backend::Metal);
        assert!(t.gpus[0] < Bytes::gib(512) && t.ram.is_some());
    }

    #[test]
    fn memory_named_in_the_set() {
        let cat = Catalog::embedded().unwrap();
        let t = Target::named(cat, &["epyc-9355 + 4090 + 768GiB"], None).unwrap();
        assert_eq!(t.ram, Some(Bytes::gib(768)));
        assert_eq!(t.gpus.len(), 1);
        assert!(t.host_device.is_some());
        let (rest, size) = split_memory("ryzen ai max+ 395");
        assert_eq!((rest.as_str(), size), ("ryzen ai max+ 395", None));
    }

    #[test]
    fn given_sizes() {
        let t = Target::given(None, Some(Bytes::gib(64))).unwrap();
        assert!(!t.has_gpu());
        assert_eq!(t.backend, Backend::Cpu);
        assert!(Target::given(Some(Bytes::ZERO), None).is_err());
    }
}
