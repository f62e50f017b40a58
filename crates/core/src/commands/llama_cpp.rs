//! `llama-server` (llama.cpp): `-hf REPO:QUANT` from a known publisher, or `-m FILE`,
//! then the run settings and the placement flags.

use super::{flag_words, gguf_repo, gguf_tag, join_words, not_applicable, Request, RunCommand};
use super::{CommandError, Runner};
use crate::memory::{FlashAttn, RunSettings};
use crate::quant::GgmlType;

/// The llama.cpp build whose `llama-server --help` the flags are checked against
/// (the ground-truth harness, `scripts/build-llama-cpp.sh`).
pub const LLAMA_CPP_COMMIT: &str = "0c1e57098";

/// `-fa`'s value, or nothing for llama.cpp's default (`auto`).
fn fa_value(fa: FlashAttn) -> Option<&'static str> {
    match fa {
        FlashAttn::On => Some("on"),
        FlashAttn::Off => Some("off"),
        FlashAttn::Auto => None,
    }
}

/// The run-setting flags, each only where it differs from llama.cpp's default,
/// except `-c` and `-np`: llama-server's defaults for those (the training context,
/// automatic slots) are not what canirun's estimate assumed, so they are always written.
pub fn settings_flags(s: &RunSettings) -> Vec<String> {
    let mut w: Vec<String> = vec!["-c".into(), s.n_ctx.to_string()];
    w.extend(["-np".into(), s.n_parallel.to_string()]);
    if s.kv_unified {
        w.push("-kvu".into());
    }
    if s.n_batch != 2048 {
        w.extend(["-b".into(), s.n_batch.to_string()]);
    }
    if s.n_ubatch != 512 {
        w.extend(["-ub".into(), s.n_ubatch.to_string()]);
    }
    if let Some(v) = fa_value(s.flash_attn) {
        w.extend(["-fa".into(), v.into()]);
    }
    if s.type_k != GgmlType::F16 {
        w.extend(["-ctk".into(), s.type_k.name().to_ascii_lowercase()]);
    }
    if s.type_v != GgmlType::F16 {
        w.extend(["-ctv".into(), s.type_v.name().to_ascii_lowercase()]);
    }
    w
}

