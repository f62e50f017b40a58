//! `canirun command` end to end, and the generated commands checked against the
//! engines: every llama.cpp flag against the real `llama-server --help` of the
//! ground-truth build, every Ollama Modelfile key against Ollama's documented keys,
//! and every readable command round-tripped through the pasted-command parser.

use canirun_core::cmdline::{parse, split_words};
use canirun_core::commands::{
    generate, ollama::modelfile_keys, ollama_modelfile_keys, Request, Runner,
};
use canirun_core::memory::{FlashAttn, RunSettings};
use canirun_core::model::catalog;
use canirun_core::placement::llama_cpp::LlamaFlags;
use canirun_core::quant::{GgmlType, Quant};
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;

mod common;
use common::canirun;

fn stdout(args: &[&str]) -> String {
    let out = canirun().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn command_for_the_7b_distill() {
    let text = stdout(&["command", "deepseek-r1:7b"]);
    assert!(
        text.contains("llama-server -hf bartowski/DeepSeek-R1-Distill-Qwen-7B-GGUF:Q4_K_M -c 4096"),
        "{text}"
    );
    assert!(text.contains("ollama run deepseek-r1:7b"), "{text}");
    assert!(text.contains("PARAMETER num_ctx 4096"), "{text}");
    assert!(
        text.contains("mlx: MLX runs on Apple silicon only"),
        "{text}"
    );
}

#[test]
fn vllm_on_eight_h200() {
    let text = stdout(&[
        "command",
        "deepseek-r1",
        "--engine",
        "vllm",
        "--gpu",
        "8xh200",
        "-c",
        "32768",
    ]);
    assert!(
        text.contains("vllm serve deepseek-ai/DeepSeek-R1 --tensor-parallel-size 8 --max-model-len 32768 --max-num-seqs 256 --max-num-batched-tokens 8192 --trust-remote-code"),
        "{text}"
    );
    assert!(!text.contains("ray start"), "{text}");
    // Two nodes: pipeline parallel over Ray.
    let text = stdout(&[
        "command",
        "deepseek-r1",
        "--engine",
        "vllm",
        "--gpu",
        "16xh100",
    ]);
    assert!(
        text.contains("--tensor-parallel-size 8 --pipeline-parallel-size 2"),
        "{text}"
    );
    assert!(text.contains("ray start --head"), "{text}");
}

#[test]
fn all_engines_as_json() {
    let out = canirun()
        .args(["--json", "command", "deepseek-r1:32b", "--engine", "all"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let engines: Vec<&str> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["engine"].as_str().unwrap())
        .collect();
    for e in ["llama-cpp", "ollama", "vllm", "sglang", "exllamav2"] {
        assert!(engines.contains(&e), "{e} missing from {engines:?}");
    }
    assert_eq!(v["skipped"][0]["engine"], "mlx");
    for c in v["commands"].as_array().unwrap() {
        assert!(!c["version_note"].as_str().unwrap().is_empty());
    }
}

#[test]
fn bad_engine_and_impossible_requests_are_errors() {
    canirun()
        .args(["command", "deepseek-r1:7b", "--engine", "docker"])
        .assert()
        .failure();
    let out = canirun()
        .args(["command", "deepseek-r1", "--engine", "exllamav2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ExLlamaV2 does not run"));
}

/// Placements, typed, as the pasted-command reader reads these flags.
fn placements() -> Vec<Option<LlamaFlags>> {
    let v = |line: &str| {
        let p = parse(&split_words(&format!("llama-server -m m.gguf {line}"))).unwrap();
        Some(LlamaFlags::from_args(p.placement))
    };
    vec![
        None,
        v("-ngl 62 -ot exps=CPU"),
        v("-ngl 40 -ts 3,1"),
        v("-ngl 99 -ts 1,1 -sm row -mg 1"),
        v(r"-ot 'blk\.(3|4)\.ffn_(up|down|gate_up|gate)_(ch|)exps=CPU' -nkvo"),
        v("-ngl 20 -ot exps=CUDA1"),
        v("-ngl 62 --cpu-moe"),
        v("-ngl 62 -ncmoe 10"),
        v("-ngl 62 -ot 'blk\\.7\\.ffn_down.*=CUDA0' -ncmoe 5"),
    ]
}

fn settings_matrix() -> Vec<RunSettings> {
    vec![
        RunSettings::default(),
        RunSettings {
            n_ctx: 32768,
            flash_attn: FlashAttn::On,
            type_k: GgmlType::Q8_0,
            type_v: GgmlType::Q8_0,
            n_parallel: 4,
            kv_unified: true,
            ..RunSettings::default()
        },
        RunSettings {
            n_ctx: 8192,
            flash_attn: FlashAttn::Off,
            n_batch: 4096,
            n_ubatch: 1024,
            ..RunSettings::default()
        },
    ]
}

/// Every llama.cpp command over models × quants × placements × settings.
fn llama_commands() -> Vec<String> {
    let mut out = Vec::new();
    for e in catalog() {
        let spec = e.spec();
        for q in ["Q4_K_M", "Q8_0", "IQ2_XXS", "UD-IQ1_S", "Q5_K_L"] {
            let q = Quant::parse(q).unwrap();
            for flags in placements() {
                for s in settings_matrix() {
                    let req = Request {
                        entry: Some(e),
                        placement: flags.as_ref(),
                        ..Request::new(&spec, &q, &s)
                    };
                    let c = generate(Runner::LlamaCpp, &req).unwrap();
                    // Round trip: the parser reads back the settings and knows every flag.
                    let p = parse(&split_words(&c.shell_line())).unwrap();
                    assert!(p.unknown.is_empty(), "{}: {:?}", c.command, p.unknown);
                    assert_eq!(p.settings, s, "{}", c.command);
                    out.push(c.shell_line());
                }
            }
        }
    }
    out
}

/// The directory of the ground-truth llama.cpp build.
fn llama_bin_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("CANIRUN_LLAMA_CPP_BIN") {
        return Some(PathBuf::from(d));
    }
    let home = std::env::var("HOME").ok()?;
    Some(PathBuf::from(home).join(".cache/canirun/llama.cpp-0c1e57098/bin"))
}

/// Every flag spelling `llama-server --help` mentions.
fn help_flags(help: &str) -> HashSet<String> {
    help.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| {
            let body = t.trim_start_matches('-');
            t.starts_with('-')
                && !body.is_empty()
                && body.starts_with(|c: char| c.is_ascii_alphabetic())
                && body
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_llama_cpp_flag_exists_in_the_real_llama_server() {
    let commands = llama_commands();
    assert!(commands.len() > 1000);
    let bin = llama_bin_dir().map(|d| d.join("llama-server"));
    let Some(bin) = bin.filter(|b| b.exists()) else {
        // In CI the harness builds llama-server before the tests, unless told to skip it.
        let skipped = std::env::var("CANIRUN_SKIP_LLAMA_CPP").is_ok_and(|v| v == "1");
        if std::env::var_os("CI").is_some() && !skipped {
            panic!("llama-server not found: build it with scripts/build-llama-cpp.sh or set CANIRUN_LLAMA_CPP_BIN");
        }
        eprintln!("note: llama-server not found (set CANIRUN_LLAMA_CPP_BIN or run scripts/build-llama-cpp.sh); flag check skipped");
        return;
    };
    let out = std::process::Command::new(&bin)
        .arg("--help")
        .output()
        .unwrap();
    let help = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let known = help_flags(&help);
    assert!(
        known.contains("--ctx-size") && known.contains("-ot"),
        "{help}"
    );
    let mut checked = HashSet::new();
    for line in &commands {
        let words = split_words(line);
        for w in words.iter().skip(1) {
            let is_flag = w.starts_with('-')
                && w[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '-');
            if is_flag {
                assert!(
                    known.contains(w),
                    "{w} (in `{line}`) is not a flag of {bin:?}"
                );
                checked.insert(w.clone());
            }
        }
    }
    for f in [
        "-hf", "-m", "-c", "-np", "-kvu", "-b", "-ub", "-fa", "-ctk", "-ctv", "-ngl", "-ts", "-sm",
        "-mg", "-ot", "-nkvo",
    ] {
        assert!(checked.contains(f), "{f} was never generated");
    }
}

#[test]
fn every_ollama_parameter_is_documented() {
    let documented: HashSet<&str> = ollama_modelfile_keys()
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    let mut n = 0;
    for e in catalog() {
        let spec = e.spec();
        for q in ["Q4_K_M", "Q8_0"] {
            let q = Quant::parse(q).unwrap();
            for flags in placements() {
                for s in settings_matrix() {
                    let req = Request {
                        entry: Some(e),
                        placement: flags.as_ref(),
                        ..Request::new(&spec, &q, &s)
                    };
                    let Ok(c) = generate(Runner::Ollama, &req) else {
                        continue;
                    };
                    for k in modelfile_keys(c.modelfile.as_deref().unwrap_or("")) {
                        assert!(documented.contains(k.as_str()), "{}: PARAMETER {k}", e.id);
                        n += 1;
                    }
                    let p = parse(&split_words(&c.shell_line())).unwrap();
                    assert!(p.unknown.is_empty(), "{}: {:?}", c.command, p.unknown);
                    assert_eq!(p.settings.n_ctx, s.n_ctx);
                    assert_eq!(p.settings.n_parallel, s.n_parallel);
                }
            }
        }
    }
    assert!(n > 100, "{n}");
}
