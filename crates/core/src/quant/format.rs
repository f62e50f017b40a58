//! What a user means by a quantization name, and how each tensor is then stored.

use super::recipe::{allows_quantization, assign_types, fallback};
use super::{variants, FileType, GgmlType, Variant};
use crate::model::{ModelSpec, TensorSpec};
use serde::Serialize;
use std::fmt;

/// How one tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum StorageType {
    /// A ggml block type (GGUF).
    Ggml(GgmlType),
    /// FP8 e4m3 with one F32 scale per 128×128 block (DeepSeek's official checkpoint).
    Fp8Block128,
    /// 4-bit integers with an F16 scale and a 4-bit zero point per group (AWQ, GPTQ).
    Int4Group {
        /// Weights per group.
        group: u64,
    },
    /// MLX affine quantization: `bits`-bit integers plus an F16 scale and bias per group.
    Mlx {
        /// Bits per weight before scales.
        bits: u64,
        /// Weights per group.
        group: u64,
    },
    /// ExLlamaV2 mixed-precision at an average bits per weight (in thousandths).
    Exl2 {
        /// Average bits per weight × 1000.
        millibits: u64,
    },
}

impl StorageType {
    /// Bytes of a tensor of this shape (ggml order).
    pub fn bytes(&self, shape: &[u64]) -> u64 {
        let n: u64 = shape.iter().product();
        let ne0 = shape.first().copied().unwrap_or(1).max(1);
        let rows = n / ne0;
        match *self {
            StorageType::Ggml(t) => ne0.div_ceil(t.block_size()) * t.bytes_per_block() * rows,
            StorageType::Fp8Block128 => {
                let ne1 = shape.get(1).copied().unwrap_or(1);
                let mats: u64 = shape.iter().skip(2).product();
                n + 4 * ne0.div_ceil(128) * ne1.div_ceil(128) * mats
            }
            StorageType::Int4Group { group } => {
                n / 2 + n.div_ceil(group) * 2 + n.div_ceil(group) / 2
            }
            StorageType::Mlx { bits, group } => n * bits / 8 + n.div_ceil(group) * 4,
            StorageType::Exl2 { millibits } => (n * millibits).div_ceil(8000),
        }
    }
}

impl fmt::Display for StorageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            StorageType::Ggml(t) => t.name().to_string(),
            StorageType::Fp8Block128 => "FP8(e4m3,128x128)".into(),
            StorageType::Int4Group { group } => format!("INT4(g{group})"),
            StorageType::Mlx { bits, group } => format!("MLX{bits}(g{group})"),
            StorageType::Exl2 { millibits } => {
                format!("EXL2({:.2}bpw)", *millibits as f64 / 1000.0)
            }
        };
        f.pad(&s)
    }
}

/// A quantization as the user names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Quant {
    /// A GGUF made by llama-quantize, optionally with a publisher's overrides.
    Gguf {
        /// The file type (mixture).
        ftype: FileType,
        /// Publisher variant (`_L`, `_XL`, Unsloth dynamic).
        variant: Option<String>,
        /// Whether an importance matrix was used (changes a few IQ/Q4_0 rules).
        imatrix: bool,
    },
    /// DeepSeek's official FP8 checkpoint format.
    Fp8,
    /// AWQ 4-bit, group 128.
    Awq,
    /// GPTQ 4-bit, group 128.
    Gptq,
    /// ExLlamaV2 at an average bits per weight.
    Exl2 {
        /// Average bits per weight × 1000.
        millibits: u64,
    },
    /// MLX affine 4- or 8-bit, group 64.
    Mlx {
        /// Bits per weight.
        bits: u64,
    },
}

/// A quantization name canirun does not understand.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown quantization '{0}'; valid: Q2_K, Q2_K_S, Q3_K_S/M/L, Q4_0, Q4_1, Q4_K_S/M, Q5_0, Q5_1, Q5_K_S/M, Q6_K, Q8_0, IQ1_S, IQ1_M, IQ2_XXS/XS/S/M, IQ3_XXS/XS/S/M, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, MXFP4_MOE, F16, BF16, F32, bartowski *_L/Q3_K_XL, UD-IQ1_S, UD-IQ1_M, UD-IQ2_XXS, UD-Q2_K_XL, FP8, AWQ, GPTQ, EXL2-<bpw>, MLX-4bit, MLX-8bit")]
pub struct QuantError(pub String);

