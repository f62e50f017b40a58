//! Plain text of the report's parts that every front end prints the same way
//! (the terminal today, the web page's text next): one `Display` impl or
//! method per concept, so that no front end words a verdict or a term list
//! its own way.

use crate::hardware::Device;
use crate::memory::verdict::Verdict;
use crate::memory::MemoryBreakdown;
use crate::memory::{FlashAttn, RunSettings};
use crate::pipeline::{
    estimate, FitTrace, Model, Report, Request, ServerReport, SpeculativeReport, Speed, SpeedReport,
};
use crate::placement::llama_cpp::fit::LayerFraction;
use crate::speed::Estimate;
use crate::units::Bytes;
use std::fmt::{self, Write as _};

pub mod compare;
pub mod plan;
pub mod report;
pub mod speed;
pub mod table;
pub mod validate;

impl fmt::Display for Verdict {
    /// `FITS, 2.03 GiB to spare`, `DOES NOT FIT: …`, with what to do when unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Fits { headroom } => write!(f, "FITS, {headroom} to spare"),
            Verdict::FitsOffloaded { gpu_layers, n_layer, in_ram } => write!(
                f,
                "FITS WITH PART OFFLOADED: {gpu_layers}/{n_layer} blocks on the GPU, {in_ram} of weights in system RAM; expect slower generation"
            ),
            Verdict::DoesNotFit { short_by, pool } => {
                write!(f, "DOES NOT FIT: {pool} is short by {short_by}")
            }
            Verdict::Unknown => f.write_str(
                "no memory to check against; name the hardware (--gpu 4090) or give --vram/--ram",
            ),
        }
    }
}

impl fmt::Display for SpeculativeReport {
    /// The speculative decoding line (MTP or a draft model): decode with it, and why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "with {} speculative decoding ({} draft token{}, {:.0}% accepted): {:.2} tokens per step, decode {} (×{:.2}; verify costs {:.2}, drafting {:.2} one-token decodes)",
            self.drafter,
            self.draft_tokens,
            if self.draft_tokens == 1 { "" } else { "s" },
            self.acceptance * 100.0,
            self.tokens_per_step,
            self.decode,
            self.speedup,
            self.verify_cost,
            self.draft_cost
        )
    }
}

impl Estimate {
    /// Every term, one line each: label, time, formula.
    pub fn terms_text(&self) -> String {
        let mut s = String::new();
        for t in &self.terms {
            let secs = t.seconds.to_string();
            let _ = writeln!(s, "  {:<44} {secs:>10}  {}", t.label, t.formula);
        }
        s
    }
}

impl MemoryBreakdown {
    /// The `--explain` listing: every term behind every part.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        for (name, part) in [
            ("weights", &self.weights),
            ("KV cache", &self.kv),
            ("compute buffer", &self.compute),
            ("output buffer", &self.output),
            ("overhead", &self.overhead),
        ] {
            let _ = writeln!(s, "{name} = {:#}", part.bytes);
            for term in &part.terms {
                let bytes = term.bytes.to_string();
                let _ = writeln!(s, "  {:<40} {bytes:>12}  {}", term.label, term.formula);
            }
        }
        s
    }
}

impl fmt::Display for FitTrace {
    /// llama.cpp's `--fit` search: every configuration it projected, one line each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (fit, targets) = (&self.fit, &self.targets);
        let list: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
        writeln!(
            f,
            "llama.cpp --fit: {} configurations projected (model + KV + compute per GPU; a partial layer keeps its routed experts in RAM; target = free − margin: {})",
            fit.probes.len(),
            list.join(", ")
        )?;
        writeln!(f, "llama-fit-params would print: {}", self.fit_params_line)?;
        for p in &fit.probes {
            let layers = if p.layers.is_empty() {
                p.kind.to_string()
            } else {
                let per_device: Vec<String> = p
                    .layers
                    .iter()
                    .map(|d| {
                        let first = match d.overflow {
                            _ if d.n_part == 0 => "",
                            LayerFraction::Moe => "",
                            LayerFraction::Up => ", the first sends gate+down",
                            LayerFraction::Gate => ", the first sends down only",
                            LayerFraction::Attn => ", the first sends its whole FFN",
                        };
                        format!("{} layers, {} partial{first}", d.n_layer, d.n_part)
                    })
                    .collect();
                per_device.join(" | ")
            };
            let used: Vec<String> = p
                .used
                .iter()
                .zip(targets)
                .map(|(u, t)| format!("{u}{}", if u <= t { "" } else { " (over)" }))
                .collect();
            writeln!(f, "  -c {:<7} {:<58} {}", p.n_ctx, layers, used.join(", "))?;
        }
        Ok(())
    }
}

