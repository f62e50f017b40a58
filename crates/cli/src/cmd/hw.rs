//! `canirun hw`: hardware detection and the hardware catalog (issue 4).
use clap::Args;

/// Arguments of `canirun hw`.
#[derive(Args, Debug)]
pub struct HwArgs {}

/// Run `canirun hw`.
pub fn run(_args: &HwArgs, _json: bool) -> anyhow::Result<()> {
    anyhow::bail!("canirun hw is not implemented yet")
}
