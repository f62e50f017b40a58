//! A bounded load test of a running `canirun serve`: N requests at C
//! concurrent keep-alive connections, then the count of non-200 answers, the
//! latency percentiles and the CPU time this generator itself used.
//!
//! The target is one path, or `@FILE` with one path per line: connection `i`
//! starts at line `i` and walks the list, so concurrent requests differ and
//! every line is asked about equally often (a memo of whole answers keyed by
//! the request would not help).
//!
//! It is kept cheap because it shares the machine's cores with the server:
//! one thread (tokio's current-thread runtime), requests encoded once, and
//! answers read into one reused buffer per connection with only the status
//! and Content-Length parsed.
//!
//! cargo run --release -p canirun-web --example load -- 127.0.0.1:8080 '/api/estimate?model=deepseek-r1:32b&gpu=4090' 5000 32

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request on an open connection: the status and the latency. `buf`
/// keeps its capacity between calls; an answer's bytes are not kept.
async fn one(
    conn: &mut TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, Duration)> {
    let t0 = Instant::now();
    conn.write_all(req).await?;
    buf.clear();
    // Read until the end of the headers.
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if conn.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = &buf[..head_end];
    let status = head
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len = head
        .split(|&b| b == b'\n')
        .find_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let want = head_end + len;
    while buf.len() < want {
        if conn.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok((status, t0.elapsed()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// This process's user + system CPU seconds (Linux `/proc/self/stat`, at
/// the usual 100 ticks a second); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: load HOST:PORT PATH|@FILE [REQUESTS=5000] [CONCURRENCY=32]");
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let paths: Vec<String> = match args[2].strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
        None => vec![args[2].clone()],
    };
    if paths.is_empty() {
        eprintln!("{}: no paths", args[2]);
        std::process::exit(2);
    }
    let total: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let conc: usize = args
        .get(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(32)
        .max(1);
    let reqs: Arc<Vec<Vec<u8>>> = Arc::new(
        paths
            .iter()
            .map(|p| format!("GET {p} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes())
            .collect(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..conc {
            let n = total / conc + usize::from(i < total % conc);
            let (addr, reqs) = (addr.clone(), reqs.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = TcpStream::connect(&addr).await?;
                conn.set_nodelay(true)?;
                let mut buf = Vec::with_capacity(64 << 10);
                let mut out = Vec::with_capacity(n);
                for k in 0..n {
                    let req = &reqs[(i + k * conc) % reqs.len()];
                    out.push(one(&mut conn, req, &mut buf).await?);
                }
                Ok::<_, std::io::Error>(out)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await);
        }
        all
    });
    let wall = started.elapsed();
    let cpu = cpu0.zip(cpu_seconds()).map(|(a, b)| b - a);
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0usize;
    for r in results {
        match r {
            Ok(Ok(v)) => {
                for (status, d) in v {
                    if status != 200 {
                        errors += 1;
                    }
                    lat.push(d);
                }
            }
            Ok(Err(e)) => {
                eprintln!("connection failed: {e}");
                errors += 1;
            }
            Err(e) => {
                eprintln!("task failed: {e}");
                errors += 1;
            }
        }
    }
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let what = if paths.len() == 1 {
        paths[0].clone()
    } else {
        format!("{} ({} distinct paths)", args[2], paths.len())
    };
    println!(
        "{what}: {} requests at {conc} concurrent in {:.1} s ({:.0}/s), {errors} not 200; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}; generator CPU {}",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0),
        cpu.map_or("unknown".to_string(), |c| format!(
            "{:.3} ms/request",
            c * 1e3 / lat.len().max(1) as f64
        )),
    );
    if errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}
