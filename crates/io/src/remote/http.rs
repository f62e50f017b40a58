//! A small blocking HTTP client on `ureq`: timeouts, a User-Agent, redirects, and the
//! translation of transport failures into [`RemoteError`]s that say what to do.

use std::io::{self, Read};
use std::time::Duration;

use ureq::http::{self, header, Response};
use ureq::{Body, ResponseExt};

use super::error::status_hint;
use super::RemoteError;

/// Settings of the HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Longest wait to establish a connection (DNS, TCP and TLS).
    pub connect_timeout: Duration,
    /// Longest wait for any single read (the response headers, or the next bytes of
    /// a body). A server that accepts and then goes silent fails after this.
    pub read_timeout: Duration,
    /// The User-Agent header sent with every request.
    pub user_agent: String,
    /// Most redirects followed (Hugging Face `resolve` URLs redirect to a CDN).
    pub max_redirects: u32,
    /// Only https, and only to public addresses: every host (redirects included)
    /// is checked after DNS resolution, and the addresses connected to are the
    /// ones checked, so a name that resolves to loopback, a private or a
    /// link-local network is refused. No proxy from the environment is used.
    /// For a server fetching on behalf of others (`canirun serve`).
    pub public_only: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            user_agent: format!("canirun/{}", env!("CARGO_PKG_VERSION")),
            max_redirects: 10,
            public_only: false,
        }
    }
}

/// The final state of an answered request: where it ended up after redirects, and the
/// validators worth keeping in a cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResponseMeta {
    /// The URL after redirects.
    pub final_url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A blocking HTTP client. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    config: HttpConfig,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new(HttpConfig::default())
    }
}

impl HttpClient {
    /// A client with these settings.
    pub fn new(config: HttpConfig) -> Self {
        let builder = ureq::Agent::config_builder()
            // Statuses are inspected by the callers: a 206, a 200 to a range request and
            // a 416 all mean different things.
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_per_read(Some(config.read_timeout))
            .user_agent(config.user_agent.as_str())
            // Compressed bodies would make byte offsets meaningless.
            .accept_encoding("identity")
            .max_redirects(config.max_redirects)
            // A token for the Hub may follow a redirect on the Hub, never to a CDN or a
            // third-party host.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost);
        let agent = if config.public_only {
            ureq::Agent::with_parts(
                builder.proxy(None).https_only(true).build(),
                ureq::unversioned::transport::DefaultConnector::default(),
                PublicResolver::default(),
            )
        } else {
            builder.build().new_agent()
        };
        HttpClient { agent, config }
    }

    /// The settings in force.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Send a GET, optionally for the inclusive byte range `range`, with an optional
    /// bearer token. The status is not checked.
    pub(crate) fn get(
        &self,
        url: &str,
        range: Option<(u64, u64)>,
        token: Option<&str>,
    ) -> Result<(Response<Body>, ResponseMeta), RemoteError> {
        check_url(url, self.config.public_only)?;
        let mut req = self.agent.get(url);
        if let Some((start, end)) = range {
            req = req.header(header::RANGE, format!("bytes={start}-{end}"));
        }
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let resp = req.call().map_err(|e| self.map_ureq(url, e))?;
        let meta = ResponseMeta {
            final_url: resp.get_uri().to_string(),
            etag: header_str(&resp, header::ETAG),
            last_modified: header_str(&resp, header::LAST_MODIFIED),
        };
        Ok((resp, meta))
    }

