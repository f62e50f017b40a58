//! Speculative decoding with DeepSeek's multi-token prediction (MTP) layer,
//! as vLLM (`--speculative-config '{"method":"deepseek_mtp",…}'`) and SGLang
//! (`--speculative-algorithm EAGLE`) run it: the MTP layer drafts `k` tokens,
//! the full model verifies them in one forward pass.
//!
//! * Tokens per step: with a per-token acceptance `a`, a step yields
//!   (1 − a^(k+1)) / (1 − a) tokens (the accepted drafts plus the verifier's
//!   own; Leviathan et al. 2023). DeepSeek-V3's report (arXiv 2412.19437,
//!   §5.4.3) measures 85–90 % acceptance of the second token and 1.8× the
//!   tokens per second with k = 1.
//! * Verify: one decode pass over k + 1 tokens. Memory-bound, so dense weights
//!   are read once; routed experts are read for every expert any of the k + 1
//!   tokens picks: 1 − (1 − used/total)^(k+1) of them, if tokens route
//!   independently (an upper bound: neighbouring tokens share experts).
//! * Draft: k passes of the MTP layer, which reads one block's active weights
//!   and the shared output head.
//!
//! llama.cpp's `-md` runs the same draft-and-verify loop with a separate
//! draft model ([`estimate_draft`]): the verify pass is the same, a draft
//! token costs the draft model's own decode on the same hardware.
//! The arithmetic is `speed::speculative`'s.

use super::{Model, Request, Speed, SpeedReport};
use crate::model::{enumerate_tensors, MlaTensorLayout};
use crate::speed::speculative::{step, StepTimes};
use crate::speed::{self, Calibration, WorkSplit};
use crate::units::{Bytes, TokensPerSecond};
use serde::Serialize;

/// DeepSeek-V3 technical report (arXiv 2412.19437, §5.4.3): "the acceptance
/// rate of the second token prediction ranges between 85% and 90%".
pub const MTP_ACCEPTANCE: f64 = 0.85;

/// Where [`MTP_ACCEPTANCE`] comes from.
pub const MTP_ACCEPTANCE_SOURCE: &str = "DeepSeek-V3 technical report (arXiv 2412.19437, §5.4.3): 85–90 % acceptance of the MTP token, 1.8× tokens per second";

/// What the user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Speculative {
    /// Draft tokens per step (vLLM's `num_speculative_tokens`).
    pub draft_tokens: u64,
    /// Probability that each draft token is accepted.
    pub acceptance: f64,
}

/// The estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeculativeReport {
    /// What drafts: `MTP` (the model's own layer) or `draft model NAME`.
    pub drafter: String,
    /// The request.
    pub draft_tokens: u64,
    /// Per-token acceptance assumed.
    pub acceptance: f64,
    /// Tokens one draft-and-verify step yields on average.
    pub tokens_per_step: f64,
    /// Time of the verify pass ÷ time of a one-token decode.
    pub verify_cost: f64,
    /// Time of the k draft passes ÷ time of a one-token decode.
    pub draft_cost: f64,
    /// Decode with MTP at the shallowest depth.
    pub decode: TokensPerSecond,
    /// Decode with MTP ÷ without.
    pub speedup: f64,
    /// Memory of the MTP layer on each GPU (its weights split like the rest).
    pub memory_per_gpu: Bytes,
    /// Where the acceptance and the method come from.
    pub source: &'static str,
}

/// Why there is no MTP estimate.
pub(super) fn unavailable(req: &Request<'_>) -> Option<String> {
    if req.model.spec.n_mtp_layers == 0 {
        return Some(format!("{} has no MTP layer", req.model.spec.name));
    }
    if matches!(req.engine, super::Engine::LlamaCpp(_)) {
        return Some(
            "llama.cpp's GGUF drops the MTP layer; vLLM and SGLang run it (--engine vllm)".into(),
        );
    }
    None
}

/// The k + 1 tokens' share of routed experts read, relative to one token's.
fn experts_touched(used: f64, tokens: f64) -> f64 {
    if used <= 0.0 {
        return 1.0;
    }
    (1.0 - (1.0 - used).powf(tokens)) / used
}

/// The target's verify pass over k + 1 tokens, in seconds: the report's
/// split with each share reading the experts k + 1 tokens touch.
fn verify_seconds(sp: &SpeedReport, k: f64, cal: &Calibration) -> Result<f64, String> {
    let mut verify: WorkSplit = sp.placement.clone();
    for d in &mut verify.devices {
        let f = d.expert_active_fraction;
        d.expert_active_fraction = (f * experts_touched(f, k + 1.0)).min(1.0);
        d.active_params *= k + 1.0;
        d.dot_cycles *= k + 1.0;
    }
    let depth = sp.decode[0].depth;
    Ok(speed::decode(&verify, depth, cal)
        .map_err(|e| e.to_string())?
        .seconds
        .0)
}

