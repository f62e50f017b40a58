//! A model description from a GGUF header: the same [`ModelSpec`] and
//! [`Weights`] the catalog gives, so every estimate works on any GGUF of a
//! known architecture. Weights are exact to the byte (the header names every
//! tensor's type and shape); the shape facts come from the metadata keys
//! llama.cpp itself reads.

use crate::gguf::{GgufHeader, GgufModelFile, GgufValue};
use canirun_core::model::{
    Arch, DsaSpec, LayerKind, MlaSpec, ModelSpec, MoeSpec, RecurrentSpec, SsmSpec, SwaSpec,
    TensorSpec,
};
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

/// A per-layer key (an array, or one number for every layer), `n_layer` values.
fn per_layer(h: &GgufHeader, key: &str, n_layer: u64) -> Option<Vec<u64>> {
    let n = n_layer as usize;
    match h.get(key)? {
        GgufValue::Array(a) => {
            let mut v: Vec<u64> = a
                .values
                .iter()
                .map(|x| match x {
                    GgufValue::Bool(b) => u64::from(*b),
                    x => x.as_u64().unwrap_or(0),
                })
                .collect();
            v.resize(n, 0);
            Some(v)
        }
        v => v.as_u64().map(|x| vec![x; n]),
    }
}

/// The `ssm.*` keys of Mamba-2 mixers and gated delta nets (all required by
/// llama.cpp's `load_arch_hparams` for these architectures).
fn ssm_spec(h: &GgufHeader, arch_name: &str) -> Result<SsmSpec, FileModelError> {
    let need = |k: &str| {
        let key = format!("{arch_name}.ssm.{k}");
        num(h, &key).ok_or(FileModelError::MissingKey(key))
    };
    Ok(SsmSpec {
        d_conv: need("conv_kernel")?,
        d_inner: need("inner_size")?,
        d_state: need("state_size")?,
        n_group: need("group_count")?,
        n_head: need("time_step_rank")?,
    })
}

