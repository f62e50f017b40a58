//! `GET /api/history` and the `/history` page: the server's own history
//! file, read-only, as typed JSON with each run's error; an empty list
//! without a file; the page's assets embedded and small.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use canirun_bench::compare::RunMeta;
use canirun_bench::history::{History, Run};
use canirun_core::hardware::Target;
use canirun_core::units::Bytes;
use canirun_web::{router, AppState};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::Path;
use tower::ServiceExt;

fn app(history: &Path) -> axum::Router {
    let machine = Target::given(Some(Bytes::gib(24)), Some(Bytes::gib(64))).expect("target");
    router(AppState::with_machine(machine).with_history(history.to_path_buf()))
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .expect("the router answers");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn run(test: &str, phase: &str, measured: f64, predicted: Option<f64>) -> Run {
    Run {
        meta: RunMeta {
            time: 1_796_000_000,
            fingerprint: "00112233aabbccdd".into(),
            hardware: "2-core test machine".into(),
            engine: "llama.cpp".into(),
            model: "gemma-3-270m".into(),
            quant: "Q4_K_M".into(),
            settings: "llama-server -m gemma.gguf -c 1024 -t 1".into(),
            ..Default::default()
        },
        test: test.into(),
        phase: phase.into(),
        prompt_tokens: 64,
        generated: 16,
        depth: 0,
        measured_tps: measured,
        spread_tps: 1.5,
        repetitions: 3,
        ttft_s: None,
        predicted_tps: predicted,
        scalable_share: Some(1.0),
    }
}

#[tokio::test]
async fn history_lists_the_servers_own_runs_with_their_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let h = History::open(&db).unwrap();
    h.add(&run("pp64", "prefill", 200.0, Some(150.0))).unwrap();
    h.add(&run("tg16", "decode", 40.0, Some(50.0))).unwrap();
    h.add(&run("tg16", "decode", 41.0, None)).unwrap();
    drop(h);
    let before = std::fs::read(&db).unwrap();
    let app = app(&db);
    let (s, body) = get(&app, "/api/history").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["schema"], 1);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["id"], 1);
    assert_eq!(runs[0]["run"]["test"], "pp64");
    assert_eq!(runs[0]["run"]["engine"], "llama.cpp");
    // (150 − 200) ÷ 200 and (50 − 40) ÷ 40; no prediction, no error.
    assert_eq!(runs[0]["error"], -0.25);
    assert_eq!(runs[1]["error"], 0.25);
    assert_eq!(runs[2]["error"], Value::Null);
    // Read-only: the file is unchanged and a query string names no other file.
    assert_eq!(std::fs::read(&db).unwrap(), before);
    let (s, body2) = get(&app, "/api/history?db=/etc/passwd&path=/tmp/x").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body2, body);
}

#[tokio::test]
async fn no_history_file_is_an_empty_list_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none").join("history.sqlite");
    let (s, body) = get(&app(&db), "/api/history").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 0);
    assert!(!db.exists() && !db.parent().unwrap().exists());
}

#[tokio::test]
async fn a_broken_history_file_is_a_500_without_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    std::fs::write(&db, b"not a database").unwrap();
    let (s, body) = get(&app(&db), "/api/history").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("could not be read"), "{body}");
    assert!(!body.contains(&dir.path().display().to_string()), "{body}");
}

#[tokio::test]
async fn the_history_page_is_embedded_documented_and_small() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir.path().join("h.sqlite"));
    let (_, doc) = get(&app, "/openapi.json").await;
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert!(doc["paths"]["/api/history"]["get"].is_object());
    assert!(doc["components"]["schemas"]["History"].is_object());
    let mut total = 0;
    for asset in ["/history", "/history.js", "/style.css", "/"] {
        let (s, text) = get(&app, asset).await;
        assert_eq!(s, StatusCode::OK, "{asset}");
        // Nothing from elsewhere: no http(s) URL in a src or href.
        assert!(
            !text.contains("src=\"http") && !text.contains("href=\"http"),
            "{asset}"
        );
        total += text.len();
    }
    let (_, page) = get(&app, "/history").await;
    assert!(page.contains("/history.js") && page.contains("chart-prefill"));
    let (_, app_js) = get(&app, "/app.js").await;
    total += app_js.len();
    assert!(total < 500_000, "{total} bytes");
}
