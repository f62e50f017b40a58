//! Turn what a user typed into a catalog entry: Ollama tags
//! (`deepseek-r1:70b-llama-distill-q8_0`), Hugging Face ids
//! (`deepseek-ai/DeepSeek-R1-Distill-Qwen-7B`, `hf.co/unsloth/DeepSeek-R1-GGUF:Q4_K_M`)
//! and short names (`r1-7b`).

use super::catalog::{catalog, CatalogEntry};

/// A resolved model reference.
#[derive(Debug, Clone)]
pub struct ModelRef {
    /// The catalog entry.
    pub entry: &'static CatalogEntry,
    /// A quantization named inside the reference (Ollama tag suffix or `:QUANT`), as typed.
    pub quant: Option<String>,
    /// Whether the name was one of the entry's Ollama tags (its default
    /// quantization is then the tag's, `CatalogEntry::ollama_quant`).
    pub via_ollama_tag: bool,
}

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// No entry matches.
    #[error("unknown model '{name}'; closest matches: {}. Run `canirun models` for the full list", suggestions.join(", "))]
    Unknown {
        /// What was typed.
        name: String,
        /// Nearest catalog names.
        suggestions: Vec<String>,
    },
    /// Several entries match equally well.
    #[error("model '{name}' is ambiguous; it could be: {}", candidates.join(", "))]
    Ambiguous {
        /// What was typed.
        name: String,
        /// Matching catalog ids.
        candidates: Vec<String>,
    },
}

/// Lower-case and strip decorations that do not change the model.
fn normalize(s: &str) -> String {
    let mut s = s.trim().to_ascii_lowercase();
    for p in [
        "https://huggingface.co/",
        "http://huggingface.co/",
        "huggingface.co/",
        "hf.co/",
        "ollama.com/library/",
        "registry.ollama.ai/library/",
    ] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.to_string();
        }
    }
    s = s.trim_end_matches(":latest").to_string();
    s = s.replace(['_', ' '], "-");
    s
}

/// Collapse a name to letters and digits for loose comparison.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect()
}

/// Ollama's distill markers; they only confirm which base model a tag means.
const TAG_NOISE: [&str; 4] = ["-qwen-distill", "-llama-distill", "-instruct", "-gguf"];

/// The names under which an entry may be found, normalized.
fn names(e: &CatalogEntry) -> Vec<String> {
    let mut v = vec![normalize(&e.id), normalize(&e.name), normalize(&e.hf_repo)];
    if let Some((_, repo)) = e.hf_repo.split_once('/') {
        v.push(normalize(repo));
    }
    v.extend(e.ollama.iter().map(|s| normalize(s)));
    v.extend(e.aliases.iter().map(|s| normalize(s)));
    v
}

/// Split a trailing quantization off a name: `…-q8_0`, `…-fp16`, `…:Q4_K_M`, `…-gguf:q4_k_m`.
fn split_quant(n: &str) -> (String, Option<String>) {
    // HF style: repo:QUANT (but not an Ollama family:tag, which has no '/')
    if let Some((left, right)) = n.rsplit_once(':') {
        if left.contains('/') && crate::quant::looks_like_quant(right) {
            return (left.to_string(), Some(right.to_string()));
        }
    }
    // Ollama style: family:size-...-quant; try the longest quant-like suffix
    let parts: Vec<&str> = n.split('-').collect();
    for i in 1..parts.len() {
        let suffix = parts[i..].join("-");
        if crate::quant::looks_like_quant(&suffix) {
            return (parts[..i].join("-"), Some(suffix));
        }
    }
    (n.to_string(), None)
}

fn strip_noise(n: &str) -> String {
    let mut s = n.to_string();
    for t in TAG_NOISE {
        s = s.replace(t, "");
    }
    // Gemma's instruction-tuned marker (`gemma3:27b-it-q4_K_M`, `gemma-3-27b-it`).
    s.strip_suffix("-it").map(str::to_string).unwrap_or(s)
}

/// Whether `candidate` (normalized) is one of `e`'s Ollama tags.
fn is_ollama_tag(e: &CatalogEntry, candidate: &str) -> bool {
    e.ollama.iter().any(|t| normalize(t) == candidate)
}

