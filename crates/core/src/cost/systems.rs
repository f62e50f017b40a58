//! Whole systems with dated, sourced prices: a Mac, a DGX Spark or a Ryzen
//! AI Max box is one priced machine; a PC or server is its parts (CPU,
//! motherboard, memory, GPUs), each priced from `data/prices-2026-12.csv`
//! through the mapping in `data/systems.toml`. A part without a sourced price
//! is named, and the system is priced without it; `--price PART=USD`
//! replaces any part's price.

use super::prices::{Price, PriceDate, PriceKind, PriceOverride, PriceValue, Prices};
use super::CostError;
use crate::hardware::{self, Catalog, Device, DeviceKind, HardwareSet};
use crate::units::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Which price rows price which catalog device (embedded).
pub const SYSTEMS_TOML: &str = include_str!("../../data/systems.toml");

/// A machine sold whole.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SystemEntry {
    /// Catalog id of its chip.
    pub device: String,
    /// When the catalog id is a chip of any memory size: the size this machine has.
    #[serde(default)]
    pub memory_gib: Option<u64>,
    /// The machine's name.
    pub name: String,
    /// Parts summed; each a list of alternative item prefixes.
    pub parts: Vec<Vec<String>>,
    /// Parts with no sourced price.
    #[serde(default)]
    pub missing: Vec<String>,
    /// What the buyer should know.
    #[serde(default)]
    pub note: Option<String>,
}

/// A device bought on its own: purchase and rental rows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeviceEntry {
    /// Catalog id.
    pub id: String,
    /// Item prefixes of its purchase rows.
    pub items: Vec<String>,
    /// Item prefixes of its cloud-rental rows.
    #[serde(default)]
    pub rent: Vec<String>,
}

/// A motherboard row for CPUs of some families.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BoardEntry {
    /// Catalog families (prefixes) it takes.
    pub families: Vec<String>,
    /// Sockets.
    pub sockets: u32,
    /// Item prefixes.
    pub items: Vec<String>,
}

/// Memory rows by platform type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MemoryEntry {
    /// DDR generation the platform's memory type names.
    #[serde(rename = "type")]
    pub ddr: String,
    /// Fewest channels per socket (server RDIMM from 4).
    pub min_channels: u32,
    /// Item prefixes.
    pub items: Vec<String>,
    /// GiB one priced unit holds.
    pub gib_per_unit: u64,
    /// A module in every channel of every socket.
    pub one_per_channel: bool,
    /// What a unit is, in words.
    pub what: String,
}

/// The mapping file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SystemsFile {
    /// Whole machines.
    #[serde(default)]
    pub system: Vec<SystemEntry>,
    /// Devices bought on their own.
    #[serde(default)]
    pub device: Vec<DeviceEntry>,
    /// Motherboards.
    #[serde(default)]
    pub board: Vec<BoardEntry>,
    /// Memory.
    #[serde(default)]
    pub memory: Vec<MemoryEntry>,
}

/// The mapping with the price rows and each CPU's socket limit.
#[derive(Debug)]
pub struct Systems {
    /// The mapping.
    pub file: SystemsFile,
    /// The price rows.
    pub prices: &'static Prices,
    /// `sockets_max` of each CPU platform id (cpu_platforms.csv).
    pub max_sockets: HashMap<String, u32>,
    /// `release_date` of each catalog device (hardware.csv): the date of its launch price.
    pub release: HashMap<String, String>,
}

static EMBEDDED: OnceLock<Result<Systems, CostError>> = OnceLock::new();

/// One column of a catalog CSV (comment lines skipped), by id.
fn column(csv_text: &str, name: &str) -> Result<HashMap<String, String>, CostError> {
    let text: String = csv_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r
        .headers()
        .map_err(|e| CostError::Model(e.to_string()))?
        .clone();
    let col = |n: &str| h.iter().position(|x| x == n);
    let (Some(id), Some(s)) = (col("id"), col(name)) else {
        return Err(CostError::Model(format!("catalog: no id or {name} column")));
    };
    let mut out = HashMap::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| CostError::Model(e.to_string()))?;
        if let (Some(i), Some(v)) = (rec.get(id), rec.get(s).map(str::trim)) {
            if !i.is_empty() && !v.is_empty() {
                out.insert(i.to_string(), v.to_string());
            }
        }
    }
    Ok(out)
}

