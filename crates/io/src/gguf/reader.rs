//! Parsing of the GGUF header from a byte stream.
//!
//! Layout (little-endian; versions 2 and 3 are identical on disk):
//! `"GGUF"`, u32 version, u64 tensor count, u64 key/value count, the key/values
//! (string key, u32 type, value), the tensor infos (string name, u32 n_dims,
//! n_dims × u64 dims, u32 ggml type, u64 offset), padding to `general.alignment`,
//! then the tensor data, which this reader never reads.

use std::collections::HashSet;
use std::io::{self, Read};

use super::{
    tensor_bytes, GgufArray, GgufError, GgufHeader, GgufTensorInfo, GgufValue, GgufValueType,
    Limits, DEFAULT_ALIGNMENT,
};

/// Strings are read in chunks of this size, so a declared length only costs memory
/// once the bytes have actually arrived.
const CHUNK: usize = 64 << 10;

/// Most dimensions of a ggml tensor (`GGML_MAX_DIMS`).
const MAX_DIMS: u32 = 4;

/// Approximate in-memory cost of one metadata value or tensor descriptor beyond its
/// heap bytes; used only for the memory budget.
const VALUE_COST: u64 = std::mem::size_of::<GgufValue>() as u64;
const TENSOR_COST: u64 = std::mem::size_of::<GgufTensorInfo>() as u64 + 4 * 8;

/// Read a GGUF header from `reader`, which must be positioned at the start of the file.
///
/// Reads exactly the header bytes (up to the end of the last tensor descriptor) and
/// nothing of the tensor data. Each read is small, so pass a buffered reader (e.g.
/// `BufReader<File>`). Fails with [`GgufError::Truncated`] when the input ends inside
/// the header and with another [`GgufError`] when it is malformed or exceeds `limits`.
/// Whether the tensor data is complete is a separate question: see
/// [`GgufHeader::data_status`].
pub fn read_header<R: Read>(reader: R, limits: &Limits) -> Result<GgufHeader, GgufError> {
    let mut p = Parser {
        r: reader,
        pos: 0,
        limits,
        budget_left: limits.max_metadata_bytes,
    };
    p.header()
}

struct Parser<'l, R> {
    r: R,
    /// Bytes consumed so far = offset in the file.
    pos: u64,
    limits: &'l Limits,
    /// Remaining memory budget for decoded metadata.
    budget_left: u64,
}

