//! `canirun bench --url` against Ollama's and vLLM's APIs: their documented
//! answers (tests/data, with sources in tests/data/README.md) replayed by a
//! fake server on 127.0.0.1.

mod support;

use canirun_bench::{Api, BenchError, Client};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::fake::{self, Reply};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn json(v: &str) -> serde_json::Value {
    serde_json::from_str(v).unwrap()
}

fn ollama() -> (fake::Fake, Arc<Mutex<String>>) {
    let body = Arc::new(Mutex::new(String::new()));
    let seen = body.clone();
    let f = fake::start(move |m, p, b| match (m, p) {
        ("GET", "/api/tags") => Reply::Json(200, data("ollama_tags.json")),
        ("GET", "/api/ps") => Reply::Json(200, data("ollama_ps.json")),
        ("GET", "/api/version") => Reply::Json(200, data("ollama_version.json")),
        ("POST", "/api/generate") => {
            *seen.lock().unwrap() = b.to_string();
            Reply::Json(200, data("ollama_generate.json"))
        }
        _ => Reply::Json(404, "404 page not found".into()),
    });
    (f, body)
}

#[test]
fn ollama_model_settings_and_durations() {
    let (f, body) = ollama();
    let c = Client::new(&f.url, Duration::from_secs(5));
    let info = c.probe(None, None).unwrap();
    assert_eq!(info.api, Api::Ollama);
    // The loaded model (/api/ps), its context and memory.
    let ps = json(&data("ollama_ps.json"));
    assert_eq!(info.model, ps["models"][0]["name"].as_str().unwrap());
    assert_eq!(info.n_ctx, ps["models"][0]["context_length"].as_u64());
    assert_eq!(info.memory, ps["models"][0]["size"].as_u64());
    assert_eq!(info.engine_version.as_deref(), Some("0.5.7"));
    let s = c.complete(&info, "one two three", 259).unwrap();
    let g = json(&data("ollama_generate.json"));
    let secs = |k: &str| g[k].as_f64().unwrap() / 1e9;
    assert_eq!(s.prompt_tokens, g["prompt_eval_count"].as_u64().unwrap());
    assert_eq!(s.generated, g["eval_count"].as_u64().unwrap());
    let prefill = 26.0 / secs("prompt_eval_duration");
    let decode = 259.0 / secs("eval_duration");
    assert!((s.prefill_tps - prefill).abs() < 1e-9, "{s:?}");
    assert!((s.decode_tps.unwrap() - decode).abs() < 1e-9, "{s:?}");
    assert!(s.server_timed);
    // What was asked: the raw prompt, the token count, the server's context.
    let sent = json(&body.lock().unwrap());
    assert_eq!(sent["raw"], true);
    assert_eq!(sent["options"]["num_predict"], 259);
    assert_eq!(sent["options"]["num_ctx"], 4096);
    assert_eq!(sent["model"], "deepseek-r1:7b");
}

#[test]
fn ollama_without_the_model_asked() {
    let (f, _) = ollama();
    let e = Client::new(&f.url, Duration::from_secs(5))
        .probe(None, Some("qwen3:8b"))
        .unwrap_err();
    assert!(matches!(e, BenchError::WrongModel { .. }), "{e}");
    assert!(
        e.to_string().contains("deepseek-r1:7b, llama3.2:latest"),
        "{e}"
    );
}

#[test]
fn vllm_models_and_a_streamed_completion() {
    let body = Arc::new(Mutex::new(String::new()));
    let seen = body.clone();
    let events: Vec<String> = data("vllm_completions_stream.txt")
        .split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: ").map(str::to_string))
        .collect();
    assert_eq!(events.len(), 10);
    let f = fake::start(move |m, p, b| match (m, p) {
        ("GET", "/v1/models") => Reply::Json(200, data("vllm_models.json")),
        ("GET", "/version") => Reply::Json(200, data("vllm_version.json")),
        ("POST", "/v1/completions") => {
            *seen.lock().unwrap() = b.to_string();
            Reply::Sse {
                events: events.clone(),
                delay: Duration::from_millis(10),
            }
        }
        // vLLM has neither llama-server's /props nor Ollama's /api/tags.
        _ => Reply::Json(404, r#"{"detail":"Not Found"}"#.into()),
    });
    let c = Client::new(&f.url, Duration::from_secs(5));
    let info = c.probe(None, None).unwrap();
    assert_eq!(info.api, Api::Completions);
    assert_eq!(info.model, "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B");
    assert_eq!(info.n_ctx, Some(32768));
    assert_eq!(
        (info.engine.as_str(), info.engine_version.as_deref()),
        ("vllm", Some("0.7.0"))
    );
    let s = c.complete(&info, "one two three", 8).unwrap();
    // The usage chunk's counts.
    assert_eq!((s.prompt_tokens, s.generated), (37, 8));
    assert!(!s.server_timed);
    // The server sends a token every 10 ms: the first after ≥ 10 ms, then 7
    // more at about 100 tok/s. Arrival times on a loaded machine can bunch up
    // (a late first chunk shortens the measured gap), so the rate is checked
    // to its order of magnitude, not to the exact 100 tok/s.
    assert!(s.ttft >= 0.010, "{s:?}");
    let d = s.decode_tps.unwrap();
    assert!((20.0..=200.0).contains(&d), "{d}");
    assert!((s.prefill_tps - 37.0 / s.ttft).abs() < 1e-9);
    let sent = json(&body.lock().unwrap());
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["max_tokens"], 8);
    assert_eq!(sent["model"], "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B");
}
