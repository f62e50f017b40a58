//! llama.cpp file types (`general.file_type`): a named mixture such as Q4_K_M,
//! whose default tensor type comes from the embedded `data/file_types.csv`.

use super::GgmlType;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

/// A llama.cpp file type (quantization mixture).
#[allow(non_camel_case_types, clippy::upper_case_acronyms, missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q2_K_S,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
    IQ1_S,
    IQ1_M,
    IQ2_XXS,
    IQ2_XS,
    IQ2_S,
    IQ2_M,
    IQ3_XXS,
    IQ3_XS,
    IQ3_S,
    IQ3_M,
    IQ4_NL,
    IQ4_XS,
    TQ1_0,
    TQ2_0,
    MXFP4_MOE,
}

/// Every file type, smallest family first.
pub const ALL_FILE_TYPES: [FileType; 33] = {
    use FileType::*;
    [
        IQ1_S, IQ1_M, TQ1_0, IQ2_XXS, TQ2_0, IQ2_XS, IQ2_S, IQ2_M, Q2_K_S, Q2_K, IQ3_XXS, IQ3_XS,
        IQ3_S, IQ3_M, Q3_K_S, Q3_K_M, Q3_K_L, IQ4_XS, IQ4_NL, Q4_0, Q4_1, Q4_K_S, Q4_K_M,
        MXFP4_MOE, Q5_0, Q5_1, Q5_K_S, Q5_K_M, Q6_K, Q8_0, F16, BF16, F32,
    ]
};

struct Row {
    id: u32,
    default_type: GgmlType,
}

/// Rows indexed by the enum's discriminant: a table lookup on the hot path.
static ROWS: LazyLock<Vec<Option<Row>>> = LazyLock::new(|| {
    let mut rdr = csv::Reader::from_reader(include_str!("../../data/file_types.csv").as_bytes());
    let mut by_name: HashMap<String, Row> = rdr
        .records()
        .map(|r| {
            let r = r.expect("embedded file_types.csv is valid");
            (
                r[0].to_string(),
                Row {
                    id: r[1].parse().expect("ftype id"),
                    default_type: r[2].parse().expect("default ggml type"),
                },
            )
        })
        .collect();
    let mut table: Vec<Option<Row>> = (0..ALL_FILE_TYPES.len()).map(|_| None).collect();
    for f in ALL_FILE_TYPES {
        table[f as usize] = by_name.remove(&f.name());
    }
    table
});

impl FileType {
    /// The name llama.cpp uses (`Q4_K_M`).
    pub fn name(self) -> String {
        format!("{self:?}")
    }

    fn row(self) -> &'static Row {
        ROWS[self as usize]
            .as_ref()
            .expect("every FileType has a row in file_types.csv (checked by a test)")
    }

    /// llama.cpp's numeric id (`general.file_type`).
    pub fn id(self) -> u32 {
        self.row().id
    }

    /// The tensor type most quantizable tensors get.
    pub fn default_type(self) -> GgmlType {
        self.row().default_type
    }

    /// Look up a file type by llama.cpp id.
    pub fn from_id(id: u32) -> Option<FileType> {
        ALL_FILE_TYPES.iter().copied().find(|f| f.id() == id)
    }

    /// Parse `q4_k_m`, `Q4_K_M`, `q4-k-m`, `fp16`, `bf16`.
    pub fn parse(s: &str) -> Option<FileType> {
        let up = s.trim().to_ascii_uppercase().replace('-', "_");
        let up = match up.as_str() {
            "FP16" | "HALF" => "F16".to_string(),
            "FP32" | "FLOAT32" => "F32".to_string(),
            "Q4_K" => "Q4_K_M".to_string(),
            "Q5_K" => "Q5_K_M".to_string(),
            "Q3_K" => "Q3_K_M".to_string(),
            _ => up,
        };
        ALL_FILE_TYPES.iter().copied().find(|f| f.name() == up)
    }

    /// Whether the default type is block-quantized (only then do llama.cpp's mixture rules apply).
    pub fn is_quantized(self) -> bool {
        self.default_type().is_quantized()
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_type_has_a_row() {
        for f in ALL_FILE_TYPES {
            assert_eq!(FileType::from_id(f.id()), Some(f));
            let _ = f.default_type();
        }
        assert_eq!(FileType::Q4_K_M.id(), 15);
        assert_eq!(FileType::IQ2_M.default_type(), GgmlType::IQ2_S);
        assert_eq!(FileType::parse("q4-k-m"), Some(FileType::Q4_K_M));
        assert_eq!(FileType::parse("fp16"), Some(FileType::F16));
    }
}
