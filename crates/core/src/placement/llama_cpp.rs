//! llama.cpp's placement (`llama_model::load_tensors`, commit 0c1e57098):
//!
//! - the input layer (`token_embd`) always stays on the CPU;
//! - `-ngl N` offloads the last `N` of the `n_layer + 1` layers, the extra one
//!   being the output head, which is therefore the first to move to a GPU;
//! - offloaded layers are spread over the GPUs by cumulative fractions of
//!   `--tensor-split` (default: proportional to each GPU's free memory);
//! - `--split-mode row` instead splits every offloaded matrix by rows across
//!   the GPUs and keeps everything else on the main GPU; `none` uses the main GPU only;
//! - `-ot REGEX=BUFT` overrides where matching tensors go (first match wins),
//!   e.g. `exps=CPU` keeps MoE experts in RAM;
//! - each layer's KV rows live with the layer unless `--no-kv-offload`;
//! - every device that runs part of the graph reserves a compute buffer for
//!   the stages it runs; the output buffer is in host memory.

pub mod fit;

use super::{DeviceSpec, DeviceUse, Loc, Placement};
use crate::memory::llama_cpp::{
    backend_overhead, kv_layer_bytes, output_buffer, resolve_settings, stage_bytes,
};
use crate::memory::{Backend, RunSettings, SettingsError};
use crate::model::ModelSpec;
use crate::quant::{TensorStage, Weights};
use crate::units::Bytes;
use serde::Serialize;

/// `--split-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitMode {
    /// Whole layers per GPU (llama.cpp's default).
    #[default]
    Layer,
    /// Matrices split by rows across GPUs.
    Row,
    /// Everything on the main GPU.
    None,
}

/// One `-ot/--override-tensor` rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Override {
    /// Regular expression searched in tensor names.
    pub pattern: String,
    /// Where matching tensors go.
    pub target: Loc,
}

/// llama.cpp's placement flags.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PlacementArgs {
    /// `-ngl`: layers to offload (`None`: all, llama.cpp's -1).
    pub n_gpu_layers: Option<u64>,
    /// `-sm`.
    pub split_mode: SplitMode,
    /// `-ts`: proportions per GPU.
    pub tensor_split: Option<Vec<f64>>,
    /// `-mg`.
    pub main_gpu: usize,
    /// `-ot` rules in order.
    pub overrides: Vec<Override>,
    /// `-nkvo`: keep the KV cache (and attention) in host memory.
    pub no_kv_offload: bool,
}

/// A placement's llama.cpp flags, typed: the arguments it was made with and
/// the resolved `-ngl`, with what the engines' renderers need to write them
/// compactly (`crate::commands::llama_cpp::placement_flags`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct LlamaFlags {
    /// The placement arguments (without `-ts`, `-sm`, `-mg` when there is no GPU).
    pub args: PlacementArgs,
    /// `-ngl` to write: the resolved layer count (`None`: not written).
    pub ngl: Option<u64>,
    /// Blocks that hold routed experts, ascending (empty: unknown or dense).
    pub expert_layers: Vec<u64>,
    /// The `-ot` buffer name of each GPU (`CUDA0`, `Metal`); past the end, `CUDA<i>`.
    pub gpu_bufts: Vec<String>,
}

impl LlamaFlags {
    /// Flags as the user gave them: `-ngl` only when given, nothing known of the model.
    pub fn from_args(args: PlacementArgs) -> Self {
        LlamaFlags {
            ngl: args.n_gpu_layers,
            args,
            ..Default::default()
        }
    }

    /// The `-ot` buffer name of `l`.
    pub fn buft(&self, l: Loc) -> String {
        match l {
            Loc::Gpu(i) => self
                .gpu_bufts
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("CUDA{i}")),
            Loc::Cpu => "CPU".into(),
        }
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        crate::commands::llama_cpp::placement_flags(self).is_empty()
    }
}

