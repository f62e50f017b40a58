//! Quantization: ggml tensor types, llama.cpp file-type mixtures, publisher
//! variants (bartowski `_L`/`_XL`, Unsloth dynamic), and non-GGUF formats
//! (the official FP8 checkpoint, AWQ/GPTQ, EXL2, MLX).

pub mod format;
pub mod ftype;
pub mod ggml_type;
pub mod recipe;
pub mod variant;

pub use format::{Quant, QuantError, StorageType};
pub use ftype::{FileType, ALL_FILE_TYPES};
pub use ggml_type::{GgmlType, ALL_GGML_TYPES};
pub use variant::{variants, Variant};

use crate::model::{enumerate_tensors, MlaTensorLayout, ModelSpec, TensorSpec};
use crate::units::Bytes;
use serde::Serialize;

/// Whether a string looks like a quantization name (used to split Ollama tags).
pub fn looks_like_quant(s: &str) -> bool {
    Quant::parse(s).is_ok()
}

/// One tensor with its storage type and size.
#[derive(Debug, Clone, Serialize)]
pub struct TensorWeight {
    /// The tensor.
    #[serde(flatten)]
    pub tensor: TensorSpec,
    /// How it is stored.
    pub storage: StorageType,
    /// Bytes it occupies.
    pub bytes: Bytes,
}

/// Every tensor of a model under a quantization: the exact weight bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Weights {
    /// The quantization applied.
    pub quant: String,
    /// The tensors llama.cpp loads (MTP layers excluded), in load order.
    pub tensors: Vec<TensorWeight>,
    /// What each tensor's name says (see [`Weights::roles`]), worked out on
    /// first use: the placement reads it for every tensor on every trial of
    /// a `--fit` search, and the names never change.
    #[serde(skip)]
    roles: std::sync::OnceLock<Vec<TensorRole>>,
    /// Each tensor's full GGUF name, spelled on first use (`-ot` matching).
    #[serde(skip)]
    names: std::sync::OnceLock<Vec<Box<str>>>,
    /// Which tensors each `-ot` pattern matches, by pattern: a search places
    /// the same weights under the same few patterns (`--cpu-moe`,
    /// `--n-cpu-moe`, a user's `-ot`) hundreds of times, and matching every
    /// tensor name against them was a fifth of `plan` for R1 671B.
    #[serde(skip)]
    matches: PatternMatches,
}

/// Per-pattern match lists of one [`Weights`] (a clone starts empty: the
/// clone's tensors may be changed).
#[derive(Debug, Default)]
struct PatternMatches(std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<[bool]>>>);

impl Clone for PatternMatches {
    fn clone(&self) -> Self {
        PatternMatches::default()
    }
}

/// Most patterns remembered per [`Weights`] (`--fit`'s per-block patterns
/// are matched through their block, not here; this bounds the rest).
const MAX_PATTERNS: usize = 256;

/// The stage of llama.cpp's graph a tensor belongs to, as far as its
/// compute buffer is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorStage {
    /// A routed-expert tensor (`*_exps.*`): the MoE FFN.
    RoutedExperts,
    /// A dense FFN tensor of a block (`ffn_*`, not the shared expert, not the router).
    DenseFfn,
    /// An attention tensor (`attn_*`).
    Attention,
    /// Anything else (norms, router, shared expert, embedding, output).
    Other,
}

/// What a tensor's name tells the placement, read once per [`Weights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorRole {
    /// The token embedding (`token_embd.weight`, outside the blocks).
    pub embedding: bool,
    /// `rope_freqs.weight` outside the blocks.
    pub rope_freqs: bool,
    /// A matrix (2+ dimensions, a `*weight` tensor): split by rows under `-sm row`.
    pub matrix: bool,
    /// Its stage.
    pub stage: TensorStage,
}

impl TensorRole {
    /// Read the role of `t` from its name and shape.
    pub fn of(t: &TensorSpec) -> TensorRole {
        let b: &str = &t.base;
        let stage = if t.is_routed_expert() {
            TensorStage::RoutedExperts
        } else if b.starts_with("ffn_") && !b.contains("shexp") {
            if t.layer.is_some() && !b.contains("gate_inp") {
                TensorStage::DenseFfn
            } else {
                TensorStage::Other
            }
        } else if b.starts_with("attn_") {
            TensorStage::Attention
        } else {
            TensorStage::Other
        };
        TensorRole {
            embedding: t.layer.is_none() && b == "token_embd.weight",
            rope_freqs: t.layer.is_none() && b == "rope_freqs.weight",
            matrix: t.n_dims() >= 2 && b.ends_with("weight"),
            stage,
        }
    }
}

impl Weights {
    /// Weights of these tensors under the quantization named `quant`.
    pub fn new(quant: String, tensors: Vec<TensorWeight>) -> Weights {
        Weights {
            quant,
            tensors,
            roles: Default::default(),
            names: Default::default(),
            matches: Default::default(),
        }
    }

