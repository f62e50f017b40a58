//! llama.cpp's automatic fit (`--fit`, on by default in llama-server, llama-cli
//! and llama-bench; `llama-fit-params` prints its result), as implemented in
//! `common/fit.cpp` at commit 0c1e57098.
//!
//! llama.cpp projects the memory of a trial configuration by loading the model
//! without allocating anything and reading its memory breakdown; canirun
//! projects the same configuration with [`place`]. The search is the same:
//!
//! 1. If every device keeps its margin free with all layers offloaded, nothing
//!    changes.
//! 2. If the user did not set `-c`, the context shrinks: a second projection at
//!    the minimum context, then linear interpolation, rounded down to a multiple
//!    of 256 per stream. On one device (or none) that is the end.
//! 3. Layers are filled back to front, device by device, by the method of false
//!    position on the projected memory. For a MoE model every partly offloaded
//!    layer keeps its routed experts in system memory ("dense-only" layers).
//! 4. For a MoE model whose dense weights all fit, dense-only layers become full
//!    layers front to back, and one more layer is tried with only part of its
//!    feed-forward overflowing: gate and down, then down alone (or else the
//!    whole feed-forward).
//!
//! The result is the `-c`, `-ngl`, `-ts` and `-ot` flags llama-fit-params prints.

use super::{place, Override, PlacementArgs, PlacementError, SplitMode};
use crate::memory::RunSettings;
use crate::model::ModelSpec;
use crate::placement::{DeviceSpec, Loc, Placement};
use crate::quant::Weights;
use crate::units::Bytes;
use serde::Serialize;

/// How much of a partly offloaded layer stays on its device; the rest of its
/// feed-forward overflows (`common_layer_fraction_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerFraction {
    /// Attention only: the whole feed-forward overflows.
    Attn,
    /// Attention and the up projection: gate and down overflow.
    Up,
    /// Attention, up and gate: only the down projection overflows.
    Gate,
    /// Everything but the routed experts.
    #[default]
    Moe,
}

impl LayerFraction {
    /// llama.cpp's `-ot` pattern for the tensors of block `il` that overflow.
    pub fn pattern(self, il: u64) -> String {
        match self {
            LayerFraction::Attn => format!(r"blk\.{il}\.ffn_(gate|up|gate_up|down).*"),
            LayerFraction::Up => format!(r"blk\.{il}\.ffn_(gate|gate_up|down).*"),
            LayerFraction::Gate => format!(r"blk\.{il}\.ffn_down.*"),
            LayerFraction::Moe => crate::flags::moe_block_pattern(il),
        }
    }

    /// llama.cpp's number for it (as its trace prints `overflow_type`).
    pub fn code(self) -> u8 {
        match self {
            LayerFraction::Attn => 1,
            LayerFraction::Up => 2,
            LayerFraction::Gate => 3,
            LayerFraction::Moe => 4,
        }
    }
}

/// The layers one device takes.
///
/// The counts are `u32` with wrapping arithmetic, as in llama.cpp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DeviceLayers {
    /// Layers on the device (the output head counts as one).
    pub n_layer: u32,
    /// Of which partial: their routed experts (or, for the first, the part its
    /// `overflow` says) live elsewhere.
    pub n_part: u32,
    /// What the first partial layer keeps here.
    pub overflow: LayerFraction,
}

impl DeviceLayers {
    /// Whole layers. llama.cpp keeps these counts in `uint32_t` and lets them
    /// wrap (its search can take a partial layer from a device that has none),
    /// so the arithmetic here wraps the same way.
    pub fn n_full(&self) -> u32 {
        self.n_layer.wrapping_sub(self.n_part)
    }
}

/// One device's budget for the fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitDevice {
    /// The device (its `memory` is not used: `free` is what counts).
    pub spec: DeviceSpec,
    /// Memory free before loading, as the backend reports it (for CUDA: after
    /// its own context is created).
    pub free: Bytes,
    /// Memory to leave free (`-fitt`, 1 GiB by default).
    pub margin: Bytes,
}

/// llama.cpp's `--fit` options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitSettings {
    /// `-fit on|off` (on by default).
    pub enabled: bool,
    /// `-fitt`: memory to leave free per device; one value applies to all
    /// (1024 MiB by default).
    pub margins: Vec<Bytes>,
    /// `-fitc`: the context is never shrunk below this (4096 by default).
    pub n_ctx_min: u64,
}

