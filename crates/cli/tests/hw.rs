//! `canirun hw` end to end.

use assert_cmd::Command;
use predicates::prelude::*;

fn canirun() -> Command {
    let mut c = Command::cargo_bin("canirun").unwrap();
    // Keep a developer's cached measurement out of the assertions.
    c.env(
        "XDG_CACHE_HOME",
        std::env::temp_dir().join("canirun-hw-test-cache-none"),
    );
    c
}

#[test]
fn hw_prints_cpu_ram_and_gpus() {
    let out = canirun().arg("hw").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("CPU:"), "{text}");
    assert!(text.contains("RAM:"), "{text}");
    assert!(text.contains("GPU"), "{text}");
    assert!(text.contains("detected (sysinfo)"), "{text}");
}

#[test]
fn hw_json_is_data() {
    let out = canirun().args(["hw", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(v["cpu"]["logical_cores"].as_u64().unwrap() >= 1);
    assert!(v["cpu"]["ram_total"].as_u64().unwrap() > 0);
    assert!(v["gpus"].is_array());
    assert!(v["facts"].as_array().unwrap().len() >= 3);
}

#[test]
fn hw_list_and_filter() {
    canirun()
        .args(["hw", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("rtx-4090-24gb"))
        .stdout(predicate::str::contains("epyc-9004-12ch-ddr5-4800"));
    let out = canirun()
        .args(["hw", "list", "--filter", "mi300x", "--json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], "mi300x-192gb");
}

#[test]
fn hw_show_resolves_names() {
    canirun()
        .args(["hw", "show", "2x4090"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 × NVIDIA GeForce RTX 4090 24GB"))
        .stdout(predicate::str::contains("techpowerup"));
    let out = canirun()
        .args(["hw", "show", "m3-ultra-512", "--json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v[0]["device"]["id"], "m3-ultra-32c-cpu-80c-gpu-512gb");
}

#[test]
fn unknown_name_is_a_bad_input_with_suggestions() {
    canirun()
        .args(["hw", "show", "rtx 4095"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown hardware 'rtx 4095'"))
        .stderr(predicate::str::contains("rtx-4090-24gb"));
}

#[test]
fn overrides_replace_detection_and_say_so() {
    let out = assert_cmd::Command::cargo_bin("canirun")
        .unwrap()
        .args([
            "hw",
            "--gpu",
            "2x4090",
            "--ram",
            "64GiB",
            "--bandwidth",
            "90",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["gpus"].as_array().unwrap().len(), 2);
    assert_eq!(v["cpu"]["ram_total"].as_u64().unwrap(), 64 << 30);
    let given: Vec<_> = v["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["provenance"]["kind"] == "given")
        .collect();
    assert_eq!(given.len(), 4, "{given:?}");
}

#[test]
fn ram_without_a_cpu_reads_this_machines_cpu_else_the_typical_desktop() {
    let run = |no_detect: bool| {
        let mut c = canirun();
        if no_detect {
            c.env("CANIRUN_NO_DETECT", "1");
        }
        let out = c
            .args(["--json", "deepseek-r1:7b", "--ram", "64GiB"])
            .assert()
            .success();
        serde_json::from_slice::<serde_json::Value>(&out.get_output().stdout).unwrap()
    };
    // Detection on (the default): this machine's CPU, named as detected.
    let detected = run(false);
    let said = detected["hardware"]["assumptions"].to_string();
    assert!(
        said.contains("assumed this machine's CPU platform") && said.contains("detected"),
        "{said}"
    );
    assert!(detected["speed"]["assumed_cpu"].is_null(), "{detected}");
    // CANIRUN_NO_DETECT: the catalog's typical desktop, said as assumed.
    let typical = run(true);
    let assumed = typical["speed"]["assumed_cpu"].as_str().unwrap_or_default();
    assert!(
        assumed.contains("Typical dual-channel DDR5 desktop"),
        "{typical}"
    );
    assert!(!typical["hardware"]["assumptions"]
        .to_string()
        .contains("this machine's CPU"));
}
