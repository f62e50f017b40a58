//! One file per subcommand.
pub mod hw;
