//! I/O edges.

pub mod detect;
pub mod gguf;
pub mod model_file;
pub mod remote;
