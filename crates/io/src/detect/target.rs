//! This machine as an estimate's target: detected GPUs (or a Mac's Metal
//! working set), available RAM and the measured memory bandwidth.

use super::{bandwidth, cpu, detect_this_machine, quick_probe, GpuVendor};
use canirun_core::hardware::{Catalog, Device, DeviceKind, Origin, Sources, Target, TargetError};
use canirun_core::units::{Bytes, BytesPerSecond};

/// Set (to anything but `0` or empty) to keep this machine out of a target
/// the user named or sized: RAM without a named CPU is then read with the
/// catalog's typical desktop, as on a server where this machine is not the
/// user's. Tests use it to stay independent of the machine they run on.
pub const NO_DETECT_ENV: &str = "CANIRUN_NO_DETECT";

/// The target the user asked for: the sizes given (`vram`, or `ram` alone),
/// the devices named, or else this machine. RAM given without a CPU platform
/// is read with this machine's CPU (see [`with_this_host`]).
pub fn chosen(
    catalog: &Catalog,
    names: &[String],
    vram: Option<Bytes>,
    ram: Option<Bytes>,
) -> Result<Target, TargetError> {
    let mut t = if vram.is_some() || (names.is_empty() && ram.is_some()) {
        Target::given(vram, ram)?
    } else if !names.is_empty() {
        Target::named(catalog, names, ram)?
    } else {
        return Ok(this_machine(catalog));
    };
    if ram.is_some() {
        with_this_host(catalog, &mut t);
    }
    Ok(t)
}

/// One named setup with `ram` (`compare --hw NAME`), with this machine's
/// CPU for RAM given without one, as [`chosen`] does.
pub fn named(catalog: &Catalog, name: &str, ram: Option<Bytes>) -> Result<Target, TargetError> {
    let mut t = Target::named(catalog, &[name], ram)?;
    if ram.is_some() {
        with_this_host(catalog, &mut t);
    }
    Ok(t)
}

