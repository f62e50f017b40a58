//! Watts at the wall for a setup, in decode and in prefill.

use super::{CostError, PowerModel};
use crate::hardware::{Device, DeviceKind, HardwareSet};
use crate::speed::{decode, Calibration, SpeedError, WorkSplit};
use crate::units::{Joules, TokensPerSecond, Watts};
use serde::Serialize;

/// BTU per hour in one watt (1 W = 3.412 BTU/h; 1 BTU = 1055.06 J).
pub const BTU_PER_HOUR_PER_WATT: f64 = 3.412;

/// Which phase of inference the power is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Generating tokens one by one: memory-bound.
    Decode,
    /// Reading the prompt in batches: compute-bound.
    Prefill,
}

/// The kind of machine around the devices, which sets the idle draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Host {
    /// A desktop or server PC (discrete GPUs, CPU platforms).
    Pc,
    /// A Mac (Apple Silicon).
    Mac,
    /// A small unified-memory box (GB10, Strix Halo).
    Soc,
}

/// One kind of device in a setup, how many, and how busy it is in decode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceLoad {
    /// Display name.
    pub name: String,
    /// Catalog kind.
    pub kind: DeviceKind,
    /// How many.
    pub count: u32,
    /// Catalog TDP per device.
    pub tdp: Option<Watts>,
    /// Apple GPU cores (rating of Apple chips).
    pub gpu_cores: Option<u32>,
    /// Share of each decoded token's time it streams weights, 0..=1.
    pub duty: f64,
    /// Bytes it reads per second in decode (weights, active experts, KV),
    /// GB/s: its bytes per token ÷ the whole token time of the setup.
    pub stream_gbs: f64,
}

impl DeviceLoad {
    /// From a catalog device.
    pub fn from_device(d: &Device, count: u32, duty: f64, stream_gbs: f64) -> DeviceLoad {
        DeviceLoad {
            name: d.name.clone(),
            kind: d.kind,
            count,
            tdp: d.tdp,
            gpu_cores: d.gpu_cores,
            duty: if duty.is_finite() {
                duty.clamp(0.0, 1.0)
            } else {
                1.0
            },
            stream_gbs: if stream_gbs.is_finite() {
                stream_gbs.max(0.0)
            } else {
                0.0
            },
        }
    }

    /// Rating of one device: TDP, or for Apple chips W per GPU core × cores.
    pub fn rating(&self, m: &PowerModel) -> Result<Watts, CostError> {
        match (self.kind, self.tdp, self.gpu_cores) {
            (_, Some(w), _) if w.0 > 0.0 => Ok(w),
            (DeviceKind::AppleSoc, _, Some(c)) => {
                Ok(Watts(m.utilisation.apple_w_per_gpu_core * f64::from(c)))
            }
            _ => Err(CostError::NoRating(self.name.clone())),
        }
    }
}

/// One term of a power estimate, for `--explain` and `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerTerm {
    /// What it is.
    pub label: String,
    /// How it was computed, numbers filled in.
    pub formula: String,
    /// Its watts at the wall.
    pub watts: Watts,
}

/// Predicted wall power of a setup in one phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PowerEstimate {
    /// The phase.
    pub phase: Phase,
    /// The kind of host assumed.
    pub host: Host,
    /// Total at the wall.
    pub wall: Watts,
    /// The terms that add up to `wall`.
    pub terms: Vec<PowerTerm>,
}

/// The host a set of devices implies: a Mac if any Apple chip, a small box
/// if only unified-memory SoCs, else a PC.
pub fn host_of(loads: &[DeviceLoad]) -> Host {
    if loads.iter().any(|l| l.kind == DeviceKind::AppleSoc) {
        Host::Mac
    } else if !loads.is_empty() && loads.iter().all(|l| l.kind == DeviceKind::UnifiedSoc) {
        Host::Soc
    } else {
        Host::Pc
    }
}

