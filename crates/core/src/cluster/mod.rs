//! Clusters on existing distributed engines: vLLM over Ray, SGLang
//! multi-node, llama.cpp's RPC backend and exo. One [`plan`] takes a model,
//! one node's hardware, a node count, the network between them and the
//! engine, and returns a [`ClusterPlan`]: whether the engine accepts the
//! split (and the nearest split it accepts when not), memory per node and
//! per device, speed with its range and the network's terms, power with the
//! hosts and the switch, and the command to type on every node.
//!
//! Pure like the rest of the core: memory comes from the pipeline's own
//! [`estimate`] over the cluster's devices taken together (vLLM/SGLang's
//! per-GPU rules, llama.cpp's placement), and speed from the calibrated
//! roofline ([`crate::speed`]) over a [`WorkSplit`] whose links are the
//! network's. Each engine's own choices (split, placement, commands) live in
//! its file: `vllm.rs`, `sglang.rs`, `llama_rpc.rs`, `exo.rs`.

pub mod exo;
pub mod interconnect;
pub mod legality;
pub mod llama_rpc;
pub mod nodes;
pub mod sglang;
pub mod validate;
pub mod vllm;

#[cfg(test)]
mod tests;

pub use interconnect::Interconnect;
pub use legality::{Refusal, Split, Suggestion};

use crate::cost::{heat_btu_per_hour, wall_power, DeviceLoad, Phase, PowerModel};
use crate::hardware::{Device, HardwareSet, Target};
use crate::memory::verdict::Verdict;
use crate::memory::{FlashAttn, RunSettings};
use crate::pipeline::{EstimateError, Model, Report, Workload};
use crate::speed::{
    self, Calibration, DeviceRates, DeviceShare, Estimate, Link, ModelCost, WorkSplit,
};
use crate::units::{Bytes, Seconds, Watts};
use serde::Serialize;

/// The distributed engine a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterEngine {
    /// vLLM over a Ray cluster: tensor parallel inside a node, pipeline across.
    Vllm,
    /// SGLang multi-node: one tensor-parallel group over every GPU.
    Sglang,
    /// llama.cpp: `rpc-server` on each host, `--rpc` on the main node, layers split across.
    LlamaRpc,
    /// exo: Macs over Thunderbolt, layers placed by memory (or tensor parallel over RDMA).
    Exo,
}

impl ClusterEngine {
    /// From `--engine` (`llama.cpp` with several nodes means its RPC backend).
    pub fn parse(s: &str) -> Option<ClusterEngine> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vllm" => Some(ClusterEngine::Vllm),
            "sglang" => Some(ClusterEngine::Sglang),
            "llama.cpp" | "llamacpp" | "llama-cpp" | "rpc" | "llama-rpc" => {
                Some(ClusterEngine::LlamaRpc)
            }
            "exo" => Some(ClusterEngine::Exo),
            _ => None,
        }
    }

    /// The network a plan assumes when none is named: the usual one for the
    /// engine's hardware (HGX servers on InfiniBand NDR, Macs on Thunderbolt 5,
    /// PCs on 10 GbE).
    pub fn default_interconnect(self) -> &'static str {
        match self {
            ClusterEngine::Vllm | ClusterEngine::Sglang => "ib-ndr",
            ClusterEngine::Exo => "tb5",
            ClusterEngine::LlamaRpc => "10gbe",
        }
    }

    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterEngine::Vllm => "vLLM (Ray)",
            ClusterEngine::Sglang => "SGLang multi-node",
            ClusterEngine::LlamaRpc => "llama.cpp RPC",
            ClusterEngine::Exo => "exo",
        }
    }
}

/// The split as the user asked it; `None`: the engine's usual choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SplitAsk {
    /// `--tp`.
    pub tensor_parallel: Option<u64>,
    /// `--pp`.
    pub pipeline_parallel: Option<u64>,
    /// `--expert-parallel`.
    pub expert_parallel: bool,
    /// SGLang DP attention (`--dp-attention`).
    pub dp_attention: bool,
}

impl SplitAsk {
    /// From vLLM/SGLang launch settings (`--tp`, `--pp`, expert parallelism):
    /// a pipeline size of 1 counts as not given.
    pub fn from_run(run: &crate::pipeline::ServerRun, dp_attention: bool) -> SplitAsk {
        SplitAsk {
            tensor_parallel: run.tensor_parallel,
            pipeline_parallel: (run.pipeline_parallel > 1).then_some(run.pipeline_parallel),
            expert_parallel: run.expert_parallel,
            dp_attention,
        }
    }
}

