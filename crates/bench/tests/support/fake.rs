//! A small HTTP server on 127.0.0.1 for tests: each connection in a thread,
//! one request per connection, answered by a handler. Shared by the bench
//! crate's tests and the binary's (`#[path]`-included there).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// What the handler answers.
pub enum Reply {
    /// Status and JSON body.
    Json(u16, String),
    /// Server-sent events, each `data: …` line written after `delay`; `cut`
    /// drops the connection after them without ending the stream.
    Sse {
        /// Event payloads (without `data: `).
        events: Vec<String>,
        /// Pause before each event.
        delay: Duration,
    },
    /// Accept and never answer (until the client gives up).
    Hang,
}

/// A running fake server.
pub struct Fake {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

type Handler = dyn Fn(&str, &str, &str) -> Reply + Send + Sync;

/// Start a server answering `(method, path, body)` with the handler's reply.
pub fn start(handler: impl Fn(&str, &str, &str) -> Reply + Send + Sync + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handler: Arc<Handler> = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let h = handler.clone();
            std::thread::spawn(move || serve(stream, &*h));
        }
    });
    Fake { url }
}

fn serve(mut stream: TcpStream, h: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).to_string();
    match h(&method, &path, &body) {
        Reply::Json(status, text) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
        Reply::Sse { events, delay } => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            );
            for e in events {
                std::thread::sleep(delay);
                if write!(stream, "data: {e}\n\n")
                    .and_then(|_| stream.flush())
                    .is_err()
                {
                    return;
                }
            }
        }
        Reply::Hang => std::thread::sleep(Duration::from_secs(60)),
    }
}

/// Words in the prompt of a completion request: the fake's token count.
pub fn prompt_words(body: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let p = v["prompt"]
        .as_str()
        .or_else(|| v["messages"][0]["content"].as_str())
        .unwrap_or("");
    p.split_whitespace().count() as u64
}

/// An OpenAI-compatible server serving `model`: `/v1/models`, and
/// `/v1/completions` streaming `max_tokens` chunks `delay` apart, then the
/// usage chunk and `[DONE]`; other paths 404.
pub fn openai(model: &'static str, delay: Duration) -> Fake {
    start(move |method, path, body| match (method, path) {
        ("GET", "/v1/models") => Reply::Json(
            200,
            format!(
                r#"{{"object":"list","data":[{{"id":"{model}","object":"model","owned_by":"fake","max_model_len":4096}}]}}"#
            ),
        ),
        ("POST", "/v1/completions") => Reply::Sse {
            events: completion_events(body),
            delay,
        },
        _ => Reply::Json(404, r#"{"error":"not found"}"#.into()),
    })
}

/// The events of one streamed completion answering `body`.
pub fn completion_events(body: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let n = v["max_tokens"].as_u64().unwrap_or(1);
    let mut events: Vec<String> = (0..n)
        .map(|i| {
            let finish = if i + 1 == n { r#""length""# } else { "null" };
            format!(r#"{{"choices":[{{"index":0,"text":" w","finish_reason":{finish}}}]}}"#)
        })
        .collect();
    events.push(format!(
        r#"{{"choices":[],"usage":{{"prompt_tokens":{},"completion_tokens":{n}}}}}"#,
        prompt_words(body)
    ));
    events.push("[DONE]".into());
    events
}
