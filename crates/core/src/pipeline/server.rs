//! vLLM and SGLang: per-GPU memory (weight shards, non-torch, activations,
//! KV pool), the legality of the split, and speed with the shards read in
//! parallel inside each pipeline stage.

use super::{speed, EstimateError, Report, Request};
use crate::commands::Runner;
use crate::hardware::Target;
use crate::memory::verdict::Verdict;
use crate::memory::vllm::{estimate as vllm_estimate, VllmGpu, VllmSettings};
use crate::model::CatalogEntry;
use crate::quant::{GgmlType, Quant};
use crate::speed::{Calibration, DeviceRates, Link, ModelCost, WorkSplit};
use crate::units::Bytes;
use serde::Serialize;

/// Tokens vLLM batches in its profiling pass (`--max-num-batched-tokens`).
const MAX_NUM_BATCHED_TOKENS: u64 = 8192;

/// vLLM/SGLang launch settings as given.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRun {
    /// `--tensor-parallel-size` (`None`: every GPU of a pipeline stage).
    pub tensor_parallel: Option<u64>,
    /// `--pipeline-parallel-size`.
    pub pipeline_parallel: u64,
    /// `--gpu-memory-utilization` (SGLang: `--mem-fraction-static`).
    pub gpu_memory_utilization: f64,
    /// `--max-num-seqs`.
    pub max_num_seqs: u64,
    /// `--enable-expert-parallel`.
    pub expert_parallel: bool,
}

impl Default for ServerRun {
    fn default() -> Self {
        ServerRun {
            tensor_parallel: None,
            pipeline_parallel: 1,
            gpu_memory_utilization: 0.9,
            max_num_seqs: 256,
            expert_parallel: false,
        }
    }
}

/// vLLM/SGLang's memory, per GPU.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// The settings the estimate used.
    pub settings: VllmSettings,
    /// Per GPU.
    pub per_gpu: VllmGpu,
    /// GPUs used (TP × PP).
    pub gpus_used: u64,
    /// Memory of the smallest GPU.
    pub gpu_memory: Bytes,
    /// Memory the run needs on all GPUs together before the KV pool grows:
    /// weights, non-torch, activations and one full-length request's KV.
    pub needed_total: Bytes,
}

/// The quantization vLLM serves a catalog model in when none fits it: the
/// published checkpoint (FP8 for R1/V3, BF16 for the distills).
pub fn native_quant(entry: &CatalogEntry) -> Quant {
    match entry.native_dtype.to_ascii_uppercase().as_str() {
        "FP8" => Quant::Fp8,
        "F16" => Quant::parse("F16").unwrap_or(Quant::Fp8),
        // gpt-oss ships its experts in MXFP4 and the rest in BF16.
        "MXFP4" => Quant::parse("MXFP4_MOE").unwrap_or(Quant::Fp8),
        _ => Quant::parse("BF16").unwrap_or(Quant::Fp8),
    }
}

/// The quantization an engine runs when `asked` is not one it loads.
pub(super) fn engine_quant(runner: Runner, entry: &CatalogEntry, asked: &Quant) -> Quant {
    let gguf_quantized = matches!(asked, Quant::Gguf { ftype, .. } if ftype.is_quantized());
    match runner {
        Runner::Vllm | Runner::Sglang if gguf_quantized => native_quant(entry),
        Runner::Mlx if !matches!(asked, Quant::Mlx { .. }) => Quant::Mlx { bits: 4 },
        Runner::Exllamav2 if !matches!(asked, Quant::Exl2 { .. }) => {
            Quant::Exl2 { millibits: 4000 }
        }
        _ => asked.clone(),
    }
}

/// The server settings of the request (None for llama.cpp).
pub(super) fn settings_of(req: &Request<'_>) -> Option<VllmSettings> {
    let run = match &req.engine {
        super::Engine::Vllm(r) | super::Engine::Sglang(r) => r,
        super::Engine::LlamaCpp(_) => return None,
    };
    let n = req.hardware.gpus.len().max(1) as u64;
    let pp = run.pipeline_parallel.max(1);
    let tp = run.tensor_parallel.unwrap_or(n / pp).max(1);
    let spec = &req.model.spec;
    Some(VllmSettings {
        tensor_parallel: tp,
        pipeline_parallel: pp,
        expert_parallel: run.expert_parallel,
        gpu_memory_utilization: run.gpu_memory_utilization,
        max_model_len: if req.settings.n_ctx == 0 {
            spec.n_ctx_train
        } else {
            req.settings.n_ctx
        },
        max_num_seqs: run.max_num_seqs,
        max_num_batched_tokens: MAX_NUM_BATCHED_TOKENS,
        kv_fp8: req.settings.type_k == GgmlType::Q8_0,
    })
}

