//! A streaming, header-only GGUF reader.
//!
//! GGUF (llama.cpp's model format) is a header — magic, version, metadata key/values,
//! tensor descriptors — followed by the tensor data. canirun needs only the header: it
//! gives the architecture, hyperparameters and the exact byte size of every tensor. So
//! this reader consumes the header from any [`std::io::Read`] and never touches tensor
//! data; a 400 GB model is inspected by reading a few megabytes, and the same code works
//! on truncated downloads and (later) HTTP range reads.
//!
//! The input is untrusted: every count in the header is checked against [`Limits`]
//! before it is acted on, no allocation is sized by a count from the file, and every
//! malformed input yields a [`GgufError`], never a panic.
//!
//! Entry points:
//! - [`read_header`]: parse a header from a reader (pass a buffered reader).
//! - [`read_file`]: parse a file from disk, following split parts
//!   (`name-00001-of-00003.gguf`), and say whether the tensor data is all there.

mod error;
mod ggml_types;
mod reader;
mod split;
mod writer;

pub use error::GgufError;
pub use reader::read_header;
pub use split::{read_file, read_file_with_limits, split_part_path, GgufModelFile, GgufPart};
pub use writer::write_header;

/// The default alignment of the tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Most split parts accepted; llama.cpp's own tool writes far fewer, and this keeps a
/// hostile `split.count` from making us probe for thousands of files.
pub const MAX_SPLIT_COUNT: u64 = 1024;

/// Caps applied while reading an untrusted header. The defaults admit every real
/// model seen (the largest arrays are tokenizer vocabularies of ~262k entries) while
/// refusing absurd declarations early with a clear error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most tensor descriptors in one file.
    pub max_tensors: u64,
    /// Most metadata key/values in one file.
    pub max_kvs: u64,
    /// Longest metadata key or tensor name, in bytes.
    pub max_name_bytes: u64,
    /// Longest string value, in bytes (chat templates are the long ones, ~10 KiB).
    pub max_string_bytes: u64,
    /// Most elements in one array (at any nesting level).
    pub max_array_len: u64,
    /// Deepest array nesting (an array of arrays is depth 2).
    pub max_array_depth: u32,
    /// Memory budget for all decoded metadata and tensor descriptors, in bytes
    /// (approximate: counts in-memory sizes of values, strings and names).
    pub max_metadata_bytes: u64,
    /// Arrays with more elements than this are checked and consumed but their values
    /// are not kept (the [`GgufArray::len`] still says how long they were). Callers
    /// that don't need tokenizer vocabularies can set this low to save memory.
    pub retain_array_len: u64,
    /// Largest tensor data section accepted (offset + size of any tensor), in bytes.
    pub max_data_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tensors: 1 << 20,
            max_kvs: 1 << 20,
            max_name_bytes: 64 << 10,
            max_string_bytes: 64 << 20,
            max_array_len: 1 << 24,
            max_array_depth: 8,
            max_metadata_bytes: 1 << 30,
            retain_array_len: u64::MAX,
            // 1 PiB: several times the largest published model.
            max_data_bytes: 1 << 50,
        }
    }
}

/// The type tag of a metadata value, as stored in the file (ids 0..=12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum GgufValueType {
    /// 0
    U8 = 0,
    /// 1
    I8 = 1,
    /// 2
    U16 = 2,
    /// 3
    I16 = 3,
    /// 4
    U32 = 4,
    /// 5
    I32 = 5,
    /// 6
    F32 = 6,
    /// 7
    Bool = 7,
    /// 8: u64 length + UTF-8 bytes
    String = 8,
    /// 9: element type + u64 count + elements
    Array = 9,
    /// 10
    U64 = 10,
    /// 11
    I64 = 11,
    /// 12
    F64 = 12,
}

impl GgufValueType {
    /// The type for a stored id, or `None` for ids GGUF does not define.
    pub fn from_id(id: u32) -> Option<Self> {
        use GgufValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The id stored in the file.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// Encoded size of one value of a fixed-size type; `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<u64> {
        use GgufValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// uint8
    U8(u8),
    /// int8
    I8(i8),
    /// uint16
    U16(u16),
    /// int16
    I16(i16),
    /// uint32
    U32(u32),
    /// int32
    I32(i32),
    /// float32
    F32(f32),
    /// bool
    Bool(bool),
    /// string. Invalid UTF-8 in values is replaced by U+FFFD rather than rejected: a
    /// single odd token in a 150k-entry vocabulary must not make a model unreadable.
    String(String),
    /// array (possibly of arrays)
    Array(GgufArray),
    /// uint64
    U64(u64),
    /// int64
    I64(i64),
    /// float64
    F64(f64),
}

/// A metadata array: all elements have `elem_type`.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufArray {
    /// The declared element type.
    pub elem_type: GgufValueType,
    /// The element count stored in the file.
    pub len: u64,
    /// The elements; empty when `len` exceeded [`Limits::retain_array_len`]
    /// (see [`GgufArray::is_retained`]).
    pub values: Vec<GgufValue>,
}

impl GgufArray {
    /// False when the values were skipped to save memory.
    pub fn is_retained(&self) -> bool {
        self.values.len() as u64 == self.len
    }
}

