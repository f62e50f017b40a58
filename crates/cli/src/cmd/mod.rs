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
pub mod validate_cluster;
pub mod validate_fit;
pub mod validate_llama_cpp;
pub mod validate_power;
pub mod validate_speed;

use validate::ValidateCmd;

/// Run a validation: each comparison has its own file, so that no command
/// file imports another.
pub fn run_validate(cmd: &ValidateCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        ValidateCmd::Speed {
            file, fit: true, ..
        } => validate_speed::fit(file, json_out),
        ValidateCmd::Speed { file, test, .. } => {
            validate_speed::run(file, test.as_deref(), json_out)
        }
        ValidateCmd::Fit {
            file,
            probes,
            fixtures,
        } => validate_fit::run(file, probes.as_deref(), fixtures.as_deref(), json_out),
        ValidateCmd::Power { file } => validate_power::run(file, json_out),
        ValidateCmd::LlamaCpp { file, fixtures } => {
            validate_llama_cpp::run(file, fixtures.as_deref(), json_out)
        }
        ValidateCmd::Sizes { file } => validate::sizes(file, json_out),
        ValidateCmd::Cluster {
            files,
            interconnect,
            published,
        } => validate_cluster::run(files, interconnect, published.as_deref(), json_out),
    }
}
