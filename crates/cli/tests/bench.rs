//! `canirun bench --url` against a fake OpenAI-compatible server on
//! 127.0.0.1: a full run with predictions and history, every bad endpoint
//! (one line, exit code 2, bounded time), and Ctrl-C in the middle of a run.

#[path = "../../bench/tests/support/fake.rs"]
mod fake;

use assert_cmd::Command;
use fake::Reply;
use std::time::{Duration, Instant};

/// A catalog model, so the prediction needs no network.
const MODEL: &str = "deepseek-r1:7b";

fn bench(url: &str, db: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("canirun").unwrap();
    c.args(["bench", "--url", url, "--gpu", "4090", "--db"])
        .arg(db)
        .args(["-p", "32", "-n", "4", "-r", "2", "--timeout", "3"]);
    c
}

/// Run and expect a one-line error with exit code 2 within `limit`.
fn fails_with(mut c: Command, words: &str, limit: Duration) {
    let t0 = Instant::now();
    let out = c.timeout(Duration::from_secs(30)).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(words), "expected '{words}' in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(t0.elapsed() < limit, "took {:?}", t0.elapsed());
}

#[test]
fn a_run_prints_measured_next_to_predicted_and_keeps_history() {
    let f = fake::openai(MODEL, Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite");
    let out = bench(&f.url, &db).args(["--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["test"], "pp32");
    // The fake counts words as tokens: the server's count is what is used.
    assert_eq!(rows[0]["prompt_tokens"], 32);
    assert_eq!(rows[1]["test"], "tg4");
    // 4 chunks 5 ms apart: 3 tokens in 15 ms after the first, ≤ 200 tok/s.
    let tg = rows[1]["measured_tps"].as_f64().unwrap();
    assert!(tg > 20.0 && tg <= 201.0, "{tg}");
    for r in rows {
        let p = r["predicted_tps"].as_f64().unwrap();
        let m = r["measured_tps"].as_f64().unwrap();
        assert!((r["error"].as_f64().unwrap() - (p - m) / m).abs() < 1e-9);
    }
    // The history has both figures; the export has benchmarks.csv's columns.
    let hist = Command::cargo_bin("canirun")
        .unwrap()
        .args(["history", "--all", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&hist.stdout).contains("2 runs"));
    let csv = Command::cargo_bin("canirun")
        .unwrap()
        .args(["bench", "--export", "--gpu", "4090", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.starts_with("hardware,n_devices,model,params_b,quant,model_size_gib,test,tokens_per_s,engine,version,source,notes,confidence"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[test]
fn nothing_listening() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    fails_with(
        bench(&url, &dir.path().join("h")),
        "nothing answers",
        Duration::from_secs(10),
    );
}

#[test]
fn no_api_and_http_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h");
    let none = fake::start(|_, _, _| Reply::Json(404, "{}".into()));
    fails_with(bench(&none.url, &db), "no LLM API", Duration::from_secs(10));
    for status in [404u16, 500] {
        let f = fake::start(move |m, p, _| match (m, p) {
            ("GET", "/v1/models") => {
                Reply::Json(200, format!(r#"{{"data":[{{"id":"{MODEL}"}}]}}"#))
            }
            _ => Reply::Json(status, r#"{"error":"boom"}"#.into()),
        });
        fails_with(
            bench(&f.url, &db),
            &format!("HTTP {status}: {{\"error\":\"boom\"}}"),
            Duration::from_secs(10),
        );
    }
}

#[test]
fn a_stream_cut_off_and_a_server_that_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h");
    let cut = fake::start(|m, p, b| match (m, p) {
        ("GET", "/v1/models") => Reply::Json(200, format!(r#"{{"data":[{{"id":"{MODEL}"}}]}}"#)),
        _ => Reply::Sse {
            events: fake::completion_events(b).into_iter().take(2).collect(),
            delay: Duration::ZERO,
        },
    });
    fails_with(bench(&cut.url, &db), "cut off", Duration::from_secs(10));
    let hang = fake::start(|m, p, _| match (m, p) {
        ("GET", "/v1/models") => Reply::Json(200, format!(r#"{{"data":[{{"id":"{MODEL}"}}]}}"#)),
        _ => Reply::Hang,
    });
    // --timeout 3: the warm-up request gives up after 3 s.
    fails_with(
        bench(&hang.url, &db),
        "did not answer within 3 s",
        Duration::from_secs(10),
    );
}

#[test]
fn the_wrong_model() {
    let f = fake::openai(MODEL, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let mut c = bench(&f.url, &dir.path().join("h"));
    c.args(["--served-model", "qwen3:8b"]);
    fails_with(
        c,
        "serves deepseek-r1:7b, not qwen3:8b",
        Duration::from_secs(10),
    );
}

#[cfg(unix)]
#[test]
fn a_server_that_never_becomes_ready_or_exits() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h");
    for (script, words) in [
        ("sleep 30", "was not ready after 2 s"),
        (
            "echo 'error: failed to load model' >&2; exit 1",
            "failed to load model",
        ),
        // canirun asks llama-server for its buffer lines (INFO shows from
        // verbosity 4), which the memory comparison reads from its log.
        (
            "echo \"verbosity $LLAMA_ARG_LOG_VERBOSITY\" >&2; exit 1",
            "verbosity 4",
        ),
    ] {
        let bin = dir.path().join("llama-server");
        std::fs::write(&bin, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut c = Command::cargo_bin("canirun").unwrap();
        c.env_remove("LLAMA_ARG_LOG_VERBOSITY");
        c.args(["bench", "--gpu", "4090", "--ready-timeout", "2", "--db"])
            .arg(&db)
            .arg("--")
            .arg(&bin)
            .args(["-m", "x.gguf"]);
        fails_with(c, words, Duration::from_secs(10));
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_finished_tests() {
    // A pp request takes 0.1 s, a tg one 0.8 s (8 chunks 100 ms apart): with
    // the warm-up, ~5.6 s for the 10 tests; Ctrl-C at 2 s is after the pp
    // tests and well before the end, even on a loaded machine.
    let f = fake::openai(MODEL, Duration::from_millis(100));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("canirun"))
        .args(["bench", "--url", &f.url, "--gpu", "4090", "--db"])
        .arg(&db)
        .args([
            "-p",
            "16,24,32,40",
            "-n",
            "8",
            "-d",
            "0,8,16",
            "-r",
            "1",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    // SAFETY: sending SIGINT to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let done = v["rows"].as_array().unwrap().len();
    assert!((1..10).contains(&done), "{done} of 10 tests finished: {v}");
    assert_eq!(v["interrupted"], true);
    let hist = Command::cargo_bin("canirun")
        .unwrap()
        .args(["history", "--all", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&hist.stdout).contains(&format!("{done} runs")));
}
