//! Searches over the pipeline: which hardware runs a model (`plan`).
//! They loop over [`crate::estimate`] and add no model of their own.

pub mod models;
pub mod plan;
pub mod recommend;
pub mod table;