/// `v`, or `–` when unknown.
pub fn dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

impl Device {
    /// Its memory in (binary) GB, `≤N GB` when it depends on the configuration.
    pub fn memory_label(&self) -> String {
        match (self.memory, self.memory_max) {
            (Some(m), _) => format!("{:.0} GB", m.as_gib()),
            (None, Some(m)) => format!("≤{:.0} GB", m.as_gib()),
            _ => "–".into(),
        }
    }

    /// Every figure of the catalog entry with a label, and its sources.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let (ic, src) = (&self.interconnect, &self.sources);
        let fabric = ic.fabric.as_deref().map(|f| format!(" ({f})"));
        vec![
            ("vendor / kind", format!("{} / {}", self.vendor, self.kind)),
            ("memory", self.memory_label()),
            ("memory type", dash(self.memory_type.as_deref())),
            ("bandwidth", dash(self.bandwidth)),
            ("FP16 tensor (dense)", dash(self.fp16)),
            ("BF16 tensor (dense)", dash(self.bf16)),
            ("FP8 tensor (dense)", dash(self.fp8)),
            ("TDP", dash(self.tdp)),
            ("launch price", dash(self.price_note.as_deref())),
            ("bus", dash(ic.bus.as_deref())),
            ("PCIe bandwidth", dash(ic.pcie_bandwidth())),
            (
                "NVLink / fabric",
                dash(ic.nvlink) + &fabric.unwrap_or_default(),
            ),
            ("GPU cores", dash(self.gpu_cores)),
            (
                "CPU vector compute",
                dash(self.cpu.as_ref().map(|c| c.basis())),
            ),
            (
                "sources: CPU FLOP/cycle",
                dash(self.cpu.as_ref().map(|c| c.source.clone())),
            ),
            ("aliases", self.aliases.join(", ")),
            ("sources", src.row.clone()),
            ("sources: BF16/FP8", dash(src.flops.as_deref())),
            ("sources: links", dash(src.interconnect.as_deref())),
            ("sources: platform", dash(src.platform.as_deref())),
            ("notes", dash(self.notes.as_deref())),
        ]
    }
}

