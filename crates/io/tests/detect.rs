//! Detection on recorded fixtures: sysfs trees, NVML-like values, sysctl
//! outputs of M-series Macs, an iGPU plus a dGPU, two mixed GPUs, no GPU,
//! and this machine itself.

use canirun_core::hardware::Catalog;
use canirun_core::units::Bytes;
use canirun_io::detect::{
    amd_sysfs, assemble, detect_this_machine, nvml::NvmlGpu, CpuInfo, GpuVendor, Inputs, Provenance,
};
use std::fs;
use std::path::Path;

fn cat() -> &'static Catalog {
    Catalog::embedded().unwrap()
}

fn fixture(name: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn cpu() -> CpuInfo {
    CpuInfo {
        brand: "AMD Ryzen 9 7950X 16-Core Processor".into(),
        arch: "x86_64".into(),
        logical_cores: 32,
        physical_cores: Some(16),
        ram_total: Bytes::gib(64),
        ram_available: Bytes::gib(60),
    }
}

/// Write one card of a sysfs DRM tree.
fn card(root: &Path, n: u32, vendor: &str, device: &str, vram: Option<u64>, name: Option<&str>) {
    let d = root.join(format!("card{n}/device"));
    fs::create_dir_all(&d).unwrap();
    fs::create_dir_all(root.join(format!("card{n}-HDMI-A-1"))).unwrap();
    fs::write(d.join("vendor"), format!("{vendor}\n")).unwrap();
    fs::write(d.join("device"), format!("{device}\n")).unwrap();
    if let Some(v) = vram {
        fs::write(d.join("mem_info_vram_total"), format!("{v}\n")).unwrap();
        fs::write(d.join("mem_info_vram_used"), "1048576\n").unwrap();
    }
    if let Some(n) = name {
        fs::write(d.join("product_name"), format!("{n}\n")).unwrap();
    }
}

#[test]
fn no_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let d = assemble(
        Inputs {
            cpu: cpu(),
            sysfs: amd_sysfs::scan(dir.path()),
            nvml_unavailable: Some("libnvidia-ml.so: cannot open".into()),
            ..Inputs::default()
        },
        cat(),
    );
    assert!(d.gpus.is_empty());
    assert!(d.notes.iter().any(|n| n == "no GPU found"));
    assert_eq!(d.cpu_bandwidth, None);
    assert!(d.facts.iter().any(
        |f| f.what == "CPU memory bandwidth" && matches!(f.provenance, Provenance::Unknown(_))
    ));
}

#[test]
fn amd_dgpu_in_sysfs() {
    let dir = tempfile::tempdir().unwrap();
    card(
        dir.path(),
        0,
        "0x1002",
        "0x744c",
        Some(25_753_026_560),
        Some("AMD Radeon RX 7900 XTX"),
    );
    let g = amd_sysfs::scan(dir.path());
    assert_eq!(g.len(), 1);
    let d = assemble(
        Inputs {
            cpu: cpu(),
            sysfs: g,
            ..Inputs::default()
        },
        cat(),
    );
    assert_eq!(d.gpus.len(), 1);
    assert_eq!(d.gpus[0].vendor, GpuVendor::Amd);
    assert!(!d.gpus[0].integrated);
    assert_eq!(d.gpus[0].catalog_id.as_deref(), Some("rx-7900-xtx-24gb"));
    assert_eq!(
        d.gpus[0].memory_free,
        Some(Bytes(25_753_026_560 - 1_048_576))
    );
}

#[test]
fn igpu_plus_dgpu() {
    let dir = tempfile::tempdir().unwrap();
    // An AMD APU (512 MiB carve-out) and an NVIDIA dGPU seen through NVML.
    card(dir.path(), 0, "0x1002", "0x164e", Some(536_870_912), None);
    card(dir.path(), 1, "0x10de", "0x2684", None, None);
    let d = assemble(
        Inputs {
            cpu: cpu(),
            sysfs: amd_sysfs::scan(dir.path()),
            nvml: vec![NvmlGpu {
                name: "NVIDIA GeForce RTX 4090".into(),
                memory_total: 25_757_220_864,
                memory_free: 25_000_000_000,
                pci_bus_id: "00000000:01:00.0".into(),
            }],
            ..Inputs::default()
        },
        cat(),
    );
    assert_eq!(d.gpus.len(), 2, "{:?}", d.gpus);
    assert_eq!(
        d.gpus[0].catalog_id.as_deref(),
        Some("rtx-4090-24gb"),
        "dGPU first"
    );
    assert!(d.gpus[1].integrated);
    assert_eq!(d.gpus[1].catalog_id, None);
    assert!(d.notes.is_empty(), "{:?}", d.notes);
}

