//! Cluster plans end to end: the four setups of issue 14, the legality
//! refusal, and every printed flag against the engines' sources.

use super::*;
use crate::commands::engine_flags;
use crate::hardware::{resolve_set, Catalog};
use crate::model::MlaTensorLayout;
use std::collections::BTreeMap;

fn model(name: &str, q: &str) -> Model {
    Model::from_catalog(name, Some(q), false, MlaTensorLayout::Split).unwrap()
}

fn node(name: &str) -> HardwareSet {
    resolve_set(Catalog::embedded().unwrap(), &[name]).unwrap()
}

/// A request for `nodes` of `set` over `net` at 16k context, with the
/// node's backend: the setup every plan here shares.
fn request<'a>(
    m: &'a Model,
    engine: ClusterEngine,
    set: &'a HardwareSet,
    nodes: u32,
    net: &str,
    split: SplitAsk,
) -> ClusterRequest<'a> {
    let backend = Target::from_set(set.clone(), None).unwrap().backend;
    ClusterRequest {
        model: m,
        settings: RunSettings {
            n_ctx: 16384,
            backend,
            ..RunSettings::default()
        },
        engine,
        node: set,
        nodes,
        unlike: &[],
        interconnect: interconnect::find(net).unwrap(),
        split,
        workload: Workload::default(),
        gpu_memory_utilization: 0.9,
    }
}

fn plan_of(
    m: &Model,
    engine: ClusterEngine,
    hw: &str,
    nodes: u32,
    net: &str,
    split: SplitAsk,
) -> Result<ClusterPlan, ClusterError> {
    let set = node(hw);
    plan(&request(m, engine, &set, nodes, net, split))
}

/// The plan with the engine's default split, which must succeed.
fn plan_ok(m: &Model, engine: ClusterEngine, hw: &str, nodes: u32, net: &str) -> ClusterPlan {
    plan_of(m, engine, hw, nodes, net, SplitAsk::default()).unwrap()
}

fn print(p: &ClusterPlan) {
    for l in p.lines("R1", "", false) {
        eprintln!("{l}");
    }
}

/// Every command line of a plan.
fn lines(p: &ClusterPlan) -> Vec<String> {
    p.commands.iter().flat_map(|c| c.lines.clone()).collect()
}

#[test]
fn r1_on_two_hgx_h100_with_vllm() {
    let m = model("deepseek-r1:671b", "fp8");
    let p = plan_ok(&m, ClusterEngine::Vllm, "8xh100", 2, "ib-ndr");
    print(&p);
    assert_eq!((p.split.tensor_parallel, p.split.pipeline_parallel), (8, 2));
    assert!(p.verdict.to_string().starts_with("FITS"), "{}", p.verdict);
    assert_eq!(p.memory.len(), 2);
    assert_eq!(p.memory[0].devices.len(), 8);
    assert_eq!(p.memory[0].layers + p.memory[1].layers, 61);
    let s = p.speed.as_ref().unwrap();
    assert!(s.decode.low.0 < s.decode.rate.0 && s.decode.rate.0 < s.decode.high.0);
    // One stage boundary crosses the network; its term is in the decode time.
    assert!(s
        .decode
        .terms
        .iter()
        .any(|t| t.label.contains("across nodes over ib-ndr")));
    let l = lines(&p);
    assert_eq!(l[0], "ray start --head --port=6379");
    assert!(l[1].starts_with(
        "vllm serve deepseek-ai/DeepSeek-R1 --tensor-parallel-size 8 --pipeline-parallel-size 2"
    ));
    assert!(l[1].ends_with("--distributed-executor-backend ray"));
    assert_eq!(l[2], "ray start --address=HEAD_IP:6379");
    let pw = p.power.as_ref().unwrap();
    assert_eq!(pw.per_node.len(), 2);
    assert!(pw.total.0 > pw.per_node[0].0);
}