/// Which blocks are recurrent, the way llama.cpp decides it at 0c1e57098:
/// - LFM2 (models/lfm2.cpp): the per-layer `attention.head_count_kv` is 0, sized
///   from `shortconv.l_cache`;
/// - Qwen3-Next (models/qwen3next.cpp:17): the `attention.recurrent_layers` array,
///   else every block but each `full_attention_interval`-th (default 4);
/// - Mamba-2 (models/mamba2.cpp): every block;
/// - Nemotron-H (models/nemotron-h.cpp:14): `head_count_kv` and
///   `feed_forward_length` both 0 (attention where only the FFN is 0, an MLP block
///   otherwise).
///
/// Blocks without KV heads in any other architecture, and `ssm.*` keys, are
/// named in the notes as unknown kinds, never sized as attention.
fn recurrent_layers(
    h: &GgufHeader,
    arch_name: &str,
    arch: Arch,
    n_layer: u64,
    notes: &mut Vec<String>,
) -> Result<Option<RecurrentSpec>, FileModelError> {
    let key = |k: &str| format!("{arch_name}.{k}");
    match arch {
        Arch::Qwen3Next => {
            let layers = match per_layer(h, &key("attention.recurrent_layers"), n_layer) {
                Some(flags) => flags
                    .iter()
                    .map(|&r| {
                        if r != 0 {
                            LayerKind::DeltaNet
                        } else {
                            LayerKind::Attention
                        }
                    })
                    .collect(),
                None => {
                    let interval = num(h, &key("full_attention_interval")).unwrap_or(4).max(1);
                    (0..n_layer)
                        .map(|il| {
                            if (il + 1) % interval != 0 {
                                LayerKind::DeltaNet
                            } else {
                                LayerKind::Attention
                            }
                        })
                        .collect()
                }
            };
            return Ok(Some(RecurrentSpec {
                layers,
                conv_l_cache: 0,
                ssm: Some(ssm_spec(h, arch_name)?),
            }));
        }
        Arch::Mamba2 => {
            return Ok(Some(RecurrentSpec {
                layers: vec![LayerKind::Mamba2; n_layer as usize],
                conv_l_cache: 0,
                ssm: Some(ssm_spec(h, arch_name)?),
            }));
        }
        Arch::NemotronH => {
            let kv = per_layer(h, &key("attention.head_count_kv"), n_layer)
                .unwrap_or_else(|| vec![0; n_layer as usize]);
            let ff = per_layer(h, &key("feed_forward_length"), n_layer)
                .unwrap_or_else(|| vec![0; n_layer as usize]);
            let layers = kv
                .iter()
                .zip(&ff)
                .map(|(&kv, &ff)| match (kv, ff) {
                    (0, 0) => LayerKind::Mamba2,
                    (_, 0) => LayerKind::Attention,
                    _ => LayerKind::FeedForward,
                })
                .collect();
            return Ok(Some(RecurrentSpec {
                layers,
                conv_l_cache: 0,
                ssm: Some(ssm_spec(h, arch_name)?),
            }));
        }
        _ => {}
    }
    let kv_key = format!("{arch_name}.attention.head_count_kv");
    let per_layer: Option<Vec<u64>> = match h.get(&kv_key) {
        Some(GgufValue::Array(a)) => Some(a.values.iter().filter_map(GgufValue::as_u64).collect()),
        _ => None,
    };
    let ssm_prefix = format!("{arch_name}.ssm.");
    let ssm_keys: Vec<&str> = h
        .metadata
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.starts_with(&ssm_prefix))
        .collect();
    let zero_kv: Vec<u64> = per_layer
        .iter()
        .flatten()
        .enumerate()
        .filter(|&(_, &n)| n == 0)
        .map(|(il, _)| il as u64)
        .collect();
    if zero_kv.is_empty() {
        if !ssm_keys.is_empty() {
            notes.push(format!(
                "the file has recurrent-state keys ({}) that canirun has no rules for in '{arch_name}': the recurrent state is NOT counted and every block is sized as attention",
                ssm_keys.join(", ")
            ));
        }
        return Ok(None);
    }
    let short_conv = arch == Arch::Lfm2;
    let conv_l_cache = if short_conv {
        let k = format!("{arch_name}.shortconv.l_cache");
        num(h, &k).ok_or(FileModelError::MissingKey(k))?
    } else {
        0
    };
    let layers: Vec<LayerKind> = (0..n_layer)
        .map(|il| match (zero_kv.contains(&il), short_conv) {
            (false, _) => LayerKind::Attention,
            (true, true) => LayerKind::ShortConv,
            (true, false) => LayerKind::Unknown,
        })
        .collect();
    if !short_conv {
        notes.push(format!(
            "blocks {zero_kv:?} of '{arch_name}' have no KV heads: recurrent or linear-attention blocks of a kind canirun does not know; their state is NOT counted (llama.cpp allocates a fixed-size state per sequence for them){}",
            if ssm_keys.is_empty() { String::new() } else { format!("; recurrent keys in the file: {}", ssm_keys.join(", ")) }
        ));
    }
    Ok(Some(RecurrentSpec {
        layers,
        conv_l_cache,
        ssm: None,
    }))
}

/// Build the model description from a (possibly split) GGUF file.
pub fn from_gguf(file: &GgufModelFile, name: &str) -> Result<FileModel, FileModelError> {
    let headers: Vec<&GgufHeader> = file.parts().iter().map(|p| &p.header).collect();
    from_headers(&headers, name)
}

