//! Hugging Face resolution against a fake Hub on 127.0.0.1: a repository of split GGUF
//! files in a folder (listing paginated, resolve URLs redirecting to a "CDN"), and a
//! sharded safetensors repository with config.json and an index.

mod remote_server;

use std::io::Cursor;
use std::time::Duration;

use canirun_io::gguf::{self, GgufTensorInfo, GgufValue, Limits};
use canirun_io::remote::{
    parse_spec, Fetcher, HfConfig, HttpConfig, ModelSpec, RemoteError, RemoteModel, RemoteOptions,
};
use remote_server::{serve_file, Reply, Server};

const TOKEN: &str = "hf_test_token";

/// Part `no` of a 2-part split GGUF: 3 F32 tensors of 1 MiB each.
fn gguf_part(no: u16) -> (Vec<u8>, u64) {
    let metadata = vec![
        (
            "general.architecture".to_string(),
            GgufValue::String("qwen2".into()),
        ),
        ("split.no".to_string(), GgufValue::U16(no - 1)),
        ("split.count".to_string(), GgufValue::U16(2)),
        ("split.tensors.count".to_string(), GgufValue::I32(6)),
    ];
    let tensors: Vec<GgufTensorInfo> = (0..3u64)
        .map(|i| GgufTensorInfo {
            name: format!("blk.{}.w", i + 3 * u64::from(no - 1)),
            dims: vec![512, 512],
            ggml_type: 0,
            offset: i * (1 << 20),
            n_bytes: 1 << 20,
        })
        .collect();
    let mut buf = Vec::new();
    let off = gguf::write_header(&mut buf, 3, &metadata, &tensors).expect("write");
    (buf, off + 3 * (1 << 20))
}

fn st_header(json: &str) -> Vec<u8> {
    let mut v = (json.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v
}

fn fake_hub() -> Server {
    let (p1, s1) = gguf_part(1);
    let (p2, s2) = gguf_part(2);
    let sh1 = st_header(
        r#"{"__metadata__":{"format":"pt"},
            "model.embed_tokens.weight":{"dtype":"BF16","shape":[1000,64],"data_offsets":[0,128000]},
            "model.layers.0.mlp.up_proj.weight":{"dtype":"F8_E4M3","shape":[128,64],"data_offsets":[128000,136192]}}"#,
    );
    let sh2 = st_header(
        r#"{"lm_head.weight":{"dtype":"F32","shape":[1000,64],"data_offsets":[0,256000]},
            "model.norm.weight":{"dtype":"F16","shape":[64],"data_offsets":[256000,256128]}}"#,
    );
    Server::start(move |req| {
        let path = req.path();
        let authed = req.header("authorization") == Some(&format!("Bearer {TOKEN}"));
        match path {
            // Page 1 of the split-GGUF repo's listing links to page 2.
            "/api/models/o/gguf-repo/tree/main" if !req.target.contains("cursor") => {
                let next = "/api/models/o/gguf-repo/tree/main?recursive=true&cursor=2";
                Reply::ok(
                    r#"[{"type":"file","path":"README.md","size":10},
                        {"type":"directory","path":"Q4_K_M"},
                        {"type":"file","path":"Q4_K_M/M-Q4_K_M-00002-of-00002.gguf","size":5,"lfs":{"size":3146752}},
                        {"type":"file","path":"M-Q8_0.gguf","size":5}]"#,
                )
                .with_header("Link", format!("<http://{}{next}>; rel=\"next\"", req.header("host").unwrap_or("")))
            }
            "/api/models/o/gguf-repo/tree/main" => Reply::ok(
                r#"[{"type":"file","path":"Q4_K_M/M-Q4_K_M-00001-of-00002.gguf","size":5},
                    {"type":"file","path":"mmproj-Q4_K_M.gguf","size":5}]"#,
            ),
            "/api/models/o/st-repo/tree/main" => Reply::ok(
                r#"[{"type":"file","path":"config.json"},
                    {"type":"file","path":"model.safetensors.index.json"},
                    {"type":"file","path":"model-00001-of-00002.safetensors"},
                    {"type":"file","path":"model-00002-of-00002.safetensors"},
                    {"type":"directory","path":"original"},
                    {"type":"file","path":"original/consolidated.safetensors"}]"#,
            ),
            "/api/models/o/gated/tree/main" if !authed => Reply::status(401),
            // The Hub redirects GGUF downloads to a CDN on another host (here `localhost`
            // rather than `127.0.0.1`); the token must not follow.
            p if p.starts_with("/o/gguf-repo/resolve/main/") => {
                let port = req
                    .header("host")
                    .and_then(|h| h.rsplit(':').next())
                    .unwrap_or("");
                Reply::status(302).with_header(
                    "Location",
                    format!(
                        "http://localhost:{port}/cdn/{}",
                        &p["/o/gguf-repo/resolve/main/".len()..]
                    ),
                )
            }
            "/cdn/Q4_K_M/M-Q4_K_M-00001-of-00002.gguf" => serve_file(req, &p1, s1, true),
            "/cdn/Q4_K_M/M-Q4_K_M-00002-of-00002.gguf" => serve_file(req, &p2, s2, true),
            "/o/st-repo/resolve/main/config.json" => Reply::ok(
                r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":1}"#,
            ),
            "/o/st-repo/resolve/main/model.safetensors.index.json" => Reply::ok(
                r#"{"metadata":{"total_size":392320},"weight_map":{
                    "model.embed_tokens.weight":"model-00001-of-00002.safetensors",
                    "model.layers.0.mlp.up_proj.weight":"model-00001-of-00002.safetensors",
                    "lm_head.weight":"model-00002-of-00002.safetensors",
                    "model.norm.weight":"model-00002-of-00002.safetensors"}}"#,
            ),
            "/o/st-repo/resolve/main/model-00001-of-00002.safetensors" => {
                serve_file(req, &sh1, sh1.len() as u64 + 136_192, true)
            }
            "/o/st-repo/resolve/main/model-00002-of-00002.safetensors" => {
                serve_file(req, &sh2, sh2.len() as u64 + 256_128, true)
            }
            _ => Reply::status(404),
        }
    })
}