#[test]
fn r1_on_two_hgx_h20_with_sglang() {
    let m = model("deepseek-r1:671b", "fp8");
    let p = plan_ok(&m, ClusterEngine::Sglang, "8xh20-96gb", 2, "ib-ndr");
    print(&p);
    assert_eq!(
        (p.split.tensor_parallel, p.split.pipeline_parallel),
        (16, 1)
    );
    assert!(p.verdict.to_string().starts_with("FITS"), "{}", p.verdict);
    let l = lines(&p);
    assert_eq!(l.len(), 2);
    assert!(l[0].contains("--tp-size 16 --dist-init-addr HEAD_IP:5000 --nnodes 2 --node-rank 0"));
    assert!(l[1].contains("--node-rank 1"));
    // TP 16 spans both nodes: every all-reduce crosses the network.
    let s = p.speed.as_ref().unwrap();
    assert!(s
        .decode
        .terms
        .iter()
        .any(|t| t.label.contains("all-reduce across 2 nodes")));
    // DP attention, where SGLang supports it.
    let dp = plan_of(
        &m,
        ClusterEngine::Sglang,
        "8xh20-96gb",
        2,
        "ib-ndr",
        SplitAsk {
            dp_attention: true,
            ..SplitAsk::default()
        },
    )
    .unwrap();
    assert!(lines(&dp)[0].ends_with("--enable-dp-attention --dp-size 16"));
}

#[test]
fn r1_on_four_ryzen_ai_max_over_llama_cpp_rpc() {
    let m = model("deepseek-r1:671b", "UD-Q2_K_XL");
    let p = plan_ok(&m, ClusterEngine::LlamaRpc, "ryzen-ai-max-395", 4, "5gbe");
    print(&p);
    assert_eq!(p.split.pipeline_parallel, 4);
    assert!(p.verdict.to_string().starts_with("FITS"), "{}", p.verdict);
    assert_eq!(p.memory.iter().map(|n| n.layers).sum::<u64>(), 61);
    let l = lines(&p);
    assert!(l[0].starts_with("llama-server "));
    assert!(
        l[0].ends_with("--rpc h1:50052,h2:50052,h3:50052"),
        "{}",
        l[0]
    );
    assert_eq!(&l[1..], ["rpc-server -H 0.0.0.0 -p 50052"; 3]);
    // Three RPC hops per token, each at least the calibrated hop latency.
    let s = p.speed.as_ref().unwrap();
    let cal = Calibration::embedded().unwrap();
    let hops: Vec<_> = s
        .decode
        .terms
        .iter()
        .filter(|t| t.label.contains("RPC hop"))
        .collect();
    assert_eq!(hops.len(), 3);
    assert!(hops.iter().all(|t| t.seconds.0 >= cal.global.hop_latency_s));
}

#[test]
fn r1_on_two_to_four_mac_studios_with_exo() {
    let m = model("deepseek-r1:671b", "Q4_K_M");
    let mut last = 0.0;
    for n in 2..=4 {
        let p = plan_ok(&m, ClusterEngine::Exo, "m3-ultra-512", n, "tb5");
        print(&p);
        assert!(
            p.verdict.to_string().starts_with("FITS"),
            "{n}: {}",
            p.verdict
        );
        assert_eq!(lines(&p), vec!["exo".to_string(); n as usize]);
        // Pipeline: each node reads its layers in turn, and every extra node adds a hop.
        let t = p.speed.as_ref().unwrap().decode.seconds.0;
        assert!(t > last, "{n} nodes: {t} s per token");
        last = t;
    }
    // Tensor sharding over RDMA reads the nodes at once: faster than the pipeline.
    let pipe = plan_ok(&m, ClusterEngine::Exo, "m3-ultra-512", 2, "tb5-rdma");
    let tp = plan_of(
        &m,
        ClusterEngine::Exo,
        "m3-ultra-512",
        2,
        "tb5-rdma",
        SplitAsk {
            tensor_parallel: Some(2),
            ..SplitAsk::default()
        },
    )
    .unwrap();
    print(&tp);
    assert!(tp.speed.unwrap().decode.rate.0 > pipe.speed.unwrap().decode.rate.0);
}

