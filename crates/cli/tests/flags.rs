//! One definition per flag: every llama.cpp flag of the core's table, in
//! every spelling, means the same on canirun's command line and in a pasted
//! llama-server command (the whole report agrees), and a bad value is a
//! one-line error on both sides.

use assert_cmd::Command;
use canirun_core::flags::{Flag, FlagEngine, ValueKind, FLAGS};
use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::cargo_bin("canirun")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The report of the same setup written both ways, without what names the input.
fn both(words: &[&str]) -> (Value, Value) {
    let mut cli = vec!["--json", "--gpu", "2x4090", "r1-7b"];
    cli.extend(words);
    let mut pasted = vec![
        "--json",
        "--gpu",
        "2x4090",
        "--",
        "llama-server",
        "-m",
        "r1-7b",
        // Without -np, llama-server opens 4 unified slots; canirun's own
        // default is one sequence (and its printed commands say -np 1).
        "-np",
        "1",
    ];
    pasted.extend(words);
    let (c1, mut a, e1) = run(&cli);
    let (c2, mut b, e2) = run(&pasted);
    assert_eq!(c1, Some(0), "{cli:?}: {e1}");
    assert_eq!(c2, Some(0), "{pasted:?}: {e2}");
    for v in [&mut a, &mut b] {
        v["model"]["reference"] = Value::Null;
    }
    (a, b)
}

#[test]
fn every_flag_means_the_same_on_both_sides() {
    let base = both(&["-c", "1000"]).0;
    let mut checked = 0;
    let with_draft = both(&["-c", "1000", "-md", "qwen3:0.6b"]).0;
    // The projector's flags need a GGUF file (tests/companions.rs writes one).
    for d in FLAGS.iter().filter(|d| {
        d.engine == FlagEngine::LlamaCpp
            && !matches!(d.flag, Flag::Model | Flag::Mmproj | Flag::NoMmprojOffload)
    }) {
        // The draft's own settings mean something only with a draft.
        let draft_setting = matches!(
            d.flag,
            Flag::CacheTypeKDraft | Flag::CacheTypeVDraft | Flag::DraftMax
        );
        let base = if draft_setting { &with_draft } else { &base };
        for spelling in std::iter::once(&d.name).chain(d.aliases) {
            // A common context, since the two sides default differently (4096 vs unset).
            let mut words: Vec<&str> = if d.flag == Flag::CtxSize {
                vec![]
            } else {
                vec!["-c", "1000"]
            };
            if draft_setting {
                words.extend(["-md", "qwen3:0.6b"]);
            }
            words.push(spelling);
            if d.kind != ValueKind::Switch {
                words.push(d.example);
            }
            let (cli, pasted) = both(&words);
            assert!(cli == pasted, "{words:?}: the two reports differ");
            // -fitc only bounds how far --fit shrinks an unset context: at -c 1000 it has nothing to do.
            if d.flag != Flag::FitCtx {
                assert!(cli != *base, "{words:?} changed nothing");
            }
            if !matches!(d.kind, ValueKind::Switch | ValueKind::Text) {
                let n = words.len();
                words[n - 1] = "bogus=";
                let mut c = vec!["r1-7b"];
                c.extend(&words);
                let mut p = vec!["--", "llama-server", "-m", "r1-7b"];
                p.extend(&words);
                for args in [c, p] {
                    let (code, _, err) = run(&args);
                    assert_eq!(code, Some(2), "{args:?}");
                    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 39, "{checked}");
}

#[test]
fn compact_values_on_the_command_line() {
    let (r, _) = both(&["-c", "32k", "-ngl", "all", "-ncmoe", "3", "-fitc", "8192"]);
    assert_eq!(r["settings"]["n_ctx"], 32768);
}
