//! Writing GGUF headers: the inverse of the reader, for tests and synthetic fixtures.

use std::io::{self, Write};

use super::reader::align_up;
use super::{GgufTensorInfo, GgufValue, DEFAULT_ALIGNMENT};

/// Write a GGUF header (magic through the last tensor descriptor) followed by zero
/// padding up to the data offset, and return that offset. Tensor data is not written:
/// append it (or extend the file sparsely) yourself. `n_bytes` of the tensors is ignored;
/// the alignment is taken from `general.alignment` in `metadata` when present.
///
/// Fails with `InvalidInput` for arrays whose values were not retained when read, and
/// for an unusable `general.alignment`.
pub fn write_header<W: Write>(
    mut w: W,
    version: u32,
    metadata: &[(String, GgufValue)],
    tensors: &[GgufTensorInfo],
) -> io::Result<u64> {
    // Headers are a few MB at most, so build it in memory and write it once.
    let mut buf = Vec::new();
    buf.extend_from_slice(b"GGUF");
    buf.extend_from_slice(&version.to_le_bytes());
    buf.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    buf.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut buf, k);
        buf.extend_from_slice(&v.value_type().id().to_le_bytes());
        put_value(&mut buf, v)?;
    }
    for t in tensors {
        put_str(&mut buf, &t.name);
        buf.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            buf.extend_from_slice(&d.to_le_bytes());
        }
        buf.extend_from_slice(&t.ggml_type.to_le_bytes());
        buf.extend_from_slice(&t.offset.to_le_bytes());
    }
    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        Some((_, v)) => v
            .as_u64()
            .filter(|a| a.is_power_of_two())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad general.alignment"))?,
        None => DEFAULT_ALIGNMENT,
    };
    let end = align_up(buf.len() as u64, alignment)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "alignment overflow"))?;
    buf.resize(end as usize, 0);
    w.write_all(&buf)?;
    Ok(end)
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, v: &GgufValue) -> io::Result<()> {
    match v {
        GgufValue::U8(x) => buf.push(*x),
        GgufValue::I8(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::U32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::Bool(x) => buf.push(u8::from(*x)),
        GgufValue::String(s) => put_str(buf, s),
        GgufValue::U64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::I64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        GgufValue::Array(a) => {
            if !a.is_retained() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot write an array whose values were skipped when reading",
                ));
            }
            buf.extend_from_slice(&a.elem_type.id().to_le_bytes());
            buf.extend_from_slice(&a.len.to_le_bytes());
            for e in &a.values {
                if e.value_type() != a.elem_type {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "array element type differs from the array's element type",
                    ));
                }
                put_value(buf, e)?;
            }
        }
    }
    Ok(())
}