impl<R: Read> Parser<'_, R> {
    fn header(&mut self) -> Result<GgufHeader, GgufError> {
        let mut magic = [0u8; 4];
        self.fill(&mut magic, || "the magic bytes".into())?;
        if &magic != b"GGUF" {
            return Err(GgufError::BadMagic {
                found: magic,
                hint: magic_hint(&magic),
            });
        }

        let version = self.u32(|| "the version".into())?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion {
                version,
                hint: version_hint(version),
            });
        }

        let n_tensors = self.u64(|| "the tensor count".into())?;
        if n_tensors > self.limits.max_tensors {
            return Err(GgufError::TooMany {
                what: "tensors",
                count: n_tensors,
                max: self.limits.max_tensors,
            });
        }
        let n_kv = self.u64(|| "the metadata key/value count".into())?;
        if n_kv > self.limits.max_kvs {
            return Err(GgufError::TooMany {
                what: "metadata key/values",
                count: n_kv,
                max: self.limits.max_kvs,
            });
        }

        // Vectors grow as entries arrive; the counts above are never used as capacities.
        let mut metadata: Vec<(String, GgufValue)> = Vec::new();
        let mut seen_keys: HashSet<String> = HashSet::new();
        for i in 0..n_kv {
            let key = self.name(|| format!("the key of metadata entry #{i}"))?;
            let type_id = self.u32(|| format!("the type of metadata key {key:?}"))?;
            let ty =
                GgufValueType::from_id(type_id).ok_or_else(|| GgufError::InvalidValueType {
                    key: key.clone(),
                    type_id,
                })?;
            let value = self.value(ty, &key, 0)?;
            // The key is stored twice (list and set): charge both.
            self.charge(2 * key.len() as u64 + VALUE_COST)?;
            if !seen_keys.insert(key.clone()) {
                return Err(GgufError::DuplicateKey { key });
            }
            metadata.push((key, value));
        }

        let alignment = alignment_of(&metadata)?;

        let mut tensors: Vec<GgufTensorInfo> = Vec::new();
        let mut seen_names: HashSet<String> = HashSet::new();
        for i in 0..n_tensors {
            let name = self.name(|| format!("the name of tensor #{i}"))?;
            let n_dims = self.u32(|| format!("the dimension count of tensor {name:?}"))?;
            if n_dims > MAX_DIMS {
                return Err(GgufError::BadDimensionCount {
                    tensor: name,
                    n_dims,
                });
            }
            let mut dims = Vec::with_capacity(MAX_DIMS as usize);
            for d in 0..n_dims {
                dims.push(self.u64(|| format!("dimension {d} of tensor {name:?}"))?);
            }
            let ggml_type = self.u32(|| format!("the type of tensor {name:?}"))?;
            let offset = self.u64(|| format!("the offset of tensor {name:?}"))?;
            let n_bytes = tensor_bytes(&name, ggml_type, &dims)?;
            self.charge(2 * name.len() as u64 + TENSOR_COST)?;
            if !seen_names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor { name });
            }
            tensors.push(GgufTensorInfo {
                name,
                dims,
                ggml_type,
                offset,
                n_bytes,
            });
        }

        let header_bytes = self.pos;
        let data_offset = align_up(header_bytes, alignment).ok_or(GgufError::BadAlignment {
            value: alignment.to_string(),
        })?;
        let data_bytes = check_layout(&tensors, alignment, self.limits.max_data_bytes)?;
        Ok(GgufHeader {
            version,
            metadata,
            tensors,
            alignment,
            header_bytes,
            data_offset,
            data_bytes,
        })
    }

    /// Read one value of type `ty` belonging to `key`, at array nesting `depth`.
    fn value(&mut self, ty: GgufValueType, key: &str, depth: u32) -> Result<GgufValue, GgufError> {
        let what = || format!("the value of metadata key {key:?}");
        Ok(match ty {
            GgufValueType::U8 => GgufValue::U8(self.array::<1>(what)?[0]),
            GgufValueType::I8 => GgufValue::I8(i8::from_le_bytes(self.array::<1>(what)?)),
            GgufValueType::U16 => GgufValue::U16(u16::from_le_bytes(self.array(what)?)),
            GgufValueType::I16 => GgufValue::I16(i16::from_le_bytes(self.array(what)?)),
            GgufValueType::U32 => GgufValue::U32(u32::from_le_bytes(self.array(what)?)),
            GgufValueType::I32 => GgufValue::I32(i32::from_le_bytes(self.array(what)?)),
            GgufValueType::F32 => GgufValue::F32(f32::from_le_bytes(self.array(what)?)),
            GgufValueType::U64 => GgufValue::U64(u64::from_le_bytes(self.array(what)?)),
            GgufValueType::I64 => GgufValue::I64(i64::from_le_bytes(self.array(what)?)),
            GgufValueType::F64 => GgufValue::F64(f64::from_le_bytes(self.array(what)?)),
            GgufValueType::Bool => match self.array::<1>(what)?[0] {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                byte => {
                    return Err(GgufError::InvalidBool {
                        key: key.to_string(),
                        byte,
                    })
                }
            },
            GgufValueType::String => {
                let bytes = self.string_bytes(self.limits.max_string_bytes, what)?;
                self.charge(bytes.len() as u64)?;
                GgufValue::String(match String::from_utf8(bytes) {
                    Ok(s) => s,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                })
            }
            GgufValueType::Array => GgufValue::Array(self.array_value(key, depth + 1)?),
        })
    }

    /// Read an array (element type, count, elements) at nesting `depth` (1 = top level).
    fn array_value(&mut self, key: &str, depth: u32) -> Result<GgufArray, GgufError> {
        if depth > self.limits.max_array_depth {
            return Err(GgufError::TooDeep {
                key: key.to_string(),
                max: self.limits.max_array_depth,
            });
        }
        let type_id = self.u32(|| format!("the element type of array {key:?}"))?;
        let elem_type =
            GgufValueType::from_id(type_id).ok_or_else(|| GgufError::InvalidValueType {
                key: key.to_string(),
                type_id,
            })?;
        let len = self.u64(|| format!("the length of array {key:?}"))?;
        if len > self.limits.max_array_len {
            return Err(GgufError::ArrayTooLong {
                key: key.to_string(),
                len,
                max: self.limits.max_array_len,
            });
        }
        let retain = len <= self.limits.retain_array_len;
        let mut values = Vec::new();
        match (retain, elem_type.fixed_size()) {
            (false, Some(size)) => {
                // len <= max_array_len and size <= 8, so this cannot overflow in practice;
                // saturate anyway, the skip then fails as truncated.
                self.skip(len.saturating_mul(size), || {
                    format!("the elements of array {key:?}")
                })?;
            }
            _ => {
                for _ in 0..len {
                    let v = self.value(elem_type, key, depth)?;
                    if retain {
                        self.charge(VALUE_COST)?;
                        values.push(v);
                    }
                }
            }
        }
        Ok(GgufArray {
            elem_type,
            len,
            values,
        })
    }

    /// A key or tensor name: length-capped and strictly UTF-8, since lookups depend on it.
    fn name(&mut self, what: impl Fn() -> String) -> Result<String, GgufError> {
        let bytes = self.string_bytes(self.limits.max_name_bytes, &what)?;
        String::from_utf8(bytes).map_err(|_| GgufError::InvalidUtf8 { what: what() })
    }

    /// A u64 length followed by that many bytes, refused above `max`.
    fn string_bytes(&mut self, max: u64, what: impl Fn() -> String) -> Result<Vec<u8>, GgufError> {
        let len = self.u64(|| format!("the length of {}", what()))?;
        if len > max {
            return Err(GgufError::StringTooLong {
                what: what(),
                len,
                max,
            });
        }
        // Grow chunk by chunk: a truncated file claiming a long string costs at most one
        // chunk more than the bytes it really has.
        let first = usize::try_from(len).map_or(CHUNK, |l| l.min(CHUNK));
        let mut buf = Vec::with_capacity(first);
        let mut remaining = len;
        while remaining > 0 {
            let n = usize::try_from(remaining).map_or(CHUNK, |r| r.min(CHUNK));
            let start = buf.len();
            buf.resize(start + n, 0);
            self.fill(&mut buf[start..], &what)?;
            remaining -= n as u64;
        }
        Ok(buf)
    }

    fn u32(&mut self, what: impl Fn() -> String) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: impl Fn() -> String) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn array<const N: usize>(&mut self, what: impl Fn() -> String) -> Result<[u8; N], GgufError> {
        let mut b = [0u8; N];
        self.fill(&mut b, what)?;
        Ok(b)
    }

    /// Fill `buf` completely or fail: end of input is [`GgufError::Truncated`].
    fn fill(&mut self, buf: &mut [u8], what: impl Fn() -> String) -> Result<(), GgufError> {
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) => Err(self.read_error(e, what)),
        }
    }

    /// Consume `n` bytes without keeping them.
    fn skip(&mut self, n: u64, what: impl Fn() -> String) -> Result<(), GgufError> {
        let start = self.pos;
        let copied = io::copy(&mut (&mut self.r).take(n), &mut io::sink());
        let copied = copied.map_err(|e| self.read_error(e, &what))?;
        self.pos += copied;
        if copied < n {
            return Err(GgufError::Truncated {
                offset: start,
                what: what(),
            });
        }
        Ok(())
    }

    fn read_error(&self, e: io::Error, what: impl Fn() -> String) -> GgufError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            GgufError::Truncated {
                offset: self.pos,
                what: what(),
            }
        } else {
            GgufError::Io {
                offset: self.pos,
                source: e,
            }
        }
    }

    /// Account `n` bytes of decoded metadata against the memory budget.
    fn charge(&mut self, n: u64) -> Result<(), GgufError> {
        match self.budget_left.checked_sub(n) {
            Some(left) => {
                self.budget_left = left;
                Ok(())
            }
            None => Err(GgufError::MetadataTooLarge {
                max: self.limits.max_metadata_bytes,
            }),
        }
    }
}