impl Quant {
    /// A GGUF file type as llama-quantize makes it: with an importance matrix
    /// exactly when the type requires one (llama-quantize refuses IQ1/IQ2/IQ3_XXS without).
    pub fn gguf(ftype: FileType) -> Quant {
        use FileType::*;
        Quant::Gguf {
            ftype,
            variant: None,
            imatrix: matches!(
                ftype,
                IQ1_S | IQ1_M | IQ2_XXS | IQ2_XS | IQ2_S | IQ2_M | IQ3_XXS
            ),
        }
    }

    /// Parse what a user typed: `q4_k_m`, `Q5_K_L`, `UD-Q2_K_XL`, `fp8`, `exl2-4.65bpw`, `mlx-4bit`.
    pub fn parse(s: &str) -> Result<Quant, QuantError> {
        let err = || QuantError(s.to_string());
        let up = s.trim().to_ascii_uppercase().replace('-', "_");
        if up.is_empty() {
            return Err(err());
        }
        if let Some(ftype) = FileType::parse(&up) {
            return Ok(Quant::gguf(ftype));
        }
        match up.as_str() {
            "FP8" | "F8" | "F8_E4M3" | "FP8_E4M3" => return Ok(Quant::Fp8),
            "AWQ" | "AWQ_4BIT" | "AWQ_INT4" => return Ok(Quant::Awq),
            "GPTQ" | "GPTQ_4BIT" | "GPTQ_INT4" => return Ok(Quant::Gptq),
            "MLX_4BIT" | "MLX4" | "MLX_Q4" | "4BIT" => return Ok(Quant::Mlx { bits: 4 }),
            "MLX_8BIT" | "MLX8" | "MLX_Q8" | "8BIT" => return Ok(Quant::Mlx { bits: 8 }),
            _ => {}
        }
        if let Some(rest) = up.strip_prefix("EXL2_") {
            let num = rest.trim_end_matches("BPW").trim_end_matches('_');
            let bpw: f64 = num.replace('_', ".").parse().map_err(|_| err())?;
            if !(1.0..=16.0).contains(&bpw) {
                return Err(err());
            }
            return Ok(Quant::Exl2 {
                millibits: (bpw * 1000.0).round() as u64,
            });
        }
        // Unsloth dynamic quants.
        if let Some(rest) = up.strip_prefix("UD_") {
            let name = format!("UD-{rest}");
            if let Some(v) = variants().iter().find(|v| v.name == name) {
                return Ok(Quant::Gguf {
                    ftype: v.base().ok_or_else(err)?,
                    variant: Some(v.name.clone()),
                    imatrix: v.imatrix,
                });
            }
            return Err(err());
        }
        // bartowski `_XL` (Q3_K_XL) and `_L` (Q5_K_L = Q5_K_M + Q8_0 embed/output).
        if let Some(prefix) = up.strip_suffix("_XL") {
            let v = find_variant("XL").ok_or_else(err)?;
            if FileType::parse(&format!("{prefix}_L")).is_some() {
                return Ok(Quant::Gguf {
                    ftype: v.base().ok_or_else(err)?,
                    variant: Some(v.name.clone()),
                    imatrix: v.imatrix,
                });
            }
        }
        if let Some(prefix) = up.strip_suffix("_L") {
            let v = find_variant("L").ok_or_else(err)?;
            let ftype = FileType::parse(&format!("{prefix}_M"))
                .or_else(|| FileType::parse(prefix))
                .ok_or_else(err)?;
            return Ok(Quant::Gguf {
                ftype,
                variant: Some(v.name.clone()),
                imatrix: v.imatrix,
            });
        }
        Err(err())
    }

