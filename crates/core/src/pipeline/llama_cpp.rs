//! llama.cpp's side of the pipeline: memory, placement (flags as given, then
//! its `--fit`), verdict, and the speed of that very placement.

use super::companions::{bytes_at, CompanionMemory};
use super::{speed, EstimateError, LlamaCppRun, Report, Request};
use crate::memory::verdict::verdict;
use crate::memory::{llama_cpp as mem, MlaCache, RunSettings};
use crate::placement::llama_cpp::fit::{fit, Fit, FitDevice, FitOutcome, FitRequest};
use crate::placement::llama_cpp::{buft_name, place, PlacementArgs};
use crate::placement::{DeviceSpec, Loc, Placement};
use crate::units::Bytes;
use serde::Serialize;

/// llama.cpp's `--fit` search as the report shows it: every configuration
/// projected, against each GPU's target (free − margin).
#[derive(Debug, Clone, Serialize)]
pub struct FitTrace {
    /// The search.
    pub fit: Fit,
    /// Target per GPU.
    pub targets: Vec<Bytes>,
    /// What llama-fit-params prints for this decision.
    pub fit_params_line: String,
}

/// Where the model went, how that was decided, and the context llama.cpp runs with.
struct Placed {
    placement: Placement,
    how: String,
    n_ctx: u64,
    trace: Option<FitTrace>,
}

/// The GPUs of the target as placement devices.
pub(super) fn gpu_specs(req: &Request<'_>) -> Vec<DeviceSpec> {
    req.hardware
        .gpus
        .iter()
        .zip(&req.hardware.gpu_names)
        .map(|(m, n)| DeviceSpec {
            name: n.clone(),
            memory: *m,
            backend: req.settings.backend,
        })
        .collect()
}

/// Place the model as llama.cpp would: the flags as given, after its `--fit`
/// (on unless `-fit off`), which shrinks an unset context and, when no
/// placement flag was given, assigns layers and experts so that a margin
/// (1 GiB by default) stays free on every GPU.
fn place_model(
    req: &Request<'_>,
    s: &RunSettings,
    run: &LlamaCppRun,
    companions: &[CompanionMemory],
) -> Result<Placed, EstimateError> {
    let spec = &req.model.spec;
    let w = &req.model.weights;
    let gpus = gpu_specs(req);
    let ram = req.hardware.ram;
    let given = run.placement.clone().unwrap_or_default();
    if !run.fit.enabled {
        return Ok(Placed {
            placement: place(spec, w, s, &gpus, ram, &given)?,
            how: "as given, -fit off".into(),
            n_ctx: s.n_ctx,
            trace: None,
        });
    }
    // The backend's own context (CUDA, Metal) is already taken when llama.cpp
    // reads the free memory.
    let devices: Vec<FitDevice> = gpus
        .iter()
        .enumerate()
        .map(|(i, g)| FitDevice {
            spec: g.clone(),
            free: g.memory.saturating_sub(mem::backend_overhead(g.backend).0),
            // llama.cpp adds the projector's (and fits the draft's) memory
            // to this device's target, so the main model leaves room for it.
            margin: run.fit.margin(i) + bytes_at(companions, Loc::Gpu(i)),
        })
        .collect();
    let freq = FitRequest {
        model: spec,
        settings: s.clone(),
        given: given.clone(),
        devices,
        host: ram.map(|r| (r, run.fit.margin(0) + bytes_at(companions, Loc::Cpu))),
        n_ctx_min: run.fit.n_ctx_min,
    };
    let f = fit(&freq, w)?;
    let targets: Vec<Bytes> = freq
        .devices
        .iter()
        .map(|d| d.free.saturating_sub(d.margin))
        .collect();
    let s_fit = RunSettings {
        n_ctx: f.n_ctx,
        ..s.clone()
    };
    let placement = place(spec, w, &s_fit, &gpus, ram, &f.args)?;
    let margin = run.fit.margin(0).as_mib();
    // `-c 0` asks for the training context in every KV stream (common/fit.cpp:
    // `n_ctx_max = n_ctx_train × n_streams`).
    let n_streams = if s.kv_unified { 1 } else { s.n_parallel.max(1) };
    let ctx_max = spec.n_ctx_train * n_streams;
    let ctx_note = match (f.n_ctx != s.n_ctx).then_some(f.n_ctx) {
        Some(c) if s.n_ctx == 0 && c >= ctx_max => format!("; the training context ({c})"),
        Some(c) if s.n_ctx == 0 => {
            format!("; the training context ({ctx_max}) did not fit, so the context is {c}")
        }
        Some(c) => format!("; context {c}"),
        None => String::new(),
    };
    let how = match f.outcome {
        FitOutcome::Unchanged if gpus.is_empty() => format!("CPU only{ctx_note}"),
        FitOutcome::Unchanged if given != PlacementArgs::default() => format!("as given{ctx_note}"),
        FitOutcome::Unchanged => format!("everything offloaded; at least {margin:.0} MiB stays free per GPU, so llama.cpp's --fit changes nothing{ctx_note}"),
        FitOutcome::ContextReduced => format!("llama.cpp --fit{ctx_note}"),
        FitOutcome::LayersAssigned => {
            format!("fitted like llama.cpp --fit: {margin:.0} MiB margin per GPU{ctx_note}")
        }
        FitOutcome::DoesNotFit => {
            format!("CPU only; llama.cpp --fit cannot make it fit in RAM{ctx_note}")
        }
    };
    Ok(Placed {
        placement,
        how,
        n_ctx: f.n_ctx,
        trace: Some(FitTrace {
            fit_params_line: f.fit_params_line(|l| buft_name(l, &gpus)),
            fit: f,
            targets,
        }),
    })
}