/// Whether [`NO_DETECT_ENV`] turns detection off for named or sized targets.
pub fn detection_off() -> bool {
    std::env::var_os(NO_DETECT_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// RAM given without a CPU platform (`--ram` alone, `--gpu 4090 --ram
/// 384GiB`) runs on some CPU: the one of this machine when it can be read
/// (catalog row, or detected cores, SIMD unit, clock and bandwidth), said in
/// the assumptions. Left alone (the core then assumes the catalog's typical
/// desktop and says so) when a CPU was named, on a Mac (its CPU is the SoC's),
/// when detection cannot read the CPU, or with [`NO_DETECT_ENV`] set.
pub fn with_this_host(catalog: &Catalog, t: &mut Target) {
    if t.host_device.is_some() || t.ram.is_none() || t.backend == Backend::Metal || detection_off()
    {
        return;
    }
    let d = detect_this_machine(catalog, bandwidth::cache_dir().as_deref());
    let Some(h) = detected_host(catalog, &d) else {
        return;
    };
    t.assumptions.push(format!(
        "RAM without a named CPU: assumed this machine's CPU platform, {} (detected; name another with --gpu '<gpu> + <cpu>')",
        h.said
    ));
    t.host_bandwidth = h.measured;
    t.host_core_bandwidth = h.core_bandwidth;
    t.host_device = Some((h.device, 1));
}

use canirun_core::memory::Backend;

/// The host CPU of this machine as the speed model sees it.
pub struct DetectedHost {
    /// A catalog platform, or a device built from what was detected.
    pub device: Device,
    /// One core's streaming-read bandwidth, when the probe measured it.
    pub core_bandwidth: Option<BytesPerSecond>,
    /// The measured bandwidth of all cores (probe or `hw --measure`), when
    /// measured: what reads reach, not a peak.
    pub measured: Option<BytesPerSecond>,
    /// What was taken from where, for the assumptions.
    pub said: String,
}

/// This machine's CPU: the catalog row its brand names exactly (unless
/// `hw --measure` measured it), else a device of its detected physical
/// cores, SIMD unit and clock, with the bandwidth of `hw --measure` or of a
/// short probe (about 200 ms once, then cached). `None` when the cores or the
/// SIMD unit cannot be read.
pub fn detected_host(catalog: &Catalog, d: &super::Detection) -> Option<DetectedHost> {
    let named = canirun_core::hardware::resolve(catalog, &d.cpu.brand)
        .ok()
        .filter(|_| d.cpu_bandwidth.is_none())
        .and_then(|r| match r.as_slice() {
            [one] if one.device.kind == DeviceKind::CpuPlatform => Some(one.device.clone()),
            _ => None,
        });
    if let Some(dev) = named {
        let said = format!(
            "CPU '{}' is {} in the catalog (its bandwidth: {})",
            d.cpu.brand,
            dev.name,
            dev.bandwidth
                .map(|b| b.to_string())
                .unwrap_or_else(|| "unknown".into())
        );
        return Some(DetectedHost {
            device: dev,
            core_bandwidth: None,
            measured: None,
            said,
        });
    }
    let cores = d.cpu.physical_cores.filter(|&c| c > 0)? as u32;
    let f = cpu::features();
    let simd = f.simd?;
    let clock = f.clock_ghz?;
    let compute = canirun_core::hardware::cpu_compute_for(simd, cores, clock)?;
    let probe = quick_probe::this_machine(
        quick_probe::default_dir().as_deref(),
        &d.cpu.brand,
        d.cpu.ram_available,
    );
    let (bandwidth, how) = match (d.cpu_bandwidth, &probe) {
        (Some(bw), _) => (bw, "measured by `canirun hw --measure`".to_string()),
        (None, Some((p, cached))) => (
            p.all(),
            format!(
                "measured by probe ({} threads over {}, {:.0} ms{})",
                p.threads,
                Bytes(p.buffer_bytes),
                p.seconds * 1e3,
                if *cached { ", cached" } else { "" }
            ),
        ),
        (None, None) => return None,
    };
    let core_bandwidth = probe.as_ref().map(|(p, _)| p.one());
    let said = format!(
        "CPU '{}' as detected: {cores} physical cores, {simd} at {clock:.2} GHz (/proc/cpuinfo); memory bandwidth {bandwidth} {how}{}",
        d.cpu.brand,
        core_bandwidth
            .map(|b| format!(", one core {b} (probe)"))
            .unwrap_or_default()
    );
    let device = Device {
        id: "detected-cpu".into(),
        name: format!("{} ({cores} cores, detected)", d.cpu.brand),
        vendor: "CPU platform".into(),
        kind: DeviceKind::CpuPlatform,
        category: "CPU / system memory".into(),
        architecture: None,
        memory: Some(d.cpu.ram_total),
        memory_max: None,
        memory_type: None,
        bandwidth: Some(bandwidth),
        fp16: None,
        fp16_basis: None,
        bf16: None,
        fp8: None,
        tdp: None,
        price_usd: None,
        price_note: None,
        interconnect: Default::default(),
        platform: None,
        gpu_cores: None,
        boost_clock_ghz: None,
        cpu_cores: Some(cores),
        cpu: Some(compute),
        aliases: vec![],
        sources: Sources {
            row: format!("detected on this machine: cores (sysinfo), SIMD and clock (/proc/cpuinfo), bandwidth {how}"),
            ..Default::default()
        },
        notes: None,
    };
    Some(DetectedHost {
        device,
        core_bandwidth,
        measured: Some(bandwidth),
        said,
    })
}

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
    // (its cores, SIMD and memory channels then drive the speed of what runs
    // in RAM); else the CPU as detected: its cores, SIMD unit and clock, and
    // the bandwidth of `hw --measure` or of the short probe.
    let mut assumptions = d.notes.clone();
    let host = detected_host(catalog, &d);
    if let Some(h) = &host {
        assumptions.push(h.said.clone());
    }
    let (host_device, host_core_bandwidth, measured) = match host {
        Some(h) => (Some((h.device, 1)), h.core_bandwidth, h.measured),
        None => (None, None, None),
    };
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
        host_bandwidth: measured.or(d.cpu_bandwidth),
        host_core_bandwidth,
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

    #[test]
    fn ram_without_a_cpu_keeps_a_named_cpu_and_a_mac() {
        let cat = Catalog::embedded().unwrap();
        let mut with_cpu =
            Target::named(cat, &["4090 + epyc-9654-12ch-ddr5"], Some(Bytes::gib(384))).unwrap();
        let before = with_cpu.host_device.as_ref().map(|(d, _)| d.id.clone());
        with_this_host(cat, &mut with_cpu);
        assert_eq!(with_cpu.host_device.map(|(d, _)| d.id), before);
        let mut mac = Target::named(cat, &["m3-ultra-512"], Some(Bytes::gib(64))).unwrap();
        with_this_host(cat, &mut mac);
        assert!(mac.host_device.is_none());
    }
}
