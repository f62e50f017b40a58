//! `canirun bench`: measure an LLM server llama-bench style (prompt
//! processing `pp N`, generation `tg N` at context depths), against a running
//! endpoint ([`client`]) or one started for the purpose ([`spawn`]), and keep
//! every run in a local SQLite history ([`history`]) that `canirun calibrate`
//! fits this machine's speed factors from (`canirun_core::speed::local`).
//!
//! The prediction each figure is compared with comes from
//! `canirun_core::estimate` on the request [`session`] builds for the
//! server's command; the binary only turns flags into [`session::BenchOptions`]
//! and renders the [`session::BenchReport`].

pub mod buffers;
pub mod client;
pub mod compare;
pub mod history;
pub mod measure;
pub mod prompt;
pub mod self_bench;
pub mod session;
pub mod spawn;
pub mod text;

pub use client::{Api, Client, Sample, ServerInfo};
pub use measure::{Outcome, Plan, Test, TestKind, TestResult};

/// Why a bench, or a part of it, failed. Every message is one line that
/// names the endpoint and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Nothing accepted the connection (or the name did not resolve).
    #[error("nothing answers at {url} ({detail}); is the server running?")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// The transport's words.
        detail: String,
    },
    /// The server answered with an HTTP error status.
    #[error("{url} answered HTTP {status}{message}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status code.
        status: u16,
        /// ": " and the start of the body, or empty.
        message: String,
    },
    /// The answer stopped before it was complete.
    #[error("{url}: the answer was cut off before it was complete ({detail})")]
    StreamCut {
        /// The URL asked.
        url: String,
        /// What was missing.
        detail: String,
    },
    /// No answer within the time limit.
    #[error("{url} did not answer within {secs} s")]
    Timeout {
        /// The URL asked.
        url: String,
        /// The limit.
        secs: u64,
    },
    /// An answer that is not what the API documents.
    #[error("{url}: unexpected answer: {detail}")]
    BadAnswer {
        /// The URL asked.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The server does not serve the model asked for.
    #[error("the server at {url} serves {served}, not {asked}")]
    WrongModel {
        /// The endpoint.
        url: String,
        /// The model asked for.
        asked: String,
        /// What it serves.
        served: String,
    },
    /// No known API answered.
    #[error("no LLM API at {url}: /props (llama-server), /api/tags (Ollama) and /v1/models (OpenAI-compatible) all failed")]
    NoApi {
        /// The endpoint.
        url: String,
    },
    /// A started server did not become ready in time.
    #[error("{program} was not ready after {secs} s{last}")]
    NeverReady {
        /// The program started.
        program: String,
        /// The time waited.
        secs: u64,
        /// "; its log ends with: …" or empty.
        last: String,
    },
    /// A started server exited before it was ready.
    #[error("{program} exited ({status}) before it was ready{last}")]
    Exited {
        /// The program started.
        program: String,
        /// Its exit status.
        status: String,
        /// "; its log ends with: …" or empty.
        last: String,
    },
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command canirun cannot start.
    #[error("cannot bench `{0}`: canirun starts llama-server, ollama and vllm serve commands")]
    UnknownProgram(String),
    /// The history database failed.
    #[error("history database {path}: {source}")]
    History {
        /// The database file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Writing the export failed.
    #[error("export: {0}")]
    Export(#[from] csv::Error),
    /// Neither a running server nor a command to start was given.
    #[error("give --url of a running server, or the server command after --")]
    NoServer,
    /// The server command could not be read.
    #[error(transparent)]
    Command(#[from] canirun_core::cmdline::CmdlineError),
    /// No runs of this machine to calibrate from.
    #[error("no bench runs of this machine ({0}) in the history: run `canirun bench` first")]
    NoRuns(String),
    /// The local calibration fit failed.
    #[error(transparent)]
    Fit(#[from] canirun_core::speed::local::LocalFitError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}
