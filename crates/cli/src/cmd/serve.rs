//! `canirun serve`: the guide as a local web page with a REST API (canirun-web).

use anyhow::Result;
use clap::Args;

/// Arguments of `canirun serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback exposes the server to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

/// Serve until interrupted.
pub fn run(a: &ServeArgs) -> Result<()> {
    if canirun_web::is_exposed(a.host) {
        eprintln!("warning: listening on {}: anyone who can reach this address can use the server (it reads no files, and fetches only public https hosts)", a.host);
    }
    canirun_web::serve((a.host, a.port).into(), |addr| {
        println!("canirun serves http://{addr}/ (Ctrl-C stops)");
    })?;
    Ok(())
}
