//! The server under test: which API it speaks, which model it serves, and one
//! timed completion.
//!
//! * llama-server's native API (`/props`, `/completion` with its `timings`):
//!   <https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md>
//! * Ollama (`/api/tags`, `/api/ps`, `/api/generate` with its durations):
//!   <https://github.com/ollama/ollama/blob/main/docs/api.md>
//! * OpenAI-compatible `/v1/models`, `/v1/completions`, `/v1/chat/completions`
//!   streamed as server-sent events (vLLM, SGLang, LM Studio, llama-server):
//!   <https://platform.openai.com/docs/api-reference/completions>,
//!   <https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html>

use crate::BenchError;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

/// The API a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// llama-server's `/completion`.
    LlamaServer,
    /// Ollama's `/api/generate`.
    Ollama,
    /// OpenAI-compatible `/v1/completions`.
    Completions,
    /// OpenAI-compatible `/v1/chat/completions`.
    Chat,
}

impl Api {
    /// The name used in flags and output.
    pub fn name(self) -> &'static str {
        match self {
            Api::LlamaServer => "llama-server",
            Api::Ollama => "ollama",
            Api::Completions => "completions",
            Api::Chat => "chat",
        }
    }

    /// Read a flag's value.
    pub fn from_name(s: &str) -> Option<Api> {
        [Api::LlamaServer, Api::Ollama, Api::Completions, Api::Chat]
            .into_iter()
            .find(|a| a.name() == s)
    }
}

/// What the server says it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// The API used for the measurement.
    pub api: Api,
    /// The model name to send (Ollama tag, OpenAI model id, llama-server's alias).
    pub model: String,
    /// The model file, when the server tells it (llama-server's `model_path`).
    pub model_path: Option<String>,
    /// The context size the server runs, when it tells it.
    pub n_ctx: Option<u64>,
    /// Engine name for the history: llama.cpp, ollama, or what `/v1/models` says owns the model.
    pub engine: String,
    /// The engine's version or build, when it tells it.
    pub engine_version: Option<String>,
    /// Memory the server reports for the loaded model (Ollama's `/api/ps` size), bytes.
    pub memory: Option<u64>,
}

/// One timed completion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Prompt tokens the server processed (its own count).
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generated: u64,
    /// Time to the first generated token, seconds.
    pub ttft: f64,
    /// Prompt tokens per second.
    pub prefill_tps: f64,
    /// Generated tokens per second after the first (`None` below two tokens).
    pub decode_tps: Option<f64>,
    /// Whether the times are the server's own (`timings`, Ollama's durations)
    /// rather than measured here from the stream.
    pub server_timed: bool,
}

