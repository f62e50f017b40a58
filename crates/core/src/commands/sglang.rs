//! SGLang: `python3 -m sglang.launch_server --model-path … --tp-size …`; across nodes
//! the tensor-parallel group spans them (`--nnodes`, `--node-rank`,
//! `--dist-init-addr`), as in SGLang's DeepSeek V3/R1 guide.

use super::vllm::{checkpoint, nodes};
use super::{CommandError, Request, RunCommand, Runner};
use crate::model::Arch;

/// Version note: the release the flags exist from, and how canirun knows.
pub const SGLANG_VERSION_NOTE: &str = "SGLang 0.4.10.post2 or later (before it --ep-size alone did not turn on expert parallelism); every flag printed is checked by a test against SGLang's own server arguments at 0.4.10.post2 and 0.5.23 (data/engine_flags.toml), not against an installed SGLang";

/// The `sglang.launch_server` command for node 0 (the other nodes in the notes).
pub fn command(req: &Request) -> Result<RunCommand, CommandError> {
    let model = checkpoint(req, Runner::Sglang)?;
    let v = req.server_settings();
    // SGLang's multi-node DeepSeek recipe puts every GPU in one tensor-parallel group.
    let tp = v.tensor_parallel.max(1) * v.pipeline_parallel.max(1);
    let n = nodes(tp, req.gpus_per_node);
    let mut words: Vec<String> = vec![
        "python3".into(),
        "-m".into(),
        "sglang.launch_server".into(),
        "--model-path".into(),
        model,
        // The full name: SGLang's guides write `--tp`, which works only as
        // argparse's abbreviation of --tp-size.
        "--tp-size".into(),
        tp.to_string(),
    ];
    if n > 1 {
        words.extend([
            "--dist-init-addr".into(),
            "HEAD_IP:5000".into(),
            "--nnodes".into(),
            n.to_string(),
            "--node-rank".into(),
            "0".into(),
        ]);
    }
    words.extend(["--context-length".into(), v.max_model_len.to_string()]);
    // Always explicit: SGLang works out its own defaults for both from the GPU
    // and the model, and the estimate assumes these values.
    words.extend([
        "--mem-fraction-static".into(),
        format!("{}", v.gpu_memory_utilization),
    ]);
    words.extend(["--max-running-requests".into(), v.max_num_seqs.to_string()]);
    if v.kv_fp8 {
        words.extend(["--kv-cache-dtype".into(), "fp8_e4m3".into()]);
    }
    if v.expert_parallel {
        words.extend(["--ep-size".into(), tp.to_string()]);
    }
    if req.spec.arch == Arch::Deepseek2 {
        words.push("--trust-remote-code".into());
    }
    let mut notes = Vec::new();
    if n > 1 {
        let ranks = if n == 2 {
            "--node-rank 1".to_string()
        } else {
            format!("--node-rank 1 … {}", n - 1)
        };
        notes.push(format!(
            "{tp} GPUs over {n} nodes of {}: run the same command on the other node(s) with {ranks}, HEAD_IP being node 0's address",
            req.gpus_per_node
        ));
    }
    if req.spec.arch == Arch::Deepseek2 {
        notes.push("SGLang serves R1's MLA with FlashInfer/FlashMLA kernels; the KV cache per token is the 576-value latent".into());
    }
    Ok(RunCommand::words(
        Runner::Sglang,
        SGLANG_VERSION_NOTE,
        &words,
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{command_for, entry};
    use crate::memory::vllm::VllmSettings;
    use crate::memory::RunSettings;
    use crate::quant::Quant;

    #[test]
    fn r1_over_two_nodes() {
        let v = VllmSettings {
            tensor_parallel: 8,
            pipeline_parallel: 2,
            max_model_len: 32768,
            ..VllmSettings::default()
        };
        let c = command_for(
            command,
            entry("deepseek-r1"),
            &Quant::Fp8,
            &RunSettings::default(),
            None,
            Some(&v),
        )
        .unwrap();
        assert_eq!(
            c.command,
            "python3 -m sglang.launch_server --model-path deepseek-ai/DeepSeek-R1 --tp-size 16 --dist-init-addr HEAD_IP:5000 --nnodes 2 --node-rank 0 --context-length 32768 --mem-fraction-static 0.9 --max-running-requests 256 --trust-remote-code"
        );
        assert!(c.notes[0].contains("--node-rank 1"));
    }
}
