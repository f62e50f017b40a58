//! The embedded hardware catalog: `data/hardware.csv` parsed once.
//!
//! The source columns are copied verbatim from the research data, so their
//! cells keep qualifiers such as `max 96`, `~33600 (analyst estimate)` or
//! `unconfirmed`. The parser takes the leading number of a cell and treats a
//! cell without one (`unconfirmed`, `n/a`, empty) as unknown.

use super::{CpuCompute, Device, DeviceKind, Interconnect, MemoryPlatform, Sources};
use crate::units::{Bytes, BytesPerSecond, FlopsPerSecond, Watts, GIB};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The catalog CSV, embedded at build time.
pub const HARDWARE_CSV: &str = include_str!("../../data/hardware.csv");

/// CPU platforms (cores, clocks, SIMD, memory channels, with sources), embedded.
pub const CPU_PLATFORMS_CSV: &str = include_str!("../../data/cpu_platforms.csv");

/// FP32 FLOP per core per cycle of each SIMD unit, with sources, embedded.
pub const CPU_SIMD_CSV: &str = include_str!("../../data/cpu_simd.csv");

/// Errors from reading a hardware catalog.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The CSV itself is malformed.
    #[error("hardware catalog: malformed CSV: {0}")]
    Csv(String),
    /// A row lacks a required column or has an unknown kind.
    #[error("hardware catalog row {row} ('{id}'): {reason}")]
    BadRow {
        /// 1-based data row number.
        row: usize,
        /// The row's id, if it has one.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Two rows share an id, or an alias names two devices.
    #[error("hardware catalog: '{0}' names more than one device")]
    Duplicate(String),
}

/// All known devices.
#[derive(Debug, Clone)]
pub struct Catalog {
    devices: Vec<Device>,
    by_id: HashMap<String, usize>,
    /// The names `resolve` matches, derived from `devices` on first use;
    /// emptied whenever `devices` changes.
    pub(crate) names: OnceLock<super::resolve::NameIndex>,
}

static EMBEDDED: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();

