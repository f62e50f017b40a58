//! Whether the engines accept a split of a model over a cluster, as their
//! own checks decide it, and the nearest split they accept when they do not.
//!
//! The rules, each from the engine's source:
//! - attention heads divide by the tensor-parallel size (vLLM
//!   `ModelConfig.verify_with_parallel_config`: "Total number of attention
//!   heads must be divisible by tensor parallel size"; SGLang and exo shard
//!   heads the same way);
//! - KV heads divide by it, or it by them (vLLM `QKVParallelLinear`
//!   replicates a KV head over `tp / n_kv` ranks); MLA caches one latent
//!   shared by all heads, so only the heads rule applies;
//! - the expert width (and the dense FFN width) divides by it, since each
//!   rank holds a slice of every expert (`FusedMoE` with TP);
//! - with expert parallelism the routed experts divide by the ranks, each
//!   holding whole experts;
//! - DP attention (SGLang `--enable-dp-attention`): the DP size divides the
//!   TP size, and the heads divide by the attention TP left (tp ÷ dp);
//! - pipeline stages get whole layers (vLLM `get_pp_indices`), no stage
//!   empty, so at most one stage per layer; the stages balance to within
//!   one layer.

use crate::model::ModelSpec;
use serde::Serialize;
use std::fmt;

/// A split over a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Split {
    /// Tensor-parallel ranks (each layer cut across them).
    pub tensor_parallel: u64,
    /// Pipeline stages (whole layers each).
    pub pipeline_parallel: u64,
    /// Routed experts spread whole over the tensor-parallel ranks.
    pub expert_parallel: bool,
    /// SGLang's DP attention: attention data-parallel over this many groups (1: off).
    pub dp_attention: u64,
}

impl Split {
    /// Devices the split uses.
    pub fn devices(&self) -> u64 {
        self.tensor_parallel * self.pipeline_parallel
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TP {} × PP {}",
            self.tensor_parallel, self.pipeline_parallel
        )?;
        if self.expert_parallel {
            write!(f, " with expert parallelism")?;
        }
        if self.dp_attention > 1 {
            write!(f, ", DP attention {}", self.dp_attention)?;
        }
        Ok(())
    }
}

/// Why an engine refuses a split, and the splits it would take instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// The split asked for.
    pub asked: Split,
    /// The engine's reason.
    pub reason: String,
    /// Legal splits nearest to it, nearest first (each with its device count).
    pub suggestions: Vec<Suggestion>,
}

/// A legal split offered instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The split.
    pub split: Split,
    /// Why it is offered (same devices, or a different node count).
    pub why: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is refused: {}", self.asked, self.reason)?;
        if !self.suggestions.is_empty() {
            let s: Vec<String> = self
                .suggestions
                .iter()
                .map(|s| format!("{} ({})", s.split, s.why))
                .collect();
            write!(f, "; nearest legal splits: {}", s.join("; "))?;
        }
        Ok(())
    }
}

/// The first rule `split` breaks for `spec`, if any.
pub fn violation(spec: &ModelSpec, split: &Split) -> Option<String> {
    let tp = split.tensor_parallel.max(1);
    let pp = split.pipeline_parallel.max(1);
    if !spec.n_head.is_multiple_of(tp) {
        return Some(format!(
            "{} attention heads do not divide by tensor parallelism {tp} ({} % {tp} = {})",
            spec.n_head,
            spec.n_head,
            spec.n_head % tp
        ));
    }
    let kv = spec.n_head_kv.max(1);
    if spec.mla.is_none() && !kv.is_multiple_of(tp) && !tp.is_multiple_of(kv) {
        return Some(format!(
            "{kv} KV heads neither divide by tensor parallelism {tp} nor divide it (a KV head can only be replicated a whole number of times)"
        ));
    }
    match spec.moe {
        Some(m) if split.expert_parallel && !m.n_expert.is_multiple_of(tp) => {
            return Some(format!(
                "{} routed experts do not divide over {tp} expert-parallel ranks",
                m.n_expert
            ));
        }
        Some(m) if !split.expert_parallel && !m.n_ff_exp.is_multiple_of(tp) => {
            return Some(format!(
                "the expert width {} does not divide by tensor parallelism {tp}",
                m.n_ff_exp
            ));
        }
        _ => {}
    }
    if spec.n_ff > 0 && !spec.n_ff.is_multiple_of(tp) {
        return Some(format!(
            "the FFN width {} does not divide by tensor parallelism {tp}",
            spec.n_ff
        ));
    }
    let dp = split.dp_attention.max(1);
    if dp > 1 {
        if !tp.is_multiple_of(dp) {
            return Some(format!(
                "DP attention {dp} does not divide tensor parallelism {tp}"
            ));
        }
        if !spec.n_head.is_multiple_of(tp / dp) {
            return Some(format!(
                "{} heads do not divide over the attention TP {} (tp {tp} ÷ dp {dp})",
                spec.n_head,
                tp / dp
            ));
        }
    }
    if pp > spec.n_layer {
        return Some(format!(
            "{pp} pipeline stages for {} layers leave a stage empty",
            spec.n_layer
        ));
    }
    None
}

