//! Invariants that must hold for every model and setting.

use canirun_core::memory::{llama_cpp, FlashAttn, RunSettings};
use canirun_core::model::{catalog, MlaTensorLayout};
use canirun_core::quant::{weights, FileType, GgmlType, Quant};
use proptest::prelude::*;

/// File types in order of size within each family (llama.cpp's quantize help lists them so).
const CHAINS: [&[FileType]; 3] = {
    use FileType::*;
    [
        &[
            Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, Q8_0, F16, F32,
        ],
        &[
            IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS, IQ3_S, IQ3_M, IQ4_XS,
            IQ4_NL,
        ],
        &[Q4_0, Q4_1, Q5_0, Q5_1, Q8_0],
    ]
};

fn cache_type() -> impl Strategy<Value = GgmlType> {
    prop::sample::select(vec![
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::F32,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn more_context_never_needs_less_memory(
        model in 0..catalog().len(),
        ctx_a in 1u64..200_000,
        extra in 0u64..100_000,
        fa in prop::bool::ANY,
        ct in cache_type(),
        np in 1u64..8,
        ub in prop::sample::select(vec![64u64, 256, 512, 1024, 2048]),
    ) {
        let m = catalog()[model].spec();
        let w = weights(&m, &Quant::gguf(FileType::Q4_K_M), MlaTensorLayout::Split);
        let s = |ctx| RunSettings {
            n_ctx: ctx,
            flash_attn: if fa { FlashAttn::On } else { FlashAttn::Off },
            type_k: ct,
            type_v: if fa { ct } else if ct.is_quantized() { GgmlType::F16 } else { ct },
            n_parallel: np,
            n_ubatch: ub,
            ..Default::default()
        };
        let sa = s(ctx_a);
        let sb = s(ctx_a + extra);
        let (a, b) = match (llama_cpp::estimate(&m, &w, &sa), llama_cpp::estimate(&m, &w, &sb)) {
            (Ok(a), Ok(b)) => (a, b),
            // MLA refuses different K/V types; both contexts are refused alike.
            (Err(_), Err(_)) => return Ok(()),
            (x, y) => panic!("inconsistent refusal: {x:?} / {y:?}"),
        };
        prop_assert!(a.kv.bytes <= b.kv.bytes);
        prop_assert!(a.compute.bytes <= b.compute.bytes);
        prop_assert!(a.total() <= b.total(), "{} > {}", a.total(), b.total());
    }

    #[test]
    fn a_smaller_quant_never_has_bigger_weights(
        model in 0..catalog().len(),
        chain in 0..CHAINS.len(),
        i in 0usize..12,
        j in 0usize..12,
    ) {
        let c = CHAINS[chain];
        let (i, j) = (i % c.len(), j % c.len());
        let (lo, hi) = (i.min(j), i.max(j));
        let m = catalog()[model].spec();
        // Only where every matrix row is a whole number of 256-value super-blocks:
        // otherwise llama.cpp swaps the K- and IQ-types for fallbacks (IQ4_NL,
        // Q5_0, …) that do not keep the chain's order. gpt-oss (width 2880) is
        // such a model: Q2_K and Q3_K_S come out the same size.
        let ff_exp = m.moe.map_or(0, |e| e.n_ff_exp);
        prop_assume!(
            m.n_embd.is_multiple_of(256) && m.n_ff.is_multiple_of(256) && ff_exp.is_multiple_of(256)
        );
        let small = weights(&m, &Quant::gguf(c[lo]), MlaTensorLayout::Split).total();
        let big = weights(&m, &Quant::gguf(c[hi]), MlaTensorLayout::Split).total();
        prop_assert!(small <= big, "{}: {} {} > {} {}", m.id, c[lo], small, c[hi], big);
    }
}
