//! canirun's local web page and REST API (`canirun serve`).
//!
//! The page is plain HTML, CSS and JavaScript embedded in the binary (no CDN,
//! no outside network); it calls only the REST API below, which answers the
//! same JSON as the command line's `--json` for the same settings
//! (`/openapi.json` describes it). Requests never touch the file system;
//! remote model headers are read over https from public hosts only, with
//! caps on size and time; every parameter is validated with a message that
//! names it.

pub mod api;
pub mod error;
pub mod history;
pub mod inputs;
pub mod params;

pub use api::AppState;
pub use error::ApiError;
pub use inputs::FetchPolicy;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest request body accepted (a POST of parameters is a few hundred bytes).
pub const MAX_BODY: usize = 16 * 1024;
/// Longest any request may take, remote header reads included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const OPENAPI_JSON: &str = include_str!("../assets/openapi.json");
const HISTORY_HTML: &str = include_str!("../assets/history.html");
const HISTORY_JS: &str = include_str!("../assets/history.js");

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime or the connection loop failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// The whole application: page, assets, API, limits.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/estimate", get(api::estimate).post(api::estimate))
        .route("/plan", get(api::plan).post(api::plan))
        .route("/recommend", get(api::recommend).post(api::recommend))
        .route("/table", get(api::table).post(api::table))
        .route("/models", get(api::models))
        .route("/hardware", get(api::hardware))
        .route("/machine", get(api::machine))
        .route("/history", get(history::history))
        .fallback(|| async {
            error::ApiError::invalid("path", "no such endpoint; see /openapi.json").into_response()
        });
    Router::new()
        .route("/", get(|| asset(INDEX_HTML, "text/html; charset=utf-8")))
        .route(
            "/app.js",
            get(|| asset(APP_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/style.css",
            get(|| asset(STYLE_CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/history",
            get(|| asset(HISTORY_HTML, "text/html; charset=utf-8")),
        )
        .route(
            "/history.js",
            get(|| asset(HISTORY_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/openapi.json",
            get(|| asset(OPENAPI_JSON, "application/json")),
        )
        .nest("/api", api)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The page loads nothing from elsewhere; say so to the browser too.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// Whether binding `host` exposes the server beyond this machine.
pub fn is_exposed(host: IpAddr) -> bool {
    !host.is_loopback()
}

/// Serve on `addr` until interrupted, calling `on_ready` with the bound
/// address (port 0 picks a free one).
pub fn serve(addr: SocketAddr, on_ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    // One async worker per core (tokio's default): estimates run on them
    // directly (see `api::estimate`).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        on_ready(listener.local_addr()?);
        axum::serve(listener, router(AppState::new()))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
