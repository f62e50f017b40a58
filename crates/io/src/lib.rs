//! I/O edges.

pub mod detect;
pub mod gguf;