impl Default for FitSettings {
    fn default() -> Self {
        FitSettings {
            enabled: true,
            margins: vec![Bytes::mib(1024)],
            n_ctx_min: 4096,
        }
    }
}

impl FitSettings {
    /// The margin of device `i`: a single value applies to every device; in a
    /// list, devices past its end keep the 1024 MiB default (as in llama.cpp).
    pub fn margin(&self, i: usize) -> Bytes {
        match self.margins.as_slice() {
            [] => Bytes::mib(1024),
            [one] => *one,
            many => many.get(i).copied().unwrap_or(Bytes::mib(1024)),
        }
    }
}

/// What `--fit` is given.
#[derive(Debug, Clone)]
pub struct FitRequest<'a> {
    /// The model.
    pub model: &'a ModelSpec,
    /// Run settings; `n_ctx == 0` means the user did not set `-c`.
    pub settings: RunSettings,
    /// The placement flags the user gave. Any `-ngl`, `-ot` (or, on several
    /// devices, `-ts` or `-sm row`) stops the fit after the context step.
    pub given: PlacementArgs,
    /// The accelerators, in llama.cpp's device order.
    pub devices: Vec<FitDevice>,
    /// Total system RAM and its margin, for a CPU-only fit.
    pub host: Option<(Bytes, Bytes)>,
    /// `-fitc`: the context is never shrunk below this (4096 by default).
    pub n_ctx_min: u64,
}

/// One configuration the search projected.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    /// Why it was projected: `initial`, `min_ctx`, `cpu_moe` or `probe`.
    pub kind: &'static str,
    /// Total context of the projection.
    pub n_ctx: u64,
    /// Layers per device (empty for the projections that are not trials).
    pub layers: Vec<DeviceLayers>,
    /// Model + KV + compute projected per device.
    pub used: Vec<Bytes>,
}

/// How the fit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FitOutcome {
    /// Everything fits as given.
    Unchanged,
    /// A smaller context makes everything fit.
    ContextReduced,
    /// Layers (and possibly experts) were assigned to devices.
    LayersAssigned,
    /// Not even the context reduction fits a CPU-only run (llama.cpp gives up
    /// and loads as given).
    DoesNotFit,
}

/// The result of `--fit`.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// How it ended.
    pub outcome: FitOutcome,
    /// The total context after the fit.
    pub n_ctx: u64,
    /// Layers per device (empty unless layers were assigned).
    pub layers: Vec<DeviceLayers>,
    /// The placement flags (`-ngl`, `-ts`, `-ot`).
    pub args: PlacementArgs,
    /// Every configuration projected, in order.
    pub probes: Vec<Probe>,
}

impl Fit {
    /// The flags as llama-fit-params prints them
    /// (`-c N -ngl N [-ts a,b] [-ot "p=BUFT,…"]`), with `buft` naming devices.
    pub fn fit_params_line(&self, buft: impl Fn(Loc) -> String) -> String {
        let ngl = match self.args.n_gpu_layers {
            Some(n) => n as i64,
            None => -1,
        };
        let mut s = format!("-c {} -ngl {ngl}", self.n_ctx);
        if let Some(ts) = &self.args.tensor_split {
            let n = ts.iter().rposition(|x| *x != 0.0).map_or(0, |i| i + 1);
            if n > 1 {
                let v: Vec<String> = ts[..n].iter().map(|x| format!("{}", *x as u64)).collect();
                s.push_str(&format!(" -ts {}", v.join(",")));
            }
        }
        if !self.args.overrides.is_empty() {
            let v: Vec<String> = self
                .args
                .overrides
                .iter()
                .map(|o| format!("{}={}", o.pattern, buft(o.target)))
                .collect();
            s.push_str(&format!(" -ot \"{}\"", v.join(",")));
        }
        s
    }
}

/// Step 2's allowance for whole-layer granularity on several devices, as a
/// divisor of a layer's size: half a layer per device for dense models, a
/// sixth (about one tensor) for MoE.
const SLACK_DENSE: u64 = 2;
const SLACK_MOE: u64 = 6;
/// `llama_max_tensor_buft_overrides()`.
const MAX_OVERRIDES: usize = 4096;
/// The context is rounded down to a multiple of this per stream.
const CTX_ALIGN: u64 = 256;

