//! The measurement loop, llama-bench style: `pp N` (a prompt of N tokens, one
//! token generated) and `tg N @ d` (N tokens generated after a prompt of d
//! tokens), each repeated, after one warm-up request. Every request's prompt
//! is new random words ([`crate::prompt`]), so a prefix cache cannot fake
//! prompt processing. A stop flag (Ctrl-C) ends the loop between requests;
//! an error ends it too; either way the finished tests are kept.

use crate::client::{Client, Sample, ServerInfo};
use crate::{prompt, BenchError};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a test measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKind {
    /// Prompt processing.
    Prefill,
    /// Token generation.
    Decode,
}

/// One test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Test {
    /// Prefill or decode.
    pub kind: TestKind,
    /// Prompt tokens (pp) or tokens generated (tg).
    pub tokens: u64,
    /// Tokens already in the context (tg: the prompt before generating).
    pub depth: u64,
}

impl Test {
    /// llama-bench's name: `pp512`, `tg128`, `tg128 @ d4096`.
    pub fn label(&self) -> String {
        let k = match self.kind {
            TestKind::Prefill => "pp",
            TestKind::Decode => "tg",
        };
        if self.depth == 0 {
            format!("{k}{}", self.tokens)
        } else {
            format!("{k}{} @ d{}", self.tokens, self.depth)
        }
    }

    /// Words of the prompt and tokens to generate.
    fn request(&self) -> (usize, u64) {
        match self.kind {
            TestKind::Prefill => ((self.depth + self.tokens) as usize, 1),
            // At least a few words, so the server has a prompt at all.
            TestKind::Decode => (self.depth.max(8) as usize, self.tokens),
        }
    }
}

/// The tests to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// In order.
    pub tests: Vec<Test>,
    /// Repetitions of each.
    pub repetitions: u32,
    /// One short request first, so loading and first-call costs stay out.
    pub warmup: bool,
    /// Seed of the prompts (a new one per run keeps a server's cache from
    /// an earlier run out too).
    pub seed: u64,
}

impl Plan {
    /// `pp` sizes, then `tg` at each depth.
    pub fn new(pp: &[u64], tg: u64, depths: &[u64], repetitions: u32) -> Plan {
        let mut tests: Vec<Test> = pp
            .iter()
            .map(|&n| Test {
                kind: TestKind::Prefill,
                tokens: n,
                depth: 0,
            })
            .collect();
        if tg > 0 {
            let depths = if depths.is_empty() { &[0][..] } else { depths };
            tests.extend(depths.iter().map(|&d| Test {
                kind: TestKind::Decode,
                tokens: tg,
                depth: d,
            }));
        }
        Plan {
            tests,
            repetitions: repetitions.max(1),
            warmup: true,
            seed: 0,
        }
    }
}

/// The samples of one test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    /// The test.
    pub test: Test,
    /// One per repetition done.
    pub samples: Vec<Sample>,
}

