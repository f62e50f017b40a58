//! Safetensors headers: an 8-byte little-endian length N, then N bytes of JSON mapping
//! each tensor name to its dtype, shape and byte range (`__metadata__` is free-form).
//! Parsing is pure; fetching goes through a [`RangeReader`](super::RangeReader).

use std::io::Read;

use serde_json::Value;

/// Largest header accepted, in bytes. The reference implementation refuses headers over
/// 100 MB; a declared length beyond that is a damaged or hostile file, and refusing it
/// early keeps us from fetching or allocating on its say-so.
pub const MAX_HEADER_BYTES: u64 = 100 << 20;

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeTensor {
    /// Tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// The dtype as written (`BF16`, `F8_E4M3`, ...).
    pub dtype: String,
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
    /// Exact stored size in bytes: `data_offsets[1] - data_offsets[0]`, checked against
    /// shape × dtype size when the dtype is known.
    pub bytes: u64,
    /// The file the tensor lives in (for sharded models), if known.
    pub file: Option<String>,
}

impl SafeTensor {
    /// Number of elements (saturating).
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d))
    }
}

/// Bits per element of a safetensors dtype, or `None` for a dtype we do not know.
pub fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => 8,
        "U16" | "I16" | "F16" | "BF16" => 16,
        "U32" | "I32" | "F32" => 32,
        "U64" | "I64" | "F64" | "C64" => 64,
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        _ => return None,
    })
}

/// Bytes of `n` elements of `dtype` (sub-byte types are packed, rounded up).
pub fn dtype_bytes(dtype: &str, n: u64) -> Option<u64> {
    let bits = dtype_bits(dtype)?;
    n.checked_mul(bits).map(|b| b.div_ceil(8))
}

/// Read the 8-byte length prefix and the header JSON from the start of a file. Returns
/// the raw header bytes (length prefix included), ready for [`parse_header`] and the
/// cache. `Err` says what is wrong.
pub fn read_header_bytes<R: Read>(mut r: R) -> Result<Vec<u8>, ReadError> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len).map_err(ReadError::Io)?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES {
        return Err(ReadError::Format(format!(
            "the header declares {n} bytes of JSON, more than the limit of {MAX_HEADER_BYTES}"
        )));
    }
    let mut out = len.to_vec();
    // `take` grows the buffer as bytes arrive, so the declared length costs memory only
    // once the bytes are really there.
    let got = r.take(n).read_to_end(&mut out).map_err(ReadError::Io)? as u64;
    if got < n {
        return Err(ReadError::Format(format!(
            "the file ends after {got} of the {n} header bytes it declares"
        )));
    }
    Ok(out)
}

/// Why [`read_header_bytes`] failed.
#[derive(Debug)]
pub enum ReadError {
    /// The reader failed (for a remote file, a wrapped `RemoteError`).
    Io(std::io::Error),
    /// The bytes are not a safetensors header.
    Format(String),
}