impl GgufValue {
    /// The type tag of this value.
    pub fn value_type(&self) -> GgufValueType {
        match self {
            GgufValue::U8(_) => GgufValueType::U8,
            GgufValue::I8(_) => GgufValueType::I8,
            GgufValue::U16(_) => GgufValueType::U16,
            GgufValue::I16(_) => GgufValueType::I16,
            GgufValue::U32(_) => GgufValueType::U32,
            GgufValue::I32(_) => GgufValueType::I32,
            GgufValue::F32(_) => GgufValueType::F32,
            GgufValue::Bool(_) => GgufValueType::Bool,
            GgufValue::String(_) => GgufValueType::String,
            GgufValue::Array(_) => GgufValueType::Array,
            GgufValue::U64(_) => GgufValueType::U64,
            GgufValue::I64(_) => GgufValueType::I64,
            GgufValue::F64(_) => GgufValueType::F64,
        }
    }

    /// The value as a non-negative integer, whatever integer type it was stored as
    /// (writers disagree: the same key is u32 in one file and i32 or u64 in another).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, whatever integer type it was stored as.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => i64::try_from(v).ok(),
            GgufValue::I8(v) => Some(v.into()),
            GgufValue::I16(v) => Some(v.into()),
            GgufValue::I32(v) => Some(v.into()),
            GgufValue::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a float (integers and floats both convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v.into()),
            GgufValue::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One tensor descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, innermost first (`dims[0]` is the row length), 1 to 4 of them.
    pub dims: Vec<u64>,
    /// The ggml type id (0 = F32, 12 = Q4_K, ...).
    pub ggml_type: u32,
    /// Start of the tensor's bytes, relative to [`GgufHeader::data_offset`].
    pub offset: u64,
    /// Size of the tensor's bytes (ggml row-size math; checked when the header was read).
    pub n_bytes: u64,
}

impl GgufTensorInfo {
    /// Number of elements (product of the dims; saturates on absurd shapes).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// The ggml type name (`"Q4_K"`), or `type#N` for an id canirun does not know.
    pub fn type_name(&self) -> String {
        ggml_types::type_name(self.ggml_type)
    }
}

/// Byte size of a tensor of ggml type `ggml_type` with dims `dims`, or an error naming
/// `name` when the type is unknown or the shape cannot be stored in that type.
pub fn tensor_bytes(name: &str, ggml_type: u32, dims: &[u64]) -> Result<u64, GgufError> {
    let ts = ggml_types::type_size(ggml_type).ok_or_else(|| GgufError::UnknownTensorType {
        tensor: name.to_string(),
        type_id: ggml_type,
    })?;
    ggml_types::nbytes(ts, dims).map_err(|e| GgufError::BadShape {
        tensor: name.to_string(),
        dims: dims.to_vec(),
        type_name: ts.name.to_string(),
        reason: match e {
            ggml_types::ShapeError::RowNotWholeBlocks => {
                "the row length is not a multiple of the type's block size"
            }
            ggml_types::ShapeError::Overflow => "its byte size overflows 64 bits",
        },
    })
}

/// A parsed GGUF header.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Metadata key/values in file order (keys are unique).
    pub metadata: Vec<(String, GgufValue)>,
    /// Tensor descriptors in file order (names are unique).
    pub tensors: Vec<GgufTensorInfo>,
    /// Alignment of the data section and of every tensor offset (`general.alignment`,
    /// default 32).
    pub alignment: u64,
    /// Bytes from the start of the file to the end of the last tensor descriptor.
    pub header_bytes: u64,
    /// Where the tensor data starts: `header_bytes` rounded up to `alignment`.
    pub data_offset: u64,
    /// Length of the tensor data section: the largest `offset + n_bytes` of any tensor.
    pub data_bytes: u64,
}

impl GgufHeader {
    /// The value of a metadata key.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A metadata key as a non-negative integer (any integer type).
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(GgufValue::as_u64)
    }

    /// A metadata key as a float (any numeric type).
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(GgufValue::as_f64)
    }

    /// A metadata key as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(GgufValue::as_str)
    }

    /// `general.architecture`, e.g. `"llama"`, `"qwen2"`, `"gemma3"`.
    pub fn architecture(&self) -> Option<&str> {
        self.get_str("general.architecture")
    }

    /// An architecture-scoped integer: `arch_u64("block_count")` reads
    /// `<general.architecture>.block_count`.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        let arch = self.architecture()?;
        self.get_u64(&format!("{arch}.{suffix}"))
    }

    /// `general.file_type`, llama.cpp's `llama_ftype` (15 = Q4_K_M).
    pub fn file_type(&self) -> Option<u64> {
        self.get_u64("general.file_type")
    }

    /// Sum of all tensors' byte sizes (the weights, exact to the byte).
    pub fn tensor_bytes_total(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |acc, t| acc.saturating_add(t.n_bytes))
    }

    /// The file size this header implies: `data_offset + data_bytes`.
    pub fn expected_file_size(&self) -> u64 {
        self.data_offset.saturating_add(self.data_bytes)
    }

    /// Compare with the actual size of the file (or of what is available).
    pub fn data_status(&self, file_size: u64) -> DataStatus {
        let need = self.expected_file_size();
        if file_size >= need {
            DataStatus::Complete
        } else {
            DataStatus::Incomplete {
                have: file_size,
                need,
            }
        }
    }
}

/// Whether a file holds all the tensor data its header describes. A header that parsed
/// is fine either way: this only matters to callers that want to load the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStatus {
    /// Every tensor's bytes are inside the file.
    Complete,
    /// The file ends before the data does (a partial download).
    Incomplete {
        /// The file's size.
        have: u64,
        /// The size the header implies.
        need: u64,
    },
}

#[cfg(test)]
mod tests;
