//! Remote GGUF reading against real HTTP servers on 127.0.0.1: one with Range support,
//! one without, and ones that stall, cut bodies short, lie about ranges or 404.

mod remote_server;

use std::cell::RefCell;
use std::io::Cursor;
use std::time::{Duration, Instant};

use canirun_io::gguf::{self, GgufArray, GgufTensorInfo, GgufValue, GgufValueType, Limits};
use canirun_io::remote::{
    Fetcher, HeaderCache, HttpClient, HttpConfig, ModelSpec, RangeOptions, RangeReader,
    RemoteError, RemoteModel, RemoteOptions,
};
use remote_server::{serve_file, Reply, Server};

const F16: u32 = 1;
const TENSOR_BYTES: u64 = 4096 * 4096 * 2;
const N_TENSORS: u64 = 100;

/// A GGUF header of about 1 MB (a 50k-token vocabulary) describing 100 F16 tensors of
/// 32 MiB: a 3.2 GB model whose tensor data is never served as real bytes.
fn fixture() -> (Vec<u8>, u64) {
    let vocab: Vec<GgufValue> = (0..50_000)
        .map(|i| GgufValue::String(format!("token_{i:06}")))
        .collect();
    let metadata = vec![
        (
            "general.architecture".to_string(),
            GgufValue::String("llama".into()),
        ),
        (
            "llama.block_count".to_string(),
            GgufValue::U32(N_TENSORS as u32),
        ),
        (
            "tokenizer.ggml.tokens".to_string(),
            GgufValue::Array(GgufArray {
                elem_type: GgufValueType::String,
                len: vocab.len() as u64,
                values: vocab,
            }),
        ),
    ];
    let tensors: Vec<GgufTensorInfo> = (0..N_TENSORS)
        .map(|i| GgufTensorInfo {
            name: format!("blk.{i}.ffn_up.weight"),
            dims: vec![4096, 4096],
            ggml_type: F16,
            offset: i * TENSOR_BYTES,
            n_bytes: TENSOR_BYTES,
        })
        .collect();
    let mut buf = Vec::new();
    let data_offset = gguf::write_header(&mut buf, 3, &metadata, &tensors).expect("write");
    (buf, data_offset + N_TENSORS * TENSOR_BYTES)
}

fn opts(cache: Option<HeaderCache>) -> RemoteOptions {
    RemoteOptions {
        http: HttpConfig {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            ..HttpConfig::default()
        },
        cache,
        ..RemoteOptions::default()
    }
}

#[test]
fn range_server_parses_header_and_fetches_little() {
    let (prefix, size) = fixture();
    let local = gguf::read_header(Cursor::new(&prefix), &Limits::default()).expect("local");
    let p = prefix.clone();
    let server = Server::start(move |req| serve_file(req, &p, size, true));

    let seen = RefCell::new(Vec::new());
    let progress = |p: &canirun_io::remote::FetchProgress<'_>| {
        seen.borrow_mut()
            .push((p.fetched, p.total_fetched, p.file_size))
    };
    let fetcher = Fetcher::new(opts(None)).with_progress(&progress);
    let remote = fetcher.gguf_header(&server.url("/m.gguf")).expect("remote");

    assert_eq!(remote.header, local);
    assert_eq!(remote.file_size, Some(size));
    assert!(!remote.from_cache);
    // The header is ~1 MB of a 3.2 GB file: 256K + 512K + 1M chunks at most.
    assert!(remote.bytes_fetched >= local.header_bytes);
    assert!(remote.bytes_fetched < 2 * local.header_bytes + (256 << 10));
    assert!(remote.bytes_fetched * 1000 < size);
    assert!(remote.requests <= 4, "{} requests", remote.requests);
    assert!(server.written() <= remote.bytes_fetched);
    // Growing chunks: each request asks for more than the last.
    let lens: Vec<u64> = server
        .requests()
        .iter()
        .filter_map(|r| r.range().map(|(a, b)| b - a + 1))
        .collect();
    assert_eq!(lens[0], 256 << 10);
    assert!(lens.windows(2).all(|w| w[1] > w[0]), "{lens:?}");
    let seen = seen.into_inner();
    assert_eq!(seen.len(), remote.requests as usize);
    assert_eq!(seen.last().map(|s| s.0), Some(remote.bytes_fetched));
    assert_eq!(seen.last().and_then(|s| s.2), Some(size));
}

