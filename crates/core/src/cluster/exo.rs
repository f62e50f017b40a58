//! exo across Macs: `exo` on every Mac; the nodes find each other, and the
//! model is placed from the dashboard or API (port 52415). Pipeline
//! sharding gives each node a run of layers in proportion to its memory
//! (`allocate_layers_proportionally`, src/exo/master/placement_utils.py);
//! tensor sharding cuts every layer over the nodes, which pays only over
//! RDMA (Thunderbolt 5 with macOS 26.2, MLX's JACCL backend).

use super::{
    all_reduces, chain, hidden_bf16, layers_by_memory, Built, ClusterError, ClusterRequest,
    DeviceMemory, NodeCommands, NodeMemory,
};
use crate::cluster::legality::Split;
use crate::cluster::Interconnect;
use crate::hardware::{Device, Target};
use crate::memory::verdict::Verdict;
use crate::memory::RunSettings;
use crate::speed::{DeviceRates, Link, ModelCost, WorkSplit};
use crate::units::Bytes;

/// exo's API and dashboard port (`Args.api_port`, src/exo/main.py).
pub const API_PORT: u16 = 52415;

/// Pipeline over the nodes, or tensor parallel over them when `--tp` is given.
pub(super) fn split(req: &ClusterRequest<'_>, per_node: u64) -> Split {
    let n = per_node * u64::from(req.nodes);
    let tensor = req.split.tensor_parallel.is_some_and(|t| t > 1);
    Split {
        tensor_parallel: if tensor {
            req.split.tensor_parallel.unwrap_or(n)
        } else {
            1
        },
        pipeline_parallel: if tensor {
            (n / req.split.tensor_parallel.unwrap_or(n).max(1)).max(1)
        } else {
            n
        },
        expert_parallel: false,
        dp_attention: 1,
    }
}

/// Weights per layer of the model, and those outside the layers (embedding, output).
fn layer_bytes(req: &ClusterRequest<'_>) -> (Vec<Bytes>, Bytes) {
    let n = req.model.spec.n_layer as usize;
    let mut per = vec![Bytes::ZERO; n];
    let mut rest = Bytes::ZERO;
    for t in &req.model.weights.tensors {
        match t.tensor.layer {
            Some(l) if (l as usize) < n => per[l as usize] += t.bytes,
            _ => rest += t.bytes,
        }
    }
    (per, rest)
}

/// Memory per Mac: its layers' weights and their KV rows at the full
/// context (pipeline), or a 1/n slice of everything (tensor), against the
/// Metal working set.
pub(super) fn memory(
    req: &ClusterRequest<'_>,
    flat: &Target,
    split: Split,
) -> Result<Built, ClusterError> {
    let n = flat.gpus.len();
    let (per_layer, rest) = layer_bytes(req);
    let cost = ModelCost::with_settings(&req.model.spec, &req.model.weights, &req.settings);
    let kv_layer = Bytes(
        (cost.kv_bytes_per_token / req.model.spec.n_layer.max(1) as f64 * req.settings.n_ctx as f64)
            as u64,
    );
    let tensor = split.tensor_parallel > 1;
    let layers = if tensor {
        vec![req.model.spec.n_layer; n]
    } else {
        layers_by_memory(req.model.spec.n_layer, &flat.gpus)
    };
    let mut start = 0usize;
    let mut memory = Vec::new();
    for (i, &l) in layers.iter().enumerate() {
        let needed = if tensor {
            let w: Bytes = per_layer.iter().copied().sum::<Bytes>() + rest;
            // MLA's latent is one per token for all heads: every rank keeps all of it.
            let kv = if req.model.spec.mla.is_some() {
                kv_layer * req.model.spec.n_layer
            } else {
                Bytes(kv_layer.0 * req.model.spec.n_layer / n as u64)
            };
            Bytes(w.0 / n as u64) + kv
        } else {
            let w: Bytes = per_layer[start..(start + l as usize).min(per_layer.len())]
                .iter()
                .copied()
                .sum();
            start += l as usize;
            // The embedding on the first node, the output head on the last.
            let edge = if i == 0 || i + 1 == n {
                Bytes(rest.0 / if n > 1 { 2 } else { 1 })
            } else {
                Bytes::ZERO
            };
            w + edge + kv_layer * l
        };
        memory.push(NodeMemory {
            node: i as u32,
            role: if i == 0 {
                "first".into()
            } else {
                format!("node {i}")
            },
            layers: l,
            devices: vec![DeviceMemory {
                name: flat.gpu_names[i].clone(),
                needed,
                capacity: flat.gpus[i],
            }],
            needed,
            capacity: flat.gpus[i],
        });
    }
    let worst = memory
        .iter()
        .max_by_key(|m| m.needed.0 as i128 - m.capacity.0 as i128)
        .expect("at least one node");
    let verdict = if worst.needed <= worst.capacity {
        Verdict::Fits {
            headroom: memory
                .iter()
                .map(|m| m.capacity.saturating_sub(m.needed))
                .min()
                .unwrap_or_default(),
        }
    } else {
        Verdict::DoesNotFit {
            short_by: worst.needed.saturating_sub(worst.capacity),
            pool: format!(
                "node {}'s Metal working set ({})",
                worst.node, worst.capacity
            ),
        }
    };
    let notes = vec![
        if tensor {
            format!("tensor sharding: every node holds 1/{n} of each of the {} layers", req.model.spec.n_layer)
        } else {
            format!(
                "exo places layers by memory: {} (largest remainder, at least one each; exo's allocate_layers_proportionally)",
                layers.iter().map(u64::to_string).collect::<Vec<_>>().join(" + ")
            )
        },
        "memory is weights plus KV rows at the full context in the quantization given; MLX's activations and the model's own loader overhead are not counted".into(),
    ];
    Ok(Built {
        memory,
        verdict,
        report: None,
        notes,
    })
}

