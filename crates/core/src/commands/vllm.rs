//! vLLM: `vllm serve REPO --tensor-parallel-size … --max-model-len …`, with
//! pipeline parallelism over Ray when the GPUs span several nodes.

use super::{not_applicable, CommandError, Request, RunCommand, Runner};
use crate::model::Arch;
use crate::quant::{FileType, Quant};

/// Version note shared with the tests: the release the flags exist from, and how canirun knows.
pub const VLLM_VERSION_NOTE: &str = "vLLM 0.8.0 or later (V1 engine; --enable-expert-parallel is not in 0.7.3); every flag printed is checked by a test against vLLM's own argument definitions at 0.8.0 and 0.33.0 (data/engine_flags.toml), not against an installed vLLM. Before 0.10, --kv-cache-dtype fp8 keeps the V1 engine only where FlashAttention supports FP8 (Hopper, from 0.8.2), else vLLM falls back to V0";

/// The Hugging Face checkpoint vLLM/SGLang serve for a quantization: the original
/// repository when the quantization is its native dtype, else an error naming what works.
pub(crate) fn checkpoint(req: &Request, engine: Runner) -> Result<String, CommandError> {
    if let Some(p) = req.local_path {
        return Ok(p.to_string());
    }
    let Some(e) = req.entry else {
        return Err(not_applicable(
            engine,
            "the model is not in canirun's catalog; give the checkpoint directory as a local path",
        ));
    };
    let native = e.native_dtype.to_ascii_uppercase();
    let ok = match req.quant {
        Quant::Fp8 => native == "FP8",
        Quant::Gguf {
            ftype,
            variant: None,
            ..
        } => match ftype {
            FileType::BF16 => native == "BF16",
            FileType::F16 => native == "F16",
            _ => false,
        },
        _ => false,
    };
    if ok {
        Ok(e.hf_repo.clone())
    } else {
        Err(not_applicable(
            engine,
            format!(
                "{engine} serves the original {native} checkpoint ({}); canirun knows no {} checkpoint of {} for it. Use -q {}",
                e.hf_repo,
                req.quant,
                e.name,
                if native == "FP8" { "FP8" } else { native.as_str() }
            ),
        ))
    }
}

/// Nodes needed for `gpus` GPUs at `per_node` per node.
pub(crate) fn nodes(gpus: u64, per_node: u64) -> u64 {
    gpus.div_ceil(per_node.max(1)).max(1)
}

/// The `vllm serve` command.
pub fn command(req: &Request) -> Result<RunCommand, CommandError> {
    let model = checkpoint(req, Runner::Vllm)?;
    let v = req.server_settings();
    let tp = v.tensor_parallel.max(1);
    let pp = v.pipeline_parallel.max(1);
    let mut words: Vec<String> = vec!["vllm".into(), "serve".into(), model];
    words.extend(["--tensor-parallel-size".into(), tp.to_string()]);
    if pp > 1 {
        words.extend(["--pipeline-parallel-size".into(), pp.to_string()]);
    }
    words.extend(["--max-model-len".into(), v.max_model_len.to_string()]);
    // Always explicit: vLLM's own defaults for these vary by version and GPU
    // (V1 0.8.0: 1024 sequences, 2048 batched tokens when serving), and the
    // estimate's activation peak and concurrency assume these values.
    words.extend(["--max-num-seqs".into(), v.max_num_seqs.to_string()]);
    words.extend([
        "--max-num-batched-tokens".into(),
        v.max_num_batched_tokens.to_string(),
    ]);
    if (v.gpu_memory_utilization - 0.9).abs() > 1e-9 {
        words.extend([
            "--gpu-memory-utilization".into(),
            format!("{}", v.gpu_memory_utilization),
        ]);
    }
    if v.kv_fp8 {
        words.extend(["--kv-cache-dtype".into(), "fp8".into()]);
    }
    if v.expert_parallel {
        words.push("--enable-expert-parallel".into());
    }
    let mut notes = Vec::new();
    if req.spec.arch == Arch::Deepseek2 {
        // DeepSeek's repositories ship their own modelling code.
        words.push("--trust-remote-code".into());
    }
    let gpus = tp * pp;
    let n = nodes(gpus, req.gpus_per_node);
    if n > 1 {
        notes.push(format!(
            "{gpus} GPUs over {n} nodes of {}: start a Ray cluster first — on the head node `ray start --head --port=6379`, on every other node `ray start --address=HEAD_IP:6379` — then run this on the head node",
            req.gpus_per_node
        ));
        if tp > req.gpus_per_node {
            notes.push(format!(
                "tensor parallelism of {tp} crosses nodes; vLLM recommends tensor parallel within a node and pipeline parallel across nodes (--tensor-parallel-size {} --pipeline-parallel-size {n})",
                req.gpus_per_node
            ));
        }
    }
    if v.max_model_len == 0 {
        notes.push("--max-model-len 0 is not valid in vLLM; give the context with -c".into());
    }
    Ok(RunCommand::words(
        Runner::Vllm,
        VLLM_VERSION_NOTE,
        &words,
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{parse, split_words, Engine};
    use crate::commands::testing::{command_for, entry};
    use crate::memory::vllm::VllmSettings;
    use crate::memory::RunSettings;

    #[test]
    fn r1_on_one_and_two_nodes() {
        let r1 = |v: &VllmSettings| {
            let s = RunSettings::default();
            command_for(
                command,
                entry("deepseek-r1"),
                &Quant::Fp8,
                &s,
                None,
                Some(v),
            )
            .unwrap()
        };
        let v = VllmSettings {
            tensor_parallel: 8,
            max_model_len: 32768,
            expert_parallel: true,
            kv_fp8: true,
            ..VllmSettings::default()
        };
        let c = r1(&v);
        assert_eq!(
            c.command,
            "vllm serve deepseek-ai/DeepSeek-R1 --tensor-parallel-size 8 --max-model-len 32768 --max-num-seqs 256 --max-num-batched-tokens 8192 --kv-cache-dtype fp8 --enable-expert-parallel --trust-remote-code"
        );
        assert!(c.notes.is_empty());
        let p = parse(&split_words(&c.shell_line())).unwrap();
        assert_eq!(p.engine, Engine::Vllm);
        assert_eq!(p.tensor_parallel, Some(8));
        assert_eq!(p.settings.n_ctx, 32768);
        assert!(p.unknown.is_empty(), "{:?}", p.unknown);

        let v2 = VllmSettings {
            pipeline_parallel: 2,
            max_num_seqs: 64,
            gpu_memory_utilization: 0.95,
            ..v
        };
        let c = r1(&v2);
        assert!(c.command.contains("--pipeline-parallel-size 2"));
        assert!(c.notes.iter().any(|n| n.contains("ray start --head")));
        let p = parse(&split_words(&c.shell_line())).unwrap();
        assert_eq!(p.settings.n_parallel, 64);
        assert!(p.unknown.is_empty(), "{:?}", p.unknown);
    }

    #[test]
    fn gguf_quants_are_refused() {
        let e = entry("deepseek-r1-distill-qwen-7b");
        let spec = e.spec();
        let s = RunSettings::default();
        let q = Quant::parse("Q4_K_M").unwrap();
        let mut req = Request::new(&spec, &q, &s);
        req.entry = Some(e);
        assert!(command(&req).unwrap_err().to_string().contains("-q BF16"));
        let q = Quant::parse("bf16").unwrap();
        req.quant = &q;
        let c = command(&req).unwrap();
        assert_eq!(
            c.command,
            "vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-7B --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 256 --max-num-batched-tokens 8192"
        );
    }
}
