//! Helpers shared by the binary's integration tests (each test file is its
//! own crate and uses only some of them).

#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;

/// The `canirun` binary of this workspace, with this machine kept out of
/// named and sized hardware (`CANIRUN_NO_DETECT`): RAM without a named CPU
/// is read with the catalog's typical desktop wherever the tests run.
pub fn canirun() -> Command {
    let mut c = Command::cargo_bin("canirun").unwrap();
    c.env("CANIRUN_NO_DETECT", "1");
    c
}

/// `canirun --json ARGS`: asserts success and parses standard output.
pub fn json(args: &[&str]) -> Value {
    let out = canirun().arg("--json").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
