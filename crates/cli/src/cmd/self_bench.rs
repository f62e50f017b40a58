//! `canirun self-bench`: how fast the estimator is over the whole catalog
//! (`canirun_bench::self_bench` times it).

use crate::render;
use anyhow::Result;
use clap::Args;

/// Arguments of `canirun self-bench`.
#[derive(Args, Debug)]
pub struct SelfBenchArgs {
    /// Repetitions (the best time is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
}

/// Time catalog × every llama.cpp file type × 3 contexts.
pub fn run(a: &SelfBenchArgs, json_out: bool) -> Result<()> {
    let r = canirun_bench::self_bench::run(a.repeat);
    if json_out {
        // Through a JSON value, so the keys keep the order they always had.
        render::json(&serde_json::to_value(&r)?)
    } else {
        println!("{r}");
        Ok(())
    }
}
