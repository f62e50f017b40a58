//! `canirun validate speed` and `canirun speed` end to end.

use assert_cmd::Command;
use std::path::PathBuf;

fn csv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/data/benchmarks.csv")
}

/// Parse the closing summary line into (rows, skipped, median, p90).
fn summary(stdout: &str) -> (usize, usize, f64, f64) {
    let last = stdout.lines().last().expect("output");
    assert!(last.starts_with("summary: rows="), "last line: {last}");
    let field = |k: &str| -> String {
        last.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("{k} missing in {last}"))
    };
    (
        field("rows").parse().unwrap(),
        field("skipped").parse().unwrap(),
        field("median_abs_err_pct").parse().unwrap(),
        field("p90_abs_err_pct").parse().unwrap(),
    )
}

fn validate(test: &str) -> String {
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args(["validate", "speed"])
        .arg(csv())
        .args(["--test", test])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generation_rows_meet_the_targets() {
    let out = validate("tg");
    let (rows, skipped, median, p90) = summary(&out);
    assert!(rows > 150);
    assert!(median <= 15.0 && p90 <= 35.0, "{median} {p90}");
    assert!(skipped * 10 <= rows + skipped);
}

#[test]
fn prompt_rows_meet_the_targets_and_skips_have_reasons() {
    let out = validate("pp");
    let (rows, skipped, median, _) = summary(&out);
    assert!(rows > 150);
    assert!(median <= 25.0, "{median}");
    let reasons = out
        .lines()
        .filter(|l| l.starts_with("skipped line "))
        .count();
    assert_eq!(reasons, skipped);
}

#[test]
fn all_rows_skip_at_most_ten_percent() {
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args(["validate", "speed"])
        .arg(csv())
        .output()
        .unwrap();
    let (rows, skipped, _, _) = summary(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows + skipped, 440);
    assert!(skipped * 10 <= 440, "{skipped}");
}

#[test]
fn bad_test_value_is_a_clear_error() {
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args(["validate", "speed"])
        .arg(csv())
        .args(["--test", "xx"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use tg"));
}

#[test]
fn speed_table_and_json() {
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args([
            "speed",
            "r1",
            "--gpu",
            "m3-ultra-512",
            "--depths",
            "0,4096,16384",
            "--explain",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.contains("full R1 answer") && s.contains("active routed experts"),
        "{s}"
    );
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args([
            "--json",
            "speed",
            "deepseek-r1:70b",
            "--gpu",
            "2x4090",
            "-c",
            "8192",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = v["speed"]["decode"].as_array().unwrap();
    assert_eq!(d.len(), 2, "depths beyond -c are dropped");
    let r0 = d[0]["estimate"]["rate"].as_f64().unwrap();
    let r1 = d[1]["estimate"]["rate"].as_f64().unwrap();
    assert!(r0 >= r1 && r1 > 0.0);
}

#[test]
fn speed_errors_do_not_panic() {
    for args in [
        vec!["speed", "r1", "--gpu", "nonexistent-gpu-xyz"],
        vec!["speed", "no-such-model", "--gpu", "4090"],
        vec!["speed", "r1", "--gpu", "4090", "-q", "Q9_Z"],
        vec!["speed", "r1", "--gpu", "4090", "-c", "-5"],
    ] {
        let out = Command::cargo_bin("canirun")
            .unwrap()
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn validate_speed_json_is_json_alone() {
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args(["--json", "validate", "speed"])
        .arg(csv())
        .output()
        .unwrap();
    assert!(out.status.success());
    // Standard output parses whole: the summary is its `summary` object.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap().len();
    assert!(rows > 100, "{rows} rows");
    assert_eq!(v["summary"]["rows"].as_u64(), Some(rows as u64));
    // The text line goes to standard error.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with(&format!("summary: rows={rows} ")), "{err}");
}