impl ServerReport {
    /// vLLM/SGLang's memory per GPU, part by part: name, size, what it is
    /// (`quant`: the weights' quantization).
    pub fn parts(&self, quant: &str) -> [(&'static str, Bytes, String); 5] {
        let (g, v) = (&self.per_gpu, &self.settings);
        let (tp, pp) = (v.tensor_parallel, v.pipeline_parallel);
        [
            (
                "usable",
                g.usable,
                format!(
                    "{} × gpu_memory_utilization {}",
                    self.gpu_memory, v.gpu_memory_utilization
                ),
            ),
            (
                "weights",
                g.weights,
                format!("{quant} weights / (TP {tp} × PP {pp})"),
            ),
            (
                "non-torch",
                g.non_torch,
                "CUDA context, cuBLAS, NCCL (vllm#10511)".to_string(),
            ),
            (
                "activations",
                g.activation,
                format!(
                    "profiling pass at {} batched tokens + sampler",
                    v.max_num_batched_tokens
                ),
            ),
            (
                "KV pool",
                g.kv_pool,
                format!("{} tokens × {} per token", g.kv_tokens, g.kv_per_token),
            ),
        ]
    }
}

impl SpeedReport {
    /// The notes of every estimate, once each, without the remark that terms
    /// are per token.
    pub fn notes(&self) -> Vec<&String> {
        let mut notes: Vec<&String> = Vec::new();
        let estimates = self
            .prefill
            .iter()
            .chain(self.decode.iter().map(|d| &d.estimate));
        for n in estimates.flat_map(|e| &e.notes) {
            if !notes.contains(&n) && !n.starts_with("terms are per token") {
                notes.push(n);
            }
        }
        notes
    }
}

impl RunSettings {
    /// `depths` within the context of one sequence (at least depth 0).
    pub fn depths_within(&self, depths: &[u64]) -> Vec<u64> {
        let per_seq = self.context_per_sequence().max(1);
        let mut v: Vec<u64> = depths.iter().copied().filter(|&d| d <= per_seq).collect();
        if v.is_empty() {
            v.push(0);
        }
        v
    }
}

/// The same request with flash attention the other way, as one line: the
/// guide's "up to 2×", for this model, backend and context (`r`: the report
/// of `req`).
pub fn flash_attention_effect(req: &Request<'_>, r: &Report) -> Option<String> {
    let on = r.memory.as_ref().is_some_and(|m| m.resolved.flash_attn);
    let mut other = req.clone();
    other.settings.flash_attn = if on { FlashAttn::Off } else { FlashAttn::On };
    let alt = estimate(&other).ok()?;
    let (a, b) = (r.speed.report()?, alt.speed.report()?);
    let rate = |e: Option<&Estimate>| e.map_or_else(|| "–".into(), |e| e.rate.to_string());
    let (da, db) = (a.decode_last(), b.decode_last());
    Some(format!(
        "flash attention {} → {}: prefill {} → {}, decode at {} tokens {} → {}",
        if on { "on" } else { "off" },
        if on { "off" } else { "on" },
        rate(a.prefill.as_ref()),
        rate(b.prefill.as_ref()),
        da.depth,
        da.estimate.rate,
        db.estimate.rate
    ))
}

impl Report {
    /// The model, quantization, engine and what the memory was sized for
    /// (llama.cpp: two lines; vLLM/SGLang: one); `None` without either.
    pub fn headline(&self, model: &Model) -> Option<String> {
        let spec = &model.spec;
        match (&self.memory, &self.server) {
            (Some(b), _) => {
                let res = &b.resolved;
                Some(format!(
                    "{} ({}, {:.2}B params) · {} · llama.cpp on {}\ncontext {} ({}), flash attention {}, cache K {} / V {}, micro-batch {} tokens",
                    spec.name,
                    spec.arch,
                    model.weights.n_params() as f64 / 1e9,
                    self.quant,
                    self.settings.backend,
                    res.n_ctx,
                    if res.n_stream == 1 && self.settings.n_parallel > 1 {
                        format!(
                            "{} slots share one unified cache, each up to {}",
                            self.settings.n_parallel, res.n_ctx_seq
                        )
                    } else {
                        format!("{} per sequence × {}", res.n_ctx_seq, res.n_stream)
                    },
                    if res.flash_attn { "on" } else { "off" },
                    self.settings.type_k,
                    self.settings.type_v,
                    res.n_tokens
                ))
            }
            (None, Some(s)) => Some(format!(
                "{} · {} · {} on {} × {} (TP {}, PP {})",
                spec.name,
                self.quant,
                self.engine,
                s.gpus_used,
                self.hardware.gpu_names.first().cloned().unwrap_or_default(),
                s.settings.tensor_parallel,
                s.settings.pipeline_parallel
            )),
            _ => None,
        }
    }
}

impl fmt::Display for Speed {
    /// `speed: prefill …, generation …` with ranges, then the MTP line and the
    /// time to a full answer when there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sp = match self {
            Speed::Estimated(sp) => sp,
            Speed::NotEstimated { reason } => return write!(f, "speed: not estimated: {reason}"),
        };
        let pre = match (&sp.prefill, &sp.prefill_missing) {
            (Some(p), _) => format!(
                "prefill {} ({}-token prompt: first token after {}), ",
                p.rate, p.tokens, p.seconds
            ),
            (None, Some(why)) => format!("prefill not estimated: {why}; "),
            _ => String::new(),
        };
        let (first, last) = (sp.decode_first(), sp.decode_last());
        write!(
            f,
            "speed: {pre}generation {} on an empty context, {} at {} tokens (ranges {}–{} and {}–{})",
            first.rate,
            last.estimate.rate,
            last.depth,
            first.low,
            first.high,
            last.estimate.low,
            last.estimate.high
        )?;
        if let Some(m) = &sp.speculative {
            write!(f, "\n{m}")?;
        }
        if let Some(at) = &sp.answer {
            write!(
                f,
                "\ntime to a full R1 answer: {} ({} prompt + {} thinking + {} answer tokens; {}–{})",
                at.total,
                at.prompt_tokens,
                at.thinking_tokens,
                at.answer_tokens,
                at.total_low,
                at.total_high
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for crate::validate::Skipped {
    /// `line N: what: why`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.what, self.reason)
    }
}

impl crate::validate::fit::FitReport {
    /// One line per decision that differs from llama-fit-params, with why.
    pub fn differences(&self) -> Vec<String> {
        let rows = self.rows.iter().filter(|r| !r.agree);
        rows.map(|r| match &r.why {
            Some(w) => format!("line {}: differs because {w}", r.line),
            None => format!("line {}: differs, and no projection explains it", r.line),
        })
        .collect()
    }

    /// The closing line: decisions, agreements, and differences a projection explains.
    pub fn summary_line(&self) -> String {
        format!(
            "summary: decisions={} agree={} differ={} (explained by a projection: {})",
            self.total,
            self.agree,
            self.total - self.agree,
            self.explained()
        )
    }
}

impl fmt::Display for crate::validate::fit::ProbeStats {
    /// How close canirun's projections are to llama.cpp's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "projections: {} compared, median |diff| {} MiB, max {} MiB (llama.cpp prints whole MiB)",
            self.compared, self.median_abs_diff_mib, self.max_abs_diff_mib
        )
    }
}

