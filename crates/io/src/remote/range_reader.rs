//! [`RangeReader`]: a sequential [`Read`] over an HTTP URL that fetches the file from
//! its start in growing `Range` requests, so a header parser can read a remote model
//! as if it were a local file while only its first megabytes cross the network.

use std::io::{self, Read};

use ureq::http::{header, StatusCode, Uri};
use ureq::BodyReader;

use super::http::{check_success, content_length, header_str, HttpClient, ResponseMeta};
use super::RemoteError;

/// How a [`RangeReader`] fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeOptions {
    /// Size of the first range request. Small headers (most safetensors, small GGUFs)
    /// then cost a single round trip.
    pub first_chunk: u64,
    /// Each further request doubles the last one up to this size, so a 10 MB GGUF
    /// header (a 262k-token vocabulary) costs about six round trips, not forty.
    pub max_chunk: u64,
    /// Most bytes fetched from one URL with range requests; beyond it the header is
    /// refused as absurd ([`RemoteError::HeaderTooLarge`]).
    pub max_bytes: u64,
    /// Most bytes read from a server that ignores `Range` and sends the whole file;
    /// beyond it the read stops with [`RemoteError::RangeIgnored`] instead of
    /// downloading a 400 GB model.
    pub no_range_cap: u64,
}

impl Default for RangeOptions {
    fn default() -> Self {
        RangeOptions {
            first_chunk: 256 << 10,
            max_chunk: 8 << 20,
            max_bytes: 256 << 20,
            no_range_cap: 64 << 20,
        }
    }
}

/// What a progress callback is told after each block of bytes arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchProgress<'u> {
    /// The URL being read.
    pub url: &'u str,
    /// Bytes fetched from this URL so far.
    pub fetched: u64,
    /// Bytes fetched by the whole operation so far (several files for split or
    /// sharded models); equals `fetched` for a single file.
    pub total_fetched: u64,
    /// The size of the remote file, when the server said.
    pub file_size: Option<u64>,
}

/// A progress callback. It is called after every block received, so it should be cheap
/// (an indicatif bar is); the caller decides whether the fetch is slow enough to show.
pub type ProgressFn<'a> = &'a dyn Fn(&FetchProgress<'_>);

/// Bytes appended per read while streaming a server that ignores ranges.
const STREAM_BLOCK: u64 = 256 << 10;

enum Mode {
    /// No request made yet.
    Fresh,
    /// The server honours ranges.
    Ranged,
    /// The server ignored `Range` and is sending the whole file from byte 0.
    Stream {
        body: BodyReader<'static>,
        announced: Option<u64>,
    },
    /// End of file reached.
    Done,
}

/// A sequential reader over a remote file, fetched with `Range: bytes=a-b` requests in
/// chunks that grow from [`RangeOptions::first_chunk`] to [`RangeOptions::max_chunk`].
///
/// Everything fetched is kept in memory (it is the header prefix, bounded by
/// [`RangeOptions::max_bytes`]) so that it can be stored in the header cache; see
/// [`RangeReader::fetched_bytes`]. Transport failures surface from `read` as
/// `io::Error`s of kind `Other` wrapping a [`RemoteError`].
pub struct RangeReader<'a> {
    client: &'a HttpClient,
    url: String,
    /// Where ranges are requested: the URL after the first redirect chain, so that a
    /// Hub `resolve` URL costs one redirect, not one per chunk.
    fetch_url: String,
    token: Option<String>,
    opts: RangeOptions,
    data: Vec<u8>,
    pos: usize,
    next_chunk: u64,
    total: Option<u64>,
    mode: Mode,
    meta: ResponseMeta,
    requests: u32,
    progress: Option<ProgressFn<'a>>,
    /// Added to `fetched` for [`FetchProgress::total_fetched`].
    progress_base: u64,
}

impl<'a> RangeReader<'a> {
    /// A reader of `url` from byte 0. `token`, when given, is sent as a bearer token to
    /// the host of `url` only (never to a host it redirects to). Nothing is fetched
    /// until the first read.
    pub fn new(
        client: &'a HttpClient,
        url: impl Into<String>,
        token: Option<String>,
        opts: RangeOptions,
    ) -> Self {
        let url = url.into();
        RangeReader {
            client,
            fetch_url: url.clone(),
            url,
            token,
            next_chunk: opts.first_chunk.max(1),
            opts,
            data: Vec::new(),
            pos: 0,
            total: None,
            mode: Mode::Fresh,
            meta: ResponseMeta::default(),
            requests: 0,
            progress: None,
            progress_base: 0,
        }
    }

