//! Property tests: arbitrary and mutated bytes never panic the reader, and generated
//! headers round-trip through `write_header` and `read_header` unchanged.

use canirun_io::gguf::{
    read_header, write_header, GgufArray, GgufTensorInfo, GgufValue, GgufValueType, Limits,
};
use proptest::prelude::*;

/// A scalar or string value.
fn leaf() -> impl Strategy<Value = GgufValue> {
    prop_oneof![
        any::<u8>().prop_map(GgufValue::U8),
        any::<i8>().prop_map(GgufValue::I8),
        any::<u16>().prop_map(GgufValue::U16),
        any::<i16>().prop_map(GgufValue::I16),
        any::<u32>().prop_map(GgufValue::U32),
        any::<i32>().prop_map(GgufValue::I32),
        // Finite floats only, so that equality is meaningful.
        (-1e30f32..1e30f32).prop_map(GgufValue::F32),
        any::<bool>().prop_map(GgufValue::Bool),
        ".{0,12}".prop_map(GgufValue::String),
        any::<u64>().prop_map(GgufValue::U64),
        any::<i64>().prop_map(GgufValue::I64),
        (-1e300f64..1e300f64).prop_map(GgufValue::F64),
    ]
}

/// A leaf or a homogeneous array (nested up to three levels; the inner arrays of an
/// array of arrays may have different element types, as the format allows).
fn value() -> impl Strategy<Value = GgufValue> {
    leaf().prop_recursive(3, 64, 6, |inner| {
        prop::collection::vec(inner, 0..6).prop_map(|vals| {
            // Keep only the elements of the first element's type.
            let elem_type = vals
                .first()
                .map_or(GgufValueType::U8, GgufValue::value_type);
            let values: Vec<GgufValue> = vals
                .into_iter()
                .filter(|v| v.value_type() == elem_type)
                .collect();
            GgufValue::Array(GgufArray {
                elem_type,
                len: values.len() as u64,
                values,
            })
        })
    })
}

/// (type id, block size, bytes per block) for a few ggml types.
const TYPES: [(u32, u64, u64); 6] = [
    (0, 1, 4),
    (1, 1, 2),
    (8, 32, 34),
    (12, 256, 144),
    (14, 256, 210),
    (30, 1, 2),
];

fn tensors() -> impl Strategy<Value = Vec<GgufTensorInfo>> {
    prop::collection::vec(
        (
            0..TYPES.len(),
            1u64..4,
            prop::collection::vec(1u64..5, 0..3),
            any::<bool>(),
        ),
        0..8,
    )
    .prop_map(|specs| {
        let mut offset = 0u64;
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (ti, blocks, rest, gap))| {
                let (ggml_type, block, bpb) = TYPES[ti];
                let mut dims = vec![blocks * block];
                dims.extend(rest);
                let n_bytes = dims[1..].iter().product::<u64>() * blocks * bpb;
                if gap {
                    offset += 64;
                }
                let t = GgufTensorInfo {
                    name: format!("blk.{i}.weight"),
                    dims,
                    ggml_type,
                    offset,
                    n_bytes,
                };
                offset += n_bytes.div_ceil(32) * 32;
                t
            })
            .collect()
    })
}

fn metadata() -> impl Strategy<Value = Vec<(String, GgufValue)>> {
    prop::collection::btree_map("[a-z]{1,8}(\\.[a-z_]{1,8}){0,2}", value(), 0..10)
        .prop_map(|m| m.into_iter().collect())
}

fn header_bytes(version: u32, md: &[(String, GgufValue)], ts: &[GgufTensorInfo]) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out, version, md, ts).expect("write to a Vec");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_header(&bytes[..], &Limits::default());
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_preamble_never_panic(
        version in 2u32..4,
        n_tensors in 0u64..4,
        n_kv in 0u64..4,
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&n_tensors.to_le_bytes());
        bytes.extend_from_slice(&n_kv.to_le_bytes());
        bytes.extend_from_slice(&tail);
        let _ = read_header(&bytes[..], &Limits::default());
    }

    #[test]
    fn generated_headers_round_trip(
        version in 2u32..4,
        md in metadata(),
        ts in tensors(),
    ) {
        let bytes = header_bytes(version, &md, &ts);
        let h = read_header(&bytes[..], &Limits::default()).expect("generated header parses");
        prop_assert_eq!(h.version, version);
        prop_assert_eq!(&h.metadata, &md);
        prop_assert_eq!(&h.tensors, &ts);
        prop_assert_eq!(h.data_offset, bytes.len() as u64);
        prop_assert_eq!(h.data_offset % 32, 0);
        let end = ts.iter().map(|t| t.offset + t.n_bytes).max().unwrap_or(0);
        prop_assert_eq!(h.data_bytes, end);
        // Writing what was read gives the same bytes.
        prop_assert_eq!(header_bytes(h.version, &h.metadata, &h.tensors), bytes);
    }

    #[test]
    fn truncated_generated_headers_are_truncated_errors(
        md in metadata(),
        ts in tensors(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = header_bytes(3, &md, &ts);
        let h = read_header(&bytes[..], &Limits::default()).expect("parses");
        let len = cut.index(h.header_bytes as usize);
        let e = read_header(&bytes[..len], &Limits::default()).expect_err("prefix");
        prop_assert!(e.is_truncated(), "{}", e);
    }

    #[test]
    fn mutated_generated_headers_never_panic(
        md in metadata(),
        ts in tensors(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = header_bytes(3, &md, &ts);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let _ = read_header(&bytes[..], &Limits::default());
    }
}
