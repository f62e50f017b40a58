//! From a memory placement (which bytes sit in which pool) to the speed
//! model's placement (what each device reads per token, and the hops between).

use super::work_split::{DeviceRates, DeviceShare, Link, ModelCost, WorkSplit};
use crate::memory::{FlashAttn, RunSettings};
use crate::placement as mem;
use crate::units::{Bytes, BytesPerSecond};

/// The one way from a memory placement to a speed placement: the user path
/// (`estimate`) and the calibration (`validate speed`) both call it, so the
/// fitted constants describe what users get.
///
/// * `model`: the model's per-token costs, built with
///   [`ModelCost::with_settings`] from the same `settings` (its KV bytes per
///   token follow `-ctk`/`-ctv` and the MLA cache layout);
/// * `p`: the memory placement ([`crate::placement::llama_cpp::place`]);
/// * `devices[i]` describes pool `i` (host first, then each GPU, as in
///   [`mem::Placement::devices`]); a pool that runs anything needs a description;
/// * `link`: the host-GPU and GPU-GPU link (PCIe);
/// * `settings`: the run settings; `-b` and `-ub` set the prefill batches
///   (`n_ubatch` is capped at `n_batch`, as llama.cpp does) and `-fa` decides
///   whether attention materialises its score matrix (`auto` counts as on:
///   llama.cpp enables flash attention on every backend canirun models).
pub fn from_memory(
    model: &ModelCost,
    p: &mem::Placement,
    devices: &[Option<DeviceRates>],
    link: BytesPerSecond,
    settings: &RunSettings,
) -> Result<WorkSplit, super::SpeedError> {
    let n_layer = model.n_layer.max(1) as f64;
    let total_kv: u64 = p.devices.iter().map(|d| d.kv.0).sum();
    let has_gpu = p
        .devices
        .iter()
        .any(|d| d.loc != mem::Loc::Cpu && d.weights > Bytes::ZERO);
    let mut shares = Vec::new();
    for (d, spec) in p.devices.iter().zip(devices) {
        // The token embedding is a row gather, not read per token, unless the
        // output head is tied to it and runs from this very copy (the head on
        // the host; a head on a GPU gets its own copy, counted in its weights).
        let embedding_gathered = if model.tied_output && d.loc == p.output_loc {
            Bytes::ZERO
        } else {
            d.embedding
        };
        let dense = d
            .weights
            .saturating_sub(d.experts)
            .saturating_sub(embedding_gathered);
        // A pool that runs no block, no expert and not the output head (the host
        // holding only the embedding and rope factors) reads nothing per token.
        if d.layers.is_empty() && d.experts == Bytes::ZERO && d.loc != p.output_loc {
            continue;
        }
        let spec = spec
            .clone()
            .ok_or_else(|| super::SpeedError::NoBandwidth(d.name.clone()))?;
        let active = dense.0 as f64 + d.experts.0 as f64 * model.expert_active_fraction;
        let layer_fraction = d.layers.len() as f64 / n_layer;
        shares.push(DeviceShare {
            device: spec,
            layer_fraction,
            dense_bytes: dense,
            expert_bytes: d.experts,
            expert_active_fraction: model.expert_active_fraction,
            kv_bytes_per_token: if total_kv == 0 {
                0.0
            } else {
                model.kv_bytes_per_token * d.kv.0 as f64 / total_kv as f64
            },
            active_params: model.active_params * active / model.active_bytes().max(1.0),
            dot_cycles: model.dot_cycles_of(dense, d.experts),
            attn_width: model.attn_width * layer_fraction,
            attn_heads: model.attn_heads * layer_fraction,
            // llama.cpp copies CPU-held weights to the GPU for large batches.
            streamed_over: (d.loc == mem::Loc::Cpu && has_gpu).then_some(link),
        });
    }
    if shares.is_empty() {
        return Err(super::SpeedError::NoDevices);
    }
    let mut links = Vec::new();
    let gpus_used = p
        .devices
        .iter()
        .filter(|d| d.loc != mem::Loc::Cpu && !d.layers.is_empty())
        .count();
    // One hop per boundary between consecutive GPUs: each pays its latency.
    for i in 1..gpus_used {
        links.push(Link {
            label: format!("GPU hop {i} of {} (layer split)", gpus_used - 1),
            bandwidth: link,
            latency: None,
            bytes_per_token: model.hidden_bytes,
        });
    }
    let cpu = &p.devices[0];
    if has_gpu && !cpu.layers.is_empty() {
        links.push(Link {
            label: "CPU ↔ GPU (blocks on both sides)".into(),
            bandwidth: link,
            latency: None,
            bytes_per_token: model.hidden_bytes * 2,
        });
    }
    if has_gpu && cpu.experts > Bytes::ZERO {
        let moe_layers =
            (cpu.experts.0 as f64 / model.expert_bytes.0.max(1) as f64 * n_layer).round() as u64;
        links.push(Link {
            label: "GPU ↔ CPU, in and out of the experts in RAM".into(),
            bandwidth: link,
            latency: None,
            bytes_per_token: model.hidden_bytes * (2 * moe_layers.max(1)),
        });
    }
    // llama.cpp's condition (every layer on a GPU, layer split, KV offloaded,
    // no -ot), and nothing left in RAM by the placement either.
    let all_on_gpu = cpu.layers.is_empty() && cpu.experts == Bytes::ZERO;
    let pipelined = all_on_gpu && gpus_used > 1 && p.pipeline_parallel(model.n_layer);
    Ok(WorkSplit {
        model: model.clone(),
        devices: shares,
        links,
        pipeline_parallel: pipelined,
        n_batch: settings.n_batch.max(1),
        n_ubatch: settings.n_ubatch.clamp(1, settings.n_batch.max(1)),
        flash_attn: !matches!(settings.flash_attn, FlashAttn::Off),
    })
}
