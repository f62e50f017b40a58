//! `GET /api/history`: the local bench history (`canirun bench`'s runs) as
//! typed JSON for the page's predicted-vs-measured picture. The server reads
//! only its own history file (the path it was started with, never one from a
//! request), opened read-only.

use crate::error::ApiError;
use axum::extract::State;
use axum::Json;
use canirun_bench::history::{History, HistoryEntry};
use canirun_bench::BenchError;
use serde::Serialize;

/// The answer of `GET /api/history`.
#[derive(Debug, Serialize)]
pub struct HistoryView {
    /// The JSON schema version, as every answer of the API carries it.
    pub schema: u32,
    /// Every run in the history, oldest first (all machines: each run names
    /// its hardware), with the prediction's error.
    pub runs: Vec<HistoryEntry>,
}

/// The handler: an empty list when the history file does not exist yet.
pub async fn history(State(state): State<crate::AppState>) -> Result<Json<HistoryView>, ApiError> {
    let path = state.history_path();
    // The message leaves the file's path out: the page may be served beyond
    // this machine (`--host`), and the path says nothing the reader can use.
    let unreadable = |e: BenchError| {
        ApiError::Internal(match e {
            BenchError::History { source, .. } => {
                format!("the bench history could not be read: {source}")
            }
            e => format!("the bench history could not be read: {e}"),
        })
    };
    let runs = tokio::task::spawn_blocking(move || -> Result<Vec<HistoryEntry>, ApiError> {
        match History::open_read_only(&path).map_err(unreadable)? {
            None => Ok(Vec::new()),
            Some(h) => h.entries().map_err(unreadable),
        }
    })
    .await
    .map_err(|e| ApiError::Internal(format!("reading the history failed: {e}")))??;
    Ok(Json(HistoryView {
        schema: canirun_core::pipeline::SCHEMA,
        runs,
    }))
}
