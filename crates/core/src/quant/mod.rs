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
}

impl Weights {
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
    Weights {
        quant: quant.to_string(),
        tensors,
    }
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
