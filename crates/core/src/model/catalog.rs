//! The embedded model catalog (`data/models.toml`), every entry with its source.

use super::{Arch, DsaSpec, MlaSpec, ModelSpec, MoeSpec, SwaSpec};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// One catalog entry, as written in `data/models.toml` (Hugging Face config names).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// Stable id, e.g. `deepseek-r1-distill-qwen-7b`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Family used for filtering (`deepseek-r1`, `llama`, `qwen`).
    pub family: String,
    /// Hugging Face repository of the original weights.
    pub hf_repo: String,
    /// llama.cpp architecture string.
    pub arch: String,
    /// Row of `data/model_configs.csv` the shape values come from.
    #[serde(default)]
    pub config_row: Option<String>,
    /// Why an entry shares another model's row.
    #[serde(default)]
    pub same_as_row_note: Option<String>,
    /// Shape facts the config row states only in prose, with their sources
    /// (Llama 4's MoE interleave, GLM-4.5's q/k norm).
    #[serde(default)]
    pub config_note: Option<String>,
    /// Source of the shape values when there is no `config_row`.
    #[serde(default)]
    pub source: Option<String>,
    /// Ollama library tags for this model.
    #[serde(default)]
    pub ollama: Vec<String>,
    /// A caveat about the Ollama tags.
    #[serde(default)]
    pub ollama_note: Option<String>,
    /// Where the Ollama tag names were seen (ollama/ollama repository files,
    /// ollama.com pages); tags seen only in third-party files say so.
    #[serde(default)]
    pub ollama_source: Option<String>,
    /// Download size of the default tag (the first of `ollama`) as Ollama
    /// publishes it, in GB (10^9 bytes).
    #[serde(default)]
    pub ollama_size_gb: Option<f64>,
    /// Where `ollama_size_gb` was seen.
    #[serde(default)]
    pub ollama_size_source: Option<String>,
    /// Other spellings people type.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub hidden_size: u64,
    pub num_hidden_layers: u64,
    pub num_attention_heads: u64,
    pub num_key_value_heads: u64,
    #[serde(default)]
    pub head_dim: Option<u64>,
    /// Dense FFN width (absent for models whose every block is MoE, e.g. Mixtral).
    #[serde(default)]
    pub intermediate_size: Option<u64>,
    pub vocab_size: u64,
    /// Embedding rows in llama.cpp's GGUF when the converter drops rows the
    /// tokenizer never emits (Gemma 3: 262208 in HF, 262144 in the GGUF).
    #[serde(default)]
    pub gguf_vocab_size: Option<u64>,
    /// Where `gguf_vocab_size` comes from.
    #[serde(default)]
    pub gguf_vocab_source: Option<String>,
    /// Sliding-window (or Llama 4 chunked-attention) width in tokens; the
    /// block pattern is llama.cpp's per architecture ([`Arch::swa_period`]).
    #[serde(default)]
    pub sliding_window: Option<u64>,
    /// Llama 4's `interleave_moe_layer_step`: every n-th block has experts.
    #[serde(default)]
    pub interleave_moe_layer_step: Option<u64>,
    /// Per-head q/k RMS norm weights where the architecture makes them optional
    /// (GLM-4.5 `use_qk_norm`).
    #[serde(default)]
    pub use_qk_norm: bool,
    /// DeepSeek V3.2 lightning indexer: query heads (`index_n_heads`).
    #[serde(default)]
    pub index_n_heads: Option<u64>,
    /// DeepSeek V3.2 lightning indexer: key width (`index_head_dim`).
    #[serde(default)]
    pub index_head_dim: Option<u64>,
    /// DeepSeek V3.2 lightning indexer: tokens kept per query (`index_topk`).
    #[serde(default)]
    pub index_topk: Option<u64>,
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: u64,
    #[serde(default)]
    pub rope_scaling: Option<String>,
    #[serde(default)]
    pub moe_intermediate_size: Option<u64>,
    #[serde(default)]
    pub n_routed_experts: Option<u64>,
    #[serde(default)]
    pub n_shared_experts: Option<u64>,
    #[serde(default)]
    pub num_experts_per_tok: Option<u64>,
    #[serde(default)]
    pub first_k_dense_replace: Option<u64>,
    #[serde(default)]
    pub q_lora_rank: Option<u64>,
    #[serde(default)]
    pub kv_lora_rank: Option<u64>,
    #[serde(default)]
    pub qk_nope_head_dim: Option<u64>,
    #[serde(default)]
    pub qk_rope_head_dim: Option<u64>,
    #[serde(default)]
    pub v_head_dim: Option<u64>,
    #[serde(default)]
    pub num_nextn_predict_layers: Option<u64>,
    /// Fields whose values are assumed, not confirmed by a source.
    #[serde(default)]
    pub unconfirmed: Vec<String>,
    /// Published total parameter count.
    pub params_published: u64,
    /// Whether `params_published` is a rounded figure such as "671B".
    #[serde(default)]
    pub params_published_is_rounded: bool,
    /// Whether `params_published` includes the MTP layers.
    #[serde(default)]
    pub params_published_includes_mtp: bool,
    /// Where the parameter count was published.
    pub params_source: String,
    /// No total is published: `params_published` is the computation of
    /// data/model_configs.csv, so the check only guards against drift.
    #[serde(default)]
    pub params_not_published: bool,
    /// Parameters of a vision tower + projector included in `params_published`
    /// (llama.cpp puts them in a separate mmproj file).
    #[serde(default)]
    pub params_vision: Option<u64>,
    /// Relative tolerance of the parameter check when the published figure
    /// cannot be reproduced exactly; `params_tolerance_reason` says why.
    #[serde(default)]
    pub params_tolerance: Option<f64>,
    /// Why `params_tolerance` is needed.
    #[serde(default)]
    pub params_tolerance_reason: Option<String>,
    /// Quantization of the default Ollama tag (the first of `ollama`), as the
    /// Ollama library publishes it; "unverified" where it was not seen.
    #[serde(default)]
    pub ollama_quant: Option<String>,
    /// Where `ollama_quant` was seen.
    #[serde(default)]
    pub ollama_quant_source: Option<String>,
    /// A caveat about running this model on some engine, shown with the entry.
    #[serde(default)]
    pub engine_note: Option<String>,
    /// Dtype of the original checkpoint (BF16, FP8, F16).
    pub native_dtype: String,
    /// Source of `native_dtype` when it is not obvious.
    #[serde(default)]
    pub native_dtype_source: Option<String>,
}

