//! Checks on the hardware catalog itself: sources, plausible values, aliases,
//! and that every hardware name in the research data resolves.

use canirun_core::hardware::{resolve, Catalog, DeviceKind};
use std::collections::HashMap;

const NAMES: &str = include_str!("data/hardware_names_from_benchmarks.txt");

/// Names from the research data that do not name one catalog device, and why.
const UNKNOWN_WITH_REASON: &[(&str, &str)] = &[(
    "2x Intel Xeon Gold 6454S (AMX) + 1-4x RTX 4090D",
    "the GPU count is a range (1-4x), so the row describes several machines",
)];

fn cat() -> &'static Catalog {
    Catalog::embedded().expect("embedded catalog parses")
}

#[test]
fn every_row_has_sources_for_what_it_states() {
    for d in cat().devices() {
        assert!(d.sources.row.len() > 10, "{}: no source", d.id);
        if d.bf16.is_some() || d.fp8.is_some() {
            assert!(
                d.sources.flops.is_some(),
                "{}: BF16/FP8 without source",
                d.id
            );
        }
        if d.interconnect.nvlink.is_some() || d.interconnect.pcie_gen.is_some() {
            assert!(
                d.sources.interconnect.is_some(),
                "{}: link without source",
                d.id
            );
        }
        if d.platform.is_some() {
            assert!(
                d.sources.platform.is_some(),
                "{}: platform without source",
                d.id
            );
        }
    }
}

#[test]
fn values_are_positive_and_plausible() {
    for d in cat().devices() {
        for m in [d.memory, d.memory_max].into_iter().flatten() {
            let gib = m.as_gib();
            assert!((1.0..=2048.0).contains(&gib), "{}: memory {gib} GiB", d.id);
        }
        if let Some(bw) = d.bandwidth {
            assert!((10.0..=20000.0).contains(&bw.as_gbps()), "{}: {bw}", d.id);
        } else {
            // Only the newest Apple bins lack a published bandwidth.
            assert!(d.id.starts_with("m5"), "{}: no bandwidth", d.id);
        }
        for f in [d.fp16, d.bf16, d.fp8].into_iter().flatten() {
            assert!((1.0..=20000.0).contains(&f.as_tflops()), "{}: {f}", d.id);
        }
        if let Some(w) = d.tdp {
            assert!((5.0..=2000.0).contains(&w.0), "{}: {w}", d.id);
        }
        if let Some(p) = d.price_usd {
            assert!((50.0..=100_000.0).contains(&p), "{}: ${p}", d.id);
        }
        if let Some(n) = d.interconnect.nvlink {
            assert!((10.0..=5000.0).contains(&n.as_gbps()), "{}: {n}", d.id);
        }
        if let (Some(fp16), Some(fp8)) = (d.fp16, d.fp8) {
            assert!(fp8.0 >= fp16.0, "{}: FP8 slower than FP16", d.id);
        }
        if d.kind == DeviceKind::Gpu {
            assert!(
                d.memory.is_some() || d.id == "gh200",
                "{}: GPU without memory",
                d.id
            );
        }
    }
}

#[test]
fn platform_bandwidth_is_channels_times_rate() {
    let mut n = 0;
    for d in cat().devices() {
        if let (Some(p), Some(bw)) = (d.platform, d.bandwidth) {
            let rel = (p.peak_bandwidth().0 - bw.0).abs() / bw.0;
            assert!(rel < 1e-3, "{}: {} vs {}", d.id, p.peak_bandwidth(), bw);
            n += 1;
        }
    }
    assert!(n >= 20, "only {n} CPU platforms");
}

#[test]
fn covers_the_issue_families() {
    let c = cat();
    for id in [
        "rtx-3090",
        "rtx-4090-24gb",
        "rtx-5090-32gb",
        "a100-sxm4-80gb",
        "h100-sxm5-80gb",
        "h200-sxm-141gb",
        "b200",
        "l40s-48gb",
        "rtx-6000-ada-48gb",
        "rx-7900-xtx-24gb",
        "mi300x-192gb",
        "arc-a770-16gb",
        "m1-8c-gpu",
        "m2-pro-19c-gpu",
        "m3-max-40c-gpu",
        "m4-max-40c-gpu",
        "m3-ultra-80c-gpu",
        "desktop-2ch-ddr4-3200",
        "desktop-2ch-ddr5-6000",
        "epyc-9004-12ch-ddr5-4800",
        "xeon-4th-gen-8ch-ddr5-4800",
    ] {
        assert!(c.get(id).is_some(), "missing {id}");
    }
}