impl Systems {
    /// The embedded mapping, parsed and checked on first use.
    pub fn embedded() -> Result<&'static Systems, CostError> {
        EMBEDDED
            .get_or_init(|| {
                let file: SystemsFile = toml::from_str(SYSTEMS_TOML)
                    .map_err(|e| CostError::Model(format!("systems.toml: {e}")))?;
                Ok(Systems {
                    file,
                    prices: Prices::embedded()?,
                    max_sockets: column(hardware::CPU_PLATFORMS_CSV, "sockets_max")?
                        .into_iter()
                        .filter_map(|(k, v)| v.parse().ok().map(|n| (k, n)))
                        .collect(),
                    release: column(hardware::HARDWARE_CSV, "release_date")?,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The machines a catalog device is sold as, first the default.
    pub fn systems_of<'a>(&'a self, d: &'a Device) -> impl Iterator<Item = &'a SystemEntry> + 'a {
        self.file.system.iter().filter(move |s| {
            s.device == d.id
                && s.memory_gib
                    .is_none_or(|g| d.usable_memory() == Some(Bytes::gib(g)))
        })
    }

    /// Most sockets a CPU platform takes (1 when the file does not say).
    pub fn sockets_max(&self, d: &Device) -> u32 {
        self.max_sockets.get(&d.id).copied().unwrap_or(1)
    }

    /// The purchase row of a device bought on its own, dated closest to `now`.
    pub fn device_price(&self, d: &Device, now: PriceDate) -> Option<Price> {
        let buy = |k: PriceKind| k != PriceKind::RentalPerHour;
        let row = match d.kind {
            DeviceKind::CpuPlatform => self.prices.closest_named(&d.name, &buy, now),
            _ => self
                .file
                .device
                .iter()
                .find(|e| e.id == d.id)
                .and_then(|e| self.prices.closest(&e.items, &buy, now)),
        };
        if let Some(p) = row {
            return Some(p.clone());
        }
        // The catalog's launch price (hardware.csv, Epoch and TechPowerUp) when
        // the price file has none, dated by the device's release.
        let released = self.release.get(&d.id);
        d.price_usd.map(|usd| Price {
            item: d.name.clone(),
            category: "catalog".into(),
            value: PriceValue::Exact { value: usd },
            currency: "USD".into(),
            per: String::new(),
            kind: PriceKind::LaunchMsrp,
            as_of: released.and_then(|r| PriceDate::parse(r)),
            as_of_text: released
                .map_or_else(|| "at launch, undated".into(), |r| format!("{r} (release)")),
            source: "crates/core/data/hardware.csv launch_price_usd".into(),
            notes: d.price_note.clone().unwrap_or_default(),
        })
    }

    /// The rental row of a device, dated closest to `now`.
    pub fn rental(&self, d: &Device, now: PriceDate) -> Option<Price> {
        let keys = self.file.device.iter().find(|e| e.id == d.id)?.rent.clone();
        let rent = |k: PriceKind| k == PriceKind::RentalPerHour;
        self.prices.closest(&keys, &rent, now).cloned()
    }
}

/// What a part is in a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartRole {
    /// A machine sold whole (a Mac, a DGX Spark, a mini PC).
    System,
    /// An accelerator.
    Gpu,
    /// The CPU.
    Cpu,
    /// The motherboard.
    Motherboard,
    /// System memory.
    Memory,
    /// The host of GPUs named without a CPU.
    Host,
}

/// One priced part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricedPart {
    /// What it is.
    pub role: PartRole,
    /// Its name.
    pub what: String,
    /// How many.
    pub count: u32,
    /// The row used (or the user's figure).
    pub price: Price,
    /// count × the row's figure, USD.
    pub usd: f64,
}

/// A system's price: its parts, what has no price, the total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemPrice {
    /// The system in words.
    pub name: String,
    /// Priced parts.
    pub parts: Vec<PricedPart>,
    /// Parts with no sourced price: the total leaves them out.
    pub missing: Vec<String>,
    /// Sum of the priced parts, USD (`None` when no part is priced).
    pub total_usd: Option<f64>,
    /// Memory bought, when the system's memory is priced as parts.
    pub memory: Option<Bytes>,
    /// Whether a machine, GPU or CPU has no price (not only a board or the
    /// host): such a total says little, and `plan` does not rank it as cheap.
    pub missing_main: bool,
    /// What the buyer should know.
    pub notes: Vec<String>,
}