#[derive(Deserialize)]
struct CatalogFile {
    model: Vec<CatalogEntry>,
}

static CATALOG: LazyLock<Vec<CatalogEntry>> = LazyLock::new(|| {
    let file: CatalogFile = toml::from_str(include_str!("../../data/models.toml"))
        .expect("embedded models.toml is valid (checked by a test)");
    file.model
});

/// All catalog entries.
pub fn catalog() -> &'static [CatalogEntry] {
    &CATALOG
}

impl CatalogEntry {
    /// Where the shape values come from, in one line.
    pub fn config_source(&self) -> String {
        match (&self.config_row, &self.source) {
            (_, Some(s)) => s.clone(),
            (Some(row), None) => format!("data/model_configs.csv row '{row}'"),
            (None, None) => "unsourced".into(),
        }
    }

    /// The architecture, if canirun knows it.
    pub fn arch(&self) -> Option<Arch> {
        Arch::parse(&self.arch)
    }

    /// The shape as llama.cpp's GGUF holds it (the pipeline's input).
    pub fn spec(&self) -> ModelSpec {
        let mut m = self.checkpoint_spec();
        if let Some(rows) = self.gguf_vocab_size {
            m.n_vocab = rows;
        }
        m
    }

    /// The shape of the original checkpoint (Hugging Face vocabulary rows),
    /// which the published parameter totals count.
    pub fn checkpoint_spec(&self) -> ModelSpec {
        let arch = self
            .arch()
            .expect("catalog archs are known (checked by a test)");
        let head_dim = self
            .head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1));
        let moe = self.n_routed_experts.map(|n_expert| MoeSpec {
            n_expert,
            n_expert_used: self.num_experts_per_tok.unwrap_or(1),
            n_expert_shared: self.n_shared_experts.unwrap_or(0),
            n_ff_exp: self
                .moe_intermediate_size
                .or(self.intermediate_size)
                .unwrap_or(0),
            n_layer_dense_lead: self.first_k_dense_replace.unwrap_or(0),
            layer_step: self.interleave_moe_layer_step.unwrap_or(1),
        });
        let mla = self.kv_lora_rank.map(|kv_lora_rank| MlaSpec {
            q_lora_rank: self.q_lora_rank,
            kv_lora_rank,
            qk_nope_head_dim: self.qk_nope_head_dim.unwrap_or(128),
            qk_rope_head_dim: self.qk_rope_head_dim.unwrap_or(64),
            v_head_dim: self.v_head_dim.unwrap_or(128),
        });
        let (head_dim_k, head_dim_v) = match mla {
            Some(m) => (m.qk_nope_head_dim + m.qk_rope_head_dim, m.v_head_dim),
            None => (head_dim, head_dim),
        };
        ModelSpec {
            id: self.id.clone(),
            name: self.name.clone(),
            arch,
            n_embd: self.hidden_size,
            n_layer: self.num_hidden_layers,
            n_head: self.num_attention_heads,
            n_head_kv: self.num_key_value_heads,
            head_dim_k,
            head_dim_v,
            n_ff: self.intermediate_size.unwrap_or(0),
            n_vocab: self.vocab_size,
            tied_embeddings: self.tie_word_embeddings,
            n_ctx_train: self.max_position_embeddings,
            moe,
            mla,
            n_mtp_layers: self.num_nextn_predict_layers.unwrap_or(0),
            rope_freqs: self.rope_scaling.as_deref() == Some("llama3"),
            swa: self
                .sliding_window
                .and_then(|window| arch.swa_period().map(|period| SwaSpec { window, period })),
            qk_norm: self.use_qk_norm,
            dsa: match (self.index_n_heads, self.index_head_dim) {
                (Some(n_head), Some(head_dim)) => Some(DsaSpec {
                    n_head,
                    head_dim,
                    top_k: self.index_topk.unwrap_or(0),
                }),
                _ => None,
            },
            recurrent: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tensors::param_counts;
    use std::collections::HashMap;

    #[test]
    fn every_entry_is_sourced_and_known() {
        assert!(catalog().len() >= 50);
        for e in catalog() {
            assert!(e.arch().is_some(), "{}: unknown arch {}", e.id, e.arch);
            assert!(
                e.config_row.is_some() || e.source.is_some(),
                "{} has no source",
                e.id
            );
            assert!(!e.params_source.is_empty(), "{} has no params source", e.id);
        }
    }

    /// The catalog's shapes must equal the sourced rows of data/model_configs.csv.
    #[test]
    fn shapes_match_the_sourced_config_rows() {
        let mut rdr =
            csv::Reader::from_reader(include_str!("../../data/model_configs.csv").as_bytes());
        let headers = rdr.headers().unwrap().clone();
        let mut rows: HashMap<String, HashMap<String, String>> = HashMap::new();
        for rec in rdr.records() {
            let rec = rec.unwrap();
            let row: HashMap<String, String> = headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            rows.insert(row["model"].clone(), row);
        }
        // "unconfirmed(assumed 18432)" -> "18432"
        let clean = |v: &str| -> String {
            v.strip_prefix("unconfirmed(assumed ")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or(v)
                .to_string()
        };
        for e in catalog() {
            let Some(row_name) = &e.config_row else {
                continue;
            };
            let row = rows
                .get(row_name)
                .unwrap_or_else(|| panic!("{}: no row {row_name}", e.id));
            let check = |field: &str, ours: Option<u64>| {
                let theirs = clean(&row[field]);
                match ours {
                    Some(v) => assert_eq!(theirs, v.to_string(), "{} {field}", e.id),
                    None => assert!(theirs.is_empty(), "{} {field} missing", e.id),
                }
            };
            check("hidden_size", Some(e.hidden_size));
            check("num_hidden_layers", Some(e.num_hidden_layers));
            check("num_attention_heads", Some(e.num_attention_heads));
            check("num_key_value_heads", Some(e.num_key_value_heads));
            check("intermediate_size", e.intermediate_size);
            check("vocab_size", Some(e.vocab_size));
            check("max_position_embeddings", Some(e.max_position_embeddings));
            check("moe_intermediate_size", e.moe_intermediate_size);
            check("n_routed_experts", e.n_routed_experts);
            check("n_shared_experts", e.n_shared_experts);
            check("num_experts_per_tok", e.num_experts_per_tok);
            check("first_k_dense_replace", e.first_k_dense_replace);
            check("q_lora_rank", e.q_lora_rank);
            check("kv_lora_rank", e.kv_lora_rank);
            check("qk_nope_head_dim", e.qk_nope_head_dim);
            check("qk_rope_head_dim", e.qk_rope_head_dim);
            check("v_head_dim", e.v_head_dim);
            let tie = clean(&row["tie_word_embeddings"]);
            if tie != "unconfirmed" {
                assert_eq!(tie, e.tie_word_embeddings.to_string(), "{} tie", e.id);
            }
        }
    }

    /// Our count in the publisher's accounting: with the MTP layers where the
    /// figure includes them, with the vision tower where it does.
    fn ours(e: &CatalogEntry) -> u64 {
        let c = param_counts(&e.checkpoint_spec());
        let text = if e.params_published_includes_mtp {
            c.checkpoint
        } else {
            c.main
        };
        text + e.params_vision.unwrap_or(0)
    }

    /// Parameter counts equal the published totals. Exact figures must match
    /// exactly; a figure rounded to three significant digits ("671B", "400B")
    /// within half a unit of its last digit plus the rounding of the total
    /// itself (0.1%); anything else only with a stated tolerance and reason.
    #[test]
    fn parameter_counts_match_published_totals() {
        for e in catalog() {
            let ours = ours(e);
            let published = e.params_published as f64;
            let rel = (ours as f64 - published).abs() / published;
            match (e.params_tolerance, e.params_published_is_rounded) {
                (Some(tol), _) => {
                    assert!(
                        e.params_tolerance_reason
                            .as_deref()
                            .is_some_and(|r| !r.is_empty()),
                        "{}: a tolerance needs a reason",
                        e.id
                    );
                    assert!(tol <= 0.01, "{}: tolerance {tol} is not a rounding", e.id);
                    assert!(
                        rel <= tol,
                        "{}: {ours} vs {} ({rel:.2e} > {tol})",
                        e.id,
                        e.params_published
                    );
                }
                (None, true) => {
                    assert!(rel < 0.001, "{}: {ours} vs ~{}", e.id, e.params_published)
                }
                (None, false) => assert_eq!(ours, e.params_published, "{}", e.id),
            }
        }
    }

    /// Every catalog model's count equals the exact total of its row in
    /// data/model_configs.csv where the row gives one (sourced or computed
    /// there): the text model, embeddings counted once when tied.
    #[test]
    fn parameter_counts_match_the_config_rows() {
        let mut rdr =
            csv::Reader::from_reader(include_str!("../../data/model_configs.csv").as_bytes());
        let headers = rdr.headers().unwrap().clone();
        let col = headers.iter().position(|h| h == "total_params").unwrap();
        let model = headers.iter().position(|h| h == "model").unwrap();
        let totals: HashMap<String, String> = rdr
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[model].to_string(), r[col].to_string())
            })
            .collect();
        let mut checked = 0;
        for e in catalog() {
            let Some(row) = &e.config_row else { continue };
            let Ok(total) = totals[row].parse::<u64>() else {
                continue;
            };
            let c = param_counts(&e.checkpoint_spec());
            assert_eq!(c.main, total, "{} vs row {row}", e.id);
            checked += 1;
        }
        assert!(checked >= 35, "only {checked} rows with an exact total");
    }

    /// Every row of data/model_configs.csv is in the catalog.
    #[test]
    fn every_config_row_is_in_the_catalog() {
        let mut rdr =
            csv::Reader::from_reader(include_str!("../../data/model_configs.csv").as_bytes());
        let mut n = 0;
        for rec in rdr.records() {
            let rec = rec.unwrap();
            n += 1;
            assert!(
                catalog()
                    .iter()
                    .any(|e| e.config_row.as_deref() == Some(&rec[0])),
                "row {} is not in the catalog",
                &rec[0]
            );
        }
        assert_eq!(n, 46);
    }

    /// Each Ollama tag list names the default tag's quantization (or says
    /// "unverified" with why); a model without a tag says why.
    #[test]
    fn ollama_tags_carry_their_default_quant() {
        for e in catalog() {
            if e.ollama.is_empty() {
                assert!(e.ollama_note.is_some(), "{}: no tag and no note", e.id);
                continue;
            }
            let q = e
                .ollama_quant
                .as_deref()
                .unwrap_or_else(|| panic!("{}", e.id));
            assert!(
                e.ollama_quant_source
                    .as_deref()
                    .is_some_and(|s| !s.is_empty()),
                "{}",
                e.id
            );
            if q != "unverified" {
                assert!(
                    crate::quant::Quant::parse(q).is_ok() || q == "MXFP4",
                    "{}: {q}",
                    e.id
                );
            }
        }
    }

    /// Every Ollama tag list says where its names were seen, and a published
    /// size says where it was seen.
    #[test]
    fn ollama_tags_and_sizes_are_sourced() {
        for e in catalog() {
            if !e.ollama.is_empty() {
                assert!(
                    e.ollama_source.as_deref().is_some_and(|s| !s.is_empty()),
                    "{}: tags without a source",
                    e.id
                );
            }
            if e.ollama_size_gb.is_some() {
                assert!(!e.ollama.is_empty(), "{}: a size without a tag", e.id);
                assert!(e.ollama_size_source.is_some(), "{}", e.id);
            }
        }
    }

    /// Ollama's published size of each default tag against canirun's weights
    /// at that tag's quantization (Q4_K_M where Ollama's quantization was not
    /// seen: the one canirun then assumes), plus the vision projector Ollama
    /// ships in the same model (kept at 16 bits: `params_vision` x 2 bytes).
    /// Tolerance: 3% (per-tensor type choices canirun does not know, GGUF
    /// metadata) plus half a unit in the last digit Ollama prints.
    #[test]
    fn ollama_published_sizes_match_the_weights() {
        use crate::model::MlaTensorLayout;
        use crate::quant::{weights, Quant};
        let mut checked = 0;
        let mut lines = Vec::new();
        let mut bad = Vec::new();
        for e in catalog() {
            let Some(gb) = e.ollama_size_gb else { continue };
            let q = match e.ollama_quant.as_deref() {
                Some("unverified") | None => "Q4_K_M",
                Some(q) => q,
            };
            let quant = Quant::parse(q).unwrap_or_else(|err| panic!("{}: {q}: {err}", e.id));
            let w = weights(&e.spec(), &quant, MlaTensorLayout::Split).total().0 as f64;
            let vision = e.params_vision.unwrap_or(0) as f64 * 2.0;
            let ours = (w + vision) / 1e9;
            let printed = e.ollama_size_source.as_deref().unwrap_or("");
            // Ollama prints 2-3 significant digits; exact byte counts have none.
            let half_ulp = if gb.fract() == 0.0 {
                0.5
            } else if (gb * 10.0).fract().abs() < 1e-9 {
                0.05
            } else {
                0.0005
            };
            let tol = 0.03 * gb + half_ulp;
            let err = ours - gb;
            lines.push(format!(
                "{:<32} {:<8} published {:>8.3} GB  canirun {:>8.3} GB  ({:+.1}%)",
                e.id,
                q,
                gb,
                ours,
                err / gb * 100.0
            ));
            if err.abs() > tol {
                bad.push(format!(
                    "{}: {q} {ours:.3} GB vs Ollama {gb} GB ({printed})",
                    e.id
                ));
            }
            checked += 1;
        }
        println!("{}", lines.join("\n"));
        assert!(bad.is_empty(), "{}", bad.join("\n"));
        assert!(checked >= 20, "only {checked} sizes");
    }

    #[test]
    fn deepseek_r1_counts_follow_deepseeks_accounting() {
        let r1 = catalog().iter().find(|e| e.id == "deepseek-r1").unwrap();
        let c = param_counts(&r1.spec());
        assert_eq!(c.main, 671_026_419_200);
        assert_eq!(c.mtp_unique, 11_610_068_224);
        assert_eq!(c.checkpoint, 684_489_845_504);
    }
}
