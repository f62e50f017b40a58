//! The model an estimate is about: its shape, every tensor with its type, and
//! where both came from. Catalog models are built here; GGUF files and remote
//! checkpoints are read by `canirun-io`, which fills the same struct.

use crate::model::{
    resolve, tensors::param_counts, Arch, CatalogEntry, MlaTensorLayout, ModelSpec,
};
use crate::quant::{weights, GgmlType, Quant, QuantError, StorageType, Weights};
use serde::Serialize;

/// Where a model's shape and tensor types come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelOrigin {
    /// The embedded catalog, with a quantization recipe.
    Catalog,
    /// A local GGUF file's header.
    File,
    /// A remote header read over HTTP ranges.
    Remote,
}

/// What the report says about the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// What the user typed.
    pub reference: String,
    /// Where the shape came from.
    pub origin: ModelOrigin,
    /// Catalog id, for catalog models.
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// Architecture (llama.cpp's name).
    pub arch: String,
    /// Parameters in the weights.
    pub params: u64,
    /// Training context of one sequence.
    pub n_ctx_train: u64,
    /// Hugging Face repository of the checkpoint, when known.
    pub hf_repo: Option<String>,
    /// Source of the parameter count (catalog models).
    pub params_source: Option<String>,
    /// Source of the configuration (catalog models).
    pub config_source: Option<String>,
    /// GGUF file type of a file, when its header names one.
    pub file_type: Option<String>,
    /// Split-file parts (local files).
    pub parts: Option<usize>,
    /// Header bytes fetched (remote models).
    pub bytes_fetched: Option<u64>,
    /// Size of the remote files.
    pub file_bytes: Option<u64>,
}

/// A model ready for estimation.
#[derive(Debug, Clone)]
pub struct Model {
    /// Shape.
    pub spec: ModelSpec,
    /// Every tensor with its type and size.
    pub weights: Weights,
    /// The quantization as printed (`Q4_K_M`, `UD-IQ1_S`, a file's mixture).
    pub quant_label: String,
    /// The catalog entry and quantization, for catalog models (commands need them).
    pub catalog: Option<(&'static CatalogEntry, Quant)>,
    /// What the report shows about it.
    pub info: ModelInfo,
    /// Sources, one line.
    pub sources: String,
    /// The file was converted with the old MLA layout and its cache is expanded.
    pub expanded_mla: bool,
    /// Caveats found while loading.
    pub notes: Vec<String>,
}

/// Why a catalog model cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The name is unknown or ambiguous.
    #[error(transparent)]
    Resolve(#[from] crate::model::ResolveError),
    /// The quantization does not parse.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// A publisher recipe for another architecture.
    #[error("{recipe} is a recipe for {arch} models (DeepSeek R1/V3), not {model}; pick a standard quant such as Q4_K_M")]
    RecipeForOtherArch {
        /// The recipe.
        recipe: String,
        /// Its architecture.
        arch: String,
        /// The model named.
        model: String,
    },
}

/// The quantization llama.cpp users get when they name none.
pub const DEFAULT_QUANT: &str = "Q4_K_M";

/// gpt-oss under a llama.cpp file type that re-quantizes its MXFP4 experts: what
/// llama-quantize does with it, and why published files of that name are smaller.
fn gpt_oss_requantized_note(spec: &ModelSpec, quant: &Quant, w: &Weights) -> Option<String> {
    let requantized = spec.arch == Arch::GptOss
        && quant.is_gguf()
        && w.tensors.iter().any(|t| {
            t.tensor.base.ends_with("_exps.weight")
                && !matches!(t.storage, StorageType::Ggml(GgmlType::MXFP4))
        });
    requantized.then(|| format!(
        "gpt-oss under {quant} as llama-quantize makes it: the 2880-wide rows are not a multiple of 256, so each k-quant falls back (Q4_K -> Q5_0, Q6_K -> Q8_0; llama.cpp src/llama-quant.cpp tensor_type_fallback) and the MXFP4 experts are re-quantized: {} here. Published gpt-oss \"{quant}\" GGUFs keep the experts in MXFP4 and are close to the MXFP4_MOE size: pass -q MXFP4_MOE to size one of those",
        w.total()
    ))
}

impl Model {
    /// A catalog model (`deepseek-r1:7b`, `r1-70b`, an HF id) under `quant`
    /// (else the tag's quantization, else Q4_K_M).
    pub fn from_catalog(
        name: &str,
        quant: Option<&str>,
        imatrix: bool,
        mla_tensors: MlaTensorLayout,
    ) -> Result<Model, ModelError> {
        let r = resolve(name)?;
        // An Ollama tag without a quantization means the tag's default, where
        // the Ollama library's published default was seen.
        let tag_default = r
            .entry
            .ollama_quant
            .as_deref()
            .filter(|q| r.via_ollama_tag && *q != "unverified");
        let text = quant
            .map(str::to_string)
            .or(r.quant.clone())
            .or(tag_default.map(str::to_string))
            .unwrap_or_else(|| DEFAULT_QUANT.to_string());
        let parsed = Quant::parse(&text)?.with_imatrix(imatrix);
        let mut m = Self::from_entry(name, r.entry, parsed, mla_tensors)?;
        if quant.is_none() && r.quant.is_none() && r.via_ollama_tag {
            m.notes.push(match tag_default {
                Some(q) => format!(
                    "{name}: Ollama's default quantization for this tag is {q} ({})",
                    r.entry.ollama_quant_source.as_deref().unwrap_or("source in models.toml")
                ),
                None => format!(
                    "{name}: the quantization behind this Ollama tag is unverified; sized as {DEFAULT_QUANT} (pass -q to choose)"
                ),
            });
        }
        Ok(m)
    }