impl SystemPrice {
    /// Whether the total is a lower bound (a part missing or priced as "at least").
    pub fn at_least(&self) -> bool {
        !self.missing.is_empty()
            || self
                .parts
                .iter()
                .any(|p| matches!(p.price.value, PriceValue::AtLeast { .. }))
    }

    /// `≥7999 USD` or `3999 USD`, or `unknown`.
    pub fn total_text(&self) -> String {
        match self.total_usd {
            Some(t) if self.at_least() => format!("≥{t:.0} USD"),
            Some(t) => format!("{t:.0} USD"),
            None => "unknown".into(),
        }
    }

    /// One line per part with its kind, date and source, then the missing parts.
    pub fn lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                let n = if p.count > 1 {
                    format!("{} × ", p.count)
                } else {
                    String::new()
                };
                format!(
                    "{n}{}: {} = {:.0} USD [{}]",
                    p.what,
                    p.price.short(),
                    p.usd,
                    p.price.source
                )
            })
            .collect();
        v.extend(
            self.missing
                .iter()
                .map(|m| format!("priced without {m}: give it with --price")),
        );
        v.extend(self.notes.iter().cloned());
        v
    }
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The user's figure for a part: by role word, or by a catalog name that
/// resolves to the part's device.
fn user_price<'a>(
    overrides: &'a [PriceOverride],
    role: PartRole,
    device: Option<&Device>,
) -> Option<&'a PriceOverride> {
    let words: &[&str] = match role {
        PartRole::Motherboard => &["motherboard", "board", "mainboard"],
        PartRole::Memory => &["ram", "memory"],
        PartRole::Cpu => &["cpu"],
        PartRole::Host => &["host"],
        PartRole::System => &["system"],
        PartRole::Gpu => &["gpu"],
    };
    overrides.iter().find(|o| {
        let k = squash(&o.key);
        if words.contains(&k.as_str()) {
            return true;
        }
        let Some(d) = device else { return false };
        if squash(&d.id) == k || d.aliases.iter().any(|a| squash(a) == k) {
            return true;
        }
        Catalog::embedded()
            .ok()
            .and_then(|c| hardware::resolve(c, &o.key).ok())
            .is_some_and(|r| r.len() == 1 && r[0].device.id == d.id)
    })
}

fn part(role: PartRole, what: String, count: u32, price: Price) -> PricedPart {
    PricedPart {
        role,
        what,
        count,
        usd: price.value.point() * f64::from(count),
        price,
    }
}