/// A configuration the search wants projected.
#[derive(Debug, Clone, Copy)]
pub enum Trial<'t> {
    /// The placement flags the user gave.
    Given,
    /// Every routed expert in system memory, all layers offloaded.
    AllExpertsOnCpu,
    /// A layer assignment.
    Layers {
        /// Layers per device.
        layers: &'t [DeviceLayers],
        /// Where each device's first partial layer overflows.
        overflow_to: &'t [Loc],
    },
}

/// The memory of one configuration, as llama.cpp's no-alloc load reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Projection {
    /// Model + context + compute per device.
    pub used: Vec<Bytes>,
    /// Of which model weights, per device.
    pub model: Vec<Bytes>,
    /// Model + context + compute in host memory.
    pub host: Bytes,
}

/// Projects the memory of a configuration: canirun's placement model
/// ([`PlaceProjector`]), or, in tests, what llama.cpp itself projected.
pub trait Projector {
    /// The memory of `trial` at total context `n_ctx`.
    fn project(&mut self, n_ctx: u64, trial: Trial<'_>) -> Result<Projection, PlacementError>;
}

/// canirun's projection: [`place`] with the request's settings.
pub struct PlaceProjector<'a> {
    req: &'a FitRequest<'a>,
    weights: &'a Weights,
    gpus: Vec<DeviceSpec>,
}

impl<'a> PlaceProjector<'a> {
    /// A projector for `req` with these tensors.
    pub fn new(req: &'a FitRequest<'a>, weights: &'a Weights) -> Self {
        PlaceProjector {
            req,
            weights,
            // Without -ts, llama.cpp splits in proportion to the free memory.
            gpus: req
                .devices
                .iter()
                .map(|d| DeviceSpec {
                    memory: d.free,
                    ..d.spec.clone()
                })
                .collect(),
        }
    }
}

impl PlaceProjector<'_> {
    /// The whole placement of `trial` at total context `n_ctx`.
    pub fn placement(&self, n_ctx: u64, trial: Trial<'_>) -> Result<Placement, PlacementError> {
        let args = match trial {
            Trial::Given => self.req.given.clone(),
            Trial::AllExpertsOnCpu => PlacementArgs {
                overrides: vec![Override {
                    pattern: format!(r"blk\.\d+{}", crate::flags::CPU_MOE_PATTERN),
                    target: Loc::Cpu,
                }],
                ..Default::default()
            },
            Trial::Layers {
                layers,
                overflow_to,
            } => args_for_layers(self.req.model.n_layer, layers, overflow_to),
        };
        let s = RunSettings {
            n_ctx,
            ..self.req.settings.clone()
        };
        place(
            self.req.model,
            self.weights,
            &s,
            &self.gpus,
            self.req.host.map(|h| h.0),
            &args,
        )
    }
}

impl Projector for PlaceProjector<'_> {
    fn project(&mut self, n_ctx: u64, trial: Trial<'_>) -> Result<Projection, PlacementError> {
        Ok(projection_of(&self.placement(n_ctx, trial)?))
    }
}

/// What llama.cpp's memory breakdown counts of a placement: model + context +
/// compute per pool (no backend overhead: the free memory it reads already
/// excludes the backend's own context; no output buffer, no CPU repack).
pub fn projection_of(p: &Placement) -> Projection {
    let gpus = p.devices.iter().filter(|d| d.loc != Loc::Cpu);
    let host = p.devices.iter().find(|d| d.loc == Loc::Cpu);
    Projection {
        used: gpus.clone().map(|d| d.weights + d.kv + d.compute).collect(),
        model: gpus.map(|d| d.weights).collect(),
        host: host.map_or(Bytes::ZERO, |h| h.weights + h.kv + h.compute),
    }
}

struct Search<'a> {
    projector: &'a mut dyn Projector,
    hp_ngl: u32,
    moe: bool,
    n_ctx: u64,
    probes: Vec<Probe>,
}