    /// Whether `re` matches each tensor's full name (as [`Weights::names`]),
    /// in the order of [`Weights::tensors`]; worked out once per pattern.
    pub fn matches(&self, re: &regex::Regex) -> std::sync::Arc<[bool]> {
        let names = self.names();
        let key = re.as_str();
        // A poisoned lock holds whole entries only.
        let mut cache = self.matches.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = cache.get(key) {
            if m.len() == names.len() {
                return m.clone();
            }
        }
        let m: std::sync::Arc<[bool]> = names.iter().map(|n| re.is_match(n)).collect();
        if cache.len() >= MAX_PATTERNS {
            cache.clear();
        }
        cache.insert(key.to_string(), m.clone());
        m
    }

    /// Each tensor's role, in the order of [`Weights::tensors`]. Worked out
    /// once; a caller that has since added or removed tensors gets them
    /// worked out afresh (only the sizes may change in place).
    pub fn roles(&self) -> std::borrow::Cow<'_, [TensorRole]> {
        let of_all = || {
            self.tensors
                .iter()
                .map(|t| TensorRole::of(&t.tensor))
                .collect::<Vec<_>>()
        };
        let r = self.roles.get_or_init(of_all);
        if r.len() == self.tensors.len() {
            std::borrow::Cow::Borrowed(r)
        } else {
            std::borrow::Cow::Owned(of_all())
        }
    }

    /// Each tensor's full GGUF name (`blk.3.ffn_up_exps.weight`), in the
    /// order of [`Weights::tensors`], spelled once (see [`Weights::roles`]).
    pub fn names(&self) -> std::borrow::Cow<'_, [Box<str>]> {
        let of_all = || {
            self.tensors
                .iter()
                .map(|t| t.tensor.name().into_owned().into_boxed_str())
                .collect::<Vec<_>>()
        };
        let n = self.names.get_or_init(of_all);
        if n.len() == self.tensors.len() {
            std::borrow::Cow::Borrowed(n)
        } else {
            std::borrow::Cow::Owned(of_all())
        }
    }

    /// Total bytes of the loaded tensors.
    pub fn total(&self) -> Bytes {
        self.tensors.iter().map(|t| t.bytes).sum()
    }

    /// Bytes of the tensors of one block.
    pub fn layer_bytes(&self, il: u64) -> Bytes {
        self.tensors
            .iter()
            .filter(|t| t.tensor.layer == Some(il))
            .map(|t| t.bytes)
            .sum()
    }

    /// Bytes of every block, indexed by block, in one pass over the tensors.
    pub fn per_layer(&self, n_layer: u64) -> Vec<Bytes> {
        let mut v = vec![Bytes::ZERO; n_layer as usize];
        for t in &self.tensors {
            if let Some(slot) = t.tensor.layer.and_then(|l| v.get_mut(l as usize)) {
                *slot += t.bytes;
            }
        }
        v
    }

    /// Bytes outside the repeating blocks (embedding, output head, final norm).
    pub fn non_layer_bytes(&self) -> Bytes {
        self.tensors
            .iter()
            .filter(|t| t.tensor.layer.is_none())
            .map(|t| t.bytes)
            .sum()
    }

    /// Bytes of routed-expert tensors (those `-ot exps=CPU` moves to RAM).
    pub fn expert_bytes(&self) -> Bytes {
        self.tensors
            .iter()
            .filter(|t| t.tensor.is_routed_expert())
            .map(|t| t.bytes)
            .sum()
    }

    /// Number of parameters.
    pub fn n_params(&self) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.tensor.is_param)
            .map(|t| t.tensor.n_elements())
            .sum()
    }

    /// Count of tensors per storage type, largest share first.
    pub fn type_census(&self) -> Vec<(String, usize, Bytes)> {
        let mut m: std::collections::BTreeMap<String, (usize, Bytes)> = Default::default();
        for t in &self.tensors {
            let e = m.entry(t.storage.to_string()).or_default();
            e.0 += 1;
            e.1 += t.bytes;
        }
        let mut v: Vec<_> = m.into_iter().map(|(k, (n, b))| (k, n, b)).collect();
        v.sort_by_key(|x| std::cmp::Reverse(x.2));
        v
    }
}

/// Compute every tensor's type and size for `model` under `quant`.
pub fn weights(model: &ModelSpec, quant: &Quant, layout: MlaTensorLayout) -> Weights {
    let all = enumerate_tensors(model, layout);
    let storage = quant.storage_types(model, &all);
    let tensors = all
        .into_iter()
        .zip(storage)
        .filter(|(t, _)| t.in_gguf)
        .map(|(tensor, storage)| {
            let bytes = Bytes(storage.bytes(tensor.shape()));
            TensorWeight {
                tensor,
                storage,
                bytes,
            }
        })
        .collect();
    Weights::new(quant.to_string(), tensors)
}

/// Bytes of the whole original checkpoint (MTP layers and their embedding/head copies included).
pub fn checkpoint_bytes(model: &ModelSpec, quant: &Quant) -> Bytes {
    let all = enumerate_tensors(model, MlaTensorLayout::Fused);
    let storage = quant.storage_types(model, &all);
    let mut total: u64 = all
        .iter()
        .zip(&storage)
        .map(|(t, s)| s.bytes(t.shape()))
        .sum();
    // Each MTP layer stores its own copy of the embedding and the output head, unquantized.
    let head = StorageType::Ggml(GgmlType::BF16).bytes(&[model.n_embd, model.n_vocab]);
    total += model.n_mtp_layers * 2 * head;
    Bytes(total)
}

#[cfg(test)]
mod tests;
