//! Shared by the tests that compare with llama.cpp on the harness fixtures
//! (scripts/make_fixtures.py).

use canirun_core::model::{catalog, Arch, ModelSpec, SwaSpec};

/// The model of a harness fixture: a catalog model at real widths with fewer
/// layers, or gemma-3-1b spelled out.
pub fn fixture_spec(fixture: &str) -> Option<ModelSpec> {
    let (id, n_layer) = match fixture {
        "qwen2-7b-l4" => ("deepseek-r1-distill-qwen-7b", 4),
        "llama-8b-l4" => ("llama-3.1-8b", 4),
        "deepseek2-r1-l4" => ("deepseek-r1", 4),
        "llama4-scout-l4" => ("llama-4-scout", 4),
        "glm45air-l2" => ("glm-4.5-air", 2),
        "gptoss-20b-l4" => ("gpt-oss-20b", 4),
        // gemma-3-1b widths (data/model_configs.csv row gemma-3-1b-it; the fixture keeps
        // llama.cpp's 262144-row text vocabulary): not a catalog model, so spelled out.
        "gemma3-1b" => {
            return Some(ModelSpec {
                id: "gemma3-1b".into(),
                name: "gemma-3-1b fixture".into(),
                arch: Arch::Gemma3,
                n_embd: 1152,
                n_layer: 26,
                n_head: 4,
                n_head_kv: 1,
                head_dim_k: 256,
                head_dim_v: 256,
                n_ff: 6912,
                n_vocab: 262144,
                tied_embeddings: true,
                n_ctx_train: 32768,
                moe: None,
                mla: None,
                n_mtp_layers: 0,
                rope_freqs: false,
                swa: Some(SwaSpec {
                    window: 512,
                    period: 6,
                }),
                qk_norm: true,
                dsa: None,
                recurrent: None,
            })
        }
        // LFM2-1.2B widths (LiquidAI/LFM2-1.2B config.json, as written by
        // scripts/make_fixtures.py): its first 4 of 16 blocks, conv, conv, attention, conv.
        "lfm2-1.2b-l4" => {
            use canirun_core::model::{LayerKind, RecurrentSpec};
            return Some(ModelSpec {
                id: "lfm2-1.2b-l4".into(),
                name: "LFM2-1.2B fixture".into(),
                arch: Arch::Lfm2,
                n_embd: 2048,
                n_layer: 4,
                n_head: 32,
                n_head_kv: 8,
                head_dim_k: 64,
                head_dim_v: 64,
                n_ff: 8192,
                n_vocab: 65536,
                tied_embeddings: true,
                n_ctx_train: 128000,
                moe: None,
                mla: None,
                n_mtp_layers: 0,
                rope_freqs: false,
                swa: None,
                qk_norm: true,
                dsa: None,
                recurrent: Some(RecurrentSpec {
                    layers: vec![
                        LayerKind::ShortConv,
                        LayerKind::ShortConv,
                        LayerKind::Attention,
                        LayerKind::ShortConv,
                    ],
                    conv_l_cache: 3,
                    ssm: None,
                }),
            });
        }
        _ => return None,
    };
    let mut m = catalog().iter().find(|e| e.id == id)?.spec();
    m.n_layer = n_layer;
    Some(m)
}