/// `general.alignment`, checked: a power of two no larger than 2^31 (it is a u32 in
/// llama.cpp, and offsets are multiples of it).
fn alignment_of(metadata: &[(String, GgufValue)]) -> Result<u64, GgufError> {
    let Some((_, v)) = metadata.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v.as_u64() {
        Some(a) if a.is_power_of_two() && a <= 1 << 31 => Ok(a),
        Some(a) => Err(GgufError::BadAlignment {
            value: a.to_string(),
        }),
        None => Err(GgufError::BadAlignment {
            value: format!("{v:?}"),
        }),
    }
}

/// `x` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn align_up(x: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    x.checked_add(mask).map(|v| v & !mask)
}

/// Check tensor offsets: aligned, ending below `max_end`, not overlapping. Returns the
/// length of the data section (the largest tensor end).
fn check_layout(
    tensors: &[GgufTensorInfo],
    alignment: u64,
    max_end: u64,
) -> Result<u64, GgufError> {
    let mut order: Vec<(u64, u64, usize)> = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        if t.offset % alignment != 0 {
            return Err(GgufError::MisalignedTensor {
                tensor: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        let end = t
            .offset
            .checked_add(t.n_bytes)
            .filter(|&e| e <= max_end)
            .ok_or_else(|| GgufError::TensorOutOfRange {
                tensor: t.name.clone(),
                offset: t.offset,
                size: t.n_bytes,
                max: max_end,
            })?;
        order.push((t.offset, end, i));
    }
    // Sorting by (start, end) puts empty tensors before a tensor starting at the same
    // offset, so they are not mistaken for overlaps.
    order.sort_unstable();
    let mut furthest: Option<(u64, usize)> = None;
    for &(start, end, i) in &order {
        if let Some((prev_end, j)) = furthest {
            if start < prev_end && end > start {
                let a = &tensors[j];
                return Err(GgufError::OverlappingTensors {
                    first: a.name.clone(),
                    first_start: a.offset,
                    first_end: prev_end,
                    second: tensors[i].name.clone(),
                    second_start: start,
                });
            }
        }
        if furthest.is_none_or(|(prev_end, _)| end > prev_end) {
            furthest = Some((end, i));
        }
    }
    Ok(furthest.map_or(0, |(end, _)| end))
}

fn magic_hint(magic: &[u8; 4]) -> &'static str {
    match magic {
        // Pre-GGUF llama.cpp formats store a u32 magic little-endian ("ggjt" -> "tjgg").
        b"lmgg" | b"fmgg" | b"tjgg" | b"algg" => {
            "; it is an old GGML/GGJT file: convert it to GGUF with a current llama.cpp"
        }
        [b'P', b'K', 3, 4] => "; it is a zip archive (a PyTorch checkpoint or a Python wheel?)",
        b"vers" => "; it looks like a Git LFS pointer: run `git lfs pull` to get the real file",
        [b'<', ..] => "; it looks like HTML or XML (a download that returned an error page?)",
        [b'{', ..] => "; it looks like JSON (a download that returned an error message?)",
        _ => "",
    }
}

fn version_hint(version: u32) -> &'static str {
    match version {
        1 => {
            "; this is a GGUF v1 file (2023, 32-bit counts): re-convert it with a current llama.cpp"
        }
        // A big-endian file's version reads byte-swapped.
        v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
            "; this is a big-endian GGUF file, and canirun reads little-endian files only"
        }
        _ => "; the file is damaged or not a GGUF model",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, offset: u64, n_bytes: u64) -> GgufTensorInfo {
        GgufTensorInfo {
            name: name.into(),
            dims: vec![n_bytes],
            ggml_type: 24,
            offset,
            n_bytes,
        }
    }

    #[test]
    fn align_up_rounds_and_detects_overflow() {
        assert_eq!(align_up(0, 32), Some(0));
        assert_eq!(align_up(1, 32), Some(32));
        assert_eq!(align_up(32, 32), Some(32));
        assert_eq!(align_up(u64::MAX, 32), None);
    }

    #[test]
    fn layout_accepts_touching_and_empty_tensors() {
        let ts = [t("a", 0, 32), t("b", 32, 64), t("e", 32, 0), t("z", 96, 0)];
        assert_eq!(check_layout(&ts, 32, u64::MAX).ok(), Some(96));
    }

    #[test]
    fn layout_rejects_containment() {
        let ts = [t("big", 0, 256), t("b", 64, 32), t("c", 128, 32)];
        assert!(matches!(
            check_layout(&ts, 32, u64::MAX),
            Err(GgufError::OverlappingTensors { .. })
        ));
    }
}