/// exo#1834: three nodes of tensor parallelism for a 128-head model.
#[test]
fn three_way_tensor_parallelism_of_128_heads_is_refused_with_the_nearest_legal_splits() {
    let m = model("deepseek-r1:671b", "Q4_K_M");
    assert_eq!(m.spec.n_head, 128);
    let ask = SplitAsk {
        tensor_parallel: Some(3),
        ..SplitAsk::default()
    };
    let err = plan_of(&m, ClusterEngine::Exo, "m3-ultra-512", 3, "tb5-rdma", ask).unwrap_err();
    let ClusterError::Refused(r) = &err else {
        panic!("{err}");
    };
    eprintln!("{err}");
    assert!(
        r.reason
            .contains("128 attention heads do not divide by tensor parallelism 3"),
        "{}",
        r.reason
    );
    let splits: Vec<(u64, u64)> = r
        .suggestions
        .iter()
        .map(|s| (s.split.tensor_parallel, s.split.pipeline_parallel))
        .collect();
    // Same three Macs as a pipeline; or TP 2 / TP 4 on two or four Macs.
    assert_eq!(splits, vec![(1, 3), (2, 1), (4, 1)]);
    // vLLM refuses TP 3 the same way, over 3 GPUs.
    let m = model("deepseek-r1:671b", "fp8");
    let e = plan_of(
        &m,
        ClusterEngine::Vllm,
        "h200",
        3,
        "ib-ndr",
        SplitAsk {
            tensor_parallel: Some(3),
            pipeline_parallel: Some(1),
            ..SplitAsk::default()
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("nearest legal splits: TP 1 × PP 3"),
        "{e}"
    );
}

#[test]
fn pipeline_stages_balance_and_memory_weighted_layers() {
    assert_eq!(legality::stage_layers(61, 2), vec![31, 30]);
    assert_eq!(legality::stage_layers(61, 4), vec![15, 15, 16, 15]);
    assert_eq!(legality::stage_layers(64, 4), vec![16; 4]);
    // exo#1834: 2 × 256 GB + 2 × 96 GB share 61 layers by memory.
    let gib = Bytes::gib;
    let l = layers_by_memory(61, &[gib(256), gib(256), gib(96), gib(96)]);
    assert_eq!(l.iter().sum::<u64>(), 61);
    assert_eq!(l, vec![22, 22, 9, 8]);
    assert_eq!(layers_by_memory(3, &[gib(1), gib(100)]), vec![1, 2]);
}

#[test]
fn interconnect_data_is_sourced_and_physical() {
    let all = interconnect::all().unwrap();
    assert!(all.len() >= 8);
    for i in all {
        assert!(
            i.data_gbyte_s > 0.0 && i.data_gbyte_s * 8.0 <= i.line_gbit_s * 1.0001,
            "{}",
            i.id
        );
        assert!(i.latency_us > 0.0 && !i.source.is_empty(), "{}", i.id);
        // A switch's power comes with the switch it belongs to and a source.
        if i.switch_w.is_some_and(|w| w > 0.0) {
            assert!(i.switch.is_some() && i.switch_ports.is_some(), "{}", i.id);
            assert!(
                i.switch_source.as_ref().is_some_and(|s| !s.is_empty()),
                "{}",
                i.id
            );
        }
    }
    for name in [
        "ib-ndr", "ib-hdr", "roce", "10gbe", "25gbe", "100gbe", "tb5", "tb5-rdma",
    ] {
        assert!(interconnect::find(name).is_ok(), "{name}");
    }
    assert!(interconnect::find("token-ring").is_err());
}

#[derive(serde::Deserialize)]
struct ClusterFlags {
    program: Vec<ClusterProgram>,
}

#[derive(serde::Deserialize)]
struct ClusterProgram {
    program: String,
    repository: String,
    version: String,
    source: String,
    flags: Vec<String>,
}

/// The flags each program may print: data/cluster_flags.toml plus, for the
/// same program, data/engine_flags.toml; llama-server's from core::flags.
fn known_flags() -> BTreeMap<String, Vec<String>> {
    let extra: ClusterFlags =
        toml::from_str(include_str!("../../data/cluster_flags.toml")).unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in extra.program {
        assert!(
            p.repository.contains('/') && !p.version.is_empty() && !p.source.is_empty(),
            "{}",
            p.program
        );
        out.entry(p.program).or_default().extend(p.flags);
    }
    for p in engine_flags() {
        if let Some(v) = out.get_mut(&p.program) {
            v.extend(p.flags.iter().cloned());
        }
    }
    let llama = out.entry("llama-server".into()).or_default();
    for f in crate::flags::FLAGS
        .iter()
        .filter(|f| f.engine == crate::flags::FlagEngine::LlamaCpp)
    {
        llama.push(f.name.to_string());
        llama.extend(f.aliases.iter().map(|a| a.to_string()));
    }
    out
}

/// Every flag of every command line the cluster plans print is one the
/// program's source defines (ray, vLLM, SGLang, rpc-server, llama-server, exo).
#[test]
fn printed_cluster_flags_exist_in_the_engines_sources() {
    let known = known_flags();
    let r1 = model("deepseek-r1:671b", "fp8");
    let q2 = model("deepseek-r1:671b", "UD-Q2_K_XL");
    let q4 = model("deepseek-r1:671b", "Q4_K_M");
    let plans = [
        plan_of(
            &r1,
            ClusterEngine::Vllm,
            "8xh100",
            2,
            "ib-ndr",
            SplitAsk {
                expert_parallel: true,
                ..SplitAsk::default()
            },
        )
        .unwrap(),
        plan_ok(&r1, ClusterEngine::Vllm, "8xh200", 2, "roce"),
        plan_ok(&r1, ClusterEngine::Sglang, "8xh20-96gb", 2, "ib-ndr"),
        plan_of(
            &r1,
            ClusterEngine::Sglang,
            "8xh20-96gb",
            2,
            "ib-ndr",
            SplitAsk {
                dp_attention: true,
                expert_parallel: true,
                ..SplitAsk::default()
            },
        )
        .unwrap(),
        plan_ok(&q2, ClusterEngine::LlamaRpc, "ryzen-ai-max-395", 4, "5gbe"),
        plan_ok(&q4, ClusterEngine::Exo, "m3-ultra-512", 3, "tb5"),
    ];
    let mut seen = 0;
    for p in plans {
        assert!(!p.commands.is_empty(), "{:?}: no commands", p.engine);
        for line in lines(&p) {
            let (program, flags) = known
                .iter()
                .filter(|(prog, _)| line == **prog || line.starts_with(&format!("{prog} ")))
                .max_by_key(|(prog, _)| prog.len())
                .unwrap_or_else(|| panic!("no known program starts `{line}`"));
            let skip = program.split_whitespace().count();
            for w in crate::cmdline::split_words(&line).iter().skip(skip) {
                if !w.starts_with('-') {
                    continue;
                }
                let name = w.split('=').next().unwrap_or(w);
                assert!(
                    flags.iter().any(|f| f == name),
                    "`{name}` is not a flag of {program}: {line}"
                );
                seen += 1;
            }
        }
    }
    assert!(seen > 40, "{seen} flags checked");
}

/// The published multi-node rows are found and compared.
#[test]
fn validate_cluster_reads_the_rpc_rows() {
    let cal = Calibration::embedded().unwrap();
    let net = interconnect::find("5gbe").unwrap();
    let rows = validate::compare(
        &[(
            "benchmarks-2026-12.csv",
            include_str!("../../data/benchmarks-2026-12.csv"),
        )],
        net,
        cal,
    )
    .unwrap();
    for r in &rows {
        eprintln!(
            "{} | {:.2} | local {:.2} | cluster {:.2} ({:+.1}%)",
            r.what,
            r.published,
            r.local,
            r.cluster,
            r.error() * 100.0
        );
    }
    assert_eq!(rows.len(), 6);
    // The network makes every prediction slower than the local one.
    assert!(rows.iter().all(|r| r.cluster < r.local));
}

/// A pasted multi-node vLLM command: TP 8 × PP 2 on `--gpu 8xh100` is two
/// nodes, planned with the command's own split and context.
#[test]
fn a_pasted_multi_node_vllm_command_is_planned_as_a_cluster() {
    let words = crate::cmdline::split_words(
        "vllm serve deepseek-ai/DeepSeek-R1 --tensor-parallel-size 8 --pipeline-parallel-size 2 --max-model-len 32768 --distributed-executor-backend ray",
    );
    let p = crate::cmdline::parse(&words).unwrap();
    let hw = Target::named(Catalog::embedded().unwrap(), &["8xh100"], None).unwrap();
    let nodes = nodes_for(
        p.tensor_parallel.unwrap(),
        p.pipeline_parallel.unwrap(),
        hw.gpus.len() as u64,
    );
    assert_eq!(nodes, Some(2));
    assert_eq!(nodes_for(8, 1, 8), None);
    assert_eq!(nodes_for(12, 1, 8), None);
    let m = model("deepseek-r1:671b", "fp8");
    let mut req = crate::pipeline::Request::new(
        &m,
        &hw,
        RunSettings {
            backend: hw.backend,
            ..RunSettings::default()
        },
    );
    let notes = req.use_pasted(&p);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("--distributed-executor-backend")),
        "{notes:?}"
    );
    let o = ClusterOptions {
        nodes: 2,
        interconnect: None,
        dp_attention: false,
        engine: "llama.cpp",
        run: crate::pipeline::ServerRun::default(),
        unlike: vec![],
    };
    let plan = plan_request(&req, &o).unwrap();
    assert_eq!(plan.engine, ClusterEngine::Vllm);
    assert_eq!(plan.interconnect.id, "ib-ndr");
    assert_eq!(
        (plan.split.tensor_parallel, plan.split.pipeline_parallel),
        (8, 2)
    );
    assert!(lines(&plan)[1].contains("--max-model-len 32768"));
}