/// Price a set of catalog devices as the system a buyer would own: a whole
/// machine when one is in the set, else a PC or server from its parts, with
/// `ram` of memory when a CPU platform holds part of the model. `now`
/// chooses between dated rows.
pub fn price_set(
    set: &HardwareSet,
    ram: Option<Bytes>,
    overrides: &[PriceOverride],
    now: PriceDate,
) -> Result<SystemPrice, CostError> {
    let sys = Systems::embedded()?;
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    let mut names = Vec::new();
    let mut memory = None;
    let mut missing_main = false;
    let has_host = set.devices.iter().any(|(d, _)| {
        matches!(
            d.kind,
            DeviceKind::CpuPlatform | DeviceKind::AppleSoc | DeviceKind::UnifiedSoc
        )
    });
    for (d, n) in &set.devices {
        let n = *n;
        match d.kind {
            DeviceKind::AppleSoc | DeviceKind::UnifiedSoc => {
                let entry = sys.systems_of(d).next();
                let name = entry.map_or_else(|| d.name.clone(), |e| e.name.clone());
                names.push(if n > 1 {
                    format!("{n}× {name}")
                } else {
                    name.clone()
                });
                if let Some(o) = user_price(overrides, PartRole::System, Some(d)) {
                    parts.push(part(PartRole::System, name, n, Price::user(&o.key, o.usd)));
                    continue;
                }
                let Some(e) = entry else {
                    missing.push(format!("{name} (no sourced price)"));
                    missing_main = true;
                    continue;
                };
                for alternatives in &e.parts {
                    let any = |k: PriceKind| k != PriceKind::RentalPerHour;
                    match sys.prices.closest(alternatives, &any, now) {
                        Some(p) => parts.push(part(PartRole::System, p.item.clone(), n, p.clone())),
                        None => missing.push(format!(
                            "{} (no row in the price file)",
                            alternatives.join(" / ")
                        )),
                    }
                }
                missing.extend(e.missing.iter().cloned());
                notes.extend(e.note.iter().map(|x| format!("{name}: {x}")));
            }
            DeviceKind::Gpu => {
                names.push(if n > 1 {
                    format!("{n}× {}", d.name)
                } else {
                    d.name.clone()
                });
                if let Some(o) = user_price(overrides, PartRole::Gpu, Some(d)) {
                    parts.push(part(
                        PartRole::Gpu,
                        d.name.clone(),
                        n,
                        Price::user(&o.key, o.usd),
                    ));
                } else if let Some(p) = sys.device_price(d, now) {
                    parts.push(part(PartRole::Gpu, d.name.clone(), n, p));
                } else {
                    missing.push(format!("{} (no sourced price)", d.name));
                    missing_main = true;
                }
            }
            DeviceKind::CpuPlatform => {
                let sockets = n.max(1);
                names.push(if sockets > 1 {
                    format!("{sockets}× {}", d.name)
                } else {
                    d.name.clone()
                });
                // The CPU.
                if let Some(o) = user_price(overrides, PartRole::Cpu, Some(d)) {
                    parts.push(part(
                        PartRole::Cpu,
                        d.name.clone(),
                        sockets,
                        Price::user(&o.key, o.usd),
                    ));
                } else if let Some(p) = sys.device_price(d, now) {
                    parts.push(part(PartRole::Cpu, d.name.clone(), sockets, p));
                } else {
                    missing.push(format!("the CPU, {} (no sourced price)", d.name));
                    missing_main = true;
                }
                // The motherboard.
                let family = d.architecture.clone().unwrap_or_default();
                let board = sys.file.board.iter().find(|b| {
                    b.sockets == sockets
                        && b.families.iter().any(|f| family.starts_with(f.as_str()))
                });
                let board_name = format!("the motherboard ({sockets}-socket, {family})");
                if let Some(o) = user_price(overrides, PartRole::Motherboard, None) {
                    parts.push(part(
                        PartRole::Motherboard,
                        board_name,
                        1,
                        Price::user(&o.key, o.usd),
                    ));
                } else {
                    let any = |k: PriceKind| k != PriceKind::RentalPerHour;
                    match board.and_then(|b| sys.prices.closest(&b.items, &any, now)) {
                        Some(p) => {
                            parts.push(part(PartRole::Motherboard, p.item.clone(), 1, p.clone()))
                        }
                        None => missing.push(format!("{board_name}: no sourced price")),
                    }
                }
                // The memory.
                let mem_type = d.memory_type.clone().unwrap_or_default();
                let channels = d.platform.map_or(0, |p| p.channels);
                let entry = sys.file.memory.iter().find(|m| {
                    mem_type.contains(m.ddr.as_str())
                        && !(m.ddr == "DDR4" && mem_type.contains("DDR5"))
                        && channels >= m.min_channels
                });
                let want = ram.unwrap_or_default();
                if let Some(o) = user_price(overrides, PartRole::Memory, None) {
                    memory = ram;
                    parts.push(part(
                        PartRole::Memory,
                        format!("{want} of memory"),
                        1,
                        Price::user(&o.key, o.usd),
                    ));
                } else if let Some(m) = entry {
                    let need = (want.as_gib() / m.gib_per_unit as f64).ceil() as u32;
                    let per_channel = if m.one_per_channel {
                        channels * sockets
                    } else {
                        0
                    };
                    let units = need.max(per_channel).max(1);
                    memory = Some(Bytes::gib(u64::from(units) * m.gib_per_unit));
                    let any = |k: PriceKind| k != PriceKind::RentalPerHour;
                    match sys.prices.closest(&m.items, &any, now) {
                        Some(p) => {
                            if units > need && m.one_per_channel {
                                notes.push(format!(
                                    "memory: {units} × {} fill all {} channels ({} GiB), as the speed estimate assumes",
                                    m.what,
                                    channels * sockets,
                                    u64::from(units) * m.gib_per_unit
                                ));
                            }
                            notes.push(format!(
                                "memory: priced with the row dated closest to {now} ({}, {}); memory prices moved several-fold in 2026",
                                p.as_of_text, p.kind
                            ));
                            parts.push(part(PartRole::Memory, m.what.clone(), units, p.clone()));
                        }
                        None => missing.push(format!("memory, {} (no sourced price)", m.what)),
                    }
                } else {
                    missing.push(format!(
                        "memory for {} ({mem_type}, no sourced price)",
                        d.name
                    ));
                }
            }
        }
    }
    if !has_host && set.devices.iter().any(|(d, _)| d.kind == DeviceKind::Gpu) {
        match user_price(overrides, PartRole::Host, None) {
            Some(o) => parts.push(part(PartRole::Host, "the host PC".into(), 1, Price::user(&o.key, o.usd))),
            None => missing.push(
                "the host PC for the GPUs (CPU, motherboard, memory: name them, e.g. '4090 + epyc-9355 + 768GiB')"
                    .into(),
            ),
        }
    }
    let total = (!parts.is_empty()).then(|| parts.iter().map(|p| p.usd).sum());
    Ok(SystemPrice {
        name: names.join(" + "),
        parts,
        missing,
        total_usd: total,
        memory,
        missing_main,
        notes,
    })
}

