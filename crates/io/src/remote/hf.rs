//! Hugging Face: parsing model references (`hf.co/<owner>/<repo>:<quant>`, URLs),
//! listing a repository's files, and choosing the GGUF files of a quantization or the
//! safetensors files of a model. Selection is pure and tested without a network.

use serde_json::Value;

use super::RemoteError;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where and how to reach the Hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfConfig {
    /// Base URL of the Hub, without a trailing slash (`HF_ENDPOINT`, for mirrors and
    /// tests).
    pub endpoint: String,
    /// Access token for gated or private repositories (`HF_TOKEN`). Sent only to the
    /// endpoint's host.
    pub token: Option<String>,
    /// The branch, tag or commit to read.
    pub revision: String,
}

impl Default for HfConfig {
    fn default() -> Self {
        HfConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token: None,
            revision: "main".to_string(),
        }
    }
}

impl HfConfig {
    /// Settings from `HF_ENDPOINT` and `HF_TOKEN` (or the older
    /// `HUGGING_FACE_HUB_TOKEN`), else the public Hub without a token.
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        HfConfig {
            endpoint: var("HF_ENDPOINT")
                .map(|e| e.trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token: var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")),
            revision: "main".to_string(),
        }
    }

    /// The download URL of `path` in `repo`: `{endpoint}/{repo}/resolve/{revision}/{path}`.
    pub fn resolve_url(&self, repo: &str, path: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            repo,
            encode_path(&self.revision),
            encode_path(path)
        )
    }

    /// The file-listing URL of `repo`.
    pub fn tree_url(&self, repo: &str) -> String {
        format!(
            "{}/api/models/{}/tree/{}?recursive=true",
            self.endpoint,
            repo,
            encode_path(&self.revision)
        )
    }
}

/// What the user asked for, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A Hub repository, with the quantization to pick when it holds GGUF files
    /// (`hf.co/owner/repo:Q4_K_M`).
    HfRepo {
        /// `owner/name`.
        repo: String,
        /// The quantization (`Q4_K_M`), if given.
        quant: Option<String>,
    },
    /// One file of a Hub repository (`https://huggingface.co/o/r/resolve/main/x.gguf`).
    HfFile {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
        /// Path of the file in the repository.
        path: String,
    },
    /// Any other http(s) URL of a GGUF or safetensors file.
    Url(String),
}

const HF_HOSTS: [&str; 3] = ["hf.co", "huggingface.co", "www.huggingface.co"];

/// Parse a model reference. `Ok(None)` means "not remote" (treat it as a local path);
/// `Err` means it looks remote but is malformed.
///
/// Accepted: `hf.co/<owner>/<repo>[:<quant>]`, `huggingface.co/<owner>/<repo>[:<quant>]`,
/// `hf://<owner>/<repo>[:<quant>]`, the same with `https://`, Hub file URLs
/// (`…/resolve/<rev>/<path>`, `…/blob/<rev>/<path>`), `hf.co/<owner>/<repo>/<path>.gguf`,
/// and any other `http(s)://` URL.
pub fn parse_spec(spec: &str) -> Result<Option<ModelSpec>, RemoteError> {
    let s = spec.trim();
    let bad = |reason: &str| RemoteError::BadSpec {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    let lower = s.to_ascii_lowercase();
    let (rest, had_scheme) = if let Some(r) = strip_prefix_ci(s, &lower, "https://") {
        (r, true)
    } else if let Some(r) = strip_prefix_ci(s, &lower, "http://") {
        (r, true)
    } else if let Some(r) = strip_prefix_ci(s, &lower, "hf://") {
        return parse_repo_path(spec, r).map(Some);
    } else {
        (s, false)
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if HF_HOSTS.contains(&host.to_ascii_lowercase().as_str()) {
        if path.is_empty() {
            return Err(bad("name a repository: hf.co/<owner>/<repo>[:<quant>]"));
        }
        return parse_repo_path(spec, path).map(Some);
    }
    if had_scheme {
        if host.is_empty() {
            return Err(bad("the URL has no host"));
        }
        return Ok(Some(ModelSpec::Url(s.to_string())));
    }
    Ok(None)
}

fn strip_prefix_ci<'s>(s: &'s str, lower: &str, prefix: &str) -> Option<&'s str> {
    // `lower` is `s` ASCII-lowercased, so byte offsets agree.
    lower.starts_with(prefix).then(|| &s[prefix.len()..])
}