impl Catalog {
    /// The catalog embedded in the binary, parsed on first use.
    pub fn embedded() -> Result<&'static Catalog, CatalogError> {
        EMBEDDED
            .get_or_init(|| {
                Catalog::from_csv(HARDWARE_CSV)?.with_cpu_platforms(CPU_PLATFORMS_CSV, CPU_SIMD_CSV)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parse a catalog from CSV text (lines starting with `#` are comments).
    pub fn from_csv(text: &str) -> Result<Catalog, CatalogError> {
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| CatalogError::Csv(e.to_string()))?
            .clone();
        let mut devices = Vec::new();
        let mut by_id = HashMap::new();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| CatalogError::Csv(e.to_string()))?;
            let get = |name: &str| -> Option<&str> {
                headers
                    .iter()
                    .position(|h| h == name)
                    .and_then(|p| rec.get(p))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
            };
            let dev = parse_row(i + 1, &get)?;
            if by_id.insert(dev.id.clone(), devices.len()).is_some() {
                return Err(CatalogError::Duplicate(dev.id));
            }
            devices.push(dev);
        }
        Ok(Catalog {
            devices,
            by_id,
            names: OnceLock::new(),
        })
    }

    /// Add the CPU platforms of `platforms_csv` (columns of
    /// data/cpu_platforms.csv; rows with an empty id are skipped), each with
    /// its compute figure from the first row of `simd_csv` whose
    /// `simd_contains` occurs in the platform's simd cell.
    pub fn with_cpu_platforms(
        mut self,
        platforms_csv: &str,
        simd_csv: &str,
    ) -> Result<Catalog, CatalogError> {
        // The devices change: names indexed before are stale.
        self.names = OnceLock::new();
        let simd = read_rows(simd_csv)?;
        for (i, row) in read_rows(platforms_csv)?.into_iter().enumerate() {
            let get = |name: &str| row.get(name).map(String::as_str).filter(|s| !s.is_empty());
            let Some(id) = get("id") else { continue };
            let bad = |reason: &str| CatalogError::BadRow {
                row: i + 1,
                id: id.to_string(),
                reason: reason.to_string(),
            };
            let name = get("cpu").ok_or_else(|| bad("missing cpu name"))?;
            let sources = get("sources").ok_or_else(|| bad("missing sources"))?;
            let num = |col: &str| get(col).and_then(leading_number);
            let channels = num("memory_channels");
            let mts = num("max_memory_mts");
            let bandwidth = num("theoretical_bw_gbs")
                .or_else(|| Some(channels? * mts? * 8.0 / 1000.0))
                .map(BytesPerSecond::gbps);
            // A platform without a memory bandwidth figure cannot be used for
            // speed or placement: not loaded (the file header lists them).
            let Some(bandwidth) = bandwidth else { continue };
            let cores = num("cores").map(|c| c as u32).filter(|&c| c > 0);
            let clock = num("base_ghz")
                .or_else(|| num("boost_ghz"))
                .filter(|&c| c > 0.0);
            let simd_cell = get("simd").unwrap_or_default();
            let cpu = match (cores, clock) {
                (Some(cores), Some(clock_ghz)) => simd_unit(&simd, simd_cell, cores, clock_ghz)
                    .map_err(|_| bad("cpu_simd.csv row without fp32_flops_per_cycle"))?,
                _ => None,
            };
            let dev = Device {
                id: id.to_string(),
                name: name.to_string(),
                vendor: get("vendor").unwrap_or_default().to_string(),
                kind: DeviceKind::CpuPlatform,
                category: "CPU / system memory".into(),
                architecture: get("family").map(str::to_string),
                memory: None,
                memory_max: None,
                memory_type: get("memory_type").map(str::to_string),
                bandwidth: Some(bandwidth),
                fp16: None,
                fp16_basis: None,
                bf16: None,
                fp8: None,
                tdp: num("tdp_w").map(Watts),
                price_usd: num("launch_price_usd"),
                price_note: get("launch_price_usd").map(str::to_string),
                interconnect: Interconnect::default(),
                platform: match (channels, mts) {
                    (Some(c), Some(m)) => Some(MemoryPlatform {
                        channels: c as u32,
                        mts: m as u32,
                        sockets: 1,
                    }),
                    _ => None,
                },
                gpu_cores: None,
                boost_clock_ghz: None,
                cpu_cores: cores,
                cpu,
                aliases: get("aliases")
                    .map(|a| {
                        a.split(';')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                sources: Sources {
                    row: sources.to_string(),
                    flops: None,
                    interconnect: None,
                    // Channels and transfer rate come from the row's own sources.
                    platform: Some(match get("measured_bw_source") {
                        Some(m) => format!("{sources}; measured bandwidth: {m}"),
                        None => sources.to_string(),
                    }),
                    clock: None,
                },
                notes: get("notes").map(str::to_string),
            };
            if self
                .by_id
                .insert(dev.id.clone(), self.devices.len())
                .is_some()
            {
                return Err(CatalogError::Duplicate(dev.id));
            }
            self.devices.push(dev);
        }
        Ok(self)
    }

    /// All devices, in catalog order.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The device with this exact id.
    pub fn get(&self, id: &str) -> Option<&Device> {
        self.by_id.get(id).map(|&i| &self.devices[i])
    }

    /// Devices whose id, name, vendor, kind, category or aliases contain
    /// every word of `text` (case-insensitive).
    pub fn filter<'a>(&'a self, text: &str) -> Vec<&'a Device> {
        let words: Vec<String> = text.split_whitespace().map(|w| w.to_lowercase()).collect();
        self.devices
            .iter()
            .filter(|d| {
                let hay = format!(
                    "{} {} {} {} {} {}",
                    d.id,
                    d.name,
                    d.vendor,
                    d.kind,
                    d.category,
                    d.aliases.join(" ")
                )
                .to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .collect()
    }
}

/// Every row of a CSV (`#` lines are comments) as column → cell.
/// The compute of a CPU of `cores` physical cores at `clock_ghz` whose SIMD
/// extensions are described by `simd` (a catalog `simd` cell, or what
/// detection builds from the CPU's flags, e.g. "AVX2"): the first row of
/// `data/cpu_simd.csv` whose `simd_contains` occurs in it. `None` when no row
/// matches.
pub fn cpu_compute_for(simd: &str, cores: u32, clock_ghz: f64) -> Option<CpuCompute> {
    let rows = read_rows(CPU_SIMD_CSV).ok()?;
    simd_unit(&rows, simd, cores, clock_ghz).ok().flatten()
}

/// See [`cpu_compute_for`]; `Err` for a matching row without its FP32 rate.
fn simd_unit(
    simd: &[HashMap<String, String>],
    cell: &str,
    cores: u32,
    clock_ghz: f64,
) -> Result<Option<CpuCompute>, ()> {
    let cell = cell.to_ascii_lowercase();
    let Some(u) = simd.iter().find(|u| {
        u.get("simd_contains")
            .is_some_and(|k| !k.is_empty() && cell.contains(&k.to_ascii_lowercase()))
    }) else {
        return Ok(None);
    };
    Ok(Some(CpuCompute {
        cores,
        clock_ghz,
        unit: u.get("unit").cloned().unwrap_or_default(),
        flops_per_cycle: u
            .get("fp32_flops_per_cycle")
            .and_then(|v| leading_number(v))
            .ok_or(())?,
        source: u.get("source").cloned().unwrap_or_default(),
        int8_ops_per_cycle: u
            .get("int8_ops_per_cycle")
            .and_then(|v| leading_number(v))
            .unwrap_or(0.0),
        vec_dot_cycle_factor: u
            .get("vec_dot_cycle_factor")
            .and_then(|v| leading_number(v))
            .filter(|f| (0.25..=8.0).contains(f))
            .unwrap_or(1.0),
    }))
}

fn read_rows(text: &str) -> Result<Vec<HashMap<String, String>>, CatalogError> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| CatalogError::Csv(e.to_string()))?
        .clone();
    rdr.records()
        .map(|rec| {
            let rec = rec.map_err(|e| CatalogError::Csv(e.to_string()))?;
            Ok(headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.trim().to_string()))
                .collect())
        })
        .collect()
}