/// Resolve a model name typed by a user.
pub fn resolve(input: &str) -> Result<ModelRef, ResolveError> {
    let n = normalize(input);
    if n.is_empty() {
        return Err(ResolveError::Unknown {
            name: input.to_string(),
            suggestions: suggestions(""),
        });
    }
    let (base, quant) = split_quant(&n);
    for candidate in [n.clone(), base.clone(), strip_noise(&base)] {
        let hits: Vec<&'static CatalogEntry> = catalog()
            .iter()
            .filter(|e| names(e).contains(&candidate))
            .collect();
        match hits.len() {
            0 => {}
            1 => {
                let quant = if candidate == n { None } else { quant.clone() };
                return Ok(ModelRef {
                    entry: hits[0],
                    quant,
                    via_ollama_tag: is_ollama_tag(hits[0], &candidate),
                });
            }
            _ => {
                return Err(ResolveError::Ambiguous {
                    name: input.to_string(),
                    candidates: hits.iter().map(|e| e.id.clone()).collect(),
                })
            }
        }
    }
    // Loose match: ignore punctuation ("DeepSeek R1 Distill Qwen 7B" == "deepseek-r1-distill-qwen-7b").
    let sq = squash(&strip_noise(&base));
    let hits: Vec<&'static CatalogEntry> = catalog()
        .iter()
        .filter(|e| names(e).iter().any(|x| squash(x) == sq))
        .collect();
    if hits.len() == 1 {
        return Ok(ModelRef {
            entry: hits[0],
            quant,
            via_ollama_tag: false,
        });
    }
    Err(ResolveError::Unknown {
        name: input.to_string(),
        suggestions: suggestions(&base),
    })
}

