//! Split GGUF models (`<name>-00001-of-00003.gguf`): finding, checking and merging the
//! parts, and refusing parts that contradict or name each other.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use canirun_io::gguf::{read_file, write_header, GgufError, GgufTensorInfo, GgufValue};

/// Tensors of one part: (name, number of F32 elements).
type Tensors = &'static [(&'static str, u64)];

/// The tensors of the consistent 3-part model, part by part.
const THREE_PARTS: [Tensors; 3] = [
    &[("token_embd.weight", 64), ("blk.0.w", 8)],
    &[("blk.1.w", 8)],
    &[("blk.2.w", 8), ("output.weight", 16)],
];

fn tensor_infos(tensors: &[(&str, u64)]) -> Vec<GgufTensorInfo> {
    let mut offset = 0;
    tensors
        .iter()
        .map(|&(name, n)| {
            let t = GgufTensorInfo {
                name: name.to_string(),
                dims: vec![n],
                ggml_type: 0,
                offset,
                n_bytes: n * 4,
            };
            offset += (n * 4).div_ceil(32) * 32;
            t
        })
        .collect()
}

/// Write part `no` (0-based, as `split.no`) of `count`, its header claiming
/// `tensors_total` tensors in all, with its full (zero) tensor data, or
/// `short_by` bytes less.
fn write_part(
    path: &Path,
    no: u16,
    count: u16,
    tensors_total: i32,
    tensors: Tensors,
    short_by: u64,
) {
    let mut metadata = vec![(
        "general.architecture".to_string(),
        GgufValue::String("llama".into()),
    )];
    metadata.push(("split.no".into(), GgufValue::U16(no)));
    metadata.push(("split.count".into(), GgufValue::U16(count)));
    metadata.push(("split.tensors.count".into(), GgufValue::I32(tensors_total)));
    let tensors = tensor_infos(tensors);
    let mut f = File::create(path).expect("create part");
    let data_offset = write_header(&mut f, 3, &metadata, &tensors).expect("write header");
    let data_end = tensors
        .iter()
        .map(|t| t.offset + t.n_bytes)
        .max()
        .unwrap_or(0);
    f.flush().expect("flush");
    f.set_len(data_offset + data_end - short_by)
        .expect("set_len");
}

fn name(i: u16, n: u16) -> String {
    format!("model-{i:05}-of-{n:05}.gguf")
}

/// A 3-part model in a fresh directory whose headers claim `tensors_total`
/// tensors (5 are there).
fn three_parts_claiming(tensors_total: i32) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (i, tensors) in THREE_PARTS.into_iter().enumerate() {
        let p = dir.path().join(name(i as u16 + 1, 3));
        write_part(&p, i as u16, 3, tensors_total, tensors, 0);
        paths.push(p);
    }
    (dir, paths)
}

/// A consistent 3-part model in a fresh directory.
fn three_parts() -> (tempfile::TempDir, Vec<PathBuf>) {
    three_parts_claiming(5)
}

fn split_reason(e: GgufError) -> String {
    match e {
        GgufError::Split { reason, .. } => reason,
        other => panic!("expected a split error, got {other:?}"),
    }
}

#[test]
fn reads_and_merges_all_parts_from_any_part() {
    let (_dir, paths) = three_parts();
    for start in &paths {
        let m = read_file(start).expect("split model");
        assert!(m.is_split());
        assert_eq!(m.parts().len(), 3);
        assert_eq!(m.parts()[0].path, paths[0]);
        assert_eq!(m.tensor_count(), 5);
        assert_eq!(m.tensor_bytes_total(), (64 + 8 + 8 + 8 + 16) * 4);
        let names: Vec<_> = m.tensors().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "token_embd.weight",
                "blk.0.w",
                "blk.1.w",
                "blk.2.w",
                "output.weight"
            ]
        );
        assert!(m.data_complete());
        assert_eq!(m.header().architecture(), Some("llama"));
    }
}

#[test]
fn a_missing_part_is_named() {
    let (_dir, paths) = three_parts();
    std::fs::remove_file(&paths[2]).expect("rm");
    let reason = split_reason(read_file(&paths[0]).expect_err("part 3 missing"));
    assert!(reason.contains("part 3 of 3 is missing"), "{reason}");
}