/// Nodes a command's TP × PP needs at `per_node` GPUs each, when it needs
/// more than one node and fills them exactly (a pasted `vllm serve
/// --tensor-parallel-size 8 --pipeline-parallel-size 2` on `--gpu 8xh100`: 2).
pub fn nodes_for(tp: u64, pp: u64, per_node: u64) -> Option<u32> {
    let used = tp.max(1) * pp.max(1);
    (per_node > 0 && used > per_node && used.is_multiple_of(per_node))
        .then(|| u32::try_from(used / per_node).ok())
        .flatten()
}

/// Everything a cluster plan depends on.
#[derive(Debug, Clone)]
pub struct ClusterRequest<'a> {
    /// The model and its tensors (the quantization the engine loads).
    pub model: &'a Model,
    /// Run settings (context, cache type); `backend` is the node's.
    pub settings: RunSettings,
    /// The engine.
    pub engine: ClusterEngine,
    /// The devices of one node (`8xh100`, `m3-ultra-512`).
    pub node: &'a HardwareSet,
    /// How many such nodes.
    pub nodes: u32,
    /// Nodes that differ (exo#1834: 2 × 256 GB + 2 × 96 GB Macs): one
    /// machine each, in order; empty when every node is `node`. Only the
    /// engines that place layers by memory (exo, llama.cpp RPC) take them.
    pub unlike: &'a [HardwareSet],
    /// The network between them.
    pub interconnect: &'a Interconnect,
    /// The split asked.
    pub split: SplitAsk,
    /// Prompt and depths.
    pub workload: Workload,
    /// vLLM `--gpu-memory-utilization` / SGLang `--mem-fraction-static`.
    pub gpu_memory_utilization: f64,
}

/// One device of a node.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceMemory {
    /// Its name.
    pub name: String,
    /// What the plan puts on it.
    pub needed: Bytes,
    /// What it can hold (VRAM, a Mac's Metal working set).
    pub capacity: Bytes,
}

/// One node's memory.
#[derive(Debug, Clone, Serialize)]
pub struct NodeMemory {
    /// 0 = the head (Ray head, SGLang rank 0, llama.cpp's main host).
    pub node: u32,
    /// Its role in the commands.
    pub role: String,
    /// Transformer blocks it runs (all of them, sharded, under tensor parallelism).
    pub layers: u64,
    /// Each device.
    pub devices: Vec<DeviceMemory>,
    /// Sum over its devices.
    pub needed: Bytes,
    /// Sum of their capacities.
    pub capacity: Bytes,
}

/// Speed of the cluster: one request, decode and prefill, with the terms.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSpeed {
    /// Decode on an empty context.
    pub decode: Estimate,
    /// Decode at the context's end (depth, estimate).
    pub decode_deep: Option<(u64, Estimate)>,
    /// Prefill of the workload's prompt.
    pub prefill: Option<Estimate>,
    /// The split the speed model read (devices, shares, network links).
    pub placement: WorkSplit,
}

/// Power of the whole cluster while decoding.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPower {
    /// Wall power of each node: its devices and its host.
    pub per_node: Vec<Watts>,
    /// The switch: point to point, one switch with its sourced power, or
    /// left out with the reason.
    pub switch: interconnect::SwitchPower,
    /// Nodes plus switch.
    pub total: Watts,
    /// The same as heat.
    pub heat_btu_per_hour: f64,
    /// What it includes and what it does not.
    pub notes: Vec<String>,
}

/// What to type on one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeCommands {
    /// Which node (0 = head).
    pub node: u32,
    /// Its role.
    pub role: String,
    /// The command lines, in order.
    pub lines: Vec<String>,
}