/// Renting the set's GPUs by the hour: the sum of each GPU's rental row;
/// `None` when a GPU has none or the set has no GPU.
pub fn rental_per_hour(
    set: &HardwareSet,
    now: PriceDate,
) -> Result<Option<(f64, Vec<Price>)>, CostError> {
    let sys = Systems::embedded()?;
    let mut total = 0.0;
    let mut rows = Vec::new();
    for (d, n) in &set.devices {
        match d.kind {
            DeviceKind::Gpu => match sys.rental(d, now) {
                Some(p) => {
                    total += p.value.point() * f64::from(*n);
                    rows.push(p);
                }
                None => return Ok(None),
            },
            // The host comes with the rented machine.
            DeviceKind::CpuPlatform => {}
            _ => return Ok(None),
        }
    }
    Ok((!rows.is_empty()).then_some((total, rows)))
}

#[cfg(test)]
mod tests {
    use super::super::prices::REFERENCE;
    use super::*;

    fn set(names: &[&str]) -> HardwareSet {
        hardware::resolve_set(Catalog::embedded().unwrap(), names).unwrap()
    }

    #[test]
    fn every_mapped_item_has_a_row() {
        let sys = Systems::embedded().unwrap();
        let cat = Catalog::embedded().unwrap();
        let any = |_: PriceKind| true;
        for s in &sys.file.system {
            assert!(
                cat.get(&s.device).is_some(),
                "{}: not in the catalog",
                s.device
            );
            for alt in &s.parts {
                assert!(sys.prices.matching(alt, &any).next().is_some(), "{alt:?}");
            }
        }
        for d in &sys.file.device {
            assert!(cat.get(&d.id).is_some(), "{}: not in the catalog", d.id);
            assert!(
                sys.prices.matching(&d.items, &any).next().is_some(),
                "{:?}",
                d.items
            );
            if !d.rent.is_empty() {
                assert!(
                    sys.prices.matching(&d.rent, &any).next().is_some(),
                    "{:?}",
                    d.rent
                );
            }
        }
        for b in &sys.file.board {
            assert!(
                sys.prices.matching(&b.items, &any).next().is_some(),
                "{:?}",
                b.items
            );
        }
        for m in &sys.file.memory {
            assert!(
                sys.prices.matching(&m.items, &any).next().is_some(),
                "{:?}",
                m.items
            );
        }
    }

    #[test]
    fn a_mac_studio_is_priced_whole_and_names_what_has_no_price() {
        let p = price_set(&set(&["m3-ultra-512"]), None, &[], REFERENCE).unwrap();
        // $3,999 base + $4,000 512GB upgrade (launch MSRPs, 2025-03), chip upgrade unpriced.
        assert_eq!(p.total_usd, Some(7999.0));
        assert!(p.at_least());
        assert_eq!(p.parts.len(), 2);
        assert!(p
            .parts
            .iter()
            .all(|x| x.price.kind == PriceKind::LaunchMsrp));
        assert!(p.missing[0].contains("chip upgrade"), "{:?}", p.missing);
        assert!(p.lines().iter().any(|l| l.contains("2025-03-05")));
    }

