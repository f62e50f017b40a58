//! Models a llama.cpp command loads beside the main one: a draft model for
//! speculative decoding (`-md`) and a multimodal projector (`--mmproj`).
//! Their memory is added to the pool that holds them, so the verdict and
//! `--fit` see it, as llama.cpp's do.
//!
//! What llama.cpp does, at the pinned commit (0c1e57098):
//! * The draft context copies the main one's parameters
//!   (`common_base_params_to_speculative`, common/speculative.cpp): the same
//!   context size and sequences, the same devices, its own `-ngld` (default
//!   `auto`) and its own cache types `-ctkd`/`-ctvd` (default F16, not
//!   `-ctk`'s). There is no separate draft context size at this commit.
//!   `--fit` fits the draft together with the target model
//!   (`common_fit_extra_model`, common/common.cpp).
//! * The projector is loaded on the GPU unless `--no-mmproj-offload`
//!   (`mmproj_use_gpu = true`, common/common.h); with `--fit`, its memory
//!   (`mtmd_get_memory_usage`) is added to the fit target of its device
//!   (tools/server/server-context.cpp), so the main model leaves room for it.

use super::Model;
use crate::memory::{llama_cpp as mem, RunSettings, SettingsError};
use crate::placement::Loc;
use crate::quant::GgmlType;
use crate::units::Bytes;
use serde::Serialize;

/// A multimodal projector file (CLIP/SigLIP vision tower and projection),
/// sized from its tensors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projector {
    /// As the user named it.
    pub reference: String,
    /// Sum of its tensors' bytes, from the GGUF header.
    pub weights: Bytes,
    /// How many tensors.
    pub n_tensors: u64,
    /// `clip.projector_type` when the header says it.
    pub projector_type: Option<String>,
}

/// What the command loads beside the main model (none by default).
#[derive(Debug, Clone, Default)]
pub struct Companions {
    /// `-md`: the draft model.
    pub draft: Option<Box<Model>>,
    /// `-ctkd`, `-ctvd`: the draft's cache types (llama.cpp's default F16).
    pub draft_cache: Option<(GgmlType, GgmlType)>,
    /// `--spec-draft-n-max`: tokens drafted per step (None: llama.cpp's 3).
    pub draft_tokens: Option<u64>,
    /// Acceptance of each draft token (None:
    /// [`crate::speed::speculative::DRAFT_ACCEPTANCE`]).
    pub draft_acceptance: Option<f64>,
    /// `--mmproj`: the projector.
    pub mmproj: Option<Projector>,
    /// `--no-mmproj-offload`: the projector stays in system RAM.
    pub mmproj_on_cpu: bool,
}

impl PartialEq for Companions {
    /// Two sets are the same when they name the same models the same way.
    fn eq(&self, o: &Self) -> bool {
        let key = |m: &Option<Box<Model>>| {
            m.as_ref()
                .map(|m| (m.info.reference.clone(), m.weights.total()))
        };
        key(&self.draft) == key(&o.draft)
            && self.draft_cache == o.draft_cache
            && self.draft_tokens == o.draft_tokens
            && self.draft_acceptance == o.draft_acceptance
            && self.mmproj == o.mmproj
            && self.mmproj_on_cpu == o.mmproj_on_cpu
    }
}

/// One companion's memory in one pool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanionMemory {
    /// `draft model` or `vision projector`, with its name.
    pub what: String,
    /// The pool.
    pub loc: Loc,
    /// Bytes there.
    pub bytes: Bytes,
    /// How it was sized.
    pub terms: String,
}

impl std::fmt::Display for CompanionMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {}: {} ({})",
            self.what, self.loc, self.bytes, self.terms
        )
    }
}

impl Companions {
    /// The speculative decoding the draft model runs, when there is one.
    pub fn speculative(&self) -> Option<(&Model, super::Speculative)> {
        let d = self.draft.as_deref()?;
        Some((
            d,
            super::Speculative {
                draft_tokens: self.draft_tokens.unwrap_or(3),
                acceptance: self
                    .draft_acceptance
                    .unwrap_or(crate::speed::speculative::DRAFT_ACCEPTANCE),
            },
        ))
    }