/// Pipeline: one share per Mac with its layers and one hop per boundary
/// (the BF16 hidden state, the network's one-way latency); tensor: all Macs
/// read one layer at once, with two all-reduces per layer over the network.
/// MLX's efficiency is taken as llama.cpp Metal's calibration (no exo row
/// calibrates it).
pub(super) fn work_split(
    model: &ModelCost,
    rates: Vec<DeviceRates>,
    d: &Device,
    split: Split,
    memory: &[NodeMemory],
    net: &Interconnect,
    s: &RunSettings,
) -> WorkSplit {
    // MLX's launch term is llama.cpp Metal's stand-in: in series, as the
    // server engines' (see `DeviceRates::serial_launches`).
    let rates: Vec<DeviceRates> = rates
        .into_iter()
        .map(|r| DeviceRates {
            serial_launches: true,
            ..r
        })
        .collect();
    let n_layer = model.n_layer.max(1) as f64;
    if split.tensor_parallel > 1 {
        let tp = split.tensor_parallel;
        let links = all_reduces(model, tp, 1, d, net);
        // Every Mac reads an equal slice at once: the slowest sets the pace.
        let slowest = rates
            .iter()
            .min_by(|a, b| a.bandwidth.0.total_cmp(&b.bandwidth.0))
            .cloned()
            .expect("a cluster has nodes");
        return chain(model, vec![(slowest.times(tp as u32), 1.0)], links, s, true);
    }
    let shares = memory
        .iter()
        .zip(rates)
        .map(|(m, r)| {
            let mut x = r;
            x.label = format!("{} (node {})", x.label, m.node);
            (x, m.layers as f64 / n_layer)
        })
        .collect();
    let links = (1..memory.len())
        .map(|i| Link {
            label: format!(
                "node {} → {i} over {} ({} µs)",
                i - 1,
                net.id,
                net.latency_us
            ),
            bandwidth: net.bandwidth(),
            latency: Some(net.latency()),
            bytes_per_token: hidden_bf16(model),
        })
        .collect();
    chain(model, shares, links, s, true)
}

/// `exo` on every Mac, then the placement from the dashboard.
pub(super) fn commands(
    req: &ClusterRequest<'_>,
    split: Split,
    notes: &mut Vec<String>,
) -> Vec<NodeCommands> {
    let tensor = split.tensor_parallel > 1;
    notes.push(format!(
        "then open http://NODE0:{API_PORT} (exo's dashboard), pick the model and choose {} sharding with {}; exo downloads its MLX weights on each node",
        if tensor { "Tensor" } else { "Pipeline" },
        if req.interconnect.rdma { "the MLX JACCL instance (RDMA over Thunderbolt 5, macOS 26.2, turned on from macOS recovery as Apple TN3205 describes)" } else { "the MLX Ring instance (TCP)" }
    ));
    if tensor && req.interconnect.rdma {
        notes.push(format!(
            "tensor sharding: {} µs per message is the upper bound Apple gives for RDMA over Thunderbolt (TN3205); exo's authors quote single-digit µs, which would make these all-reduces several times cheaper than shown",
            req.interconnect.latency_us
        ));
    }
    if tensor && !req.interconnect.rdma {
        notes.push(format!(
            "tensor sharding over {} pays {} µs per all-reduce; exo's authors recommend it only over RDMA (use --interconnect tb5-rdma on macOS 26.2)",
            req.interconnect.id, req.interconnect.latency_us
        ));
    }
    (0..req.nodes)
        .map(|node| NodeCommands {
            node,
            role: if node == 0 {
                "node 0".into()
            } else {
                format!("node {node}")
            },
            lines: vec!["exo".into()],
        })
        .collect()
}
