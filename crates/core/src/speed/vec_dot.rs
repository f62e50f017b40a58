//! What a CPU's decode matmuls cost in compute, per weight type.
//!
//! A batch-1 matmul on a CPU is ggml-cpu's `vec_dot` over every weight row:
//! unpack the block (scales, grid lookups for the IQ types), multiply by the
//! quantized activation, sum. Its cost per weight depends on the type far
//! more than on the bytes: an IQ3_S weight costs 3–4× a Q8_0 weight. Where
//! few threads, a slow unit or an expensive type meet a fast memory, decode
//! on a CPU is bound by this compute, not by bandwidth.
//!
//! `data/cpu_vec_dot.csv` holds the measured cycles per weight of each type
//! (one core, operands in L2, `scripts/cpu-vec-dot/measure.sh`). Nothing
//! here is fitted.

use crate::quant::{GgmlType, StorageType};
use std::collections::HashMap;

/// The measured table: `type,cycles_per_weight,ref_int8_ops_per_cycle,vec_dot_type`.
///
/// The cycles apply to every CPU as measured: ggml-cpu's x86 dot products
/// are 256-bit AVX2 code on every x86 unit (AVX-512 and VNNI shorten only
/// the Q4_0/Q8_0 family's multiply-add step, `mul_sum_us8_pairs_float`),
/// and Arm's NEON kernels run on the same 512 bits of SIMD per cycle (four
/// 128-bit pipes) that two 256-bit AVX2 pipes have.
pub const CPU_VEC_DOT_CSV: &str = include_str!("../../data/cpu_vec_dot.csv");

/// One measured type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VecDotCost {
    /// Core clock cycles per weight on the measuring unit.
    pub cycles_per_weight: f64,
    /// Int8 operations per cycle of the measuring unit (`cpu_simd.csv`).
    pub ref_int8_ops_per_cycle: f64,
}

/// The embedded table by ggml type, rows within physical bounds
/// (0.005–5 cycles per weight, 16–512 int8 ops per cycle).
fn table() -> &'static HashMap<GgmlType, VecDotCost> {
    static T: std::sync::OnceLock<HashMap<GgmlType, VecDotCost>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut out = HashMap::new();
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .from_reader(CPU_VEC_DOT_CSV.as_bytes());
        for rec in rdr.records().flatten() {
            let (Some(ty), Some(c), Some(ops)) = (rec.get(0), rec.get(1), rec.get(2)) else {
                continue;
            };
            let (Ok(ty), Ok(c), Ok(ops)) =
                (ty.parse::<GgmlType>(), c.parse::<f64>(), ops.parse::<f64>())
            else {
                continue;
            };
            if (0.005..=5.0).contains(&c) && (16.0..=512.0).contains(&ops) {
                out.insert(
                    ty,
                    VecDotCost {
                        cycles_per_weight: c,
                        ref_int8_ops_per_cycle: ops,
                    },
                );
            }
        }
        out
    })
}

/// Int8 operations per core cycle of the unit the table was measured on
/// (AVX2: `cpu_simd.csv`), assumed for a CPU whose unit is not known.
pub const REF_INT8_OPS_PER_CYCLE: f64 = 64.0;

/// The measured cost of `ty`, if the table has it.
pub fn measured(ty: GgmlType) -> Option<VecDotCost> {
    table().get(&ty).copied()
}

/// Core cycles per weight of a CPU dot product over weights stored as `st`. A type the table does not measure (FP8, AWQ, MLX, EXL2,
/// which llama.cpp's CPU backend does not run, or a type a newer table
/// lacks) costs as Q8_0, the plainest quantized kernel.
pub fn cycles_per_weight(st: &StorageType) -> f64 {
    let measured_ty = match st {
        StorageType::Ggml(t) => measured(*t),
        _ => None,
    };
    measured_ty
        .or_else(|| measured(GgmlType::Q8_0))
        .map(|c| c.cycles_per_weight)
        // Only an unreadable embedded table lands here: one multiply-add a
        // weight at the AVX2 unit's int8 peak (64 operations a cycle).
        .unwrap_or(2.0 / REF_INT8_OPS_PER_CYCLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_measures_every_common_type() {
        for t in [
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::BF16,
            GgmlType::Q4_0,
            GgmlType::Q8_0,
            GgmlType::Q2_K,
            GgmlType::Q3_K,
            GgmlType::Q4_K,
            GgmlType::Q5_K,
            GgmlType::Q6_K,
            GgmlType::IQ1_S,
            GgmlType::IQ1_M,
            GgmlType::IQ2_XXS,
            GgmlType::IQ3_XXS,
            GgmlType::IQ4_XS,
        ] {
            assert!(measured(t).is_some(), "{t} not measured in cpu_vec_dot.csv");
        }
    }

    #[test]
    fn every_row_was_measured_on_the_reference_unit() {
        // The fallback for a CPU of unknown unit assumes the unit the table
        // was measured on: the two must not drift apart.
        assert!(!table().is_empty());
        for (t, c) in table() {
            assert_eq!(c.ref_int8_ops_per_cycle, REF_INT8_OPS_PER_CYCLE, "{t}");
        }
    }

    #[test]
    fn grid_types_cost_more_per_weight_than_plain_blocks() {
        // The IQ types look every group of weights up in a grid: their
        // kernels do more work per weight than Q8_0's or the K-quants'.
        let q8 = cycles_per_weight(&StorageType::Ggml(GgmlType::Q8_0));
        let q4k = cycles_per_weight(&StorageType::Ggml(GgmlType::Q4_K));
        let iq1 = cycles_per_weight(&StorageType::Ggml(GgmlType::IQ1_S));
        let iq3 = cycles_per_weight(&StorageType::Ggml(GgmlType::IQ3_S));
        assert!(iq1 > 1.5 * q8 && iq1 > 2.0 * q4k, "{iq1} vs {q8}, {q4k}");
        assert!(iq3 > iq1);
        // Never below the unit's peak of one multiply-add a weight.
        assert!(q4k >= 2.0 / REF_INT8_OPS_PER_CYCLE);
    }

    #[test]
    fn formats_the_cpu_backend_does_not_run_cost_as_q8_0() {
        let q8 = cycles_per_weight(&StorageType::Ggml(GgmlType::Q8_0));
        assert_eq!(cycles_per_weight(&StorageType::Fp8Block128), q8);
    }
}
