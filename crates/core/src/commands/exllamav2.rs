//! ExLlamaV2 through TabbyAPI: a `config.yml` (`model:` section) and
//! `python3 main.py` in the TabbyAPI checkout. Only EXL2 quantizations of dense
//! Llama/Qwen2 models fit: ExLlamaV2 has no DeepSeek-V3 (MLA + MoE) support.

use super::{not_applicable, CommandError, ConfigFile, Request};
use super::{RunCommand, Runner};
use crate::model::Arch;
use crate::quant::{GgmlType, Quant};

/// Version note: the TabbyAPI and exllamav2 versions the keys and flags exist in, and how canirun knows.
pub const EXLLAMAV2_VERSION_NOTE: &str = "TabbyAPI at commit 79126f904c2e (the last with the ExLlamaV2 backend: c8b9a8f removed it) with exllamav2 0.3.2, which it pins; the config.yml keys and values and convert.py's flags are checked by a test against that TabbyAPI commit and exllamav2 v0.3.2 (data/engine_flags.toml), not against an install";

/// TabbyAPI's `cache_mode` for a KV cache type.
fn cache_mode(t: GgmlType) -> Option<&'static str> {
    match t {
        GgmlType::F16 | GgmlType::BF16 => Some("FP16"),
        GgmlType::Q8_0 => Some("Q8"),
        GgmlType::Q4_0 | GgmlType::Q4_1 => Some("Q4"),
        _ => None,
    }
}

/// The TabbyAPI command and config.
pub fn command(req: &Request) -> Result<RunCommand, CommandError> {
    let Quant::Exl2 { millibits } = *req.quant else {
        return Err(not_applicable(
            Runner::Exllamav2,
            format!(
                "ExLlamaV2 runs EXL2 quantizations, not {}; use e.g. -q exl2-4.0bpw",
                req.quant
            ),
        ));
    };
    if !matches!(req.spec.arch, Arch::Llama | Arch::Qwen2) {
        return Err(not_applicable(
            Runner::Exllamav2,
            format!(
                "ExLlamaV2 does not run the {} architecture; use llama.cpp, vLLM or SGLang",
                req.spec.arch
            ),
        ));
    }
    let mut notes = Vec::new();
    let bpw = millibits as f64 / 1000.0;
    let (dir, name) = match (req.local_path, req.entry) {
        (Some(p), _) => {
            let p = p.trim_end_matches('/');
            match p.rsplit_once('/') {
                Some((d, n)) => (d.to_string(), n.to_string()),
                None => ("models".to_string(), p.to_string()),
            }
        }
        (None, Some(e)) => {
            let base = e.hf_repo.rsplit('/').next().unwrap_or(&e.hf_repo);
            let n = format!("{base}-exl2-{bpw:.2}bpw");
            notes.push(format!(
                "canirun knows no EXL2 repository for {}: put a {bpw:.2} bpw EXL2 quant in models/{n}; to make one from {} (downloaded to {base}), run `python3 convert.py -i {base} -o work -cf {n} -b {bpw}` in exllamav2's checkout and move {n} into models/",
                e.name, e.hf_repo
            ));
            ("models".to_string(), n)
        }
        (None, None) => {
            return Err(not_applicable(
                Runner::Exllamav2,
                "give the EXL2 model directory as a local path",
            ))
        }
    };
    let s = req.settings;
    let mode = cache_mode(s.type_k).unwrap_or_else(|| {
        notes.push(format!(
            "TabbyAPI's cache_mode has FP16, Q8, Q6 and Q4; {} maps to none, FP16 used",
            s.type_k
        ));
        "FP16"
    });
    if s.type_k != s.type_v {
        notes.push("TabbyAPI has one cache mode for K and V; the K type is used".into());
    }
    let mut cfg = format!(
        "model:\n  model_dir: {dir}\n  model_name: {name}\n  max_seq_len: {}\n  cache_mode: {mode}\n",
        s.n_ctx
    );
    match req.placement.and_then(|p| p.args.tensor_split.as_ref()) {
        Some(ts) => {
            let ts: Vec<String> = ts.iter().map(|x| format!("{x}")).collect();
            let ts = ts.join(",");
            // TabbyAPI's gpu_split is in GB per GPU, llama.cpp's -ts a proportion: keep
            // the proportion in a comment and let TabbyAPI split by free memory.
            cfg.push_str(&format!(
                "  gpu_split_auto: true  # llama.cpp split was -ts {ts}; gpu_split takes GB per GPU\n"
            ));
        }
        None => cfg.push_str("  gpu_split_auto: true\n"),
    }
    if s.n_ctx == 0 {
        notes.push("max_seq_len 0: give the context with -c".into());
    }
    Ok(RunCommand {
        engine: Runner::Exllamav2,
        version_note: EXLLAMAV2_VERSION_NOTE.into(),
        command: "python3 main.py".into(),
        env: vec![],
        modelfile: None,
        config: Some(ConfigFile {
            name: "config.yml".into(),
            content: cfg,
        }),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{command_for, entry};
    use crate::memory::RunSettings;

    #[test]
    fn distills_only() {
        let q = Quant::parse("exl2-4.25bpw").unwrap();
        let s = RunSettings {
            n_ctx: 16384,
            type_k: GgmlType::Q8_0,
            type_v: GgmlType::Q8_0,
            ..RunSettings::default()
        };
        let e = entry("deepseek-r1-distill-qwen-32b");
        let c = command_for(command, e, &q, &s, None, None).unwrap();
        let cfg = c.config.unwrap().content;
        assert!(cfg.contains("max_seq_len: 16384"), "{cfg}");
        assert!(cfg.contains("cache_mode: Q8"), "{cfg}");
        assert!(
            cfg.contains("DeepSeek-R1-Distill-Qwen-32B-exl2-4.25bpw"),
            "{cfg}"
        );
        assert!(command_for(command, entry("deepseek-r1"), &q, &s, None, None).is_err());
    }
}