    /// GET a whole (small) document: a 2xx answer whose body is at most `limit` bytes.
    pub(crate) fn get_bytes(
        &self,
        url: &str,
        token: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<u8>, ResponseMeta, http::HeaderMap), RemoteError> {
        let (resp, meta) = self.get(url, None, token)?;
        check_success(url, &resp)?;
        let expected = content_length(&resp);
        if expected.is_some_and(|n| n > limit) {
            return Err(RemoteError::BadResponse {
                url: url.to_string(),
                reason: format!(
                    "the document is {} bytes, more than the {limit} expected",
                    expected.unwrap_or(0)
                ),
            });
        }
        let (parts, body) = resp.into_parts();
        let mut bytes = Vec::new();
        // Read one byte past the limit to tell "exactly the limit" from "more".
        let mut reader = body
            .into_with_config()
            .reader()
            .take(limit.saturating_add(1));
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| self.map_body_io(url, e, expected, bytes.len() as u64))?;
        if bytes.len() as u64 > limit {
            return Err(RemoteError::BadResponse {
                url: url.to_string(),
                reason: format!("the document is more than the {limit} bytes expected"),
            });
        }
        if let Some(n) = expected {
            if (bytes.len() as u64) < n {
                return Err(RemoteError::Truncated {
                    url: url.to_string(),
                    expected: n,
                    got: bytes.len() as u64,
                });
            }
        }
        Ok((bytes, meta, parts.headers))
    }

    /// Translate a ureq failure (from sending or from reading a body).
    pub(crate) fn map_ureq(&self, url: &str, e: ureq::Error) -> RemoteError {
        use ureq::Timeout as T;
        let url_s = url.to_string();
        match e {
            ureq::Error::Timeout(which) => {
                let (what, after) = match which {
                    T::Connect | T::Resolve => ("connecting", self.config.connect_timeout),
                    T::RecvResponse | T::SendRequest => {
                        ("waiting for the response", self.config.read_timeout)
                    }
                    _ => ("reading the response", self.config.read_timeout),
                };
                RemoteError::Timeout {
                    url: url_s,
                    what,
                    after,
                }
            }
            ureq::Error::HostNotFound => RemoteError::Connect {
                url: url_s,
                reason: "host not found".into(),
            },
            ureq::Error::ConnectionFailed => RemoteError::Connect {
                url: url_s,
                reason: "connection failed".into(),
            },
            ureq::Error::BadUri(reason) => RemoteError::InvalidUrl { url: url_s, reason },
            ureq::Error::TooManyRedirects => RemoteError::Http {
                url: url_s,
                reason: format!("more than {} redirects", self.config.max_redirects),
            },
            ureq::Error::Io(io) => self.map_io(url, io),
            other => {
                let reason = other.to_string();
                if reason.to_ascii_lowercase().contains("tls")
                    || reason.to_ascii_lowercase().contains("certificate")
                {
                    RemoteError::Connect { url: url_s, reason }
                } else {
                    RemoteError::Http { url: url_s, reason }
                }
            }
        }
    }

    /// Translate an I/O failure of the socket.
    fn map_io(&self, url: &str, e: io::Error) -> RemoteError {
        use io::ErrorKind as K;
        match e.kind() {
            K::TimedOut | K::WouldBlock => RemoteError::Timeout {
                url: url.to_string(),
                what: "reading the response",
                after: self.config.read_timeout,
            },
            K::ConnectionRefused | K::NotFound | K::AddrNotAvailable => RemoteError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            },
            _ => RemoteError::Http {
                url: url.to_string(),
                reason: e.to_string(),
            },
        }
    }

    /// Translate an error from reading a body. `expected` is the announced length and
    /// `got` what had arrived, so that a cut connection reads as "truncated".
    pub(crate) fn map_body_io(
        &self,
        url: &str,
        e: io::Error,
        expected: Option<u64>,
        got: u64,
    ) -> RemoteError {
        let e = match RemoteError::from_io(e) {
            Ok(remote) => return remote,
            Err(e) => e,
        };
        if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
            if let Some(inner) = e.into_inner() {
                if let Ok(ue) = inner.downcast::<ureq::Error>() {
                    return match *ue {
                        ureq::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
                            truncated(url, expected, got)
                        }
                        ureq::Error::Protocol(_) if expected.is_some() => {
                            truncated(url, expected, got)
                        }
                        other => self.map_ureq(url, other),
                    };
                }
            }
            return RemoteError::Http {
                url: url.to_string(),
                reason: "body read failed".into(),
            };
        }
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return truncated(url, expected, got);
        }
        self.map_io(url, e)
    }
}