/// Parse a header (8-byte length prefix + JSON) into tensors, in name order.
pub fn parse_header(bytes: &[u8]) -> Result<Vec<SafeTensor>, String> {
    let (len, json) = bytes
        .split_first_chunk::<8>()
        .ok_or("the file is shorter than the 8-byte header length")?;
    let n = u64::from_le_bytes(*len);
    if n > MAX_HEADER_BYTES || n > json.len() as u64 {
        return Err(format!(
            "the header declares {n} bytes of JSON but {} are available",
            json.len()
        ));
    }
    let json = &json[..n as usize];
    let v: Value = serde_json::from_slice(json).map_err(|e| format!("bad header JSON: {e}"))?;
    let map = v.as_object().ok_or("the header JSON is not an object")?;
    let mut tensors = Vec::with_capacity(map.len());
    let mut data_end = 0u64;
    for (name, t) in map {
        if name == "__metadata__" {
            continue;
        }
        let bad = |why: &str| format!("tensor {name:?}: {why}");
        let obj = t.as_object().ok_or_else(|| bad("not an object"))?;
        let dtype = obj
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no dtype"))?;
        let shape = obj
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| {
                d.as_u64()
                    .ok_or_else(|| bad("a dimension is not a whole number"))
            })
            .collect::<Result<Vec<u64>, String>>()?;
        let offsets = obj
            .get("data_offsets")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no data_offsets"))?;
        let (start, end) = match offsets.as_slice() {
            [a, b] => (
                a.as_u64().ok_or_else(|| bad("bad data_offsets"))?,
                b.as_u64().ok_or_else(|| bad("bad data_offsets"))?,
            ),
            _ => return Err(bad("data_offsets must be [start, end]")),
        };
        if end < start {
            return Err(bad("data_offsets end before they start"));
        }
        let bytes = end - start;
        let n_el = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad("the shape overflows"))?;
        if let Some(expect) = dtype_bytes(dtype, n_el) {
            if expect != bytes {
                return Err(bad(&format!(
                    "shape {shape:?} of {dtype} is {expect} bytes but data_offsets span {bytes}"
                )));
            }
        }
        data_end = data_end.max(end);
        tensors.push(SafeTensor {
            name: name.clone(),
            dtype: dtype.to_string(),
            shape,
            bytes,
            file: None,
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tensors)
}

/// The shard file names of a `model.safetensors.index.json` (its `weight_map` values),
/// sorted and deduplicated. Names that try to leave the repository are refused.
pub fn index_shards(index_json: &[u8]) -> Result<Vec<String>, String> {
    let v: Value =
        serde_json::from_slice(index_json).map_err(|e| format!("bad index JSON: {e}"))?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or("the index has no weight_map object")?;
    let mut files: Vec<String> = Vec::new();
    for (tensor, f) in map {
        let f = f
            .as_str()
            .ok_or_else(|| format!("weight_map[{tensor:?}] is not a file name"))?;
        if f.is_empty() || f.starts_with('/') || f.split('/').any(|s| s == "..") {
            return Err(format!("weight_map[{tensor:?}] names an odd file {f:?}"));
        }
        files.push(f.to_string());
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err("the index's weight_map is empty".into());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Vec<u8> {
        let mut v = (json.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(json.as_bytes());
        v
    }

    #[test]
    fn parses_and_checks_sizes() {
        let h = header(
            r#"{"__metadata__":{"format":"pt"},
                "b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},
                "a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[12,16]},
                "c":{"dtype":"F4","shape":[3],"data_offsets":[16,18]},
                "d":{"dtype":"WEIRD","shape":[3],"data_offsets":[18,25]}}"#,
        );
        let t = parse_header(&h).expect("parse");
        let names: Vec<_> = t.iter().map(|t| (t.name.as_str(), t.bytes)).collect();
        assert_eq!(names, [("a", 4), ("b", 12), ("c", 2), ("d", 7)]);
    }

    #[test]
    fn refuses_bad_headers() {
        let bad_span = header(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#);
        assert!(parse_header(&bad_span)
            .unwrap_err()
            .contains("data_offsets"));
        assert!(parse_header(b"\x01").is_err());
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(parse_header(&huge).is_err());
        assert!(read_header_bytes(&huge[..]).is_err());
        assert!(parse_header(&header("[1]")).is_err());
        let overflow = header(
            r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#,
        );
        assert!(parse_header(&overflow).is_err());
    }

    #[test]
    fn index_files() {
        let idx = br#"{"metadata":{},"weight_map":{"x":"m-2.safetensors","y":"m-1.safetensors","z":"m-2.safetensors"}}"#;
        assert_eq!(
            index_shards(idx).expect("index"),
            ["m-1.safetensors", "m-2.safetensors"]
        );
        assert!(index_shards(br#"{"weight_map":{"x":"../etc/passwd"}}"#).is_err());
    }
}