/// Why a placement could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    /// Settings llama.cpp refuses.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A `-ot` pattern that is not a regular expression.
    #[error("-ot pattern '{0}' is not a valid regular expression")]
    BadPattern(String),
    /// A device index past the GPUs given.
    #[error("{what} names GPU {index}, but only {n} GPU(s) are known; name the GPUs with --gpu")]
    NoSuchGpu {
        /// The flag.
        what: &'static str,
        /// Index asked for.
        index: usize,
        /// GPUs known.
        n: usize,
    },
    /// `-ts` with the wrong number of values or no positive value.
    #[error("-ts has {given} value(s) for {n} GPU(s); give one non-negative proportion per GPU, not all zero")]
    TensorSplit {
        /// Values given.
        given: usize,
        /// GPUs known.
        n: usize,
    },
}

/// One compiled `-ot` rule.
struct Rule {
    re: std::rc::Rc<regex::Regex>,
    target: Loc,
    /// The block a pattern starting with a literal `blk\.N\.` can only match:
    /// `--fit` writes one such rule per layer, and testing only the rules of a
    /// tensor's own block keeps a 61-layer search fast.
    layer: Option<u64>,
    /// For a rule of any block, whether it matches each tensor of the
    /// weights being placed (cached per pattern on the weights).
    hits: Option<std::sync::Arc<[bool]>>,
}

/// The block number of a pattern that starts with a literal `blk\.N\.`.
pub(crate) fn literal_layer(pattern: &str) -> Option<u64> {
    let rest = pattern.strip_prefix(r"blk\.")?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    if end == 0 || !rest[end..].starts_with(r"\.") {
        return None;
    }
    rest[..end].parse().ok()
}

/// A compiled pattern, from a small per-thread cache: the fit places the same
/// few hundred patterns many times over. Shared, not cloned: a cloned `Regex`
/// gets a new, empty match cache and rebuilds its lazy DFA on every placement,
/// which was most of the time of a `--fit` search.
fn compiled(pattern: &str) -> Result<std::rc::Rc<regex::Regex>, PlacementError> {
    type Cache = std::collections::HashMap<String, std::rc::Rc<regex::Regex>>;
    thread_local! {
        static CACHE: std::cell::RefCell<Cache> = Default::default();
    }
    CACHE.with(|c| {
        if let Some(re) = c.borrow().get(pattern) {
            return Ok(re.clone());
        }
        let re = std::rc::Rc::new(
            regex::Regex::new(pattern)
                .map_err(|_| PlacementError::BadPattern(pattern.to_string()))?,
        );
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(pattern.to_string(), re.clone());
        Ok(re)
    })
}

/// The target of the first rule in `rules` that matches `name`.
fn first_match<'r>(
    mut rules: impl Iterator<Item = &'r Rule>,
    name: &str,
    tensor: usize,
) -> Option<Loc> {
    rules
        .find(|r| match &r.hits {
            Some(h) => h[tensor],
            None => r.re.is_match(name),
        })
        .map(|r| r.target)
}

/// `GGML_SCHED_MAX_COPIES`: copies of the split inputs under pipeline parallelism.
const PIPELINE_COPIES: u64 = 4;

/// Cumulative split points, as llama.cpp computes them.
fn split_points(gpus: &[DeviceSpec], ts: Option<&[f64]>) -> Result<Vec<f64>, PlacementError> {
    let weights: Vec<f64> = match ts {
        Some(t) => {
            let mut w: Vec<f64> = t.to_vec();
            w.resize(gpus.len(), 0.0);
            if t.len() > gpus.len() && t[gpus.len()..].iter().any(|x| *x > 0.0) {
                return Err(PlacementError::TensorSplit {
                    given: t.len(),
                    n: gpus.len(),
                });
            }
            w
        }
        None => gpus.iter().map(|g| g.memory.0 as f64).collect(),
    };
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 || weights.iter().any(|x| *x < 0.0 || !x.is_finite()) {
        return Err(PlacementError::TensorSplit {
            given: ts.map_or(0, <[f64]>::len),
            n: gpus.len(),
        });
    }
    let mut acc = 0.0;
    Ok(weights
        .iter()
        .map(|w| {
            acc += w;
            acc / sum
        })
        .collect())
}

