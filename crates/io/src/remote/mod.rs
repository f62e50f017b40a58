//! Remote models, header only: GGUF and safetensors headers read over HTTP with range
//! requests, from a URL or a Hugging Face repository (`hf.co/<owner>/<repo>:<quant>`).
//!
//! Only the first megabytes of a file cross the network, however large the model; a
//! server that ignores `Range` is read up to a bounded cap and then refused, never
//! downloaded whole. Fetched header bytes are cached on disk (see [`HeaderCache`]) so a
//! second look at the same model needs no network.
//!
//! Entry points:
//! - [`parse_spec`]: is this command-line argument a remote model, and which?
//! - [`Fetcher::fetch`]: fetch the headers of a parsed [`ModelSpec`].
//! - [`Fetcher::gguf_header`] / [`Fetcher::safetensors_header`]: one file by URL.
//! - [`RangeReader`]: a `Read` over an HTTP URL, for any other header format.

mod cache;
mod error;
mod hf;
mod http;
mod range_reader;
pub mod safetensors;

use std::cell::Cell;
use std::io::Cursor;

pub use cache::{CacheMeta, CachedPrefix, HeaderCache, CACHE_DIR_ENV};
pub use error::RemoteError;
pub use hf::{
    parse_spec, parse_tree_page, plan_safetensors, select_gguf, split_parts, HfConfig, ModelSpec,
    RepoFile, SafetensorsPlan, DEFAULT_ENDPOINT,
};
pub use http::{is_public_ip, HttpClient, HttpConfig};
pub use range_reader::{FetchProgress, ProgressFn, RangeOptions, RangeReader};
pub use safetensors::SafeTensor;

use crate::gguf::{self, GgufHeader, Limits};
use range_reader::authority;

/// Largest JSON document accepted (API listings, config.json, index files).
const MAX_DOC_BYTES: u64 = 32 << 20;

/// Most pages of a repository listing followed (the Hub pages big repositories).
const MAX_LIST_PAGES: usize = 100;

/// Everything that shapes a fetch.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// HTTP timeouts and User-Agent.
    pub http: HttpConfig,
    /// Range chunk sizes and caps.
    pub range: RangeOptions,
    /// Hub endpoint, token and revision.
    pub hf: HfConfig,
    /// The header cache; `None` disables it.
    pub cache: Option<HeaderCache>,
    /// Ignore cached entries (but refresh them with what is fetched).
    pub refresh: bool,
    /// Caps for the GGUF parser.
    pub limits: Limits,
}

impl Default for RemoteOptions {
    /// Defaults without a cache and for the public Hub, ignoring the environment.
    fn default() -> Self {
        RemoteOptions {
            http: HttpConfig::default(),
            range: RangeOptions::default(),
            hf: HfConfig::default(),
            cache: None,
            refresh: false,
            limits: Limits::default(),
        }
    }
}

impl RemoteOptions {
    /// Defaults, with the Hub settings from `HF_ENDPOINT`/`HF_TOKEN` and the cache in
    /// [`HeaderCache::default_dir`].
    pub fn from_env() -> Self {
        RemoteOptions {
            hf: HfConfig::from_env(),
            cache: HeaderCache::from_env(),
            ..RemoteOptions::default()
        }
    }
}

/// The header of one remote GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteGguf {
    /// The URL it was read from.
    pub url: String,
    /// The parsed header.
    pub header: GgufHeader,
    /// The file's size, when the server (or the cache) said.
    pub file_size: Option<u64>,
    /// Bytes fetched from the network for it (0 when served from the cache).
    pub bytes_fetched: u64,
    /// HTTP requests made for it.
    pub requests: u32,
    /// Whether the header came from the local cache.
    pub from_cache: bool,
}

/// The header of one remote safetensors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSafetensorsFile {
    /// The URL it was read from.
    pub url: String,
    /// Its tensors, in name order, with `file` unset.
    pub tensors: Vec<SafeTensor>,
    /// The file's size, when known.
    pub file_size: Option<u64>,
    /// Bytes fetched from the network for it (0 when served from the cache).
    pub bytes_fetched: u64,
    /// Whether the header came from the local cache.
    pub from_cache: bool,
}

/// A GGUF model: one file, or all parts of a split one in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteGgufModel {
    /// The parts (one for an unsplit model). The first holds the model's metadata.
    pub parts: Vec<RemoteGguf>,
}

impl RemoteGgufModel {
    /// The first part's header (metadata of the whole model).
    pub fn header(&self) -> Option<&GgufHeader> {
        self.parts.first().map(|p| &p.header)
    }