/// The `llama-server` command.
pub fn command(req: &Request) -> Result<RunCommand, CommandError> {
    let mut notes = Vec::new();
    let mut words: Vec<String> = vec!["llama-server".into()];
    match (req.local_path, req.entry.and_then(|e| gguf_repo(&e.id))) {
        (Some(path), _) => words.extend(["-m".into(), path.to_string()]),
        (None, repo) => {
            let Some(tag) = gguf_tag(req.quant) else {
                return Err(not_applicable(
                    Runner::LlamaCpp,
                    format!(
                        "llama.cpp loads GGUF files, not {}; pick a GGUF quantization such as -q Q4_K_M",
                        req.quant
                    ),
                ));
            };
            match repo {
                Some(r) => {
                    words.extend(["-hf".into(), format!("{}:{tag}", r.repo)]);
                    if !r.quants.iter().any(|q| q.eq_ignore_ascii_case(&tag)) {
                        notes.push(format!(
                            "canirun has not seen a {tag} file in {} (seen: {}); check the repository's file list",
                            r.repo,
                            r.quants.join(", ")
                        ));
                    }
                    notes.push(format!("GGUF repository from {}", r.source));
                }
                None => {
                    let file = format!("{}-{tag}.gguf", req.spec.name);
                    notes.push(format!(
                        "canirun knows no GGUF repository for {}; download or convert a {tag} GGUF and pass its path to -m",
                        req.spec.name
                    ));
                    words.extend(["-m".into(), file]);
                }
            }
        }
    }
    words.extend(settings_flags(req.settings));
    words.extend(flag_words(req.placement_flags));
    if req.settings.type_v.is_quantized() && req.settings.flash_attn == FlashAttn::Off {
        notes.push(
            "a quantized V cache needs flash attention; llama.cpp refuses -ctv with -fa off".into(),
        );
    }
    notes.push(
        "chat templates are applied with Jinja by default in this llama.cpp (--jinja is on)".into(),
    );
    Ok(RunCommand {
        engine: Runner::LlamaCpp,
        version_note: format!(
            "llama.cpp build {LLAMA_CPP_COMMIT} (every flag checked against its llama-server --help by a test); -fa on|off|auto needs a build from September 2025 or later, older ones take a bare -fa"
        ),
        command: join_words(&words),
        env: vec![],
        modelfile: None,
        config: None,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{parse, split_words};
    use crate::model::catalog;
    use crate::placement::llama_cpp::{Override, PlacementArgs};
    use crate::placement::Loc;
    use crate::quant::Quant;

    fn entry(id: &str) -> &'static crate::model::CatalogEntry {
        catalog().iter().find(|e| e.id == id).unwrap()
    }

    #[test]
    fn r1_with_experts_in_ram() {
        let e = entry("deepseek-r1");
        let spec = e.spec();
        let q = Quant::parse("UD-IQ1_S").unwrap();
        let s = RunSettings {
            n_ctx: 8192,
            flash_attn: FlashAttn::On,
            type_k: GgmlType::Q8_0,
            type_v: GgmlType::Q8_0,
            ..RunSettings::default()
        };
        let flags = vec!["-ngl 62".to_string(), "-ot exps=CPU".to_string()];
        let mut req = Request::new(&spec, &q, &s);
        req.entry = Some(e);
        req.placement_flags = &flags;
        let c = command(&req).unwrap();
        assert_eq!(
            c.command,
            "llama-server -hf unsloth/DeepSeek-R1-GGUF:UD-IQ1_S -c 8192 -np 1 -fa on -ctk q8_0 -ctv q8_0 -ngl 62 -ot exps=CPU"
        );
        assert!(c.version_note.contains(LLAMA_CPP_COMMIT));
    }

    /// parse(generate(x)) gives back x: settings and placement.
    #[test]
    fn round_trips_through_the_command_parser() {
        let e = entry("deepseek-r1-distill-llama-70b");
        let spec = e.spec();
        let q = Quant::parse("Q4_K_M").unwrap();
        let s = RunSettings {
            n_ctx: 32768,
            n_parallel: 2,
            kv_unified: true,
            n_ubatch: 1024,
            flash_attn: FlashAttn::On,
            type_k: GgmlType::Q8_0,
            type_v: GgmlType::Q4_0,
            ..RunSettings::default()
        };
        let flags = vec![
            "-ngl 70".to_string(),
            "-ts 3,1".to_string(),
            r"-ot blk\.7[0-9]\.ffn_(up|down|gate)_exps=CPU".to_string(),
        ];
        let mut req = Request::new(&spec, &q, &s);
        req.entry = Some(e);
        req.placement_flags = &flags;
        let c = command(&req).unwrap();
        let p = parse(&split_words(&c.shell_line())).unwrap();
        assert!(p.unknown.is_empty(), "{:?}", p.unknown);
        assert_eq!(p.settings, s);
        assert_eq!(
            p.placement,
            PlacementArgs {
                n_gpu_layers: Some(70),
                tensor_split: Some(vec![3.0, 1.0]),
                overrides: vec![Override {
                    pattern: r"blk\.7[0-9]\.ffn_(up|down|gate)_exps".into(),
                    target: Loc::Cpu,
                }],
                ..PlacementArgs::default()
            }
        );
        assert_eq!(
            p.model.as_deref(),
            Some("bartowski/DeepSeek-R1-Distill-Llama-70B-GGUF:Q4_K_M")
        );
    }

    #[test]
    fn local_files_and_unknown_repos_use_m() {
        let e = entry("llama-3-8b");
        let spec = e.spec();
        let q = Quant::parse("Q8_0").unwrap();
        let s = RunSettings::default();
        let mut req = Request::new(&spec, &q, &s);
        req.entry = Some(e);
        let c = command(&req).unwrap();
        assert!(c.command.contains(" -m "), "{}", c.command);
        assert!(c
            .notes
            .iter()
            .any(|n| n.contains("knows no GGUF repository")));
        req.local_path = Some("/models/my model.gguf");
        let c = command(&req).unwrap();
        assert!(c
            .command
            .starts_with("llama-server -m '/models/my model.gguf' -c 4096"));
    }

    #[test]
    fn non_gguf_formats_are_refused() {
        let e = entry("deepseek-r1");
        let spec = e.spec();
        let s = RunSettings::default();
        let mut req = Request::new(&spec, &Quant::Fp8, &s);
        req.entry = Some(e);
        let err = command(&req).unwrap_err().to_string();
        assert!(err.contains("GGUF"), "{err}");
    }
}
