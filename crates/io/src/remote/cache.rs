//! The local header cache: `<dir>/<sha256 of URL>.bin` holds the first bytes of a
//! remote file (enough to parse its header) and `<sha256>.json` a small sidecar saying
//! where they came from. A second look at the same model then needs no network.
//!
//! A damaged or foreign cache entry is treated as absent, never as an error: the cache
//! is an optimisation and must not make a model unreadable.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::RemoteError;

/// Environment variable that overrides the cache directory (used by tests and by users
/// who want the cache elsewhere).
pub const CACHE_DIR_ENV: &str = "CANIRUN_CACHE_DIR";

/// Largest cache entry read back; real headers are a few MB and a bigger file in the
/// cache directory is not ours.
const MAX_ENTRY_BYTES: u64 = 512 << 20;

/// The sidecar describing one cached prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMeta {
    /// The URL the bytes came from.
    pub url: String,
    /// The remote file's full size, when known.
    pub size: Option<u64>,
    /// The server's ETag, when it sent one.
    #[serde(default)]
    pub etag: Option<String>,
    /// The server's Last-Modified date, when it sent one.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// When the bytes were fetched, in seconds since the Unix epoch.
    pub fetched_at: u64,
    /// Number of bytes in the `.bin` file.
    pub prefix_len: u64,
    /// True when the `.bin` holds the whole file (small JSON documents).
    #[serde(default)]
    pub complete: bool,
}

impl CacheMeta {
    /// A sidecar for `prefix_len` bytes of `url` fetched now.
    pub fn now(url: &str, prefix_len: u64) -> Self {
        CacheMeta {
            url: url.to_string(),
            size: None,
            etag: None,
            last_modified: None,
            fetched_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            prefix_len,
            complete: false,
        }
    }
}

/// A cache hit: the stored bytes and their sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPrefix {
    /// The first `meta.prefix_len` bytes of the file.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub meta: CacheMeta,
}

/// A directory of cached header prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCache {
    dir: PathBuf,
}

impl HeaderCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        HeaderCache { dir: dir.into() }
    }

    /// The default directory: `$CANIRUN_CACHE_DIR`, else
    /// `${XDG_CACHE_HOME:-$HOME/.cache}/canirun/headers`; `None` when neither
    /// `XDG_CACHE_HOME` nor `HOME` is set.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(dir) = var(CACHE_DIR_ENV) {
            return Some(PathBuf::from(dir));
        }
        let base = match var("XDG_CACHE_HOME") {
            Some(x) => PathBuf::from(x),
            None => PathBuf::from(var("HOME")?).join(".cache"),
        };
        Some(base.join("canirun").join("headers"))
    }

    /// The cache in [`HeaderCache::default_dir`], if there is one.
    pub fn from_env() -> Option<Self> {
        Self::default_dir().map(Self::new)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file-name stem for `url`: the hex SHA-256 of the URL.
    pub fn key(url: &str) -> String {
        let digest = Sha256::digest(url.as_bytes());
        let mut s = String::with_capacity(64);
        for b in digest {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Paths of the prefix and sidecar for `url`.
    pub fn paths(&self, url: &str) -> (PathBuf, PathBuf) {
        let key = Self::key(url);
        (
            self.dir.join(format!("{key}.bin")),
            self.dir.join(format!("{key}.json")),
        )
    }

    /// The cached prefix of `url`, if present and consistent with its sidecar.
    pub fn load(&self, url: &str) -> Option<CachedPrefix> {
        let (bin, json) = self.paths(url);
        let meta_bytes = read_bounded(&json, 1 << 20)?;
        let meta: CacheMeta = serde_json::from_slice(&meta_bytes).ok()?;
        // A hash collision or a hand-edited sidecar must not serve another file.
        if meta.url != url || meta.prefix_len > MAX_ENTRY_BYTES {
            return None;
        }
        let bytes = read_bounded(&bin, MAX_ENTRY_BYTES)?;
        if bytes.len() as u64 != meta.prefix_len {
            return None;
        }
        Some(CachedPrefix { bytes, meta })
    }

    /// Store `bytes` as the prefix of `meta.url` (`meta.prefix_len` is set from
    /// `bytes`). Files are written under temporary names and renamed, so a concurrent
    /// reader sees the old entry or the new one, never half of one.
    pub fn store(&self, bytes: &[u8], meta: &CacheMeta) -> Result<(), RemoteError> {
        let cache_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RemoteError::Cache { path, source }
        };
        fs::create_dir_all(&self.dir).map_err(cache_err(&self.dir))?;
        let (bin, json) = self.paths(&meta.url);
        let mut meta = meta.clone();
        meta.prefix_len = bytes.len() as u64;
        let meta_json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| io::Error::other(e.to_string()))
            .map_err(cache_err(&json))?;
        // The .bin goes first: a sidecar never points at a missing or stale prefix for
        // long, and `load` checks the length anyway.
        write_atomic(&bin, bytes).map_err(cache_err(&bin))?;
        write_atomic(&json, &meta_json).map_err(cache_err(&json))?;
        Ok(())
    }

    /// Remove the entry for `url`, if any.
    pub fn remove(&self, url: &str) {
        let (bin, json) = self.paths(url);
        // Missing files are fine: the goal is that they are gone.
        let _ = fs::remove_file(json);
        let _ = fs::remove_file(bin);
    }
}

/// Read a file of at most `max` bytes; `None` when absent, unreadable or larger.
fn read_bounded(path: &Path, max: u64) -> Option<Vec<u8>> {
    let len = fs::metadata(path).ok()?.len();
    if len > max {
        return None;
    }
    fs::read(path).ok()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_mismatch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = HeaderCache::new(dir.path().join("h"));
        let url = "http://127.0.0.1:1/a.gguf";
        assert!(cache.load(url).is_none());
        let mut meta = CacheMeta::now(url, 0);
        meta.size = Some(1000);
        cache.store(b"GGUFxyz", &meta).expect("store");
        let hit = cache.load(url).expect("hit");
        assert_eq!(hit.bytes, b"GGUFxyz");
        assert_eq!(hit.meta.prefix_len, 7);
        assert_eq!(hit.meta.size, Some(1000));
        // A truncated .bin is a miss, not an error.
        let (bin, _) = cache.paths(url);
        fs::write(&bin, b"GG").expect("write");
        assert!(cache.load(url).is_none());
        assert!(cache.load("http://127.0.0.1:1/b.gguf").is_none());
        assert_eq!(HeaderCache::key(url).len(), 64);
    }
}