/// Wall power of `loads` in `phase`.
pub fn wall_power(
    m: &PowerModel,
    loads: &[DeviceLoad],
    phase: Phase,
) -> Result<PowerEstimate, CostError> {
    if loads.is_empty() {
        return Err(CostError::BadInput(
            "no devices to estimate power for".into(),
        ));
    }
    let host = host_of(loads);
    let (base, what) = match host {
        Host::Pc => (m.base.pc_idle_w, "desktop PC idle at the wall"),
        Host::Mac => (m.base.mac_idle_w, "Mac idle at the wall"),
        Host::Soc => (
            m.base.soc_idle_w,
            "small unified-memory box idle (Mac value borrowed)",
        ),
    };
    let mut terms = vec![PowerTerm {
        label: "base: the machine idling".into(),
        formula: format!("{base:.1} W, {what}"),
        watts: Watts(base),
    }];
    let u = &m.utilisation;
    let eff = m.psu.efficiency;
    let mut total = base;
    // CUDA's and HIP's default schedule spins the host thread that waits on
    // the GPU stream (cudaDeviceScheduleAuto: spin while the contexts are
    // fewer than the logical cores), so a PC running a model on a GPU has
    // one core clocked up besides its idle draw.
    if host == Host::Pc && loads.iter().any(|l| l.kind != DeviceKind::CpuPlatform) {
        let w = m.base.gpu_host_spin_w;
        total += w;
        terms.push(PowerTerm {
            label: "host: the thread waiting on the GPU".into(),
            formula: format!("{w:.0} W, one CPU core spinning on the GPU stream (fitted)"),
            watts: Watts(w),
        });
    }
    for l in loads {
        let r = l.rating(m)?;
        let (util, how) = match phase {
            Phase::Decode if l.kind == DeviceKind::AppleSoc => {
                let wait = u.apple_wait;
                (
                    wait + (u.stream - wait) * l.duty,
                    format!(
                        "{wait:.2} apple_wait + ({:.2} stream − {wait:.2}) × {:.2} duty",
                        u.stream, l.duty
                    ),
                )
            }
            // llama.cpp's CPU threads never idle while a token decodes: each
            // op ends in a barrier they spin at (ggml-cpu.c `ggml_barrier`:
            // `omp barrier`, or a loop of `ggml_thread_cpu_relax`), and a
            // memory stall keeps the core clocked. A CPU platform decoding
            // draws its full-load share.
            Phase::Decode if l.kind == DeviceKind::CpuPlatform => (
                u.prefill,
                format!(
                    "{:.2} prefill: llama.cpp's threads spin at every op's barrier, so the CPU draws its full-load share",
                    u.prefill
                ),
            ),
            Phase::Decode => {
                // Clocked up and waiting, plus the energy of every byte it
                // streams at the share of the time it streams: a GPU that
                // streams in short bursts between kernel gaps runs its
                // boost at lower clocks and voltage (its power management
                // follows the load over milliseconds), so a byte costs
                // less than in a continuous stream. Never above its
                // full-load (prefill) utilisation.
                let raw = u.wait + u.j_per_gb * l.stream_gbs * l.duty / r.0;
                (
                    raw.min(u.prefill),
                    format!(
                        "min({:.2} prefill, {:.2} wait + {:.3} J/GB × {:.0} GB/s streamed × {:.2} duty ÷ {:.0} W)",
                        u.prefill, u.wait, u.j_per_gb, l.stream_gbs, l.duty, r.0
                    ),
                )
            }
            Phase::Prefill => (u.prefill, format!("{:.2} prefill", u.prefill)),
        };
        let w = f64::from(l.count) * r.0 * util / eff;
        total += w;
        let rating = if l.tdp.is_some() {
            format!("{:.0} W TDP", r.0)
        } else {
            format!(
                "{:.2} W/core × {} GPU cores",
                u.apple_w_per_gpu_core,
                l.gpu_cores.unwrap_or(0)
            )
        };
        terms.push(PowerTerm {
            label: format!("{}× {}", l.count, l.name),
            formula: format!(
                "{} × {rating} × utilisation {util:.2} ({how}) ÷ {eff:.2} PSU efficiency",
                l.count
            ),
            watts: Watts(w),
        });
    }
    Ok(PowerEstimate {
        phase,
        host,
        wall: Watts(total),
        terms,
    })
}

