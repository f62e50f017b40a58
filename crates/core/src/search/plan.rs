//! `canirun plan`: search the hardware catalog for setups that run a model
//! at a target speed. Every candidate goes through [`crate::estimate`], the
//! same pipeline as a single estimate; the search adds no model of its own.

use crate::cost::{price_set, PriceOverride, SystemPrice, Systems, BTU_PER_HOUR_PER_WATT};
use crate::hardware::{
    metal_working_set, Catalog, CatalogError, Device, DeviceKind, HardwareSet, Origin, Target,
};
use crate::memory::verdict::Verdict;
use crate::memory::{Backend, RunSettings};
use crate::model::MlaTensorLayout;
use crate::pipeline::{
    estimate, native_quant, CommandOptions, Engine, LlamaCppRun, Model, Report, Request, ServerRun,
    Workload,
};
use crate::placement::Loc;
use crate::speed;
use crate::units::{Bytes, BytesPerSecond};
use serde::Serialize;

/// InfiniBand NDR between nodes: 400 Gb/s = 50 GB/s.
const INFINIBAND_NDR_GBS: f64 = 50.0;
/// Thunderbolt 5 between Macs: 80 Gb/s = 10 GB/s.
const THUNDERBOLT5_GBS: f64 = 10.0;

/// The caveats that go with every plan (`canirun plan --json` and the web API).
pub const NOTES: [&str; 4] = [
    "prices are whole systems or their parts, each from a dated, sourced row of crates/core/data/prices-2026-12.csv (kind and date shown; the row dated closest to 2026-12); a part without a sourced price is named and left out of the total, which is then a lower bound (≥)",
    "the cheapest list shows the cheapest setup of each kind",
    "power is the sum of the parts' TDP, plus a desktop PC's idle draw for GPUs named without a CPU: an upper bound while generating",
    "vLLM speed: the tensor-parallel shards are read at once, plus two all-reduces per layer over the GPUs' link; no vLLM benchmark calibrates this path yet",
];

/// What to search for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRequest {
    /// Target generation speed at the full context, tokens per second.
    pub min_tps: f64,
    /// Context the setup must hold.
    pub ctx: u64,
    /// Most to spend, USD.
    pub budget: Option<f64>,
    /// Most power (sum of TDPs), W.
    pub max_power: Option<f64>,
    /// Setups per ranking.
    pub top: usize,
    /// The user's prices (`--price 4090=1600`), replacing the price file's.
    #[serde(default)]
    pub prices: Vec<PriceOverride>,
}

/// The search's answer.
#[derive(Debug, Clone, Serialize)]
pub struct PlanResult {
    /// Setups evaluated (that hold the model).
    pub evaluated: usize,
    /// Setups meeting every constraint.
    pub meeting: usize,
    /// Kinds of setup among them.
    pub kinds: Vec<&'static str>,
    /// Cheapest first.
    pub cheapest: Vec<Setup>,
    /// Fastest first.
    pub fastest: Vec<Setup>,
    /// Most tokens per kJ first.
    pub most_efficient: Vec<Setup>,
    /// When none meets the target: the fastest, with what limits each.
    pub closest: Vec<Setup>,
}

/// Why there is no plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A bad input.
    #[error("{0}")]
    BadInput(String),
    /// The search needs a catalog model (vLLM needs its checkpoint).
    #[error("plan searches for catalog models; name one such as deepseek-r1:671b (run `canirun models`)")]
    NotCatalog,
    /// The hardware catalog does not load.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// One candidate setup.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// Kind of setup (the search covers several).
    pub kind: &'static str,
    /// What to buy.
    pub hardware: String,
    /// Engine and its flags.
    pub engine: String,
    /// Generation speed at the full context (point, low, high).
    pub decode_tps: Option<(f64, f64, f64)>,
    /// Prompt processing speed.
    pub prefill_tps: Option<f64>,
    /// Purchase price, USD: the sum of the priced parts (a lower bound when `price` names a missing part).
    pub price_usd: Option<f64>,
    /// The system's price: parts with kind, date and source, and what has no price.
    pub price: Option<SystemPrice>,
    /// Sum of the parts' TDP (plus a PC's idle draw for a GPU-only setup), when known.
    pub power_w: Option<f64>,
    /// Heat at that power, BTU/h.
    pub heat_btu_h: Option<f64>,
    /// Tokens per joule at full TDP (a lower bound on efficiency).
    pub tokens_per_kj: Option<f64>,
    /// System RAM the setup needs (rounded up to a common size), if any.
    pub ram_needed: Option<Bytes>,
    /// Memory per device: name and bytes used / available.
    pub memory: Vec<(String, Bytes, Bytes)>,
    /// The report behind the row.
    pub report: Report,
    /// Whether it meets every constraint.
    pub meets: bool,
    /// What keeps it from meeting the target.
    pub limited_by: Vec<String>,
}

