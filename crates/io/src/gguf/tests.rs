//! Unit tests of the reader on hand-built headers. Hostile inputs are in
//! `crates/io/tests/gguf_hostile.rs`; real files in `gguf_real.rs`.

use super::*;

/// Little-endian byte builder for hand-made headers.
#[derive(Default)]
struct B(Vec<u8>);

impl B {
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(self, s: &str) -> Self {
        let mut b = self.u64(s.len() as u64);
        b.0.extend_from_slice(s.as_bytes());
        b
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

/// A small v3 file: 3 key/values (one nested array), 2 tensors.
fn small_v3() -> Vec<u8> {
    B::default()
        .raw(b"GGUF")
        .u32(3)
        .u64(2) // tensors
        .u64(3) // kvs
        .str("general.architecture")
        .u32(8)
        .str("llama")
        .str("llama.block_count")
        .u32(4)
        .u32(2)
        .str("x.nested")
        .u32(9)
        .u32(9) // array of arrays
        .u64(2)
        .u32(5) // [i32; 2]
        .u64(2)
        .u32(7)
        .u32(u32::MAX)
        .u32(8) // [string; 1]
        .u64(1)
        .str("hi")
        // tensor: 512 x 2 Q4_K at 0 -> 2 * 2 * 144 = 576 bytes
        .str("blk.0.w")
        .u32(2)
        .u64(512)
        .u64(2)
        .u32(12)
        .u64(0)
        // tensor: 8 F32 at 576 -> 32 bytes
        .str("norm")
        .u32(1)
        .u64(8)
        .u32(0)
        .u64(576)
        .0
}

#[test]
fn reads_a_small_v3_header() {
    let bytes = small_v3();
    let h = read_header(&bytes[..], &Limits::default()).expect("valid header");
    assert_eq!(h.version, 3);
    assert_eq!(h.architecture(), Some("llama"));
    assert_eq!(h.arch_u64("block_count"), Some(2));
    assert_eq!(h.get_u64("general.architecture"), None);
    let nested = h
        .get("x.nested")
        .and_then(GgufValue::as_array)
        .expect("array");
    assert_eq!(nested.elem_type, GgufValueType::Array);
    assert_eq!(nested.values.len(), 2);
    assert_eq!(
        nested.values[0],
        GgufValue::Array(GgufArray {
            elem_type: GgufValueType::I32,
            len: 2,
            values: vec![GgufValue::I32(7), GgufValue::I32(-1)],
        })
    );
    assert_eq!(h.tensors.len(), 2);
    assert_eq!(h.tensors[0].n_bytes, 576);
    assert_eq!(h.tensors[0].type_name(), "Q4_K");
    assert_eq!(h.tensors[0].n_elements(), 1024);
    assert_eq!(h.tensors[1].n_bytes, 32);
    assert_eq!(h.header_bytes, bytes.len() as u64);
    assert_eq!(h.alignment, 32);
    assert_eq!(h.data_offset % 32, 0);
    assert!(h.data_offset >= h.header_bytes && h.data_offset < h.header_bytes + 32);
    assert_eq!(h.data_bytes, 608);
    assert_eq!(h.tensor_bytes_total(), 608);
    assert_eq!(h.expected_file_size(), h.data_offset + 608);
    assert_eq!(h.data_status(h.data_offset + 608), DataStatus::Complete);
    assert_eq!(
        h.data_status(h.data_offset),
        DataStatus::Incomplete {
            have: h.data_offset,
            need: h.data_offset + 608
        }
    );
}

#[test]
fn version_2_reads_like_version_3() {
    let mut bytes = small_v3();
    bytes[4] = 2;
    let h = read_header(&bytes[..], &Limits::default()).expect("v2 header");
    assert_eq!(h.version, 2);
}

#[test]
fn truncation_at_every_offset_is_a_clean_error() {
    let bytes = small_v3();
    for len in 0..bytes.len() {
        match read_header(&bytes[..len], &Limits::default()) {
            Err(e) if e.is_truncated() => {
                // The message names the position and says the file is incomplete.
                let msg = e.to_string();
                assert!(msg.contains("truncated"), "{msg}");
            }
            other => panic!("prefix of {len} bytes: expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn reads_only_the_header() {
    // Anything after the tensor infos, even garbage, is not read.
    let mut bytes = small_v3();
    let header_len = bytes.len();
    bytes.extend_from_slice(&[0xFF; 100]);
    let mut cursor = std::io::Cursor::new(&bytes);
    let h = read_header(&mut cursor, &Limits::default()).expect("header");
    assert_eq!(cursor.position(), header_len as u64);
    assert_eq!(h.header_bytes, header_len as u64);
}

#[test]
fn large_arrays_can_be_skipped() {
    let limits = Limits {
        retain_array_len: 1,
        ..Limits::default()
    };
    let h = read_header(&small_v3()[..], &limits).expect("header");
    let outer = h
        .get("x.nested")
        .and_then(GgufValue::as_array)
        .expect("array");
    assert_eq!(outer.len, 2);
    assert!(!outer.is_retained());
    assert!(outer.values.is_empty());
}

#[test]
fn metadata_budget_is_enforced() {
    let limits = Limits {
        max_metadata_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        read_header(&small_v3()[..], &limits),
        Err(GgufError::MetadataTooLarge { max: 100 })
    ));
}

#[test]
fn writer_round_trips_the_small_header() {
    let h = read_header(&small_v3()[..], &Limits::default()).expect("header");
    let mut out = Vec::new();
    let data_offset = write_header(&mut out, h.version, &h.metadata, &h.tensors).expect("write");
    assert_eq!(data_offset, h.data_offset);
    assert_eq!(&out[..h.header_bytes as usize], &small_v3()[..]);
    let again = read_header(&out[..], &Limits::default()).expect("reread");
    assert_eq!(again, h);
}

#[test]
fn tensor_bytes_follows_ggml_row_math() {
    // 151936 x 3584 Q6_K: 14 blocks of 210 bytes per row.
    assert_eq!(
        tensor_bytes("t", 14, &[3584, 151936]).ok(),
        Some(14 * 210 * 151936)
    );
    assert_eq!(
        tensor_bytes("t", 8, &[640, 262144]).ok(),
        Some(20 * 34 * 262144)
    );
    assert!(matches!(
        tensor_bytes("t", 12, &[100]),
        Err(GgufError::BadShape { .. })
    ));
    assert!(matches!(
        tensor_bytes("t", 4, &[32]),
        Err(GgufError::UnknownTensorType { type_id: 4, .. })
    ));
}

#[test]
fn value_accessors_convert_integer_types() {
    assert_eq!(GgufValue::I32(5).as_u64(), Some(5));
    assert_eq!(GgufValue::I32(-5).as_u64(), None);
    assert_eq!(GgufValue::U64(u64::MAX).as_i64(), None);
    assert_eq!(GgufValue::U16(7).as_f64(), Some(7.0));
    assert_eq!(GgufValue::F32(0.5).as_u64(), None);
    assert_eq!(GgufValue::Bool(true).as_bool(), Some(true));
    assert_eq!(GgufValue::String("a".into()).as_str(), Some("a"));
}

/// A reader that fails (not with end of input) after `ok` bytes.
struct Failing {
    data: Vec<u8>,
    ok: usize,
}

impl std::io::Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ok == 0 {
            return Err(std::io::Error::other("network reset"));
        }
        let n = buf.len().min(self.ok).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data.drain(..n);
        self.ok -= n;
        Ok(n)
    }
}

#[test]
fn reader_errors_are_reported_with_their_position() {
    let r = Failing {
        data: small_v3(),
        ok: 20,
    };
    match read_header(r, &Limits::default()) {
        Err(GgufError::Io { offset, source }) => {
            assert!(offset <= 20);
            assert_eq!(source.to_string(), "network reset");
        }
        other => panic!("expected Io, got {other:?}"),
    }
}
