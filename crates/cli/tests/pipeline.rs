//! One pipeline behind every command: the same setup gets the same memory,
//! verdict and speed from the estimate, `canirun speed` and `canirun compare`.

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::json;

/// The numbers every command must agree on.
fn key(r: &Value) -> (Value, Value, Value, Value) {
    (
        r["memory_total"].clone(),
        r["verdict"].clone(),
        r["speed"]["decode"][0]["estimate"]["rate"].clone(),
        r["speed"]["prefill"]["rate"].clone(),
    )
}

struct Setup<'a> {
    model: &'a str,
    hw: &'a str,
    ram: Option<&'a str>,
    ctx: &'a str,
}

const SETUPS: [Setup<'static>; 10] = [
    Setup {
        model: "deepseek-r1:7b",
        hw: "rtx-3070",
        ram: None,
        ctx: "4096",
    },
    Setup {
        model: "deepseek-r1:32b",
        hw: "4090",
        ram: None,
        ctx: "8192",
    },
    Setup {
        model: "deepseek-r1:70b",
        hw: "2x3090",
        ram: None,
        ctx: "8192",
    },
    Setup {
        model: "deepseek-r1:70b",
        hw: "8x a100-sxm4-80gb",
        ram: None,
        ctx: "8192",
    },
    Setup {
        model: "deepseek-r1:671b",
        hw: "4090 + epyc-9654-12ch-ddr5",
        ram: Some("384GiB"),
        ctx: "16384",
    },
    Setup {
        model: "deepseek-r1:671b",
        hw: "m3-ultra-512",
        ram: None,
        ctx: "16384",
    },
    Setup {
        model: "deepseek-r1:671b",
        hw: "8xh100",
        ram: None,
        ctx: "8192",
    },
    Setup {
        model: "deepseek-r1:14b",
        hw: "epyc-9654-12ch-ddr5",
        ram: Some("64GiB"),
        ctx: "4096",
    },
    Setup {
        model: "deepseek-r1:8b",
        hw: "m2-max-96",
        ram: None,
        ctx: "32k",
    },
    Setup {
        model: "deepseek-r1:671b",
        hw: "2x4090",
        ram: None,
        ctx: "8192",
    },
];