/// Common RAM sizes a machine is bought with, in GiB.
const RAM_SIZES: [u64; 14] = [
    16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
];

fn round_ram(b: Bytes) -> Bytes {
    let gib = b.as_gib().ceil() as u64;
    Bytes::gib(RAM_SIZES.iter().copied().find(|s| *s >= gib).unwrap_or(gib))
}

fn named(
    gpus: &[(Device, Bytes)],
    host: Option<(Device, u32)>,
    backend: Backend,
    desc: String,
) -> Target {
    let mut set = HardwareSet::default();
    for (d, _) in gpus {
        match set.devices.last_mut() {
            Some((last, n)) if last.id == d.id => *n += 1,
            _ => set.devices.push((d.clone(), 1)),
        }
    }
    if let Some(h) = &host {
        set.devices.push(h.clone());
    }
    Target {
        description: format!("named: {desc}"),
        origin: Origin::Named,
        gpus: gpus.iter().map(|(_, m)| *m).collect(),
        gpu_names: gpus.iter().map(|(d, _)| d.name.clone()).collect(),
        devices: gpus.iter().map(|(d, _)| Some(d.clone())).collect(),
        // A CPU platform gets room for anything; the RAM bought is sized to the need afterwards.
        ram: host
            .as_ref()
            .map(|_| Bytes::gib(*RAM_SIZES.last().unwrap_or(&2048))),
        host_device: host,
        host_bandwidth: None,
        host_core_bandwidth: None,
        link: None,
        backend,
        set: Some(set),
        assumptions: vec![],
    }
}

fn request<'a>(model: &'a Model, hw: &'a Target, ctx: u64, engine: Engine) -> Request<'a> {
    Request {
        model,
        settings: RunSettings {
            n_ctx: ctx,
            backend: hw.backend,
            ..Default::default()
        },
        engine,
        hardware: hw,
        workload: Workload::default(),
        power: None,
        commands: CommandOptions {
            runners: vec![],
            ..CommandOptions::default()
        },
        local: None,
    }
}

/// A row from a report.
fn setup(
    kind: &'static str,
    r: Report,
    price: Option<f64>,
    power: Option<f64>,
    min_tps: f64,
) -> Setup {
    let decode = r.speed.report().map(|sp| {
        let e = &sp.decode_last().estimate;
        (e.rate.0, e.low.0, e.high.0)
    });
    let prefill = r
        .speed
        .report()
        .and_then(|x| x.prefill.as_ref().map(|e| e.rate.0));
    let (ram_needed, memory) = match &r.placement {
        Some(p) => {
            let host = &p.devices[0];
            let ram =
                (host.weights > Bytes::gib(1)).then(|| round_ram(host.total() + Bytes::gib(8)));
            let mem = p
                .devices
                .iter()
                .filter(|d| {
                    d.total() > Bytes::ZERO && (d.loc != Loc::Cpu || d.weights > Bytes::gib(1))
                })
                .map(|d| {
                    (
                        d.name.clone(),
                        d.total(),
                        d.capacity.unwrap_or(ram.unwrap_or_default()),
                    )
                })
                .collect();
            (ram, mem)
        }
        None => {
            let s = r.server.as_ref();
            let mem = s
                .map(|s| {
                    let g = &s.per_gpu;
                    let one = Bytes(g.kv_per_token.0 * s.settings.max_model_len);
                    vec![(
                        format!("each of {} GPUs", s.gpus_used),
                        g.usable.saturating_sub(g.kv_pool) + one,
                        s.gpu_memory,
                    )]
                })
                .unwrap_or_default();
            (None, mem)
        }
    };
    let mut limited_by = Vec::new();
    match decode {
        Some((t, _, _)) if t < min_tps => {
            limited_by.push(format!("speed: {t:.1} tok/s < {min_tps}"))
        }
        None => limited_by.push("speed unknown (a device has no bandwidth figure)".into()),
        _ => {}
    }
    let engine = match (&r.placement, &r.server) {
        (_, Some(s)) => format!(
            "{} {} --tensor-parallel-size {}{}",
            r.engine,
            r.quant,
            s.settings.tensor_parallel,
            if s.settings.pipeline_parallel > 1 {
                format!(" --pipeline-parallel-size {}", s.settings.pipeline_parallel)
            } else {
                String::new()
            }
        ),
        _ => format!("llama.cpp {}", r.placement_line()),
    };
    Setup {
        kind,
        hardware: r.hardware.label(),
        engine,
        decode_tps: decode,
        prefill_tps: prefill,
        price_usd: price,
        price: None,
        power_w: power,
        heat_btu_h: power.map(|w| w * BTU_PER_HOUR_PER_WATT),
        tokens_per_kj: match (decode, power) {
            (Some((t, _, _)), Some(w)) if w > 0.0 => Some(t * 1000.0 / w),
            _ => None,
        },
        ram_needed,
        memory,
        report: r,
        meets: limited_by.is_empty(),
        limited_by,
    }
}