fn opts(server: &Server, token: Option<&str>) -> RemoteOptions {
    RemoteOptions {
        http: HttpConfig {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            ..HttpConfig::default()
        },
        hf: HfConfig {
            endpoint: server.base.clone(),
            token: token.map(str::to_string),
            ..HfConfig::default()
        },
        ..RemoteOptions::default()
    }
}

fn spec(s: &str) -> ModelSpec {
    parse_spec(s).expect("parse").expect("remote")
}

#[test]
fn split_gguf_repo_by_quant() {
    let hub = fake_hub();
    let fetcher = Fetcher::new(opts(&hub, Some(TOKEN)));
    let model = fetcher
        .fetch(&spec("hf.co/o/gguf-repo:q4_k_m"))
        .expect("fetch");
    let RemoteModel::Gguf(model) = model else {
        panic!("expected GGUF")
    };
    assert_eq!(model.parts.len(), 2);
    for (i, part) in model.parts.iter().enumerate() {
        let (bytes, size) = gguf_part(i as u16 + 1);
        let local = gguf::read_header(Cursor::new(&bytes), &Limits::default()).expect("local");
        assert_eq!(part.header, local);
        assert_eq!(part.file_size, Some(size));
        assert!(part.url.ends_with(&format!(
            "/o/gguf-repo/resolve/main/Q4_K_M/M-Q4_K_M-0000{}-of-00002.gguf",
            i + 1
        )));
    }
    assert_eq!(model.tensor_bytes_total(), 6 << 20);
    let reqs = hub.requests();
    assert_eq!(
        fetcher.bytes_fetched(),
        model.bytes_fetched() + listing_bytes(&hub)
    );

    // Both listing pages were read, with the token.
    let listing: Vec<_> = reqs
        .iter()
        .filter(|r| r.path().starts_with("/api/"))
        .collect();
    assert_eq!(listing.len(), 2);
    assert!(listing
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")[..])));
    assert!(listing[0].target.contains("recursive=true"));
    // The Hub got the token; the CDN it redirected to did not; and after the first
    // redirect the reader went to the CDN directly.
    let resolve: Vec<_> = reqs
        .iter()
        .filter(|r| r.path().contains("/resolve/"))
        .collect();
    assert_eq!(resolve.len(), 2, "one redirect per file");
    assert!(resolve.iter().all(|r| r.header("authorization").is_some()));
    assert!(reqs
        .iter()
        .filter(|r| r.path().starts_with("/cdn/"))
        .all(|r| r.header("authorization").is_none() && r.header("range").is_some()));
}

fn listing_bytes(hub: &Server) -> u64 {
    // Bodies of the two listing pages, as served (their lengths are fixed above).
    let f = Fetcher::new(opts(hub, None));
    let before = f.bytes_fetched();
    let _ = f.hf_files("o/gguf-repo");
    f.bytes_fetched() - before
}

#[test]
fn quant_errors_name_the_choices() {
    let hub = fake_hub();
    let fetcher = Fetcher::new(opts(&hub, None));
    let err = fetcher
        .fetch(&spec("hf.co/o/gguf-repo:Q2_K"))
        .expect_err("no such quant");
    let msg = err.to_string();
    assert!(
        matches!(err, RemoteError::NoMatchingQuant { .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("M-Q8_0.gguf") && msg.contains("Q4_K_M/M-Q4_K_M-*-of-00002.gguf"),
        "{msg}"
    );
    assert!(!msg.contains("mmproj"), "{msg}");
    // Without a quant, Q4_K_M is the default (as in Ollama and llama.cpp).
    let RemoteModel::Gguf(m) = fetcher
        .fetch(&spec("huggingface.co/o/gguf-repo"))
        .expect("default")
    else {
        panic!("expected GGUF")
    };
    assert_eq!(m.parts.len(), 2);
}

#[test]
fn sharded_safetensors_repo() {
    let hub = fake_hub();
    let fetcher = Fetcher::new(opts(&hub, None));
    let RemoteModel::Safetensors(m) = fetcher
        .fetch(&spec("https://huggingface.co/o/st-repo"))
        .expect("fetch")
    else {
        panic!("expected safetensors")
    };
    let config = m.config.as_ref().expect("config");
    assert_eq!(config["hidden_size"], 64);
    let got: Vec<(&str, &str, u64, Option<&str>)> = m
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.dtype.as_str(),
                t.bytes,
                t.file.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "lm_head.weight",
                "F32",
                256_000,
                Some("model-00002-of-00002.safetensors")
            ),
            (
                "model.embed_tokens.weight",
                "BF16",
                128_000,
                Some("model-00001-of-00002.safetensors")
            ),
            (
                "model.layers.0.mlp.up_proj.weight",
                "F8_E4M3",
                8_192,
                Some("model-00001-of-00002.safetensors")
            ),
            (
                "model.norm.weight",
                "F16",
                128,
                Some("model-00002-of-00002.safetensors")
            ),
        ]
    );
    assert_eq!(m.tensor_bytes_total(), 392_320);
    assert_eq!(m.tensors[1].shape, [1000, 64]);
    assert_eq!(m.files.len(), 2);
    // Small files: one 256 KiB range request covers header and all.
    assert!(m
        .files
        .iter()
        .all(|f| Some(f.bytes_fetched) == f.file_size.map(|s| s.min(256 << 10))));
    // The `original/` variant is not read.
    assert!(hub
        .requests()
        .iter()
        .all(|r| !r.path().contains("original")));
}