/// Energy per token: watts ÷ tokens per second; `None` at zero speed.
pub fn energy_per_token(w: Watts, tps: TokensPerSecond) -> Option<Joules> {
    (tps.0.is_finite() && tps.0 > 0.0 && w.0.is_finite()).then(|| Joules(w.0 / tps.0))
}

/// Heat output in BTU per hour: all electrical power ends up as heat.
pub fn heat_btu_per_hour(w: Watts) -> f64 {
    w.0 * BTU_PER_HOUR_PER_WATT
}

/// The power supply a PC setup needs: Σ TDP + host CPU budget, ÷ the highest
/// sustained load fraction, rounded up to a standard rating. `None` for a
/// Mac or a small box (built-in supply) or when a rating is unknown.
pub fn psu_size(m: &PowerModel, loads: &[DeviceLoad]) -> Option<Watts> {
    if host_of(loads) != Host::Pc {
        return None;
    }
    let devices: f64 = loads
        .iter()
        .map(|l| l.rating(m).map(|r| r.0 * f64::from(l.count)))
        .sum::<Result<f64, _>>()
        .ok()?;
    // A CPU platform in the set is itself the host CPU.
    let host = if loads.iter().any(|l| l.kind == DeviceKind::CpuPlatform) {
        0.0
    } else {
        m.psu.pc_host_cpu_w
    };
    let need = (devices + host) / m.psu.max_load_fraction;
    let size = m
        .psu
        .sizes_w
        .iter()
        .map(|&s| f64::from(s))
        .find(|&s| s >= need)
        // Beyond the largest single supply: round up to the next 500 W (several supplies).
        .unwrap_or_else(|| (need / 500.0).ceil() * 500.0);
    Some(Watts(size))
}

/// Per device share of `p` in decode at `depth`: the share of each token's
/// time it spends streaming weights (or computing, whichever is longer) —
/// its memory term ÷ the whole decode time — and the bytes it reads per
/// second (its bytes per token ÷ the whole decode time), GB/s. In a layer
/// split each GPU waits for the others; a small model spends much of its
/// time in kernel launches.
pub fn decode_duty(
    p: &WorkSplit,
    depth: u64,
    cal: &Calibration,
) -> Result<Vec<(f64, f64)>, SpeedError> {
    let total = decode(p, depth, cal)?.seconds.0;
    Ok(p.devices
        .iter()
        .map(|d| {
            let (k, _) = cal.class(d.device.backend, d.device.class);
            let mem = crate::speed::decode_memory(p, d, depth, cal);
            if !(mem.bw > 0.0 && total > 0.0) {
                return (1.0, 0.0);
            }
            let compute = crate::speed::decode_compute_seconds(d, k);
            let duty = (mem.seconds().max(compute) / total).clamp(0.0, 1.0);
            (duty, mem.bytes / total / 1e9)
        })
        .collect())
}

/// The loads of a resolved hardware set under a speed placement: each
/// device's duty is the mean duty of the placement shares that are it
/// (shares are labelled with the device's name).
pub fn loads_for(
    set: &HardwareSet,
    p: &WorkSplit,
    depth: u64,
    cal: &Calibration,
) -> Result<Vec<DeviceLoad>, SpeedError> {
    let duty = decode_duty(p, depth, cal)?;
    Ok(set
        .devices
        .iter()
        .map(|(d, n)| {
            let mine: Vec<(f64, f64)> = p
                .devices
                .iter()
                .zip(&duty)
                .filter(|(s, _)| s.device.label.contains(&d.name))
                .map(|(_, &x)| x)
                .collect();
            // A device the placement does not use (nothing on it) only waits.
            let k = mine.len().max(1) as f64;
            let mean_duty = mine.iter().map(|x| x.0).sum::<f64>() / k;
            let mean_gbs = mine.iter().map(|x| x.1).sum::<f64>() / k;
            DeviceLoad::from_device(d, *n, mean_duty, mean_gbs)
        })
        .collect())
}