    /// A file type with a named publisher variant from `data/quant_variants.toml`.
    pub fn with_variant(ftype: FileType, name: &str) -> Option<Quant> {
        let v = find_variant(name)?;
        Some(Quant::Gguf {
            ftype: v.base().unwrap_or(ftype),
            variant: Some(v.name.clone()),
            imatrix: v.imatrix,
        })
    }

    /// The publisher variant, if any.
    pub fn variant(&self) -> Option<&'static Variant> {
        match self {
            Quant::Gguf {
                variant: Some(v), ..
            } => find_variant(v),
            _ => None,
        }
    }

    /// The GGUF file type, if this is a GGUF quantization.
    pub fn file_type(&self) -> Option<FileType> {
        match self {
            Quant::Gguf { ftype, .. } => Some(*ftype),
            _ => None,
        }
    }

    /// Same quantization with the imatrix flag set.
    pub fn with_imatrix(mut self, on: bool) -> Quant {
        if let Quant::Gguf { imatrix, .. } = &mut self {
            *imatrix = on;
        }
        self
    }

    /// Whether llama.cpp can load this format.
    pub fn is_gguf(&self) -> bool {
        matches!(self, Quant::Gguf { .. })
    }

    /// Storage of every tensor of `tensors` (in load order) under this quantization.
    pub fn storage_types(&self, model: &ModelSpec, tensors: &[TensorSpec]) -> Vec<StorageType> {
        match self {
            Quant::Gguf { ftype, imatrix, .. } => {
                let base = assign_types(model, tensors, *ftype, *imatrix);
                let v = self.variant();
                tensors
                    .iter()
                    .zip(base)
                    .map(|(t, ty)| {
                        let ty = match v.and_then(|v| v.override_for(t)) {
                            Some(o) if allows_quantization(t) && t.is_param => fallback(o, t.ne0()),
                            _ => ty,
                        };
                        StorageType::Ggml(ty)
                    })
                    .collect()
            }
            other => {
                let q = match other {
                    Quant::Fp8 => StorageType::Fp8Block128,
                    Quant::Awq | Quant::Gptq => StorageType::Int4Group { group: 128 },
                    Quant::Exl2 { millibits } => StorageType::Exl2 {
                        millibits: *millibits,
                    },
                    Quant::Mlx { bits } => StorageType::Mlx {
                        bits: *bits,
                        group: 64,
                    },
                    Quant::Gguf { .. } => unreachable!("handled above"),
                };
                tensors
                    .iter()
                    .map(|t| {
                        // Checkpoint formats quantize the linear layers only; the embedding,
                        // the output head, norms and router stay in the native 16-bit dtype.
                        let linear = allows_quantization(t) && t.layer.is_some();
                        if linear && t.is_param {
                            q
                        } else if t.is_param {
                            StorageType::Ggml(GgmlType::BF16)
                        } else {
                            StorageType::Ggml(GgmlType::F32)
                        }
                    })
                    .collect()
            }
        }
    }
}

fn find_variant(name: &str) -> Option<&'static Variant> {
    variants().iter().find(|v| v.name == name)
}

impl fmt::Display for Quant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Quant::Gguf {
                ftype,
                variant,
                imatrix,
            } => {
                let base = match variant.as_deref() {
                    Some(v) if v.starts_with("UD-") => v.to_string(),
                    Some(v) if v.starts_with("unsloth-") => {
                        format!("{}_L (unsloth, recipe inferred)", ftype.name())
                    }
                    Some("XL") => "Q3_K_XL".to_string(),
                    Some(v) => {
                        let n = ftype.name();
                        format!("{}_{v}", n.strip_suffix("_M").unwrap_or(&n))
                    }
                    None => ftype.name(),
                };
                if *imatrix && variant.is_none() {
                    format!("{base} (imatrix)")
                } else {
                    base
                }
            }
            Quant::Fp8 => "FP8".into(),
            Quant::Awq => "AWQ-4bit".into(),
            Quant::Gptq => "GPTQ-4bit".into(),
            Quant::Exl2 { millibits } => format!("EXL2-{:.2}bpw", *millibits as f64 / 1000.0),
            Quant::Mlx { bits } => format!("MLX-{bits}bit"),
        };
        f.pad(&s)
    }
}
