//! How good a model and a quantization are, from published data only:
//! reasoning benchmarks per model (`data/model_quality.toml`) and the KL
//! divergence of each llama.cpp quantization from F16 on llama.cpp's
//! LLaMA-3-8B scoreboard (`data/quant_quality.csv`).
//!
//! Quantization loss depends on the model, so the KLD numbers are used as a
//! ranking of quantizations, not as a per-model truth; tiers group them so a
//! bigger model at a lower quantization wins only where the scoreboard shows
//! that quantization to be close to lossless.

use crate::quant::{FileType, Quant};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// Benchmarks of one model.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ModelQuality {
    /// Catalog id.
    pub id: String,
    /// AIME 2024 pass@1 (%).
    pub aime2024: f64,
    /// GPQA Diamond pass@1 (%).
    pub gpqa_diamond: f64,
    /// LiveCodeBench pass@1 (%).
    pub livecodebench: f64,
    /// Where the numbers were published.
    pub source: String,
}

impl ModelQuality {
    /// Mean of the three benchmarks.
    pub fn score(&self) -> f64 {
        (self.aime2024 + self.gpqa_diamond + self.livecodebench) / 3.0
    }
}

#[derive(Deserialize)]
struct File {
    model: Vec<ModelQuality>,
}

static MODELS: LazyLock<Vec<ModelQuality>> = LazyLock::new(|| {
    toml::from_str::<File>(include_str!("../data/model_quality.toml"))
        .expect("embedded model_quality.toml is valid (checked by a test)")
        .model
});

/// Benchmarks of a catalog model, if published.
pub fn model_quality(id: &str) -> Option<&'static ModelQuality> {
    MODELS.iter().find(|m| m.id == id)
}

/// (quant, imatrix, mean KLD) rows of the LLaMA-3-8B scoreboard.
static KLD: LazyLock<Vec<(String, bool, f64)>> = LazyLock::new(|| {
    let mut rdr = csv::Reader::from_reader(include_str!("../data/quant_quality.csv").as_bytes());
    rdr.records()
        .filter_map(|r| r.ok())
        .filter(|r| &r[0] == "Meta-Llama-3-8B")
        .filter_map(|r| {
            let kld: f64 = r[6].parse().ok()?;
            Some((r[1].to_ascii_uppercase(), &r[2] != "None", kld))
        })
        .collect()
});

/// Quality tier of a quantization, A best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Tier {
    /// Mean KLD < 0.02: indistinguishable in practice (Q5_K_M and up).
    A,
    /// < 0.05: the usual sweet spot (Q4_K_M, IQ4_XS).
    B,
    /// < 0.15: noticeable but usable (Q3_K_M, IQ3_M, Q4_0).
    C,
    /// < 0.5: degraded (Q2_K, IQ2_M, Q3_K_S).
    D,
    /// ≥ 0.5, or no measurement: use only if nothing else fits.
    E,
}

/// Mean KLD of a quantization on the scoreboard (imatrix row preferred when the
/// quant was made with one), or `None` when the scoreboard has no row.
pub fn quant_kld(q: &Quant) -> Option<f64> {
    let (ftype, imatrix) = match q {
        Quant::Gguf {
            ftype,
            variant: None,
            imatrix,
        } => (*ftype, *imatrix),
        // Publisher variants keep the base recipe for most tensors.
        Quant::Gguf {
            ftype,
            variant: Some(v),
            imatrix,
        } if !v.starts_with("UD-") => (*ftype, *imatrix),
        _ => return None,
    };
    let name = match ftype {
        FileType::F16 | FileType::BF16 | FileType::F32 => "F16".to_string(),
        f => f.name(),
    };
    let rows: Vec<&(String, bool, f64)> = KLD.iter().filter(|(n, _, _)| *n == name).collect();
    rows.iter()
        .find(|(_, im, _)| *im == imatrix)
        .or_else(|| rows.first())
        .map(|(_, _, k)| *k)
}

/// The tier of a quantization.
pub fn tier(q: &Quant) -> Tier {
    match quant_kld(q) {
        Some(k) if k < 0.02 => Tier::A,
        Some(k) if k < 0.05 => Tier::B,
        Some(k) if k < 0.15 => Tier::C,
        Some(k) if k < 0.5 => Tier::D,
        _ => match q {
            // Unofficial formats whose loss is known to be small.
            Quant::Fp8 => Tier::A,
            Quant::Awq | Quant::Gptq => Tier::B,
            _ => Tier::E,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_loads_and_orders_as_published() {
        assert_eq!(MODELS.len(), 9);
        let q = |id: &str| model_quality(id).unwrap().score();
        assert!(q("deepseek-r1") > q("deepseek-r1-distill-qwen-32b"));
        assert!(q("deepseek-r1-distill-qwen-32b") > q("deepseek-r1-distill-qwen-7b"));
        let t = |s: &str| tier(&Quant::parse(s).unwrap());
        assert_eq!(t("Q8_0"), Tier::A);
        assert_eq!(t("Q4_K_M"), Tier::B);
        assert_eq!(t("Q3_K_M"), Tier::C);
        assert_eq!(t("Q2_K"), Tier::D);
        assert_eq!(t("IQ1_S"), Tier::E);
        assert!(quant_kld(&Quant::parse("Q4_K_M").unwrap()).unwrap() < 0.035);
    }
}