/// Evaluate one llama.cpp setup: `None` when it does not hold the model the way its kind intends.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    kind: &'static str,
    model: &Model,
    ctx: u64,
    hw: &Target,
    price: Option<f64>,
    power: Option<f64>,
    min_tps: f64,
) -> Option<Setup> {
    // Every setup is placed as llama.cpp's default `--fit` places it: with the
    // experts in RAM, the GPU still keeps as many expert layers as it holds,
    // so a bigger card is faster (a fixed `-ot exps=CPU` would make every
    // card equally fast and hide the setups that meet the target).
    let intended_offload = kind == "cpu+gpu (experts in RAM)";
    let engine = Engine::LlamaCpp(LlamaCppRun::default());
    let r = estimate(&request(model, hw, ctx, engine)).ok()?;
    let fits_gpu = matches!(r.verdict, Verdict::Fits { .. });
    // GPU setups must hold the whole model on the GPUs; CPU+GPU setups hold the
    // experts in RAM on purpose; CPU-only setups hold everything in RAM.
    if !r.runs() || (!fits_gpu && !intended_offload && hw.has_gpu()) {
        return None;
    }
    Some(setup(kind, r, price, power, min_tps))
}

/// The GPUs worth pairing with a CPU that holds the experts: per memory size
/// from 16 to 96 GiB (one card holds the dense weights and the KV cache), the
/// cheapest with a sourced price; a bigger or faster card adds cost, not speed,
/// because the experts are read from RAM. Keeps the search small.
fn expert_host_gpus<'a>(gpus: &[&'a Device], sys: &Systems) -> Vec<&'a Device> {
    let now = crate::cost::prices::REFERENCE;
    let mut picked: Vec<(&Device, f64)> = Vec::new();
    for g in gpus {
        let Some(m) = g
            .memory
            .filter(|m| *m >= Bytes::gib(16) && *m <= Bytes::gib(96))
        else {
            continue;
        };
        let Some(p) = sys.device_price(g, now).map(|p| p.value.point()) else {
            continue;
        };
        match picked.iter_mut().find(|(d, _)| d.memory == Some(m)) {
            Some(slot) if slot.1 > p => *slot = (g, p),
            Some(_) => {}
            None => picked.push((g, p)),
        }
    }
    picked.sort_by(|a, b| a.1.total_cmp(&b.1));
    picked.into_iter().map(|(g, _)| g).collect()
}

