//! Errors of remote reading. Each message names the URL (or repository) and says what
//! the user can do about it; a hostile or broken server gets one of these, never a panic.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::gguf::GgufError;

/// Everything that can go wrong while fetching a model header over HTTP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The model reference could not be understood.
    #[error("cannot understand the model reference {spec:?}: {reason}")]
    BadSpec {
        /// What the user typed.
        spec: String,
        /// Why it was refused.
        reason: String,
    },

    /// The URL is malformed or uses a scheme we do not speak.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No connection could be made (DNS, refused, TLS).
    #[error(
        "cannot connect to {url}: {reason}; check the address, your network and any proxy \
         settings"
    )]
    Connect {
        /// The URL.
        url: String,
        /// What the transport said.
        reason: String,
    },

    /// The server did not answer (or stopped sending) within the configured time.
    #[error(
        "timed out after {}s while {what} from {url}; the server is slow or unreachable: \
         retry, or raise the timeout",
        after.as_secs_f64()
    )]
    Timeout {
        /// The URL.
        url: String,
        /// What we were waiting for ("connecting", "waiting for the response", ...).
        what: &'static str,
        /// The timeout that expired.
        after: Duration,
    },

    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}{hint}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// Advice for this status (may be empty).
        hint: &'static str,
    },

    /// Any other transport or protocol failure.
    #[error("HTTP request to {url} failed: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What the transport said.
        reason: String,
    },

    /// The body ended before the length the server announced.
    #[error(
        "the response from {url} is truncated: the server sent {got} of the {expected} bytes \
         it announced; the connection was cut, retry"
    )]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes announced (Content-Length or Content-Range).
        expected: u64,
        /// Bytes received.
        got: u64,
    },

    /// A 206 answer whose Content-Range does not match what was asked.
    #[error(
        "{url} answered a request for bytes {start}-{end} with Content-Range {got:?}; the \
         server (or a proxy) mishandles range requests, so the header cannot be read remotely: \
         download the file and pass its local path"
    )]
    BadContentRange {
        /// The URL.
        url: String,
        /// First byte asked for.
        start: u64,
        /// Last byte asked for (inclusive).
        end: u64,
        /// The Content-Range header received (`<missing>` when absent).
        got: String,
    },

    /// The server ignores range requests and the header is longer than we are willing
    /// to stream from the start of the file.
    #[error(
        "{url} ignores HTTP range requests (it answered 200 with the whole file), and the \
         header needs more than the first {cap} bytes; canirun stops here rather than \
         download the whole model: download the file and pass its local path"
    )]
    RangeIgnored {
        /// The URL.
        url: String,
        /// Bytes read before giving up.
        cap: u64,
    },

    /// The header is larger than the configured maximum even with range requests.
    #[error(
        "the header of {url} needs more than {limit} bytes, beyond any real model; the file \
         is damaged or not a model"
    )]
    HeaderTooLarge {
        /// The URL.
        url: String,
        /// The limit in force.
        limit: u64,
    },

    /// The server answered in a way we cannot use (e.g. stopped honouring ranges midway).
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse {
        /// The URL.
        url: String,
        /// What was unexpected.
        reason: String,
    },

    /// The remote file is not a readable GGUF.
    #[error("{url}: {source}")]
    Gguf {
        /// The URL.
        url: String,
        /// The parser's error.
        #[source]
        source: GgufError,
    },

    /// The remote file is not a readable safetensors file.
    #[error("{url} is not a readable safetensors file: {reason}")]
    Safetensors {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },

    /// A JSON document (API listing, config.json, index) could not be parsed.
    #[error("{url} did not return the JSON expected: {reason}")]
    Json {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },

    /// The repository holds no file canirun can read.
    #[error(
        "the Hugging Face repository {repo} has no GGUF or safetensors files{detail}; check \
         the repository name"
    )]
    NoModelFiles {
        /// `owner/name`.
        repo: String,
        /// Extra detail (may be empty).
        detail: String,
    },

    /// No GGUF file matches the requested quantization.
    #[error(
        "no GGUF file in {repo} matches the quantization {quant:?}; available: {}",
        if available.is_empty() { "none".to_string() } else { available.join(", ") }
    )]
    NoMatchingQuant {
        /// `owner/name`.
        repo: String,
        /// What was asked for.
        quant: String,
        /// The GGUF files (or groups of split files) the repository offers.
        available: Vec<String>,
    },

    /// Several different GGUF files match and we will not guess.
    #[error(
        "{} in {repo}: {}; name one with {repo}:<quant>",
        match quant { Some(q) => format!("several GGUF files match {q:?}"), None => "the repository has several GGUF files".to_string() },
        candidates.join(", ")
    )]
    Ambiguous {
        /// `owner/name`.
        repo: String,
        /// What was asked for, if anything.
        quant: Option<String>,
        /// The candidates.
        candidates: Vec<String>,
    },

    /// Some parts of a split GGUF are missing from the repository listing.
    #[error("{repo}: the split model {name} has {count} parts but parts {missing:?} are missing from the repository")]
    MissingSplitParts {
        /// `owner/name`.
        repo: String,
        /// The split file name with the part number left out.
        name: String,
        /// The declared number of parts.
        count: u32,
        /// The missing part numbers (1-based).
        missing: Vec<u32>,
    },

    /// The header cache could not be written.
    #[error("cannot write the header cache at {}: {source}", path.display())]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

impl RemoteError {
    /// Wrap into an `io::Error` so that it can travel through a `Read` impl and be
    /// recovered intact by [`RemoteError::from_io`]. The kind is `Other` on purpose: an
    /// `UnexpectedEof` kind would be turned into "truncated file" by the GGUF parser.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// Recover a `RemoteError` wrapped by [`RemoteError::into_io`]; `None` for others.
    pub(crate) fn from_io(e: io::Error) -> Result<RemoteError, io::Error> {
        if e.get_ref().is_some_and(|inner| inner.is::<RemoteError>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(remote) = inner.downcast::<RemoteError>() {
                    return Ok(*remote);
                }
            }
            // Unreachable in practice (we just checked the type), but no panics here.
            return Err(io::Error::other("lost remote error"));
        }
        Err(e)
    }

    /// Turn a GGUF parse error over a remote reader into the most useful error: the
    /// transport failure when that is what stopped the parser, else the parse error.
    pub(crate) fn from_gguf(url: &str, e: GgufError) -> RemoteError {
        match e {
            GgufError::Io { offset, source } => match RemoteError::from_io(source) {
                Ok(remote) => remote,
                Err(source) => RemoteError::Gguf {
                    url: url.to_string(),
                    source: GgufError::Io { offset, source },
                },
            },
            other => RemoteError::Gguf {
                url: url.to_string(),
                source: other,
            },
        }
    }
}

/// Advice for an HTTP error status.
pub(crate) fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            ": access denied; the repository may be gated or private: accept its licence on \
             the Hub and set HF_TOKEN to an access token"
        }
        404 => ": not found; check the repository name, the quantization and the file name",
        410 => ": the file is gone",
        416 => ": the server refused the byte range",
        429 => ": too many requests; wait a minute and retry (or set HF_TOKEN)",
        500..=599 => ": a server error; retry later",
        _ => "",
    }
}