    /// Sum of all tensors' bytes over all parts (the weights, exact to the byte).
    pub fn tensor_bytes_total(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |a, p| a.saturating_add(p.header.tensor_bytes_total()))
    }

    /// Bytes fetched from the network over all parts.
    pub fn bytes_fetched(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |a, p| a.saturating_add(p.bytes_fetched))
    }
}

/// A safetensors model: config plus every tensor of every shard.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSafetensorsModel {
    /// `owner/name` for a Hub repository, else the URL.
    pub source: String,
    /// The parsed `config.json`, when there is one.
    pub config: Option<serde_json::Value>,
    /// Every tensor, with `file` set to its shard, sorted by name.
    pub tensors: Vec<SafeTensor>,
    /// The shard files read, in order.
    pub files: Vec<RemoteSafetensorsFile>,
    /// Bytes fetched from the network in all (headers, config, index, listing).
    pub bytes_fetched: u64,
}

impl RemoteSafetensorsModel {
    /// Sum of all tensors' bytes (the weights, exact to the byte).
    pub fn tensor_bytes_total(&self) -> u64 {
        self.tensors
            .iter()
            .fold(0u64, |a, t| a.saturating_add(t.bytes))
    }
}

/// What [`Fetcher::fetch`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteModel {
    /// GGUF file(s).
    Gguf(RemoteGgufModel),
    /// A safetensors model.
    Safetensors(RemoteSafetensorsModel),
}

/// Fetches remote headers with one HTTP client, one set of options and an optional
/// progress callback. Not `Sync` (it counts bytes in a `Cell`); make one per command.
pub struct Fetcher<'p> {
    client: HttpClient,
    opts: RemoteOptions,
    progress: Option<ProgressFn<'p>>,
    fetched: Cell<u64>,
}

impl std::fmt::Debug for Fetcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("opts", &self.opts)
            .field("fetched", &self.fetched.get())
            .finish_non_exhaustive()
    }
}

impl<'p> Fetcher<'p> {
    /// A fetcher with these options.
    pub fn new(opts: RemoteOptions) -> Self {
        Fetcher {
            client: HttpClient::new(opts.http.clone()),
            opts,
            progress: None,
            fetched: Cell::new(0),
        }
    }

    /// Report progress to `f` after every block received.
    pub fn with_progress(mut self, f: ProgressFn<'p>) -> Self {
        self.progress = Some(f);
        self
    }

    /// The options in force.
    pub fn options(&self) -> &RemoteOptions {
        &self.opts
    }

