//! This machine as an estimate's target: detected GPUs (or a Mac's Metal
//! working set), available RAM and the measured memory bandwidth.

use super::{bandwidth, detect_this_machine, GpuVendor};
use canirun_core::hardware::{Catalog, DeviceKind, Origin, Target, TargetError};
use canirun_core::units::Bytes;

/// The target the user asked for: the sizes given (`vram`, or `ram` alone),
/// the devices named, or else this machine.
pub fn chosen(
    catalog: &Catalog,
    names: &[String],
    vram: Option<Bytes>,
    ram: Option<Bytes>,
) -> Result<Target, TargetError> {
    if vram.is_some() || (names.is_empty() && ram.is_some()) {
        return Target::given(vram, ram);
    }
    if !names.is_empty() {
        return Target::named(catalog, names, ram);
    }
    Ok(this_machine(catalog))
}
use canirun_core::memory::Backend;

/// Detect this machine and describe it as a target. Never fails: what cannot
/// be read is left out and listed in the assumptions.
pub fn this_machine(catalog: &Catalog) -> Target {
    let d = detect_this_machine(catalog, bandwidth::cache_dir().as_deref());
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
    // The CPU's catalog entry, when the detected brand names one exactly
    // (its cores, SIMD and memory channels then drive the speed of what runs in RAM).
    let mut assumptions = d.notes.clone();
    let host_device = canirun_core::hardware::resolve(catalog, &d.cpu.brand)
        .ok()
        .filter(|_| d.cpu_bandwidth.is_none())
        .and_then(|r| match r.as_slice() {
            [one] if one.device.kind == DeviceKind::CpuPlatform => Some(one.device.clone()),
            _ => None,
        })
        .map(|dev| {
            assumptions.push(format!(
                "CPU '{}' is {} in the catalog (its bandwidth: {})",
                d.cpu.brand,
                dev.name,
                dev.bandwidth
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ));
            (dev, 1)
        });
    let gpu_text = if names.is_empty() {
        "no GPU".to_string()
    } else {
        names.join(" + ")
    };
    Target {
        description: format!(
            "detected: {}, {} RAM available of {} ({})",
            gpu_text, d.cpu.ram_available, d.cpu.ram_total, d.cpu.brand
        ),
        origin: Origin::Detected,
        gpus,
        gpu_names: names,
        devices,
        host_device,
        host_bandwidth: d.cpu_bandwidth,
        link: None,
        ram,
        backend,
        set: None,
        assumptions,
    }
}

#[cfg(test)]
mod chosen_tests {
    use super::*;

    #[test]
    fn given_sizes_then_names_then_this_machine() {
        let cat = Catalog::embedded().unwrap();
        let given = chosen(cat, &[], Some(Bytes::gib(24)), None).unwrap();
        assert_eq!(given.gpus, vec![Bytes::gib(24)]);
        let named = chosen(cat, &["2x4090".to_string()], None, Some(Bytes::gib(64))).unwrap();
        assert_eq!(named.gpus.len(), 2);
        assert_eq!(named.origin, Origin::Named);
    }
}
