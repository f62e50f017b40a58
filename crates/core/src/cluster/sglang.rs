//! SGLang multi-node: one tensor-parallel group over every GPU of every
//! node (`--tp 16 --nnodes 2` in SGLang's DeepSeek V3/R1 guide), optionally
//! DP attention (`--enable-dp-attention --dp-size N`); the same command on
//! each node with its `--node-rank`. Memory follows vLLM's rules
//! (`vllm.rs`), as the single-node SGLang estimate does.

use super::{ClusterRequest, NodeCommands};
use crate::cluster::legality::Split;
use crate::commands::Runner;

/// The port of `--dist-init-addr` in SGLang's multi-node examples.
pub const DIST_INIT_PORT: u16 = 5000;

/// SGLang's split: TP over every GPU (PP only when asked), DP attention
/// over as many groups as GPUs when asked (SGLang's DeepSeek recipe:
/// `--tp 16 --dp 16 --enable-dp-attention`).
pub(super) fn split(req: &ClusterRequest<'_>, per_node: u64) -> Split {
    let devices = per_node * u64::from(req.nodes);
    let pp = req.split.pipeline_parallel.unwrap_or(1).max(1);
    let tp = req.split.tensor_parallel.unwrap_or((devices / pp).max(1));
    Split {
        tensor_parallel: tp,
        pipeline_parallel: pp,
        expert_parallel: req.split.expert_parallel,
        dp_attention: if req.split.dp_attention { tp } else { 1 },
    }
}

/// `python3 -m sglang.launch_server … --node-rank N` for every node.
pub(super) fn commands(
    req: &ClusterRequest<'_>,
    report: Option<&crate::pipeline::Report>,
    split: Split,
    per_node: u64,
    notes: &mut Vec<String>,
) -> Vec<NodeCommands> {
    let Some(mut line) = super::vllm::serve_line(req, report, per_node, Runner::Sglang, notes)
    else {
        return vec![];
    };
    if split.dp_attention > 1 {
        line.push_str(&format!(
            " --enable-dp-attention --dp-size {}",
            split.dp_attention
        ));
        notes.push(format!(
            "DP attention: each of {} groups runs attention for its own requests with the whole MLA cache, so the KV cache is not cut by TP; it pays off with many concurrent requests, not for one",
            split.dp_attention
        ));
    }
    if split.pipeline_parallel > 1 {
        notes.push("SGLang's launch line above carries TP × PP as one tensor-parallel group (its multi-node recipe); pipeline parallelism needs a recent SGLang's --pp-size, which canirun does not print".into());
    }
    (0..req.nodes)
        .map(|node| NodeCommands {
            node,
            role: if node == 0 {
                "rank 0 (HEAD_IP)".into()
            } else {
                format!("rank {node}")
            },
            lines: vec![line.replace("--node-rank 0", &format!("--node-rank {node}"))],
        })
        .collect()
}