/// A connection to one server, with bounded time for everything.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    timeout: Duration,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`); every request
    /// ends within `timeout`, connecting within 5 s.
    pub fn new(base: &str, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(Duration::from_secs(5).min(timeout)))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent,
            timeout,
        }
    }

    /// The endpoint.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn map_err(&self, url: &str, e: ureq::Error) -> BenchError {
        match e {
            ureq::Error::Timeout(_) => BenchError::Timeout {
                url: url.into(),
                secs: self.timeout.as_secs(),
            },
            ureq::Error::Io(io) if is_cut(&io) => BenchError::StreamCut {
                url: url.into(),
                detail: io.to_string(),
            },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                BenchError::Timeout {
                    url: url.into(),
                    secs: self.timeout.as_secs(),
                }
            }
            e
            @ (ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Io(_)) => {
                BenchError::Unreachable {
                    url: self.base.clone(),
                    detail: e.to_string(),
                }
            }
            e => BenchError::BadAnswer {
                url: url.into(),
                detail: e.to_string(),
            },
        }
    }

    /// Check the status; an error status becomes [`BenchError::Status`] with
    /// the start of the body (servers say "model not found" there).
    fn checked(
        &self,
        url: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, BenchError> {
        let mut r = r.map_err(|e| self.map_err(url, e))?;
        let status = r.status().as_u16();
        if status >= 400 {
            let body = r
                .body_mut()
                .with_config()
                .limit(4096)
                .read_to_string()
                .unwrap_or_default();
            let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            let message = if line.is_empty() {
                String::new()
            } else {
                format!(": {}", line.chars().take(200).collect::<String>())
            };
            return Err(BenchError::Status {
                url: url.into(),
                status,
                message,
            });
        }
        Ok(r)
    }

    fn read_json(
        &self,
        url: &str,
        r: ureq::http::Response<ureq::Body>,
    ) -> Result<Value, BenchError> {
        let text = r
            .into_body()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .map_err(|e| self.map_err(url, e))?;
        serde_json::from_str(&text).map_err(|e| {
            if e.is_eof() {
                BenchError::StreamCut {
                    url: url.into(),
                    detail: format!("incomplete JSON after {} bytes", text.len()),
                }
            } else {
                BenchError::BadAnswer {
                    url: url.into(),
                    detail: format!("not JSON ({e})"),
                }
            }
        })
    }

    /// GET `path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, BenchError> {
        let url = self.url(path);
        let r = self.checked(&url, self.agent.get(&url).call())?;
        self.read_json(&url, r)
    }

    fn post(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<ureq::http::Response<ureq::Body>, BenchError> {
        let url = self.url(path);
        self.checked(
            &url,
            self.agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.to_string()),
        )
    }

    /// Which API the server speaks and which model it serves: `api` and
    /// `model` when given (the model is checked against what the server
    /// lists), else asked (`/props`, `/api/tags` with `/api/ps`, `/v1/models`).
    pub fn probe(&self, api: Option<Api>, model: Option<&str>) -> Result<ServerInfo, BenchError> {
        let order: Vec<Api> = match api {
            Some(a) => vec![a],
            None => vec![Api::LlamaServer, Api::Ollama, Api::Completions],
        };
        let mut last = None;
        for a in order {
            let got = match a {
                Api::LlamaServer => self.probe_llama_server(),
                Api::Ollama => self.probe_ollama(model),
                Api::Completions | Api::Chat => self.probe_openai(a, model),
            };
            match got {
                Ok(mut info) => {
                    if let Some(m) = model {
                        if info.api == Api::LlamaServer {
                            // llama-server serves one model whatever the request names.
                            check_llama_model(&self.base, &info, m)?;
                        }
                        info.model = m.to_string();
                    }
                    return Ok(info);
                }
                // A refused connection is the answer for every API.
                Err(e @ (BenchError::Unreachable { .. } | BenchError::Timeout { .. })) => {
                    return Err(e)
                }
                Err(e @ BenchError::WrongModel { .. }) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e @ BenchError::Status { status, .. }) if status >= 500 || api.is_some() => Err(e),
            Some(e) if api.is_some() => Err(e),
            _ => Err(BenchError::NoApi {
                url: self.base.clone(),
            }),
        }
    }

    fn probe_llama_server(&self) -> Result<ServerInfo, BenchError> {
        let url = self.url("/props");
        let v = self.get("/props")?;
        let settings = v.get("default_generation_settings");
        if settings.is_none() && v.get("model_path").is_none() {
            return Err(BenchError::BadAnswer {
                url,
                detail: "no default_generation_settings".into(),
            });
        }
        let model_path = v["model_path"].as_str().map(str::to_string);
        let n_ctx = settings
            .and_then(|s| s.get("n_ctx"))
            .and_then(Value::as_u64)
            .or_else(|| v["n_ctx"].as_u64());
        let model = model_path
            .as_deref()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
            .unwrap_or_else(|| "default".into());
        Ok(ServerInfo {
            api: Api::LlamaServer,
            model,
            model_path,
            n_ctx,
            engine: "llama.cpp".into(),
            engine_version: v["build_info"].as_str().map(str::to_string),
            memory: None,
        })
    }

    fn probe_ollama(&self, model: Option<&str>) -> Result<ServerInfo, BenchError> {
        let tags = self.get("/api/tags")?;
        let names: Vec<String> = tags["models"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if tags.get("models").is_none() {
            return Err(BenchError::BadAnswer {
                url: self.url("/api/tags"),
                detail: "no models list".into(),
            });
        }
        // The loaded model, with the memory it takes (best effort: /api/ps is newer).
        let ps = self.get("/api/ps").ok();
        let loaded = ps
            .as_ref()
            .and_then(|p| p["models"].as_array())
            .cloned()
            .unwrap_or_default();
        let chosen = match model {
            Some(m) => {
                if !names
                    .iter()
                    .any(|n| n == m || n.strip_suffix(":latest") == Some(m))
                {
                    return Err(BenchError::WrongModel {
                        url: self.base.clone(),
                        asked: m.into(),
                        served: list(&names),
                    });
                }
                m.to_string()
            }
            None => loaded
                .first()
                .and_then(|m| m["name"].as_str())
                .map(str::to_string)
                .or_else(|| (names.len() == 1).then(|| names[0].clone()))
                .ok_or_else(|| BenchError::WrongModel {
                    url: self.base.clone(),
                    asked: "(none named; pass --model)".into(),
                    served: list(&names),
                })?,
        };
        let entry = loaded
            .iter()
            .find(|m| m["name"].as_str() == Some(chosen.as_str()));
        let version = self.get("/api/version").ok();
        Ok(ServerInfo {
            api: Api::Ollama,
            model: chosen,
            model_path: None,
            n_ctx: entry.and_then(|m| m["context_length"].as_u64()),
            engine: "ollama".into(),
            engine_version: version.and_then(|v| v["version"].as_str().map(str::to_string)),
            memory: entry.and_then(|m| m["size"].as_u64()),
        })
    }

    fn probe_openai(&self, api: Api, model: Option<&str>) -> Result<ServerInfo, BenchError> {
        let url = self.url("/v1/models");
        let v = self.get("/v1/models")?;
        let data = v["data"].as_array().ok_or_else(|| BenchError::BadAnswer {
            url: url.clone(),
            detail: "no data list".into(),
        })?;
        let ids: Vec<String> = data
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect();
        let chosen = match model {
            Some(m) if ids.iter().any(|i| i == m) => m.to_string(),
            Some(m) => {
                return Err(BenchError::WrongModel {
                    url: self.base.clone(),
                    asked: m.into(),
                    served: list(&ids),
                })
            }
            None => ids.first().cloned().ok_or_else(|| BenchError::BadAnswer {
                url,
                detail: "no model listed".into(),
            })?,
        };
        let entry = data
            .iter()
            .find(|m| m["id"].as_str() == Some(chosen.as_str()));
        let owner = entry
            .and_then(|m| m["owned_by"].as_str())
            .unwrap_or("openai-compatible");
        // vLLM answers GET /version.
        let version = self
            .get("/version")
            .ok()
            .and_then(|v| v["version"].as_str().map(str::to_string));
        Ok(ServerInfo {
            api,
            model: chosen,
            model_path: None,
            n_ctx: entry.and_then(|m| m["max_model_len"].as_u64()),
            engine: owner.to_string(),
            engine_version: version,
            memory: None,
        })
    }

    /// One completion of `prompt` generating `n_predict` tokens, timed.
    pub fn complete(
        &self,
        info: &ServerInfo,
        prompt: &str,
        n_predict: u64,
    ) -> Result<Sample, BenchError> {
        match info.api {
            Api::LlamaServer => self.complete_llama(prompt, n_predict),
            Api::Ollama => self.complete_ollama(info, prompt, n_predict),
            Api::Completions | Api::Chat => self.complete_openai(info, prompt, n_predict),
        }
    }

    fn complete_llama(&self, prompt: &str, n_predict: u64) -> Result<Sample, BenchError> {
        let url = self.url("/completion");
        let body = json!({
            "prompt": prompt, "n_predict": n_predict, "cache_prompt": false,
            "ignore_eos": true, "temperature": 0.0, "stream": false,
        });
        let r = self.post("/completion", &body)?;
        let v = self.read_json(&url, r)?;
        timings(&url, &v["timings"]).ok_or_else(|| BenchError::BadAnswer {
            url,
            detail: "no timings".into(),
        })
    }

    fn complete_ollama(
        &self,
        info: &ServerInfo,
        prompt: &str,
        n_predict: u64,
    ) -> Result<Sample, BenchError> {
        let url = self.url("/api/generate");
        let mut options = json!({ "num_predict": n_predict, "temperature": 0.0 });
        if let Some(c) = info.n_ctx {
            options["num_ctx"] = json!(c);
        }
        let body = json!({
            "model": info.model, "prompt": prompt, "raw": true, "stream": false, "options": options,
        });
        let r = self.post("/api/generate", &body)?;
        let v = self.read_json(&url, r)?;
        if v["done"].as_bool() != Some(true) {
            return Err(BenchError::StreamCut {
                url,
                detail: "no \"done\": true".into(),
            });
        }
        ollama_sample(&v).ok_or_else(|| BenchError::BadAnswer {
            url,
            detail: "no prompt_eval_count/prompt_eval_duration".into(),
        })
    }

    fn complete_openai(
        &self,
        info: &ServerInfo,
        prompt: &str,
        n_predict: u64,
    ) -> Result<Sample, BenchError> {
        let (path, mut body) = match info.api {
            Api::Chat => (
                "/v1/chat/completions",
                json!({ "messages": [{ "role": "user", "content": prompt }] }),
            ),
            _ => ("/v1/completions", json!({ "prompt": prompt })),
        };
        let url = self.url(path);
        for (k, v) in [
            ("model", json!(info.model)),
            ("max_tokens", json!(n_predict)),
            ("temperature", json!(0.0)),
            ("stream", json!(true)),
            ("stream_options", json!({ "include_usage": true })),
            // vLLM, SGLang and llama-server honour it; others ignore it.
            ("ignore_eos", json!(true)),
        ] {
            body[k] = v;
        }
        let sent = Instant::now();
        let r = self.post(path, &body)?;
        let mut reader = BufReader::new(r.into_body().into_reader());
        let mut stream = StreamTimes::default();
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| self.map_err(&url, ureq::Error::Io(e)))?;
            if n == 0 {
                break;
            }
            if stream
                .line(line.trim(), sent.elapsed().as_secs_f64())
                .map_err(|detail| BenchError::BadAnswer {
                    url: url.clone(),
                    detail,
                })?
            {
                // Drain nothing more: [DONE] ends the stream.
                let _ = reader.read_to_end(&mut Vec::new());
                break;
            }
        }
        stream
            .sample()
            .map_err(|detail| BenchError::StreamCut { url, detail })
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no model".into()
    } else {
        names.join(", ")
    }
}

