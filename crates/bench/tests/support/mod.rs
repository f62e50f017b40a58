//! Test support shared by the bench crate's integration tests.
pub mod fake;