/// The llama.cpp report.
pub(super) fn estimate(req: &Request<'_>, run: &LlamaCppRun) -> Result<Report, EstimateError> {
    let spec = &req.model.spec;
    let w = &req.model.weights;
    let mut s = req.settings.clone();
    if req.model.expanded_mla {
        s.mla_cache = MlaCache::Expanded;
    }
    // Refuse impossible settings before placing.
    let asked = mem::estimate(spec, w, &s)?;
    let has_gpu = !req.hardware.gpus.is_empty();
    let at = |s: &RunSettings, n_ctx: u64| RunSettings { n_ctx, ..s.clone() };
    let reserved = run
        .companions
        .memory(&at(&s, asked.resolved.n_ctx), has_gpu)?;
    let mut placed = place_model(req, &s, run, &reserved)?;
    // llama.cpp runs with the context its --fit chose; from here on the
    // context is the one it runs with, not "unset".
    let b = if placed.n_ctx == s.n_ctx {
        asked
    } else {
        s.n_ctx = placed.n_ctx;
        mem::estimate(spec, w, &s)?
    };
    if s.n_ctx == 0 {
        s.n_ctx = b.resolved.n_ctx;
    }
    // The draft runs with the context llama.cpp settled on for the main model.
    let companions = run.companions.memory(&at(&s, b.resolved.n_ctx), has_gpu)?;
    for d in &mut placed.placement.devices {
        d.companions = bytes_at(&companions, d.loc);
    }
    let embedding: Bytes = w
        .tensors
        .iter()
        .filter(|t| t.tensor.layer.is_none() && t.tensor.base == "token_embd.weight")
        .map(|t| t.bytes)
        .sum();
    let v = verdict(&placed.placement, spec.n_layer, embedding);
    let speed = speed::for_llama_cpp(req, &s, &placed.placement, &v);
    // The placement's own notes stay in `placement.notes` (the verdict says the same).
    let mut notes = b.notes.clone();
    notes.extend(run.companions.vocab_warning(req.model));
    if let Some((_, sockets)) = req.hardware.host_device.as_ref().filter(|(_, n)| *n > 1) {
        notes.push(format!("{sockets} CPU sockets are counted with {sockets}× the bandwidth of one, which needs the weights spread over every NUMA node: run llama.cpp with --numa distribute after dropping the page cache (echo 3 | sudo tee /proc/sys/vm/drop_caches); with --no-mmap (or ik_llama.cpp's -rtr), or pages cached by an earlier run, the weights stay on the nodes that first read them and are read at their bandwidth only"));
    }
    Ok(Report {
        schema: super::SCHEMA,
        model: req.model.info.clone(),
        quant: req.model.quant_label.clone(),
        engine: "llama.cpp",
        settings: s,
        hardware: req.hardware.clone(),
        memory_total: Some(b.total()),
        memory: Some(b),
        server: None,
        placement: Some(placed.placement),
        placement_method: placed.how,
        fit: placed.trace,
        companions,
        verdict: v,
        speed,
        power: None,
        commands: vec![],
        commands_skipped: vec![],
        warnings: vec![],
        notes,
    })
}