/// CPU platforms worth trying, each with its socket count: platforms are
/// grouped by what the speed model reads from them (memory bandwidth per
/// socket count); each group keeps its cheapest priced CPU and the one with
/// the most compute (prefill). Generic memory rows and cloud-only CPUs are not
/// products to buy.
fn platform_picks<'a>(platforms: &[&'a Device], sys: &Systems) -> Vec<(&'a Device, u32)> {
    let now = crate::cost::prices::REFERENCE;
    let mut groups: Vec<((u64, u32), Vec<&Device>)> = Vec::new();
    for pl in platforms.iter().copied() {
        if pl.cpu.is_none()
            || pl.id == crate::hardware::TYPICAL_DESKTOP_CPU_ID
            || pl.vendor.contains("AWS")
        {
            continue;
        }
        let bw = pl.bandwidth.map_or(0, |b| (b.0 / 1e9).round() as u64);
        for sockets in 1..=sys.sockets_max(pl).min(2) {
            let key = (bw, sockets);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(pl),
                None => groups.push((key, vec![pl])),
            }
        }
    }
    let mut out = Vec::new();
    for ((_, sockets), v) in groups {
        let price = |d: &Device| sys.device_price(d, now).map(|p| p.value.point());
        let cheapest = v
            .iter()
            .filter(|d| price(d).is_some())
            .min_by(|a, b| price(a).unwrap_or(0.0).total_cmp(&price(b).unwrap_or(0.0)));
        let strongest = v.iter().max_by(|a, b| {
            let f = |d: &Device| d.cpu.as_ref().map_or(0.0, |c| c.peak().0);
            f(a).total_cmp(&f(b))
        });
        for d in cheapest.into_iter().chain(strongest) {
            if !out
                .iter()
                .any(|(x, n): &(&Device, u32)| x.id == d.id && *n == sockets)
            {
                out.push((*d, sockets));
            }
        }
    }
    out
}

/// Bytes each generated token reads at least, as (dense, routed experts): the
/// blocks' tensors, the routed experts at the used share (the embedding lookup
/// and the output head left out, so both are floors). A memory system of
/// bandwidth B cannot generate faster than B ÷ the bytes it holds of these.
fn bytes_per_token_floor(model: &Model) -> (f64, f64) {
    let share = model
        .spec
        .moe
        .map_or(1.0, |m| m.n_expert_used as f64 / m.n_expert.max(1) as f64);
    let (mut dense, mut experts) = (0.0, 0.0);
    for t in model
        .weights
        .tensors
        .iter()
        .filter(|t| t.tensor.layer.is_some())
    {
        if t.tensor.is_routed_expert() {
            experts += t.bytes.0 as f64 * share;
        } else {
            dense += t.bytes.0 as f64;
        }
    }
    (dense, experts)
}

/// Whether `bandwidth` reading `bytes` per token could reach `min_tps` at all
/// (the roofline with every efficiency at 1): setups that cannot are not estimated.
fn could_reach(bandwidth: Option<BytesPerSecond>, sockets: u32, bytes: f64, min_tps: f64) -> bool {
    bandwidth.is_none_or(|b| bytes <= 0.0 || b.0 * f64::from(sockets) / bytes >= min_tps)
}

fn sum_opt(parts: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    parts.into_iter().try_fold(0.0, |acc, x| x.map(|v| acc + v))
}

