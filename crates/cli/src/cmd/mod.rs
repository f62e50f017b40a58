//! One file per subcommand.
pub mod bench;
pub mod calibrate;
pub mod command;
pub mod compare;
pub mod estimate;
pub mod history;
pub mod hw;
pub mod models;
pub mod plan;
pub mod recommend;
pub mod self_bench;
pub mod serve;
pub mod speed;
pub mod table;
pub mod validate;
