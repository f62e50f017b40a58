//! `canirun validate power|fit` end to end (the paths that need no fixture GGUFs).

use assert_cmd::Command;
use predicates::prelude::*;

fn data(name: &str) -> String {
    format!("{}/../core/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_power_renders_the_core_report() {
    Command::cargo_bin("canirun")
        .unwrap()
        .args(["validate", "power", &data("power.csv")])
        .assert()
        .success()
        .stdout(predicate::str::contains("summary: rows=18 skipped=8 "))
        .stdout(predicate::str::contains(
            "is not whole-system wall power; canirun predicts wall power",
        ));
}

#[test]
fn validate_power_json_has_rows_and_summary() {
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args(["--json", "validate", "power", &data("power.csv")])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let (json, summary) = text.trim_end().rsplit_once('\n').unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 18);
    assert_eq!(v["summary"]["skipped"], 8);
    assert!(summary.starts_with("summary: rows=18"), "{summary}");
}

#[test]
fn validate_fit_without_fixtures_names_the_missing_file() {
    Command::cargo_bin("canirun")
        .unwrap()
        .args(["validate", "fit", &data("llama_fit_params_rpc.csv")])
        .args(["--fixtures", "/nonexistent-canirun-fixtures"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "reading fixture /nonexistent-canirun-fixtures/",
        ))
        .stderr(predicate::str::contains("scripts/make_fixtures.py"));
}

/// `canirun validate speed benchmarks.csv --explain LINE`.
fn explain(line: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("canirun")
        .unwrap()
        .args([
            "validate",
            "speed",
            &data("benchmarks.csv"),
            "--explain",
            line,
        ])
        .assert()
}

#[test]
fn validate_speed_explains_one_row_and_names_a_missing_line() {
    explain("2")
        .success()
        .stdout(predicate::str::contains("line 2: "))
        .stdout(predicate::str::contains("read as: "))
        .stdout(predicate::str::contains("published "))
        .stdout(predicate::str::contains("micro-batches"));
    explain("99999")
        .failure()
        .stderr(predicate::str::contains("no benchmark row at line 99999"));
}
