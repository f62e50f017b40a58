//! `canirun MODEL --nodes N --gpu 8xh100 …` and pasted multi-node vLLM/SGLang
//! commands: the core's cluster plan (`core::cluster`), printed.

use crate::cmd::estimate::EstimateArgs;
use crate::inputs::request;
use crate::render;
use anyhow::{Context, Result};
use canirun_core::cluster::{self, ClusterOptions};
use canirun_core::cmdline::ParsedCommand;
use canirun_core::hardware::{resolve_set, Catalog, Target};
use canirun_core::pipeline::Model;

/// `--nodes`, one for `--engine exo`, or what a pasted command's TP × PP needs.
pub fn nodes(a: &EstimateArgs, pasted: Option<&ParsedCommand>, hw: &Target) -> Option<u32> {
    let p = pasted.map(|p| {
        (
            p.tensor_parallel.unwrap_or(1),
            p.pipeline_parallel.unwrap_or(1),
        )
    });
    a.nodes
        .or((!a.node.is_empty()).then_some(a.node.len() as u32))
        .or((a.engine.engine == "exo").then_some(1))
        .or(p.and_then(|(tp, pp)| cluster::nodes_for(tp, pp, hw.gpus.len() as u64)))
}

/// Plan and print the cluster.
pub fn run(
    a: &EstimateArgs,
    model: &Model,
    hw: &Target,
    pasted: Option<&ParsedCommand>,
    nodes: u32,
    json: bool,
) -> Result<()> {
    // `--node`, once per node: each resolved alone; the request runs on the first.
    let catalog = Catalog::embedded()?;
    let unlike = a
        .node
        .iter()
        .map(|n| resolve_set(catalog, &[n.as_str()]).with_context(|| format!("--node {n}")))
        .collect::<Result<Vec<_>>>()?;
    let first;
    let hw = match a.node.first() {
        Some(n) => {
            first = Target::named(catalog, &[n.as_str()], None)?;
            &first
        }
        None => hw,
    };
    let mut req = request(model, hw, &a.settings, a.engine.engine(&a.placement));
    let notes = pasted.map(|p| req.use_pasted(p)).unwrap_or_default();
    let o = ClusterOptions {
        nodes,
        interconnect: a.interconnect.as_deref(),
        dp_attention: a.dp_attention,
        engine: &a.engine.engine,
        run: a.engine.server.run(),
        unlike,
    };
    let plan = cluster::plan_request(&req, &o)?;
    if json {
        return render::json(&plan);
    }
    for l in plan
        .lines(&model.spec.name, &model.quant_label, a.explain)
        .iter()
        .chain(&notes)
    {
        println!("{l}");
    }
    Ok(())
}
