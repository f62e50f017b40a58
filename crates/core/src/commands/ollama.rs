//! Ollama: `ollama run TAG`, the server environment for context, KV cache type,
//! flash attention and slots, and a Modelfile that bakes context and GPU layers in.
//!
//! The tag is the catalog's Ollama tag for the library's default quantization
//! (Q4_K_M, ground-truth-models.md §2.1); for any other quantization canirun
//! writes `hf.co/REPO:QUANT` from `data/gguf_repos.toml`, which Ollama pulls from
//! Hugging Face, because the library's quantization tags are not in canirun's data.

use super::{gguf_repo, gguf_tag, not_applicable, shell_quote};
use super::{CommandError, Request, RunCommand, Runner};
use crate::memory::FlashAttn;
use crate::model::MlaTensorLayout;
use crate::quant::{FileType, GgmlType, Quant};

/// KV cache types `OLLAMA_KV_CACHE_TYPE` accepts (Ollama docs/faq.md).
const OLLAMA_KV_TYPES: [GgmlType; 3] = [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0];

/// Hugging Face splits files above 50 GB; Ollama cannot pull split GGUFs from hf.co.
const HF_SPLIT_BYTES: u64 = 50_000_000_000;

/// Whether the quantization is the one Ollama's library tags default to.
fn is_library_default(q: &Quant) -> bool {
    matches!(
        q,
        Quant::Gguf {
            ftype: FileType::Q4_K_M,
            variant: None,
            ..
        }
    )
}

/// The model reference `ollama run` takes.
fn model_ref(req: &Request, notes: &mut Vec<String>) -> Result<String, CommandError> {
    if let Some(path) = req.local_path {
        notes.push(format!(
            "a local file needs a Modelfile: FROM {path}, then `ollama create NAME -f Modelfile` and `ollama run NAME`"
        ));
        return Ok(path.to_string());
    }
    let Some(entry) = req.entry else {
        return Err(not_applicable(
            Runner::Ollama,
            "the model is not in canirun's catalog; give a local .gguf file",
        ));
    };
    if is_library_default(req.quant) {
        if let Some(tag) = entry.ollama.first() {
            if let Some(n) = &entry.ollama_note {
                notes.push(n.clone());
            }
            return Ok(tag.clone());
        }
    }
    let Some(tag) = gguf_tag(req.quant) else {
        return Err(not_applicable(
            Runner::Ollama,
            format!(
                "Ollama runs GGUF files, not {}; pick a GGUF quantization such as -q Q4_K_M",
                req.quant
            ),
        ));
    };
    let Some(repo) = gguf_repo(&entry.id) else {
        return Err(not_applicable(
            Runner::Ollama,
            format!(
                "canirun knows no Ollama tag for {} at {tag} and no GGUF repository to pull it from; use -q Q4_K_M (the library default) or a local file",
                entry.name
            ),
        ));
    };
    let size = crate::quant::weights(req.spec, req.quant, MlaTensorLayout::Split).total();
    if size.0 > HF_SPLIT_BYTES {
        return Err(not_applicable(
            Runner::Ollama,
            format!(
                "{} at {tag} is {size}, split into several files on Hugging Face, which Ollama cannot pull; merge them with llama-gguf-split --merge and use FROM ./merged.gguf in a Modelfile, or use llama.cpp",
                entry.name
            ),
        ));
    }
    notes.push(format!(
        "Ollama's library tag for {tag} is not in canirun's data, so this pulls the GGUF from Hugging Face ({})",
        repo.source
    ));
    Ok(format!("hf.co/{}:{tag}", repo.repo))
}

