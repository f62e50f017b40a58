//! The speed section of a report: the placement the user sees, read by the
//! calibrated speed model (`crate::speed`), at the workload's prompt and depths.

use super::{Request, Workload};
use crate::memory::verdict::Verdict;
use crate::memory::{Backend, RunSettings};
use crate::placement::Placement;
use crate::speed::{self, AnswerTime, Calibration, DeviceClass, DeviceRates, Estimate, ModelCost};
use crate::units::BytesPerSecond;
use serde::Serialize;

/// Decode speed at one context depth.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeAt {
    /// Tokens already in the context.
    pub depth: u64,
    /// The estimate with its terms.
    pub estimate: Estimate,
}

/// Prefill, decode over depths and the time to a full answer.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedReport {
    /// Prefill of the workload's prompt (`None`: a device has no compute figure).
    pub prefill: Option<Estimate>,
    /// Why prefill is missing.
    pub prefill_missing: Option<String>,
    /// Decode at each depth of the workload (the first is the shallowest).
    pub decode: Vec<DecodeAt>,
    /// Time to a full answer of a reasoning model.
    pub answer: Option<AnswerTime>,
    /// Where the thinking-token count comes from.
    pub thinking_source: Option<&'static str>,
    /// What each device reads per token: the speed model's view of the placement.
    pub placement: speed::WorkSplit,
    /// The CPU platform assumed for system RAM when none was named or measured.
    pub assumed_cpu: Option<String>,
    /// Decode with MTP speculative decoding, when asked.
    pub speculative: Option<super::SpeculativeReport>,
}

impl SpeedReport {
    /// Decode on an empty (shallowest) context.
    pub fn decode_first(&self) -> &Estimate {
        &self.decode[0].estimate
    }

    /// Decode at the deepest depth reported.
    pub fn decode_last(&self) -> &DecodeAt {
        self.decode.last().unwrap_or(&self.decode[0])
    }
}

/// A speed estimate, or why there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Speed {
    /// Estimated.
    Estimated(SpeedReport),
    /// Not estimated, and why.
    NotEstimated {
        /// Why.
        reason: String,
    },
}

impl Speed {
    /// The report, when estimated.
    pub fn report(&self) -> Option<&SpeedReport> {
        match self {
            Speed::Estimated(r) => Some(r),
            Speed::NotEstimated { .. } => None,
        }
    }

    fn missing(reason: impl Into<String>) -> Speed {
        Speed::NotEstimated {
            reason: reason.into(),
        }
    }
}

/// The depths to report: the workload's (within the context), else 0 and the
/// context per sequence.
fn depths(w: &Workload, s: &RunSettings) -> Vec<u64> {
    let per_seq = s.context_per_sequence().max(1);
    let mut d: Vec<u64> = w.depths.iter().copied().filter(|&d| d <= per_seq).collect();
    if w.depths.is_empty() {
        d = vec![0, per_seq];
    }
    if d.is_empty() {
        d.push(0);
    }
    d
}

/// Whether the model is a reasoning model whose answers think first.
fn thinks(req: &Request<'_>) -> bool {
    req.model.spec.id.starts_with("deepseek-r1")
        || req
            .model
            .spec
            .name
            .to_ascii_lowercase()
            .contains("deepseek-r1")
}

