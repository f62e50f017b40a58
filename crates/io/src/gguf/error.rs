//! Errors of the GGUF reader. Each message says what was wrong and, where a user can
//! act on it, what to do; hostile or damaged files must get one of these, never a panic.

use std::path::PathBuf;

/// Everything that can go wrong while reading a GGUF header or a set of split files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The underlying reader failed for a reason other than end of input.
    #[error("I/O error while reading the GGUF header at byte {offset}: {source}")]
    Io {
        /// Byte position in the GGUF stream where the failing read started.
        offset: u64,
        /// The error the reader returned.
        #[source]
        source: std::io::Error,
    },

    /// A file could not be opened or inspected.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The input ended inside the header.
    #[error(
        "the GGUF header is truncated: the data ends at byte {offset} while reading {what}; \
         the file is incomplete (an interrupted download?), fetch it again"
    )]
    Truncated {
        /// Byte position where the missing item starts.
        offset: u64,
        /// What was being read.
        what: String,
    },

    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: it starts with {found:02x?}, not the magic \"GGUF\"{hint}")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
        /// A guess at what the file is instead (may be empty).
        hint: &'static str,
    },

    /// The version field names a GGUF version this reader does not handle.
    #[error("unsupported GGUF version {version}: canirun reads versions 2 and 3{hint}")]
    UnsupportedVersion {
        /// The version field as read (little-endian).
        version: u32,
        /// Advice for this particular version (may be empty).
        hint: &'static str,
    },

    /// A count (tensors, key/values) is beyond any real file.
    #[error(
        "the header declares {count} {what}, more than the limit of {max}; \
         the file is damaged or not a real model"
    )]
    TooMany {
        /// "tensors" or "metadata key/values".
        what: &'static str,
        /// The declared count.
        count: u64,
        /// The limit in force.
        max: u64,
    },

    /// A string's declared length exceeds the limit.
    #[error("{what} declares a string of {len} bytes, more than the limit of {max} bytes; the file is damaged")]
    StringTooLong {
        /// Which string (a key, a value of a key, a tensor name).
        what: String,
        /// The declared length.
        len: u64,
        /// The limit in force.
        max: u64,
    },

    /// An array's declared length exceeds the limit.
    #[error("metadata key {key:?} declares an array of {len} elements, more than the limit of {max}; the file is damaged")]
    ArrayTooLong {
        /// The key holding the array.
        key: String,
        /// The declared element count.
        len: u64,
        /// The limit in force.
        max: u64,
    },

    /// Arrays nested deeper than the limit.
    #[error("metadata key {key:?} nests arrays deeper than {max} levels; the file is damaged")]
    TooDeep {
        /// The key holding the array.
        key: String,
        /// The limit in force.
        max: u32,
    },

    /// The decoded metadata would use more memory than the budget allows.
    #[error(
        "the GGUF metadata needs more than {max} bytes of memory to hold; \
         the file is damaged, or raise `Limits::max_metadata_bytes`"
    )]
    MetadataTooLarge {
        /// The budget in bytes.
        max: u64,
    },

    /// A key or tensor name is not UTF-8.
    #[error("{what} is not valid UTF-8; the file is damaged")]
    InvalidUtf8 {
        /// Which string.
        what: String,
    },

    /// A metadata value type id outside 0..=12.
    #[error("metadata key {key:?} has value type {type_id}, which GGUF does not define (0..=12); the file is damaged")]
    InvalidValueType {
        /// The key.
        key: String,
        /// The type id found.
        type_id: u32,
    },

    /// A boolean stored as something other than 0 or 1.
    #[error("metadata key {key:?} holds a boolean byte {byte}, not 0 or 1; the file is damaged")]
    InvalidBool {
        /// The key.
        key: String,
        /// The byte found.
        byte: u8,
    },

    /// The same metadata key twice.
    #[error("metadata key {key:?} appears twice; the file is damaged")]
    DuplicateKey {
        /// The key.
        key: String,
    },

    /// `general.alignment` is not a non-zero power of two that fits in a u32.
    #[error(
        "general.alignment is {value}, not a power of two between 1 and 2^31; the file is damaged"
    )]
    BadAlignment {
        /// The value as text (it may have had the wrong type).
        value: String,
    },

    /// The same tensor name twice (also across split parts).
    #[error("tensor {name:?} appears twice; the file is damaged")]
    DuplicateTensor {
        /// The tensor name.
        name: String,
    },

    /// A tensor with zero or more than four dimensions.
    #[error("tensor {tensor:?} has {n_dims} dimensions; GGUF allows 1 to 4")]
    BadDimensionCount {
        /// The tensor name.
        tensor: String,
        /// The declared dimension count.
        n_dims: u32,
    },

    /// A tensor shape that cannot be stored.
    #[error("tensor {tensor:?} has shape {dims:?} of type {type_name}: {reason}")]
    BadShape {
        /// The tensor name.
        tensor: String,
        /// The dimensions as declared.
        dims: Vec<u64>,
        /// The ggml type name.
        type_name: String,
        /// Why it cannot be stored.
        reason: &'static str,
    },

    /// A ggml tensor type id this reader has no size for.
    #[error(
        "tensor {tensor:?} uses ggml type id {type_id}, which canirun does not know; \
         the file may use a quantization newer than this canirun: upgrade canirun"
    )]
    UnknownTensorType {
        /// The tensor name.
        tensor: String,
        /// The type id found.
        type_id: u32,
    },

    /// A tensor offset that is not a multiple of the alignment.
    #[error("tensor {tensor:?} starts at data offset {offset}, which is not a multiple of the alignment {alignment}; the file is damaged")]
    MisalignedTensor {
        /// The tensor name.
        tensor: String,
        /// Its offset within the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },

    /// Two tensors' byte ranges overlap.
    #[error(
        "tensors {first:?} (data bytes {first_start}..{first_end}) and {second:?} (starting at {second_start}) \
         overlap; the file is damaged"
    )]
    OverlappingTensors {
        /// The tensor that starts first.
        first: String,
        /// Its start offset within the data section.
        first_start: u64,
        /// Its end offset within the data section.
        first_end: u64,
        /// The tensor that starts inside it.
        second: String,
        /// Its start offset within the data section.
        second_start: u64,
    },

    /// A tensor whose byte range ends beyond any plausible file.
    #[error(
        "tensor {tensor:?} at data offset {offset} with {size} bytes ends beyond the limit of {max} bytes; \
         the file is damaged"
    )]
    TensorOutOfRange {
        /// The tensor name.
        tensor: String,
        /// Its offset within the data section.
        offset: u64,
        /// Its size in bytes.
        size: u64,
        /// The largest data end accepted (the file size when it is known and required).
        max: u64,
    },

    /// The header is complete but the tensor data is not all in the file(s).
    #[error(
        "{} holds {have} bytes but its tensors need {need}: the tensor data is incomplete \
         (the header is fine; finish the download to run the model)",
        path.display()
    )]
    DataIncomplete {
        /// The (first incomplete) file.
        path: PathBuf,
        /// Its size.
        have: u64,
        /// The size its header implies.
        need: u64,
    },

    /// Split metadata is inconsistent, or the parts cannot be located.
    #[error("split GGUF {}: {reason}", path.display())]
    Split {
        /// The part where the problem was found.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
}

impl GgufError {
    /// True when the error means the header ended early (as opposed to being malformed).
    pub fn is_truncated(&self) -> bool {
        matches!(self, GgufError::Truncated { .. })
    }
}