impl fmt::Display for crate::pipeline::QuantCommand {
    /// The command with its engine, quantization and version note, then the
    /// files it needs (Modelfile, config) and its notes, indented.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.command;
        write!(
            f,
            "# {} ({})\n# {}\n{}",
            c.engine, self.quant, c.version_note, self.shell_line
        )?;
        let files = c.modelfile.iter().map(|m| ("Modelfile", m));
        for (name, content) in files.chain(c.config.iter().map(|x| (x.name.as_str(), &x.content))) {
            write!(f, "\n# {name}:")?;
            for l in content.lines() {
                write!(f, "\n  {l}")?;
            }
        }
        for n in &c.notes {
            write!(f, "\n  note: {n}")?;
        }
        Ok(())
    }
}

impl crate::validate::llama_cpp::LlamaCppReport {
    /// The tolerances (from the comparison's own constants) and how many rows meet them.
    pub fn pass_line(&self) -> String {
        use crate::validate::llama_cpp::{COMPUTE_ABS_MIB, COMPUTE_REL, TOTAL_REL};
        format!(
            "pass: weights, KV and CPU_REPACK exact (2 decimals; fit-params prints whole MiB), compute within {:.0}% or {COMPUTE_ABS_MIB:.0} MiB, total within {:.0}%: {} of {} rows",
            COMPUTE_REL * 100.0,
            TOTAL_REL * 100.0,
            self.rows.len() - self.failed(),
            self.rows.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::Runner;
    use crate::hardware::{Catalog, Target};
    use crate::model::{resolve, MlaTensorLayout};
    use crate::pipeline::{commands, CommandsRequest, ServerChoice};

    #[test]
    fn verdicts_say_what_to_do() {
        let v = Verdict::DoesNotFit {
            short_by: Bytes::gib(2),
            pool: "GPU0".into(),
        };
        assert_eq!(v.to_string(), "DOES NOT FIT: GPU0 is short by 2.00 GiB");
        assert!(Verdict::Unknown.to_string().contains("--gpu"));
    }

    #[test]
    fn a_report_reads_as_text() {
        let m = Model::from_catalog("deepseek-r1:7b", None, false, MlaTensorLayout::Split).unwrap();
        let t = Target::named(Catalog::embedded().unwrap(), &["4090"], None).unwrap();
        let r = estimate(&Request::new(&m, &t, RunSettings::default())).unwrap();
        let head = r.headline(&m).unwrap();
        assert!(
            head.contains("llama.cpp on cuda") && head.contains("context 4096"),
            "{head}"
        );
        let speed = r.speed.to_string();
        assert!(speed.starts_with("speed: prefill") && speed.contains("time to a full R1 answer"));
        let b = r.memory.as_ref().unwrap();
        assert!(b.explain().starts_with("weights = "));
        let cat = Catalog::embedded().unwrap();
        let facts = crate::hardware::resolve(cat, "4090").unwrap()[0]
            .device
            .facts();
        assert_eq!(facts[1], ("memory", "24 GB".to_string()));
    }

    #[test]
    fn commands_read_as_text_with_their_files() {
        let r = resolve("deepseek-r1:7b").unwrap();
        let set = commands(&CommandsRequest {
            reference: "deepseek-r1:7b",
            entry: r.entry,
            quant: None,
            runners: vec![Runner::Ollama],
            settings: RunSettings::default(),
            llama: Default::default(),
            hardware: None,
            mla_tensors: MlaTensorLayout::Split,
            server: ServerChoice {
                tensor_parallel: None,
                pipeline_parallel: None,
                gpus_per_node: 8,
                expert_parallel: false,
                kv_fp8: false,
                gpu_memory_utilization: 0.9,
                max_num_seqs: 256,
            },
            local_path: None,
        })
        .unwrap();
        let text = set.commands[0].to_string();
        assert!(text.starts_with("# ollama (Q4_K_M)"), "{text}");
        assert!(text.contains("# Modelfile:\n  FROM"), "{text}");
    }
}