/// Read a speed placement at the workload.
pub(super) fn read(req: &Request<'_>, s: &RunSettings, p: speed::WorkSplit) -> Speed {
    let cal = match Calibration::embedded() {
        Ok(c) => c,
        Err(e) => return Speed::missing(e.to_string()),
    };
    let w = &req.workload;
    let (prefill, prefill_missing) = match speed::prefill(&p, w.prompt, 0, cal) {
        Ok(e) => (Some(e), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut decode = Vec::new();
    for depth in depths(w, s) {
        match speed::decode(&p, depth, cal) {
            Ok(estimate) => decode.push(DecodeAt { depth, estimate }),
            Err(e) => return Speed::missing(e.to_string()),
        }
    }
    let answer = (thinks(req) && prefill.is_some())
        .then(|| speed::answer_time(&p, w.prompt, w.thinking, w.answer, cal).ok())
        .flatten();
    Speed::Estimated(SpeedReport {
        prefill,
        prefill_missing,
        decode,
        thinking_source: answer.as_ref().map(|_| speed::R1_THINKING_TOKENS_SOURCE),
        answer,
        placement: p,
        assumed_cpu: None,
        speculative: None,
    })
}

/// The speed of a llama.cpp placement.
pub(super) fn for_llama_cpp(
    req: &Request<'_>,
    s: &RunSettings,
    placement: &Placement,
    verdict: &Verdict,
) -> Speed {
    if let Verdict::DoesNotFit { pool, short_by } = verdict {
        return Speed::missing(format!(
            "it does not fit ({pool} is short by {short_by}), so it does not run at any speed"
        ));
    }
    let cal = match Calibration::embedded() {
        Ok(c) => c,
        Err(e) => return Speed::missing(e.to_string()),
    };
    let hw = req.hardware;
    let model = ModelCost::with_settings(&req.model.spec, &req.model.weights, s);
    let mut assumed = None;
    // A measured bandwidth (the probe, `hw --measure`) is what streaming
    // reads reach, not a datasheet peak: the rate is set so that after the
    // CPU class's bw_eff llama.cpp reads at the measured rate.
    let cpu_bw_eff = cal.class(Backend::Cpu, DeviceClass::Cpu).0.bw_eff;
    let achieved = |bw: BytesPerSecond| BytesPerSecond(bw.0 / cpu_bw_eff.max(1e-3));
    let host = match (&hw.host_device, hw.host_bandwidth) {
        (Some((d, sockets)), measured) => DeviceRates::from_device(d, Backend::Cpu, cal)
            .ok()
            .map(|spec| spec.times(*sockets))
            .map(|mut r| {
                if let Some(bw) = measured {
                    r.bandwidth = achieved(bw);
                }
                r
            }),
        (None, Some(bw)) => {
            let typical = typical_host(cal);
            Some(DeviceRates {
                cpu: typical.as_ref().and_then(|d| d.cpu),
                ..DeviceRates::plain(
                    "this CPU (measured bandwidth)",
                    Backend::Cpu,
                    DeviceClass::Cpu,
                    achieved(bw),
                    typical.and_then(|d| d.compute),
                )
            })
        }
        // No CPU named or measured: a typical desktop, said out loud.
        (None, None) => typical_host(cal).inspect(|d| {
            assumed = Some(format!(
                "no CPU platform named or measured: assumed {} for what runs in system RAM; name yours with --gpu '<gpu> + <cpu>' (e.g. '4090 + epyc-9654') or measure this machine with `canirun hw --measure`",
                d.label
            ));
        }),
    };
    let typical = typical_host(cal);
    let threads = host_threads(req, s);
    let mut devices = vec![host.map(|h| {
        let h = with_cpu_compute(h, typical.as_ref(), &mut assumed);
        // A hybrid CPU (P + E cores): threads paced by the slowest one.
        let hybrid = req.hardware.host_device.as_ref().and_then(|(d, sockets)| {
            speed::cpu_host::hybrid_rates(
                &h,
                &d.id,
                *sockets,
                d.cpu.as_ref().map(|c| c.int8_ops_per_cycle),
                s.threads,
                req.hardware.host_core_bandwidth,
                cpu_bw_eff,
            )
        });
        hybrid.unwrap_or_else(|| threads.apply(h, cpu_bw_eff))
    })];
    for d in &hw.devices {
        devices.push(
            d.as_ref()
                .and_then(|d| DeviceRates::from_device(d, s.backend, cal).ok())
                .map(|r| with_cpu_compute(r, typical.as_ref(), &mut assumed)),
        );
    }
    if let Some(local) = &req.local {
        devices.iter_mut().flatten().for_each(|d| local.apply(d));
    }
    let link = host_link(req);
    match speed::bridge::from_memory(&model, placement, &devices, link, s) {
        Ok(mut p) => {
            // llama.cpp memory-maps the model by default (canirun's commands
            // keep it so): weights in RAM upload from pageable memory.
            let pageable =
                speed::cpu_host::pageable_uploads(&mut p, req.hardware.host_core_bandwidth);
            let mut sp = read(req, s, p);
            if let Speed::Estimated(r) = &mut sp {
                r.assumed_cpu = assumed;
                if let (Some(e), Some(n)) = (r.prefill.as_mut(), pageable) {
                    e.notes.push(n);
                }
            }
            sp
        }
        Err(e) => Speed::missing(format!(
            "{e} (name the hardware with --gpu, or measure this machine with `canirun hw --measure`)"
        )),
    }
}

/// The cores of the host CPU (the named or detected platform's, else the
/// typical desktop's) and llama.cpp's `-t`, for [`speed::threads`]. A
/// platform whose cores nobody states counts the threads as its cores (its
/// compute is not scaled, its reads are still capped).
fn host_threads(req: &Request<'_>, s: &RunSettings) -> speed::threads::CpuThreads {
    let hw = req.hardware;
    let cores_of = |d: &crate::hardware::Device| d.cpu.as_ref().map(|c| c.cores).or(d.cpu_cores);
    let cores = match &hw.host_device {
        Some((d, sockets)) => cores_of(d).map(|c| c * (*sockets).max(1)),
        None => crate::hardware::Catalog::embedded()
            .ok()
            .and_then(crate::hardware::typical_desktop_cpu)
            .and_then(cores_of),
    };
    speed::threads::CpuThreads {
        cores: cores.or(s.threads).unwrap_or(u32::MAX),
        threads: s.threads,
        per_core_read: hw.host_core_bandwidth,
    }
}

/// Host-GPU link: the target's own, else the first GPU's PCIe figure, else PCIe 4.0 x16.
pub(super) fn host_link(req: &Request<'_>) -> BytesPerSecond {
    let hw = req.hardware;
    hw.link.unwrap_or_else(|| {
        hw.devices
            .iter()
            .flatten()
            .find_map(|d| d.interconnect.pcie_bandwidth())
            .unwrap_or(BytesPerSecond::gbps(speed::DEFAULT_LINK_GBS))
    })
}

/// A CPU memory platform the catalog gives no cores or clock for (e.g.
/// "12-channel DDR5-4800 (EPYC 9004, per socket)") still multiplies in
/// prefill: it gets the typical desktop CPU's vector rate, said out loud
/// (in `assumed` and in the prefill term), instead of no prefill estimate.
fn with_cpu_compute(
    mut r: DeviceRates,
    typical: Option<&DeviceRates>,
    assumed: &mut Option<String>,
) -> DeviceRates {
    if r.class != DeviceClass::Cpu || r.compute.is_some() {
        return r;
    }
    let Some(t) = typical.filter(|t| t.compute.is_some()) else {
        return r;
    };
    let note = format!(
        "{}; name the CPU with --gpu '<gpu> + <cpu>'",
        r.assume_cpu_compute_of(t)
    );
    r.compute_note = Some(note.clone());
    if assumed.is_none() {
        *assumed = Some(note);
    }
    r
}

/// The typical desktop CPU of the catalog, for RAM whose CPU nobody named.
fn typical_host(cal: &Calibration) -> Option<DeviceRates> {
    let cat = crate::hardware::Catalog::embedded().ok()?;
    let d = crate::hardware::typical_desktop_cpu(cat)?;
    DeviceRates::from_device(d, Backend::Cpu, cal).ok()
}
