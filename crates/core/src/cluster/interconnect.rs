//! The networks between cluster nodes (`data/interconnects.toml`): bandwidth
//! per port, latency of one message on the software path the engines use,
//! and the switch power where a source gives it.

use crate::units::{BytesPerSecond, Seconds, Watts};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The embedded table.
pub const INTERCONNECTS_TOML: &str = include_str!("../../data/interconnects.toml");

/// One network, as the data file gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interconnect {
    /// What `--interconnect` takes (`ib-ndr`, `tb5-rdma`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Other spellings accepted.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Signalling rate of one port per direction, Gb/s.
    pub line_gbit_s: f64,
    /// Payload bytes one port moves per direction, GB/s.
    pub data_gbyte_s: f64,
    /// Each GPU has its own port (rail-optimised servers).
    pub per_gpu: bool,
    /// One small message, one way, µs.
    pub latency_us: f64,
    /// One small all-reduce across nodes, µs, when sourced.
    #[serde(default)]
    pub collective_latency_us: Option<f64>,
    /// Reached through RDMA.
    pub rdma: bool,
    /// The switch a cluster on this network is assumed to use (none:
    /// point-to-point cables).
    #[serde(default)]
    pub switch: Option<String>,
    /// That switch's ports.
    #[serde(default)]
    pub switch_ports: Option<u32>,
    /// Switch power, W, when sourced (0: point-to-point cables).
    #[serde(default)]
    pub switch_w: Option<f64>,
    /// Where the switch's ports and power come from.
    #[serde(default)]
    pub switch_source: Option<String>,
    /// Where the figures come from.
    pub source: String,
}

impl Interconnect {
    /// Bandwidth of one port, per direction.
    pub fn bandwidth(&self) -> BytesPerSecond {
        BytesPerSecond::gbps(self.data_gbyte_s)
    }

    /// One message, one way.
    pub fn latency(&self) -> Seconds {
        Seconds(self.latency_us * 1e-6)
    }

    /// One small all-reduce across nodes: the sourced figure, else two
    /// one-way messages (reduce, then broadcast back).
    pub fn collective_latency(&self) -> Seconds {
        Seconds(self.collective_latency_us.unwrap_or(2.0 * self.latency_us) * 1e-6)
    }

    /// The switch's power, when sourced.
    pub fn switch_power(&self) -> Option<Watts> {
        self.switch_w.map(Watts)
    }

    /// The switch a cluster needing `ports` ports on this network draws:
    /// none for point-to-point cables, the assumed switch with its sourced
    /// power when one switch has the ports, else why it is not counted.
    pub fn switch_for(&self, ports: u64) -> SwitchPower {
        match (&self.switch, self.switch_w) {
            (None, Some(0.0)) => SwitchPower::PointToPoint,
            (None, _) => SwitchPower::Unsourced {
                why: format!("data/interconnects.toml names no switch for {}", self.name),
            },
            (Some(name), _) if self.switch_ports.is_some_and(|p| ports > u64::from(p)) => {
                SwitchPower::Unsourced {
                    why: format!(
                        "the cluster needs {ports} ports, more than one {name} has; a fabric of several switches is not modelled"
                    ),
                }
            }
            (Some(name), Some(w)) => SwitchPower::One {
                name: name.clone(),
                power: Watts(w),
                source: self.switch_source.clone().unwrap_or_default(),
            },
            (Some(name), None) => SwitchPower::Unsourced {
                why: format!("no sourced power figure for the {name} such a cluster uses"),
            },
        }
    }
}

/// The switch in a cluster's power.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SwitchPower {
    /// Point-to-point cables (Thunderbolt mesh): nothing to power.
    PointToPoint,
    /// One switch, with its sourced power.
    One {
        /// The switch assumed.
        name: String,
        /// Its power.
        power: Watts,
        /// Where the figure comes from.
        source: String,
    },
    /// Not included, and why.
    Unsourced {
        /// Why the switch is left out.
        why: String,
    },
}

impl SwitchPower {
    /// The power counted in the cluster's total.
    pub fn watts(&self) -> Watts {
        match self {
            SwitchPower::One { power, .. } => *power,
            _ => Watts(0.0),
        }
    }
}

#[derive(Deserialize)]
struct File {
    interconnect: Vec<Interconnect>,
}

static TABLE: LazyLock<Result<Vec<Interconnect>, String>> = LazyLock::new(|| {
    toml::from_str::<File>(INTERCONNECTS_TOML)
        .map(|f| f.interconnect)
        .map_err(|e| format!("data/interconnects.toml: {e}"))
});

/// Every network of the table.
pub fn all() -> Result<&'static [Interconnect], String> {
    TABLE.as_deref().map_err(Clone::clone)
}

/// The network named `name` (its id or an alias, any case).
pub fn find(name: &str) -> Result<&'static Interconnect, String> {
    let n = name.trim().to_ascii_lowercase();
    let t = all()?;
    t.iter()
        .find(|i| i.id == n || i.aliases.contains(&n))
        .ok_or_else(|| {
            format!(
                "unknown interconnect '{name}'; known: {}",
                t.iter()
                    .map(|i| i.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}