impl Search<'_> {
    fn project_plain(
        &mut self,
        kind: &'static str,
        trial: Trial<'_>,
    ) -> Result<Projection, PlacementError> {
        let p = self.projector.project(self.n_ctx, trial)?;
        self.probes.push(Probe {
            kind,
            n_ctx: self.n_ctx,
            layers: vec![],
            used: p.used.clone(),
        });
        Ok(p)
    }

    fn project(
        &mut self,
        layers: &[DeviceLayers],
        overflow_to: &[Loc],
    ) -> Result<Vec<Bytes>, PlacementError> {
        let p = self.projector.project(
            self.n_ctx,
            Trial::Layers {
                layers,
                overflow_to,
            },
        )?;
        self.probes.push(Probe {
            kind: "probe",
            n_ctx: self.n_ctx,
            layers: layers.to_vec(),
            used: p.used.clone(),
        });
        Ok(p.used)
    }

    fn args_for(&self, layers: &[DeviceLayers], overflow_to: &[Loc]) -> PlacementArgs {
        args_for_layers(self.hp_ngl as u64, layers, overflow_to)
    }
}

/// The flags for a layer assignment (llama.cpp's `set_ngl_tensor_split_tbo`):
/// `-ngl` is the total, `-ts` the count per device, and each partial layer gets
/// an `-ot` rule; the first partial layer of device `id` overflows the part its
/// fraction names to `overflow_to[id]`, the others send their experts to the CPU.
pub fn args_for_layers(
    n_layer: u64,
    layers: &[DeviceLayers],
    overflow_to: &[Loc],
) -> PlacementArgs {
    let ngl: u32 = layers.iter().fold(0u32, |a, d| a.wrapping_add(d.n_layer));
    let nd = layers.len();
    let mut overrides = Vec::new();
    let mut il0 = (n_layer as u32 + 1).wrapping_sub(ngl);
    for (id, d) in layers.iter().enumerate() {
        il0 = il0.wrapping_add(d.n_full());
        for il in il0..il0.wrapping_add(d.n_part) {
            // llama.cpp gives up past its fixed number of override slots.
            if overrides.len() + 1 >= MAX_OVERRIDES {
                break;
            }
            let (fraction, target) = if il == il0 {
                (d.overflow, overflow_to.get(id).copied().unwrap_or(Loc::Cpu))
            } else {
                (LayerFraction::Moe, Loc::Cpu)
            };
            overrides.push(Override {
                pattern: fraction.pattern(il as u64),
                target,
            });
        }
        il0 = il0.wrapping_add(d.n_part);
    }
    PlacementArgs {
        n_gpu_layers: Some(ngl as u64),
        tensor_split: (nd > 1 && ngl > 0)
            .then(|| layers.iter().map(|d| d.n_layer as f64).collect()),
        overrides,
        ..Default::default()
    }
}

/// Fill the devices like llama.cpp's `--fit` (see the module documentation),
/// projecting each trial with canirun's placement of `weights`.
pub fn fit(req: &FitRequest<'_>, weights: &Weights) -> Result<Fit, PlacementError> {
    let mut projector = PlaceProjector::new(req, weights);
    fit_with(req, &mut projector)
}