#[test]
fn intel_igpu_and_nvidia_without_driver() {
    let dir = tempfile::tempdir().unwrap();
    card(dir.path(), 0, "0x8086", "0xa780", None, None);
    card(dir.path(), 1, "0x10de", "0x2204", None, None);
    let d = assemble(
        Inputs {
            cpu: cpu(),
            sysfs: amd_sysfs::scan(dir.path()),
            nvml_unavailable: Some("a libloading error occurred".into()),
            ..Inputs::default()
        },
        cat(),
    );
    assert_eq!(d.gpus.len(), 1);
    assert!(d.gpus[0].integrated);
    assert!(
        d.notes.iter().any(|n| n.contains("NVIDIA GPU is present")),
        "{:?}",
        d.notes
    );
}

#[test]
fn two_mixed_gpus() {
    let d = assemble(
        Inputs {
            cpu: cpu(),
            nvml: vec![
                NvmlGpu {
                    name: "NVIDIA GeForce RTX 4090".into(),
                    memory_total: 25_757_220_864,
                    memory_free: 1,
                    pci_bus_id: "0:1".into(),
                },
                NvmlGpu {
                    name: "NVIDIA GeForce RTX 3090".into(),
                    memory_total: 25_769_803_776,
                    memory_free: 1,
                    pci_bus_id: "0:2".into(),
                },
                NvmlGpu {
                    name: "NVIDIA H100 80GB HBM3".into(),
                    memory_total: 85_520_809_984,
                    memory_free: 1,
                    pci_bus_id: "0:3".into(),
                },
            ],
            ..Inputs::default()
        },
        cat(),
    );
    let ids: Vec<_> = d.gpus.iter().map(|g| g.catalog_id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some("rtx-4090-24gb"),
            Some("rtx-3090"),
            Some("h100-sxm5-80gb")
        ]
    );
    assert!((d.gpus[1].bandwidth.unwrap().as_gbps() - 936.2).abs() < 0.1);
}

#[test]
fn m1_max_64gb_default_working_set() {
    let d = assemble(
        Inputs {
            cpu: cpu(),
            sysctl: Some(fixture("sysctl/m1-max-64gb.txt")),
            system_profiler: Some(fixture("sysctl/m1-max-profiler.txt")),
            ..Inputs::default()
        },
        cat(),
    );
    let a = d.apple.as_ref().unwrap();
    assert_eq!(a.memory, Bytes::gib(64));
    assert_eq!(a.gpu_cores, Some(32));
    assert_eq!(a.working_set, Bytes::gib(48));
    assert!(!a.wired_limit_set);
    assert_eq!(d.gpus[0].catalog_id.as_deref(), Some("m1-max-32c-gpu-64gb"));
    assert_eq!(d.cpu_bandwidth.map(|b| b.as_gbps()), Some(400.0));
    assert!(d
        .facts
        .iter()
        .any(|f| matches!(f.provenance, Provenance::Assumed(_))));
}

#[test]
fn m2_ultra_with_raised_wired_limit() {
    let a =
        canirun_io::detect::apple::from_sysctl(&fixture("sysctl/m2-ultra-192gb-wired.txt"), None)
            .unwrap();
    assert!(a.wired_limit_set);
    assert_eq!(a.working_set, Bytes::mib(180_000));
    let d = assemble(
        Inputs {
            sysctl: Some(fixture("sysctl/m2-ultra-192gb-wired.txt")),
            ..Inputs::default()
        },
        cat(),
    );
    // Without GPU cores, the biggest M2 Ultra bin is assumed.
    assert_eq!(
        d.gpus[0].catalog_id.as_deref(),
        Some("m2-ultra-76c-gpu-192gb")
    );
}

#[test]
fn m2_on_old_macos_and_m3_ultra() {
    let a = canirun_io::detect::apple::from_sysctl(&fixture("sysctl/m2-16gb-old-macos.txt"), None)
        .unwrap();
    assert!(!a.wired_limit_set);
    assert!((a.working_set.as_gib() - 10.67).abs() < 0.01);
    let d = assemble(
        Inputs {
            sysctl: Some(fixture("sysctl/m3-ultra-512gb.txt")),
            system_profiler: Some(fixture("sysctl/m3-ultra-profiler.txt")),
            ..Inputs::default()
        },
        cat(),
    );
    assert_eq!(
        d.gpus[0].catalog_id.as_deref(),
        Some("m3-ultra-32c-cpu-80c-gpu-512gb")
    );
    assert_eq!(d.apple.unwrap().working_set, Bytes::gib(384));
}

#[test]
fn this_machine_is_fast_and_sane() {
    let d = detect_this_machine(cat(), None);
    assert!(d.cpu.logical_cores >= 1);
    assert!(d.cpu.ram_total.0 > 0);
    // Generous bound for a loaded CI box; the CLI prints the real figure.
    assert!(d.elapsed_ms < 2000.0, "{} ms", d.elapsed_ms);
    if d.gpus.is_empty() {
        assert!(d.notes.iter().any(|n| n == "no GPU found"));
    }
}
