//! Which ggml type each tensor gets under a llama.cpp file type.
//!
//! This re-implements the decisions of llama.cpp's quantizer
//! (`src/llama-quant.cpp`, commit 0c1e57098): a tensor category from its name,
//! per-category upgrades that depend on the file type, the layer index and the
//! model (GQA ratio, expert count, 70B class), then a fallback when the row
//! length is not a multiple of the chosen type's block size.

use super::{FileType, GgmlType};
use crate::model::{Arch, ModelSpec, TensorSpec};

/// Broad tensor categories, decided from the name as llama.cpp does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    Output,
    AttnQkv,
    AttnKvB,
    AttnV,
    AttnK,
    AttnQ,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Other,
}

/// Category of a tensor; block tensors are categorized by their base name,
/// which holds every substring llama.cpp's full-name tests look for.
fn category(t: &TensorSpec) -> Category {
    let name: &str = &t.base;
    // The names canirun itself enumerates, matched exactly (a hot path: a
    // catalog sweep categorizes a third of a million tensors)...
    let known = match name {
        "output.weight" if t.layer.is_none() => Some(Category::Output),
        "token_embd.weight" if t.layer.is_none() => Some(Category::TokenEmbd),
        "attn_q.weight" => Some(Category::AttnQ),
        "attn_k.weight" => Some(Category::AttnK),
        "attn_v.weight" => Some(Category::AttnV),
        "attn_kv_b.weight" => Some(Category::AttnKvB),
        "attn_output.weight" => Some(Category::AttnOutput),
        "ffn_up.weight" | "ffn_up_exps.weight" | "ffn_up_shexp.weight" => Some(Category::FfnUp),
        "ffn_gate.weight"
        | "ffn_gate_exps.weight"
        | "ffn_gate_shexp.weight"
        | "ffn_gate_inp.weight" => Some(Category::FfnGate),
        "ffn_down.weight" | "ffn_down_exps.weight" | "ffn_down_shexp.weight" => {
            Some(Category::FfnDown)
        }
        "attn_norm.weight"
        | "ffn_norm.weight"
        | "output_norm.weight"
        | "attn_q_a.weight"
        | "attn_q_b.weight"
        | "attn_kv_a_mqa.weight"
        | "attn_k_b.weight"
        | "attn_v_b.weight"
        | "attn_q_a_norm.weight"
        | "attn_kv_a_norm.weight"
        | "exp_probs_b.bias"
        | "attn_q.bias"
        | "attn_k.bias"
        | "attn_v.bias"
        | "attn_q_norm.weight"
        | "attn_k_norm.weight"
        | "rope_freqs.weight" => Some(Category::Other),
        _ => None,
    };
    if let Some(c) = known {
        return c;
    }
    // ...and anything else (a GGUF of another architecture) by llama.cpp's substring tests.
    if t.layer.is_none() && name == "output.weight" {
        Category::Output
    } else if t.layer.is_none() && name == "token_embd.weight" {
        Category::TokenEmbd
    } else if name.contains("attn_qkv.weight") {
        Category::AttnQkv
    } else if name.contains("attn_kv_b.weight") {
        Category::AttnKvB
    } else if name.contains("attn_v.weight") {
        Category::AttnV
    } else if name.contains("attn_k.weight") {
        Category::AttnK
    } else if name.contains("attn_q.weight") {
        Category::AttnQ
    } else if name.contains("attn_output.weight") {
        Category::AttnOutput
    } else if name.contains("ffn_up") {
        Category::FfnUp
    } else if name.contains("ffn_gate") {
        Category::FfnGate
    } else if name.contains("ffn_down") {
        Category::FfnDown
    } else {
        Category::Other
    }
}

fn is_attn_v_like(c: Category) -> bool {
    matches!(c, Category::AttnV | Category::AttnQkv | Category::AttnKvB)
}

/// Whether llama.cpp's quantizer touches a tensor at all (else it keeps its source type).
pub fn allows_quantization(t: &TensorSpec) -> bool {
    t.n_dims() >= 2
        && t.base.ends_with("weight")
        && !t.base.contains("_norm.weight")
        && !t.base.contains("ffn_gate_inp.weight")
}