    #[test]
    fn a_server_is_priced_from_its_parts() {
        // EPYC 9654 (1kU list, 2023-07) + RTX 4090 + 768 GiB of DDR5 RDIMM.
        let p = price_set(
            &set(&["epyc-9654 + 4090"]),
            Some(Bytes::gib(768)),
            &[],
            REFERENCE,
        )
        .unwrap();
        let cpu = p.parts.iter().find(|x| x.role == PartRole::Cpu).unwrap();
        assert_eq!(cpu.usd, 11805.0);
        assert_eq!(cpu.price.kind, PriceKind::LaunchMsrp);
        let mem = p.parts.iter().find(|x| x.role == PartRole::Memory).unwrap();
        // 12 channels, one 64GB module each: 768 GiB, at the 2026-Q2 row (≥ $1,000 a module).
        assert_eq!(mem.count, 12);
        assert_eq!(mem.price.as_of_text, "2026-Q2");
        assert_eq!(mem.usd, 12000.0);
        assert_eq!(p.memory, Some(Bytes::gib(768)));
        let gpu = p.parts.iter().find(|x| x.role == PartRole::Gpu).unwrap();
        assert!(gpu.price.as_of.is_some());
        // No sourced SP5 board: named, and the total leaves it out.
        assert!(
            p.missing.iter().any(|m| m.contains("motherboard")),
            "{:?}",
            p.missing
        );
        assert_eq!(p.total_usd, Some(cpu.usd + mem.usd + gpu.usd));
        assert!(p.total_text().starts_with('≥'));
    }

    #[test]
    fn user_prices_replace_the_files_and_fill_missing_parts() {
        let o = [
            PriceOverride::parse("4090=1600").unwrap(),
            PriceOverride::parse("motherboard=900").unwrap(),
        ];
        let p = price_set(
            &set(&["epyc-9654 + 4090"]),
            Some(Bytes::gib(768)),
            &o,
            REFERENCE,
        )
        .unwrap();
        let gpu = p.parts.iter().find(|x| x.role == PartRole::Gpu).unwrap();
        assert_eq!((gpu.usd, gpu.price.kind), (1600.0, PriceKind::User));
        let board = p
            .parts
            .iter()
            .find(|x| x.role == PartRole::Motherboard)
            .unwrap();
        assert_eq!(board.usd, 900.0);
        assert!(!p.missing.iter().any(|m| m.contains("motherboard")));
    }

    #[test]
    fn a_cpu_row_is_its_name_not_a_sibling() {
        let sys = Systems::embedded().unwrap();
        let cat = Catalog::embedded().unwrap();
        let i9 = sys
            .device_price(cat.get("core-i9-14900k").unwrap(), REFERENCE)
            .unwrap();
        assert_eq!(
            (i9.item.as_str(), i9.as_of_text.as_str()),
            ("Intel Core i9-14900K", "2023-10")
        );
        let e = sys
            .device_price(cat.get("epyc-9654").unwrap(), REFERENCE)
            .unwrap();
        assert_eq!(e.item, "AMD EPYC 9654 (96c, Genoa)");
    }

    #[test]
    fn dual_socket_fills_both_sockets_channels() {
        let sys = Systems::embedded().unwrap();
        let cat = Catalog::embedded().unwrap();
        let cpu = cat.get("epyc-9654").unwrap();
        assert_eq!(sys.sockets_max(cpu), 2);
        let s = HardwareSet {
            devices: vec![(cpu.clone(), 2)],
            assumptions: vec![],
        };
        let p = price_set(&s, Some(Bytes::gib(512)), &[], REFERENCE).unwrap();
        let mem = p.parts.iter().find(|x| x.role == PartRole::Memory).unwrap();
        assert_eq!(mem.count, 24);
        assert_eq!(
            p.parts
                .iter()
                .find(|x| x.role == PartRole::Cpu)
                .unwrap()
                .count,
            2
        );
    }

    #[test]
    fn gpus_rent_by_the_hour() {
        let (h, rows) = rental_per_hour(&set(&["2x4090"]), REFERENCE)
            .unwrap()
            .unwrap();
        assert_eq!(rows[0].kind, PriceKind::RentalPerHour);
        assert!((h - 2.0 * rows[0].value.point()).abs() < 1e-9);
        assert!(rental_per_hour(&set(&["m3-ultra-512"]), REFERENCE)
            .unwrap()
            .is_none());
    }
}
