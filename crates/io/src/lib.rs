//! I/O edges.
