//! Power and cost: watts at the wall, energy per token, electricity cost,
//! heat, the power supply a setup needs, and the return on buying hardware
//! instead of paying an API.
//!
//! The constants live in `data/power_model.toml`, each with its meaning and
//! source; the method is in that file's header and in [`PowerModel::method`]. Power is
//! predicted from catalog ratings (TDP) and a utilisation that follows the
//! speed model's decode terms, so a device that waits (per-token overhead,
//! its turn in a layer split) draws less than one that streams weights.
//! `canirun validate power` checks it against the whole-system rows of
//! `data/power.csv`.

pub mod money;
pub mod power;
pub mod prices;
pub mod systems;

pub use money::{break_even, roi, ApiPrice, BreakEven, KwhPrice, Roi, RoiInput};
pub use power::{
    decode_duty, energy_per_token, heat_btu_per_hour, loads_for, psu_size, wall_power, DeviceLoad,
    Host, Phase, PowerEstimate, PowerTerm, BTU_PER_HOUR_PER_WATT,
};
pub use prices::{Price, PriceDate, PriceKind, PriceOverride, PriceValue, Prices};
pub use systems::{price_set, rental_per_hour, PartRole, PricedPart, SystemPrice, Systems};

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The power model's constants, embedded at build time.
pub const POWER_MODEL_TOML: &str = include_str!("../../data/power_model.toml");

/// The measured power rows (copied from shared/data/power.csv, source columns kept).
pub const POWER_CSV: &str = include_str!("../../data/power.csv");

/// The price rows (copied from shared/data/prices.csv, source columns kept).
pub const PRICES_CSV: &str = include_str!("../../data/prices.csv");

/// Why a power or cost figure could not be produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    /// The embedded constants do not parse.
    #[error("power model: {0}")]
    Model(String),
    /// A device has no power rating in the catalog.
    #[error("{0}: no TDP in the catalog, so no power estimate")]
    NoRating(String),
    /// An input out of range (negative price, zero years, …).
    #[error("{0}")]
    BadInput(String),
}

/// Provenance of the constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Data the fitted constants were chosen on.
    pub fitted_on: String,
    /// How they were chosen.
    pub method: String,
    /// The command that checks them.
    pub command: String,
}

/// Idle draw of the machine at the wall, by kind of host.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaseDraw {
    /// Desktop PC (any setup with discrete GPUs or a CPU platform), watts.
    pub pc_idle_w: f64,
    /// Mac, watts.
    pub mac_idle_w: f64,
    /// Small unified-memory box (GB10, Strix Halo), watts.
    pub soc_idle_w: f64,
    /// A PC host's extra draw while a GPU runs the model: the engine's host
    /// thread spins on the GPU stream, one core clocked up at full load
    /// (watts at the wall; fitted, see power_model.toml).
    #[serde(default)]
    pub gpu_host_spin_w: f64,
}

/// Power-supply efficiency and sizing rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsuRule {
    /// DC out ÷ AC in.
    pub efficiency: f64,
    /// Highest sustained load as a fraction of the rating.
    pub max_load_fraction: f64,
    /// Host CPU budget counted when sizing a PC's supply, watts.
    pub pc_host_cpu_w: f64,
    /// Standard ratings to round up to, watts.
    pub sizes_w: Vec<u32>,
}

/// Utilisation: the fraction of a device's rating it adds at the wall.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Utilisation {
    /// An Apple chip's utilisation while it streams weights in decode.
    pub stream: f64,
    /// Whole-system energy per gigabyte a non-Apple device streams in
    /// decode when it streams continuously (DRAM reads, the cores that
    /// dequantize and multiply them, the host feeding it), joules per GB;
    /// scaled by the device's duty (the share of each token's time it
    /// streams).
    pub j_per_gb: f64,
    /// While waiting (overhead, links, other devices' turns): discrete
    /// GPUs and other non-Apple devices.
    pub wait: f64,
    /// While waiting, Apple chips: the SoC keeps its GPU clocked and its CPU
    /// cores prepare every token, so a Mac's draw barely changes between
    /// busy and streaming.
    pub apple_wait: f64,
    /// During prefill (full load); also the ceiling of a non-Apple
    /// device's decode utilisation.
    pub prefill: f64,
    /// Apple chips: rating per GPU core, watts.
    pub apple_w_per_gpu_core: f64,
}