#[test]
fn every_alias_resolves_to_exactly_its_device() {
    let mut owner: HashMap<String, &str> = HashMap::new();
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    for d in cat().devices() {
        for name in std::iter::once(&d.id).chain(d.aliases.iter()) {
            if let Some(prev) = owner.insert(squash(name), &d.id) {
                assert_eq!(prev, d.id, "'{name}' names both {prev} and {}", d.id);
            }
        }
    }
    for d in cat().devices() {
        for a in &d.aliases {
            let r = resolve(cat(), a).unwrap_or_else(|e| panic!("alias {a}: {e}"));
            assert_eq!(r.len(), 1, "alias {a}");
            assert_eq!(r[0].device.id, d.id, "alias {a}");
        }
    }
}

fn data_names() -> Vec<(String, u32, String)> {
    NAMES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let file = f.next().unwrap_or_default().to_string();
            let n = f.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            (file, n, f.next().unwrap_or_default().to_string())
        })
        .collect()
}

#[test]
fn every_benchmark_and_power_hardware_name_resolves() {
    let names = data_names();
    assert!(names.len() > 100);
    let mut failures = Vec::new();
    for (file, _, name) in &names {
        let known_unknown = UNKNOWN_WITH_REASON.iter().any(|(n, _)| n == name);
        match resolve(cat(), name) {
            Ok(v) if !known_unknown => assert!(!v.is_empty()),
            Ok(v) => failures.push(format!(
                "{file}: '{name}' is listed unknown but resolves to {v:?}"
            )),
            Err(e) if !known_unknown => failures.push(format!("{file}: '{name}': {e}")),
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn benchmark_names_land_on_the_right_devices() {
    let expect = [
        ("NVIDIA GeForce RTX 3060 (Intel 265K PC)", "rtx-3060-12gb"),
        ("NVIDIA GeForce RTX 4070 Ti 12GB", "rtx-4070-ti-12gb"),
        ("NVIDIA GeForce RTX 4070", "rtx-4070-12gb"),
        ("NVIDIA A40", "a40-48gb"),
        (
            "NVIDIA RTX PRO 6000 Blackwell Max-Q (300 W)",
            "rtx-pro-6000-blackwell-max-q-96gb",
        ),
        (
            "Apple Mac Studio M3 Ultra 512GB",
            "m3-ultra-32c-cpu-80c-gpu-512gb",
        ),
        (
            "Apple Mac Studio M4 Max 64GB",
            "m4-max-16c-cpu-40c-gpu-64gb",
        ),
        (
            "Apple M2 Ultra (76-core GPU) 192GB",
            "m2-ultra-76c-gpu-192gb",
        ),
        ("Apple M4 Mac mini (10-core, 32GB)", "m4-10c-gpu-32gb"),
        (
            "Dell Pro Max GB10 (NVIDIA DGX Spark class)",
            "gb10-dgx-spark",
        ),
        (
            // The CPU itself (data/cpu_platforms.csv: cores, clock, SIMD);
            // validate speed takes the stated DDR5-6400 for its bandwidth.
            "Intel Core i9-13900K, DDR5-6400 (dual channel), CPU only",
            "core-i9-13900k",
        ),
        (
            "Intel Core Ultra 265K custom PC (with RTX 2080 Ti)",
            "rtx-2080-ti-11gb",
        ),
        (
            "NVIDIA Tesla V100 SXM2 32GB (per card, TP=2)",
            "v100-sxm2-32gb",
        ),
        (
            "AmpereOne A192-32X 512GB (CPU only)",
            "ampereone-a192-32x-8ch-ddr5-5200-512gb",
        ),
    ];
    for (name, id) in expect {
        let r = resolve(cat(), name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r[0].device.id, id, "{name}");
    }
}

/// In CI the research data sits next to the repo; keep the fixture in sync with it.
#[test]
fn fixture_matches_shared_data_when_present() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let Ok(bench) = std::fs::read_to_string(dir.join("benchmarks.csv")) else {
        return;
    };
    let fixture: Vec<String> = data_names().into_iter().map(|(_, _, n)| n).collect();
    for line in bench.lines().skip(1) {
        // The hardware column is first and never quoted with commas inside in this file,
        // except names with commas, which are quoted.
        let name = if let Some(rest) = line.strip_prefix('"') {
            rest.split('"').next().unwrap_or_default().to_string()
        } else {
            line.split(',').next().unwrap_or_default().to_string()
        };
        assert!(
            fixture.contains(&name),
            "fixture lacks '{name}'; regenerate it"
        );
    }
}
