//! `canirun compare` and `canirun validate power` end to end.

use std::path::PathBuf;

mod common;
use common::canirun;

fn power_csv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/data/power.csv")
}

#[test]
fn the_issues_example_prints_three_columns() {
    let out = canirun()
        .args([
            "compare",
            "deepseek-r1:70b",
            "--hw",
            "mac-studio-m3-ultra-256",
            "--hw",
            "2x4090",
            "--hw",
            "api",
        ])
        .assert()
        .success();
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let header = s
        .lines()
        .find(|l| l.contains("mac-studio-m3-ultra-256"))
        .expect("header row");
    assert!(
        header.contains("2x4090") && header.contains("api"),
        "{header}"
    );
    for row in [
        "energy per token",
        "electricity / 1M tok",
        "break-even vs API",
        "power supply",
    ] {
        assert!(s.contains(row), "missing '{row}' in\n{s}");
    }
    assert!(s.contains("2.19 USD"), "API price column\n{s}");
}

#[test]
fn json_has_every_setup_and_the_api() {
    let out = canirun()
        .args([
            "compare",
            "deepseek-r1:70b",
            "--hw",
            "m3-ultra-512",
            "--hw",
            "2x4090",
        ])
        .args([
            "--hw",
            "api",
            "--json",
            "--kwh-price",
            "0.30",
            "--years",
            "2",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let setups = v["setups"].as_array().unwrap();
    assert_eq!(setups.len(), 2);
    for s in setups {
        let r = &s["report"];
        assert_eq!(r["schema"].as_u64(), Some(1));
        let j = r["power"]["joules_per_token"].as_f64().unwrap();
        assert!(j > 1.0 && j < 100.0, "{j}");
        assert!(
            r["speed"]["decode"][0]["estimate"]["rate"]
                .as_f64()
                .unwrap()
                > 1.0
        );
    }
    // 2× 4090 has a launch price, so ROI is computed.
    assert!(
        setups[1]["report"]["power"]["roi"]["local_usd_per_m"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(v["api"]["output_per_m"].as_f64().unwrap(), 2.19);
    assert_eq!(v["kwh_price"]["amount"].as_f64().unwrap(), 0.30);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    for args in [
        vec!["compare", "deepseek-r1:70b", "--hw", "no-such-gpu-xyz"],
        vec![
            "compare",
            "deepseek-r1:7b",
            "--hw",
            "4090",
            "--kwh-price",
            "-0.1",
        ],
        vec![
            "compare",
            "deepseek-r1:7b",
            "--hw",
            "4090",
            "--api-price-out",
            "-2",
        ],
        vec!["compare", "deepseek-r1:7b", "--hw", "4090", "--years", "0"],
    ] {
        let out = canirun().args(&args).assert().code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error"), "{args:?}: {err}");
    }
}

#[test]
fn validate_power_meets_25_percent_on_every_compared_row() {
    let out = canirun()
        .args(["validate", "power"])
        .arg(power_csv())
        .args(["--json"])
        .assert()
        .success();
    let full = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let text = full.trim_end();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("summary: rows="), "{last}");
    let json = &text[..text.len() - last.len()];
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(rows.len() >= 17, "{} rows compared", rows.len());
    for r in rows {
        let e = r["err_pct"].as_f64().unwrap();
        assert!(e.abs() <= 25.0, "line {}: {e:+.1}%", r["line"]);
    }
    // Every whole-system inference row is either compared or skipped with a reason.
    for s in v["skipped"].as_array().unwrap() {
        assert!(!s["reason"].as_str().unwrap().is_empty());
    }
}

#[test]
fn mac_vs_server_vs_api_has_price_power_cost_and_break_even_in_every_column() {
    let out = canirun()
        .args([
            "compare",
            "deepseek-r1:671b",
            "--hw",
            "m3-ultra-512",
            "--hw",
            "epyc-9355 + 4090 + 768GiB",
            "--hw",
            "api",
        ])
        .assert()
        .success();
    let s = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for label in [
        "purchase price",
        "power decode / prefill",
        "cost / 1M tok @",
        "break-even vs API",
    ] {
        let line = s
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no '{label}' row in\n{s}"));
        let cells: Vec<&str> = line
            .split('┆')
            .skip(1)
            .map(|c| c.trim_matches(['│', ' ']))
            .collect();
        assert_eq!(cells.len(), 3, "{line}");
        for c in cells {
            assert!(!c.is_empty() && !c.contains("unknown"), "'{label}': {line}");
        }
    }
    // Each price line names its kind and date; the parts without a sourced price are named.
    assert!(s.contains("3999 USD (launch MSRP, 2025-03-05)"), "{s}");
    assert!(
        s.contains("64GB DDR5 RDIMM: ≥1000 USD per module (estimate, 2026-Q2)"),
        "{s}"
    );
    assert!(s.contains("priced without the motherboard"), "{s}");
    // --price fills a missing part and replaces a row.
    let out = canirun()
        .args([
            "compare",
            "deepseek-r1:671b",
            "--hw",
            "epyc-9355 + 4090 + 768GiB",
        ])
        .args([
            "--price",
            "epyc-9355=3000",
            "--price",
            "motherboard=900",
            "--price",
            "4090=1600",
            "--json",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let p = &v["setups"][0]["report"]["power"]["system_price"];
    assert_eq!(p["missing"].as_array().unwrap().len(), 0, "{p}");
    // 3000 + 900 + 1600 + 12 × the 64GB module's 2026-Q2 row (≥ 1000 USD).
    assert_eq!(
        p["total_usd"].as_f64().unwrap(),
        3000.0 + 900.0 + 1600.0 + 12_000.0
    );
}