/// llama-server serves one model: the name asked must be its file or alias.
fn check_llama_model(url: &str, info: &ServerInfo, asked: &str) -> Result<(), BenchError> {
    let path = info.model_path.as_deref().unwrap_or("");
    let stem = |s: &str| {
        let f = s.rsplit('/').next().unwrap_or(s);
        f.strip_suffix(".gguf").unwrap_or(f).to_ascii_lowercase()
    };
    if path.is_empty() || stem(path) == stem(asked) || info.model == asked {
        return Ok(());
    }
    Err(BenchError::WrongModel {
        url: url.into(),
        asked: asked.into(),
        served: path.into(),
    })
}

fn is_cut(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// llama-server's `timings` object (native API, and the last chunk of its
/// OpenAI-compatible stream).
fn timings(_url: &str, t: &Value) -> Option<Sample> {
    let prompt_n = t["prompt_n"].as_u64()?;
    let prompt_ms = t["prompt_ms"].as_f64()?;
    let predicted_n = t["predicted_n"].as_u64().unwrap_or(0);
    let predicted_ms = t["predicted_ms"].as_f64().unwrap_or(0.0);
    let per_token = if predicted_n > 0 {
        predicted_ms / predicted_n as f64
    } else {
        0.0
    };
    Some(Sample {
        prompt_tokens: prompt_n,
        generated: predicted_n,
        ttft: (prompt_ms + per_token) / 1e3,
        prefill_tps: if prompt_ms > 0.0 {
            prompt_n as f64 * 1e3 / prompt_ms
        } else {
            0.0
        },
        // llama-server times the first token as part of generation, so the
        // rate over all predicted tokens is the decode rate.
        decode_tps: (predicted_n >= 2 && predicted_ms > 0.0)
            .then(|| predicted_n as f64 * 1e3 / predicted_ms),
        server_timed: true,
    })
}

/// Ollama's final `/api/generate` object: counts and nanosecond durations.
pub fn ollama_sample(v: &Value) -> Option<Sample> {
    let pn = v["prompt_eval_count"].as_u64()?;
    let pd = v["prompt_eval_duration"].as_f64()? / 1e9;
    let en = v["eval_count"].as_u64().unwrap_or(0);
    let ed = v["eval_duration"].as_f64().unwrap_or(0.0) / 1e9;
    Some(Sample {
        prompt_tokens: pn,
        generated: en,
        ttft: pd + if en > 0 { ed / en as f64 } else { 0.0 },
        prefill_tps: if pd > 0.0 { pn as f64 / pd } else { 0.0 },
        decode_tps: (en >= 2 && ed > 0.0).then(|| en as f64 / ed),
        server_timed: true,
    })
}

/// The times of an OpenAI-compatible server-sent event stream.
#[derive(Debug, Default)]
pub struct StreamTimes {
    first: Option<f64>,
    last: f64,
    chunks: u64,
    usage: Option<(u64, u64)>,
    timings: Option<Sample>,
    done: bool,
    finished: bool,
}

impl StreamTimes {
    /// Read one line received `at` seconds after the request was sent;
    /// `Ok(true)` at `data: [DONE]`.
    pub fn line(&mut self, line: &str, at: f64) -> Result<bool, String> {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            return Ok(false);
        };
        if data == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| format!("an event is not JSON ({e})"))?;
        if let Some(e) = v.get("error") {
            return Err(format!("the server sent an error: {e}"));
        }
        if let Some(c) = v["choices"].as_array().and_then(|c| c.first()) {
            let text = c["text"]
                .as_str()
                .or_else(|| c["delta"]["content"].as_str())
                .or_else(|| c["delta"]["reasoning_content"].as_str())
                .unwrap_or("");
            if !text.is_empty() {
                self.first.get_or_insert(at);
                self.last = at;
                self.chunks += 1;
            }
            if !c["finish_reason"].is_null() {
                self.finished = true;
            }
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            if let (Some(p), Some(c)) =
                (u["prompt_tokens"].as_u64(), u["completion_tokens"].as_u64())
            {
                self.usage = Some((p, c));
            }
        }
        if let Some(t) = v.get("timings") {
            self.timings = timings("", t);
        }
        Ok(false)
    }

    /// The sample, or what is missing for one (the stream was cut).
    pub fn sample(&self) -> Result<Sample, String> {
        if !self.done && !self.finished {
            return Err(format!(
                "{} tokens arrived, then the stream ended without finish_reason or [DONE]",
                self.chunks
            ));
        }
        if let Some(t) = self.timings {
            return Ok(t);
        }
        let first = self.first.ok_or("no token arrived")?;
        let (prompt, generated) = self.usage.ok_or(
            "the server sent no usage (prompt_tokens); it needs stream_options.include_usage",
        )?;
        let generated = generated.max(self.chunks);
        Ok(Sample {
            prompt_tokens: prompt,
            generated,
            ttft: first,
            prefill_tps: if first > 0.0 {
                prompt as f64 / first
            } else {
                0.0
            },
            // Chunks after the first arrive at the decode rate; a server may
            // pack several tokens in one chunk, so count tokens, not chunks.
            decode_tps: (generated >= 2 && self.last > first)
                .then(|| (generated - 1) as f64 / (self.last - first)),
            server_timed: false,
        })
    }
}