/// Defaults of the cost flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    /// Electricity price per kWh.
    pub kwh_price: f64,
    /// Its currency (ISO 4217 code).
    pub kwh_currency: String,
    /// Amortisation period, years.
    pub years: f64,
    /// Generated tokens per day.
    pub tokens_per_day: f64,
    /// API input price, USD per 1M tokens.
    pub api_price_in: f64,
    /// API output price, USD per 1M tokens.
    pub api_price_out: f64,
}

/// All constants of the power and cost model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerModel {
    /// Provenance.
    pub meta: Meta,
    /// Idle draw.
    pub base: BaseDraw,
    /// Supply.
    pub psu: PsuRule,
    /// Utilisation.
    pub utilisation: Utilisation,
    /// Flag defaults.
    pub defaults: Defaults,
}

static EMBEDDED: OnceLock<Result<PowerModel, CostError>> = OnceLock::new();

impl PowerModel {
    /// The embedded model, parsed on first use.
    pub fn embedded() -> Result<&'static PowerModel, CostError> {
        EMBEDDED
            .get_or_init(|| PowerModel::from_toml(POWER_MODEL_TOML))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// One-paragraph statement of the method with this model's constants,
    /// for `--explain` and `validate power`.
    pub fn method(&self) -> String {
        let (b, p, u) = (&self.base, &self.psu, &self.utilisation);
        format!(
            "wall power = base (the machine idling at the wall: desktop PC {:.1} W, Mac {:.1} W, measured) + a PC's host thread spinning on the GPU stream ({:.0} W) + Σ count × rating × utilisation ÷ PSU efficiency ({:.2}). Rating = catalog TDP (Apple: W per GPU core × cores). Decode utilisation of a discrete GPU or other non-Apple device = min(prefill, wait {:.2} + j_per_gb {:.3} J/GB × the GB/s it streams × its duty ÷ its rating): clocked up between kernels it draws little, above that its draw follows the bytes it moves per second (its bytes per token ÷ the speed model's token time, so kernel launches and other devices' turns lower it), each byte at full cost only when it streams continuously (duty = the share of each token's time it streams; GPU boost lowers clocks and voltage under bursty load); a CPU platform decodes at prefill's share, its threads spinning at every op's barrier; Apple chips, whose draw barely changes with the model: apple_wait {:.2} + (stream {:.2} − apple_wait) × duty, duty = the share of each token's time the chip streams weights; prefill utilisation = {:.2} of the rating. J/token = wall power ÷ tokens/s. Constants and sources: crates/core/data/power_model.toml; check: canirun validate power crates/core/data/power.csv",
            b.pc_idle_w, b.mac_idle_w, b.gpu_host_spin_w, p.efficiency, u.wait, u.j_per_gb, u.apple_wait, u.stream, u.prefill
        )
    }

    /// Parse and check a model.
    pub fn from_toml(text: &str) -> Result<PowerModel, CostError> {
        let m: PowerModel = toml::from_str(text).map_err(|e| CostError::Model(e.to_string()))?;
        let u = &m.utilisation;
        let fractions = [
            ("psu.efficiency", m.psu.efficiency),
            ("psu.max_load_fraction", m.psu.max_load_fraction),
        ];
        for (name, v) in fractions {
            if !(v > 0.0 && v <= 1.0) {
                return Err(CostError::Model(format!("{name} = {v} must be in (0, 1]")));
            }
        }
        let nonneg = [
            ("utilisation.stream", u.stream),
            ("utilisation.wait", u.wait),
            ("utilisation.j_per_gb", u.j_per_gb),
            ("utilisation.apple_wait", u.apple_wait),
            ("utilisation.prefill", u.prefill),
            ("utilisation.apple_w_per_gpu_core", u.apple_w_per_gpu_core),
            ("base.pc_idle_w", m.base.pc_idle_w),
            ("base.mac_idle_w", m.base.mac_idle_w),
            ("base.soc_idle_w", m.base.soc_idle_w),
            ("base.gpu_host_spin_w", m.base.gpu_host_spin_w),
        ];
        for (name, v) in nonneg {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CostError::Model(format!("{name} = {v} must be ≥ 0")));
            }
        }
        if m.psu.sizes_w.is_empty() {
            return Err(CostError::Model("psu.sizes_w is empty".into()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