/// Search the catalog for setups that run `model` (a catalog model under a
/// llama.cpp quantization; vLLM setups use its published checkpoint).
pub fn plan(model: &Model, a: &PlanRequest) -> Result<PlanResult, PlanError> {
    if !(a.min_tps.is_finite() && a.min_tps > 0.0) {
        return Err(PlanError::BadInput(
            "--min-tps must be a positive number of tokens per second".into(),
        ));
    }
    let (entry, _) = model.catalog.as_ref().ok_or(PlanError::NotCatalog)?;
    let spec = &model.spec;
    let w = &model.weights;
    let cat = Catalog::embedded()?;
    let sys = Systems::embedded().map_err(|e| PlanError::BadInput(e.to_string()))?;
    let devs = cat.devices();
    let gpus: Vec<&Device> = devs
        .iter()
        .filter(|d| d.kind == DeviceKind::Gpu && d.memory.is_some() && d.bandwidth.is_some())
        .collect();
    let mut setups: Vec<Setup> = Vec::new();
    // A device's rating: its TDP, or the power model's (an Apple chip: W per GPU core).
    let pm = crate::cost::PowerModel::embedded().ok();
    let tdp = |d: &Device| {
        d.tdp.map(|w| w.0).or_else(|| {
            let load = crate::cost::DeviceLoad::from_device(d, 1, 1.0, 0.0);
            pm.and_then(|m| load.rating(m).ok()).map(|w| w.0)
        })
    };

    // Memory before speed: a setup whose memory cannot hold the weights, or
    // whose bandwidth cannot reach the target even at the roofline, is not estimated.
    let (dense_bytes, expert_bytes) = bytes_per_token_floor(model);
    let all_bytes = dense_bytes + expert_bytes;
    // 1. One to eight identical GPUs (llama.cpp layer split: the GPUs take turns).
    for g in gpus
        .iter()
        .filter(|g| could_reach(g.bandwidth, 1, all_bytes, a.min_tps))
    {
        let mem = g.memory.unwrap_or_default();
        let need_min = w.total().0.div_ceil(mem.0.max(1)).max(1);
        for n in need_min..=8 {
            let list: Vec<(Device, Bytes)> = (0..n).map(|_| ((*g).clone(), mem)).collect();
            let hw = named(
                &list,
                None,
                speed::default_backend(g),
                if n > 1 {
                    format!("{n}× {}", g.name)
                } else {
                    g.name.clone()
                },
            );
            let price = g.price_usd.map(|p| p * n as f64);
            let power = tdp(g).map(|p| p * n as f64);
            if let Some(s) = evaluate(
                if n == 1 { "single gpu" } else { "multi-gpu" },
                model,
                a.ctx,
                &hw,
                price,
                power,
                a.min_tps,
            ) {
                setups.push(s);
                break; // the fewest GPUs of this kind that hold it
            }
        }
    }
    // 2. Two different consumer GPUs.
    let consumer: Vec<&&Device> = gpus
        .iter()
        .filter(|d| {
            d.category.contains("consumer") && d.memory.unwrap_or_default() >= Bytes::gib(16)
        })
        .collect();
    for (i, x) in consumer.iter().enumerate() {
        for y in consumer.iter().skip(i + 1) {
            let fastest = match (x.bandwidth, y.bandwidth) {
                (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
                (a, b) => a.or(b),
            };
            if x.vendor != y.vendor
                || x.memory.unwrap_or_default() + y.memory.unwrap_or_default() < w.total()
                || !could_reach(fastest, 1, all_bytes, a.min_tps)
            {
                continue;
            }
            let list = vec![
                ((**x).clone(), x.memory.unwrap_or_default()),
                ((**y).clone(), y.memory.unwrap_or_default()),
            ];
            let hw = named(
                &list,
                None,
                speed::default_backend(x),
                format!("{} + {}", x.name, y.name),
            );
            let price = sum_opt([x.price_usd, y.price_usd]);
            let power = sum_opt([tdp(x), tdp(y)]);
            if let Some(s) = evaluate(
                "mixed consumer gpus",
                model,
                a.ctx,
                &hw,
                price,
                power,
                a.min_tps,
            ) {
                setups.push(s);
            }
        }
    }
    // 3. One Mac, and 4. two to four Macs over the network (llama.cpp RPC / exo).
    for m in devs.iter().filter(|d| {
        d.kind == DeviceKind::AppleSoc && could_reach(d.bandwidth, 1, all_bytes, a.min_tps)
    }) {
        let Some(mem) = m.usable_memory() else {
            continue;
        };
        let ws = metal_working_set(mem);
        for n in 1..=4u64 {
            if ws * n < w.total() {
                continue;
            }
            let list: Vec<(Device, Bytes)> = (0..n).map(|_| (m.clone(), ws)).collect();
            let mut hw = named(
                &list,
                None,
                Backend::Metal,
                if n > 1 {
                    format!("{n}× {} (networked)", m.name)
                } else {
                    m.name.clone()
                },
            );
            if n > 1 {
                hw.link = Some(BytesPerSecond::gbps(THUNDERBOLT5_GBS));
            }
            let kind = if n == 1 {
                "mac"
            } else {
                "mac cluster (rpc/exo)"
            };
            if let Some(s) = evaluate(
                kind,
                model,
                a.ctx,
                &hw,
                m.price_usd.map(|p| p * n as f64),
                tdp(m).map(|p| p * n as f64),
                a.min_tps,
            ) {
                setups.push(s);
                break;
            }
        }
    }
    // 5. CPU + GPU with the experts in RAM, and 6. CPU only, one or two sockets.
    let platforms: Vec<&Device> = devs
        .iter()
        .filter(|d| d.kind == DeviceKind::CpuPlatform && d.bandwidth.is_some())
        .collect();
    let picks = platform_picks(&platforms, sys);
    if spec.moe.is_some() {
        // Per platform, the cheapest GPU that holds the rest (cheapest first, stop at the first that runs).
        let cards = expert_host_gpus(&gpus, sys);
        for (pl, _) in picks
            .iter()
            .filter(|(pl, n)| *n == 1 && could_reach(pl.bandwidth, 1, expert_bytes, a.min_tps))
        {
            let mut first: Option<Setup> = None;
            for g in &cards {
                let list = vec![((*g).clone(), g.memory.unwrap_or_default())];
                let hw = named(
                    &list,
                    Some(((*pl).clone(), 1)),
                    speed::default_backend(g),
                    format!("{} + {} (experts in RAM)", g.name, pl.name),
                );
                // Power is known only when both parts have a TDP in the catalog.
                if let Some(s) = evaluate(
                    "cpu+gpu (experts in RAM)",
                    model,
                    a.ctx,
                    &hw,
                    None,
                    sum_opt([tdp(g), tdp(pl)]),
                    a.min_tps,
                ) {
                    // Cheapest card first: stop at the first that meets the
                    // target, else keep the cheapest that runs.
                    let meets = s.meets;
                    if meets || first.is_none() {
                        first = Some(s);
                    }
                    if meets {
                        break;
                    }
                }
            }
            setups.extend(first);
        }
    }
    for (pl, sockets) in &picks {
        if !could_reach(
            pl.bandwidth,
            *sockets,
            dense_bytes + expert_bytes,
            a.min_tps,
        ) {
            continue;
        }
        let (kind, desc) = if *sockets > 1 {
            (
                "cpu only, dual socket",
                format!("2× {} (CPU only)", pl.name),
            )
        } else {
            ("cpu only", format!("{} (CPU only)", pl.name))
        };
        let hw = named(&[], Some(((*pl).clone(), *sockets)), Backend::Cpu, desc);
        let power = tdp(pl).map(|w| w * f64::from(*sockets));
        if let Some(s) = evaluate(kind, model, a.ctx, &hw, None, power, a.min_tps) {
            setups.push(s);
        }
    }
    // Boxes with unified memory (DGX Spark, Ryzen AI Max+ 395), one at a time.
    for d in devs.iter().filter(|d| d.kind == DeviceKind::UnifiedSoc) {
        let Some(mem) = d
            .usable_memory()
            .filter(|m| *m >= w.total() && could_reach(d.bandwidth, 1, all_bytes, a.min_tps))
        else {
            continue;
        };
        if sys.systems_of(d).next().is_none() {
            continue;
        }
        let hw = named(
            &[(d.clone(), mem)],
            None,
            speed::default_backend(d),
            d.name.clone(),
        );
        if let Some(s) = evaluate(
            "unified-memory box",
            model,
            a.ctx,
            &hw,
            None,
            tdp(d),
            a.min_tps,
        ) {
            setups.push(s);
        }
    }
    // 7. Clusters of 8-GPU servers with vLLM (FP8 or BF16 checkpoints):
    // tensor parallel inside a node, pipeline stages across nodes over InfiniBand.
    if let Some(native) = model.requantized(native_quant(entry), MlaTensorLayout::Split) {
        // Tensor parallel over 8: each GPU reads an eighth of every layer.
        for g in gpus.iter().filter(|g| {
            g.category.contains("datacenter")
                && g.memory.unwrap_or_default() >= Bytes::gib(40)
                && could_reach(g.bandwidth, 8, all_bytes, a.min_tps)
        }) {
            for nodes in 1..=4u64 {
                let n = 8 * nodes;
                let list: Vec<(Device, Bytes)> = (0..n)
                    .map(|_| ((*g).clone(), g.memory.unwrap_or_default()))
                    .collect();
                let mut hw = named(
                    &list,
                    None,
                    Backend::Cuda,
                    format!("{nodes} × 8× {}", g.name),
                );
                if nodes > 1 {
                    hw.link = Some(BytesPerSecond::gbps(INFINIBAND_NDR_GBS));
                }
                let run = ServerRun {
                    tensor_parallel: Some(8),
                    pipeline_parallel: nodes,
                    ..ServerRun::default()
                };
                let Ok(r) = estimate(&request(&native, &hw, a.ctx, Engine::Vllm(run))) else {
                    break; // an illegal split stays illegal with more nodes
                };
                if !r.runs() {
                    continue;
                }
                let kind = if nodes == 1 {
                    "8-gpu server (vllm)"
                } else {
                    "multi-node cluster (vllm over ray)"
                };
                setups.push(setup(
                    kind,
                    r,
                    g.price_usd.map(|p| p * n as f64),
                    tdp(g).map(|p| p * n as f64),
                    a.min_tps,
                ));
                break;
            }
        }
    }

    // Prices: the whole system, or its parts, from the dated price rows.
    let idle_pc = crate::cost::PowerModel::embedded()
        .map(|m| m.base.pc_idle_w)
        .ok();
    for s in &mut setups {
        let Some(set) = s.report.hardware.set.as_ref() else {
            continue;
        };
        if let Ok(p) = price_set(set, s.ram_needed, &a.prices, crate::cost::prices::REFERENCE) {
            s.price_usd = p.total_usd;
            s.price = Some(p);
        }
        // GPUs named without a CPU run in a PC that draws its idle power too.
        let pc_host = set.devices.iter().any(|(d, _)| d.kind == DeviceKind::Gpu)
            && !set
                .devices
                .iter()
                .any(|(d, _)| d.kind == DeviceKind::CpuPlatform);
        if let (true, Some(w), Some(idle)) = (pc_host, s.power_w, idle_pc) {
            s.power_w = Some(w + idle);
        }
        s.heat_btu_h = s.power_w.map(|w| w * BTU_PER_HOUR_PER_WATT);
        s.tokens_per_kj = match (s.decode_tps, s.power_w) {
            (Some((t, _, _)), Some(w)) if w > 0.0 => Some(t * 1000.0 / w),
            _ => None,
        };
    }
    // Constraints.
    for s in &mut setups {
        if let (Some(b), Some(p)) = (a.budget, s.price_usd) {
            if p > b {
                s.limited_by.push(format!("price ${p:.0} > budget ${b:.0}"));
            }
        }
        if let (Some(m), Some(p)) = (a.max_power, s.power_w) {
            if p > m {
                s.limited_by.push(format!("power {p:.0} W > {m:.0} W"));
            }
        }
        s.meets = s.limited_by.is_empty() && s.decode_tps.is_some();
    }
    let meeting: Vec<&Setup> = setups.iter().filter(|s| s.meets).collect();
    let rank = |key: &dyn Fn(&Setup) -> Option<f64>, asc: bool| -> Vec<Setup> {
        let mut v: Vec<&Setup> = meeting
            .iter()
            .copied()
            .filter(|s| key(s).is_some())
            .collect();
        v.sort_by(|x, y| {
            let (a, b) = (key(x).unwrap_or(0.0), key(y).unwrap_or(0.0));
            if asc {
                a.total_cmp(&b)
            } else {
                b.total_cmp(&a)
            }
        });
        v.into_iter().take(a.top).cloned().collect()
    };
    // The cheapest setup of each kind, cheapest first: a buyer compares kinds.
    let cheapest = {
        // A total without its machine, GPU or CPU says little: not ranked as cheap.
        let priced = |s: &&Setup| s.price.as_ref().is_some_and(|p| !p.missing_main);
        let mut all: Vec<&Setup> = meeting.iter().copied().filter(priced).collect();
        all.sort_by(|x, y| {
            x.price_usd
                .unwrap_or(0.0)
                .total_cmp(&y.price_usd.unwrap_or(0.0))
        });
        let mut seen: Vec<&str> = Vec::new();
        all.into_iter()
            .filter(|s| {
                let new = !seen.contains(&s.kind);
                seen.push(s.kind);
                new
            })
            .cloned()
            .collect::<Vec<Setup>>()
    };
    let fastest = rank(&|s| s.decode_tps.map(|d| d.0), false);
    let efficient = rank(&|s| s.tokens_per_kj, false);
    let mut kinds: Vec<&str> = meeting.iter().map(|s| s.kind).collect();
    kinds.sort();
    kinds.dedup();
    let closest: Vec<Setup> = if meeting.is_empty() {
        let mut v: Vec<&Setup> = setups.iter().collect();
        v.sort_by(|x, y| {
            y.decode_tps
                .map(|d| d.0)
                .unwrap_or(0.0)
                .total_cmp(&x.decode_tps.map(|d| d.0).unwrap_or(0.0))
        });
        v.into_iter().take(a.top).cloned().collect()
    } else {
        vec![]
    };
    let evaluated = setups.len();
    let meeting_n = meeting.len();
    Ok(PlanResult {
        evaluated,
        meeting: meeting_n,
        kinds,
        cheapest,
        fastest,
        most_efficient: efficient,
        closest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r1_671b_cheapest_has_a_mac_an_epyc_with_one_gpu_and_a_dual_socket_server_with_sources() {
        let m =
            Model::from_catalog("deepseek-r1:671b", None, false, MlaTensorLayout::Split).unwrap();
        let req = PlanRequest {
            min_tps: 10.0,
            ctx: 16384,
            budget: None,
            max_power: None,
            top: 5,
            prices: vec![],
        };
        let res = plan(&m, &req).unwrap();
        let find = |kind: &str, f: &dyn Fn(&Setup) -> bool| {
            res.cheapest
                .iter()
                .find(|s| s.kind == kind && f(s))
                .unwrap_or_else(|| {
                    panic!(
                        "no {kind} among {:?}",
                        res.cheapest.iter().map(|s| &s.hardware).collect::<Vec<_>>()
                    )
                })
                .clone()
        };
        let mac = find("mac", &|s| {
            s.hardware.contains("M3 Ultra") && s.hardware.contains("512GB")
        });
        let epyc = find("cpu+gpu (experts in RAM)", &|s| {
            let host = s.report.hardware.host_device.as_ref();
            host.is_some_and(|(d, n)| {
                *n == 1 && d.name.contains("EPYC") && d.platform.is_some_and(|p| p.channels == 12)
            }) && s.report.hardware.gpus.len() == 1
        });
        let dual = find("cpu only, dual socket", &|s| {
            s.report
                .hardware
                .host_device
                .as_ref()
                .is_some_and(|(_, n)| *n == 2)
        });
        for s in [&mac, &epyc, &dual] {
            assert!(s.meets, "{}", s.hardware);
            let p = s.price.as_ref().unwrap();
            assert!(!p.missing_main, "{}: {:?}", s.hardware, p.missing);
            assert_eq!(s.price_usd, p.total_usd);
            for part in &p.parts {
                assert!(
                    part.price.as_of.is_some(),
                    "{}: {} undated",
                    s.hardware,
                    part.what
                );
                assert!(
                    !part.price.source.is_empty(),
                    "{}: {}",
                    s.hardware,
                    part.what
                );
            }
        }
        // The memory of a server is one module per channel of every socket.
        let dual_mem = dual.price.as_ref().unwrap().memory.unwrap();
        let (cpu, _) = dual.report.hardware.host_device.as_ref().unwrap();
        let channels = u64::from(cpu.platform.unwrap().channels);
        assert_eq!(dual_mem, Bytes::gib(64 * 2 * channels));
        // Cheapest first, one of each kind.
        let prices: Vec<f64> = res.cheapest.iter().filter_map(|s| s.price_usd).collect();
        assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
        let mut kinds: Vec<&str> = res.cheapest.iter().map(|s| s.kind).collect();
        kinds.dedup();
        assert_eq!(kinds.len(), res.cheapest.len());
    }

    #[test]
    fn the_roofline_floor_prunes_only_what_cannot_reach() {
        let m =
            Model::from_catalog("deepseek-r1:671b", None, false, MlaTensorLayout::Split).unwrap();
        let (dense, experts) = bytes_per_token_floor(&m);
        // R1 reads ~37B parameters a token; at Q4_K_M (~4.8 bits) that is ~22 GB, the floor below it.
        let gb = (dense + experts) / 1e9;
        assert!(gb > 12.0 && gb < 25.0, "{gb}");
        assert!(experts > dense);
        let bw = Some(BytesPerSecond::gbps(460.8));
        assert!(could_reach(bw, 1, dense + experts, 10.0));
        assert!(!could_reach(bw, 1, dense + experts, 100.0));
        assert!(could_reach(None, 1, dense + experts, 1e9));
    }
}