#[test]
fn estimate_speed_and_compare_agree_on_ten_setups() {
    for s in &SETUPS {
        let mut common = vec!["--gpu", s.hw, "-c", s.ctx];
        if let Some(r) = s.ram {
            common.extend(["--ram", r]);
        }
        let mut est = vec![s.model];
        est.extend(&common);
        let e = json(&est);
        assert_eq!(e["schema"], 1);
        let mut sp = vec!["speed", s.model, "--depths", "0"];
        sp.extend(&common);
        let v = json(&sp);
        let mut cmp = vec!["compare", s.model, "--hw", s.hw, "-c", s.ctx];
        if let Some(r) = s.ram {
            cmp.extend(["--ram", r]);
        }
        let c = json(&cmp);
        let c = &c["setups"][0]["report"];
        assert_eq!(key(&e), key(&v), "estimate vs speed: {}", s.hw);
        assert_eq!(key(&e), key(c), "estimate vs compare: {}", s.hw);
        assert!(e["memory_total"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_setup_that_does_not_fit_gets_no_speed_anywhere() {
    let args = [
        "deepseek-r1:671b",
        "--gpu",
        "2x4090",
        "--ram",
        "64GiB",
        "-c",
        "8192",
    ];
    let e = json(&args);
    assert_eq!(e["verdict"]["verdict"], "does_not_fit");
    assert_eq!(e["speed"]["status"], "not_estimated");
    assert!(e["warnings"][0].as_str().unwrap().contains("does not fit"));
    let mut sp = vec!["speed"];
    sp.extend(args);
    assert_eq!(json(&sp)["speed"]["status"], "not_estimated");
    // Without --ram the experts go to a RAM of unknown size: said, not hidden.
    let e = json(&["deepseek-r1:671b", "--gpu", "2x4090", "-c", "8192"]);
    assert_ne!(e["verdict"]["verdict"], "fits");
    let w = e["warnings"].to_string();
    assert!(w.contains("give --ram"), "{w}");
}

#[test]
fn vllm_through_the_estimate_and_speed_agree() {
    let args = [
        "deepseek-r1:70b",
        "--engine",
        "vllm",
        "--gpu",
        "8xh100",
        "-c",
        "8192",
    ];
    let e = json(&args);
    let mut sp = vec!["speed", "--depths", "0"];
    sp.extend(args);
    let v = json(&sp);
    assert_eq!(e["engine"], "vllm");
    assert_eq!(e["server"], v["server"]);
    assert_eq!(
        e["speed"]["decode"][0]["estimate"]["rate"],
        v["speed"]["decode"][0]["estimate"]["rate"]
    );
    // A pasted vLLM command gets vLLM's memory model and its split check.
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args([
            "--gpu",
            "3xh200",
            "--",
            "vllm",
            "serve",
            "deepseek-ai/DeepSeek-R1",
            "--tensor-parallel-size",
            "3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not divide"));
}

#[test]
fn context_beyond_training_is_flagged() {
    let e = json(&["deepseek-r1:671b", "--gpu", "8xh200", "-c", "1000000"]);
    let w: Vec<&str> = e["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(w.iter().any(|x| x.contains("trained on")), "{w:?}");
}

#[test]
fn the_command_subcommand_prints_the_estimates_placement() {
    let hw = ["--gpu", "4090", "--ram", "384GiB", "-c", "16384"];
    let mut est = vec!["deepseek-r1:671b"];
    est.extend(hw);
    let e = json(&est);
    let mut cmd = vec!["command", "deepseek-r1:671b", "--engine", "llama.cpp"];
    cmd.extend(hw);
    let c = json(&cmd);
    let from_estimate = e["commands"][0]["command"].as_str().unwrap();
    assert_eq!(c["commands"][0]["command"].as_str().unwrap(), from_estimate);
    assert!(from_estimate.contains("-ngl 62"), "{from_estimate}");
    // Experts in RAM are written compactly: one -ot rule, not one per layer.
    assert_eq!(from_estimate.matches("-ot").count(), 1, "{from_estimate}");
    assert!(from_estimate.len() < 300, "{from_estimate}");
}

#[test]
fn pasted_sglang_and_vllm_commands_get_their_engines_settings() {
    let v = json(&[
        "--gpu",
        "8xh200",
        "--",
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        "deepseek-ai/DeepSeek-R1",
        "--tp",
        "8",
        "--mem-fraction-static",
        "0.85",
    ]);
    assert_eq!(v["engine"], "sglang");
    assert_eq!(v["server"]["settings"]["tensor_parallel"], 8);
    assert_eq!(v["server"]["settings"]["gpu_memory_utilization"], 0.85);
    // Without --context-length SGLang serves the whole trained context.
    assert_eq!(v["server"]["settings"]["max_model_len"], 163840);
    let v = json(&[
        "--gpu",
        "16xh100",
        "--",
        "vllm",
        "serve",
        "deepseek-ai/DeepSeek-R1",
        "-tp",
        "8",
        "-pp",
        "2",
        "--max-model-len",
        "32768",
    ]);
    assert_eq!(v["engine"], "vllm");
    assert_eq!(v["server"]["settings"]["pipeline_parallel"], 2);
    assert_eq!(v["server"]["gpus_used"], 16);
}

#[test]
fn mtp_speculative_decoding_speeds_up_vllm_and_is_refused_for_llama_cpp() {
    let base = json(&[
        "deepseek-r1",
        "--engine",
        "vllm",
        "--gpu",
        "8xh200",
        "-c",
        "32k",
    ]);
    let mtp = json(&[
        "deepseek-r1",
        "--engine",
        "vllm",
        "--gpu",
        "8xh200",
        "-c",
        "32k",
        "--mtp",
        "1",
    ]);
    let m = &mtp["speed"]["speculative"];
    assert!((m["tokens_per_step"].as_f64().unwrap() - 1.85).abs() < 1e-9);
    let plain = base["speed"]["decode"][0]["estimate"]["rate"]
        .as_f64()
        .unwrap();
    let fast = m["decode"].as_f64().unwrap();
    assert!(fast > plain && fast < 1.85 * plain, "{plain} → {fast}");
    assert!(m["memory_per_gpu"].as_u64().unwrap() > 1 << 30);
    let l = json(&["deepseek-r1:671b", "--gpu", "8xh200", "--mtp", "1"]);
    assert!(l["speed"]["speculative"].is_null());
    assert!(l["notes"].to_string().contains("drops the MTP layer"));
}
