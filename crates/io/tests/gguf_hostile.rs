//! Hostile and damaged GGUF headers: each must give a clear error quickly, with memory
//! bounded by the bytes actually present, and never a panic.

use canirun_io::gguf::{read_header, GgufError, GgufValue, Limits};

/// Little-endian byte builder for hand-made headers.
#[derive(Default, Clone)]
struct B(Vec<u8>);

impl B {
    fn gguf(version: u32, n_tensors: u64, n_kv: u64) -> Self {
        B::default()
            .raw(b"GGUF")
            .u32(version)
            .u64(n_tensors)
            .u64(n_kv)
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn str(self, s: &str) -> Self {
        self.u64(s.len() as u64).raw(s.as_bytes())
    }
    /// A tensor info.
    fn tensor(self, name: &str, dims: &[u64], ggml_type: u32, offset: u64) -> Self {
        let mut b = self.str(name).u32(dims.len() as u32);
        for &d in dims {
            b = b.u64(d);
        }
        b.u32(ggml_type).u64(offset)
    }
    fn parse(&self) -> Result<canirun_io::gguf::GgufHeader, GgufError> {
        read_header(&self.0[..], &Limits::default())
    }
}

fn err(b: &B) -> GgufError {
    match b.parse() {
        Ok(h) => panic!("expected an error, parsed {h:?}"),
        Err(e) => e,
    }
}

#[test]
fn wrong_magic() {
    let e = err(&B::default().raw(b"GGML").u32(3).u64(0).u64(0));
    assert!(matches!(e, GgufError::BadMagic { found, .. } if &found == b"GGML"));
    assert!(e.to_string().contains("not a GGUF file"), "{e}");
    let e = err(&B::default().raw(b"tjgg").u32(3));
    assert!(e.to_string().contains("GGJT"), "{e}");
    let e = err(&B::default().raw(b"PK\x03\x04"));
    assert!(e.to_string().contains("zip"), "{e}");
    let e = err(&B::default().raw(b"<!DO"));
    assert!(e.to_string().contains("HTML"), "{e}");
}

#[test]
fn empty_and_tiny_inputs_are_truncated() {
    for len in 0..4 {
        assert!(err(&B(b"GGUF"[..len].to_vec())).is_truncated());
    }
}

#[test]
fn version_1_and_99_are_refused() {
    let e = err(&B::gguf(1, 0, 0));
    assert!(matches!(
        e,
        GgufError::UnsupportedVersion { version: 1, .. }
    ));
    assert!(e.to_string().contains("re-convert"), "{e}");
    let e = err(&B::gguf(99, 0, 0));
    assert!(matches!(
        e,
        GgufError::UnsupportedVersion { version: 99, .. }
    ));
    assert!(e.to_string().contains("versions 2 and 3"), "{e}");
    let e = err(&B::gguf(3u32.swap_bytes(), 0, 0));
    assert!(e.to_string().contains("big-endian"), "{e}");
}

#[test]
fn absurd_counts_are_refused_before_reading_on() {
    let e = err(&B::gguf(3, 1 << 60, 0));
    assert!(matches!(e, GgufError::TooMany { what: "tensors", count, .. } if count == 1 << 60));
    let e = err(&B::gguf(3, 0, 1 << 60));
    assert!(matches!(
        e,
        GgufError::TooMany {
            what: "metadata key/values",
            ..
        }
    ));
    assert!(e.to_string().contains("1152921504606846976"), "{e}");
    // Within the limit but not backed by data: truncated, not an allocation.
    assert!(err(&B::gguf(3, 1 << 20, 1 << 20)).is_truncated());
}

#[test]
fn four_gigabyte_string_is_refused() {
    // As a value...
    let b = B::gguf(3, 0, 1).str("general.name").u32(8).u64(1 << 32);
    let e = err(&b);
    assert!(
        matches!(e, GgufError::StringTooLong { len, .. } if len == 1 << 32),
        "{e}"
    );
    // ...as a key...
    let e = err(&B::gguf(3, 0, 1).u64(1 << 32).raw(b"xxxx"));
    assert!(matches!(e, GgufError::StringTooLong { .. }), "{e}");
    // ...and as a tensor name.
    let e = err(&B::gguf(3, 1, 0).u64(u64::MAX));
    assert!(matches!(e, GgufError::StringTooLong { .. }), "{e}");
}

#[test]
fn long_string_within_limit_but_truncated_costs_no_big_allocation() {
    // 60 MiB declared, 4 bytes present: a chunked read fails after one small chunk.
    let b = B::gguf(3, 0, 1).str("k").u32(8).u64(60 << 20).raw(b"abcd");
    assert!(err(&b).is_truncated());
}

#[test]
fn unlimited_string_length_still_allocates_only_what_arrives() {
    // With the cap lifted, a 4 GiB (or 2^63) declared string in a short file is read in
    // chunks and fails as truncated: no allocation of the declared size.
    let limits = Limits {
        max_string_bytes: u64::MAX,
        ..Limits::default()
    };
    for len in [1u64 << 32, 1 << 63] {
        let b = B::gguf(3, 0, 1).str("k").u32(8).u64(len).raw(b"abcd");
        let e = read_header(&b.0[..], &limits).expect_err("truncated");
        assert!(e.is_truncated(), "{e}");
    }
}

#[test]
fn array_of_2_pow_40_elements_is_refused() {
    let b = B::gguf(3, 0, 1)
        .str("tokenizer.ggml.tokens")
        .u32(9)
        .u32(8)
        .u64(1 << 40);
    let e = err(&b);
    assert!(
        matches!(e, GgufError::ArrayTooLong { len, .. } if len == 1 << 40),
        "{e}"
    );
    assert!(e.to_string().contains("tokenizer.ggml.tokens"), "{e}");
    // Also when nested inside another array.
    let b = B::gguf(3, 0, 1)
        .str("k")
        .u32(9)
        .u32(9)
        .u64(1)
        .u32(0)
        .u64(1 << 40);
    assert!(matches!(err(&b), GgufError::ArrayTooLong { .. }));
    // An array of a real vocabulary's size is fine (when its elements are present).
    let mut b = B::gguf(3, 0, 1).str("scores").u32(9).u32(6).u64(262_144);
    b.0.resize(b.0.len() + 262_144 * 4, 0);
    let h = b.parse().expect("262k-element array");
    let a = h
        .get("scores")
        .and_then(GgufValue::as_array)
        .expect("array");
    assert_eq!(a.values.len(), 262_144);
}

#[test]
fn nested_arrays_are_read_and_depth_is_capped() {
    // [[["a"]], []]
    let b = B::gguf(3, 0, 1)
        .str("n")
        .u32(9)
        .u32(9)
        .u64(2)
        .u32(9)
        .u64(1)
        .u32(8)
        .u64(1)
        .str("a")
        .u32(4)
        .u64(0);
    let h = b.parse().expect("nested");
    let outer = h.get("n").and_then(GgufValue::as_array).expect("outer");
    let first = outer.values[0].as_array().expect("first");
    let inner = first.values[0].as_array().expect("inner");
    assert_eq!(inner.values, vec![GgufValue::String("a".into())]);
    assert_eq!(outer.values[1].as_array().map(|a| a.len), Some(0));

    // 100 levels of array-of-array: refused at the depth limit, no stack overflow.
    let mut b = B::gguf(3, 0, 1).str("deep").u32(9);
    for _ in 0..100 {
        b = b.u32(9).u64(1);
    }
    assert!(matches!(err(&b), GgufError::TooDeep { .. }));
}

#[test]
fn bad_value_types_bools_and_duplicate_keys() {
    let e = err(&B::gguf(3, 0, 1).str("k").u32(13).u32(0));
    assert!(matches!(e, GgufError::InvalidValueType { type_id: 13, .. }));
    let e = err(&B::gguf(3, 0, 1).str("k").u32(9).u32(77).u64(0));
    assert!(matches!(e, GgufError::InvalidValueType { type_id: 77, .. }));
    let e = err(&B::gguf(3, 0, 1).str("k").u32(7).raw(&[2]));
    assert!(matches!(e, GgufError::InvalidBool { byte: 2, .. }));
    let e = err(&B::gguf(3, 0, 2)
        .str("k")
        .u32(4)
        .u32(1)
        .str("k")
        .u32(4)
        .u32(2));
    assert!(matches!(e, GgufError::DuplicateKey { .. }));
    let e = err(&B::gguf(3, 0, 1).u64(2).raw(&[0xC3, 0x28]).u32(4).u32(1));
    assert!(matches!(e, GgufError::InvalidUtf8 { .. }));
    // Invalid UTF-8 in a *value* is tolerated (replacement characters).
    let h = B::gguf(3, 0, 1)
        .str("k")
        .u32(8)
        .u64(2)
        .raw(&[0xC3, 0x28])
        .parse();
    assert_eq!(h.expect("lossy").get_str("k"), Some("\u{FFFD}("));
}

#[test]
fn alignment_must_be_a_power_of_two() {
    for (ty, bytes) in [(4u32, 0u32.to_le_bytes()), (4, 48u32.to_le_bytes())] {
        let b = B::gguf(3, 0, 1)
            .str("general.alignment")
            .u32(ty)
            .raw(&bytes);
        assert!(matches!(err(&b), GgufError::BadAlignment { .. }));
    }
    let b = B::gguf(3, 0, 1).str("general.alignment").u32(8).str("32");
    assert!(matches!(err(&b), GgufError::BadAlignment { .. }));
    // A valid non-default alignment moves the data offset.
    let b = B::gguf(3, 0, 1).str("general.alignment").u32(4).u32(4096);
    let h = b.parse().expect("alignment 4096");
    assert_eq!((h.alignment, h.data_offset), (4096, 4096));
}

#[test]
fn tensor_infos_are_checked() {
    let e = err(&B::gguf(3, 1, 0).str("t").u32(5));
    assert!(matches!(e, GgufError::BadDimensionCount { n_dims: 5, .. }));
    let e = err(&B::gguf(3, 1, 0).tensor("t", &[32], 4, 0));
    assert!(matches!(e, GgufError::UnknownTensorType { type_id: 4, .. }));
    assert!(e.to_string().contains("upgrade canirun"), "{e}");
    let e = err(&B::gguf(3, 1, 0).tensor("t", &[100], 12, 0));
    assert!(matches!(e, GgufError::BadShape { .. }), "{e}");
    let e = err(&B::gguf(3, 1, 0).tensor("t", &[u64::MAX, u64::MAX], 0, 0));
    assert!(matches!(e, GgufError::BadShape { .. }), "{e}");
    let e = err(&B::gguf(3, 2, 0)
        .tensor("t", &[8], 0, 0)
        .tensor("t", &[8], 0, 32));
    assert!(matches!(e, GgufError::DuplicateTensor { .. }));
}

#[test]
fn overlapping_tensor_offsets_are_refused() {
    // a: 64 F32 = 256 bytes at 0; b starts at 128, inside a.
    let b = B::gguf(3, 2, 0)
        .tensor("a", &[64], 0, 0)
        .tensor("b", &[8], 0, 128);
    let e = err(&b);
    assert!(
        matches!(&e, GgufError::OverlappingTensors { first, second, .. } if first == "a" && second == "b"),
        "{e}"
    );
    // The same offset twice.
    let b = B::gguf(3, 2, 0)
        .tensor("a", &[8], 0, 64)
        .tensor("b", &[8], 0, 64);
    assert!(matches!(err(&b), GgufError::OverlappingTensors { .. }));
    // Listed out of order but not overlapping: fine.
    let b = B::gguf(3, 2, 0)
        .tensor("b", &[8], 0, 32)
        .tensor("a", &[8], 0, 0);
    assert_eq!(b.parse().expect("disjoint").data_bytes, 64);
}

#[test]
fn out_of_range_tensor_offsets_are_refused() {
    // offset + size overflows u64.
    let b = B::gguf(3, 1, 0).tensor("t", &[64], 0, u64::MAX - 31);
    assert!(matches!(err(&b), GgufError::TensorOutOfRange { .. }));
    // Past the 1 PiB limit on the data section.
    let b = B::gguf(3, 1, 0).tensor("t", &[64], 0, 1 << 60);
    assert!(matches!(err(&b), GgufError::TensorOutOfRange { .. }));
    let limits = Limits {
        max_data_bytes: 1000,
        ..Limits::default()
    };
    let b = B::gguf(3, 1, 0).tensor("t", &[64], 0, 768);
    assert!(matches!(
        read_header(&b.0[..], &limits),
        Err(GgufError::TensorOutOfRange { max: 1000, .. })
    ));
}

#[test]
fn misaligned_tensor_offsets_are_refused() {
    let b = B::gguf(3, 1, 0).tensor("t", &[8], 0, 4);
    let e = err(&b);
    assert!(
        matches!(
            e,
            GgufError::MisalignedTensor {
                offset: 4,
                alignment: 32,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn errors_name_the_problem_and_the_position() {
    let b = B::gguf(3, 0, 1)
        .str("general.architecture")
        .u32(8)
        .u64(5)
        .raw(b"ll");
    let e = err(&b);
    let msg = e.to_string();
    assert!(msg.contains("general.architecture"), "{msg}");
    assert!(msg.contains("byte"), "{msg}");
}