/// Layers per pipeline stage as vLLM's `get_pp_indices` assigns them: an
/// even share each, the remainder one each to the stages just before the
/// last (`partitions[-i] += 1` for i in 2..rem+2; the last stage also holds
/// the output head).
pub fn stage_layers(n_layer: u64, pp: u64) -> Vec<u64> {
    let pp = pp.max(1);
    let base = n_layer / pp;
    let rem = n_layer % pp;
    (0..pp)
        .map(|j| base + u64::from(j + 1 < pp && j + 1 + rem >= pp))
        .collect()
}

/// Check `split` over `devices` devices; on refusal, the legal splits nearest
/// to it: first those with the same number of devices (sorted by how far
/// their TP is from the one asked), then the nearest legal TP below and above
/// on a different number of devices (nodes).
pub fn check(spec: &ModelSpec, split: Split, devices: u64) -> Result<Vec<String>, Refusal> {
    let Some(reason) = violation(spec, &split) else {
        let layers = stage_layers(spec.n_layer, split.pipeline_parallel);
        let mut ok = vec![format!(
            "{} heads ÷ TP {} = {} per rank",
            spec.n_head,
            split.tensor_parallel,
            spec.n_head / split.tensor_parallel.max(1)
        )];
        if let Some(m) = spec.moe {
            ok.push(if split.expert_parallel {
                format!(
                    "{} experts ÷ {} = {} whole experts per rank",
                    m.n_expert,
                    split.tensor_parallel,
                    m.n_expert / split.tensor_parallel.max(1)
                )
            } else {
                format!(
                    "expert width {} ÷ TP {} = {} per rank",
                    m.n_ff_exp,
                    split.tensor_parallel,
                    m.n_ff_exp / split.tensor_parallel.max(1)
                )
            });
        }
        if split.pipeline_parallel > 1 {
            let max = layers.iter().max().copied().unwrap_or(0);
            let min = layers.iter().min().copied().unwrap_or(0);
            ok.push(format!(
                "{} layers over {} stages: {} (the slowest stage has {} more layer{} than the fastest)",
                spec.n_layer,
                split.pipeline_parallel,
                layers
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" + "),
                max - min,
                if max - min == 1 { "" } else { "s" }
            ));
        }
        return Ok(ok);
    };
    let mut suggestions = Vec::new();
    let with = |tp: u64, pp: u64| Split {
        tensor_parallel: tp,
        pipeline_parallel: pp,
        dp_attention: if split.dp_attention > 1 {
            split.dp_attention.min(tp)
        } else {
            1
        },
        ..split
    };
    let mut same: Vec<Split> = (1..=devices)
        .filter(|tp| devices.is_multiple_of(*tp))
        .map(|tp| with(tp, devices / tp))
        .filter(|s| violation(spec, s).is_none())
        .collect();
    same.sort_by_key(|s| s.tensor_parallel.abs_diff(split.tensor_parallel));
    for s in same.into_iter().take(2) {
        suggestions.push(Suggestion {
            split: s,
            why: format!("the same {devices} devices"),
        });
    }
    let pp = split.pipeline_parallel.max(1);
    let below = (1..split.tensor_parallel)
        .rev()
        .map(|tp| with(tp, pp))
        .find(|s| violation(spec, s).is_none());
    let above = (split.tensor_parallel + 1..=split.tensor_parallel * 4)
        .map(|tp| with(tp, pp))
        .find(|s| violation(spec, s).is_none());
    for s in [below, above].into_iter().flatten() {
        if suggestions.iter().any(|x| x.split == s) {
            continue;
        }
        suggestions.push(Suggestion {
            split: s,
            why: format!("{} devices", s.devices()),
        });
    }
    Err(Refusal {
        asked: split,
        reason,
        suggestions,
    })
}