/// The shape fallback: a row length that the block size does not divide.
pub fn fallback(ty: GgmlType, ne0: u64) -> GgmlType {
    use GgmlType::*;
    if ty.fits_row(ne0) {
        return ty;
    }
    let f = match ty {
        IQ1_S | IQ1_M | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ4_XS => IQ4_NL,
        Q2_K | Q3_K | TQ1_0 | TQ2_0 => Q4_0,
        Q4_K => Q5_0,
        Q5_K => Q5_1,
        Q6_K => Q8_0,
        other => other,
    };
    if f.fits_row(ne0) {
        f
    } else {
        F16
    }
}

/// Model facts the rules look at.
struct Ctx {
    ftype: FileType,
    n_gqa: u64,
    n_expert: u64,
    n_layer: u64,
    is_70b: bool,
    imatrix: bool,
    tied: bool,
    /// Whether the file was made from a non-Falcon model (always true for our archs).
    falcon: bool,
}

/// Counters the quantizer keeps while it walks the tensors in load order.
#[derive(Default)]
struct Counters {
    n_attention_wv: u64,
    i_attention_wv: u64,
    i_ffn_down: u64,
    i_ffn_gate: u64,
    i_ffn_up: u64,
}

fn use_more_bits(i: u64, n: u64) -> bool {
    // llama.cpp uses signed ints: (i - n/8) % 3 == 2 is false for i < n/8, which the first test covers.
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// Assign a ggml type to every tensor, in the order given (llama.cpp's load order).
///
/// `source_type` is the type of non-quantizable tensors (norms, biases, router):
/// F32 in every GGUF converted from a float checkpoint.
pub fn assign_types(
    model: &ModelSpec,
    tensors: &[TensorSpec],
    ftype: FileType,
    imatrix: bool,
) -> Vec<GgmlType> {
    let n_expert = model.moe.map_or(0, |m| m.n_expert);
    // MLA GGUFs converted after llama.cpp PR #12801 store head_count_kv = 1 (MQA over the latent);
    // older ones store the HF value. The split layout identifies the new conversion.
    let n_head_kv = if model.mla.is_some() && tensors.iter().any(|t| t.base.contains("attn_k_b")) {
        1
    } else {
        model.n_head_kv.max(1)
    };
    let ctx = Ctx {
        ftype,
        n_gqa: model.n_head / n_head_kv,
        n_expert,
        n_layer: model.n_layer,
        is_70b: model.n_layer == 80
            && match model.arch {
                Arch::Llama => model.n_head != model.n_head_kv,
                Arch::Qwen2 => true,
                _ => false,
            },
        imatrix,
        tied: !tensors
            .iter()
            .any(|t| t.layer.is_none() && t.base == "output.weight"),
        falcon: false,
    };
    let cats: Vec<Category> = tensors.iter().map(category).collect();
    let mut cnt = Counters {
        n_attention_wv: tensors
            .iter()
            .zip(&cats)
            .filter(|(t, c)| t.in_gguf && is_attn_v_like(**c))
            .count() as u64,
        ..Default::default()
    };
    tensors
        .iter()
        .zip(cats)
        .map(|(t, cat)| {
            if !t.is_param || t.n_dims() < 2 || !allows_quantization(t) {
                return GgmlType::F32;
            }
            let default = ftype.default_type();
            if !default.is_quantized() {
                return default;
            }
            let ty = choose(&ctx, &mut cnt, t, cat, default);
            fallback(ty, t.ne0())
        })
        .collect()
}

/// One tensor's type under the standard mixture rules (before the shape fallback).
fn choose(c: &Ctx, q: &mut Counters, t: &TensorSpec, cat: Category, mut ty: GgmlType) -> GgmlType {
    use FileType as F;
    use GgmlType as G;
    let f = c.ftype;
    let layer_of = |counter: u64| -> (u64, u64) {
        // MoE files: llama.cpp reads the layer from the tensor name, since expert
        // tensors are not one per layer in file order.
        if c.n_expert > 1 {
            (t.layer.unwrap_or(0), c.n_layer)
        } else {
            (counter, c.n_layer)
        }
    };
    let iq12 = matches!(
        f,
        F::IQ2_XXS | F::IQ2_XS | F::IQ1_S | F::IQ2_S | F::IQ2_M | F::IQ1_M
    );
    if cat == Category::Output || (c.tied && cat == Category::TokenEmbd) {
        let nx = t.ne0();
        if f == F::MXFP4_MOE || c.falcon || !nx.is_multiple_of(ty.block_size()) {
            ty = G::Q8_0;
        } else if matches!(
            f,
            F::IQ2_XXS | F::IQ2_XS | F::IQ3_XXS | F::IQ1_S | F::IQ2_S | F::IQ2_M | F::IQ1_M
        ) {
            ty = G::Q5_K;
        } else if ty != G::Q8_0 {
            ty = G::Q6_K;
        }
    } else if f == F::MXFP4_MOE {
        ty = if t.dims[2] > 1 { G::MXFP4 } else { G::Q8_0 };
    } else if cat == Category::TokenEmbd {
        ty = match f {
            F::IQ2_XXS | F::IQ2_XS | F::IQ1_S | F::IQ1_M => G::Q2_K,
            F::IQ2_S | F::IQ2_M | F::IQ3_XXS => G::IQ3_S,
            F::TQ1_0 | F::TQ2_0 => G::Q4_K,
            _ => ty,
        };
    } else if iq12 {
        let iq2s_m = matches!(f, F::IQ2_S | F::IQ2_M);
        if is_attn_v_like(cat) {
            ty = if c.n_gqa >= 4 || c.n_expert >= 4 {
                G::Q4_K
            } else if iq2s_m {
                G::IQ3_S
            } else {
                G::Q2_K
            };
            q.i_attention_wv += 1;
        } else if c.n_expert == 8 && cat == Category::AttnK {
            ty = G::Q4_K;
        } else if cat == Category::FfnDown {
            if q.i_ffn_down < c.n_layer / 8 {
                ty = if iq2s_m { G::IQ3_S } else { G::Q2_K };
            }
            q.i_ffn_down += 1;
        } else if cat == Category::AttnOutput {
            if c.n_expert == 8 {
                ty = G::Q5_K;
            } else if matches!(f, F::IQ1_S | F::IQ1_M) {
                ty = G::IQ2_XXS;
            } else if iq2s_m {
                ty = G::IQ3_S;
            }
        }
    } else if is_attn_v_like(cat) {
        let (i, n) = (q.i_attention_wv, q.n_attention_wv);
        match f {
            F::Q2_K => ty = if c.n_gqa >= 4 { G::Q4_K } else { G::Q3_K },
            F::Q2_K_S if c.n_gqa >= 4 => ty = G::Q4_K,
            F::IQ3_XXS => {
                ty = if c.n_gqa >= 4 {
                    G::Q4_K
                } else if !c.imatrix {
                    G::IQ3_S
                } else {
                    G::IQ3_XXS
                }
            }
            F::IQ3_XS | F::IQ3_S if c.n_gqa >= 4 => ty = G::Q4_K,
            F::IQ3_M => ty = G::Q4_K,
            F::Q3_K_M => ty = if i < 2 { G::Q5_K } else { G::Q4_K },
            F::Q3_K_L => ty = G::Q5_K,
            F::IQ4_NL | F::IQ4_XS if c.n_gqa >= 4 => ty = G::Q5_K,
            F::Q4_K_M | F::Q5_K_M if use_more_bits(i, n) => ty = G::Q6_K,
            F::Q4_K_S if i < 4 => ty = G::Q5_K,
            _ => {}
        }
        if c.is_70b && matches!(ty, G::Q3_K | G::Q4_K) {
            ty = G::Q5_K;
        }
        if c.n_expert == 8 {
            ty = G::Q8_0;
        }
        q.i_attention_wv += 1;
    } else if cat == Category::AttnK {
        if c.n_expert == 8 {
            ty = G::Q8_0;
        } else if f == F::IQ3_XS {
            ty = G::IQ3_XXS;
        } else if f == F::IQ3_XXS {
            ty = G::IQ2_S;
        }
    } else if cat == Category::AttnQ {
        if f == F::IQ3_XS {
            ty = G::IQ3_XXS;
        } else if f == F::IQ3_XXS {
            ty = G::IQ2_S;
        }
    } else if cat == Category::FfnDown {
        let (i, n) = layer_of(q.i_ffn_down);
        if f == F::Q2_K {
            ty = G::Q3_K;
        } else if f == F::Q2_K_S {
            if i < n / 8 {
                ty = G::Q4_K;
            }
        } else if f == F::IQ3_XXS && !c.imatrix {
            ty = if i < n / 8 { G::Q4_K } else { G::Q3_K };
        } else if f == F::Q3_K_M {
            ty = if i < n / 16 {
                G::Q5_K
            } else if !c.falcon || use_more_bits(i, n) {
                G::Q4_K
            } else {
                G::Q3_K
            };
        } else if f == F::IQ3_M && (i < n / 8 || (c.n_expert == 8 && use_more_bits(i, n))) {
            ty = G::Q4_K;
        } else if f == F::Q3_K_L {
            ty = G::Q5_K;
        } else if f == F::Q4_K_M {
            if use_more_bits(i, n) {
                ty = G::Q6_K;
            }
        } else if i < n / 8 && matches!(f, F::IQ4_NL | F::IQ4_XS) && !c.imatrix {
            ty = G::Q5_K;
        } else if f == F::Q5_K_M && use_more_bits(i, n) {
            ty = G::Q6_K;
        } else if f == F::Q4_K_S && i < n / 8 {
            ty = G::Q5_K;
        } else if matches!(f, F::Q4_0 | F::Q5_0) && c.imatrix && i < n / 8 {
            ty = if f == F::Q4_0 { G::Q4_1 } else { G::Q5_1 };
        }
        q.i_ffn_down += 1;
    } else if cat == Category::AttnOutput {
        if c.n_expert == 8 {
            if matches!(
                f,
                F::Q2_K
                    | F::IQ3_XS
                    | F::IQ3_XXS
                    | F::Q3_K_S
                    | F::Q3_K_M
                    | F::IQ4_NL
                    | F::Q4_K_S
                    | F::Q4_K_M
                    | F::IQ3_S
                    | F::IQ3_M
                    | F::IQ4_XS
            ) {
                ty = G::Q5_K;
            }
        } else {
            ty = match f {
                F::Q2_K => G::Q3_K,
                F::IQ3_XXS => G::IQ3_S,
                F::Q3_K_M => G::Q4_K,
                F::Q3_K_L => G::Q5_K,
                F::IQ3_M => G::Q4_K,
                _ => ty,
            };
        }
    } else if cat == Category::AttnQkv {
        ty = match f {
            F::Q3_K_M | F::Q3_K_L | F::IQ3_M => G::Q4_K,
            F::Q4_K_M => G::Q5_K,
            F::Q5_K_M => G::Q6_K,
            _ => ty,
        };
    } else if cat == Category::FfnGate || cat == Category::FfnUp {
        let counter = if cat == Category::FfnGate {
            &mut q.i_ffn_gate
        } else {
            &mut q.i_ffn_up
        };
        let (i, n) = layer_of(*counter);
        if f == F::IQ3_XS && i >= n / 8 && i < 7 * n / 8 {
            ty = G::IQ3_XXS;
        }
        *counter += 1;
    }
    ty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_follows_llama_cpp() {
        assert_eq!(fallback(GgmlType::Q4_K, 128), GgmlType::Q5_0);
        assert_eq!(fallback(GgmlType::Q6_K, 128), GgmlType::Q8_0);
        assert_eq!(fallback(GgmlType::IQ2_XXS, 128), GgmlType::IQ4_NL);
        assert_eq!(fallback(GgmlType::Q4_K, 4096), GgmlType::Q4_K);
        assert_eq!(fallback(GgmlType::Q4_K, 20), GgmlType::F16);
    }

    #[test]
    fn use_more_bits_picks_ends_and_every_third() {
        let picked: Vec<u64> = (0..16).filter(|&i| use_more_bits(i, 16)).collect();
        assert_eq!(picked, vec![0, 1, 4, 7, 10, 13, 14, 15]);
    }
}
