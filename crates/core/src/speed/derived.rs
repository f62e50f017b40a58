//! Figures users ask for, built from prefill and decode: time to first
//! token, and the time to a full R1 answer (prompt + thinking + answer).

use super::roofline::{generation, prefill, Estimate};
use super::{Calibration, SpeedError, WorkSplit};
use crate::units::Seconds;
use serde::Serialize;

/// Default thinking tokens of an R1 answer.
pub const R1_THINKING_TOKENS: u64 = 12_000;

/// Where [`R1_THINKING_TOKENS`] comes from.
pub const R1_THINKING_TOKENS_SOURCE: &str = "deepseek-ai/DeepSeek-R1-0528 model card: on the AIME test set the original R1 used on average 12K tokens per question (R1-0528: 23K); hard maths, so an everyday question usually thinks less — set --thinking";

/// Default answer tokens after the thinking (an assumption: a page of text; set --answer).
pub const R1_ANSWER_TOKENS: u64 = 1_000;

/// Time to a full answer of a reasoning model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerTime {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Thinking tokens.
    pub thinking_tokens: u64,
    /// Answer tokens.
    pub answer_tokens: u64,
    /// Prompt processing = time to first token.
    pub prefill: Estimate,
    /// Thinking tokens, generated after the prompt.
    pub thinking: Estimate,
    /// Answer tokens, generated after prompt and thinking.
    pub answer: Estimate,
    /// Point estimate of the total.
    pub total: Seconds,
    /// Fastest plausible total (each part at the high end of its range).
    pub total_low: Seconds,
    /// Slowest plausible total.
    pub total_high: Seconds,
}

/// Prefill of `prompt`, then `thinking` and `answer` tokens generated at
/// the growing depth.
pub fn answer_time(
    p: &WorkSplit,
    prompt: u64,
    thinking: u64,
    answer: u64,
    cal: &Calibration,
) -> Result<AnswerTime, SpeedError> {
    let pre = prefill(p, prompt.max(1), 0, cal)?;
    let think = generation(p, thinking.max(1), prompt, cal)?;
    let ans = generation(p, answer.max(1), prompt.saturating_add(thinking), cal)?;
    let parts = [&pre, &think, &ans];
    let total = Seconds(parts.iter().map(|e| e.seconds.0).sum());
    let lo = Seconds(parts.iter().map(|e| e.seconds_range().0 .0).sum());
    let hi = Seconds(parts.iter().map(|e| e.seconds_range().1 .0).sum());
    Ok(AnswerTime {
        prompt_tokens: prompt.max(1),
        thinking_tokens: thinking.max(1),
        answer_tokens: answer.max(1),
        prefill: pre,
        thinking: think,
        answer: ans,
        total,
        total_low: lo,
        total_high: hi,
    })
}