#[test]
fn safetensors_with_quant_and_gated_and_missing_repos() {
    let hub = fake_hub();
    let fetcher = Fetcher::new(opts(&hub, None));
    let err = fetcher
        .fetch(&spec("hf.co/o/st-repo:Q4_K_M"))
        .expect_err("quant");
    assert!(matches!(err, RemoteError::BadSpec { .. }), "{err:?}");
    let err = fetcher.fetch(&spec("hf.co/o/gated")).expect_err("gated");
    assert!(
        matches!(err, RemoteError::Status { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("HF_TOKEN"), "{err}");
    let err = fetcher.fetch(&spec("hf.co/o/nope")).expect_err("missing");
    assert!(
        matches!(err, RemoteError::Status { status: 404, .. }),
        "{err:?}"
    );
}

#[test]
fn token_is_not_sent_to_other_hosts() {
    let hub = fake_hub();
    let other = Server::start(|req| {
        let (p, s) = gguf_part(1);
        serve_file(req, &p, s, true)
    });
    let fetcher = Fetcher::new(opts(&hub, Some(TOKEN)));
    // 127.0.0.1 vs localhost: another authority than the endpoint's.
    let url = other.url("/x.gguf").replace("127.0.0.1", "localhost");
    fetcher.gguf_header(&url).expect("fetch");
    assert!(other
        .requests()
        .iter()
        .all(|r| r.header("authorization").is_none()));
}
