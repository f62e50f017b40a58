//! I/O edges.

pub mod detect;
pub mod fixtures;
pub mod gguf;
pub mod model_file;
pub mod remote;
