//! One file per subcommand.
pub mod bench;
pub mod command;
pub mod compare;
pub mod estimate;
pub mod hw;
pub mod models;
pub mod plan;
pub mod recommend;
pub mod speed;
pub mod table;
pub mod validate;
pub mod validate_fit;
pub mod validate_power;
pub mod validate_speed;
