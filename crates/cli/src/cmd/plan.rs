//! `canirun plan MODEL --min-tps N -c N [--budget USD] [--max-power W]`: search
//! the hardware catalog for setups that run the model at the target speed.
//! Every setup goes through the same pipeline as an estimate: memory, placement,
//! speed. The search adds no model of its own.

use crate::render;
use crate::target::{Origin, Target};
use crate::{
    args::PlacementFlags,
    cmd::estimate::{place_on, speed_for},
};
use anyhow::{bail, Result};
use canirun_core::hardware::{metal_working_set, Catalog, Device, DeviceKind};
use canirun_core::memory::fit::{verdict, Verdict};
use canirun_core::memory::vllm::{estimate as vllm_estimate, VllmSettings};
use canirun_core::memory::{Backend, RunSettings};
use canirun_core::model::{resolve, MlaTensorLayout, ModelSpec};
use canirun_core::placement::llama_cpp::{place, Override, PlacementArgs};
use canirun_core::placement::{DeviceSpec, Loc};
use canirun_core::quant::{weights, Quant, Weights};
use canirun_core::speed::{self, Calibration, ModelCost};
use canirun_core::units::{Bytes, BytesPerSecond};
use clap::Args;
use serde::Serialize;
use std::time::Instant;

/// Arguments of `canirun plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The model, e.g. deepseek-r1:671b.
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// Target generation speed at the full context, tokens per second.
    #[arg(long = "min-tps", value_name = "TOK/S", default_value_t = 10.0)]
    pub min_tps: f64,
    /// Context the setup must hold.
    #[arg(short = 'c', long = "ctx-size", value_name = "N", default_value_t = 32768, value_parser = crate::args::parse_ctx_given)]
    pub ctx: u64,
    /// Most you will spend, in USD (setups with an unknown price are kept, marked).
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Most power the setup may draw (sum of TDPs), in watts.
    #[arg(long = "max-power", value_name = "W")]
    pub max_power: Option<f64>,
    /// Quantization for llama.cpp setups (default: the model's tag, else Q4_K_M).
    #[arg(short = 'q', long = "quant", value_name = "QUANT")]
    pub quant: Option<String>,
    /// Setups to list per ranking.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
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
    Target {
        description: desc,
        origin: Origin::Named,
        gpus: gpus.iter().map(|(_, m)| *m).collect(),
        gpu_names: gpus.iter().map(|(d, _)| d.name.clone()).collect(),
        devices: gpus.iter().map(|(d, _)| Some(d.clone())).collect(),
        host_device: host,
        host_bandwidth: None,
        link: None,
        ram: None,
        backend,
        assumptions: vec![],
    }
}

fn backend_of(d: &Device) -> Backend {
    speed::default_backend(d)
}

/// Evaluate one llama.cpp setup.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    kind: &'static str,
    spec: &ModelSpec,
    w: &Weights,
    ctx: u64,
    hw: &Target,
    price: Option<f64>,
    power: Option<f64>,
    min_tps: f64,
) -> Option<Setup> {
    let s = RunSettings {
        n_ctx: ctx,
        backend: hw.backend,
        ..Default::default()
    };
    // Experts-in-RAM setups are placed as such directly; the others as llama.cpp would fit them.
    let p = if kind == "cpu+gpu (experts in RAM)" {
        let args = PlacementArgs {
            overrides: vec![Override {
                pattern: "exps".into(),
                target: Loc::Cpu,
            }],
            ..Default::default()
        };
        let gpus: Vec<DeviceSpec> = hw
            .gpus
            .iter()
            .zip(&hw.gpu_names)
            .map(|(m, n)| DeviceSpec {
                name: n.clone(),
                memory: *m,
                backend: hw.backend,
            })
            .collect();
        place(spec, w, &s, &gpus, hw.ram, &args).ok()?
    } else {
        place_on(
            spec,
            w,
            &s,
            hw,
            &PlacementFlags::default(),
            None,
            &Default::default(),
        )
        .ok()?
        .placement
    };
    let v = verdict(&p, spec.n_layer, Bytes::ZERO);
    let fits_gpu = matches!(v, Verdict::Fits { .. });
    // GPU setups must hold the whole model on the GPUs; CPU+GPU setups hold the
    // experts in RAM on purpose; CPU-only setups hold everything in RAM.
    let intended_offload = kind == "cpu+gpu (experts in RAM)";
    if matches!(v, Verdict::DoesNotFit { .. })
        || (!fits_gpu && !intended_offload && !hw.gpus.is_empty())
    {
        return None;
    }
    let sp = speed_for(spec, w, &s, hw, &p).ok();
    let decode = sp.as_ref().map(|x| {
        (
            x.decode_full.rate.0,
            x.decode_full.low.0,
            x.decode_full.high.0,
        )
    });
    let prefill = sp
        .as_ref()
        .and_then(|x| x.prefill.as_ref().map(|e| e.rate.0));
    let host = &p.devices[0];
    let ram_needed =
        (host.weights > Bytes::gib(1)).then(|| round_ram(host.total() + Bytes::gib(8)));
    let mut limited_by = Vec::new();
    match decode {
        Some((t, _, _)) if t < min_tps => {
            limited_by.push(format!("speed: {t:.1} tok/s < {min_tps}"))
        }
        None => limited_by.push("speed unknown (a device has no bandwidth figure)".into()),
        _ => {}
    }
    Some(Setup {
        kind,
        hardware: hw.description.clone(),
        engine: format!("llama.cpp {}", p.flags_line()),
        decode_tps: decode,
        prefill_tps: prefill,
        price_usd: price,
        power_w: power,
        tokens_per_kj: match (decode, power) {
            (Some((t, _, _)), Some(w)) if w > 0.0 => Some(t * 1000.0 / w),
            _ => None,
        },
        ram_needed,
        memory: p
            .devices
            .iter()
            .filter(|d| {
                d.total() > Bytes::ZERO
                    && (d.loc != canirun_core::placement::Loc::Cpu || d.weights > Bytes::gib(1))
            })
            .map(|d| {
                (
                    d.name.clone(),
                    d.total(),
                    d.capacity.unwrap_or(ram_needed.unwrap_or_default()),
                )
            })
            .collect(),
        meets: limited_by.is_empty(),
        limited_by,
    })
}

