//! `canirun serve`'s API answers exactly what the command line's `--json`
//! prints for the same settings (one schema), and `canirun serve` starts,
//! prints its URL and warns when exposed.

use assert_cmd::Command;
use axum::body::Body;
use axum::http::Request;
use canirun_core::hardware::Target;
use canirun_core::units::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn cli_json(args: &[&str]) -> Value {
    // The page reads RAM without a named CPU with the typical desktop (the
    // server's CPU is not the visitor's): the command line without detection.
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .env("CANIRUN_NO_DETECT", "1")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn api_json(uri: &str) -> Value {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let machine = Target::given(Some(Bytes::gib(24)), None).unwrap();
        let app = canirun_web::router(canirun_web::AppState::with_machine(machine));
        let resp = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{uri}: {}", resp.status());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    })
}

#[test]
fn estimate_equals_the_cli_json() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["deepseek-r1:32b", "--gpu", "4090", "-c", "16384"],
            "model=deepseek-r1:32b&gpu=4090&ctx=16384",
        ),
        (
            &["deepseek-r1:671b", "-q", "UD-IQ1_S", "--gpu", "4090 + epyc-9654", "--ram", "384GiB", "-c", "8192", "-fa", "on", "-ctk", "q8_0", "-ctv", "q8_0"],
            "model=deepseek-r1:671b&quant=UD-IQ1_S&gpu=4090%20%2B%20epyc-9654&ram=384GiB&ctx=8192&fa=on&ctk=q8_0&ctv=q8_0",
        ),
        (
            &["deepseek-r1:70b", "--gpu", "2x3090", "-c", "32k", "--engine", "vllm"],
            "model=deepseek-r1:70b&gpu=2x3090&ctx=32k&engine=vllm",
        ),
        (
            &["deepseek-r1:14b", "--vram", "12GiB", "--ram", "32GiB", "-c", "8192"],
            "model=deepseek-r1:14b&vram=12GiB&ram=32GiB&ctx=8192",
        ),
    ];
    for (args, query) in cases {
        let cli = cli_json(args);
        let api = api_json(&format!("/api/estimate?{query}"));
        assert_eq!(
            cli, api,
            "canirun {args:?} --json differs from /api/estimate?{query}"
        );
    }
}

#[test]
fn speed_table_and_recommend_equal_the_cli_json() {
    let cli = cli_json(&[
        "speed",
        "deepseek-r1:8b",
        "--gpu",
        "3060",
        "-c",
        "16384",
        "--depths",
        "0,4096,16384",
    ]);
    let api = api_json("/api/estimate?model=deepseek-r1:8b&gpu=3060&ctx=16384&depths=0,4096,16384");
    assert_eq!(cli, api);
    let cli = cli_json(&[
        "table", "-c", "8192", "-fa", "on", "-ctk", "q8_0", "-ctv", "q8_0",
    ]);
    let api = api_json("/api/table?ctx=8192&fa=on&ctk=q8_0&ctv=q8_0");
    assert_eq!(cli, api);
    let cli = cli_json(&["recommend", "--gpu", "4090"]);
    let api = api_json("/api/recommend?gpu=4090");
    assert_eq!(cli, api);
}

#[test]
fn plan_equals_the_cli_json_but_for_its_timing() {
    let mut cli = cli_json(&[
        "plan",
        "deepseek-r1:14b",
        "--min-tps",
        "30",
        "-c",
        "16384",
        "--budget",
        "4000",
    ]);
    let mut api = api_json("/api/plan?model=deepseek-r1:14b&min_tps=30&ctx=16384&budget=4000");
    for v in [&mut cli, &mut api] {
        assert!(v["seconds"].as_f64().unwrap() > 0.0);
        v["seconds"] = Value::Null;
    }
    assert_eq!(cli, api);
}

#[test]
fn serve_prints_its_url_and_warns_when_exposed() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command as Std, Stdio};
    let bin = assert_cmd::cargo::cargo_bin("canirun");
    for (host, warns) in [("127.0.0.1", false), ("0.0.0.0", true)] {
        let mut child = Std::new(&bin)
            .args(["serve", "--host", host, "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(line.contains(&format!("http://{host}:")), "{line}");
        assert_eq!(err.contains("warning"), warns, "{err}");
    }
}