/// `owner/repo[:quant]`, `owner/repo/resolve/<rev>/<path>`, `owner/repo/<path>`.
fn parse_repo_path(spec: &str, path: &str) -> Result<ModelSpec, RemoteError> {
    let bad = |reason: String| RemoteError::BadSpec {
        spec: spec.to_string(),
        reason,
    };
    // Query strings and fragments (`?download=true`) are not part of the file path.
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (owner, repo_q, rest) = match segs.as_slice() {
        [owner, repo, rest @ ..] => (*owner, *repo, rest),
        _ => {
            return Err(bad(
                "expected <owner>/<repo>, e.g. hf.co/unsloth/Qwen3-8B-GGUF:Q4_K_M".into(),
            ))
        }
    };
    let (repo_name, quant) = match repo_q.split_once(':') {
        Some((r, q)) => (r, Some(q)),
        None => (repo_q, None),
    };
    for (what, v) in [("owner", owner), ("repository", repo_name)] {
        if !valid_name(v) {
            return Err(bad(format!(
                "{v:?} is not a valid {what} name (letters, digits, '-', '_', '.')"
            )));
        }
    }
    let repo = format!("{owner}/{repo_name}");
    if rest.is_empty() {
        let quant = match quant {
            Some(q) if !valid_name(q) => {
                return Err(bad(format!("{q:?} is not a valid quantization name")))
            }
            Some(q) => Some(q.to_string()),
            None => None,
        };
        return Ok(ModelSpec::HfRepo { repo, quant });
    }
    if quant.is_some() {
        return Err(bad(
            "a quantization goes after the repository name only".into()
        ));
    }
    let (revision, file) = match rest {
        [kind, rev, file @ ..] if (*kind == "resolve" || *kind == "blob") && !file.is_empty() => {
            (rev.to_string(), file.join("/"))
        }
        [kind, ..] if *kind == "resolve" || *kind == "blob" || *kind == "tree" => {
            return Err(bad(format!(
                "a {kind} URL must name a file: …/{kind}/<revision>/<file>"
            )))
        }
        file => ("main".to_string(), file.join("/")),
    };
    let file = percent_decode(&file);
    if file.split('/').any(|s| s == "..") {
        return Err(bad("the file path may not contain '..'".into()));
    }
    Ok(ModelSpec::HfFile {
        repo,
        revision,
        path: file,
    })
}

/// Undo URL percent-encoding (`%20`); malformed escapes are kept as written.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Percent-encode a path, keeping `/` and RFC 3986 unreserved characters.
pub(crate) fn encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One file of a repository listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    /// Path in the repository (`DeepSeek-R1-Q4_K_M/DeepSeek-R1-Q4_K_M-00001-of-00009.gguf`).
    pub path: String,
    /// Size in bytes, when the listing gave it (the LFS size for LFS files).
    pub size: Option<u64>,
}

/// Parse one page of the tree API (`[{"type":"file","path":…,"size":…,"lfs":{…}}, …]`),
/// keeping files and dropping directories.
pub fn parse_tree_page(json: &[u8]) -> Result<Vec<RepoFile>, String> {
    let v: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let arr = v.as_array().ok_or("expected a JSON array of files")?;
    let mut out = Vec::new();
    for e in arr {
        if e.get("type").and_then(Value::as_str) == Some("directory") {
            continue;
        }
        let Some(path) = e.get("path").and_then(Value::as_str) else {
            continue;
        };
        let size = e
            .get("lfs")
            .and_then(|l| l.get("size"))
            .and_then(Value::as_u64)
            .or_else(|| e.get("size").and_then(Value::as_u64));
        out.push(RepoFile {
            path: path.to_string(),
            size,
        });
    }
    Ok(out)
}