    /// Report progress to `f` after every block received. `base` is added to the
    /// count for [`FetchProgress::total_fetched`] (bytes fetched before this file).
    pub fn with_progress(mut self, f: ProgressFn<'a>, base: u64) -> Self {
        self.progress = Some(f);
        self.progress_base = base;
        self
    }

    /// The URL being read.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Bytes received from the network so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.data.len() as u64
    }

    /// The remote file's size, once known (from Content-Range or Content-Length).
    pub fn file_size(&self) -> Option<u64> {
        self.total
    }

    /// HTTP requests made so far (redirects not counted).
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// Bytes consumed by the reader's user so far.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    /// Everything fetched so far: the file's first [`bytes_fetched`](Self::bytes_fetched) bytes.
    pub fn fetched_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The ETag of the file, if the server sent one.
    pub fn etag(&self) -> Option<&str> {
        self.meta.etag.as_deref()
    }

    /// The Last-Modified date of the file, if the server sent one.
    pub fn last_modified(&self) -> Option<&str> {
        self.meta.last_modified.as_deref()
    }

    /// Fetch more bytes onto `data`; false at the end of the file.
    fn fill(&mut self) -> Result<bool, RemoteError> {
        match self.mode {
            Mode::Done => Ok(false),
            Mode::Stream { .. } => self.fill_stream(),
            Mode::Fresh | Mode::Ranged => self.fill_range(),
        }
    }

    fn fill_range(&mut self) -> Result<bool, RemoteError> {
        let start = self.data.len() as u64;
        if self.total.is_some_and(|t| start >= t) {
            self.mode = Mode::Done;
            return Ok(false);
        }
        if start >= self.opts.max_bytes {
            return Err(RemoteError::HeaderTooLarge {
                url: self.url.clone(),
                limit: self.opts.max_bytes,
            });
        }
        let mut len = self.next_chunk.min(self.opts.max_bytes - start);
        if let Some(t) = self.total {
            len = len.min(t - start);
        }
        // len >= 1 here: start < max_bytes and start < total.
        let end = start + len - 1;
        let token = self.token_for_fetch_url();
        let (resp, meta) =
            self.client
                .get(&self.fetch_url, Some((start, end)), token.as_deref())?;
        self.requests = self.requests.saturating_add(1);
        if matches!(self.mode, Mode::Fresh) {
            self.fetch_url = meta.final_url.clone();
            self.meta = meta;
        }

        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let got_range = header_str(&resp, header::CONTENT_RANGE);
                let (a, b, total) = got_range
                    .as_deref()
                    .and_then(parse_content_range)
                    .and_then(|(a, b, t)| Some((a?, b?, t)))
                    .filter(|&(a, b, t)| {
                        a == start && b >= a && b <= end && t.is_none_or(|t| b < t)
                    })
                    .ok_or_else(|| RemoteError::BadContentRange {
                        url: self.url.clone(),
                        start,
                        end,
                        got: got_range.clone().unwrap_or_else(|| "<missing>".into()),
                    })?;
                if let (Some(known), Some(t)) = (self.total, total) {
                    if known != t {
                        return Err(RemoteError::BadResponse {
                            url: self.url.clone(),
                            reason: format!(
                                "the file size changed from {known} to {t} bytes while reading; \
                                 retry"
                            ),
                        });
                    }
                }
                if total.is_some() {
                    self.total = total;
                }
                let n = b - a + 1;
                let before = self.data.len();
                let mut body = resp.into_body().into_with_config().reader().take(n);
                let res = body.read_to_end(&mut self.data);
                let got = (self.data.len() - before) as u64;
                if let Err(e) = res {
                    return Err(self.client.map_body_io(&self.url, e, Some(n), got));
                }
                if got < n {
                    return Err(RemoteError::Truncated {
                        url: self.url.clone(),
                        expected: n,
                        got,
                    });
                }
                self.mode = Mode::Ranged;
                self.next_chunk = self
                    .next_chunk
                    .saturating_mul(2)
                    .min(self.opts.max_chunk.max(1));
                self.report();
                Ok(true)
            }
            StatusCode::OK => {
                if start != 0 {
                    // Skipping back to `start` would mean downloading it all again.
                    return Err(RemoteError::BadResponse {
                        url: self.url.clone(),
                        reason: format!(
                            "the server stopped honouring range requests at byte {start}; retry"
                        ),
                    });
                }
                let announced = content_length(&resp);
                self.total = announced;
                self.mode = Mode::Stream {
                    body: resp.into_body().into_with_config().reader(),
                    announced,
                };
                self.fill_stream()
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                // Asked from past the end: the file ends at `start`.
                let total = header_str(&resp, header::CONTENT_RANGE)
                    .as_deref()
                    .and_then(parse_content_range)
                    .and_then(|(_, _, t)| t);
                if total.is_some_and(|t| t > start) {
                    return Err(RemoteError::BadResponse {
                        url: self.url.clone(),
                        reason: format!(
                            "the server refused bytes {start}-{end} of a {} byte file",
                            total.unwrap_or(0)
                        ),
                    });
                }
                self.total = Some(start);
                self.mode = Mode::Done;
                Ok(false)
            }
            _ => {
                check_success(&self.url, &resp)?;
                // A 2xx other than 200/206 (204, ...) is not a file.
                Err(RemoteError::BadResponse {
                    url: self.url.clone(),
                    reason: format!("HTTP {} to a range request", resp.status().as_u16()),
                })
            }
        }
    }

    fn fill_stream(&mut self) -> Result<bool, RemoteError> {
        let start = self.data.len() as u64;
        let cap = self.opts.no_range_cap.min(self.opts.max_bytes);
        if start >= cap {
            return Err(RemoteError::RangeIgnored {
                url: self.url.clone(),
                cap,
            });
        }
        let Mode::Stream { body, announced } = &mut self.mode else {
            return Ok(false);
        };
        let announced = *announced;
        let want = STREAM_BLOCK.min(cap - start);
        let res = body.take(want).read_to_end(&mut self.data);
        let got = self.data.len() as u64 - start;
        if let Err(e) = res {
            return Err(self
                .client
                .map_body_io(&self.url, e, announced, start + got));
        }
        if got == 0 {
            if let Some(a) = announced {
                if start < a {
                    return Err(RemoteError::Truncated {
                        url: self.url.clone(),
                        expected: a,
                        got: start,
                    });
                }
            }
            // Dropping the body closes the connection: nothing more is downloaded.
            self.mode = Mode::Done;
            return Ok(false);
        }
        self.report();
        Ok(true)
    }

    fn report(&self) {
        if let Some(f) = self.progress {
            let fetched = self.data.len() as u64;
            f(&FetchProgress {
                url: &self.url,
                fetched,
                total_fetched: self.progress_base.saturating_add(fetched),
                file_size: self.total,
            });
        }
    }

    /// The token, if the URL being fetched is on the same host as the one it was given
    /// for (a redirect to a CDN must not receive it).
    fn token_for_fetch_url(&self) -> Option<String> {
        let token = self.token.as_ref()?;
        (authority(&self.fetch_url) == authority(&self.url)).then(|| token.clone())
    }
}

