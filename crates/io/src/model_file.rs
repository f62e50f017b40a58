//! A model description from a GGUF header: the same [`ModelSpec`] and
//! [`Weights`] the catalog gives, so every estimate works on any GGUF of a
//! known architecture. Weights are exact to the byte (the header names every
//! tensor's type and shape); the shape facts come from the metadata keys
//! llama.cpp itself reads.

use crate::gguf::{GgufHeader, GgufModelFile, GgufValue};
use canirun_core::model::{Arch, MlaSpec, ModelSpec, MoeSpec, SwaSpec, TensorSpec};
use canirun_core::quant::{FileType, GgmlType, StorageType, TensorWeight, Weights};
use canirun_core::units::Bytes;
use std::borrow::Cow;

/// What a GGUF header says about its model.
#[derive(Debug, Clone)]
pub struct FileModel {
    /// Shape facts.
    pub spec: ModelSpec,
    /// Every tensor with its real type and bytes.
    pub weights: Weights,
    /// `general.file_type`, when it names a known mixture.
    pub file_type: Option<FileType>,
    /// The architecture string as written in the file.
    pub arch_name: String,
    /// A DeepSeek GGUF converted before llama.cpp's MLA support: current
    /// llama.cpp caches decompressed K/V heads for it (`--mla-cache expanded`).
    pub mla_expanded_cache: bool,
    /// Caveats to show with the numbers.
    pub notes: Vec<String>,
}

/// Why a header cannot describe a model.
#[derive(Debug, thiserror::Error)]
pub enum FileModelError {
    /// A key every transformer GGUF has is missing.
    #[error("the GGUF header has no '{0}' key; is this a language model converted by llama.cpp?")]
    MissingKey(String),
    /// A tensor type canirun does not know.
    #[error(
        "tensor '{tensor}' has ggml type id {type_id}, which canirun does not know; update canirun"
    )]
    UnknownType {
        /// Tensor name.
        tensor: String,
        /// ggml type id.
        type_id: u32,
    },
}

/// A number that may be stored per layer as an array: the largest value.
fn num(h: &GgufHeader, key: &str) -> Option<u64> {
    match h.get(key)? {
        GgufValue::Array(a) => a.values.iter().filter_map(GgufValue::as_u64).max(),
        v => v.as_u64(),
    }
}