#[test]
fn range_reader_reads_a_whole_small_file_and_reports_size() {
    let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let b = body.clone();
    let server = Server::start(move |req| serve_file(req, &b, 1000, true));
    let client = HttpClient::default();
    let opts = RangeOptions {
        first_chunk: 300,
        ..RangeOptions::default()
    };
    let mut r = RangeReader::new(&client, server.url("/x"), None, opts);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut out).expect("read");
    assert_eq!(out, body);
    assert_eq!(r.bytes_fetched(), 1000);
    assert_eq!(r.file_size(), Some(1000));
    // 300 + 600 + the last 100: the final request is clamped to the known size.
    assert_eq!(r.requests(), 3);
}

#[test]
fn server_without_range_within_cap_succeeds_without_downloading_the_file() {
    let (prefix, size) = fixture();
    let p = prefix.clone();
    let server = Server::start(move |req| serve_file(req, &p, size, false));
    let mut o = opts(None);
    o.range.no_range_cap = 4 << 20;
    let start = Instant::now();
    let remote = Fetcher::new(o)
        .gguf_header(&server.url("/m.gguf"))
        .expect("within the cap");
    assert_eq!(remote.header.tensors.len(), N_TENSORS as usize);
    assert!(remote.bytes_fetched <= 4 << 20);
    assert_eq!(remote.file_size, Some(size));
    // Give the server a moment to notice the hang-up, then check it stopped early.
    thread_sleep(200);
    assert!(
        server.written() < 64 << 20,
        "server wrote {} bytes",
        server.written()
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn server_without_range_beyond_cap_fails_clearly() {
    let (prefix, size) = fixture();
    let p = prefix.clone();
    let server = Server::start(move |req| serve_file(req, &p, size, false));
    let mut o = opts(None);
    o.range.no_range_cap = 256 << 10;
    let start = Instant::now();
    let err = Fetcher::new(o)
        .gguf_header(&server.url("/m.gguf"))
        .expect_err("header is bigger than the cap");
    assert!(
        matches!(err, RemoteError::RangeIgnored { cap, .. } if cap == 256 << 10),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("ignores HTTP range requests"), "{msg}");
    assert!(msg.contains("local path"), "{msg}");
    thread_sleep(200);
    assert!(server.written() < 64 << 20, "{}", server.written());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn stalled_server_times_out() {
    let server = Server::start(|_| Reply {
        stall: Some(Duration::from_secs(4)),
        ..Reply::default()
    });
    let mut o = opts(None);
    o.http.read_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = Fetcher::new(o)
        .gguf_header(&server.url("/m.gguf"))
        .expect_err("timeout");
    assert!(matches!(err, RemoteError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn truncated_range_response_is_an_error() {
    let (prefix, size) = fixture();
    let p = prefix.clone();
    // Announce the full range but send only half of it, then close.
    let server = Server::start(move |req| {
        let mut r = serve_file(req, &p, size, true);
        let full = r.body.len() as u64 + r.zeros;
        r.announce = Some(full);
        r.body.truncate(r.body.len() / 2);
        r.zeros = 0;
        r
    });
    let err = Fetcher::new(opts(None))
        .gguf_header(&server.url("/m.gguf"))
        .expect_err("truncated");
    assert!(
        matches!(err, RemoteError::Truncated { expected, got, .. } if expected == 256 << 10 && got == 128 << 10),
        "{err:?}"
    );
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn truncated_full_response_is_an_error() {
    let (prefix, _) = fixture();
    let p = prefix.clone();
    // No range support, Content-Length says 10 MB, 100 KB arrive.
    let server = Server::start(move |_| Reply {
        status: 200,
        body: p[..100_000].to_vec(),
        announce: Some(10_000_000),
        ..Reply::default()
    });
    let err = Fetcher::new(opts(None))
        .gguf_header(&server.url("/m.gguf"))
        .expect_err("truncated");
    assert!(
        matches!(
            err,
            RemoteError::Truncated {
                expected: 10_000_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn wrong_content_range_is_an_error() {
    let server = Server::start(|req| {
        let (a, b) = req.range().unwrap_or((0, 0));
        Reply {
            status: 206,
            body: vec![0; (b - a + 1) as usize],
            ..Reply::default()
        }
        .with_header(
            "Content-Range",
            format!("bytes {}-{}/999999999", a + 10, b + 10),
        )
    });
    let err = Fetcher::new(opts(None))
        .gguf_header(&server.url("/m.gguf"))
        .expect_err("bad range");
    assert!(
        matches!(err, RemoteError::BadContentRange { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Content-Range"), "{err}");
}

#[test]
fn not_found_is_a_clear_error() {
    let server = Server::start(|_| Reply::status(404));
    let err = Fetcher::new(opts(None))
        .gguf_header(&server.url("/missing.gguf"))
        .expect_err("404");
    assert!(
        matches!(err, RemoteError::Status { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn connection_refused_is_a_clear_error() {
    // Bind then drop: the port is (almost certainly) closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let err = Fetcher::new(opts(None))
        .gguf_header(&format!("http://127.0.0.1:{port}/m.gguf"))
        .expect_err("refused");
    assert!(matches!(err, RemoteError::Connect { .. }), "{err:?}");
}

#[test]
fn not_a_gguf_is_a_gguf_error_and_small_file_truncated() {
    let server = Server::start(|req| match req.path() {
        "/html" => serve_file(req, b"<!DOCTYPE html><html>", 21, true),
        _ => serve_file(req, b"GGUF\x03\x00\x00\x00\x01", 9, true),
    });
    let f = Fetcher::new(opts(None));
    let err = f.gguf_header(&server.url("/html")).expect_err("html");
    assert!(matches!(err, RemoteError::Gguf { .. }), "{err:?}");
    let err = f.gguf_header(&server.url("/short")).expect_err("short");
    assert!(
        matches!(
            err,
            RemoteError::Gguf {
                source: gguf::GgufError::Truncated { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn second_read_uses_the_cache() {
    let (prefix, size) = fixture();
    let p = prefix.clone();
    let server = Server::start(move |req| serve_file(req, &p, size, true));
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = HeaderCache::new(dir.path());
    let url = server.url("/cached.gguf");

    let first = Fetcher::new(opts(Some(cache.clone())))
        .gguf_header(&url)
        .expect("first");
    assert!(!first.from_cache && first.bytes_fetched > 0);
    let n_requests = server.requests().len();
    let (bin, json) = cache.paths(&url);
    assert!(bin.exists() && json.exists());
    assert_eq!(
        bin.file_name().and_then(|n| n.to_str()).map(str::len),
        Some(64 + 4)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("sidecar")).expect("json");
    assert_eq!(meta["url"], url.as_str());
    assert_eq!(meta["size"], size);
    assert_eq!(meta["etag"], "\"fixture-etag\"");
    assert!(meta["fetched_at"].as_u64().is_some_and(|t| t > 0));

    let fetcher = Fetcher::new(opts(Some(cache.clone())));
    let second = fetcher.fetch(&ModelSpec::Url(url.clone())).expect("second");
    let RemoteModel::Gguf(model) = second else {
        panic!("not gguf")
    };
    assert!(model.parts[0].from_cache);
    assert_eq!(model.parts[0].bytes_fetched, 0);
    assert_eq!(model.parts[0].header, first.header);
    assert_eq!(model.parts[0].file_size, Some(size));
    assert_eq!(server.requests().len(), n_requests, "no new request");

    // --refresh goes back to the network.
    let mut o = opts(Some(cache));
    o.refresh = true;
    let third = Fetcher::new(o).gguf_header(&url).expect("third");
    assert!(!third.from_cache);
    assert!(server.requests().len() > n_requests);
}

fn thread_sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
