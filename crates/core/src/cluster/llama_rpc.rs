//! llama.cpp's RPC backend: `rpc-server -H 0.0.0.0 -p 50052` on every host
//! but the main one, and `llama-server … --rpc h1:50052,h2:50052` on the
//! main one, which then places layers over its own devices and the remote
//! ones as over local GPUs (by free memory, no `-ts` given). Every token
//! crosses each host boundary once, through a TCP round trip of the RPC
//! protocol; llama.cpp's pipeline overlap is off because RPC devices have no
//! async copies or events (`load_all_data: device RPC[…] does not support
//! async, host buffers or events`, lhl/strix-halo-testing rpc-test).

use super::{chain, Built, ClusterError, ClusterRequest, DeviceMemory, NodeCommands, NodeMemory};
use crate::cluster::legality::Split;
use crate::cluster::Interconnect;
use crate::commands::Runner;
use crate::hardware::Target;
use crate::memory::RunSettings;
use crate::pipeline::{estimate, CommandOptions, Engine, Request};
use crate::placement::Loc;
use crate::speed::{Calibration, DeviceRates, Link, ModelCost, WorkSplit};
use crate::units::{Bytes, Seconds};

/// rpc-server's default port (`rpc_server_params.port`, tools/rpc/rpc-server.cpp).
pub const RPC_PORT: u16 = 50052;

/// llama.cpp splits layers, no tensor parallelism: one stage per device.
pub(super) fn split(req: &ClusterRequest<'_>, per_node: u64) -> Split {
    Split {
        tensor_parallel: 1,
        pipeline_parallel: per_node * u64::from(req.nodes),
        expert_parallel: false,
        dp_attention: 1,
    }
}

/// The pipeline's llama.cpp placement over every host's devices at once:
/// the same buffers and KV rows a real llama.cpp would put on each.
pub(super) fn memory(
    req: &ClusterRequest<'_>,
    flat: &Target,
    per_node: u64,
) -> Result<Built, ClusterError> {
    let mut preq = Request::new(req.model, flat, req.settings.clone());
    preq.engine = Engine::LlamaCpp(Default::default());
    preq.workload = req.workload.clone();
    preq.commands = CommandOptions {
        runners: vec![Runner::LlamaCpp],
        ..CommandOptions::default()
    };
    let report = estimate(&preq)?;
    let p = report
        .placement
        .as_ref()
        .ok_or_else(|| ClusterError::Input("llama.cpp's estimate has no placement".into()))?;
    let mut notes = Vec::new();
    let memory = (0..req.nodes)
        .map(|node| {
            let devices: Vec<DeviceMemory> = (0..per_node)
                .filter_map(|k| {
                    let i = (u64::from(node) * per_node + k) as usize;
                    p.devices
                        .iter()
                        .find(|d| d.loc == Loc::Gpu(i))
                        .map(|d| DeviceMemory {
                            name: d.name.clone(),
                            needed: d.total(),
                            capacity: d.capacity.unwrap_or(flat.gpus[i]),
                        })
                })
                .collect();
            let layers = p
                .layer_loc
                .iter()
                .filter(|l| matches!(l, Loc::Gpu(i) if (*i as u64) / per_node == u64::from(node)))
                .count() as u64;
            NodeMemory {
                node,
                role: if node == 0 {
                    "main (llama-server)".into()
                } else {
                    format!("h{node} (rpc-server)")
                },
                layers,
                needed: devices.iter().map(|d| d.needed).sum(),
                capacity: devices.iter().map(|d| d.capacity).sum(),
                devices,
            }
        })
        .collect();
    if let Some(host) = p.devices.iter().find(|d| d.loc == Loc::Cpu) {
        if host.total() > Bytes::ZERO {
            notes.push(format!(
                "the main host's own RAM also holds {} (token embedding, output buffer)",
                host.total()
            ));
        }
    }
    Ok(Built {
        verdict: report.verdict.clone(),
        memory,
        report: Some(report),
        notes,
    })
}

/// One share per device with the layers the placement gave it, and one RPC
/// hop per host boundary: the calibrated device-to-device hop
/// (`hop_latency_s`) plus the network's one-way latency, the f32 hidden
/// state over its bandwidth; per token in decode, per micro-batch in prefill.
pub(super) fn work_split(
    model: &ModelCost,
    rates: Vec<DeviceRates>,
    memory: &[NodeMemory],
    net: &Interconnect,
    s: &RunSettings,
    cal: &Calibration,
) -> WorkSplit {
    let n_layer = model.n_layer.max(1) as f64;
    // A node's devices split its layers among themselves in turn, so the
    // node reads its layers at one device's rate (their local hops are left out).
    let shares = memory
        .iter()
        .zip(rates)
        .map(|(m, r)| {
            let mut d = r;
            d.label = format!("{} (node {})", d.label, m.node);
            (d, m.layers as f64 / n_layer)
        })
        .collect();
    let hop = cal.global.hop_latency_s + net.latency().0;
    let links = (1..memory.len())
        .map(|i| Link {
            label: format!(
                "RPC hop node {} → {i} over {} ({:.3} ms hop_latency_s + {:.0} µs network)",
                i - 1,
                net.id,
                cal.global.hop_latency_s * 1e3,
                net.latency_us
            ),
            bandwidth: net.bandwidth(),
            latency: Some(Seconds(hop)),
            bytes_per_token: model.hidden_bytes,
        })
        .collect();
    chain(
        model,
        shares,
        links,
        s,
        super::flash_of(super::ClusterEngine::LlamaRpc, s),
    )
}

/// `rpc-server` on every host but the main one; `llama-server` with `--rpc`
/// on the main one (the pipeline's own llama-server line for these devices).
pub(super) fn commands(
    req: &ClusterRequest<'_>,
    report: Option<&crate::pipeline::Report>,
    notes: &mut Vec<String>,
) -> Vec<NodeCommands> {
    let Some(main) = report.and_then(|r| r.commands.iter().find(|c| c.engine == Runner::LlamaCpp))
    else {
        notes.push("no llama-server command: the model is not a catalog GGUF".into());
        return vec![];
    };
    let hosts: Vec<String> = (1..req.nodes).map(|i| format!("h{i}:{RPC_PORT}")).collect();
    let mut out = vec![NodeCommands {
        node: 0,
        role: "main".into(),
        lines: vec![format!("{} --rpc {}", main.command, hosts.join(","))],
    }];
    for i in 1..req.nodes {
        out.push(NodeCommands {
            node: i,
            role: format!("h{i}"),
            lines: vec![format!("rpc-server -H 0.0.0.0 -p {RPC_PORT}")],
        });
    }
    notes.push("build llama.cpp with -DGGML_RPC=ON on every host; h1, h2, … are the hosts' addresses; rpc-server has no authentication, keep it on a private network".into());
    out
}
