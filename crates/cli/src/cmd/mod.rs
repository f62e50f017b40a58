//! One file per subcommand.
pub mod bench;
pub mod estimate;
pub mod hw;
pub mod models;
pub mod recommend;
pub mod speed;
pub mod table;
pub mod validate;
pub mod validate_speed;