/// Place `weights` of `m` on `gpus` (and the host) with llama.cpp's rules.
pub fn place(
    m: &ModelSpec,
    weights: &Weights,
    s: &RunSettings,
    gpus: &[DeviceSpec],
    host_ram: Option<Bytes>,
    a: &PlacementArgs,
) -> Result<Placement, PlacementError> {
    let r = resolve_settings(m, s)?;
    let n_layer = m.n_layer;
    let n_gpu = gpus.len();
    if a.main_gpu >= n_gpu.max(1) {
        return Err(PlacementError::NoSuchGpu {
            what: "-mg",
            index: a.main_gpu,
            n: n_gpu,
        });
    }
    for o in &a.overrides {
        if let Loc::Gpu(i) = o.target {
            if i >= n_gpu {
                return Err(PlacementError::NoSuchGpu {
                    what: "-ot",
                    index: i,
                    n: n_gpu,
                });
            }
        }
    }
    let rules: Vec<Rule> = a
        .overrides
        .iter()
        .map(|o| {
            compiled(&o.pattern).map(|re| {
                let layer = literal_layer(&o.pattern);
                Rule {
                    hits: layer.is_none().then(|| weights.matches(&re)),
                    re,
                    target: o.target,
                    layer,
                }
            })
        })
        .collect::<Result<_, _>>()?;

    // Layer → device, for layers 0..n_layer and the output layer n_layer.
    let ngl = if n_gpu == 0 {
        0
    } else {
        a.n_gpu_layers.unwrap_or(n_layer + 1).min(n_layer + 1)
    };
    let i_gpu_start = (n_layer + 1).saturating_sub(ngl);
    let points = if n_gpu > 0 {
        split_points(gpus, a.tensor_split.as_deref())?
    } else {
        vec![]
    };
    let layer_dev = |il: u64| -> Loc {
        if n_gpu == 0 || il < i_gpu_start || il - i_gpu_start >= ngl {
            return Loc::Cpu;
        }
        match a.split_mode {
            SplitMode::Layer => {
                let frac = (il - i_gpu_start) as f64 / ngl as f64;
                let i = points.iter().position(|p| *p > frac).unwrap_or(n_gpu - 1);
                Loc::Gpu(i)
            }
            SplitMode::Row | SplitMode::None => Loc::Gpu(a.main_gpu),
        }
    };
    let layer_loc: Vec<Loc> = (0..n_layer).map(layer_dev).collect();
    let output_loc = layer_dev(n_layer);

    let mut pools: Vec<DeviceUse> =
        std::iter::once(DeviceUse::empty(
            Loc::Cpu,
            "CPU (system RAM)".into(),
            backend_overhead(Backend::Cpu).0,
            host_ram,
        ))
        .chain(gpus.iter().enumerate().map(|(i, g)| {
            DeviceUse::empty(Loc::Gpu(i), g.name.clone(), Bytes::ZERO, Some(g.memory))
        }))
        .collect();
    let idx = |l: Loc| match l {
        Loc::Cpu => 0,
        Loc::Gpu(i) => i + 1,
    };

    // Weights, tensor by tensor.
    let mut experts_on_cpu = Bytes::ZERO;
    // Which stages run where: (attention, dense FFN, MoE FFN) per pool.
    let mut runs = vec![(false, false, false); pools.len()];
    let roles = weights.roles();
    // Spell the full names only when there are rules to match (a hot path in `plan`).
    let names = (!rules.is_empty()).then(|| weights.names());
    // The rules that can match each block's tensors, in their order (first
    // match wins): the rules for any block plus those for this one. Built once
    // per placement rather than testing every rule against every tensor: a
    // `--fit` trial carries a rule per partial layer.
    let any_block: Vec<usize> = (0..rules.len())
        .filter(|&i| rules[i].layer.is_none())
        .collect();
    let mut per_block: Vec<Option<Vec<usize>>> = vec![None; n_layer as usize];
    for (i, r) in rules.iter().enumerate() {
        if let Some(slot) = r.layer.and_then(|l| per_block.get_mut(l as usize)) {
            slot.get_or_insert_with(Vec::new).push(i);
        }
    }
    for v in per_block.iter_mut().flatten() {
        v.extend_from_slice(&any_block);
        v.sort_unstable();
    }
    for (ti, (t, role)) in weights.tensors.iter().zip(roles.iter()).enumerate() {
        let home = match t.tensor.layer {
            Some(il) => layer_loc
                .get(il as usize)
                .copied()
                .unwrap_or_else(|| layer_dev(il)),
            None if role.embedding || role.rope_freqs => Loc::Cpu,
            None => output_loc,
        };
        let loc = match &names {
            None => home,
            Some(names) => {
                let name: &str = &names[ti];
                let indexed = |v: &[usize]| first_match(v.iter().map(|&i| &rules[i]), name, ti);
                match t.tensor.layer {
                    Some(il) => match per_block.get(il as usize) {
                        Some(Some(v)) => indexed(v),
                        Some(None) => indexed(&any_block),
                        // A block past n_layer: its own literal rules and the others.
                        None => first_match(
                            rules
                                .iter()
                                .filter(|r| r.layer.is_none() || r.layer == Some(il)),
                            name,
                            ti,
                        ),
                    },
                    None => indexed(&any_block),
                }
                .unwrap_or(home)
            }
        };
        if a.split_mode == SplitMode::Row && loc != Loc::Cpu && role.matrix && n_gpu > 1 {
            // Rows of the matrix go to each GPU in proportion to its split.
            let mut prev = 0.0;
            let mut given = Bytes::ZERO;
            for (i, p) in points.iter().enumerate() {
                let share = if i + 1 == n_gpu {
                    t.bytes - given
                } else {
                    Bytes(((p - prev) * t.bytes.0 as f64) as u64)
                };
                pools[i + 1].weights += share;
                given += share;
                prev = *p;
            }
        } else {
            pools[idx(loc)].weights += t.bytes;
        }
        if role.embedding {
            pools[idx(loc)].embedding += t.bytes;
        }
        match role.stage {
            TensorStage::RoutedExperts => {
                pools[idx(loc)].experts += t.bytes;
                if loc == Loc::Cpu {
                    experts_on_cpu += t.bytes;
                }
                runs[idx(loc)].2 = true;
            }
            TensorStage::DenseFfn => runs[idx(loc)].1 = true,
            TensorStage::Attention => runs[idx(loc)].0 = true,
            TensorStage::Other => {}
        }
    }

    // A tied output head reads the token embedding; llama.cpp loads a second
    // copy of it where the output layer runs when that is not the host.
    if m.tied_embeddings && output_loc != Loc::Cpu {
        if let Some((t, _)) = weights
            .tensors
            .iter()
            .zip(roles.iter())
            .find(|(_, r)| r.embedding)
        {
            pools[idx(output_loc)].weights += t.bytes;
        }
    }

    // KV rows follow their layer, or stay on the host with -nkvo (attention too).
    for (il, loc) in layer_loc.iter().enumerate() {
        let kv_loc = if a.no_kv_offload { Loc::Cpu } else { *loc };
        pools[idx(kv_loc)].kv += kv_layer_bytes(m, s, &r, il as u64);
        pools[idx(*loc)].layers.push(il as u64);
        if a.no_kv_offload {
            runs[0].0 = true;
        }
    }

    // Compute buffers: each pool holds the largest stage it runs (plus the masks
    // where attention runs); the output head runs where the output layer is.
    let st = stage_bytes(m, s, &r);
    // Pipeline parallelism (llama_context): with several GPUs, every layer and
    // the head offloaded, layer split, KV offloaded and no -ot, the scheduler
    // keeps PIPELINE_COPIES copies of each device's split inputs, and the
    // output norm can no longer reuse the incoming hidden state. Measured through
    // two RPC devices (data/llama_fit_params_probes.csv): within 6 MiB for R1
    // widths, up to 39 MiB low for the last device of the Qwen2-7B widths.
    let pipeline = pipeline_parallel(n_gpu, ngl, n_layer, a);
    let hidden = Bytes(m.n_embd * r.n_tokens * 4);
    for (i, pool) in pools.iter_mut().enumerate() {
        let (attn, dense, moe) = runs[i];
        let out_here = idx(output_loc) == i;
        // Stages before the output head also hold the masks (where attention
        // runs); the output head only the token inputs, as in compute_buffer.
        let (inputs, token_inputs) = if attn {
            (st.inputs, st.token_inputs)
        } else {
            (Bytes::ZERO, Bytes::ZERO)
        };
        let mut peak = Bytes::ZERO;
        for (on, b) in [
            (attn, st.attention + inputs),
            (dense, st.dense_ffn + inputs),
            (moe, st.moe_ffn + inputs),
            (
                out_here,
                if pool.loc == Loc::Cpu {
                    st.output
                } else {
                    st.output_on_device
                } + token_inputs,
            ),
        ] {
            if on && b > peak {
                peak = b;
            }
        }
        pool.compute = peak;
        if pipeline && pool.loc != Loc::Cpu && peak > Bytes::ZERO {
            let split_inputs = hidden + inputs;
            pool.compute += Bytes(split_inputs.0 * (PIPELINE_COPIES - 1));
            if out_here {
                pool.compute += hidden;
            }
        }
        if let Loc::Gpu(g) = pool.loc {
            if pool.weights > Bytes::ZERO || pool.kv > Bytes::ZERO {
                pool.overhead = backend_overhead(gpus[g].backend).0;
            }
        }
    }
    // With GPUs, the host still embeds the input tokens (token_embd lives there).
    if n_gpu > 0 && pools[0].compute == Bytes::ZERO {
        pools[0].compute = Bytes(m.n_embd * r.n_tokens * 4);
    }
    pools[0].output = output_buffer(m, s.n_parallel).bytes;

    let mut expert_layers: Vec<u64> = weights
        .tensors
        .iter()
        .zip(roles.iter())
        .filter(|(_, r)| r.stage == TensorStage::RoutedExperts)
        .filter_map(|(t, _)| t.tensor.layer)
        .collect();
    expert_layers.sort_unstable();
    expert_layers.dedup();
    let llama = LlamaFlags {
        args: if n_gpu > 0 {
            a.clone()
        } else {
            PlacementArgs {
                tensor_split: None,
                split_mode: SplitMode::Layer,
                main_gpu: 0,
                ..a.clone()
            }
        },
        ngl: (n_gpu > 0).then_some(ngl),
        expert_layers,
        gpu_bufts: (0..n_gpu).map(|i| buft_name(Loc::Gpu(i), gpus)).collect(),
    };
    let mut notes = Vec::new();
    if experts_on_cpu > Bytes::ZERO {
        notes.push(format!(
            "{experts_on_cpu} of routed experts stay in system RAM: each token reads only the active experts there, at RAM speed"
        ));
    }
    if n_gpu > 0 && ngl <= n_layer {
        notes.push(format!(
            "{} of {n_layer} blocks on the GPU(s){}; -ngl counts the output head as the last layer, so -ngl {} offloads everything",
            ngl.saturating_sub(1),
            if ngl > 0 { " plus the output head" } else { "" },
            n_layer + 1
        ));
    }
    Ok(Placement {
        devices: pools,
        layer_loc,
        output_loc,
        experts_on_cpu,
        llama,
        notes,
    })
}