/// The `ollama run` command, server environment and Modelfile.
pub fn command(req: &Request) -> Result<RunCommand, CommandError> {
    let s = req.settings;
    let mut notes = Vec::new();
    let model = model_ref(req, &mut notes)?;
    let mut env: Vec<(String, String)> = Vec::new();
    if s.n_ctx > 0 {
        env.push(("OLLAMA_CONTEXT_LENGTH".into(), s.n_ctx.to_string()));
    }
    let quantized_kv = s.type_k != GgmlType::F16 || s.type_v != GgmlType::F16;
    // Ollama's flash attention is off unless asked for; a quantized cache needs it.
    if s.flash_attn == FlashAttn::On || (quantized_kv && s.flash_attn != FlashAttn::Off) {
        env.push(("OLLAMA_FLASH_ATTENTION".into(), "1".into()));
    }
    if quantized_kv {
        if s.type_k != s.type_v {
            notes.push(format!(
                "Ollama has one cache type for K and V; -ctk {} -ctv {} cannot be expressed, so the K type is used",
                s.type_k, s.type_v
            ));
        }
        if OLLAMA_KV_TYPES.contains(&s.type_k) {
            env.push((
                "OLLAMA_KV_CACHE_TYPE".into(),
                s.type_k.name().to_ascii_lowercase(),
            ));
        } else {
            notes.push(format!(
                "OLLAMA_KV_CACHE_TYPE takes f16, q8_0 or q4_0, not {}; the cache stays f16",
                s.type_k
            ));
        }
        if s.flash_attn == FlashAttn::Off {
            notes.push("a quantized KV cache needs flash attention in Ollama; with it off the cache stays f16".into());
        }
    }
    if s.n_parallel > 1 {
        env.push(("OLLAMA_NUM_PARALLEL".into(), s.n_parallel.to_string()));
    }

    let mut modelfile = format!("FROM {model}\n");
    if s.n_ctx > 0 {
        modelfile.push_str(&format!("PARAMETER num_ctx {}\n", s.n_ctx));
    }
    let placement = req.placement.cloned().unwrap_or_default();
    if let Some(n) = placement.ngl {
        modelfile.push_str(&format!("PARAMETER num_gpu {n}\n"));
    }
    if !placement.args.overrides.is_empty() {
        notes.push("Ollama has no -ot/--cpu-moe: it offloads whole layers only, so experts cannot be kept in RAM on their own; use llama.cpp for that placement".into());
    }
    if placement.args.tensor_split.is_some() {
        notes.push(
            "Ollama splits layers across GPUs itself; there is no tensor-split setting".into(),
        );
    }
    let env_line = env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    if !env.is_empty() {
        notes.push(format!(
            "the environment applies to the server: restart it as `{env_line} ollama serve` (or set it in the service's environment)"
        ));
    }
    notes.push(
        "to bake the Modelfile's settings into a model: save it as Modelfile, `ollama create my-model -f Modelfile`, then `ollama run my-model`".into(),
    );
    Ok(RunCommand {
        engine: Runner::Ollama,
        version_note: "Ollama 0.6 or later: OLLAMA_CONTEXT_LENGTH arrived in 0.5.13 and OLLAMA_KV_CACHE_TYPE in 0.5.0 (release notes, not checked against a binary here); hf.co/ model references since 0.3.13; Modelfile keys checked against Ollama's docs by a test".into(),
        command: format!("ollama run {}", shell_quote(&model)),
        env,
        modelfile: Some(modelfile),
        config: None,
        notes,
    })
}