/// Build the model description from a (possibly split) GGUF file.
pub fn from_gguf(file: &GgufModelFile, name: &str) -> Result<FileModel, FileModelError> {
    let h = file.header();
    let arch_name = h
        .architecture()
        .ok_or_else(|| FileModelError::MissingKey("general.architecture".into()))?
        .to_string();
    let key = |k: &str| format!("{arch_name}.{k}");
    let need = |k: &str| num(h, &key(k)).ok_or_else(|| FileModelError::MissingKey(key(k)));
    let mut notes = Vec::new();
    let arch = match Arch::parse(&arch_name) {
        Some(a) => a,
        None => {
            notes.push(format!(
                "architecture '{arch_name}' has no specific rules in canirun: weights are exact from the file, the KV cache and compute buffer are GENERIC estimates (every block caches n_head_kv × head_dim K and V)"
            ));
            Arch::Generic
        }
    };

    // Tensors first: they are exact whatever the metadata says.
    let mut tensors = Vec::new();
    let mut has_output = false;
    for part in file.parts() {
        for t in &part.header.tensors {
            let ty = GgmlType::from_id(t.ggml_type).ok_or_else(|| FileModelError::UnknownType {
                tensor: t.name.clone(),
                type_id: t.ggml_type,
            })?;
            let (layer, base) = split_block(&t.name);
            if layer.is_none() && base == "output.weight" {
                has_output = true;
            }
            let mut spec = TensorSpec::new(Cow::Owned(base.to_string()), &t.dims, layer);
            spec.is_param = base != "rope_freqs.weight";
            tensors.push(TensorWeight {
                tensor: spec,
                storage: StorageType::Ggml(ty),
                bytes: Bytes(t.n_bytes),
            });
        }
    }
    let embd_rows = tensors
        .iter()
        .find(|t| t.tensor.layer.is_none() && t.tensor.base == "token_embd.weight")
        .map(|t| t.tensor.dims[1]);

    let n_embd = need("embedding_length")?;
    let n_layer = need("block_count")?;
    let n_head = need("attention.head_count")?.max(1);
    let mut n_head_kv = num(h, &key("attention.head_count_kv"))
        .unwrap_or(n_head)
        .max(1);
    let head_k = num(h, &key("attention.key_length")).unwrap_or(n_embd / n_head);
    let head_v = num(h, &key("attention.value_length")).unwrap_or(head_k);
    let n_ff = num(h, &key("feed_forward_length")).unwrap_or(4 * n_embd);
    let n_vocab = embd_rows
        .or_else(|| num(h, &key("vocab_size")))
        .ok_or_else(|| FileModelError::MissingKey(key("vocab_size")))?;
    let moe = num(h, &key("expert_count"))
        .filter(|&n| n > 1)
        .map(|n_expert| MoeSpec {
            n_expert,
            n_expert_used: num(h, &key("expert_used_count")).unwrap_or(1),
            n_expert_shared: num(h, &key("expert_shared_count")).unwrap_or(0),
            n_ff_exp: num(h, &key("expert_feed_forward_length")).unwrap_or(n_ff),
            n_layer_dense_lead: num(h, &key("leading_dense_block_count")).unwrap_or(0),
        });
    let mut mla_expanded_cache = false;
    let (mut head_dim_k, mut head_dim_v) = (head_k, head_v);
    let mla = match num(h, &key("attention.kv_lora_rank")) {
        Some(kv_lora_rank) => {
            let rope = num(h, &key("rope.dimension_count")).unwrap_or(64);
            let q_lora_rank = num(h, &key("attention.q_lora_rank"));
            match (
                num(h, &key("attention.key_length_mla")),
                num(h, &key("attention.value_length_mla")),
            ) {
                (Some(k_mla), Some(v_mla)) => {
                    // Converted for llama.cpp's absorbed MLA: head_count_kv is 1 and
                    // key_length is the cached latent; the per-head sizes are the _mla keys.
                    n_head_kv = n_head;
                    head_dim_k = k_mla;
                    head_dim_v = v_mla;
                    Some(MlaSpec {
                        q_lora_rank,
                        kv_lora_rank,
                        qk_nope_head_dim: k_mla.saturating_sub(rope),
                        qk_rope_head_dim: rope,
                        v_head_dim: v_mla,
                    })
                }
                _ => {
                    mla_expanded_cache = true;
                    notes.push("this DeepSeek GGUF predates llama.cpp's MLA support (no key_length_mla): current llama.cpp caches decompressed K/V heads for it, 37× more than a newer conversion; re-download a GGUF converted after April 2025".into());
                    Some(MlaSpec {
                        q_lora_rank,
                        kv_lora_rank,
                        qk_nope_head_dim: head_k.saturating_sub(rope),
                        qk_rope_head_dim: rope,
                        v_head_dim: head_v,
                    })
                }
            }
        }
        None => None,
    };
    let swa = num(h, &key("attention.sliding_window"))
        .filter(|&w| w > 0)
        .and_then(|window| {
            // llama.cpp hard-codes the block pattern per architecture.
            let period = match arch {
                Arch::Gemma3 => 6,
                Arch::GptOss => 2,
                _ => {
                    notes.push(format!("sliding window {window} in the file, but canirun does not know {arch_name}'s block pattern: every block is sized with the full context"));
                    return None;
                }
            };
            Some(SwaSpec { window, period })
        });
    let spec = ModelSpec {
        id: name.to_string(),
        name: h
            .get_str("general.name")
            .map(str::to_string)
            .unwrap_or_else(|| name.to_string()),
        arch,
        n_embd,
        n_layer,
        n_head,
        n_head_kv,
        head_dim_k,
        head_dim_v,
        n_ff,
        n_vocab,
        tied_embeddings: !has_output,
        n_ctx_train: num(h, &key("context_length")).unwrap_or(4096),
        moe,
        mla,
        n_mtp_layers: 0,
        rope_freqs: tensors.iter().any(|t| t.tensor.base == "rope_freqs.weight"),
        swa,
    };
    let file_type = h.file_type().and_then(|id| FileType::from_id(id as u32));
    let quant = match file_type {
        Some(f) => format!("{f} (from the file)"),
        None => "as stored in the file".to_string(),
    };
    Ok(FileModel {
        spec,
        weights: Weights { quant, tensors },
        file_type,
        arch_name,
        mla_expanded_cache,
        notes,
    })
}

/// `blk.12.ffn_down.weight` → (Some(12), "ffn_down.weight").
fn split_block(name: &str) -> (Option<u64>, &str) {
    if let Some(rest) = name.strip_prefix("blk.") {
        if let Some((n, base)) = rest.split_once('.') {
            if let Ok(il) = n.parse() {
                return (Some(il), base);
            }
        }
    }
    (None, name)
}

#[cfg(test)]
mod tests {
    use super::split_block;

    #[test]
    fn block_names_split() {
        assert_eq!(
            split_block("blk.12.ffn_down.weight"),
            (Some(12), "ffn_down.weight")
        );
        assert_eq!(
            split_block("token_embd.weight"),
            (None, "token_embd.weight")
        );
        assert_eq!(split_block("blk.x.y"), (None, "blk.x.y"));
    }
}
