//! Searches over the pipeline: which hardware runs a model (`plan`), the best
//! variant for the hardware (`recommend`), setups side by side (`compare`),
//! the memory table (`table`).
//! They loop over [`crate::estimate`] and add no model of their own.

pub mod compare;
pub mod models;
pub mod plan;
pub mod recommend;
pub mod table;