/// The `PARAMETER` keys of a Modelfile.
pub fn modelfile_keys(modelfile: &str) -> Vec<String> {
    modelfile
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            match it.next() {
                Some(k) if k.eq_ignore_ascii_case("PARAMETER") => it.next().map(str::to_string),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{parse, split_words, Engine};
    use crate::commands::ollama_modelfile_keys;
    use crate::commands::testing::{command_for, entry, q8_cache};
    use crate::memory::RunSettings;
    use crate::model::catalog;

    /// A placement of `-ngl n`.
    fn ngl(n: u64) -> crate::placement::llama_cpp::LlamaFlags {
        crate::placement::llama_cpp::LlamaFlags::from_args(
            crate::placement::llama_cpp::PlacementArgs {
                n_gpu_layers: Some(n),
                ..Default::default()
            },
        )
    }

    #[test]
    fn experts_in_ram_and_splits_are_noted() {
        let p = parse(&split_words(
            "llama-server -m m.gguf -ngl 20 -ncmoe 4 -ts 3,1",
        ))
        .unwrap();
        let flags = crate::placement::llama_cpp::LlamaFlags::from_args(p.placement);
        let c = command_for(
            command,
            entry("deepseek-r1-distill-qwen-7b"),
            &Quant::parse("Q4_K_M").unwrap(),
            &RunSettings::default(),
            Some(&flags),
            None,
        )
        .unwrap();
        assert!(c.modelfile.unwrap().contains("PARAMETER num_gpu 20"));
        assert!(c.notes.iter().any(|n| n.contains("--cpu-moe")));
        assert!(c.notes.iter().any(|n| n.contains("tensor-split")));
    }

    #[test]
    fn default_tag_with_modelfile_and_environment() {
        let c = command_for(
            command,
            entry("deepseek-r1-distill-qwen-7b"),
            &Quant::parse("Q4_K_M").unwrap(),
            &q8_cache(16384),
            Some(&ngl(29)),
            None,
        )
        .unwrap();
        assert_eq!(c.command, "ollama run deepseek-r1:7b");
        assert_eq!(
            c.modelfile.as_deref(),
            Some("FROM deepseek-r1:7b\nPARAMETER num_ctx 16384\nPARAMETER num_gpu 29\n")
        );
        assert_eq!(
            c.shell_line(),
            "OLLAMA_CONTEXT_LENGTH=16384 OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE=q8_0 ollama run deepseek-r1:7b"
        );
        // Round trip through the pasted-command parser.
        let p = parse(&split_words(&c.shell_line())).unwrap();
        assert_eq!(p.engine, Engine::Ollama);
        assert_eq!(p.model.as_deref(), Some("deepseek-r1:7b"));
        assert_eq!(p.settings.n_ctx, 16384);
        assert_eq!(p.settings.flash_attn, FlashAttn::On);
        assert_eq!(p.settings.type_k, GgmlType::Q8_0);
        assert_eq!(p.settings.type_v, GgmlType::Q8_0);
        assert!(p.unknown.is_empty() && p.ignored.is_empty());
    }

    #[test]
    fn other_quants_pull_from_hugging_face_or_are_refused() {
        let s = RunSettings::default();
        let run = |id: &str, q: &str| {
            command_for(
                command,
                entry(id),
                &Quant::parse(q).unwrap(),
                &s,
                None,
                None,
            )
        };
        assert_eq!(
            run("deepseek-r1-distill-qwen-7b", "Q8_0").unwrap().command,
            "ollama run hf.co/bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF:Q8_0"
        );
        // R1 at 1.58 bit is 131 GiB in several files: Ollama cannot pull it.
        let err = run("deepseek-r1", "UD-IQ1_S").unwrap_err().to_string();
        assert!(err.contains("split"), "{err}");
        // The library default needs no repository.
        assert_eq!(
            run("deepseek-r1", "Q4_K_M").unwrap().command,
            "ollama run deepseek-r1:671b"
        );
    }

    /// Every PARAMETER canirun writes is one Ollama documents.
    #[test]
    fn modelfile_keys_are_documented() {
        let documented: Vec<&str> = ollama_modelfile_keys()
            .iter()
            .map(|k| k.name.as_str())
            .collect();
        for k in [
            "num_ctx",
            "num_gpu",
            "num_thread",
            "temperature",
            "top_p",
            "stop",
        ] {
            assert!(documented.contains(&k), "{k}");
        }
        let mut seen = 0;
        for e in catalog().iter().filter(|e| !e.ollama.is_empty()) {
            let spec = e.spec();
            for q in ["Q4_K_M", "Q8_0"] {
                let q = Quant::parse(q).unwrap();
                for n in [0, 20, 999] {
                    let s = RunSettings {
                        n_ctx: 8192,
                        ..RunSettings::default()
                    };
                    let flags = ngl(n);
                    let mut req = Request::new(&spec, &q, &s);
                    req.entry = Some(e);
                    req.placement = Some(&flags);
                    let Ok(c) = command(&req) else { continue };
                    for k in modelfile_keys(c.modelfile.as_deref().unwrap_or("")) {
                        assert!(documented.contains(&k.as_str()), "{}: {k}", e.id);
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen > 20);
    }
}