fn smallest_gpu(t: &Target) -> Option<Bytes> {
    t.gpus.iter().min().copied()
}

/// The vLLM/SGLang report.
pub(super) fn estimate(req: &Request<'_>, _run: &ServerRun) -> Result<Report, EstimateError> {
    let engine = req.engine.name();
    let hw = req.hardware;
    let gpu_memory = smallest_gpu(hw).ok_or_else(|| {
        EstimateError::Server(format!(
            "{engine} needs GPUs: name them, e.g. --gpu 8xh200 or --gpu 2x4090"
        ))
    })?;
    let model = req.model;
    if model.catalog.is_none() {
        return Err(EstimateError::Server(format!(
            "{engine} is sized for catalog models (a checkpoint canirun knows); name one such as deepseek-r1 (run `canirun models`)"
        )));
    }
    if matches!(&model.catalog, Some((_, Quant::Gguf { ftype, .. })) if ftype.is_quantized()) {
        return Err(EstimateError::Server(format!(
            "{} is a GGUF quantization; {engine} serves FP8, BF16, AWQ or GPTQ checkpoints (use -q fp8, -q bf16, -q awq)",
            model.quant_label
        )));
    }
    let v = settings_of(req).unwrap_or_default();
    let n = hw.gpus.len() as u64;
    let used = v.tensor_parallel * v.pipeline_parallel;
    if used > n {
        return Err(EstimateError::Server(format!(
            "--tp {} × --pp {} needs {used} GPUs, but {n} are named",
            v.tensor_parallel, v.pipeline_parallel
        )));
    }
    let g = vllm_estimate(&model.spec, &model.weights, gpu_memory, &v)
        .map_err(|e| EstimateError::Server(format!("{engine} would refuse this split: {e}")))?;
    let one_request = Bytes(g.kv_per_token.0 * v.max_model_len);
    let needed_per_gpu = g.weights + g.non_torch + g.activation + one_request;
    let verdict = if g.fits {
        Verdict::Fits {
            headroom: g.usable.saturating_sub(needed_per_gpu),
        }
    } else {
        Verdict::DoesNotFit {
            short_by: needed_per_gpu.saturating_sub(g.usable),
            pool: format!(
                "each GPU ({gpu_memory} × gpu_memory_utilization {})",
                v.gpu_memory_utilization
            ),
        }
    };
    let mut s = req.settings.clone();
    s.n_ctx = v.max_model_len;
    let speed = match &verdict {
        Verdict::DoesNotFit { .. } => super::Speed::NotEstimated {
            reason: "it does not fit, so it does not run at any speed".into(),
        },
        _ => server_speed(req, &s, &v),
    };
    let mut notes = vec![format!(
        "the activation term follows llama.cpp's live set in BF16 (1.15 GiB vs 1.26 GiB measured by vLLM for Llama-3-8B, vllm#10511){}",
        if engine == "sglang" {
            "; SGLang is sized with vLLM's rules and --gpu-memory-utilization standing for --mem-fraction-static"
        } else {
            ""
        }
    )];
    notes.push("speed: the tensor-parallel shards of a stage are read at once (one device with TP× the bandwidth), plus two all-reduces per layer (see --explain); no vLLM/SGLang benchmark calibrates this path yet".into());
    Ok(Report {
        schema: super::SCHEMA,
        model: model.info.clone(),
        quant: model.quant_label.clone(),
        engine,
        settings: s,
        hardware: hw.clone(),
        memory: None,
        memory_total: None,
        server: Some(ServerReport {
            needed_total: needed_per_gpu * used,
            settings: v.clone(),
            per_gpu: g,
            gpus_used: used,
            gpu_memory,
        }),
        placement: None,
        placement_method: format!(
            "{engine}: TP {} × PP {} over {used} GPUs",
            v.tensor_parallel, v.pipeline_parallel
        ),
        fit: None,
        companions: vec![],
        verdict,
        speed,
        power: None,
        commands: vec![],
        commands_skipped: vec![],
        warnings: vec![],
        notes,
    })
}