/// MTP speculative decoding on the report's speed placement.
pub(super) fn estimate(
    req: &Request<'_>,
    spec: Speculative,
    speed: &Speed,
    tensor_parallel: u64,
) -> Result<SpeculativeReport, String> {
    let sp = speed.report().ok_or("no speed to speed up")?;
    let cal = Calibration::embedded().map_err(|e| e.to_string())?;
    let k = spec.draft_tokens as f64;
    let t1 = sp.decode_first().seconds.0;
    let t_verify = verify_seconds(sp, k, cal)?;
    // Draft: one block's active reads plus the output head, per token.
    let m = &sp.placement.model;
    let head: u64 = req
        .model
        .weights
        .tensors
        .iter()
        .filter(|t| t.tensor.layer.is_none() && t.tensor.base == "output.weight")
        .map(|t| t.bytes.0)
        .sum();
    let per_block = m.active_bytes() / m.n_layer.max(1) as f64;
    let draft_share = (per_block + head as f64) / m.active_bytes().max(1.0);
    let r = step(
        spec.draft_tokens,
        spec.acceptance,
        StepTimes {
            one_token: t1,
            verify: t_verify,
            draft_token: t1 * draft_share,
        },
    )
    .map_err(|e| e.to_string())?;
    // The MTP layer's weights at the model's average bytes per parameter.
    let mtp_params: u64 = enumerate_tensors(&req.model.spec, MlaTensorLayout::Split)
        .iter()
        .filter(|t| t.is_param && t.layer.is_some_and(|l| l >= req.model.spec.n_layer))
        .map(|t| t.n_elements())
        .sum();
    let w = &req.model.weights;
    let bytes_per_param = w.total().0 as f64 / w.n_params().max(1) as f64;
    Ok(SpeculativeReport {
        drafter: "MTP".into(),
        draft_tokens: spec.draft_tokens,
        acceptance: spec.acceptance,
        tokens_per_step: r.tokens_per_step,
        verify_cost: r.verify_cost,
        draft_cost: r.draft_cost,
        decode: TokensPerSecond(r.tokens_per_second),
        speedup: r.speedup,
        memory_per_gpu: Bytes(
            (mtp_params as f64 * bytes_per_param / tensor_parallel.max(1) as f64) as u64,
        ),
        source: MTP_ACCEPTANCE_SOURCE,
    })
}

/// llama.cpp's speculative decoding with a draft model (`-md`): `spec.draft_tokens`
/// drafts per step (`--spec-draft-n-max`), each a decode of the draft model
/// on the same hardware (estimated through the same pipeline, as if it ran
/// alone there); `draft_memory` is what the draft takes on the GPU.
pub(super) fn estimate_draft(
    req: &Request<'_>,
    draft: &Model,
    spec: Speculative,
    speed: &Speed,
    draft_memory: Bytes,
) -> Result<SpeculativeReport, String> {
    let sp = speed.report().ok_or("no speed to speed up")?;
    let cal = Calibration::embedded().map_err(|e| e.to_string())?;
    let t1 = sp.decode_first().seconds.0;
    let t_verify = verify_seconds(sp, spec.draft_tokens as f64, cal)?;
    let alone = super::Request::new(draft, req.hardware, req.settings.clone());
    let dr = super::estimate(&alone).map_err(|e| format!("the draft model: {e}"))?;
    let t_draft = dr
        .speed
        .report()
        .ok_or("no speed estimate for the draft model")?
        .decode_first()
        .seconds
        .0;
    let r = step(
        spec.draft_tokens,
        spec.acceptance,
        StepTimes {
            one_token: t1,
            verify: t_verify,
            draft_token: t_draft,
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(SpeculativeReport {
        drafter: format!("draft model {}", draft.info.reference),
        draft_tokens: spec.draft_tokens,
        acceptance: spec.acceptance,
        tokens_per_step: r.tokens_per_step,
        verify_cost: r.verify_cost,
        draft_cost: r.draft_cost,
        decode: TokensPerSecond(r.tokens_per_second),
        speedup: r.speedup,
        memory_per_gpu: draft_memory,
        source: crate::speed::speculative::DRAFT_ACCEPTANCE_SOURCE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_tokens_touch_more_experts_but_never_all() {
        let one = experts_touched(8.0 / 256.0, 1.0);
        let two = experts_touched(8.0 / 256.0, 2.0);
        assert!((one - 1.0).abs() < 1e-12);
        assert!(two > 1.9 && two < 2.0, "{two}");
    }
}
