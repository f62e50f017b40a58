//! Storage size of ggml tensor types, keyed by the type id stored in GGUF tensor infos.
//!
//! TODO(unify): switch to `canirun_core::quant::GgmlType` once it lands; this private copy
//! exists only so the reader and core's table could be written at the same time.
//! Source: /work/shared/data/ggml_quant_types.csv (ids from ggml.h `enum ggml_type`,
//! block layouts from ggml-common.h). The integer types I8..I64 and F64 are not in the
//! CSV; they are plain scalars (block size 1) in ggml.h.

/// Block size (elements) and bytes per block of one ggml type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeSize {
    pub name: &'static str,
    pub block_size: u64,
    pub bytes_per_block: u64,
}

const fn t(name: &'static str, block_size: u64, bytes_per_block: u64) -> Option<TypeSize> {
    Some(TypeSize {
        name,
        block_size,
        bytes_per_block,
    })
}

/// Look up a ggml type id. Ids 4, 5 (removed Q4_2/Q4_3), 31..=33 and 36..=38 (removed
/// repacked types) are never valid in a file, so they are unknown here, as are future ids.
pub(crate) fn type_size(id: u32) -> Option<TypeSize> {
    match id {
        0 => t("F32", 1, 4),
        1 => t("F16", 1, 2),
        2 => t("Q4_0", 32, 18),
        3 => t("Q4_1", 32, 20),
        6 => t("Q5_0", 32, 22),
        7 => t("Q5_1", 32, 24),
        8 => t("Q8_0", 32, 34),
        9 => t("Q8_1", 32, 36),
        10 => t("Q2_K", 256, 84),
        11 => t("Q3_K", 256, 110),
        12 => t("Q4_K", 256, 144),
        13 => t("Q5_K", 256, 176),
        14 => t("Q6_K", 256, 210),
        15 => t("Q8_K", 256, 292),
        16 => t("IQ2_XXS", 256, 66),
        17 => t("IQ2_XS", 256, 74),
        18 => t("IQ3_XXS", 256, 98),
        19 => t("IQ1_S", 256, 50),
        20 => t("IQ4_NL", 32, 18),
        21 => t("IQ3_S", 256, 110),
        22 => t("IQ2_S", 256, 82),
        23 => t("IQ4_XS", 256, 136),
        24 => t("I8", 1, 1),
        25 => t("I16", 1, 2),
        26 => t("I32", 1, 4),
        27 => t("I64", 1, 8),
        28 => t("F64", 1, 8),
        29 => t("IQ1_M", 256, 56),
        30 => t("BF16", 1, 2),
        34 => t("TQ1_0", 256, 54),
        35 => t("TQ2_0", 256, 66),
        39 => t("MXFP4", 32, 17),
        // The CSV marks the ids of these two recent types as unconfirmed upstream.
        40 => t("NVFP4", 64, 36),
        41 => t("Q1_0", 128, 18),
        _ => None,
    }
}

/// A printable name for a type id, known or not.
pub(crate) fn type_name(id: u32) -> String {
    match type_size(id) {
        Some(ts) => ts.name.to_string(),
        None => format!("type#{id}"),
    }
}

/// Why a shape cannot be stored in a type (the text goes into `GgufError::BadShape`).
pub(crate) enum ShapeError {
    RowNotWholeBlocks,
    Overflow,
}

/// Bytes of a contiguous tensor of `ts` with dims `ne` (ne[0] = row length), using
/// ggml's row-size rule: each row is `ne[0] / block_size` blocks.
pub(crate) fn nbytes(ts: TypeSize, ne: &[u64]) -> Result<u64, ShapeError> {
    let row_len = ne.first().copied().unwrap_or(1);
    if row_len % ts.block_size != 0 {
        return Err(ShapeError::RowNotWholeBlocks);
    }
    let row_bytes = (row_len / ts.block_size)
        .checked_mul(ts.bytes_per_block)
        .ok_or(ShapeError::Overflow)?;
    let mut total = row_bytes;
    for &d in ne.iter().skip(1) {
        total = total.checked_mul(d).ok_or(ShapeError::Overflow)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sizes() {
        let q4k = type_size(12).expect("Q4_K");
        assert_eq!(q4k.name, "Q4_K");
        // 3584 x 18944 Q4_K: 14 blocks of 144 bytes per row.
        assert!(matches!(nbytes(q4k, &[3584, 18944]), Ok(n) if n == 14 * 144 * 18944));
        assert!(matches!(
            nbytes(q4k, &[100, 2]),
            Err(ShapeError::RowNotWholeBlocks)
        ));
        let f32t = type_size(0).expect("F32");
        assert!(matches!(
            nbytes(f32t, &[u64::MAX / 2, 4]),
            Err(ShapeError::Overflow)
        ));
        assert!(type_size(4).is_none());
        assert!(type_size(1000).is_none());
        assert_eq!(type_name(1000), "type#1000");
    }
}
