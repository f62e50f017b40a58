//! A bounded load test of a running `canirun serve`: N requests at C
//! concurrent keep-alive connections to one path, then the count of non-200
//! answers and the latency percentiles.
//!
//! cargo run --release -p canirun-web --example load -- 127.0.0.1:8080 '/api/estimate?model=deepseek-r1:32b&gpu=4090' 5000 32

use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One request on an open connection: the status and the latency.
async fn one(conn: &mut BufReader<TcpStream>, req: &[u8]) -> std::io::Result<(u16, Duration)> {
    let t0 = Instant::now();
    conn.get_mut().write_all(req).await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).await?;
    Ok((status, t0.elapsed()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: load HOST:PORT PATH [REQUESTS=5000] [CONCURRENCY=32]");
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let path = args[2].clone();
    let total: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let conc: usize = args
        .get(4)
        .and_then(|s| s.parse().ok())
        .unwrap_or(32)
        .max(1);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..conc {
        let n = total / conc + usize::from(i < total % conc);
        let (addr, req) = (addr.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = BufReader::new(TcpStream::connect(&addr).await?);
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(one(&mut conn, &req).await?);
            }
            Ok::<_, std::io::Error>(out)
        }));
    }
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0usize;
    for t in tasks {
        match t.await {
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
    let wall = started.elapsed();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{path}: {} requests at {conc} concurrent in {:.1} s ({:.0}/s), {errors} not 200; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    if errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}
