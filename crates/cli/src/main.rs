//! The `canirun` binary: parses arguments, calls the core, renders results.
//! It stays thin: every number comes from `canirun-core`.

mod args;
mod cmd;
mod inputs;
mod render;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  canirun deepseek-r1:7b                         memory for the 7B distill at Q4_K_M, 4096 context
  canirun deepseek-r1:32b -c 16384 -q q4_k_m --vram 24GiB
  canirun deepseek-r1:671b -q UD-IQ1_S -c 8192 -fa on --explain
  canirun r1-70b -q q8_0 --json                  one Report, JSON schema 1 (docs/json-schema.md)
  canirun deepseek-r1:671b --gpu '4090 + epyc-9654' --ram 384GiB -c 16k   experts in RAM, llama.cpp's --fit
  canirun --gpu 2x3090 -- llama-server -m deepseek-r1:70b -c 16k -ngl 81 -ts 1,1   a pasted command
  canirun speed deepseek-r1:70b --gpu 2x4090 -c 32k   decode over depths, flash attention on vs off
  canirun compare deepseek-r1:671b --hw m3-ultra-512 --hw 8xh100 --hw api
  canirun plan deepseek-r1:671b --min-tps 10 -c 32k   what to buy
  canirun command deepseek-r1:671b --gpu 4090 --ram 384GiB   commands for every engine
  canirun models                                 the model catalog
  canirun table -c 8192                          VRAM at a glance for every R1 variant
  canirun validate sizes ../shared/data/quant_file_sizes.csv
  canirun bench -- llama-server -m model.gguf -c 8192   start it, measure pp/tg, compare with the prediction
  canirun bench --url http://127.0.0.1:8080      measure a running llama-server, Ollama or OpenAI-compatible server
  canirun calibrate                              fit this machine's speed factors from its bench history
  canirun self-bench                             time the estimator over the whole catalog
  canirun hw                                     what this machine has";

/// Can my hardware run DeepSeek R1? Exact memory, speed and the command to run it.
#[derive(Parser, Debug)]
#[command(
    name = "canirun",
    version,
    args_conflicts_with_subcommands = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub estimate: cmd::estimate::EstimateArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the model catalog.
    Models(cmd::models::ModelsArgs),
    /// The "VRAM requirements at a glance" table for every R1 variant (or `--models a,b,c`), computed.
    Table(cmd::table::TableArgs),
    /// Compare predictions with published ground truth.
    #[command(subcommand)]
    Validate(cmd::validate::ValidateCmd),
    /// Measure a running or started server (pp/tg at depths) next to canirun's prediction; keep it in the history.
    Bench(cmd::bench::BenchArgs),
    /// The bench runs kept for this machine.
    History(cmd::history::HistoryArgs),
    /// Fit this machine's effective bandwidth and compute from its bench history.
    Calibrate(cmd::calibrate::CalibrateArgs),
    /// Time the estimator over the whole catalog × quantizations × contexts.
    SelfBench(cmd::self_bench::SelfBenchArgs),
    /// Setups side by side: fit, speed, power, J/token, electricity, price, break-even vs the API.
    Compare(cmd::compare::CompareArgs),
    /// Hardware: detect this machine, or list the catalog.
    Hw(cmd::hw::HwArgs),
    /// Hardware setups that run a model at a target speed: cheapest, fastest, most efficient.
    Plan(cmd::plan::PlanArgs),
    /// The best R1 variant × quantization × context for this (or the named) hardware.
    Recommend(cmd::recommend::RecommendArgs),
    /// Prefill and decode speed over context depths, time to first token, time to a full R1 answer.
    Speed(cmd::speed::SpeedArgs),
    /// The exact commands that start the model in llama.cpp, Ollama, vLLM, SGLang, MLX or ExLlamaV2.
    Command(cmd::command::CommandArgs),
    /// The guide as a local web page with a REST API (http://127.0.0.1:8080/).
    Serve(cmd::serve::ServeArgs),
}

fn main() -> ExitCode {
    // `canirun … | head` closes the pipe early: die quietly like other Unix
    // tools instead of panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse_from(args::llama_style_args(std::env::args())) {
        Ok(c) => c,
        Err(e) if e.use_stderr() => {
            // One line: clap's first line names the flag and the problem.
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("error");
            eprintln!("{first} (see canirun --help)");
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let result = match cli.command {
        Some(Command::Models(a)) => cmd::models::run(&a, cli.json),
        Some(Command::Table(a)) => cmd::table::run(&a, cli.json),
        Some(Command::Validate(a)) => cmd::validate::run(&a, cli.json),
        Some(Command::Bench(a)) => cmd::bench::run(&a, cli.json),
        Some(Command::History(a)) => cmd::history::run(&a, cli.json),
        Some(Command::Calibrate(a)) => cmd::calibrate::run(&a, cli.json),
        Some(Command::SelfBench(a)) => cmd::self_bench::run(&a, cli.json),
        Some(Command::Compare(a)) => cmd::compare::run(&a, cli.json),
        Some(Command::Hw(a)) => cmd::hw::run(&a, cli.json),
        Some(Command::Speed(a)) => cmd::speed::run(&a, cli.json),
        Some(Command::Command(a)) => cmd::command::run(&a, cli.json),
        Some(Command::Recommend(a)) => cmd::recommend::run(&a, cli.json),
        Some(Command::Plan(a)) => cmd::plan::run(&a, cli.json),
        Some(Command::Serve(a)) => cmd::serve::run(&a),
        // No model and no pasted command: recommend for this (or the named) hardware.
        None if cli.estimate.model.is_none() && cli.estimate.pasted.is_empty() => {
            cmd::recommend::run(
                &cmd::recommend::RecommendArgs {
                    hardware: cli.estimate.hardware.clone(),
                    min_ctx: 4096,
                    family: "deepseek-r1".into(),
                    top: 5,
                    ..Default::default()
                },
                cli.json,
            )
        }
        None => cmd::estimate::run(&cli.estimate, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