/// A cluster plan.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    /// The engine.
    pub engine: ClusterEngine,
    /// Nodes.
    pub nodes: u32,
    /// One node's hardware, as named.
    pub node_label: String,
    /// The network.
    pub interconnect: Interconnect,
    /// The split used.
    pub split: Split,
    /// The legality checks it passed, worded.
    pub checks: Vec<String>,
    /// Memory per node and per device.
    pub memory: Vec<NodeMemory>,
    /// Whether it fits.
    pub verdict: Verdict,
    /// Speed (`None` when it does not fit or a device lacks a figure).
    pub speed: Option<ClusterSpeed>,
    /// Why speed is missing.
    pub speed_missing: Option<String>,
    /// Power with hosts and switch.
    pub power: Option<ClusterPower>,
    /// Commands per node.
    pub commands: Vec<NodeCommands>,
    /// Caveats.
    pub notes: Vec<String>,
    /// The pipeline's report over all the cluster's devices at once (memory
    /// terms, the llama.cpp command); none for exo, whose placement is its own.
    #[serde(skip)]
    pub report: Option<Report>,
}

/// Why there is no plan.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The engine refuses the split.
    #[error("{0}")]
    Refused(Refusal),
    /// The inputs do not describe a cluster.
    #[error("{0}")]
    Input(String),
    /// The pipeline refused the request.
    #[error(transparent)]
    Estimate(#[from] EstimateError),
}

/// What a command line adds to an ordinary pipeline request to make it a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions<'a> {
    /// `--nodes`.
    pub nodes: u32,
    /// `--interconnect` (`None`: the engine's usual network).
    pub interconnect: Option<&'a str>,
    /// SGLang DP attention.
    pub dp_attention: bool,
    /// `--engine` when the request's engine is llama.cpp (`llama.cpp` → RPC, `exo`).
    pub engine: &'a str,
    /// `--tp`/`--pp` as given, for engines the request does not carry them for (exo).
    pub run: crate::pipeline::ServerRun,
    /// `--node`, once per node, when the nodes differ (empty: `nodes` of the request's hardware).
    pub unlike: Vec<HardwareSet>,
}

/// The cluster of `o.nodes` nodes, each with the request's hardware (a
/// catalog set), running the request's model, settings, engine and workload.
pub fn plan_request(
    req: &crate::pipeline::Request<'_>,
    o: &ClusterOptions<'_>,
) -> Result<ClusterPlan, ClusterError> {
    use crate::pipeline::Engine;
    let (engine, run) = match &req.engine {
        Engine::Vllm(r) => (ClusterEngine::Vllm, r.clone()),
        Engine::Sglang(r) => (ClusterEngine::Sglang, r.clone()),
        Engine::LlamaCpp(_) => (
            ClusterEngine::parse(o.engine)
                .ok_or_else(|| ClusterError::Input(format!("{} has no cluster mode", o.engine)))?,
            o.run.clone(),
        ),
    };
    let set = match o.unlike.first() {
        Some(first) => first,
        None => req.hardware.set.as_ref().ok_or_else(|| {
            ClusterError::Input(
                "a cluster needs one node's hardware named, e.g. --gpu 8xh100".into(),
            )
        })?,
    };
    let net = interconnect::find(o.interconnect.unwrap_or(engine.default_interconnect()))
        .map_err(ClusterError::Input)?;
    plan(&ClusterRequest {
        model: req.model,
        settings: req.settings.clone(),
        engine,
        node: set,
        nodes: if o.unlike.is_empty() {
            o.nodes
        } else {
            o.unlike.len() as u32
        },
        unlike: &o.unlike,
        interconnect: net,
        split: SplitAsk::from_run(&run, o.dp_attention),
        workload: req.workload.clone(),
        gpu_memory_utilization: run.gpu_memory_utilization,
    })
}