/// The five catalog names closest to `s` by edit distance.
fn suggestions(s: &str) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = catalog()
        .iter()
        .map(|e| {
            let best = names(e)
                .iter()
                .map(|x| edit_distance(s, x))
                .min()
                .unwrap_or(usize::MAX);
            let shown = e.ollama.first().cloned().unwrap_or_else(|| e.id.clone());
            (best, shown)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

/// Levenshtein distance (names are short, so the quadratic table is fine).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> String {
        resolve(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .entry
            .id
            .clone()
    }

    #[test]
    fn resolves_the_ways_people_type_names() {
        assert_eq!(id("deepseek-r1:7b"), "deepseek-r1-distill-qwen-7b");
        assert_eq!(id("deepseek-r1:671b"), "deepseek-r1");
        assert_eq!(
            id("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"),
            "deepseek-r1-distill-qwen-7b"
        );
        assert_eq!(id("r1-7b"), "deepseek-r1-distill-qwen-7b");
        assert_eq!(
            id("DeepSeek R1 Distill Llama 70B"),
            "deepseek-r1-distill-llama-70b"
        );
        assert_eq!(
            id("deepseek-r1:latest".replace(":latest", ":7b").as_str()),
            "deepseek-r1-distill-qwen-7b"
        );
        assert_eq!(id("hf.co/deepseek-ai/DeepSeek-R1"), "deepseek-r1");
        assert_eq!(id("Llama 2 7B"), "llama-2-7b");
    }

    #[test]
    fn ollama_tags_carry_their_quant() {
        let r = resolve("deepseek-r1:70b-llama-distill-q8_0").unwrap();
        assert_eq!(r.entry.id, "deepseek-r1-distill-llama-70b");
        assert_eq!(r.quant.as_deref(), Some("q8-0"));
        let r = resolve("deepseek-r1:1.5b-qwen-distill-fp16").unwrap();
        assert_eq!(r.entry.id, "deepseek-r1-distill-qwen-1.5b");
        assert_eq!(r.quant.as_deref(), Some("fp16"));
        let r = resolve("hf.co/unsloth/DeepSeek-R1-GGUF:Q4_K_M").unwrap();
        assert_eq!(r.entry.id, "deepseek-r1");
        assert_eq!(r.quant.as_deref(), Some("q4-k-m"));
    }

    /// Every catalog model resolves by its Hugging Face id and by each of its
    /// Ollama tags (46 rows of data/model_configs.csv and the older entries).
    #[test]
    fn every_model_resolves_by_hf_id_and_ollama_tag() {
        let mut tags = 0;
        for e in catalog() {
            assert_eq!(id(&e.hf_repo), e.id, "HF id {}", e.hf_repo);
            assert_eq!(id(&format!("hf.co/{}", e.hf_repo)), e.id);
            for t in &e.ollama {
                let r = resolve(t).unwrap_or_else(|err| panic!("{t}: {err}"));
                assert_eq!(r.entry.id, e.id, "Ollama tag {t}");
                assert!(r.via_ollama_tag, "{t}");
                assert!(r.quant.is_none(), "{t}");
                tags += 1;
            }
        }
        assert!(tags >= 60, "{tags} tags");
    }

    #[test]
    fn the_tags_people_type() {
        for (tag, want) in [
            ("qwen3:32b", "qwen3-32b"),
            ("qwen3:30b-a3b", "qwen3-30b-a3b"),
            ("gpt-oss:120b", "gpt-oss-120b"),
            ("gpt-oss:20b", "gpt-oss-20b"),
            ("llama3.3:70b", "llama-3.3-70b"),
            ("llama3.1:8b", "llama-3.1-8b"),
            ("gemma3:27b", "gemma-3-27b"),
            ("mistral-small3.2", "mistral-small-3.2-24b"),
            ("phi4", "phi-4"),
            ("kimi-k2", "kimi-k2"),
            ("glm4.5", "glm-4.5"),
            ("mixtral:8x7b", "mixtral-8x7b"),
            ("llama4:scout", "llama-4-scout"),
            ("deepseek-v3.1", "deepseek-v3.1"),
            ("Qwen/Qwen3-235B-A22B", "qwen3-235b-a22b"),
            ("google/gemma-3-27b-it", "gemma-3-27b"),
            ("gemma 3 27b", "gemma-3-27b"),
        ] {
            assert_eq!(id(tag), want, "{tag}");
        }
        // Names Ollama does not publish for local download still resolve, as
        // aliases, never as Ollama tags (no Ollama default quantization).
        for name in ["kimi-k2", "kimi-k2:1t-cloud", "glm4.5", "deepseek-v3.2"] {
            let r = resolve(name).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert!(!r.via_ollama_tag, "{name} is not an Ollama library tag");
        }
        // Tags the ollama/ollama repository itself uses.
        for (tag, want) in [
            ("qwen3:30b", "qwen3-30b-a3b"),
            ("qwen3:235b", "qwen3-235b-a22b"),
            ("llama2", "llama-2-7b"),
            ("llama3", "llama-3-8b"),
            ("llama4:maverick", "llama-4-maverick"),
        ] {
            let r = resolve(tag).unwrap();
            assert_eq!(r.entry.id, want, "{tag}");
            assert!(r.via_ollama_tag, "{tag}");
        }
        // A tag with its quantization keeps it.
        let r = resolve("gemma3:27b-it-q4_K_M").unwrap();
        assert_eq!(r.entry.id, "gemma-3-27b");
        assert_eq!(r.quant.as_deref(), Some("q4-k-m"));
        let r = resolve("qwen3:32b-q8_0").unwrap();
        assert_eq!(
            (r.entry.id.as_str(), r.quant.as_deref()),
            ("qwen3-32b", Some("q8-0"))
        );
    }

    #[test]
    fn unknown_names_get_suggestions() {
        match resolve("deepseek-r1:9b") {
            Err(ResolveError::Unknown { suggestions, .. }) => {
                assert_eq!(suggestions.len(), 5);
                assert!(suggestions.iter().any(|s| s.starts_with("deepseek-r1:")));
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
        assert!(resolve("").is_err());
        match resolve("qwen3:33b") {
            Err(ResolveError::Unknown { suggestions, .. }) => {
                assert!(
                    suggestions.iter().any(|s| s == "qwen3:32b"),
                    "{suggestions:?}"
                );
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
    }
}