fn truncated(url: &str, expected: Option<u64>, got: u64) -> RemoteError {
    match expected {
        Some(expected) => RemoteError::Truncated {
            url: url.to_string(),
            expected,
            got,
        },
        None => RemoteError::Http {
            url: url.to_string(),
            reason: format!("the connection closed after {got} bytes"),
        },
    }
}

/// Refuse anything but http(s) before it reaches the transport, with a clear message.
fn check_url(url: &str, public_only: bool) -> Result<(), RemoteError> {
    let lower = url.to_ascii_lowercase();
    if public_only && !lower.starts_with("https://") {
        return Err(RemoteError::InvalidUrl {
            url: url.to_string(),
            reason: "only https:// URLs are fetched here".into(),
        });
    }
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(RemoteError::InvalidUrl {
            url: url.to_string(),
            reason: "only http:// and https:// URLs are supported".into(),
        });
    }
    Ok(())
}

/// Fail on a non-2xx status, with advice.
pub(crate) fn check_success<B>(url: &str, resp: &Response<B>) -> Result<(), RemoteError> {
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(RemoteError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            hint: status_hint(status.as_u16()),
        })
    }
}

/// A header as a string, when present and printable.
pub(crate) fn header_str<B>(resp: &Response<B>, name: http::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The Content-Length, when present and numeric.
pub(crate) fn content_length<B>(resp: &Response<B>) -> Option<u64> {
    header_str(resp, header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

/// Whether an address is on the public internet: not loopback, private,
/// link-local, shared (CGNAT), multicast, documentation, unspecified or
/// broadcast, for IPv4 and IPv6 (with IPv4-mapped IPv6 addresses checked as IPv4).
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                // 100.64.0.0/10: carrier-grade NAT, shared address space.
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // 192.0.0.0/24 (IETF protocol assignments) and 198.18.0.0/15 (benchmarking).
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                // 240.0.0.0/4: reserved.
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_ip(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)
                // ::/96 IPv4-compatible and 64:ff9b::/96 NAT64 can reach private IPv4.
                || (seg[0..6] == [0, 0, 0, 0, 0, 0])
                || (seg[0] == 0x64 && seg[1] == 0xff9b))
        }
    }
}

/// The system resolver, keeping only public addresses (see
/// [`HttpConfig::public_only`]). ureq connects to what this returns, so a name
/// cannot be checked on one answer and connected on another.
#[derive(Debug, Default)]
struct PublicResolver(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for PublicResolver {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let all = self.0.resolve(uri, config, timeout)?;
        let mut kept = self.empty();
        for a in all.iter().filter(|a| is_public_ip(a.ip())) {
            kept.push(*a);
        }
        if kept.is_empty() {
            return Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} resolves to a loopback, private or link-local address, which is not fetched",
                    uri.host().unwrap_or("the host")
                ),
            )));
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod public_tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(
                !is_public_ip(private.parse::<IpAddr>().unwrap()),
                "{private}"
            );
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "18.155.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_ip(public.parse::<IpAddr>().unwrap()), "{public}");
        }
    }

    #[test]
    fn public_only_refuses_plain_http_and_private_hosts_before_any_byte_is_read() {
        let c = HttpClient::new(HttpConfig {
            public_only: true,
            connect_timeout: Duration::from_secs(2),
            ..HttpConfig::default()
        });
        let e = c.get("http://example.com/x", None, None).unwrap_err();
        assert!(matches!(e, RemoteError::InvalidUrl { .. }), "{e}");
        // The resolver drops loopback addresses: refused before any connection.
        let e = c.get("https://localhost:9/x", None, None).unwrap_err();
        assert!(
            e.to_string().contains("loopback, private or link-local"),
            "{e}"
        );
    }
}