/// The `rel="next"` target of a `Link` header (the tree API paginates big repos).
pub(crate) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\"") || p.trim() == "rel=next");
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

/// `(stem, part, count)` for a split GGUF file name `stem-00001-of-00005.gguf`.
pub fn split_parts(path: &str) -> Option<(&str, u32, u32)> {
    let lower = path.to_ascii_lowercase();
    if !lower.ends_with(".gguf") {
        return None;
    }
    let base = &path[..path.len() - 5];
    // "-NNNNN-of-MMMMM" is 15 ASCII bytes.
    let tail_start = base.len().checked_sub(15)?;
    let tail = base.get(tail_start..)?.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    if tail[0] != b'-' || &tail[6..10] != b"-of-" || !digits(&tail[1..6]) || !digits(&tail[10..]) {
        return None;
    }
    let part: u32 = std::str::from_utf8(&tail[1..6]).ok()?.parse().ok()?;
    let count: u32 = std::str::from_utf8(&tail[10..]).ok()?.parse().ok()?;
    (part >= 1 && part <= count).then_some((&base[..tail_start], part, count))
}

/// GGUF files of one model: a single file or all parts of a split one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    /// The path with the part number left out, for messages and matching.
    name: String,
    count: u32,
    files: Vec<(u32, RepoFile)>,
}

/// Choose the GGUF file(s) of `quant` (or the only model, or `Q4_K_M`, when no quant
/// is given) from a listing. Split models come back as all their parts in order.
/// Multimodal projector files (`mmproj…`) are never chosen when a model file is there.
pub fn select_gguf(
    repo: &str,
    files: &[RepoFile],
    quant: Option<&str>,
) -> Result<Vec<RepoFile>, RemoteError> {
    let mut groups: Vec<Group> = Vec::new();
    for f in files {
        if !f.path.to_ascii_lowercase().ends_with(".gguf") {
            continue;
        }
        let (name, part, count) = match split_parts(&f.path) {
            Some((stem, part, count)) => (format!("{stem}-*-of-{count:05}.gguf"), part, count),
            None => (f.path.clone(), 1, 1),
        };
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) => g.files.push((part, f.clone())),
            None => groups.push(Group {
                name,
                count,
                files: vec![(part, f.clone())],
            }),
        }
    }
    let is_mmproj = |g: &Group| g.name.to_ascii_lowercase().contains("mmproj");
    if groups.iter().any(|g| !is_mmproj(g)) {
        groups.retain(|g| !is_mmproj(g));
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let names = |gs: &[&Group]| gs.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
    if groups.is_empty() {
        return Err(RemoteError::NoModelFiles {
            repo: repo.to_string(),
            detail: String::new(),
        });
    }
    let all: Vec<&Group> = groups.iter().collect();
    let chosen: &Group = match quant {
        Some(q) => {
            let mut hits: Vec<&Group> = all
                .iter()
                .copied()
                .filter(|g| contains_token(&g.name, q))
                .collect();
            if hits.is_empty() {
                let ql = q.to_ascii_lowercase();
                hits = all
                    .iter()
                    .copied()
                    .filter(|g| g.name.to_ascii_lowercase().contains(&ql))
                    .collect();
            }
            match hits.as_slice() {
                [one] => one,
                [] => {
                    return Err(RemoteError::NoMatchingQuant {
                        repo: repo.to_string(),
                        quant: q.to_string(),
                        available: names(&all),
                    })
                }
                many => {
                    return Err(RemoteError::Ambiguous {
                        repo: repo.to_string(),
                        quant: Some(q.to_string()),
                        candidates: names(many),
                    })
                }
            }
        }
        None => {
            // Ollama and llama.cpp default to Q4_K_M when a repository offers several.
            let default: Vec<&Group> = all
                .iter()
                .copied()
                .filter(|g| contains_token(&g.name, "Q4_K_M"))
                .collect();
            match (all.as_slice(), default.as_slice()) {
                ([one], _) | (_, [one]) => one,
                _ => {
                    return Err(RemoteError::Ambiguous {
                        repo: repo.to_string(),
                        quant: None,
                        candidates: names(&all),
                    })
                }
            }
        }
    };
    let mut parts = chosen.files.clone();
    parts.sort_by_key(|(p, _)| *p);
    parts.dedup_by_key(|(p, _)| *p);
    let missing: Vec<u32> = (1..=chosen.count)
        .filter(|i| !parts.iter().any(|(p, _)| p == i))
        // A hostile listing could claim 99999 parts; naming the first few is enough.
        .take(20)
        .collect();
    if !missing.is_empty() {
        return Err(RemoteError::MissingSplitParts {
            repo: repo.to_string(),
            name: chosen.name.clone(),
            count: chosen.count,
            missing,
        });
    }
    Ok(parts.into_iter().map(|(_, f)| f).collect())
}