/// data/cluster_benchmarks.csv: every row is sourced and dated; single-stream
/// rows are planned and compared, throughput at high concurrency is skipped
/// with its reason; the one single-stream multi-node vLLM/SGLang row with a
/// stated concurrency (SGLang, 2 × 8 H100, R1, concurrency 1) falls inside
/// the predicted range.
#[test]
fn published_multi_node_results_are_compared_or_skipped_with_a_reason() {
    let rows = validate::compare_published(validate::CLUSTER_BENCHMARKS_CSV).unwrap();
    assert!(rows.len() >= 8, "{} rows", rows.len());
    for r in &rows {
        eprintln!(
            "{} | {} | {:.2} | {:?} | {:?}",
            r.row.id, r.row.concurrency, r.row.published_tok_s, r.predicted, r.skipped
        );
        assert!(
            r.row.source.contains('/') && !r.row.date.is_empty(),
            "{}",
            r.row.id
        );
        match r.row.use_.as_str() {
            "skip" => assert!(r.predicted.is_none() && !r.row.reason.is_empty()),
            "compare" => assert!(r.predicted.is_some(), "{}: {:?}", r.row.id, r.skipped),
            "compare-unstated" => {
                assert!(r.predicted.is_some(), "{}: {:?}", r.row.id, r.skipped);
                assert!(!r.row.reason.is_empty(), "{}", r.row.id);
            }
            other => panic!("{}: use '{other}'", r.row.id),
        }
        if r.row.measured.contains("throughput") {
            assert_eq!(r.row.use_, "skip", "{}", r.row.id);
        }
    }
    let sglang = rows
        .iter()
        .find(|r| r.row.id == "tt-356-sglang-h100x16")
        .unwrap();
    assert_eq!(sglang.row.concurrency, "1");
    // The printed range is the p10–p90 band of single-node decode residuals,
    // which one row leaves one time in five; what the engine note
    // (`GRAPH_REPLAY_NOTE`) claims for this row is its error.
    let err = sglang.error().unwrap();
    assert!(err.abs() <= 0.15, "{err:+.3}: {:?}", sglang.predicted);
}

