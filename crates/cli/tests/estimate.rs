//! The `canirun` binary end to end: estimates, catalog, table, validation, errors.

use predicates::prelude::*;

mod common;
use common::{canirun, json};

#[test]
fn estimate_prints_a_table_and_a_verdict() {
    canirun()
        .args([
            "deepseek-r1:32b",
            "-c",
            "16384",
            "--quant",
            "q4_k_m",
            "--vram",
            "24GiB",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("weights"))
        .stdout(predicate::str::contains("KV cache"))
        .stdout(predicate::str::contains("verdict: FITS"));
}

#[test]
fn named_hardware_is_checked() {
    let v = json(&["deepseek-r1:70b", "--gpu", "2x4090", "-c", "8192"]);
    assert_eq!(v["hardware"]["origin"], "named");
    assert_eq!(v["hardware"]["gpus"].as_array().unwrap().len(), 2);
    assert_eq!(v["verdict"]["verdict"], "fits");
    let v = json(&["deepseek-r1:70b", "--gpu", "4090", "-c", "8192"]);
    assert_ne!(v["verdict"]["verdict"], "fits");
    let v = json(&["deepseek-r1:671b", "--gpu", "m3-ultra-512", "-c", "16384"]);
    assert_eq!(v["settings"]["backend"], "metal");
    assert_eq!(v["verdict"]["verdict"], "fits");
}

#[test]
fn this_machine_is_detected_when_nothing_is_named() {
    let v = json(&["deepseek-r1:7b"]);
    assert_eq!(v["hardware"]["origin"], "detected");
    assert!(v["hardware"]["ram"].as_u64().unwrap() > 0);
}

#[test]
fn json_memory_parts_add_up() {
    let v = json(&["deepseek-r1:7b", "-c", "2048", "-fa", "off"]);
    let m = &v["memory"];
    let sum: u64 = ["weights", "kv", "compute", "output", "overhead"]
        .iter()
        .map(|k| m[k]["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, v["memory_total"].as_u64().unwrap());
    assert_eq!(v["schema"].as_u64(), Some(1));
    assert_eq!(m["kv"]["bytes"].as_u64().unwrap(), 112 * 1024 * 1024);
    assert_eq!(m["weights"]["bytes"].as_u64().unwrap(), 4_677_120_000);
}

#[test]
fn r1_kv_at_32k_and_q8_0_cache() {
    let v = json(&["deepseek-r1:671b", "-c", "32768"]);
    assert_eq!(
        v["memory"]["kv"]["bytes"].as_u64().unwrap(),
        61 * 32768 * 576 * 2
    );
    let v = json(&[
        "deepseek-r1:671b",
        "-c",
        "32768",
        "-ctk",
        "q8_0",
        "-ctv",
        "q8_0",
    ]);
    assert_eq!(
        v["memory"]["kv"]["bytes"].as_u64().unwrap(),
        61 * 32768 * 612
    );
}

#[test]
fn llama_cpp_flag_spellings_are_accepted() {
    for args in [
        vec![
            "r1-7b", "-fa", "on", "-ctk", "q8_0", "-ctv", "q8_0", "-np", "2", "-ub", "256", "-b",
            "1024",
        ],
        vec![
            "r1-7b",
            "--flash-attn",
            "off",
            "--cache-type-k",
            "f16",
            "--parallel",
            "1",
            "--ubatch-size",
            "512",
        ],
    ] {
        canirun().args(&args).assert().success();
    }
}

#[test]
fn explain_names_the_terms() {
    canirun()
        .args(["deepseek-r1:671b", "-c", "32768", "--explain"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "61 layers × 32768 cells × 576 values",
        ))
        .stdout(predicate::str::contains("V-less"));
}

#[test]
fn models_lists_the_catalog() {
    let v = json(&["models"]);
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in [
        "deepseek-r1",
        "deepseek-r1-0528",
        "deepseek-v3",
        "deepseek-r1-distill-qwen-1.5b",
        "deepseek-r1-distill-llama-70b",
        "llama-2-7b",
        "llama-3-8b",
        "qwen2.5-32b",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
}

/// `models --fits` answers for named hardware with how each model runs, and
/// the filters narrow the list.
#[test]
fn models_fits_and_filters() {
    let v = json(&["models", "--fits", "--gpu", "4090", "--ram", "64GiB"]);
    let runs = v["models"].as_array().unwrap();
    let how = |id: &str| {
        runs.iter()
            .find(|m| m["model"] == id)
            .map(|m| m["how"].as_str().unwrap().to_string())
    };
    assert_eq!(how("qwen3-32b").as_deref(), Some("fits"));
    assert_eq!(how("llama-3.3-70b").as_deref(), Some("offloaded"));
    assert_eq!(how("kimi-k2"), None);
    let v = json(&["models", "--arch", "glm4moe"]);
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["glm-4.5", "glm-4.5-air"]);
    let v = json(&["models", "--family", "qwen", "--max-params", "2B"]);
    for m in v.as_array().unwrap() {
        assert!(m["params"].as_u64().unwrap() <= 2_000_000_000);
        assert!(m["params_source"].as_str().is_some());
    }
}

#[test]
fn table_names_a_gpu_for_every_distill() {
    let v = json(&["table", "-c", "8192"]);
    let rows = v["rows"].as_array().unwrap();
    assert!(rows.len() >= 18);
    for r in rows {
        let gpu = r["smallest_single_gpu"].as_str();
        if r["model"] == "deepseek-r1" || r["model"] == "deepseek-r1-0528" {
            assert!(gpu.is_none(), "671B fits no single GPU");
            assert!(r["multi_gpu"].as_str().is_some());
        } else {
            let mem = r["smallest_single_gpu_memory"].as_u64().unwrap();
            assert!(mem >= r["memory"]["total"].as_u64().unwrap());
        }
    }
}

#[test]
fn table_of_named_models_keeps_their_order() {
    let v = json(&[
        "table",
        "--models",
        "gpt-oss:120b,qwen3:32b",
        "--quants",
        "Q8_0",
        "-c",
        "8192",
    ]);
    let ids: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-oss-120b", "qwen3-32b"]);
}

#[test]
fn validate_sizes_meets_the_bar() {
    let csv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/data/quant_file_sizes.csv"
    );
    let out = canirun().args(["validate", "sizes", csv]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("summary: rows="), "{last}");
    let field = |k: &str| -> f64 {
        last.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(field("median_abs_err_pct") <= 1.0, "{last}");
    assert!(field("max_abs_err_pct") <= 3.0, "{last}");
    // Only rows whose size the source itself calls unconfirmed are skipped.
    for line in text.lines().filter(|l| l.starts_with("skipped")) {
        assert!(line.contains("unconfirmed"), "{line}");
    }
}

#[test]
fn bench_reports_its_time() {
    canirun()
        .args(["self-bench", "--repeat", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("estimates in"));
}

/// Bad input: exit code 2, one line, the problem and the choices, no panic.
#[test]
fn bad_input_is_one_clear_line() {
    let cases: [(&[&str], &str); 10] = [
        (&["r1-7b", "--gpu", "rtx-9999"], "closest"),
        (&["deepseek-r1:9b"], "closest matches"),
        (&["r1-7b", "-q", "q9_k"], "valid:"),
        (&["r1-7b", "-c", "0x10"], "context"),
        (&["r1-7b", "-c", "-5"], "negative"),
        (&["r1-7b", "-c", "999999999"], "absurd"),
        (&["r1-7b", "--vram", "24XB"], "memory size"),
        (&["r1-7b", "-fa", "maybe"], "on, off or auto"),
        (&["r1-7b", "-fa", "off", "-ctv", "q8_0"], "flash attention"),
        (&["r1-7b", "-ctk", "q4_k"], "cache type"),
    ];
    for (args, needle) in cases {
        let out = canirun().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(err.to_lowercase().contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn pasted_commands_are_read() {
    let v = json(&[
        "--gpu",
        "2x3090",
        "--ram",
        "64GiB",
        "--",
        "llama-server",
        "-m",
        "deepseek-r1:70b",
        "-c",
        "16384",
        "-ngl",
        "81",
        "-ts",
        "1,1",
        "-fa",
        "on",
        "-ctk",
        "q8_0",
        "-ctv",
        "q8_0",
        "--frobnicate",
    ]);
    assert_eq!(v["settings"]["n_ctx"], 16384);
    assert_eq!(v["settings"]["type_k"], "Q8_0");
    assert_eq!(v["placement"]["devices"].as_array().unwrap().len(), 3);
    let notes = v["notes"].to_string();
    assert!(notes.contains("--frobnicate"), "{notes}");
    // Experts in RAM for R1 on one 24 GB GPU.
    let v = json(&[
        "--gpu",
        "4090",
        "--ram",
        "384GiB",
        "--",
        "llama-server",
        "-m",
        "deepseek-r1:671b",
        "-c",
        "16384",
        "-ot",
        "exps=CPU",
    ]);
    assert_ne!(v["verdict"]["verdict"], "does_not_fit");
    assert!(v["placement"]["experts_on_cpu"].as_u64().unwrap() > 300 << 30);
}

#[test]
fn pasted_bad_values_are_one_line_errors() {
    for (flag, value) in [("-ngl", "abc"), ("-ts", "1,,2"), ("-c", "-5")] {
        let out = canirun()
            .args(["--", "llama-server", "-m", "deepseek-r1:7b", flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(flag) && err.contains(value), "{err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn vllm_engine_sizes_the_kv_pool() {
    let v = json(&[
        "deepseek-r1",
        "--engine",
        "vllm",
        "--gpu",
        "8xh200",
        "-c",
        "32768",
    ]);
    assert_eq!(v["quant"], "FP8");
    assert_eq!(v["engine"], "vllm");
    assert!(v["server"]["per_gpu"]["fits"].as_bool().unwrap());
    assert!(v["server"]["per_gpu"]["max_concurrency"].as_f64().unwrap() > 1.0);
    let out = canirun()
        .args([
            "deepseek-r1",
            "--engine",
            "vllm",
            "--gpu",
            "3xh200",
            "--tp",
            "3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not divide"));
}

#[test]
fn estimates_include_speed_for_named_hardware() {
    let v = json(&["deepseek-r1:70b", "--gpu", "2x4090", "-c", "8192"]);
    let tg = v["speed"]["decode"][0]["estimate"]["rate"]
        .as_f64()
        .unwrap();
    assert!(tg > 5.0 && tg < 60.0, "{tg}");
    assert!(v["speed"]["prefill"]["rate"].as_f64().unwrap() > tg);
    let v = json(&["deepseek-r1:671b", "--gpu", "m3-ultra-512", "-c", "16384"]);
    let answer = &v["speed"]["answer"];
    assert_eq!(answer["thinking_tokens"], 12000);
    assert!(answer["total"].as_f64().unwrap() > 60.0);
    canirun()
        .args([
            "deepseek-r1:671b",
            "--gpu",
            "4090",
            "--gpu",
            "epyc-9654-12ch-ddr5",
            "--ram",
            "384GiB",
            "-c",
            "16384",
            "--explain",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("decode time per token"))
        // llama.cpp's --fit: whole layers first, then the experts of the
        // remaining layers in RAM, layer by layer.
        .stdout(predicate::str::contains(
            r"ffn_(up|down|gate_up|gate)_(ch|)exps=CPU",
        ))
        .stdout(predicate::str::contains("-ngl 62"));
}

#[test]
fn a_pasted_server_without_c_gets_the_context_llama_cpps_fit_leaves() {
    // llama-server's default is the training context (131072 for the 7B
    // distill); its --fit shrinks it until 1 GiB stays free on the 12 GB card.
    let v = json(&[
        "--gpu",
        "3060",
        "--",
        "llama-server",
        "-m",
        "deepseek-r1:7b",
    ]);
    let n_ctx = v["memory"]["resolved"]["n_ctx"].as_u64().unwrap();
    assert!(
        (4096..131072).contains(&n_ctx) && n_ctx.is_multiple_of(256),
        "{n_ctx}"
    );
    let gpu = &v["placement"]["devices"][1];
    let free = gpu["capacity"].as_u64().unwrap() as i64
        - (gpu["weights"].as_u64().unwrap()
            + gpu["kv"].as_u64().unwrap()
            + gpu["compute"].as_u64().unwrap()
            + gpu["overhead"].as_u64().unwrap()) as i64;
    assert!(free >= 1 << 30, "{free}");
    // -fit off keeps the training context, and the -c given is never changed.
    let off = json(&[
        "--gpu",
        "3060",
        "--",
        "llama-server",
        "-m",
        "deepseek-r1:7b",
        "-fit",
        "off",
    ]);
    assert_eq!(off["memory"]["resolved"]["n_ctx"], 131072);
    let given = json(&[
        "--gpu",
        "3060",
        "--",
        "llama-server",
        "-m",
        "deepseek-r1:7b",
        "-c",
        "131072",
    ]);
    assert_eq!(given["memory"]["resolved"]["n_ctx"], 131072);
}

#[test]
fn bad_fit_flags_are_clear_errors() {
    for (flag, value) in [("-fit", "maybe"), ("-fitt", "abc"), ("-fitc", "-5")] {
        canirun()
            .args(["--", "llama-server", "-m", "deepseek-r1:7b", flag, value])
            .assert()
            .failure()
            .stderr(predicate::str::contains(flag))
            .stderr(predicate::str::contains("panicked").not());
    }
}
