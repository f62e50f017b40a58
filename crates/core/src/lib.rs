//! canirun's pure core: models, quantization, memory, placement, speed and cost.
//!
//! No I/O, no async: every function here is deterministic and fast, so the
//! command line, the web page and the tests all share one pipeline.

pub mod cluster;
pub mod cmdline;
pub mod commands;
pub mod cost;
pub mod flags;
pub mod hardware;
pub mod memory;
pub mod model;
pub mod pipeline;
pub mod placement;
pub mod quality;
pub mod quant;
pub mod search;
pub mod speed;
pub mod text;
pub mod units;
pub mod validate;

pub use pipeline::{estimate, Report, Request};