/// exo#1834: 2 × 256 GB + 2 × 96 GB Mac Studios. exo gives each Mac layers
/// in proportion to its memory; each node is checked against its own
/// working set and reads at its own rate; vLLM refuses unlike nodes.
#[test]
fn unlike_macs_share_layers_by_memory() {
    let m = model("deepseek-r1:671b", "Q4_K_M");
    let (big, small) = (node("m3-ultra-256"), node("m3-ultra-96"));
    let unlike = vec![big.clone(), big, small.clone(), small];
    let mut req = request(
        &m,
        ClusterEngine::Exo,
        &unlike[0],
        4,
        "tb5",
        SplitAsk::default(),
    );
    req.unlike = &unlike;
    let p = plan(&req).unwrap();
    print(&p);
    assert!(p.node_label.contains("256GB") && p.node_label.contains("96GB"));
    let layers: Vec<u64> = p.memory.iter().map(|n| n.layers).collect();
    assert_eq!(layers.iter().sum::<u64>(), 61);
    let caps: Vec<Bytes> = p.memory.iter().map(|n| n.capacity).collect();
    assert_eq!(layers, layers_by_memory(61, &caps));
    assert!(caps[0] > caps[2] && layers[0] > layers[2]);
    assert_eq!(p.split.pipeline_parallel, 4);
    let s = p.speed.as_ref().expect("it fits, so it has a speed");
    assert_eq!(s.placement.devices.len(), 4);
    assert!(p.power.as_ref().unwrap().per_node.len() == 4);
    req.engine = ClusterEngine::Vllm;
    let e = plan(&req).unwrap_err().to_string();
    assert!(e.contains("identical nodes"), "{e}");
}

