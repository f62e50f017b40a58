//! MLX on Apple silicon: `mlx_lm.server --model mlx-community/<repo>-<bits>bit`.
//!
//! The repository name follows mlx-community's naming (the original repository's
//! name plus `-4bit`/`-8bit`); canirun has no sourced list of MLX repositories,
//! so the name is a guess and the command says so.

use super::{not_applicable, CommandError, Request, RunCommand, Runner};
use crate::memory::Backend;
use crate::quant::Quant;

/// Version note: the release the flags exist from, and how canirun knows.
pub const MLX_VERSION_NOTE: &str = "mlx-lm v0.22.0 or later (`mlx_lm.server --model`, `mlx_lm.convert --hf-path -q --q-bits`); checked by a test against mlx-lm's own argument definitions at v0.22.0 and v0.31.3 (data/engine_flags.toml), not against an installed mlx-lm";

/// The `mlx_lm.server` command.
pub fn command(req: &Request) -> Result<RunCommand, CommandError> {
    if req.settings.backend != Backend::Metal {
        return Err(not_applicable(
            Runner::Mlx,
            "MLX runs on Apple silicon only; name a Mac with --gpu (e.g. m3-ultra-512) or use --backend metal",
        ));
    }
    let bits = match req.quant {
        Quant::Mlx { bits } => *bits,
        // A 4- or 8-bit GGUF choice maps to the MLX quantization of the same width.
        q => match q.file_type().map(|f| f.default_type().name()) {
            Some(n) if n.starts_with("Q8") => 8,
            Some(n) if n.starts_with("Q4") || n.starts_with("IQ4") => 4,
            _ => {
                return Err(not_applicable(
                    Runner::Mlx,
                    format!(
                        "MLX models come in 4 or 8 bit; {} has no MLX counterpart. Use -q mlx-4bit or -q mlx-8bit",
                        req.quant
                    ),
                ))
            }
        },
    };
    let mut notes = Vec::new();
    let model = match (req.local_path, req.entry) {
        (Some(p), _) => p.to_string(),
        (None, Some(e)) => {
            let name = e.hf_repo.rsplit('/').next().unwrap_or(&e.hf_repo);
            let repo = format!("mlx-community/{name}-{bits}bit");
            notes.push(format!(
                "{repo} is a guess from mlx-community's naming (original name + -{bits}bit), not from canirun's data; check that it exists, or convert with `mlx_lm.convert --hf-path {} -q --q-bits {bits}`",
                e.hf_repo
            ));
            repo
        }
        (None, None) => {
            return Err(not_applicable(
                Runner::Mlx,
                "the model is not in canirun's catalog; give a local MLX model directory",
            ))
        }
    };
    if !matches!(req.quant, Quant::Mlx { .. }) {
        notes.push(format!(
            "MLX quantization differs from {}: group-64 affine {bits}-bit, slightly larger",
            req.quant
        ));
    }
    notes
        .push("mlx_lm.server has no context flag: the KV cache grows with the conversation".into());
    Ok(RunCommand::words(
        Runner::Mlx,
        MLX_VERSION_NOTE,
        &["mlx_lm.server".into(), "--model".into(), model],
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::RunSettings;
    use crate::model::catalog;

    #[test]
    fn mac_only_and_guessed_repo() {
        let e = catalog()
            .iter()
            .find(|e| e.id == "deepseek-r1-distill-llama-70b")
            .unwrap();
        let spec = e.spec();
        let q = Quant::Mlx { bits: 4 };
        let s = RunSettings::default();
        let mut req = Request::new(&spec, &q, &s);
        req.entry = Some(e);
        assert!(command(&req).is_err());
        let mac = RunSettings {
            backend: Backend::Metal,
            ..RunSettings::default()
        };
        req.settings = &mac;
        let c = command(&req).unwrap();
        assert_eq!(
            c.command,
            "mlx_lm.server --model mlx-community/DeepSeek-R1-Distill-Llama-70B-4bit"
        );
        assert!(c.notes[0].contains("guess"));
    }
}
