//! `canirun plan`: search the hardware catalog for setups that run a model
//! at a target speed. Every candidate goes through [`crate::estimate`], the
//! same pipeline as a single estimate; the search adds no model of its own.

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
use crate::placement::llama_cpp::{Override, PlacementArgs};
use crate::placement::Loc;
use crate::speed;
use crate::units::{Bytes, BytesPerSecond};
use serde::Serialize;

/// InfiniBand NDR between nodes: 400 Gb/s = 50 GB/s.
const INFINIBAND_NDR_GBS: f64 = 50.0;
/// Thunderbolt 5 between Macs: 80 Gb/s = 10 GB/s.
const THUNDERBOLT5_GBS: f64 = 10.0;

/// The caveats that go with every plan (`canirun plan --json` and the web API).
pub const NOTES: [&str; 3] = [
    "prices are launch prices from the catalog (RAM and chassis not included)",
    "power is the sum of the parts' TDP: an upper bound while generating",
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
    /// Launch price, when every part has one.
    pub price_usd: Option<f64>,
    /// Sum of the parts' TDP, when known.
    pub power_w: Option<f64>,
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
        host_device: host,
        host_bandwidth: None,
        link: None,
        ram: None,
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
        power_w: power,
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
    // Experts-in-RAM setups are placed as such; the others as llama.cpp would fit them.
    let intended_offload = kind == "cpu+gpu (experts in RAM)";
    let placement = intended_offload.then(|| PlacementArgs {
        overrides: vec![Override {
            pattern: "exps".into(),
            target: Loc::Cpu,
        }],
        ..Default::default()
    });
    let engine = Engine::LlamaCpp(LlamaCppRun {
        placement,
        ..LlamaCppRun::default()
    });
    let r = estimate(&request(model, hw, ctx, engine)).ok()?;
    let fits_gpu = matches!(r.verdict, Verdict::Fits { .. });
    // GPU setups must hold the whole model on the GPUs; CPU+GPU setups hold the
    // experts in RAM on purpose; CPU-only setups hold everything in RAM.
    if !r.runs() || (!fits_gpu && !intended_offload && hw.has_gpu()) {
        return None;
    }
    Some(setup(kind, r, price, power, min_tps))
}

/// The GPUs worth pairing with a CPU that holds the experts: per memory size,
/// the cheapest and the one with the most bandwidth (the GPU holds only the
/// dense weights and the KV cache, so the others add cost without speed).
/// Keeps the search over every CPU platform fast.
fn expert_host_gpus<'a>(gpus: &[&'a Device]) -> Vec<&'a Device> {
    let mut picked: Vec<&Device> = Vec::new();
    let mut sizes: Vec<Bytes> = gpus
        .iter()
        .filter_map(|g| g.memory)
        .filter(|m| *m >= Bytes::gib(16))
        .collect();
    sizes.sort();
    sizes.dedup();
    for size in sizes {
        let same: Vec<&Device> = gpus
            .iter()
            .copied()
            .filter(|g| g.memory == Some(size))
            .collect();
        let cheapest = same
            .iter()
            .filter(|g| g.price_usd.is_some())
            .min_by(|a, b| {
                a.price_usd
                    .unwrap_or(0.0)
                    .total_cmp(&b.price_usd.unwrap_or(0.0))
            });
        let fastest = same.iter().max_by(|a, b| {
            let bw = |d: &Device| d.bandwidth.map_or(0.0, |b| b.0);
            bw(a).total_cmp(&bw(b))
        });
        for g in cheapest.into_iter().chain(fastest) {
            if !picked.iter().any(|p| p.id == g.id) {
                picked.push(g);
            }
        }
    }
    picked
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
    let devs = cat.devices();
    let gpus: Vec<&Device> = devs
        .iter()
        .filter(|d| d.kind == DeviceKind::Gpu && d.memory.is_some() && d.bandwidth.is_some())
        .collect();
    let mut setups: Vec<Setup> = Vec::new();
    let tdp = |d: &Device| d.tdp.map(|w| w.0);

    // 1. One to eight identical GPUs (llama.cpp layer split).
    for g in &gpus {
        let mem = g.memory.unwrap_or_default();
        let need_min = (w.total().0 / mem.0.max(1)).max(1);
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
            if x.vendor != y.vendor
                || x.memory.unwrap_or_default() + y.memory.unwrap_or_default() < w.total()
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
    for m in devs.iter().filter(|d| d.kind == DeviceKind::AppleSoc) {
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
    // 5. CPU + GPU with the experts in RAM, and 6. CPU only.
    let platforms: Vec<&Device> = devs
        .iter()
        .filter(|d| d.kind == DeviceKind::CpuPlatform && d.bandwidth.is_some())
        .collect();
    if spec.moe.is_some() {
        for g in expert_host_gpus(&gpus) {
            for pl in &platforms {
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
                    setups.push(s);
                }
            }
        }
    }
    for pl in &platforms {
        let hw = named(
            &[],
            Some(((*pl).clone(), 1)),
            Backend::Cpu,
            format!("{} (CPU only)", pl.name),
        );
        if let Some(s) = evaluate("cpu only", model, a.ctx, &hw, None, tdp(pl), a.min_tps) {
            setups.push(s);
        }
    }
    // 7. Clusters of 8-GPU servers with vLLM (FP8 or BF16 checkpoints):
    // tensor parallel inside a node, pipeline stages across nodes over InfiniBand.
    if let Some(native) = model.requantized(native_quant(entry), MlaTensorLayout::Split) {
        for g in gpus.iter().filter(|g| {
            g.category.contains("datacenter") && g.memory.unwrap_or_default() >= Bytes::gib(40)
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
    let cheapest = rank(&|s| s.price_usd, true);
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