impl Read for RangeReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.data.len() && !self.fill().map_err(RemoteError::into_io)? {
            return Ok(0);
        }
        let avail = &self.data[self.pos..];
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl std::fmt::Debug for RangeReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeReader")
            .field("url", &self.url)
            .field("fetched", &self.data.len())
            .field("pos", &self.pos)
            .field("total", &self.total)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

/// The host[:port] of a URL, lowercased.
pub(crate) fn authority(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    uri.authority().map(|a| a.as_str().to_ascii_lowercase())
}

/// Parse `bytes a-b/total`, `bytes a-b/*` or `bytes */total`. Returns
/// `(Some(a), Some(b), total)` for the first two and `(None, None, Some(total))` for the
/// last; `None` when malformed.
pub(crate) fn parse_content_range(v: &str) -> Option<(Option<u64>, Option<u64>, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    if range.trim() == "*" {
        return total.map(|t| (None, None, Some(t)));
    }
    let (a, b) = range.trim().split_once('-')?;
    Some((Some(a.parse().ok()?), Some(b.parse().ok()?), total))
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((Some(0), Some(99), Some(1000)))
        );
        assert_eq!(
            parse_content_range("bytes 5-9/*"),
            Some((Some(5), Some(9), None))
        );
        assert_eq!(
            parse_content_range("bytes */1000"),
            Some((None, None, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range("bytes */*"), None);
    }
}