/// Tensor parallel inside a stage reads each GPU's shard at once: one device
/// with TP× the bandwidth; pipeline stages chain over the GPUs' peer link.
/// A GPU's rates as a vLLM/SGLang decode step is priced, on one node or in a
/// cluster plan: the per-kernel launch without CUDA graph replay stands in
/// for graph replay plus the engine's own per-step host work (scheduler,
/// sampling), which is not modelled on its own (the cluster plan's
/// `GRAPH_REPLAY_NOTE` says so in the output).
pub fn engine_step_rates(r: DeviceRates) -> DeviceRates {
    DeviceRates {
        cuda_graphs: false,
        // vLLM and SGLang run their own GEMM kernels, not llama.cpp's MMQ.
        mmq: None,
        serial_launches: true,
        step_kernel_s: Some(ENGINE_STEP_KERNEL_S),
        ..r
    }
}

/// Seconds per kernel that stand in for a vLLM/SGLang decode step's graph
/// replay plus host work (scheduler, sampling), in series: the serial
/// per-kernel launch cost fitted on the llama.cpp CUDA rows of
/// benchmarks.csv + benchmarks-2026-12.csv (calibration of 2026-12-07, when
/// launches were still priced in series). It is frozen here so the stand-in
/// does not move when llama.cpp's own launch model is refitted (launches now
/// overlap GPU work there, and that constant means something else). No
/// published per-step figure was found; `canirun validate cluster` checks it.
pub const ENGINE_STEP_KERNEL_S: f64 = 6.82e-6;

fn server_speed(
    req: &Request<'_>,
    s: &crate::memory::RunSettings,
    v: &VllmSettings,
) -> super::Speed {
    let cal = match Calibration::embedded() {
        Ok(c) => c,
        Err(e) => {
            return super::Speed::NotEstimated {
                reason: e.to_string(),
            }
        }
    };
    let Some(Some(d)) = req.hardware.devices.first() else {
        return super::Speed::NotEstimated {
            reason:
                "the GPU is not in the catalog, so its bandwidth is unknown; name it with --gpu"
                    .into(),
        };
    };
    let spec = match DeviceRates::from_device(d, s.backend, cal) {
        Ok(x) => engine_step_rates(x),
        Err(e) => {
            return super::Speed::NotEstimated {
                reason: e.to_string(),
            }
        }
    };
    let model = ModelCost::with_settings(&req.model.spec, &req.model.weights, s);
    // Stages on one node talk over NVLink (else PCIe); across nodes, over the target's network.
    let link = req
        .hardware
        .link
        .or(d.interconnect.nvlink)
        .or(d.interconnect.pcie_bandwidth());
    let mut p = WorkSplit::layer_split(
        &model,
        spec.times(v.tensor_parallel as u32),
        v.pipeline_parallel as u32,
        link,
    );
    if v.tensor_parallel > 1 {
        p.links.push(all_reduce(&model, v.tensor_parallel, d));
    }
    speed::read(req, s, p)
}

/// Latency of one small all-reduce between GPUs of one NVLink node: about
/// 6 µs on 2× H100 with CUDA graphs (NVIDIA/nccl#1259, NCCL 2.20.5, NVLSTree,
/// 128 B–64 KiB), and more as the GPU count grows, so a lower bound for TP 8.
pub const ALL_REDUCE_LATENCY_S: f64 = 6e-6;

/// Tensor parallelism's all-reduces: two per layer (after attention and after
/// the feed-forward), each of the hidden state in BF16, ring-reduced over
/// `tp` GPUs (2(tp − 1)/tp of it crosses each link) with its latency.
fn all_reduce(model: &ModelCost, tp: u64, d: &crate::hardware::Device) -> Link {
    let per_layer = 2.0;
    let n = model.n_layer as f64 * per_layer;
    let hidden_bf16 = model.hidden_bytes.0 as f64 / 2.0; // hidden_bytes is f32
    let ring = 2.0 * (tp as f64 - 1.0) / tp as f64;
    let bandwidth = d
        .interconnect
        .nvlink
        .or(d.interconnect.pcie_bandwidth())
        .unwrap_or(crate::units::BytesPerSecond::gbps(
            crate::speed::DEFAULT_LINK_GBS,
        ));
    Link {
        label: format!(
            "tensor-parallel all-reduce: {} per token over {tp} GPUs ({:.0} µs latency each, NVIDIA/nccl#1259{})",
            n,
            ALL_REDUCE_LATENCY_S * 1e6,
            if d.interconnect.nvlink.is_some() { "" } else { "; PCIe is slower than this NVLink figure" }
        ),
        bandwidth,
        latency: Some(crate::units::Seconds(n * ALL_REDUCE_LATENCY_S)),
        bytes_per_token: Bytes((n * hidden_bf16 * ring) as u64),
    }
}
