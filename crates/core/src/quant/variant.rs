//! Publisher variants (bartowski `_L`/`_XL`, Unsloth dynamic quants), read from
//! the embedded `data/quant_variants.toml`.

use super::{FileType, GgmlType};
use crate::model::TensorSpec;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// One override rule of a variant.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Substring of the tensor name; a leading `^` anchors it at the start.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Inclusive block range "a-b".
    #[serde(default)]
    pub layers: Option<String>,
    /// ggml type name.
    #[serde(rename = "type")]
    pub ty: String,
}

/// A publisher variant: rules over a base file type.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Name as it appears in file names (`L`, `XL`, `UD-Q2_K_XL`).
    pub name: String,
    /// Who publishes files with this recipe.
    pub publisher: String,
    /// One-line description.
    pub description: String,
    /// Where the recipe is documented.
    pub source: String,
    /// Whether the publisher used an importance matrix.
    pub imatrix: bool,
    /// Only for this architecture.
    #[serde(default)]
    pub arch: Option<String>,
    /// File type the variant always builds on (Unsloth, Q3_K_XL).
    #[serde(default)]
    pub base_override: Option<String>,
    /// Override rules, first match wins.
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct VariantFile {
    variant: Vec<Variant>,
}

static VARIANTS: LazyLock<Vec<Variant>> = LazyLock::new(|| {
    let f: VariantFile = toml::from_str(include_str!("../../data/quant_variants.toml"))
        .expect("embedded quant_variants.toml is valid (checked by a test)");
    f.variant
});

/// All publisher variants.
pub fn variants() -> &'static [Variant] {
    &VARIANTS
}

impl Variant {
    /// The base file type, if the variant fixes one.
    pub fn base(&self) -> Option<FileType> {
        self.base_override.as_deref().and_then(FileType::parse)
    }

    /// The override for a tensor, if a rule matches.
    pub fn override_for(&self, t: &TensorSpec) -> Option<GgmlType> {
        self.rules.iter().find_map(|r| {
            // Anchored patterns name whole non-block tensors (`^output.weight`).
            let hit = match r.pattern.strip_prefix('^') {
                Some(prefix) => t.layer.is_none() && t.base.starts_with(prefix),
                None => t.base.contains(r.pattern.as_str()),
            };
            if !hit {
                return None;
            }
            if let Some(range) = &r.layers {
                let (a, b) = range.split_once('-')?;
                let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
                let l = t.layer?;
                if l < a || l > b {
                    return None;
                }
            }
            r.ty.parse().ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_and_are_sourced() {
        assert!(variants().len() >= 6);
        for v in variants() {
            assert!(!v.source.is_empty());
            for r in &v.rules {
                assert!(r.ty.parse::<GgmlType>().is_ok(), "{}: {}", v.name, r.ty);
            }
            if let Some(b) = &v.base_override {
                assert!(FileType::parse(b).is_some(), "{}: {b}", v.name);
            }
        }
    }
}