fn sum_opt(parts: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    parts.into_iter().try_fold(0.0, |acc, x| x.map(|v| acc + v))
}

/// Search.
pub fn run(a: &PlanArgs, json_out: bool) -> Result<()> {
    let t0 = Instant::now();
    if !(a.min_tps.is_finite() && a.min_tps > 0.0) {
        bail!("--min-tps must be a positive number of tokens per second");
    }
    let r = resolve(&a.model)?;
    let spec = r.entry.spec();
    let quant = Quant::parse(
        a.quant
            .as_deref()
            .or(r.quant.as_deref())
            .unwrap_or("Q4_K_M"),
    )?;
    let w = weights(&spec, &quant, MlaTensorLayout::Split);
    let cat = Catalog::embedded()?;
    let cal = Calibration::embedded()?;
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
                backend_of(g),
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
                &spec,
                &w,
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
                backend_of(x),
                format!("{} + {}", x.name, y.name),
            );
            let price = sum_opt([x.price_usd, y.price_usd]);
            let power = sum_opt([tdp(x), tdp(y)]);
            if let Some(s) = evaluate(
                "mixed consumer gpus",
                &spec,
                &w,
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
                // Thunderbolt 5 between Macs: 80 Gb/s = 10 GB/s.
                hw.link = Some(BytesPerSecond::gbps(10.0));
            }
            let kind = if n == 1 {
                "mac"
            } else {
                "mac cluster (rpc/exo)"
            };
            if let Some(s) = evaluate(
                kind,
                &spec,
                &w,
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
        for g in gpus
            .iter()
            .filter(|g| g.memory.unwrap_or_default() >= Bytes::gib(16))
        {
            for pl in &platforms {
                let list = vec![((*g).clone(), g.memory.unwrap_or_default())];
                let hw = named(
                    &list,
                    Some(((*pl).clone(), 1)),
                    backend_of(g),
                    format!("{} + {} (experts in RAM)", g.name, pl.name),
                );
                // Power is known only when both parts have a TDP in the catalog.
                if let Some(s) = evaluate(
                    "cpu+gpu (experts in RAM)",
                    &spec,
                    &w,
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
        if let Some(s) = evaluate("cpu only", &spec, &w, a.ctx, &hw, None, tdp(pl), a.min_tps) {
            setups.push(s);
        }
    }
    // 7. Clusters of 8-GPU servers with vLLM (FP8 or BF16 checkpoints).
    let native = if r.entry.native_dtype == "FP8" {
        Quant::Fp8
    } else {
        Quant::parse("BF16")?
    };
    let wn = weights(&spec, &native, MlaTensorLayout::Split);
    let model_cost = ModelCost::new(&spec, &wn);
    for g in gpus.iter().filter(|g| {
        g.category.contains("datacenter") && g.memory.unwrap_or_default() >= Bytes::gib(40)
    }) {
        for nodes in 1..=4u64 {
            let v = VllmSettings {
                tensor_parallel: 8,
                pipeline_parallel: nodes,
                max_model_len: a.ctx,
                ..Default::default()
            };
            let Ok(per) = vllm_estimate(&spec, &wn, g.memory.unwrap_or_default(), &v) else {
                break;
            };
            if !per.fits {
                continue;
            }
            // Tensor parallel inside a node reads each GPU's shard at once: one
            // device with 8× the bandwidth; nodes chain as pipeline stages over
            // InfiniBand (400 Gb/s = 50 GB/s). Collective latency is not modelled.
            let decode = speed::DeviceSpec::from_device(g, Backend::Cuda, cal)
                .ok()
                .and_then(|d| {
                    let p = speed::Placement::layer_split(
                        &model_cost,
                        d.times(8),
                        nodes as u32,
                        Some(BytesPerSecond::gbps(50.0)),
                    );
                    speed::decode(&p, a.ctx, cal).ok()
                });
            let dt = decode.as_ref().map(|e| (e.rate.0, e.low.0, e.high.0));
            let mut limited_by = Vec::new();
            if let Some((t, _, _)) = dt {
                if t < a.min_tps {
                    limited_by.push(format!("speed: {t:.1} tok/s < {}", a.min_tps));
                }
            }
            let n = 8 * nodes;
            setups.push(Setup {
                kind: if nodes == 1 {
                    "8-gpu server (vllm)"
                } else {
                    "multi-node cluster (vllm over ray)"
                },
                hardware: format!("{nodes} × 8× {}", g.name),
                engine: format!(
                    "vllm {native} --tensor-parallel-size 8{}",
                    if nodes > 1 {
                        format!(" --pipeline-parallel-size {nodes}")
                    } else {
                        String::new()
                    }
                ),
                decode_tps: dt,
                prefill_tps: None,
                price_usd: g.price_usd.map(|p| p * n as f64),
                power_w: tdp(g).map(|p| p * n as f64),
                tokens_per_kj: match (dt, tdp(g)) {
                    (Some((t, _, _)), Some(p)) => Some(t * 1000.0 / (p * n as f64)),
                    _ => None,
                },
                ram_needed: None,
                memory: vec![(
                    format!("each {}", g.name),
                    per.usable.saturating_sub(per.kv_pool) + Bytes(per.kv_per_token.0 * a.ctx),
                    g.memory.unwrap_or_default(),
                )],
                meets: limited_by.is_empty() && dt.is_some(),
                limited_by,
            });
            break;
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
    let elapsed = t0.elapsed().as_secs_f64();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": r.entry.id, "quant": quant.to_string(), "context": a.ctx, "min_tps": a.min_tps,
                "budget": a.budget, "max_power": a.max_power,
                "evaluated": setups.len(), "meeting": meeting.len(), "kinds": kinds,
                "cheapest": cheapest, "fastest": fastest, "most_efficient": efficient,
                "closest": closest, "seconds": elapsed,
                "notes": ["prices are launch prices from the catalog (RAM and chassis not included)",
                          "power is the sum of the parts' TDP: an upper bound while generating",
                          "vLLM cluster speed treats tensor parallelism as one device with 8x bandwidth; collectives are not modelled"],
            }))?
        );
        return Ok(());
    }
    println!(
        "{} at {} with {} tokens of context, at least {} tok/s: {} setups evaluated, {} meet the target ({} kinds) in {:.2} s",
        r.entry.name, quant, a.ctx, a.min_tps, setups.len(), meeting.len(), kinds.len(), elapsed
    );
    let show = |title: &str, list: &[Setup]| {
        if list.is_empty() {
            return;
        }
        println!("\n{title}");
        let mut t = render::table(&[
            "kind", "hardware", "tok/s", "price", "TDP", "tok/kJ", "RAM", "engine",
        ]);
        for s in list {
            t.add_row(vec![
                comfy_table::Cell::new(s.kind),
                comfy_table::Cell::new(&s.hardware),
                render::right(
                    s.decode_tps
                        .map(|d| format!("{:.1} ({:.1}–{:.1})", d.0, d.1, d.2))
                        .unwrap_or_else(|| "–".into()),
                ),
                render::right(
                    s.price_usd
                        .map(|p| format!("${p:.0}"))
                        .unwrap_or_else(|| "?".into()),
                ),
                render::right(
                    s.power_w
                        .map(|p| format!("{p:.0} W"))
                        .unwrap_or_else(|| "?".into()),
                ),
                render::right(
                    s.tokens_per_kj
                        .map(|p| format!("{p:.1}"))
                        .unwrap_or_else(|| "?".into()),
                ),
                render::right(
                    s.ram_needed
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "–".into()),
                ),
                comfy_table::Cell::new(&s.engine),
            ]);
        }
        println!("{t}");
    };
    show("cheapest", &cheapest);
    show("fastest", &fastest);
    show("most energy-efficient (tokens per kJ at TDP)", &efficient);
    if meeting.is_empty() {
        println!("\nno setup meets the target; the closest:");
        for s in &closest {
            println!("  {} ({}): {}", s.hardware, s.kind, s.limited_by.join("; "));
        }
    }
    println!("\nPrices are catalog launch prices (RAM and chassis not included); power is the sum of TDPs.");
    Ok(())
}
