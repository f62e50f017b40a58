//! ggml tensor types: block size and bytes per block, read from the embedded
//! `data/ggml_types.csv` (a sourced copy of ggml-common.h's block layouts).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

/// A ggml tensor storage type, named as ggml names it.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    IQ1_M,
    TQ1_0,
    TQ2_0,
    MXFP4,
    NVFP4,
    Q1_0,
}

/// Every variant, in ggml id order where ids are known.
pub const ALL_GGML_TYPES: [GgmlType; 29] = {
    use GgmlType::*;
    [
        F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ2_XXS,
        IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, IQ1_M, BF16, TQ1_0, TQ2_0, MXFP4,
        NVFP4, Q1_0,
    ]
};

/// Block layout of one ggml type, as recorded in the embedded table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeTraits {
    /// ggml's numeric id (the value stored in GGUF tensor infos).
    pub id: u32,
    /// Elements per block.
    pub block_size: u64,
    /// Bytes per block.
    pub bytes_per_block: u64,
    /// Where the numbers come from.
    pub source: String,
}

/// Traits indexed by the enum's discriminant: a table lookup on the hot path.
static TRAITS: LazyLock<Vec<Option<TypeTraits>>> = LazyLock::new(|| {
    let mut map: HashMap<GgmlType, TypeTraits> = HashMap::new();
    let mut rdr = csv::Reader::from_reader(include_str!("../../data/ggml_types.csv").as_bytes());
    for rec in rdr.records() {
        let rec = rec.expect("embedded ggml_types.csv is valid CSV");
        let Ok(t) = rec[0].parse::<GgmlType>() else {
            continue; // a type we have no variant for yet (e.g. Q2_0, id unconfirmed)
        };
        let Ok(id) = rec[1].parse::<u32>() else {
            continue;
        };
        map.insert(
            t,
            TypeTraits {
                id,
                block_size: rec[2].parse().expect("block_size is an integer"),
                bytes_per_block: rec[3].parse().expect("bytes_per_block is an integer"),
                source: rec[7].to_string(),
            },
        );
    }
    let mut table = vec![None; ALL_GGML_TYPES.len()];
    for t in ALL_GGML_TYPES {
        table[t as usize] = map.remove(&t);
    }
    table
});

impl GgmlType {
    /// Block layout of this type.
    pub fn traits(self) -> &'static TypeTraits {
        TRAITS[self as usize]
            .as_ref()
            .expect("every GgmlType variant has a row in ggml_types.csv (checked by a test)")
    }

    /// Elements per block.
    pub fn block_size(self) -> u64 {
        self.traits().block_size
    }

    /// Bytes per block.
    pub fn bytes_per_block(self) -> u64 {
        self.traits().bytes_per_block
    }

    /// Bits per weight of the type itself.
    pub fn bpw(self) -> f64 {
        self.bytes_per_block() as f64 * 8.0 / self.block_size() as f64
    }

    /// Bytes of one row of `n` elements, as ggml_row_size computes it.
    /// `n` must be a multiple of the block size; callers check with [`GgmlType::fits_row`].
    pub fn row_size(self, n: u64) -> u64 {
        n / self.block_size() * self.bytes_per_block()
    }

    /// Whether a row of `n` elements can be stored in this type.
    pub fn fits_row(self, n: u64) -> bool {
        n.is_multiple_of(self.block_size())
    }

    /// Bytes of a tensor with `n_elements` elements whose rows are `ne0` long.
    pub fn tensor_bytes(self, ne0: u64, n_elements: u64) -> u64 {
        if ne0 == 0 {
            return 0;
        }
        self.row_size(ne0) * (n_elements / ne0)
    }

    /// Look a type up by its ggml id.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        ALL_GGML_TYPES.iter().copied().find(|t| t.traits().id == id)
    }

    /// Whether the type is block-quantized (not a plain float).
    pub fn is_quantized(self) -> bool {
        !matches!(self, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
    }

    /// ggml's name for the type.
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            BF16 => "BF16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2_K => "Q2_K",
            Q3_K => "Q3_K",
            Q4_K => "Q4_K",
            Q5_K => "Q5_K",
            Q6_K => "Q6_K",
            Q8_K => "Q8_K",
            IQ2_XXS => "IQ2_XXS",
            IQ2_XS => "IQ2_XS",
            IQ3_XXS => "IQ3_XXS",
            IQ1_S => "IQ1_S",
            IQ4_NL => "IQ4_NL",
            IQ3_S => "IQ3_S",
            IQ2_S => "IQ2_S",
            IQ4_XS => "IQ4_XS",
            IQ1_M => "IQ1_M",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            MXFP4 => "MXFP4",
            NVFP4 => "NVFP4",
            Q1_0 => "Q1_0",
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for GgmlType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        ALL_GGML_TYPES
            .iter()
            .copied()
            .find(|t| t.name() == up)
            .ok_or_else(|| format!("unknown ggml type '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_sourced_row() {
        for t in ALL_GGML_TYPES {
            let tr = t.traits();
            assert!(tr.block_size > 0 && tr.bytes_per_block > 0, "{t}");
            assert!(!tr.source.is_empty(), "{t} has no source");
            assert_eq!(GgmlType::from_id(tr.id), Some(t));
        }
    }

    #[test]
    fn known_layouts() {
        assert_eq!(GgmlType::Q4_K.row_size(4096), 16 * 144);
        assert_eq!(GgmlType::Q8_0.row_size(576), 18 * 34);
        assert!((GgmlType::Q6_K.bpw() - 6.5625).abs() < 1e-12);
        assert!(!GgmlType::Q4_K.fits_row(128));
        assert_eq!("q4_k".parse::<GgmlType>().unwrap(), GgmlType::Q4_K);
    }
}