/// llama.cpp's `--fit` search with any projector.
pub fn fit_with(
    req: &FitRequest<'_>,
    projector: &mut dyn Projector,
) -> Result<Fit, PlacementError> {
    let m = req.model;
    let nd = req.devices.len();
    let n_streams = if req.settings.kv_unified {
        1
    } else {
        req.settings.n_parallel.max(1)
    };
    let n_ctx_auto = req.settings.n_ctx == 0;
    let n_ctx_max = m.n_ctx_train * n_streams;
    let n_ctx_min_total = req.n_ctx_min * n_streams;
    let mut search = Search {
        projector,
        hp_ngl: m.n_layer as u32,
        moe: m.moe.is_some(),
        n_ctx: if n_ctx_auto {
            n_ctx_max
        } else {
            req.settings.n_ctx
        },
        probes: Vec::new(),
    };
    let done = |search: Search, outcome, layers: Vec<DeviceLayers>, args| Fit {
        outcome,
        n_ctx: search.n_ctx,
        layers,
        args,
        probes: search.probes,
    };
    let as_given = req.given.clone();
    let n_ctx_start = search.n_ctx;
    let i64b = |b: Bytes| b.0 as i64;

    // Step 1: the parameters as given.
    let full = search.project_plain("initial", Trial::Given)?;
    let (sum_free, sum_used, sum_model, sum_margin);
    if nd == 0 {
        let Some((ram, margin)) = req.host else {
            return Ok(done(search, FitOutcome::Unchanged, vec![], as_given));
        };
        let used = full.host;
        if i64b(ram) - i64b(used) >= i64b(margin) {
            return Ok(done(search, FitOutcome::Unchanged, vec![], as_given));
        }
        (sum_free, sum_used, sum_model, sum_margin) = (i64b(ram), i64b(used), 0, i64b(margin));
    } else {
        let used = &full.used;
        if req
            .devices
            .iter()
            .zip(used)
            .all(|(d, u)| i64b(d.free) - i64b(*u) >= i64b(d.margin))
        {
            return Ok(done(search, FitOutcome::Unchanged, vec![], as_given));
        }
        sum_free = req.devices.iter().map(|d| i64b(d.free)).sum::<i64>();
        sum_used = used.iter().map(|u| i64b(*u)).sum::<i64>();
        sum_model = full.model.iter().map(|b| i64b(*b)).sum::<i64>();
        sum_margin = req.devices.iter().map(|d| i64b(d.margin)).sum::<i64>();
    }

    // Step 2: a smaller context, when the user left it to llama.cpp.
    if sum_free - sum_used - sum_margin < 0 && n_ctx_auto && n_ctx_max > n_ctx_min_total {
        let mut used_target = sum_free - sum_margin;
        if nd > 1 {
            // Per offloaded layer: min(-ngl, n_layer), -ngl being "all" here.
            let per_layer = sum_model / m.n_layer.max(1) as i64;
            let slack = if search.moe { SLACK_MOE } else { SLACK_DENSE };
            used_target -= (nd as i64 + 1) * per_layer / slack as i64;
        }
        search.n_ctx = n_ctx_min_total;
        let at_min = search.project_plain("min_ctx", Trial::Given)?;
        let used_min = if nd == 0 {
            i64b(at_min.host)
        } else {
            at_min.used.iter().map(|u| i64b(*u)).sum()
        };
        if used_target > used_min {
            let span = (n_ctx_max - n_ctx_min_total) as i64;
            let grow = span * (used_target - used_min) / (sum_used - used_min).max(1);
            let n_ctx = n_ctx_min_total + grow.max(0) as u64;
            let align = CTX_ALIGN * n_streams;
            search.n_ctx = (n_ctx - n_ctx % align).max(n_ctx_min_total);
            if nd <= 1 {
                return Ok(done(search, FitOutcome::ContextReduced, vec![], as_given));
            }
        }
    }
    if nd == 0 {
        return Ok(done(search, FitOutcome::DoesNotFit, vec![], as_given));
    }
    // llama.cpp leaves placement the user chose alone (keeping any shrunk context).
    let g = &req.given;
    if g.n_gpu_layers.is_some()
        || !g.overrides.is_empty()
        || (nd > 1 && (g.tensor_split.is_some() || g.split_mode == SplitMode::Row))
    {
        let outcome = if search.n_ctx != n_ctx_start {
            FitOutcome::ContextReduced
        } else {
            FitOutcome::Unchanged
        };
        return Ok(done(search, outcome, vec![], as_given));
    }

    // Step 3: fill "dense" layers back to front (MoE: experts in system memory).
    let mut surplus_cpu_moe = 0i64;
    if search.moe {
        let p = search.project_plain("cpu_moe", Trial::AllExpertsOnCpu)?;
        for (d, u) in req.devices.iter().zip(p.used) {
            surplus_cpu_moe += i64b(d.free) - i64b(u) - i64b(d.margin);
        }
    }
    let targets: Vec<i64> = req
        .devices
        .iter()
        .map(|d| i64b(d.free) - i64b(d.margin))
        .collect();
    let mut overflow_to = vec![Loc::Cpu; nd];
    let mut ngl = vec![DeviceLayers::default(); nd];
    let mut mem = search.project(&ngl, &overflow_to)?;
    // The next trial between a layer count that fits (`lo`, memory `mem_lo`) and
    // one that does not (`mem_hi`), `delta` layers apart; llama.cpp truncates the
    // interpolation to an unsigned 32-bit count, so a negative guess wraps to a
    // huge one and is clamped to `delta - 1`.
    let step = |delta: u32, target: i64, mem_lo: i64, mem_hi: i64| -> u32 {
        let guess = delta as i64 * (target - mem_lo) / (mem_hi - mem_lo).max(1);
        (guess as u32).max(1).min(delta - 1)
    };
    for id in (0..nd).rev() {
        let assigned_after = ngl[id + 1..]
            .iter()
            .fold(0u32, |a, d| a.wrapping_add(d.n_layer));
        let n_unassigned = (search.hp_ngl + 1).wrapping_sub(assigned_after);
        let mut high = ngl.clone();
        high[id].n_layer = n_unassigned;
        if search.moe {
            // The output head, first on the last device, is always whole.
            high[id].n_part = if id < nd - 1 {
                high[id].n_layer
            } else {
                high[id].n_layer.wrapping_sub(1)
            };
        }
        if high[id].n_layer == 0 {
            continue;
        }
        let mut mem_high = search.project(&high, &overflow_to)?;
        if i64b(mem_high[id]) > targets[id] {
            let mut delta = high[id].n_layer.wrapping_sub(ngl[id].n_layer);
            while delta > 1 {
                let k = step(delta, targets[id], i64b(mem[id]), i64b(mem_high[id]));
                let mut test = ngl.clone();
                test[id].n_layer = test[id].n_layer.wrapping_add(k);
                if search.moe {
                    let add = if id == nd - 1 && test[id].n_part == 0 {
                        k - 1
                    } else {
                        k
                    };
                    test[id].n_part = test[id].n_part.wrapping_add(add);
                }
                let mem_test = search.project(&test, &overflow_to)?;
                if i64b(mem_test[id]) <= targets[id] {
                    (ngl, mem) = (test, mem_test);
                } else {
                    (high, mem_high) = (test, mem_test);
                }
                delta = high[id].n_layer.wrapping_sub(ngl[id].n_layer);
            }
        } else {
            (ngl, mem) = (high, mem_high);
        }
    }
    if !search.moe || surplus_cpu_moe <= 0 {
        let args = search.args_for(&ngl, &overflow_to);
        return Ok(done(search, FitOutcome::LayersAssigned, ngl, args));
    }

    // Step 4: turn dense-only layers into full layers, front to back, then try
    // part of one more layer.
    let mut dense_start = nd;
    for id in (0..nd).rev() {
        if ngl[id].n_layer == 0 {
            break;
        }
        dense_start = id;
    }
    let mut id = 0;
    while id <= dense_start && dense_start < nd {
        let mut high = ngl.clone();
        for jd in dense_start..nd {
            let n_move = if jd < nd - 1 {
                high[jd].n_layer
            } else {
                high[jd].n_layer.wrapping_sub(1)
            };
            high[id].n_layer = high[id].n_layer.wrapping_add(n_move);
            high[jd].n_layer = high[jd].n_layer.wrapping_sub(n_move);
            high[jd].n_part = 0;
        }
        let dense_start_high = nd - 1;
        let mut mem_high = search.project(&high, &overflow_to)?;
        if i64b(mem_high[id]) > targets[id] {
            let mut delta = high[id].n_full().wrapping_sub(ngl[id].n_full());
            while delta > 1 {
                let k = step(delta, targets[id], i64b(mem[id]), i64b(mem_high[id]));
                let mut test = ngl.clone();
                let mut ds_test = dense_start;
                let mut converted = 0;
                while ds_test < nd {
                    let n = k.wrapping_sub(converted).min(test[ds_test].n_part);
                    test[ds_test].n_layer = test[ds_test].n_layer.wrapping_sub(n);
                    test[ds_test].n_part = test[ds_test].n_part.wrapping_sub(n);
                    test[id].n_layer = test[id].n_layer.wrapping_add(n);
                    converted = converted.wrapping_add(n);
                    if test[ds_test].n_part > 0 {
                        break;
                    }
                    ds_test += 1;
                }
                let mem_test = search.project(&test, &overflow_to)?;
                if i64b(mem_test[id]) <= targets[id] {
                    (ngl, mem, dense_start) = (test, mem_test, ds_test);
                } else {
                    (high, mem_high) = (test, mem_test);
                }
                delta = high[id].n_full().wrapping_sub(ngl[id].n_full());
            }
        } else {
            (ngl, mem, dense_start) = (high, mem_high, dense_start_high);
        }

        // Part of one more layer, to use what a whole layer would leave empty.
        let floor = if id < nd - 1 { 0 } else { 1 };
        if dense_start < nd && ngl[dense_start].n_layer > floor {
            let mut test = ngl.clone();
            let mut ds_test = dense_start;
            test[ds_test].n_layer = test[ds_test].n_layer.wrapping_sub(1);
            test[ds_test].n_part = test[ds_test].n_part.wrapping_sub(1);
            test[id].n_layer = test[id].n_layer.wrapping_add(1);
            test[id].n_part = test[id].n_part.wrapping_add(1);
            if test[ds_test].n_part == 0 {
                ds_test += 1;
            }
            let mut overflow_test = overflow_to.clone();
            if id < nd - 1 {
                overflow_test[id] = Loc::Gpu(id + 1);
            }
            let fits = |u: &[Bytes]| {
                i64b(u[id]) < targets[id] && (id + 1 == nd || i64b(u[id + 1]) < targets[id + 1])
            };
            test[id].overflow = LayerFraction::Up;
            let mem_test = search.project(&test, &overflow_test)?;
            if fits(&mem_test) {
                (ngl, mem, dense_start) = (test.clone(), mem_test, ds_test);
                overflow_to = overflow_test.clone();
                test[id].overflow = LayerFraction::Gate;
                let mem_test = search.project(&test, &overflow_test)?;
                if fits(&mem_test) {
                    (ngl, mem, dense_start) = (test, mem_test, ds_test);
                }
            } else {
                test[id].overflow = LayerFraction::Attn;
                let mem_test = search.project(&test, &overflow_test)?;
                if fits(&mem_test) {
                    (ngl, mem, dense_start) = (test, mem_test, ds_test);
                    overflow_to = overflow_test;
                }
            }
        }
        id += 1;
    }
    let args = search.args_for(&ngl, &overflow_to);
    Ok(done(search, FitOutcome::LayersAssigned, ngl, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Backend;
    use crate::placement::llama_cpp::tests::setup;

    fn cuda(gib: u64) -> FitDevice {
        FitDevice {
            spec: DeviceSpec {
                name: format!("{gib} GiB"),
                memory: Bytes::gib(gib),
                backend: Backend::Cuda,
            },
            free: Bytes::gib(gib),
            margin: Bytes::gib(1),
        }
    }

    fn request<'a>(m: &'a ModelSpec, n_ctx: u64, devices: Vec<FitDevice>) -> FitRequest<'a> {
        FitRequest {
            model: m,
            settings: RunSettings {
                n_ctx,
                ..Default::default()
            },
            given: PlacementArgs::default(),
            devices,
            host: Some((Bytes::gib(512), Bytes::gib(1))),
            n_ctx_min: 4096,
        }
    }

    /// Every device keeps its margin in canirun's own projection of the result.
    fn keeps_margins(req: &FitRequest, w: &Weights, f: &Fit) -> bool {
        let with_flags = FitRequest {
            given: f.args.clone(),
            ..req.clone()
        };
        let used = projection_of(
            &PlaceProjector::new(&with_flags, w)
                .placement(f.n_ctx, Trial::Given)
                .unwrap(),
        )
        .used;
        req.devices
            .iter()
            .zip(&used)
            .all(|(d, u)| d.free.0 as i64 - u.0 as i64 >= d.margin.0 as i64)
    }

    #[test]
    fn a_model_that_fits_with_its_margin_is_left_alone() {
        let (m, w) = setup("deepseek-r1-distill-qwen-7b", "Q4_K_M");
        let req = request(&m, 8192, vec![cuda(24)]);
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::Unchanged);
        assert_eq!(f.args, PlacementArgs::default());
        assert_eq!(f.probes.len(), 1, "one projection is enough");
    }

    #[test]
    fn r1_on_one_24_gib_gpu_gets_whole_layers_then_experts_in_ram() {
        let (m, w) = setup("deepseek-r1", "Q4_K_M");
        let req = request(&m, 16384, vec![cuda(24)]);
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::LayersAssigned);
        // All 61 blocks and the head: attention and shared experts on the GPU.
        assert_eq!(f.args.n_gpu_layers, Some(62));
        assert!(f
            .args
            .overrides
            .iter()
            .all(|o| o.target == Loc::Cpu && o.pattern.starts_with(r"blk\.")));
        // Step 4 turned the first layers into full layers, so not every layer
        // keeps its experts in RAM.
        assert!(f.args.overrides.len() < 61, "{}", f.args.overrides.len());
        assert!(keeps_margins(&req, &w, &f));
    }

    #[test]
    fn less_than_the_margin_free_moves_layers_to_the_cpu() {
        let (m, w) = setup("deepseek-r1-distill-qwen-7b", "Q8_0");
        let probe = request(&m, 8192, vec![cuda(80)]);
        let whole = projection_of(
            &PlaceProjector::new(&probe, &w)
                .placement(8192, Trial::Given)
                .unwrap(),
        )
        .used[0];
        // Exactly the margin to spare: nothing changes.
        let mut d = cuda(80);
        d.free = whole + Bytes::gib(1);
        let f = fit(&request(&m, 8192, vec![d.clone()]), &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::Unchanged);
        // Half the margin: llama.cpp moves layers to the CPU although it would fit.
        d.free = whole + Bytes::mib(512);
        let req = request(&m, 8192, vec![d]);
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::LayersAssigned);
        let ngl = f.args.n_gpu_layers.unwrap();
        assert!(ngl > 20 && ngl < 29, "-ngl {ngl}");
        assert!(keeps_margins(&req, &w, &f));
    }

    #[test]
    fn two_gpus_split_by_layer_counts() {
        // 70B Q4_K_M (about 40 GiB) on two 20 GiB GPUs: not everything fits.
        let (m, w) = setup("deepseek-r1-distill-llama-70b", "Q4_K_M");
        let req = request(&m, 8192, vec![cuda(20), cuda(20)]);
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::LayersAssigned);
        let ts = f.args.tensor_split.clone().unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts.iter().sum::<f64>() as u64, f.args.n_gpu_layers.unwrap());
        assert!(ts.iter().all(|x| *x > 30.0), "{ts:?}");
        assert!(keeps_margins(&req, &w, &f));
    }

    #[test]
    fn an_unset_context_shrinks_and_user_layers_stay() {
        let (m, w) = setup("deepseek-r1-distill-qwen-7b", "Q4_K_M");
        // 131072 tokens of F16 cache (7 GiB) do not fit in 8 GiB with the weights.
        let mut req = request(&m, 0, vec![cuda(8)]);
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::ContextReduced);
        assert!(f.n_ctx >= 4096 && f.n_ctx < 131072 && f.n_ctx.is_multiple_of(256));
        assert_eq!(f.args, PlacementArgs::default());
        // With -ngl given, the context still shrinks (to the floor here) but the
        // layers are the user's.
        req.given.n_gpu_layers = Some(10);
        req.devices[0].free = Bytes::gib(2);
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.n_ctx, 4096);
        assert_eq!(f.args.n_gpu_layers, Some(10));
        assert!(f.layers.is_empty());
    }

    #[test]
    fn cpu_only_shrinks_the_context_or_gives_up() {
        let (m, w) = setup("deepseek-r1-distill-qwen-7b", "Q4_K_M");
        let mut req = request(&m, 0, vec![]);
        req.host = Some((Bytes::gib(8), Bytes::gib(1)));
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::ContextReduced);
        assert!(f.n_ctx < 131072);
        req.host = Some((Bytes::gib(3), Bytes::gib(1)));
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::DoesNotFit);
        assert_eq!(
            f.n_ctx, 4096,
            "llama.cpp keeps the minimum context it tried"
        );
    }

    #[test]
    fn counts_wrap_like_llama_cpps_unsigned_ones() {
        // A device left with n_layer 0 and n_part u32::MAX (llama.cpp takes a
        // partial layer from a device that has none) gets no override.
        let layers = [
            DeviceLayers {
                n_layer: 5,
                n_part: 1,
                overflow: LayerFraction::Up,
            },
            DeviceLayers {
                n_layer: 0,
                n_part: u32::MAX,
                overflow: LayerFraction::Moe,
            },
        ];
        let a = args_for_layers(4, &layers, &[Loc::Gpu(1), Loc::Cpu]);
        assert_eq!(a.n_gpu_layers, Some(5));
        assert_eq!(a.overrides.len(), 1);
        assert_eq!(a.overrides[0].pattern, r"blk\.4\.ffn_(gate|gate_up|down).*");
        assert_eq!(a.overrides[0].target, Loc::Gpu(1));
    }
}