/// Whether llama.cpp's context turns pipeline parallelism on: several GPUs,
/// every block and the output head offloaded (`ngl` counts the head as layer
/// `n_layer`), layer split, the KV cache offloaded and no `-ot` override
/// (llama_context's `pipeline_parallel`). The scheduler then keeps copies of
/// each split's inputs (compute buffers) and can run the micro-batches of one
/// batch on different GPUs at once (speed).
pub fn pipeline_parallel(n_gpu: usize, ngl: u64, n_layer: u64, a: &PlacementArgs) -> bool {
    n_gpu > 1
        && ngl > n_layer
        && a.split_mode == SplitMode::Layer
        && !a.no_kv_offload
        && a.overrides.is_empty()
}

/// llama.cpp's buffer-type name for a location.
pub fn buft_name(l: Loc, gpus: &[DeviceSpec]) -> String {
    match l {
        Loc::Cpu => "CPU".into(),
        Loc::Gpu(i) => match gpus.get(i).map(|g| g.backend) {
            Some(Backend::Metal) => "Metal".into(),
            Some(Backend::Vulkan) => format!("Vulkan{i}"),
            Some(Backend::Rocm) => format!("ROCm{i}"),
            _ => format!("CUDA{i}"),
        },
    }
}

/// Parse a buffer-type name from `-ot` (`CPU`, `CUDA1`, `ROCm0`, `Vulkan0`, `Metal`).
pub fn parse_buft(s: &str) -> Option<Loc> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("cpu") {
        return Some(Loc::Cpu);
    }
    if t.eq_ignore_ascii_case("metal") || t.eq_ignore_ascii_case("mtl0") {
        return Some(Loc::Gpu(0));
    }
    for prefix in ["CUDA", "ROCm", "Vulkan", "SYCL", "cuda", "rocm", "vulkan"] {
        if let Some(n) = t.strip_prefix(prefix) {
            return n.parse().ok().map(Loc::Gpu);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{catalog, MlaTensorLayout};
    use crate::quant::{weights, Quant};

    /// The catalog row `id` and its tensors at quantization `q`.
    pub(super) fn setup(id: &str, q: &str) -> (ModelSpec, Weights) {
        let m = catalog().iter().find(|e| e.id == id).unwrap().spec();
        let w = weights(&m, &Quant::parse(q).unwrap(), MlaTensorLayout::Split);
        (m, w)
    }

    fn gpu(gib: u64) -> DeviceSpec {
        DeviceSpec {
            name: format!("{gib} GiB GPU"),
            memory: Bytes::gib(gib),
            backend: Backend::Cuda,
        }
    }

    /// `n_ctx` tokens of context, every other setting llama.cpp's default.
    fn ctx(n_ctx: u64) -> RunSettings {
        RunSettings {
            n_ctx,
            ..Default::default()
        }
    }

    /// `-ot PATTERN=CPU` alone.
    fn on_cpu(pattern: &str) -> PlacementArgs {
        PlacementArgs {
            overrides: vec![Override {
                pattern: pattern.into(),
                target: Loc::Cpu,
            }],
            ..Default::default()
        }
    }

    /// `-ngl n` alone.
    fn ngl(n: u64) -> PlacementArgs {
        PlacementArgs {
            n_gpu_layers: Some(n),
            ..Default::default()
        }
    }

    #[test]
    fn full_offload_keeps_the_embedding_on_the_host() {
        let (m, w) = setup("deepseek-r1-distill-qwen-32b", "Q4_K_M");
        let s = ctx(16384);
        let p = place(
            &m,
            &w,
            &s,
            &[gpu(24)],
            Some(Bytes::gib(64)),
            &PlacementArgs::default(),
        )
        .unwrap();
        // llama.cpp#11861: CPU_Mapped 417.66 MiB (the embedding) + CUDA0 18508.35 MiB.
        assert!((p.devices[0].weights.as_mib() - 417.66).abs() < 0.01);
        assert!((p.devices[1].weights.as_mib() - 18508.35).abs() < 0.01);
        assert_eq!(p.gpu_layers(), 64);
        assert!(p.fits());
    }

    #[test]
    fn ngl_offloads_the_last_layers_and_the_head_last() {
        let (m, w) = setup("deepseek-r1-distill-qwen-7b", "Q4_K_M");
        let s = RunSettings::default();
        // -ngl counts the output head as the last of n_layer + 1 layers: -ngl 10
        // offloads the head and blocks 19..27 of 28.
        let a = ngl(10);
        let p = place(&m, &w, &s, &[gpu(24)], None, &a).unwrap();
        assert_eq!(p.gpu_layers(), 9);
        assert_eq!(p.layer_loc[19], Loc::Gpu(0));
        assert_eq!(p.layer_loc[18], Loc::Cpu);
        assert_eq!(p.output_loc, Loc::Gpu(0));
        let a = ngl(28);
        let p = place(&m, &w, &s, &[gpu(24)], None, &a).unwrap();
        assert_eq!(p.layer_loc[0], Loc::Cpu);
        let a = ngl(0);
        let p = place(&m, &w, &s, &[gpu(24)], None, &a).unwrap();
        assert_eq!((p.gpu_layers(), p.output_loc), (0, Loc::Cpu));
    }

    #[test]
    fn tensor_split_spreads_layers_in_proportion() {
        let (m, w) = setup("deepseek-r1-distill-llama-70b", "Q4_K_M");
        let s = ctx(8192);
        let a = PlacementArgs {
            tensor_split: Some(vec![3.0, 1.0]),
            ..Default::default()
        };
        let p = place(&m, &w, &s, &[gpu(48), gpu(24)], None, &a).unwrap();
        let on0 = p.layer_loc.iter().filter(|l| **l == Loc::Gpu(0)).count();
        // 81 offloaded layers (80 + head) × 3/4 → layers with fraction < 0.75.
        assert_eq!(on0, 61);
        assert_eq!(p.output_loc, Loc::Gpu(1));
        let row = PlacementArgs {
            split_mode: SplitMode::Row,
            tensor_split: Some(vec![1.0, 1.0]),
            ..Default::default()
        };
        let p = place(&m, &w, &s, &[gpu(48), gpu(48)], None, &row).unwrap();
        let (a0, a1) = (p.devices[1].weights.0 as f64, p.devices[2].weights.0 as f64);
        assert!((a0 / a1 - 1.0).abs() < 0.01, "{a0} {a1}");
        assert!(
            p.devices[2].kv == Bytes::ZERO,
            "row split keeps KV on the main GPU"
        );
    }

    #[test]
    fn experts_in_ram_put_r1_on_one_24_gib_gpu() {
        let (m, w) = setup("deepseek-r1", "Q4_K_M");
        let s = ctx(16384);
        let a = on_cpu("exps");
        let p = place(&m, &w, &s, &[gpu(24)], Some(Bytes::gib(384)), &a).unwrap();
        assert!(p.fits(), "{:?}", p.short());
        assert!(p.experts_on_cpu > Bytes::gib(300));
        assert!(p.devices[1].weights < Bytes::gib(20));
        assert!(
            p.devices[0].compute > Bytes::ZERO,
            "the experts' FFN runs on the CPU"
        );
    }

    #[test]
    fn no_kv_offload_keeps_the_cache_on_the_host() {
        let (m, w) = setup("deepseek-r1-distill-qwen-7b", "Q4_K_M");
        let s = ctx(32768);
        let a = PlacementArgs {
            no_kv_offload: true,
            ..Default::default()
        };
        let p = place(&m, &w, &s, &[gpu(24)], None, &a).unwrap();
        assert_eq!(p.devices[1].kv, Bytes::ZERO);
        assert_eq!(p.devices[0].kv, Bytes::mib(1792));
    }

    #[test]
    fn only_a_literal_block_prefix_narrows_a_rule() {
        assert_eq!(literal_layer(r"blk\.12\.ffn_down.*"), Some(12));
        assert_eq!(literal_layer(r"blk\.\d+\.ffn_(up|down)_exps"), None);
        assert_eq!(literal_layer("exps"), None);
        assert_eq!(literal_layer(r"blk\.1"), None, "blk.1 also matches blk.10");
        assert_eq!(literal_layer(r"blk\.1[0-9]\."), None);
    }

    #[test]
    fn bad_flags_are_errors() {
        let (m, w) = setup("deepseek-r1-distill-qwen-7b", "Q4_K_M");
        let s = RunSettings::default();
        let bad = on_cpu("(");
        assert!(matches!(
            place(&m, &w, &s, &[gpu(8)], None, &bad),
            Err(PlacementError::BadPattern(_))
        ));
        let bad = PlacementArgs {
            tensor_split: Some(vec![0.0, 0.0]),
            ..Default::default()
        };
        assert!(place(&m, &w, &s, &[gpu(8), gpu(8)], None, &bad).is_err());
        let bad = PlacementArgs {
            main_gpu: 3,
            ..Default::default()
        };
        assert!(place(&m, &w, &s, &[gpu(8)], None, &bad).is_err());
    }
}