    /// Bytes fetched from the network by this fetcher so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.fetched.get()
    }

    /// Fetch the headers of a model: the chosen GGUF file(s) of a repository, its
    /// safetensors headers and config, or the file at a URL (`.safetensors` URLs are
    /// read as safetensors, anything else as GGUF).
    pub fn fetch(&self, spec: &ModelSpec) -> Result<RemoteModel, RemoteError> {
        match spec {
            ModelSpec::HfRepo { repo, quant } => self.fetch_repo(repo, quant.as_deref()),
            ModelSpec::HfFile {
                repo,
                revision,
                path,
            } => {
                let hf = HfConfig {
                    revision: revision.clone(),
                    ..self.opts.hf.clone()
                };
                self.fetch_url(&hf.resolve_url(repo, path))
            }
            ModelSpec::Url(url) => self.fetch_url(url),
        }
    }

    fn fetch_url(&self, url: &str) -> Result<RemoteModel, RemoteError> {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        if path.to_ascii_lowercase().ends_with(".safetensors") {
            let file = self.safetensors_header(url)?;
            let mut tensors = file.tensors.clone();
            for t in &mut tensors {
                t.file = Some(url.to_string());
            }
            return Ok(RemoteModel::Safetensors(RemoteSafetensorsModel {
                source: url.to_string(),
                config: None,
                tensors,
                bytes_fetched: file.bytes_fetched,
                files: vec![file],
            }));
        }
        // Part 1 of a split model: read every part, whose URLs differ only by number.
        let urls = match split_parts(path) {
            Some((stem, 1, count)) if count > 1 && path.len() == url.len() => (1..=count)
                .map(|i| format!("{stem}-{i:05}-of-{count:05}.gguf"))
                .collect(),
            _ => vec![url.to_string()],
        };
        let parts = urls
            .iter()
            .map(|u| self.gguf_header(u))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RemoteModel::Gguf(RemoteGgufModel { parts }))
    }

    fn fetch_repo(&self, repo: &str, quant: Option<&str>) -> Result<RemoteModel, RemoteError> {
        let files = self.hf_files(repo)?;
        let has_gguf = files
            .iter()
            .any(|f| f.path.to_ascii_lowercase().ends_with(".gguf"));
        if has_gguf {
            let chosen = select_gguf(repo, &files, quant)?;
            let parts = chosen
                .iter()
                .map(|f| self.gguf_header(&self.opts.hf.resolve_url(repo, &f.path)))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(RemoteModel::Gguf(RemoteGgufModel { parts }));
        }
        let Some(plan) = plan_safetensors(&files) else {
            return Err(RemoteError::NoModelFiles {
                repo: repo.to_string(),
                detail: format!(" ({} files listed)", files.len()),
            });
        };
        if let Some(q) = quant {
            return Err(RemoteError::BadSpec {
                spec: format!("hf.co/{repo}:{q}"),
                reason: "the repository holds safetensors, not GGUF quantizations; leave out \
                         the :<quant>"
                    .into(),
            });
        }
        let before = self.fetched.get();
        let config = match &plan.config {
            Some(p) => {
                let url = self.opts.hf.resolve_url(repo, p);
                let bytes = self.document(&url)?;
                Some(
                    serde_json::from_slice(&bytes).map_err(|e| RemoteError::Json {
                        url,
                        reason: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let shard_names = match &plan.index {
            Some(p) => {
                let url = self.opts.hf.resolve_url(repo, p);
                let bytes = self.document(&url)?;
                safetensors::index_shards(&bytes)
                    .map_err(|reason| RemoteError::Json { url, reason })?
            }
            None => plan.files.clone(),
        };
        let mut files_out = Vec::new();
        let mut tensors = Vec::new();
        for name in &shard_names {
            let file = self.safetensors_header(&self.opts.hf.resolve_url(repo, name))?;
            tensors.extend(file.tensors.iter().cloned().map(|mut t| {
                t.file = Some(name.clone());
                t
            }));
            files_out.push(file);
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(RemoteModel::Safetensors(RemoteSafetensorsModel {
            source: repo.to_string(),
            config,
            tensors,
            files: files_out,
            bytes_fetched: self.fetched.get() - before,
        }))
    }

    /// List every file of a Hub repository (following pagination).
    pub fn hf_files(&self, repo: &str) -> Result<Vec<RepoFile>, RemoteError> {
        let first = self.opts.hf.tree_url(repo);
        let cached = self.cached(&first).filter(|c| c.meta.complete);
        if let Some(hit) = cached {
            if let Ok(files) = parse_tree_page(&hit.bytes) {
                return Ok(files);
            }
        }
        let token = self.token_for(&first);
        let mut files = Vec::new();
        let mut next = Some(first.clone());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_LIST_PAGES {
                return Err(RemoteError::BadResponse {
                    url: first,
                    reason: format!("the listing has more than {MAX_LIST_PAGES} pages"),
                });
            }
            let (bytes, _, headers) =
                self.client
                    .get_bytes(&url, token.as_deref(), MAX_DOC_BYTES)?;
            self.count(&url, bytes.len() as u64, None);
            files.extend(parse_tree_page(&bytes).map_err(|reason| RemoteError::Json {
                url: url.clone(),
                reason,
            })?);
            next = headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(hf::next_link)
                // Only follow pages on the same host: the token goes with them.
                .filter(|n| authority(n) == authority(&first));
        }
        // Cache the merged listing in the tree API's own format.
        let merged: Vec<serde_json::Value> = files
            .iter()
            .map(|f| serde_json::json!({"type": "file", "path": f.path, "size": f.size}))
            .collect();
        if let Ok(bytes) = serde_json::to_vec(&merged) {
            let mut meta = CacheMeta::now(&first, 0);
            meta.complete = true;
            self.store(&bytes, &meta);
        }
        Ok(files)
    }

    /// Read the GGUF header at `url` (from the cache when possible).
    pub fn gguf_header(&self, url: &str) -> Result<RemoteGguf, RemoteError> {
        if let Some(hit) = self.cached(url) {
            if let Ok(header) = gguf::read_header(Cursor::new(&hit.bytes), &self.opts.limits) {
                return Ok(RemoteGguf {
                    url: url.to_string(),
                    header,
                    file_size: hit.meta.size,
                    bytes_fetched: 0,
                    requests: 0,
                    from_cache: true,
                });
            }
        }
        let mut reader = self.reader(url);
        let res = gguf::read_header(&mut reader, &self.opts.limits);
        self.fetched
            .set(self.fetched.get() + reader.bytes_fetched());
        let header = res.map_err(|e| RemoteError::from_gguf(url, e))?;
        let keep = usize::try_from(header.header_bytes)
            .unwrap_or(usize::MAX)
            .min(reader.fetched_bytes().len());
        self.store(&reader.fetched_bytes()[..keep], &Self::meta_of(&reader));
        Ok(RemoteGguf {
            url: url.to_string(),
            header,
            file_size: reader.file_size(),
            bytes_fetched: reader.bytes_fetched(),
            requests: reader.requests(),
            from_cache: false,
        })
    }

    /// Read the safetensors header at `url` (from the cache when possible).
    pub fn safetensors_header(&self, url: &str) -> Result<RemoteSafetensorsFile, RemoteError> {
        let parse = |bytes: &[u8]| {
            safetensors::parse_header(bytes).map_err(|reason| RemoteError::Safetensors {
                url: url.to_string(),
                reason,
            })
        };
        if let Some(hit) = self.cached(url) {
            if let Ok(tensors) = parse(&hit.bytes) {
                return Ok(RemoteSafetensorsFile {
                    url: url.to_string(),
                    tensors,
                    file_size: hit.meta.size,
                    bytes_fetched: 0,
                    from_cache: true,
                });
            }
        }
        let mut reader = self.reader(url);
        let res = safetensors::read_header_bytes(&mut reader);
        self.fetched
            .set(self.fetched.get() + reader.bytes_fetched());
        let bytes = res.map_err(|e| match e {
            safetensors::ReadError::Io(io) => match RemoteError::from_io(io) {
                Ok(remote) => remote,
                Err(io) => RemoteError::Safetensors {
                    url: url.to_string(),
                    reason: if io.kind() == std::io::ErrorKind::UnexpectedEof {
                        "the file is shorter than the 8-byte header length".into()
                    } else {
                        io.to_string()
                    },
                },
            },
            safetensors::ReadError::Format(reason) => RemoteError::Safetensors {
                url: url.to_string(),
                reason,
            },
        })?;
        let tensors = parse(&bytes)?;
        self.store(&bytes, &Self::meta_of(&reader));
        Ok(RemoteSafetensorsFile {
            url: url.to_string(),
            tensors,
            file_size: reader.file_size(),
            bytes_fetched: reader.bytes_fetched(),
            from_cache: false,
        })
    }

    /// A whole small document (config.json, an index), through the cache.
    fn document(&self, url: &str) -> Result<Vec<u8>, RemoteError> {
        if let Some(hit) = self.cached(url).filter(|c| c.meta.complete) {
            return Ok(hit.bytes);
        }
        let (bytes, meta, _) =
            self.client
                .get_bytes(url, self.token_for(url).as_deref(), MAX_DOC_BYTES)?;
        self.count(url, bytes.len() as u64, Some(bytes.len() as u64));
        let mut cm = CacheMeta::now(url, 0);
        cm.size = Some(bytes.len() as u64);
        cm.etag = meta.etag;
        cm.last_modified = meta.last_modified;
        cm.complete = true;
        self.store(&bytes, &cm);
        Ok(bytes)
    }

    fn reader(&self, url: &str) -> RangeReader<'_> {
        let r = RangeReader::new(
            &self.client,
            url,
            self.token_for(url),
            self.opts.range.clone(),
        );
        match self.progress {
            Some(f) => r.with_progress(f, self.fetched.get()),
            None => r,
        }
    }

    fn meta_of(reader: &RangeReader<'_>) -> CacheMeta {
        let mut m = CacheMeta::now(reader.url(), 0);
        m.size = reader.file_size();
        m.etag = reader.etag().map(str::to_string);
        m.last_modified = reader.last_modified().map(str::to_string);
        m.complete = reader.file_size() == Some(reader.bytes_fetched());
        m
    }

    fn count(&self, url: &str, n: u64, size: Option<u64>) {
        let total = self.fetched.get().saturating_add(n);
        self.fetched.set(total);
        if let Some(f) = self.progress {
            f(&FetchProgress {
                url,
                fetched: n,
                total_fetched: total,
                file_size: size,
            });
        }
    }

    fn cached(&self, url: &str) -> Option<CachedPrefix> {
        if self.opts.refresh {
            return None;
        }
        self.opts.cache.as_ref()?.load(url)
    }

    /// Store in the cache. A cache that cannot be written (read-only home, full disk)
    /// costs only speed next time, so it must not fail the command.
    fn store(&self, bytes: &[u8], meta: &CacheMeta) {
        if let Some(cache) = &self.opts.cache {
            let _ = cache.store(bytes, meta);
        }
    }

    /// The Hub token, for URLs on the Hub endpoint's host only.
    fn token_for(&self, url: &str) -> Option<String> {
        let token = self.opts.hf.token.as_ref()?;
        let host = authority(url)?;
        (Some(host) == authority(&self.opts.hf.endpoint)).then(|| token.clone())
    }
}