/// Whether `hay` contains `needle` (case-insensitively) delimited on both sides by a
/// character that cannot continue a quantization name (not alphanumeric, not `_`), so
/// `Q4_K` does not pick `Q4_K_M`.
fn contains_token(hay: &str, needle: &str) -> bool {
    let hay = hay.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    if needle.is_empty() {
        return false;
    }
    let cont = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    hay.match_indices(&needle).any(|(i, m)| {
        !cont(hay[..i].chars().next_back()) && !cont(hay[i + m.len()..].chars().next())
    })
}

/// Which files of a safetensors repository to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetensorsPlan {
    /// `config.json`, if the repository has one.
    pub config: Option<String>,
    /// `model.safetensors.index.json` for sharded models; the shards are read from it.
    pub index: Option<String>,
    /// The safetensors files (empty when `index` is set: they come from the index).
    pub files: Vec<String>,
}

/// Plan the reading of a safetensors repository, or `None` when it has none.
pub fn plan_safetensors(files: &[RepoFile]) -> Option<SafetensorsPlan> {
    let has = |p: &str| files.iter().any(|f| f.path == p);
    let config = has("config.json").then(|| "config.json".to_string());
    if has("model.safetensors.index.json") {
        return Some(SafetensorsPlan {
            config,
            index: Some("model.safetensors.index.json".into()),
            files: Vec::new(),
        });
    }
    if has("model.safetensors") {
        return Some(SafetensorsPlan {
            config,
            index: None,
            files: vec!["model.safetensors".into()],
        });
    }
    // Top level only: subfolders hold other variants (`original/`, `onnx/`).
    let mut top: Vec<String> = files
        .iter()
        .filter(|f| !f.path.contains('/') && f.path.ends_with(".safetensors"))
        .map(|f| f.path.clone())
        .collect();
    top.sort();
    (!top.is_empty()).then_some(SafetensorsPlan {
        config,
        index: None,
        files: top,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(p: &str) -> RepoFile {
        RepoFile {
            path: p.into(),
            size: None,
        }
    }

    #[test]
    fn specs() {
        let repo = |r: &str, q: Option<&str>| {
            Some(ModelSpec::HfRepo {
                repo: r.into(),
                quant: q.map(Into::into),
            })
        };
        let p = |s: &str| parse_spec(s).expect(s);
        assert_eq!(
            p("hf.co/unsloth/Qwen3-8B-GGUF:Q4_K_M"),
            repo("unsloth/Qwen3-8B-GGUF", Some("Q4_K_M"))
        );
        assert_eq!(p("https://huggingface.co/o/r"), repo("o/r", None));
        assert_eq!(p("huggingface.co/o/r:q8_0"), repo("o/r", Some("q8_0")));
        assert_eq!(p("hf://o/r"), repo("o/r", None));
        assert_eq!(
            p("https://huggingface.co/o/r/blob/main/a%20b/x.gguf?download=true"),
            Some(ModelSpec::HfFile {
                repo: "o/r".into(),
                revision: "main".into(),
                path: "a b/x.gguf".into()
            })
        );
        assert_eq!(
            p("hf.co/o/r/x.gguf"),
            Some(ModelSpec::HfFile {
                repo: "o/r".into(),
                revision: "main".into(),
                path: "x.gguf".into()
            })
        );
        assert_eq!(
            p("https://example.com/m.gguf"),
            Some(ModelSpec::Url("https://example.com/m.gguf".into()))
        );
        assert_eq!(p("models/x.gguf"), None);
        assert_eq!(p("llama3:8b"), None);
        for bad in [
            "hf.co/",
            "hf.co/onlyowner",
            "hf.co/o/r:",
            "hf.co/o/../x",
            "https:///x",
            "hf.co/o/r/resolve/main",
            "hf.co/o/r:Q4/x.gguf",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_names() {
        assert_eq!(
            split_parts("a/M-Q4_K_M-00002-of-00005.gguf"),
            Some(("a/M-Q4_K_M", 2, 5))
        );
        assert_eq!(split_parts("M-00006-of-00005.gguf"), None);
        assert_eq!(split_parts("M-Q4.gguf"), None);
        assert_eq!(split_parts("é.gguf"), None);
    }

    #[test]
    fn selection() {
        let files = [
            f("README.md"),
            f("M-Q4_K_M.gguf"),
            f("M-Q4_K_S.gguf"),
            f("M-IQ4_XS.gguf"),
            f("mmproj-M-F16.gguf"),
            f("M-F16.gguf"),
            f("Q8_0/M-Q8_0-00002-of-00002.gguf"),
            f("Q8_0/M-Q8_0-00001-of-00002.gguf"),
            f("BF16/M-BF16-00001-of-00003.gguf"),
            f("BF16/M-BF16-00003-of-00003.gguf"),
        ];
        let paths = |q: Option<&str>| {
            select_gguf("o/r", &files, q).map(|v| v.into_iter().map(|f| f.path).collect::<Vec<_>>())
        };
        assert_eq!(paths(Some("q4_k_m")).expect("q4km"), ["M-Q4_K_M.gguf"]);
        assert_eq!(paths(None).expect("default"), ["M-Q4_K_M.gguf"]);
        assert_eq!(paths(Some("F16")).expect("f16"), ["M-F16.gguf"]);
        assert_eq!(
            paths(Some("Q8_0")).expect("split"),
            [
                "Q8_0/M-Q8_0-00001-of-00002.gguf",
                "Q8_0/M-Q8_0-00002-of-00002.gguf"
            ]
        );
        assert!(matches!(
            paths(Some("Q4_K")),
            Err(RemoteError::Ambiguous { .. })
        ));
        assert!(matches!(
            paths(Some("Q2_K")),
            Err(RemoteError::NoMatchingQuant { .. })
        ));
        assert!(matches!(
            paths(Some("BF16")),
            Err(RemoteError::MissingSplitParts { ref missing, .. }) if missing == &[2]
        ));
        assert!(matches!(
            select_gguf("o/r", &[f("a.gguf"), f("b.gguf")], None),
            Err(RemoteError::Ambiguous { .. })
        ));
        assert!(select_gguf("o/r", &[f("config.json")], None).is_err());
    }

    #[test]
    fn links_and_urls() {
        assert_eq!(
            next_link("<https://h/api/x?cursor=abc>; rel=\"next\""),
            Some("https://h/api/x?cursor=abc".into())
        );
        assert_eq!(next_link("<https://h/a>; rel=\"prev\""), None);
        let hf = HfConfig {
            endpoint: "http://127.0.0.1:9".into(),
            ..HfConfig::default()
        };
        assert_eq!(
            hf.resolve_url("o/r", "d/a b.gguf"),
            "http://127.0.0.1:9/o/r/resolve/main/d/a%20b.gguf"
        );
    }
}
