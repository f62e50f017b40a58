//! I/O edges.

pub mod detect;
pub mod files;
pub mod fixtures;
pub mod gguf;
pub mod load;
pub mod model_file;
pub mod remote;
