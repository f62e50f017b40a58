//! A tiny HTTP/1.1 server on 127.0.0.1 for the remote-reading tests: real sockets, real
//! HTTP, and hooks to misbehave (ignore ranges, lie about ranges, stall, cut bodies).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/api/models/o/r/tree/main?recursive=true`.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// `(start, end_inclusive)` of a `Range: bytes=a-b` header.
    pub fn range(&self) -> Option<(u64, u64)> {
        let v = self.header("range")?.strip_prefix("bytes=")?;
        let (a, b) = v.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }
}

/// What to answer.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Zero bytes streamed after `body`, generated lazily (a "huge" file costs nothing
    /// unless the client really reads it).
    pub zeros: u64,
    /// Content-Length to announce instead of the real length (to cut a body short).
    pub announce: Option<u64>,
    /// Never answer: hold the connection for this long, then close it.
    pub stall: Option<Duration>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            body: body.into(),
            ..Reply::default()
        }
    }

    pub fn with_header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running server; it lives until the test process ends.
pub struct Server {
    pub base: String,
    /// Every request received, in order.
    pub log: Arc<Mutex<Vec<Request>>>,
    /// Body bytes written to sockets in all.
    pub written: Arc<AtomicU64>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicU64::new(0));
        let (h, l, w) = (handler.clone(), log.clone(), written.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (h, l, w) = (h.clone(), l.clone(), w.clone());
                thread::spawn(move || serve(conn, &*h, &l, &w));
            }
        });
        Server { base, log, written }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().expect("log").clone()
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }
}

fn serve(conn: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>, written: &AtomicU64) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let req = Request {
        method,
        target,
        headers,
    };
    log.lock().expect("log").push(req.clone());
    let reply = handler(&req);
    let mut conn = conn;
    if let Some(d) = reply.stall {
        thread::sleep(d);
        return;
    }
    let len = reply
        .announce
        .unwrap_or(reply.body.len() as u64 + reply.zeros);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {len}\r\nConnection: close\r\n",
        reply.status
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    if req.method == "HEAD" {
        return;
    }
    for block in reply.body.chunks(64 << 10) {
        if conn.write_all(block).is_err() {
            return;
        }
        written.fetch_add(block.len() as u64, Ordering::SeqCst);
    }
    let zeros = [0u8; 64 << 10];
    let mut left = reply.zeros;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        if conn.write_all(&zeros[..n]).is_err() {
            // The client hung up: that is what a bounded reader should do.
            return;
        }
        written.fetch_add(n as u64, Ordering::SeqCst);
        left -= n as u64;
    }
    let _ = conn.flush();
    // Let the client read everything before the close.
    let _ = conn.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 1024];
    let _ = conn.read(&mut sink);
}

/// Serve a virtual file of `size` bytes: `prefix`, then zeros. With `ranges`, honour
/// `Range: bytes=a-b` like a real server (206 + Content-Range, 416 past the end).
pub fn serve_file(req: &Request, prefix: &[u8], size: u64, ranges: bool) -> Reply {
    let range = if ranges { req.range() } else { None };
    let Some((a, b)) = range else {
        return Reply {
            status: 200,
            body: prefix.to_vec(),
            zeros: size.saturating_sub(prefix.len() as u64),
            ..Reply::default()
        }
        .with_header("Accept-Ranges", if ranges { "bytes" } else { "none" });
    };
    if a >= size || b < a {
        return Reply::status(416).with_header("Content-Range", format!("bytes */{size}"));
    }
    let b = b.min(size - 1);
    let p = prefix.len() as u64;
    let body = if a < p {
        prefix[a as usize..(b + 1).min(p) as usize].to_vec()
    } else {
        Vec::new()
    };
    let zeros = (b + 1 - a) - body.len() as u64;
    Reply {
        status: 206,
        body,
        zeros,
        ..Reply::default()
    }
    .with_header("Content-Range", format!("bytes {a}-{b}/{size}"))
    .with_header("ETag", "\"fixture-etag\"")
}