/// Plan the cluster.
pub fn plan(req: &ClusterRequest<'_>) -> Result<ClusterPlan, ClusterError> {
    if req.settings.n_ctx == 0 {
        // No context given: vLLM, SGLang and exo serve the trained context.
        let mut r = req.clone();
        r.settings.n_ctx = req.model.spec.n_ctx_train;
        return plan(&r);
    }
    if !req.unlike.is_empty() {
        check_unlike(req)?;
    }
    let per_node = if req.unlike.is_empty() {
        u64::from(req.node.count())
    } else {
        1
    };
    if req.nodes == 0 || per_node == 0 {
        return Err(ClusterError::Input(
            "a cluster needs at least one node with at least one device".into(),
        ));
    }
    let devices = per_node * u64::from(req.nodes);
    let split = match req.engine {
        ClusterEngine::Vllm => vllm::split(req, per_node),
        ClusterEngine::Sglang => sglang::split(req, per_node),
        ClusterEngine::LlamaRpc => llama_rpc::split(req, per_node),
        ClusterEngine::Exo => exo::split(req, per_node),
    };
    if split.devices() != devices {
        return Err(ClusterError::Input(format!(
            "{split} uses {} devices, but {} nodes of {per_node} have {devices}; {}",
            split.devices(),
            req.nodes,
            if split.devices() > devices {
                "add nodes or lower --tp/--pp"
            } else {
                "every device of the cluster takes part, so TP × PP must equal the device count"
            }
        )));
    }
    let mut checks =
        legality::check(&req.model.spec, split, devices).map_err(ClusterError::Refused)?;
    let mut flat = flat_target(req)?;
    flat.link = Some(req.interconnect.bandwidth());
    let built = match req.engine {
        ClusterEngine::Vllm | ClusterEngine::Sglang => vllm::memory(req, &flat, split, per_node)?,
        ClusterEngine::LlamaRpc => llama_rpc::memory(req, &flat, per_node)?,
        ClusterEngine::Exo => exo::memory(req, &flat, split)?,
    };
    if matches!(req.engine, ClusterEngine::LlamaRpc | ClusterEngine::Exo)
        && split.tensor_parallel == 1
    {
        // These place layers by memory, not by vLLM's even stages.
        checks.retain(|c| !c.contains(" layers over "));
        checks.push(format!(
            "{} layers by memory: {}",
            req.model.spec.n_layer,
            built
                .memory
                .iter()
                .map(|m| m.layers.to_string())
                .collect::<Vec<_>>()
                .join(" + ")
        ));
    }
    let cal = Calibration::embedded().map_err(|e| ClusterError::Input(e.to_string()))?;
    let mut notes = built.notes;
    let (speed, speed_missing) = match &built.verdict {
        Verdict::DoesNotFit { .. } => (
            None,
            Some("it does not fit, so it does not run at any speed".to_string()),
        ),
        _ => match work_split(req, &flat, split, per_node, &built.memory, cal) {
            Ok(p) => match read_speed(req, p, cal) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            },
            Err(e) => (None, Some(e)),
        },
    };
    let power = speed
        .as_ref()
        .and_then(|s| match cluster_power(req, &flat, per_node, s, cal) {
            Ok(p) => Some(p),
            Err(e) => {
                notes.push(format!("power: {e}"));
                None
            }
        });
    let commands = match &built.verdict {
        Verdict::DoesNotFit { .. } => vec![],
        _ => match req.engine {
            ClusterEngine::Vllm => vllm::commands(req, built.report.as_ref(), per_node, &mut notes),
            ClusterEngine::Sglang => {
                sglang::commands(req, built.report.as_ref(), split, per_node, &mut notes)
            }
            ClusterEngine::LlamaRpc => llama_rpc::commands(req, built.report.as_ref(), &mut notes),
            ClusterEngine::Exo => exo::commands(req, split, &mut notes),
        },
    };
    Ok(ClusterPlan {
        engine: req.engine,
        nodes: req.nodes,
        node_label: if req.unlike.is_empty() {
            node_label(req.node)
        } else {
            unlike_label(req.unlike)
        },
        interconnect: req.interconnect.clone(),
        split,
        checks,
        memory: built.memory,
        verdict: built.verdict,
        speed,
        speed_missing,
        power,
        commands,
        notes,
        report: built.report,
    })
}

/// What an engine's memory step returns.
pub(crate) struct Built {
    pub memory: Vec<NodeMemory>,
    pub verdict: Verdict,
    pub report: Option<Report>,
    pub notes: Vec<String>,
}

