//! Starting the server to bench: `llama-server …`, `vllm serve …` (started,
//! waited for until `/health` answers 200, stopped when dropped) and
//! `ollama run MODEL` (the Ollama server at `$OLLAMA_HOST`, started with
//! `ollama serve` when nothing answers there; the model is loaded by the
//! first request).

use crate::BenchError;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server canirun started (or found running, for Ollama).
pub struct Spawned {
    child: Option<Child>,
    /// Where it answers.
    pub url: String,
    /// The program's file name.
    pub program: String,
    /// The model to ask for (Ollama's tag), when the command names one.
    pub model: Option<String>,
    log: PathBuf,
}

/// The value after `flag` (or `flag=value`) in `argv`.
fn value_of<'a>(argv: &'a [String], flags: &[&str]) -> Option<&'a str> {
    argv.iter().enumerate().find_map(|(i, a)| {
        flags.iter().find_map(|f| {
            if a == f {
                argv.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(&format!("{f}=")[..])
            }
        })
    })
}

/// A port nothing listens on now.
fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| BenchError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })
}

fn connect_host(h: Option<&str>) -> String {
    match h {
        None | Some("0.0.0.0") | Some("::") | Some("[::]") => "127.0.0.1".into(),
        Some(h) => h.into(),
    }
}

impl Spawned {
    /// Start `argv` and wait at most `ready` for it to answer.
    pub fn start(argv: &[String], ready: Duration) -> Result<Spawned, BenchError> {
        let program = argv
            .first()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
            .unwrap_or_default();
        let mut args: Vec<String> = argv.iter().skip(1).cloned().collect();
        let (url, health, model) =
            if program.starts_with("llama-server") || program == "vllm" || program == "sglang" {
                let port = match value_of(&args, &["--port"]) {
                    Some(p) => p.to_string(),
                    None => {
                        let p = free_port()?.to_string();
                        args.extend(["--port".into(), p.clone()]);
                        p
                    }
                };
                let host = connect_host(value_of(&args, &["--host"]));
                (format!("http://{host}:{port}"), "/health", None)
            } else if program == "ollama" {
                let model = match args.first().map(String::as_str) {
                    Some("run") => args.get(1).cloned(),
                    _ => None,
                };
                let host =
                    std::env::var("OLLAMA_HOST").unwrap_or_else(|_| "127.0.0.1:11434".into());
                let url = if host.starts_with("http") {
                    host
                } else {
                    format!("http://{host}")
                };
                let running = crate::Client::new(&url, Duration::from_secs(3))
                    .get("/api/version")
                    .is_ok();
                if running {
                    return Ok(Spawned {
                        child: None,
                        url,
                        program,
                        model,
                        log: PathBuf::new(),
                    });
                }
                args = vec!["serve".into()];
                (url, "/api/version", model)
            } else {
                return Err(BenchError::UnknownProgram(argv.join(" ")));
            };
        let log = std::env::temp_dir().join(format!(
            "canirun-bench-{}-{}.log",
            std::process::id(),
            program
        ));
        let file = std::fs::File::create(&log).map_err(|source| BenchError::Io {
            path: log.display().to_string(),
            source,
        })?;
        let err = file.try_clone().map_err(|source| BenchError::Io {
            path: log.display().to_string(),
            source,
        })?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&args);
        // llama.cpp prints its buffers (weights, KV, compute per device) at
        // INFO, which llama-server's log shows from verbosity 4 on
        // (common/log.cpp); a -lv on the command line still wins.
        if program.starts_with("llama-server")
            && std::env::var_os("LLAMA_ARG_LOG_VERBOSITY").is_none()
        {
            cmd.env("LLAMA_ARG_LOG_VERBOSITY", "4");
        }
        cmd.stdin(Stdio::null()).stdout(file).stderr(err);
        // Its own process group: Ctrl-C stops canirun's loop, not the server
        // in the middle of a request; canirun stops it afterwards.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|source| BenchError::Spawn {
            program: argv[0].clone(),
            source,
        })?;
        let mut s = Spawned {
            child: Some(child),
            url,
            program,
            model,
            log,
        };
        s.wait_ready(health, ready)?;
        Ok(s)
    }

    fn wait_ready(&mut self, health: &str, ready: Duration) -> Result<(), BenchError> {
        let t0 = Instant::now();
        let client = crate::Client::new(&self.url, Duration::from_secs(2));
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    return Err(BenchError::Exited {
                        program: self.program.clone(),
                        status: status.to_string(),
                        last: self.log_tail(),
                    });
                }
            }
            // llama-server answers 503 while it loads, 200 when ready.
            if client.get(health).is_ok() {
                return Ok(());
            }
            if t0.elapsed() >= ready {
                return Err(BenchError::NeverReady {
                    program: self.program.clone(),
                    secs: ready.as_secs(),
                    last: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// "; its log ends with: LINE", or empty.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
            let _ = f.read_to_string(&mut text);
        }
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!("; its log ends with: {}", l.trim()))
            .unwrap_or_default()
    }

    /// The server's log file (empty path when canirun did not start it).
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    /// The started process's id (`None` for a server canirun found running).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's log so far (stdout and stderr), when canirun started it.
    pub fn log_text(&self) -> Option<String> {
        self.child.as_ref()?;
        let bytes = std::fs::read(&self.log).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Peak resident memory of the started process (Linux: `VmHWM`), bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb * 1024)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