#[test]
fn a_part_with_missing_data_is_flagged_not_refused() {
    let (_dir, paths) = three_parts();
    write_part(&paths[1], 1, 3, 5, THREE_PARTS[1], 10);
    let m = read_file(&paths[0]).expect("headers are complete");
    assert!(!m.data_complete());
    assert_eq!(m.missing_bytes(), 10);
    assert!(matches!(
        m.require_complete_data(),
        Err(GgufError::DataIncomplete { .. })
    ));
}

#[test]
fn parts_that_name_each_other_in_a_cycle_are_refused() {
    // Part 2 claims to be part 1: following split.no would loop back to the start.
    let (_dir, paths) = three_parts();
    write_part(&paths[1], 0, 3, 5, THREE_PARTS[1], 0);
    let reason = split_reason(read_file(&paths[0]).expect_err("cycle"));
    assert!(reason.contains("cycle"), "{reason}");
}

#[cfg(unix)]
#[test]
fn a_part_that_is_the_same_file_as_another_is_refused() {
    let (_dir, paths) = three_parts();
    std::fs::remove_file(&paths[1]).expect("rm");
    std::os::unix::fs::symlink(&paths[0], &paths[1]).expect("symlink");
    // Part 2 -> part 1: caught as the same file (or as a split.no mismatch), never a loop.
    let reason = split_reason(read_file(&paths[0]).expect_err("same file"));
    assert!(
        reason.contains("same file") || reason.contains("cycle"),
        "{reason}"
    );
    // Reading from the link itself: the header says part 1, the name part 2.
    let reason = split_reason(read_file(&paths[1]).expect_err("mislabelled"));
    assert!(reason.contains("mislabelled"), "{reason}");
}

#[test]
fn mismatched_counts_are_refused() {
    let (_dir, paths) = three_parts();
    // Part 3 says the model has 4 parts.
    write_part(&paths[2], 2, 4, 5, THREE_PARTS[2], 0);
    let reason = split_reason(read_file(&paths[0]).expect_err("count mismatch"));
    assert!(reason.contains("split.count"), "{reason}");

    // split.tensors.count disagrees with the tensors present.
    let (_dir, paths) = three_parts_claiming(6);
    let reason = split_reason(read_file(&paths[0]).expect_err("tensor count"));
    assert!(reason.contains("split.tensors.count is 6"), "{reason}");
}

#[test]
fn a_tensor_in_two_parts_is_refused() {
    let (_dir, paths) = three_parts();
    write_part(&paths[1], 1, 3, 5, &[("blk.0.w", 8)], 0);
    assert!(matches!(
        read_file(&paths[0]),
        Err(GgufError::DuplicateTensor { name }) if name == "blk.0.w"
    ));
}

#[test]
fn absurd_split_counts_and_bad_names_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(name(1, 60000));
    write_part(&p, 0, 60000, 1, &[("a", 8)], 0);
    let reason = split_reason(read_file(&p).expect_err("too many parts"));
    assert!(reason.contains("60000"), "{reason}");

    // split.count = 2 but the name gives no way to find part 2.
    let p = dir.path().join("renamed.gguf");
    write_part(&p, 0, 2, 2, &[("a", 8)], 0);
    let reason = split_reason(read_file(&p).expect_err("bad name"));
    assert!(reason.contains("pattern"), "{reason}");

    // The name says part 1 of 2 but the header says part 2 of 2.
    let p = dir.path().join(name(1, 2));
    write_part(&p, 1, 2, 2, &[("a", 8)], 0);
    let reason = split_reason(read_file(&p).expect_err("mislabelled"));
    assert!(reason.contains("mislabelled"), "{reason}");
}

#[test]
fn a_single_file_with_split_count_1_is_not_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("one.gguf");
    write_part(&p, 0, 1, 1, &[("a", 8)], 0);
    let m = read_file(&p).expect("single");
    assert!(!m.is_split());
    assert_eq!(m.tensor_count(), 1);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let e = read_file("/nonexistent/canirun/model.gguf").expect_err("missing");
    assert!(matches!(e, GgufError::File { .. }));
    assert!(
        e.to_string().contains("/nonexistent/canirun/model.gguf"),
        "{e}"
    );
}