/// One node's devices, as named (`8× NVIDIA H100 SXM5 80GB`).
fn node_label(set: &HardwareSet) -> String {
    set.devices
        .iter()
        .map(|(d, n)| {
            if *n > 1 {
                format!("{n}× {}", d.name)
            } else {
                d.name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Unlike nodes: one machine of one device each, and an engine that places
/// layers by memory (vLLM and SGLang run one TP × PP grid, which assumes
/// identical nodes).
fn check_unlike(req: &ClusterRequest<'_>) -> Result<(), ClusterError> {
    if matches!(req.engine, ClusterEngine::Vllm | ClusterEngine::Sglang) {
        return Err(ClusterError::Input(format!(
            "{} runs one TP × PP grid over identical nodes; nodes that differ are planned with exo or llama.cpp RPC, which place layers by memory",
            req.engine.as_str()
        )));
    }
    if req.unlike.len() as u32 != req.nodes {
        return Err(ClusterError::Input(format!(
            "{} nodes given by --node, but --nodes says {}",
            req.unlike.len(),
            req.nodes
        )));
    }
    if let Some(s) = req.unlike.iter().find(|s| s.count() != 1) {
        return Err(ClusterError::Input(format!(
            "each --node is one machine with one device (a Mac, a Ryzen AI Max+ 395 box, a DGX Spark); '{}' has {}",
            node_label(s),
            s.count()
        )));
    }
    Ok(())
}

/// Unlike nodes, as named: runs of the same machine counted (`2× … 256GB + 2× … 96GB`).
fn unlike_label(sets: &[HardwareSet]) -> String {
    node_label(&group_runs(sets))
}

/// One set of the nodes' devices in node order, runs of the same device
/// counted together (what `Target::from_set` keeps in order).
fn group_runs(sets: &[HardwareSet]) -> HardwareSet {
    let mut devices: Vec<(Device, u32)> = Vec::new();
    for s in sets {
        for (d, n) in &s.devices {
            match devices.last_mut() {
                Some((last, k)) if last.id == d.id => *k += n,
                _ => devices.push((d.clone(), *n)),
            }
        }
    }
    HardwareSet {
        devices,
        assumptions: sets.iter().flat_map(|s| s.assumptions.clone()).collect(),
    }
}

/// Every device of every node as one target, node after node.
fn flat_target(req: &ClusterRequest<'_>) -> Result<Target, ClusterError> {
    if !req.unlike.is_empty() {
        return Target::from_set(group_runs(req.unlike), None)
            .map_err(|e| ClusterError::Input(e.to_string()));
    }
    let set = HardwareSet {
        devices: req
            .node
            .devices
            .iter()
            .map(|(d, n)| (d.clone(), n * req.nodes))
            .collect(),
        assumptions: req.node.assumptions.clone(),
    };
    // from_set groups by device kind; a node of one kind keeps node order.
    if req.node.devices.len() > 1 {
        return Err(ClusterError::Input(
            "a cluster node is one kind of device (8xh100, m3-ultra-512, ryzen-ai-max-395); mixed nodes are not planned"
                .into(),
        ));
    }
    Target::from_set(set, None).map_err(|e| ClusterError::Input(e.to_string()))
}

/// The catalog device of the cluster's nodes.
fn node_device(flat: &Target) -> Result<&Device, String> {
    flat.devices
        .first()
        .and_then(Option::as_ref)
        .ok_or_else(|| {
            "the node's device is not in the catalog, so its bandwidth is unknown".into()
        })
}

fn rates(flat: &Target, cal: &Calibration) -> Result<DeviceRates, String> {
    let d = node_device(flat)?;
    DeviceRates::from_device(d, flat.backend, cal).map_err(|e| e.to_string())
}

/// The rates of each node's first device, node after node (nodes that
/// differ read at their own bandwidth).
fn node_rates(
    flat: &Target,
    per_node: u64,
    nodes: u32,
    cal: &Calibration,
) -> Result<Vec<DeviceRates>, String> {
    (0..u64::from(nodes))
        .map(|n| {
            let d = flat
                .devices
                .get((n * per_node) as usize)
                .and_then(Option::as_ref)
                .ok_or_else(|| {
                    format!("node {n}'s device is not in the catalog, so its bandwidth is unknown")
                })?;
            DeviceRates::from_device(d, flat.backend, cal).map_err(|e| e.to_string())
        })
        .collect()
}

/// BF16 hidden state of one token (what vLLM, SGLang and MLX pass between
/// stages and all-reduce); `ModelCost::hidden_bytes` is llama.cpp's f32.
fn hidden_bf16(m: &ModelCost) -> Bytes {
    Bytes(m.hidden_bytes.0 / 2)
}

/// A layer split over `shares` (device, fraction of the layers), with `links`.
fn chain(
    model: &ModelCost,
    shares: Vec<(DeviceRates, f64)>,
    links: Vec<Link>,
    s: &RunSettings,
    flash: bool,
) -> WorkSplit {
    WorkSplit {
        model: model.clone(),
        devices: shares
            .into_iter()
            .map(|(d, f)| DeviceShare::of_layers(model, d, f))
            .collect(),
        links,
        pipeline_parallel: false,
        n_batch: s.n_batch,
        n_ubatch: s.n_ubatch,
        flash_attn: flash,
    }
}

/// Tensor parallelism's all-reduces: two per layer (after attention and
/// after the FFN), each of the BF16 hidden state, ring-reduced. Inside a
/// node over NVLink at NCCL's small all-reduce latency; a group that spans
/// nodes adds the network's all-reduce latency and its share of bytes.
fn all_reduces(
    model: &ModelCost,
    tp: u64,
    per_node: u64,
    d: &Device,
    net: &Interconnect,
) -> Vec<Link> {
    let n = 2.0 * model.n_layer as f64;
    let h = hidden_bf16(model).0 as f64;
    let mut out = Vec::new();
    let local = tp.min(per_node);
    if local > 1 {
        let bw = d
            .interconnect
            .nvlink
            .or(d.interconnect.pcie_bandwidth())
            .unwrap_or(crate::units::BytesPerSecond::gbps(speed::DEFAULT_LINK_GBS));
        out.push(Link {
            label: format!(
                "all-reduce inside a node: {n:.0} per token over {local} GPUs ({:.0} µs each, NVIDIA/nccl#1259)",
                crate::pipeline::ALL_REDUCE_LATENCY_S * 1e6
            ),
            bandwidth: bw,
            latency: Some(Seconds(n * crate::pipeline::ALL_REDUCE_LATENCY_S)),
            bytes_per_token: Bytes((n * h * 2.0 * (local as f64 - 1.0) / local as f64) as u64),
        });
    }
    let groups = tp.div_ceil(per_node.max(1));
    if groups > 1 {
        let g = groups as f64;
        out.push(Link {
            label: format!(
                "all-reduce across {groups} nodes over {}: {n:.0} per token ({:.1} µs each, {})",
                net.id,
                net.collective_latency().0 * 1e6,
                if net.collective_latency_us.is_some() {
                    "sourced"
                } else {
                    "2 × one-way latency"
                }
            ),
            bandwidth: net.bandwidth(),
            latency: Some(Seconds(n * net.collective_latency().0)),
            bytes_per_token: Bytes((n * h * 2.0 * (g - 1.0) / g) as u64),
        });
    }
    out
}

/// The speed model's view of the plan.
fn work_split(
    req: &ClusterRequest<'_>,
    flat: &Target,
    split: Split,
    per_node: u64,
    memory: &[NodeMemory],
    cal: &Calibration,
) -> Result<WorkSplit, String> {
    let model = ModelCost::with_settings(&req.model.spec, &req.model.weights, &req.settings);
    let r = rates(flat, cal)?;
    let d = node_device(flat)?;
    let net = req.interconnect;
    match req.engine {
        ClusterEngine::Vllm | ClusterEngine::Sglang => Ok(vllm::work_split(
            &model,
            r,
            d,
            split,
            per_node,
            net,
            &req.settings,
        )),
        ClusterEngine::LlamaRpc => Ok(llama_rpc::work_split(
            &model,
            node_rates(flat, per_node, req.nodes, cal)?,
            memory,
            net,
            &req.settings,
            cal,
        )),
        ClusterEngine::Exo => Ok(exo::work_split(
            &model,
            node_rates(flat, per_node, req.nodes, cal)?,
            d,
            split,
            memory,
            net,
            &req.settings,
        )),
    }
}

fn read_speed(
    req: &ClusterRequest<'_>,
    p: WorkSplit,
    cal: &Calibration,
) -> Result<ClusterSpeed, String> {
    let decode = speed::decode(&p, 0, cal).map_err(|e| e.to_string())?;
    let deep = req
        .settings
        .n_ctx
        .max(req.workload.depths.iter().copied().max().unwrap_or(0));
    let decode_deep = if deep > 0 {
        Some((
            deep,
            speed::decode(&p, deep, cal).map_err(|e| e.to_string())?,
        ))
    } else {
        None
    };
    let prefill = if p.devices.iter().all(|d| d.device.compute.is_some()) {
        speed::prefill(&p, req.workload.prompt.max(1), 0, cal).ok()
    } else {
        None
    };
    Ok(ClusterSpeed {
        decode,
        decode_deep,
        prefill,
        placement: p,
    })
}

/// Flash attention as the engine runs it: vLLM, SGLang and MLX always use
/// fused attention kernels; llama.cpp as set (`auto` turns it on where supported).
fn flash_of(engine: ClusterEngine, s: &RunSettings) -> bool {
    match engine {
        ClusterEngine::LlamaRpc => !matches!(s.flash_attn, FlashAttn::Off),
        _ => true,
    }
}

/// Wall power while decoding: each node's devices at the duty the speed
/// model gives their share, with the node's host (the power model's host
/// for that device kind), plus the switch when the network's data has it.
fn cluster_power(
    req: &ClusterRequest<'_>,
    flat: &Target,
    per_node: u64,
    s: &ClusterSpeed,
    cal: &Calibration,
) -> Result<ClusterPower, String> {
    let pm = PowerModel::embedded().map_err(|e| e.to_string())?;
    let first = node_device(flat)?;
    let duty = crate::cost::decode_duty(&s.placement, 0, cal).map_err(|e| e.to_string())?;
    let shares = s.placement.devices.len().max(1) as u64;
    let total_devices = per_node * u64::from(req.nodes);
    // Devices per share: a tensor-parallel stage spans tp devices.
    let per_share = (total_devices / shares).max(1);
    let mut per_node_w = Vec::new();
    for node in 0..u64::from(req.nodes) {
        let loads: Vec<DeviceLoad> = (0..per_node)
            .map(|k| {
                let g = node * per_node + k;
                let share = ((g / per_share) as usize).min(duty.len().saturating_sub(1));
                let (du, gbs) = duty.get(share).copied().unwrap_or((1.0, 0.0));
                // Unlike nodes: each node's own device.
                let d = flat
                    .devices
                    .get(g as usize)
                    .and_then(Option::as_ref)
                    .unwrap_or(first);
                DeviceLoad::from_device(d, 1, du, gbs / per_share as f64)
            })
            .collect();
        let w = wall_power(pm, &loads, Phase::Decode).map_err(|e| e.to_string())?;
        per_node_w.push(w.wall);
    }
    // Ports the network needs: one per GPU on rail-optimised fabrics, one
    // per node otherwise.
    let ports = if req.interconnect.per_gpu {
        total_devices
    } else {
        u64::from(req.nodes)
    };
    let switch = req.interconnect.switch_for(ports);
    let total = Watts(per_node_w.iter().map(|w| w.0).sum::<f64>() + switch.watts().0);
    let mut notes = vec![format!(
        "each node's wall power is its {} device(s) plus the power model's host for that kind (data/power_model.toml)",
        per_node
    )];
    match &switch {
        interconnect::SwitchPower::PointToPoint => notes.push(format!(
            "{}: point-to-point cables, no switch",
            req.interconnect.id
        )),
        interconnect::SwitchPower::One {
            name,
            power,
            source,
        } => notes.push(format!(
            "switch: one {name} ({ports} ports used), {power} in the total and the heat [{source}]"
        )),
        interconnect::SwitchPower::Unsourced { why } => notes.push(format!(
            "the switch is not included in the power or the heat: {why}"
        )),
    }
    Ok(ClusterPower {
        heat_btu_per_hour: heat_btu_per_hour(total),
        per_node: per_node_w,
        switch,
        total,
        notes,
    })
}

/// exo's `allocate_layers_proportionally` (src/exo/master/placement_utils.py):
/// each node's share of `total` layers in proportion to its memory, floors
/// first, then the leftover layers to the largest remainders; at least one
/// layer per node. llama.cpp splits layers by each device's free memory the
/// same way when no `-ts` is given.
pub fn layers_by_memory(total: u64, memory: &[Bytes]) -> Vec<u64> {
    let n = memory.len();
    if n == 0 {
        return vec![];
    }
    let sum: f64 = memory.iter().map(|m| m.0 as f64).sum();
    let raw: Vec<f64> = memory
        .iter()
        .map(|m| if sum > 0.0 { m.0 as f64 / sum } else { 1.0 / n as f64 } * total as f64)
        .collect();
    let mut out: Vec<u64> = raw.iter().map(|r| r.floor() as u64).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        (raw[b] - raw[b].floor())
            .partial_cmp(&(raw[a] - raw[a].floor()))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut left = total.saturating_sub(out.iter().sum());
    for i in order.iter().cycle().take(n * 2) {
        if left == 0 {
            break;
        }
        out[*i] += 1;
        left -= 1;
    }
    // At least one layer each, taken from the largest.
    for i in 0..n {
        if out[i] == 0 {
            if let Some(j) = (0..n).max_by_key(|&j| out[j]).filter(|&j| out[j] > 1) {
                out[j] -= 1;
                out[i] = 1;
            }
        }
    }
    out
}

impl ClusterPlan {
    /// The plan as plain lines, the same for every front end: title, split
    /// and its checks, memory per node and device, verdict, speed with its
    /// range and network terms, power, and the commands per node.
    pub fn lines(&self, model: &str, quant: &str, explain: bool) -> Vec<String> {
        let mut out = vec![format!(
            "{model} · {quant} · {} on {} nodes of {} over {}",
            self.engine.as_str(),
            self.nodes,
            self.node_label,
            self.interconnect.name
        )];
        out.push(format!(
            "split: {} ({})",
            self.split,
            self.checks.join("; ")
        ));
        for m in &self.memory {
            let dev = m.devices.first().map(|d| {
                format!(
                    "{} per device ({} of {})",
                    if m.devices.len() > 1 {
                        format!("{}×", m.devices.len())
                    } else {
                        String::new()
                    },
                    d.needed,
                    d.capacity
                )
            });
            out.push(format!(
                "node {} ({}): {} layers, needs {} of {}; {}",
                m.node,
                m.role,
                m.layers,
                m.needed,
                m.capacity,
                dev.unwrap_or_default()
            ));
        }
        out.push(format!("verdict: {}", self.verdict));
        match (&self.speed, &self.speed_missing) {
            (Some(s), _) => {
                let d = &s.decode;
                let mut line = format!(
                    "speed: generation {} on an empty context (range {}–{})",
                    d.rate, d.low, d.high
                );
                if let Some((depth, e)) = &s.decode_deep {
                    line.push_str(&format!(
                        ", {} at {depth} tokens ({}–{})",
                        e.rate, e.low, e.high
                    ));
                }
                if let Some(p) = &s.prefill {
                    line.push_str(&format!("; prefill {} ({}–{})", p.rate, p.low, p.high));
                }
                out.push(line);
                let network: Vec<String> = d
                    .terms
                    .iter()
                    .filter(|t| t.label.starts_with("link "))
                    .map(|t| {
                        format!(
                            "{} = {:.2} ms per token",
                            t.label.trim_start_matches("link "),
                            t.seconds.0 * 1e3
                        )
                    })
                    .collect();
                if !network.is_empty() {
                    out.push(format!(
                        "network per token ({:.1} ms of {:.1} ms): {}",
                        d.terms
                            .iter()
                            .filter(|t| t.label.starts_with("link "))
                            .map(|t| t.seconds.0)
                            .sum::<f64>()
                            * 1e3,
                        d.seconds.0 * 1e3,
                        network.join("; ")
                    ));
                }
                if explain {
                    for t in &d.terms {
                        out.push(format!(
                            "  {} = {:.3} ms ({})",
                            t.label,
                            t.seconds.0 * 1e3,
                            t.formula
                        ));
                    }
                }
            }
            (None, Some(why)) => out.push(format!("speed: not estimated: {why}")),
            (None, None) => {}
        }
        if let Some(p) = &self.power {
            let same = p.per_node.windows(2).all(|w| (w[0].0 - w[1].0).abs() < 0.5);
            out.push(format!(
                "power while generating: {} ({} per node{}), {:.0} BTU/h",
                p.total,
                if same {
                    p.per_node
                        .first()
                        .map(|w| w.to_string())
                        .unwrap_or_default()
                } else {
                    p.per_node
                        .iter()
                        .map(|w| w.to_string())
                        .collect::<Vec<_>>()
                        .join(" + ")
                },
                match &p.switch {
                    interconnect::SwitchPower::One { power, .. } => format!(" + switch {power}"),
                    interconnect::SwitchPower::PointToPoint => " + no switch".into(),
                    interconnect::SwitchPower::Unsourced { .. } => " + switch not included".into(),
                },
                p.heat_btu_per_hour
            ));
        }
        if !self.commands.is_empty() {
            out.push("commands:".into());
            for c in &self.commands {
                out.push(format!("  node {} ({}):", c.node, c.role));
                for l in &c.lines {
                    out.push(format!("    {l}"));
                }
            }
        }
        for n in self
            .notes
            .iter()
            .chain(self.power.iter().flat_map(|p| p.notes.iter()))
        {
            out.push(format!("note: {n}"));
        }
        out
    }
}