    /// The llama.cpp flags that load them, as sized (a catalog name stands
    /// for its GGUF file).
    pub fn flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(d) = &self.draft {
            v.push(format!("-md {}", d.info.reference));
            if let Some((k, vt)) = self
                .draft_cache
                .filter(|c| *c != (GgmlType::F16, GgmlType::F16))
            {
                v.push(format!(
                    "-ctkd {} -ctvd {}",
                    k.name().to_ascii_lowercase(),
                    vt.name().to_ascii_lowercase()
                ));
            }
            if let Some(n) = self.draft_tokens.filter(|n| *n != 3) {
                v.push(format!("--spec-draft-n-max {n}"));
            }
        }
        if let Some(p) = &self.mmproj {
            v.push(format!("--mmproj {}", p.reference));
            if self.mmproj_on_cpu {
                v.push("--no-mmproj-offload".into());
            }
        }
        v
    }

    /// Whether the command loads anything beside the main model.
    pub fn is_empty(&self) -> bool {
        self.draft.is_none() && self.mmproj.is_none()
    }

    /// Their memory under the main model's settings `s` (context resolved),
    /// on the first GPU when there is one (llama.cpp's default for both: the
    /// draft's `-ngld auto` offloads every layer that fits, the projector
    /// `mmproj_use_gpu`), else in system RAM.
    pub fn memory(
        &self,
        s: &RunSettings,
        has_gpu: bool,
    ) -> Result<Vec<CompanionMemory>, SettingsError> {
        let gpu = if has_gpu { Loc::Gpu(0) } else { Loc::Cpu };
        let mut out = Vec::new();
        if let Some(d) = &self.draft {
            let (type_k, type_v) = self.draft_cache.unwrap_or((GgmlType::F16, GgmlType::F16));
            let ds = RunSettings {
                type_k,
                type_v,
                ..s.clone()
            };
            let b = mem::estimate(&d.spec, &d.weights, &ds)?;
            let name = &d.info.reference;
            // The backend's own context is the main model's: one process.
            let on_device = b.weights.bytes + b.kv.bytes + b.compute.bytes;
            out.push(CompanionMemory {
                what: format!("draft model {name}"),
                loc: gpu,
                bytes: on_device,
                terms: format!(
                    "weights {} + KV {} ({} tokens, cache {}/{}) + compute {}",
                    b.weights.bytes, b.kv.bytes, b.resolved.n_ctx, type_k, type_v, b.compute.bytes
                ),
            });
            out.push(CompanionMemory {
                what: format!("draft model {name} (output buffer)"),
                loc: Loc::Cpu,
                bytes: b.output.bytes,
                terms: format!("logits {}", b.output.bytes),
            });
        }
        if let Some(p) = &self.mmproj {
            let loc = if self.mmproj_on_cpu { Loc::Cpu } else { gpu };
            out.push(CompanionMemory {
                what: format!("vision projector {}", p.reference),
                loc,
                bytes: p.weights,
                terms: format!(
                    "{} tensors{} from the GGUF header; the image encoder's compute buffer (per image size) is not included",
                    p.n_tensors,
                    p.projector_type
                        .as_deref()
                        .map(|t| format!(" (projector {t})"))
                        .unwrap_or_default()
                ),
            });
        }
        Ok(out)
    }

    /// Why the draft may not work with `main`, when its vocabulary differs
    /// (llama.cpp's `common_speculative_are_compatible` refuses a draft whose
    /// vocabulary does not match the target's).
    pub fn vocab_warning(&self, main: &Model) -> Option<String> {
        let d = self.draft.as_ref()?;
        (d.spec.n_vocab != main.spec.n_vocab).then(|| {
            format!(
                "the draft model {} has a vocabulary of {} tokens, the main model {}: llama.cpp refuses a draft whose vocabulary differs",
                d.info.reference, d.spec.n_vocab, main.spec.n_vocab
            )
        })
    }
}

/// Bytes of `c` in pool `loc`.
pub(super) fn bytes_at(c: &[CompanionMemory], loc: Loc) -> Bytes {
    c.iter().filter(|m| m.loc == loc).map(|m| m.bytes).sum()
}