/// Mean and standard deviation.
pub fn mean_sd(x: &[f64]) -> Option<(f64, f64)> {
    if x.is_empty() {
        return None;
    }
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let var = if x.len() > 1 {
        x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Some((m, var.sqrt()))
}

impl TestResult {
    /// The figure the test is about: prefill tok/s for pp, decode tok/s for
    /// tg; mean and standard deviation over the repetitions.
    pub fn rate(&self) -> Option<(f64, f64)> {
        let v: Vec<f64> = match self.test.kind {
            TestKind::Prefill => self.samples.iter().map(|s| s.prefill_tps).collect(),
            TestKind::Decode => self.samples.iter().filter_map(|s| s.decode_tps).collect(),
        };
        mean_sd(&v)
    }

    /// The median of the same figure: what a loaded machine's one slow
    /// repetition (a descheduled thread) moves least. The table and the
    /// history keep the mean, as llama-bench reports (`avg_ts`, the mean of
    /// each repetition's t/s, tools/llama-bench/llama-bench.cpp).
    pub fn median_rate(&self) -> Option<f64> {
        let mut v: Vec<f64> = match self.test.kind {
            TestKind::Prefill => self.samples.iter().map(|s| s.prefill_tps).collect(),
            TestKind::Decode => self.samples.iter().filter_map(|s| s.decode_tps).collect(),
        };
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }

    /// Time to first token, mean and standard deviation, seconds.
    pub fn ttft(&self) -> Option<(f64, f64)> {
        mean_sd(&self.samples.iter().map(|s| s.ttft).collect::<Vec<_>>())
    }

    /// Mean prompt tokens the server counted (the prediction uses this).
    pub fn prompt_tokens(&self) -> u64 {
        let n = self.samples.len().max(1) as u64;
        self.samples.iter().map(|s| s.prompt_tokens).sum::<u64>() / n
    }

    /// Mean tokens generated.
    pub fn generated(&self) -> u64 {
        let n = self.samples.len().max(1) as u64;
        self.samples.iter().map(|s| s.generated).sum::<u64>() / n
    }
}

/// Everything a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// Tests with at least one sample, in order.
    pub results: Vec<TestResult>,
    /// The error that ended the run early, if one did.
    pub error: Option<BenchError>,
    /// Whether the stop flag ended the run early.
    pub interrupted: bool,
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The warm-up request is sent.
    Warmup,
    /// Repetition `rep` (from 0) of test `index` starts.
    Start {
        /// Test index in the plan.
        index: usize,
        /// The test.
        test: &'a Test,
        /// Repetition.
        rep: u32,
    },
    /// A sample arrived.
    Sample(&'a Sample),
}

/// Run `plan` against `client`, stopping early when `stop` is set or a
/// request fails; finished samples are kept either way.
pub fn run(
    client: &Client,
    info: &ServerInfo,
    plan: &Plan,
    stop: &AtomicBool,
    on: &mut dyn FnMut(Event<'_>),
) -> Outcome {
    let mut out = Outcome {
        results: vec![],
        error: None,
        interrupted: false,
    };
    if plan.warmup && !stop.load(Ordering::SeqCst) {
        on(Event::Warmup);
        if let Err(e) = client.complete(info, &prompt::words(16, plan.seed ^ u64::MAX), 4) {
            out.error = Some(e);
            return out;
        }
    }
    'tests: for (index, test) in plan.tests.iter().enumerate() {
        let mut result = TestResult {
            test: *test,
            samples: vec![],
        };
        for rep in 0..plan.repetitions {
            if stop.load(Ordering::SeqCst) {
                out.interrupted = true;
                push(&mut out, result);
                break 'tests;
            }
            on(Event::Start { index, test, rep });
            let (words, n_predict) = test.request();
            let seed = plan.seed.wrapping_add((index as u64) << 32 | rep as u64);
            match client.complete(info, &prompt::words(words, seed), n_predict) {
                Ok(s) => {
                    on(Event::Sample(&s));
                    result.samples.push(s);
                }
                Err(e) => {
                    // Ctrl-C during a request: the request's failure is the stop, not an error.
                    if stop.load(Ordering::SeqCst) {
                        out.interrupted = true;
                    } else {
                        out.error = Some(e);
                    }
                    push(&mut out, result);
                    break 'tests;
                }
            }
        }
        push(&mut out, result);
    }
    if stop.load(Ordering::SeqCst) {
        out.interrupted = true;
    }
    out
}

fn push(out: &mut Outcome, r: TestResult) {
    if !r.samples.is_empty() {
        out.results.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(prefill_tps: f64) -> Sample {
        Sample {
            prompt_tokens: 64,
            generated: 0,
            ttft: 64.0 / prefill_tps,
            prefill_tps,
            decode_tps: None,
            server_timed: true,
        }
    }

    /// One descheduled repetition (a loaded machine) drags the mean, not the median.
    #[test]
    fn median_resists_one_slow_repetition() {
        let r = TestResult {
            test: Test {
                kind: TestKind::Prefill,
                tokens: 64,
                depth: 0,
            },
            samples: [60.0, 61.0, 10.0, 59.0, 62.0].map(sample).to_vec(),
        };
        assert_eq!(r.median_rate(), Some(60.0));
        assert_eq!(r.rate().map(|m| m.0), Some(50.4));
        let even = TestResult {
            samples: [60.0, 62.0].map(sample).to_vec(),
            ..r.clone()
        };
        assert_eq!(even.median_rate(), Some(61.0));
    }
}