    /// A catalog entry under a parsed quantization.
    pub fn from_entry(
        reference: &str,
        entry: &'static CatalogEntry,
        quant: Quant,
        mla_tensors: MlaTensorLayout,
    ) -> Result<Model, ModelError> {
        let spec = entry.spec();
        if let Some(v) = quant.variant() {
            if let Some(arch) = &v.arch {
                if arch != spec.arch.as_str() {
                    return Err(ModelError::RecipeForOtherArch {
                        recipe: v.name.to_string(),
                        arch: arch.clone(),
                        model: spec.name.clone(),
                    });
                }
            }
        }
        let w = weights(&spec, &quant, mla_tensors);
        let counts = param_counts(&spec);
        let mut notes = Vec::new();
        if !quant.is_gguf() {
            notes.push(format!(
                "{quant} is not a GGUF format: weights are exact for that format, but llama.cpp cannot load it; the KV/compute terms follow llama.cpp and serve as a guide (vLLM and SGLang: --engine vllm)"
            ));
        }
        if let Some(n) = &entry.engine_note {
            notes.push(n.clone());
        }
        if let Some(v) = quant.variant() {
            notes.push(format!(
                "{} ({}): {}; source: {}",
                v.name, v.publisher, v.description, v.source
            ));
        }
        if let Some(n) = gpt_oss_requantized_note(&spec, &quant, &w) {
            notes.push(n);
        }
        Ok(Model {
            info: ModelInfo {
                reference: reference.to_string(),
                origin: ModelOrigin::Catalog,
                id: Some(entry.id.to_string()),
                name: entry.name.to_string(),
                arch: spec.arch.to_string(),
                params: counts.main,
                n_ctx_train: spec.n_ctx_train,
                hf_repo: Some(entry.hf_repo.to_string()),
                params_source: Some(entry.params_source.to_string()),
                config_source: Some(entry.config_source().to_string()),
                file_type: None,
                parts: None,
                bytes_fetched: None,
                file_bytes: None,
            },
            quant_label: quant.to_string(),
            sources: format!(
                "config {}; params {}",
                entry.config_source(),
                entry.params_source
            ),
            catalog: Some((entry, quant)),
            expanded_mla: false,
            spec,
            weights: w,
            notes,
        })
    }

    /// The same catalog model under another quantization (vLLM's checkpoint format).
    pub fn requantized(&self, quant: Quant, mla_tensors: MlaTensorLayout) -> Option<Model> {
        let (entry, _) = self.catalog.as_ref()?;
        Self::from_entry(&self.info.reference, entry, quant, mla_tensors).ok()
    }

    /// The catalog entry, when the model came from the catalog.
    pub fn entry(&self) -> Option<&'static CatalogEntry> {
        self.catalog.as_ref().map(|(e, _)| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gpt-oss at Q4_K_M as llama-quantize makes it says why it is larger than
    /// the published files of that name; the MXFP4_MOE file type keeps the experts.
    #[test]
    fn gpt_oss_k_quant_names_the_fallback() {
        let q4 = Model::from_catalog(
            "gpt-oss:120b",
            Some("Q4_K_M"),
            false,
            MlaTensorLayout::Split,
        )
        .unwrap();
        let note = q4
            .notes
            .iter()
            .find(|n| n.contains("tensor_type_fallback"))
            .expect("a note on the fallback");
        assert!(note.contains("MXFP4_MOE"), "{note}");
        let mx = Model::from_catalog(
            "gpt-oss:120b",
            Some("MXFP4_MOE"),
            false,
            MlaTensorLayout::Split,
        )
        .unwrap();
        assert!(!mx.notes.iter().any(|n| n.contains("tensor_type_fallback")));
        // The fallback types are larger than MXFP4 (4.25 bits per weight).
        assert!(q4.weights.total() > mx.weights.total());
    }
}
