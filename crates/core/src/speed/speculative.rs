//! Speculative decoding's arithmetic, shared by the two drafters canirun
//! models: a model's own MTP layer (vLLM `--speculative-config
//! '{"method":"deepseek_mtp",…}'`, SGLang `--speculative-algorithm
//! EAGLE|NEXTN`) and a separate draft model (llama.cpp `-md`).
//!
//! A step drafts `k` tokens, then the target verifies all of them in one
//! forward pass over k + 1 tokens. With a per-token acceptance `a` (each
//! draft token accepted independently, given the ones before it were), a step
//! yields (1 − a^(k+1)) / (1 − a) tokens: the accepted prefix plus the
//! target's own token (Leviathan et al. 2023, arXiv 2211.17192, eq. 1).
//! The speed-up over plain decoding is those tokens × the one-token decode
//! time ÷ the step's time (verify + k draft passes).

/// Acceptance of a separate draft model's tokens assumed when none is given:
/// the share of drafted tokens llama.cpp's target accepted in its own
/// measurement (see [`DRAFT_ACCEPTANCE_SOURCE`]). That share is the
/// accepted ÷ drafted tokens, which for independent acceptance is at most the
/// per-token acceptance, so this default errs towards a smaller speed-up.
pub const DRAFT_ACCEPTANCE: f64 = 0.35;

/// Where [`DRAFT_ACCEPTANCE`] comes from.
pub const DRAFT_ACCEPTANCE_SOURCE: &str = "llama.cpp's measured acceptance with a draft model: 35.6% (ggml-org/llama.cpp#2926, 70B F16 target, 7B Q8_0 draft) and 34.3% (ggml-org/llama.cpp#10455, Qwen2.5-Coder 32B Q4_K_L target, 3B Q4_0 draft); the share of drafted tokens accepted, a lower bound on the per-token acceptance";

/// Tokens one draft-and-verify step yields on average: `k` drafts, each
/// accepted with probability `a` if the ones before it were, plus the
/// verifier's own token.
pub fn tokens_per_step(k: u64, a: f64) -> f64 {
    if a >= 1.0 {
        return k as f64 + 1.0;
    }
    (1.0 - a.powf(k as f64 + 1.0)) / (1.0 - a)
}

/// Why `k` and `a` cannot describe speculative decoding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpeculativeError {
    /// Acceptance outside (0, 1) or no token drafted.
    #[error("the acceptance must be between 0 and 1 and at least one token drafted (got {a}, {k} tokens)")]
    Inputs {
        /// Draft tokens.
        k: u64,
        /// Acceptance.
        a: f64,
    },
    /// A step time that is not positive.
    #[error("no positive decode time to speed up")]
    NoTime,
}

/// One step's timing, each time in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTimes {
    /// A plain one-token decode of the target.
    pub one_token: f64,
    /// The target's verify pass over k + 1 tokens.
    pub verify: f64,
    /// One draft token (an MTP layer pass, or a draft model's decode).
    pub draft_token: f64,
}

/// Speculative decoding's result for `k` drafts at acceptance `a`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    /// Tokens per step.
    pub tokens_per_step: f64,
    /// Tokens per second.
    pub tokens_per_second: f64,
    /// Over plain decoding.
    pub speedup: f64,
    /// The verify pass ÷ a one-token decode.
    pub verify_cost: f64,
    /// The k draft passes ÷ a one-token decode.
    pub draft_cost: f64,
}

/// The speed of speculative decoding given its step times.
pub fn step(k: u64, a: f64, t: StepTimes) -> Result<StepResult, SpeculativeError> {
    if !(a > 0.0 && a < 1.0) || k == 0 {
        return Err(SpeculativeError::Inputs { k, a });
    }
    let step = t.verify + k as f64 * t.draft_token;
    if !(t.one_token > 0.0 && step > 0.0) {
        return Err(SpeculativeError::NoTime);
    }
    let n = tokens_per_step(k, a);
    Ok(StepResult {
        tokens_per_step: n,
        tokens_per_second: n / step,
        speedup: n * t.one_token / step,
        verify_cost: t.verify / t.one_token,
        draft_cost: k as f64 * t.draft_token / t.one_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_draft_at_85_percent_yields_1_85_tokens() {
        assert!((tokens_per_step(1, 0.85) - 1.85).abs() < 1e-12);
        // Three drafts at 35%: 1 + 0.35 + 0.35² + 0.35³.
        let t = tokens_per_step(3, 0.35);
        assert!((t - (1.0 + 0.35 + 0.1225 + 0.042875)).abs() < 1e-12, "{t}");
    }

    #[test]
    fn a_free_draft_and_verify_give_the_tokens_per_step_as_speed_up() {
        let r = step(
            3,
            0.5,
            StepTimes {
                one_token: 0.01,
                verify: 0.01,
                draft_token: 0.0,
            },
        )
        .unwrap();
        assert!((r.speedup - tokens_per_step(3, 0.5)).abs() < 1e-12);
        // A draft as slow as the target never pays.
        let r = step(
            3,
            0.9,
            StepTimes {
                one_token: 0.01,
                verify: 0.01,
                draft_token: 0.01,
            },
        )
        .unwrap();
        assert!(r.speedup < 1.0, "{}", r.speedup);
        assert!(step(
            0,
            0.5,
            StepTimes {
                one_token: 1.0,
                verify: 1.0,
                draft_token: 0.0
            }
        )
        .is_err());
    }
}
