//! `-md` (a draft model) and `--mmproj` (a vision projector): their memory is
//! added to the pool llama.cpp puts them in, typed or pasted.

use canirun_io::gguf::{write_header, GgufTensorInfo, GgufValue};
use serde_json::Value;
use std::io::Write;

mod common;
use common::json;

/// A projector header (no tensor data): F16 and F32 tensors of a CLIP tower.
/// Returns its path and the bytes its tensors hold, counted by hand.
fn projector(dir: &std::path::Path) -> (String, u64) {
    let t = |name: &str, dims: Vec<u64>, ggml_type: u32, per: u64| {
        let n: u64 = dims.iter().product();
        GgufTensorInfo {
            name: name.into(),
            dims,
            ggml_type,
            offset: 0,
            n_bytes: n * per,
        }
    };
    let mut tensors = vec![
        t("v.patch_embd.weight", vec![14, 14, 3, 1152], 1, 2),
        t("v.position_embd.weight", vec![1152, 4096], 1, 2),
        t("v.blk.0.attn_q.weight", vec![1152, 1152], 1, 2),
        t("v.blk.0.ln1.weight", vec![1152], 0, 4),
        t("mm.input_projection.weight", vec![1152, 5376], 1, 2),
    ];
    let mut offset = 0;
    for x in &mut tensors {
        x.offset = offset;
        offset += x.n_bytes.div_ceil(32) * 32;
    }
    let expected =
        14 * 14 * 3 * 1152 * 2 + 1152 * 4096 * 2 + 1152 * 1152 * 2 + 1152 * 4 + 1152 * 5376 * 2;
    let meta = vec![
        (
            "general.architecture".to_string(),
            GgufValue::String("clip".into()),
        ),
        (
            "clip.projector_type".to_string(),
            GgufValue::String("gemma3".into()),
        ),
    ];
    let path = dir.join("mmproj-F16.gguf");
    let mut f = std::fs::File::create(&path).unwrap();
    write_header(&mut f, 3, &meta, &tensors).unwrap();
    f.flush().unwrap();
    (path.to_string_lossy().into_owned(), expected)
}

fn gpu0(v: &Value) -> &Value {
    &v["placement"]["devices"][1]
}

#[test]
fn the_projector_is_sized_from_its_tensors_and_goes_where_llama_cpp_puts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = projector(dir.path());
    let base = [
        "gemma3:27b",
        "--gpu",
        "4090",
        "-c",
        "8192",
        "--mmproj",
        &path,
    ];
    let v = json(&base);
    let c = &v["companions"][0];
    assert_eq!(c["bytes"].as_u64(), Some(expected), "{c}");
    assert_eq!(c["loc"], serde_json::json!({"gpu": 0}));
    assert_eq!(gpu0(&v)["companions"].as_u64(), Some(expected));
    assert!(c["terms"].as_str().unwrap().contains("projector gemma3"));
    let mut off = base.to_vec();
    off.push("--no-mmproj-offload");
    let v = json(&off);
    assert_eq!(v["companions"][0]["loc"], "cpu");
    assert_eq!(
        v["placement"]["devices"][0]["companions"].as_u64(),
        Some(expected)
    );
}

#[test]
fn a_draft_model_adds_its_own_weights_kv_and_compute_to_the_gpu() {
    let alone = json(&["qwen3:0.6b", "--gpu", "4090", "-c", "16384"]);
    let m = &alone["memory"];
    let draft_on_gpu = m["weights"]["bytes"].as_u64().unwrap()
        + m["kv"]["bytes"].as_u64().unwrap()
        + m["compute"]["bytes"].as_u64().unwrap();
    let main = ["qwen3:32b", "--gpu", "4090", "-c", "16384"];
    let without = json(&main);
    let mut with_args = main.to_vec();
    with_args.extend(["-md", "qwen3:0.6b"]);
    let with = json(&with_args);
    assert_eq!(with["companions"][0]["bytes"].as_u64(), Some(draft_on_gpu));
    assert_eq!(gpu0(&with)["companions"].as_u64(), Some(draft_on_gpu));
    // --fit leaves room for the draft: fewer of the main model's weights on the GPU.
    let w = |v: &Value| gpu0(v)["weights"].as_u64().unwrap();
    assert!(w(&with) < w(&without), "{} vs {}", w(&with), w(&without));
    // Pasted, with the draft's cache quantized (-ctkd/-ctvd): its KV halves.
    let pasted = json(&[
        "--gpu",
        "4090",
        "--",
        "llama-server",
        "-m",
        "qwen3:32b",
        "-c",
        "16384",
        "-md",
        "qwen3:0.6b",
        "-ctkd",
        "q8_0",
        "-ctvd",
        "q8_0",
    ]);
    let kv_f16 = m["kv"]["bytes"].as_u64().unwrap();
    let got = pasted["companions"][0]["bytes"].as_u64().unwrap();
    let kv_q8 = got - (draft_on_gpu - kv_f16);
    assert_eq!(
        kv_q8,
        kv_f16 / 2 * 34 / 32,
        "q8_0 is 34 bytes per 32 values"
    );
    let notes: Vec<&str> = pasted["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().all(|n| !n.contains("does not know")),
        "{notes:?}"
    );
    // The llama.cpp command written is the main model's: the note gives the rest.
    assert!(
        notes
            .iter()
            .any(|n| n.contains("add -md qwen3:0.6b -ctkd q8_0 -ctvd q8_0 to load")),
        "{notes:?}"
    );
}

#[test]
fn a_draft_model_speeds_decoding_up_by_its_accepted_tokens() {
    let base = [
        "qwen3:32b",
        "--gpu",
        "5090",
        "-c",
        "16384",
        "-md",
        "qwen3:0.6b",
    ];
    let spec = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend(extra);
        json(&a)["speed"]["speculative"].clone()
    };
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let d = spec(&[]);
    assert_eq!(d["drafter"], "draft model qwen3:0.6b");
    // llama.cpp's defaults: 3 drafts, acceptance from its own measurements.
    assert_eq!(d["draft_tokens"], 3);
    let a: f64 = 0.35;
    assert!((f(&d, "tokens_per_step") - (1.0 - a.powi(4)) / (1.0 - a)).abs() < 1e-9);
    // speed-up = tokens per step ÷ (verify + drafting), in one-token decodes.
    let s = f(&d, "tokens_per_step") / (f(&d, "verify_cost") + f(&d, "draft_cost"));
    assert!((f(&d, "speedup") - s).abs() < 1e-9, "{d}");
    // More drafts accepted more often: faster.
    let more = spec(&["--spec-draft-n-max", "5", "--draft-acceptance", "0.8"]);
    assert_eq!(more["draft_tokens"], 5);
    assert!(f(&more, "speedup") > f(&d, "speedup"), "{more}");
}
