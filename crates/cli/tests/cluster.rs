//! Cluster plans end to end through the binary: the four setups of issue 14
//! (`--nodes`), a pasted multi-node vLLM command, the refusal of a split,
//! `validate cluster`, and the llama.cpp RPC main node's line against the
//! real `llama-server --help` (where the ground-truth build is present).

use assert_cmd::Command;
use canirun_core::cmdline::split_words;
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;

mod common;
use common::json;

fn lines(plan: &Value) -> Vec<String> {
    plan["commands"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn the_four_r1_clusters_of_issue_14() {
    let setups: [&[&str]; 4] = [
        &[
            "--nodes",
            "2",
            "--gpu",
            "8xh100",
            "--interconnect",
            "ib-ndr",
            "-q",
            "fp8",
            "--engine",
            "vllm",
        ],
        &[
            "--nodes",
            "2",
            "--gpu",
            "8xh20-96gb",
            "-q",
            "fp8",
            "--engine",
            "sglang",
        ],
        &[
            "--nodes",
            "4",
            "--gpu",
            "ryzen-ai-max-395",
            "-q",
            "UD-Q2_K_XL",
            "--interconnect",
            "5gbe",
        ],
        &["--nodes", "3", "--gpu", "m3-ultra-512", "--engine", "exo"],
    ];
    for s in setups {
        let mut args = vec!["deepseek-r1:671b", "-c", "16384"];
        args.extend(s);
        let p = json(&args);
        assert_eq!(
            p["verdict"]["verdict"], "fits",
            "{args:?}: {}",
            p["verdict"]
        );
        let nodes = p["nodes"].as_u64().unwrap();
        assert_eq!(p["memory"].as_array().unwrap().len() as u64, nodes);
        assert!(p["memory"][0]["needed"].as_u64().unwrap() > 0);
        let d = &p["speed"]["decode"];
        assert!(
            d["low"].as_f64().unwrap() < d["rate"].as_f64().unwrap(),
            "{args:?}"
        );
        assert!(
            d["rate"].as_f64().unwrap() < d["high"].as_f64().unwrap(),
            "{args:?}"
        );
        assert!(
            p["commands"].as_array().unwrap().len() as u64 == nodes,
            "{args:?}"
        );
        assert!(
            p["power"]["total"].as_f64().unwrap_or(0.0) > 0.0 || s.contains(&"ryzen-ai-max-395"),
            "{args:?}"
        );
    }
}

#[test]
fn a_pasted_multi_node_command_and_a_refused_split() {
    let p = json(&[
        "--gpu",
        "8xh100",
        "--",
        "vllm",
        "serve",
        "deepseek-ai/DeepSeek-R1",
        "--tensor-parallel-size",
        "8",
        "--pipeline-parallel-size",
        "2",
        "--max-model-len",
        "32768",
    ]);
    assert_eq!(p["nodes"], 2);
    assert_eq!(p["split"]["pipeline_parallel"], 2);
    assert!(lines(&p)
        .iter()
        .any(|l| l.ends_with("--distributed-executor-backend ray")));
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args([
            "deepseek-r1:671b",
            "--nodes",
            "3",
            "--gpu",
            "m3-ultra-512",
            "--engine",
            "exo",
            "--tp",
            "3",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("128 attention heads do not divide by tensor parallelism 3"),
        "{err}"
    );
    assert!(err.contains("nearest legal splits: TP 1 × PP 3"), "{err}");
}

#[test]
fn validate_cluster_prints_the_published_rpc_rows() {
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/data/benchmarks-2026-12.csv"
    );
    let out = json(&["validate", "cluster", csv]);
    let rows = out["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert!(rows
        .iter()
        .all(|r| r["engine"].as_str().unwrap().contains("RPC")));
    // The published vLLM/SGLang/exo results: each compared or skipped with its reason.
    let published = out["published"].as_array().unwrap();
    assert!(published.len() >= 8);
    assert!(published
        .iter()
        .all(|p| p["predicted"].is_object() != p["skipped"].is_string()));
}

/// The RPC main node's `llama-server … --rpc …` line uses only flags the real
/// llama-server knows (`--rpc` exists where ggml is built with RPC).
#[test]
fn the_rpc_main_line_has_real_llama_server_flags() {
    let p = json(&[
        "deepseek-r1:671b",
        "--nodes",
        "4",
        "--gpu",
        "ryzen-ai-max-395",
        "-q",
        "UD-Q2_K_XL",
        "-c",
        "16384",
    ]);
    let main = lines(&p)
        .into_iter()
        .find(|l| l.starts_with("llama-server "))
        .unwrap();
    assert!(main.contains("--rpc h1:50052,h2:50052,h3:50052"), "{main}");
    let dir = std::env::var("CANIRUN_LLAMA_CPP_BIN")
        .map(PathBuf::from)
        .or_else(|_| {
            std::env::var("HOME")
                .map(|h| PathBuf::from(h).join(".cache/canirun/llama.cpp-0c1e57098/bin"))
        });
    let Some(bin) = dir
        .ok()
        .map(|d| d.join("llama-server"))
        .filter(|b| b.exists())
    else {
        eprintln!("note: llama-server not found (set CANIRUN_LLAMA_CPP_BIN); flag check skipped");
        return;
    };
    let out = std::process::Command::new(&bin)
        .arg("--help")
        .output()
        .unwrap();
    let help = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let known: HashSet<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| t.starts_with('-'))
        .collect();
    for w in split_words(&main)
        .iter()
        .skip(1)
        .filter(|w| w.starts_with('-'))
    {
        assert!(
            known.contains(w.as_str()),
            "{w} (in `{main}`) is not a flag of {bin:?}"
        );
    }
}

/// exo#1834's unlike Macs, one `--node` each: layers by memory, each node
/// against its own working set, one `exo` per node.
#[test]
fn unlike_nodes_one_flag_each() {
    let p = json(&[
        "deepseek-r1:671b",
        "-q",
        "Q4_K_M",
        "--engine",
        "exo",
        "--node",
        "m3-ultra-256",
        "--node",
        "m3-ultra-256",
        "--node",
        "m3-ultra-96",
        "--node",
        "m3-ultra-96",
        "-c",
        "16384",
    ]);
    assert_eq!(p["nodes"], 4);
    let mem = p["memory"].as_array().unwrap();
    let layers: Vec<u64> = mem.iter().map(|m| m["layers"].as_u64().unwrap()).collect();
    assert_eq!(layers.iter().sum::<u64>(), 61);
    assert!(layers[0] > layers[3], "{layers:?}");
    assert!(mem[0]["capacity"].as_u64() > mem[3]["capacity"].as_u64());
    assert_eq!(lines(&p), vec!["exo".to_string(); 4]);
}