/// Build the model description from the headers of a model's parts (the
/// first holds the metadata), e.g. fetched remotely.
pub fn from_headers(headers: &[&GgufHeader], name: &str) -> Result<FileModel, FileModelError> {
    let h = *headers
        .first()
        .ok_or_else(|| FileModelError::MissingKey("general.architecture".into()))?;
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
    for header in headers {
        for t in &header.tensors {
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
            // Llama 4 writes no count: llama.cpp always loads its one shared expert.
            n_expert_shared: num(h, &key("expert_shared_count"))
                .unwrap_or(u64::from(arch == Arch::Llama4)),
            n_ff_exp: num(h, &key("expert_feed_forward_length")).unwrap_or(n_ff),
            n_layer_dense_lead: num(h, &key("leading_dense_block_count")).unwrap_or(0),
            layer_step: num(h, &key("interleave_moe_layer_step")).unwrap_or(1),
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
    // Llama 4 GGUFs carry no window unless it is 0 (all-global MobileLLM):
    // llama.cpp then hard-codes 8192-token chunks (models/llama4.cpp).
    let window = match (arch, num(h, &key("attention.sliding_window"))) {
        (Arch::Llama4, None) => Some(8192),
        (_, w) => w,
    };
    let swa = window.filter(|&w| w > 0).and_then(|window| {
        // llama.cpp hard-codes the block pattern per architecture.
        match arch.swa_period() {
            Some(period) => Some(SwaSpec { window, period }),
            None => {
                notes.push(format!("sliding window {window} in the file, but canirun does not know {arch_name}'s block pattern: every block is sized with the full context"));
                None
            }
        }
    });
    let dsa = match (
        num(h, &key("attention.indexer.head_count")),
        num(h, &key("attention.indexer.key_length")),
    ) {
        (Some(n_head), Some(head_dim)) => Some(DsaSpec {
            n_head,
            head_dim,
            top_k: num(h, &key("attention.indexer.top_k")).unwrap_or(0),
        }),
        _ => None,
    };
    let qk_norm = tensors
        .iter()
        .any(|t| t.tensor.base == "attn_q_norm.weight");
    let recurrent = recurrent_layers(h, &arch_name, arch, n_layer, &mut notes)?;
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
        qk_norm,
        dsa,
        recurrent,
    };
    let file_type = h.file_type().and_then(|id| FileType::from_id(id as u32));
    let quant = match file_type {
        Some(f) => format!("{f} (from the file)"),
        None => "as stored in the file".to_string(),
    };
    Ok(FileModel {
        spec,
        weights: Weights::new(quant, tensors),
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

/// One tensor of a safetensors checkpoint: name, dtype as written, shape, exact bytes.
#[derive(Debug, Clone)]
pub struct CheckpointTensor<'a> {
    /// Hugging Face name (`model.layers.3.mlp.gate_proj.weight`).
    pub name: &'a str,
    /// dtype as written (`BF16`, `F8_E4M3`, …).
    pub dtype: &'a str,
    /// Shape, outermost first (as safetensors stores it).
    pub shape: &'a [u64],
    /// Exact bytes.
    pub bytes: u64,
}

/// Build the model description from a Hugging Face `config.json` and the
/// tensors of the safetensors headers (exact bytes per dtype).
pub fn from_safetensors(
    config: &serde_json::Value,
    tensors: &[CheckpointTensor<'_>],
    name: &str,
) -> Result<FileModel, FileModelError> {
    // Multimodal configs nest the language model under text_config.
    let c = config.get("text_config").unwrap_or(config);
    let get = |k: &str| c.get(k).and_then(serde_json::Value::as_u64);
    let need =
        |k: &str| get(k).ok_or_else(|| FileModelError::MissingKey(format!("config.json {k}")));
    let model_type = config
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_string();
    let mut notes = Vec::new();
    let arch = Arch::parse(&model_type).unwrap_or_else(|| {
        notes.push(format!("model_type '{model_type}' has no specific rules in canirun: weights are exact from the checkpoint, the KV cache is a GENERIC estimate"));
        Arch::Generic
    });
    let n_embd = need("hidden_size")?;
    let n_layer = need("num_hidden_layers")?;
    let n_head = need("num_attention_heads")?.max(1);
    let n_head_kv = get("num_key_value_heads").unwrap_or(n_head);
    let head_dim = get("head_dim").unwrap_or(n_embd / n_head);
    let n_expert = get("n_routed_experts")
        .or_else(|| get("num_experts"))
        .or_else(|| get("num_local_experts"));
    let moe = n_expert.filter(|&n| n > 1).map(|n_expert| MoeSpec {
        n_expert,
        n_expert_used: get("num_experts_per_tok").unwrap_or(1),
        n_expert_shared: get("n_shared_experts").unwrap_or(0),
        n_ff_exp: get("moe_intermediate_size")
            .or_else(|| get("intermediate_size"))
            .unwrap_or(4 * n_embd),
        n_layer_dense_lead: get("first_k_dense_replace").unwrap_or(0),
        layer_step: get("interleave_moe_layer_step").unwrap_or(1),
    });
    let mla = get("kv_lora_rank").map(|kv_lora_rank| MlaSpec {
        q_lora_rank: get("q_lora_rank"),
        kv_lora_rank,
        qk_nope_head_dim: get("qk_nope_head_dim").unwrap_or(128),
        qk_rope_head_dim: get("qk_rope_head_dim").unwrap_or(64),
        v_head_dim: get("v_head_dim").unwrap_or(128),
    });
    let (head_dim_k, head_dim_v) = match mla {
        Some(m) => (m.qk_nope_head_dim + m.qk_rope_head_dim, m.v_head_dim),
        None => (head_dim, head_dim),
    };
    let swa = get("sliding_window")
        .or_else(|| get("attention_chunk_size"))
        .filter(|&w| w > 0)
        .and_then(|window| arch.swa_period().map(|period| SwaSpec { window, period }));
    let dsa = match (get("index_n_heads"), get("index_head_dim")) {
        (Some(n_head), Some(head_dim)) => Some(DsaSpec {
            n_head,
            head_dim,
            top_k: get("index_topk").unwrap_or(0),
        }),
        _ => None,
    };
    let n_mtp_layers = get("num_nextn_predict_layers").unwrap_or(0);
    let mut weights = Vec::new();
    let mut has_lm_head = false;
    for t in tensors {
        let (layer, base) = split_hf_block(t.name);
        if t.name.ends_with("lm_head.weight") {
            has_lm_head = true;
        }
        let storage = match t.dtype {
            "BF16" => StorageType::Ggml(GgmlType::BF16),
            "F16" => StorageType::Ggml(GgmlType::F16),
            "F32" => StorageType::Ggml(GgmlType::F32),
            "F8_E4M3" | "F8_E5M2" => StorageType::Fp8Block128,
            "I32" | "U32" | "I8" | "U8" => StorageType::Int4Group { group: 128 },
            _ => StorageType::Ggml(GgmlType::F32),
        };
        // safetensors shapes are outermost first; ggml order is the reverse.
        let dims: Vec<u64> = t.shape.iter().rev().copied().collect();
        let mut spec = TensorSpec::new(Cow::Owned(base.to_string()), &dims, layer);
        // MTP blocks come after the last main block; llama.cpp drops them, vLLM loads
        // them only for speculative decoding.
        spec.in_gguf = layer.is_none_or(|l| l < n_layer);
        weights.push(TensorWeight {
            tensor: spec,
            storage,
            bytes: Bytes(t.bytes),
        });
    }
    let dtypes: std::collections::BTreeSet<&str> = tensors.iter().map(|t| t.dtype).collect();
    if n_mtp_layers > 0 {
        notes.push(format!(
            "the checkpoint includes {n_mtp_layers} multi-token-prediction block(s): counted in the weights here; llama.cpp drops them and vLLM/SGLang load them only for speculative decoding"
        ));
    }
    notes.push("a safetensors checkpoint is served by vLLM/SGLang (or converted to GGUF for llama.cpp); the KV/compute terms follow llama.cpp until those engines are modelled".into());
    let spec = ModelSpec {
        id: name.to_string(),
        name: name.to_string(),
        arch,
        n_embd,
        n_layer,
        n_head,
        n_head_kv,
        head_dim_k,
        head_dim_v,
        n_ff: get("intermediate_size").unwrap_or(4 * n_embd),
        n_vocab: need("vocab_size")?,
        tied_embeddings: c
            .get("tie_word_embeddings")
            .and_then(|v| v.as_bool())
            .unwrap_or(!has_lm_head),
        n_ctx_train: get("max_position_embeddings").unwrap_or(4096),
        moe,
        mla,
        n_mtp_layers,
        rope_freqs: false,
        swa,
        qk_norm: c
            .get("use_qk_norm")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        dsa,
        // Hybrid recurrent checkpoints are read from GGUF headers only (for now).
        recurrent: None,
    };
    Ok(FileModel {
        spec,
        weights: Weights::new(
            format!(
                "safetensors ({})",
                dtypes.into_iter().collect::<Vec<_>>().join(", ")
            ),
            weights,
        ),
        file_type: None,
        arch_name: model_type,
        mla_expanded_cache: false,
        notes,
    })
}

/// `model.layers.12.mlp.down_proj.weight` → (Some(12), "mlp.down_proj.weight").
fn split_hf_block(name: &str) -> (Option<u64>, &str) {
    for prefix in [
        "model.layers.",
        "model.language_model.layers.",
        "language_model.model.layers.",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            if let Some((n, base)) = rest.split_once('.') {
                if let Ok(il) = n.parse() {
                    return (Some(il), base);
                }
            }
        }
    }
    (None, name)
}