/// Switch power: a sourced switch is named and counted in the cluster's
/// power and heat; a network whose switch has no sourced power says so and
/// counts nothing for it; Thunderbolt is cabled point to point.
#[test]
fn the_switch_is_in_cluster_power_when_sourced_and_named_either_way() {
    let sum = |p: &ClusterPower| p.per_node.iter().map(|w| w.0).sum::<f64>();
    // Two RTX 3090 PCs over 10 GbE (llama.cpp RPC): one 8-port switch.
    let m = model("llama3.3:70b", "Q4_K_M");
    let rpc = plan_ok(&m, ClusterEngine::LlamaRpc, "3090", 2, "10gbe");
    let pw = rpc.power.as_ref().unwrap();
    let net = interconnect::find("10gbe").unwrap();
    let (name, w) = match &pw.switch {
        interconnect::SwitchPower::One {
            name,
            power,
            source,
        } => {
            assert!(!source.is_empty());
            (name.clone(), *power)
        }
        other => panic!("10 GbE has a sourced switch: {other:?}"),
    };
    assert_eq!(Some(&name), net.switch.as_ref());
    assert!(w.0 > 0.0);
    assert!((pw.total.0 - (sum(pw) + w.0)).abs() < 1e-9);
    assert!((pw.heat_btu_per_hour - crate::cost::heat_btu_per_hour(pw.total)).abs() < 1e-9);
    let text = rpc.lines("R1", "", false).join("\n");
    assert!(text.contains(&format!("+ switch {w}")), "{text}");
    assert!(
        text.contains(&name),
        "the plan names the switch it assumed:\n{text}"
    );

    // 2 x 8 H100 over InfiniBand NDR: the switch is named, its power is not
    // sourced, so the total is the nodes alone and the note says so.
    let r1 = model("deepseek-r1:671b", "fp8");
    let ib = plan_ok(&r1, ClusterEngine::Vllm, "8xh100", 2, "ib-ndr");
    let pw = ib.power.as_ref().unwrap();
    assert!(matches!(
        pw.switch,
        interconnect::SwitchPower::Unsourced { .. }
    ));
    assert!((pw.total.0 - sum(pw)).abs() < 1e-9);
    assert!(
        pw.notes
            .iter()
            .any(|n| n.contains("not included") && n.contains("QM9700")),
        "{:?}",
        pw.notes
    );

    // More nodes than one switch has ports: not counted, and why.
    assert!(matches!(
        net.switch_for(9),
        interconnect::SwitchPower::Unsourced { why } if why.contains("9 ports")
    ));
    // Thunderbolt: cables only.
    assert_eq!(
        interconnect::find("tb5").unwrap().switch_for(3),
        interconnect::SwitchPower::PointToPoint
    );
}