/// The leading number of a cell: `max 96 ...` → 96, `~33600 (...)` → 33600,
/// `1,999` → 1999; `unconfirmed` / `n/a` → `None`.
pub(crate) fn leading_number(cell: &str) -> Option<f64> {
    let t = cell.trim();
    let t = t.strip_prefix("max ").unwrap_or(t);
    let t = t.trim_start_matches(['~', '$']);
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(t.len());
    let num = t[..end].replace(',', "");
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

fn gib_f(gb: f64) -> Bytes {
    Bytes((gb * GIB as f64).round() as u64)
}

fn parse_row<'a>(
    row: usize,
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<Device, CatalogError> {
    let id = get("id").unwrap_or_default().to_string();
    let bad = |reason: &str| CatalogError::BadRow {
        row,
        id: id.clone(),
        reason: reason.to_string(),
    };
    if id.is_empty() {
        return Err(bad("missing id"));
    }
    let name = get("hardware").ok_or_else(|| bad("missing hardware name"))?;
    let kind = match get("kind") {
        Some("gpu") => DeviceKind::Gpu,
        Some("apple_soc") => DeviceKind::AppleSoc,
        Some("unified_soc") => DeviceKind::UnifiedSoc,
        Some("cpu_platform") => DeviceKind::CpuPlatform,
        _ => {
            return Err(bad(
                "kind must be gpu, apple_soc, unified_soc or cpu_platform",
            ))
        }
    };
    let sources = get("sources").ok_or_else(|| bad("missing sources"))?;
    let num = |col: &str| get(col).and_then(leading_number);
    let text = |col: &str| get(col).map(str::to_string);

    // "max 64" is the largest configuration of a chip, not its memory.
    let mem_cell = get("memory_gb").unwrap_or_default();
    let (memory, memory_max) = match leading_number(mem_cell) {
        Some(gb) if mem_cell.starts_with("max") => (None, Some(gib_f(gb))),
        Some(gb) => (Some(gib_f(gb)), None),
        None => (None, None),
    };
    let platform = match (num("mem_channels"), num("mem_mts"), num("sockets")) {
        (Some(c), Some(m), Some(s)) => Some(MemoryPlatform {
            channels: c as u32,
            mts: m as u32,
            sockets: s as u32,
        }),
        _ => None,
    };
    let (gpu_cores, cpu_cores) = cores_from_name(name);
    let flops_source = text("flops_source");
    let interconnect_source = text("interconnect_source");
    Ok(Device {
        id: id.clone(),
        name: name.to_string(),
        vendor: get("vendor").unwrap_or_default().to_string(),
        kind,
        category: get("category").unwrap_or_default().to_string(),
        architecture: text("architecture"),
        memory,
        memory_max,
        memory_type: text("memory_type"),
        bandwidth: num("memory_bandwidth_gbs").map(BytesPerSecond::gbps),
        fp16: num("fp16_tensor_dense_tflops").map(FlopsPerSecond::tflops),
        fp16_basis: text("fp16_basis"),
        bf16: num("bf16_tflops").map(FlopsPerSecond::tflops),
        fp8: num("fp8_tflops").map(FlopsPerSecond::tflops),
        tdp: num("tdp_w").map(Watts),
        price_usd: num("launch_price_usd"),
        price_note: text("launch_price_usd"),
        interconnect: Interconnect {
            bus: text("pcie").filter(|s| s != "n/a"),
            pcie_gen: num("pcie_gen").map(|v| v as u8),
            pcie_lanes: num("pcie_lanes").map(|v| v as u8),
            nvlink: num("nvlink_gbs").map(BytesPerSecond::gbps),
            fabric: text("nvlink_or_fabric").filter(|s| s != "n/a"),
        },
        platform,
        gpu_cores: gpu_cores.or_else(|| num("apple_gpu_cores").map(|v| v as u32)),
        boost_clock_ghz: num("boost_clock_mhz")
            .filter(|mhz| *mhz > 0.0)
            .map(|mhz| mhz / 1000.0),
        cpu_cores,
        cpu: None,
        aliases: get("aliases")
            .map(|a| {
                a.split(';')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        sources: Sources {
            row: sources.to_string(),
            flops: flops_source,
            interconnect: interconnect_source,
            platform: text("platform_source"),
            clock: text("clock_source").filter(|s| !s.is_empty()),
        },
        notes: text("notes"),
    })
}

/// GPU and CPU core counts written in a name: `(14-core CPU, 20-core GPU)`.
pub(crate) fn cores_from_name(name: &str) -> (Option<u32>, Option<u32>) {
    let lower = name.to_lowercase();
    let mut gpu = None;
    let mut cpu = None;
    let mut rest = lower.as_str();
    while let Some(p) = rest.find("-core") {
        let before = &rest[..p];
        let digits: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let after = rest[p + 5..].trim_start();
        if let Ok(n) = digits.parse::<u32>() {
            if after.starts_with("gpu") {
                gpu = Some(n);
            } else if after.starts_with("cpu") {
                cpu = Some(n);
            }
        }
        rest = &rest[p + 5..];
    }
    (gpu, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_numbers() {
        assert_eq!(leading_number("max 96 or less"), Some(96.0));
        assert_eq!(leading_number("~33600 (analyst estimate)"), Some(33600.0));
        assert_eq!(leading_number("499 (unconfirmed)"), Some(499.0));
        assert_eq!(leading_number("1,999"), Some(1999.0));
        assert_eq!(leading_number("unconfirmed"), None);
        assert_eq!(leading_number("n/a (see power.csv)"), None);
        assert_eq!(leading_number(""), None);
        assert_eq!(leading_number("."), None);
    }

    #[test]
    fn cores_in_names() {
        assert_eq!(
            cores_from_name("Apple M4 Pro (14-core CPU, 20-core GPU) 48GB"),
            (Some(20), Some(14))
        );
        assert_eq!(
            cores_from_name("Apple M1 Max (32-core GPU)"),
            (Some(32), None)
        );
        assert_eq!(cores_from_name("RTX 4090"), (None, None));
    }

    #[test]
    fn malformed_catalogs_are_errors_not_panics() {
        assert!(Catalog::from_csv("id,kind\n,gpu\n").is_err());
        assert!(Catalog::from_csv("id,kind,hardware,sources\nx,alien,X,s\n").is_err());
        assert!(matches!(
            Catalog::from_csv("id,kind,hardware,sources\nx,gpu,X,s\nx,gpu,Y,s\n"),
            Err(CatalogError::Duplicate(_))
        ));
        assert!(Catalog::from_csv("id,kind,hardware,sources\nx,gpu,X,s\n").is_ok());
    }
}
