//! Every flag, config key and value canirun prints for vLLM, SGLang, MLX and
//! ExLlamaV2/TabbyAPI is one the engine's source defines at the release named
//! in `data/engine_flags.toml`.

use super::testing::entry;
use super::*;
use crate::memory::Backend;
use crate::quant::GgmlType;
use std::collections::{BTreeMap, BTreeSet};

const CHECKED: [Runner; 4] = [Runner::Vllm, Runner::Sglang, Runner::Mlx, Runner::Exllamav2];

/// Commands outside these engines that notes may quote (Ray's cluster start).
const FOREIGN_PROGRAMS: [&str; 1] = ["ray start"];

fn programs(engine: Runner) -> Vec<&'static EngineFlags> {
    engine_flags()
        .iter()
        .filter(|p| p.engine == engine.as_str())
        .collect()
}

/// The program a command line starts with, if any of `engine`'s.
fn program_of(engine: Runner, line: &str) -> Option<&'static EngineFlags> {
    programs(engine).into_iter().find(|p| {
        line == p.program
            || line
                .strip_prefix(p.program.as_str())
                .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// Printed names per program (`engine program` → names), for the coverage check.
type Seen = BTreeMap<String, BTreeSet<String>>;

fn see(seen: &mut Seen, p: &EngineFlags, name: &str) {
    seen.entry(format!("{} | {}", p.engine, p.program))
        .or_default()
        .insert(name.to_string());
}

/// Check one command line of `p`: every word starting with `-` is a flag of
/// `p`, and a flag with listed values is given one of them.
fn check_line(p: &EngineFlags, line: &str, seen: &mut Seen) -> Result<(), String> {
    let words = crate::cmdline::split_words(line);
    // The program's own words (`python3 -m sglang.launch_server`) are not its flags.
    let skip = crate::cmdline::split_words(&p.program).len();
    for (i, w) in words.iter().enumerate().skip(skip) {
        if !w.starts_with('-') {
            continue;
        }
        if !p.flags.contains(w) {
            return Err(format!(
                "{}: `{w}` is not a flag of {} at {} ({}): {line}",
                p.engine, p.program, p.versions[0], p.repository
            ));
        }
        see(seen, p, w);
        if let Some(allowed) = p.values.get(w) {
            let v = words.get(i + 1).map(String::as_str).unwrap_or("");
            if !allowed.iter().any(|a| a == v) {
                return Err(format!(
                    "{}: {w} {v}: not among the values read ({allowed:?}): {line}",
                    p.engine
                ));
            }
        }
    }
    Ok(())
}

/// Check a config file of the simple `section:\n  key: value  # comment` shape.
fn check_config(p: &EngineFlags, cfg: &ConfigFile, seen: &mut Seen) -> Result<(), String> {
    if p.config_file.as_deref() != Some(cfg.name.as_str()) {
        return Err(format!("{}: {} reads no {}", p.engine, p.program, cfg.name));
    }
    let mut section = String::new();
    for line in cfg.content.lines() {
        let code = line.split('#').next().unwrap_or("").trim_end();
        if code.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = code.split_once(':') else {
            return Err(format!("{}: not `key: value`: {line}", cfg.name));
        };
        let value = value.trim();
        if !line.starts_with(' ') {
            section = key.trim().to_string();
            continue;
        }
        let full = format!("{section}.{}", key.trim());
        if !p.config_keys.contains(&full) {
            return Err(format!(
                "{}: {} key `{full}` is not in {} at {}",
                p.engine, cfg.name, p.repository, p.versions[0]
            ));
        }
        see(seen, p, &full);
        if let Some(allowed) = p.values.get(&full) {
            if !allowed.iter().any(|a| a == value) {
                return Err(format!(
                    "{}: {full}: {value} not among the values read ({allowed:?})",
                    p.engine
                ));
            }
        }
    }
    Ok(())
}

/// Check a command, its config file and its notes.
fn check_command(c: &RunCommand, seen: &mut Seen) -> Result<(), String> {
    let engine = c.engine;
    let main = program_of(engine, &c.command)
        .ok_or_else(|| format!("{engine}: no program in the data starts `{}`", c.command))?;
    check_line(main, &c.command, seen)?;
    if let Some(cfg) = &c.config {
        check_config(main, cfg, seen)?;
    }
    for note in &c.notes {
        // Odd pieces are inside backticks: whole command lines.
        for (i, piece) in note.split('`').enumerate() {
            if i % 2 == 1 {
                if let Some(p) = program_of(engine, piece) {
                    check_line(p, piece, seen)?;
                } else if FOREIGN_PROGRAMS.iter().any(|f| piece.starts_with(f)) {
                    continue;
                } else if piece.split_whitespace().any(|w| w.starts_with('-')) {
                    return Err(format!(
                        "{engine}: note quotes a command of no known program: `{piece}`"
                    ));
                }
            } else {
                // Outside backticks, `--flag` is one of the engine's own (single-dash
                // words there are canirun's: "give the context with -c").
                for w in piece.split_whitespace() {
                    let w = w.trim_matches(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-'));
                    if w.starts_with("--") && !main.flags.iter().any(|f| f == w) {
                        return Err(format!(
                            "{engine}: note names `{w}`, not a flag of {} at {}: {note}",
                            main.program, main.versions[0]
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Commands for a representative set of setups: one GPU, 8 GPUs, R1 FP8 over
/// 2×8 GPUs (pipeline and tensor parallel across nodes), expert parallelism,
/// FP8 KV cache, a Mac for MLX, EXL2 on 2 GPUs with every KV cache type.
fn representative_commands() -> Vec<RunCommand> {
    let mut out = Vec::new();
    let mut push = |req: &Request| {
        for e in CHECKED {
            if let Ok(c) = generate(e, req) {
                out.push(c);
            }
        }
    };

    // vLLM and SGLang.
    let servers = [
        VllmSettings {
            max_model_len: 4096,
            ..VllmSettings::default()
        },
        VllmSettings {
            tensor_parallel: 8,
            max_model_len: 32768,
            expert_parallel: true,
            kv_fp8: true,
            ..VllmSettings::default()
        },
        VllmSettings {
            tensor_parallel: 8,
            pipeline_parallel: 2,
            max_model_len: 65536,
            max_num_seqs: 64,
            gpu_memory_utilization: 0.95,
            kv_fp8: true,
            expert_parallel: true,
            ..VllmSettings::default()
        },
        VllmSettings {
            tensor_parallel: 16,
            max_model_len: 0,
            ..VllmSettings::default()
        },
        VllmSettings {
            tensor_parallel: 24,
            max_model_len: 16384,
            ..VllmSettings::default()
        },
    ];
    let s = RunSettings::default();
    for (id, q) in [
        ("deepseek-r1", Quant::Fp8),
        ("deepseek-r1-distill-qwen-7b", Quant::parse("bf16").unwrap()),
        (
            "deepseek-r1-distill-llama-70b",
            Quant::parse("bf16").unwrap(),
        ),
    ] {
        let e = entry(id);
        let spec = e.spec();
        for v in &servers {
            let mut req = Request::new(&spec, &q, &s);
            req.entry = Some(e);
            req.server = Some(v);
            push(&req);
        }
        // No server settings: one GPU at the run settings' context.
        let mut req = Request::new(&spec, &q, &s);
        req.entry = Some(e);
        push(&req);
    }

    // MLX on a Mac, from MLX and GGUF quantizations.
    let mac = RunSettings {
        backend: Backend::Metal,
        n_ctx: 8192,
        ..RunSettings::default()
    };
    for id in ["deepseek-r1-distill-llama-70b", "deepseek-r1"] {
        let e = entry(id);
        let spec = e.spec();
        for q in ["mlx-4bit", "mlx-8bit", "Q4_K_M", "Q8_0"] {
            let q = Quant::parse(q).unwrap();
            let mut req = Request::new(&spec, &q, &mac);
            req.entry = Some(e);
            push(&req);
        }
    }

    // ExLlamaV2/TabbyAPI: one and two GPUs, every KV cache type, K ≠ V, a local path.
    let e = entry("deepseek-r1-distill-qwen-32b");
    let spec = e.spec();
    let q = Quant::parse("exl2-4.25bpw").unwrap();
    let split = crate::placement::llama_cpp::LlamaFlags::from_args(
        crate::placement::llama_cpp::PlacementArgs {
            tensor_split: Some(vec![1.0, 1.0]),
            ..Default::default()
        },
    );
    for (k, v) in [
        (GgmlType::F16, GgmlType::F16),
        (GgmlType::Q8_0, GgmlType::Q8_0),
        (GgmlType::Q4_0, GgmlType::Q4_0),
        (GgmlType::Q5_0, GgmlType::Q5_0),
        (GgmlType::Q8_0, GgmlType::F16),
    ] {
        let s = RunSettings {
            n_ctx: 16384,
            type_k: k,
            type_v: v,
            ..RunSettings::default()
        };
        for flags in [None, Some(&split)] {
            let mut req = Request::new(&spec, &q, &s);
            req.entry = Some(e);
            req.placement = flags;
            push(&req);
            req.entry = None;
            req.local_path = Some("/models/R1-Distill-Qwen-32B-exl2");
            push(&req);
        }
    }
    out
}

#[test]
fn engine_flags_data_parses_and_is_sourced() {
    let raw: EngineFlagsFile =
        toml::from_str(include_str!("../../data/engine_flags.toml")).unwrap();
    assert_eq!(raw.program.len(), engine_flags().len());
    for e in CHECKED {
        assert!(
            !programs(e).is_empty(),
            "{e}: no program in engine_flags.toml"
        );
    }
    for p in engine_flags() {
        assert!(Runner::parse(&p.engine).is_some(), "{}", p.engine);
        assert!(!p.versions.is_empty(), "{}", p.program);
        assert!(
            !p.sources.is_empty() && !p.read_from.is_empty(),
            "{}",
            p.program
        );
        assert!(p.repository.contains('/'), "{}", p.repository);
        for k in p.values.keys() {
            assert!(
                p.flags.contains(k) || p.config_keys.contains(k),
                "{}: values for unlisted {k}",
                p.program
            );
        }
    }
}

/// The check itself: a command with a flag the source lacks fails, one with
/// only listed flags passes.
#[test]
fn unknown_flags_are_caught() {
    let mut seen = Seen::new();
    let vllm = program_of(Runner::Vllm, "vllm serve m").unwrap();
    assert!(check_line(vllm, "vllm serve m --tensor-parallel-size 8", &mut seen).is_ok());
    assert!(check_line(vllm, "vllm serve m --tp 8", &mut seen).is_err());
    assert!(check_line(vllm, "vllm serve m --kv-cache-dtype fp4", &mut seen).is_err());
    let sg = program_of(Runner::Sglang, "python3 -m sglang.launch_server").unwrap();
    assert!(check_line(sg, "python3 -m sglang.launch_server --tp 8", &mut seen).is_err());
    let mut c = RunCommand {
        engine: Runner::Vllm,
        version_note: String::new(),
        command: "vllm serve m --max-model-len 4096".into(),
        env: vec![],
        modelfile: None,
        config: None,
        notes: vec!["use --enable-chunked-prefill".into()],
    };
    assert!(check_command(&c, &mut seen).is_err());
    c.notes = vec!["run `mlx_lm.convert --hf-path x` first".into()];
    assert!(check_command(&c, &mut seen).is_err());
    c.notes = vec!["`ray start --head --port=6379`, then --pipeline-parallel-size 2".into()];
    assert!(check_command(&c, &mut seen).is_ok());
    let tabby = program_of(Runner::Exllamav2, "python3 main.py").unwrap();
    let cfg = |content: &str| ConfigFile {
        name: "config.yml".into(),
        content: content.into(),
    };
    assert!(check_config(tabby, &cfg("model:\n  model_name: x\n"), &mut seen).is_ok());
    assert!(check_config(tabby, &cfg("model:\n  cache_q: x\n"), &mut seen).is_err());
    assert!(check_config(tabby, &cfg("model:\n  cache_mode: Q5\n"), &mut seen).is_err());
}

/// Every flag canirun prints for vLLM, SGLang, MLX and ExLlamaV2/TabbyAPI (in
/// the command, the config file and the commands its notes quote) is in
/// `data/engine_flags.toml`, read from that engine's source; and every name
/// listed there is printed by some setup, so the list holds no stale names.
#[test]
fn printed_flags_exist_in_engine_source() {
    let commands = representative_commands();
    let mut seen = Seen::new();
    for c in &commands {
        if let Err(e) = check_command(c, &mut seen) {
            panic!("{e}");
        }
    }
    for e in CHECKED {
        let n = commands.iter().filter(|c| c.engine == e).count();
        assert!(n >= 3, "{e}: only {n} commands built");
    }
    for p in engine_flags() {
        let key = format!("{} | {}", p.engine, p.program);
        let printed = seen.get(&key).cloned().unwrap_or_default();
        for name in p.flags.iter().chain(&p.config_keys) {
            assert!(
                printed.contains(name),
                "{key}: {name} is listed but no setup printed it"
            );
        }
    }
}

/// Each version note names the oldest release read and says the flags are
/// checked against its source.
#[test]
fn version_notes_name_the_release_read() {
    let commands = representative_commands();
    for e in CHECKED {
        let c = commands.iter().find(|c| c.engine == e).unwrap();
        let main = program_of(e, &c.command).unwrap();
        let oldest = main.versions[0].split(' ').next().unwrap();
        let short = &oldest[..oldest.len().min(12)];
        assert!(
            c.version_note.contains(short),
            "{e}: note does not name {short}: {}",
            c.version_note
        );
        assert!(
            c.version_note.contains("engine_flags.toml"),
            "{e}: {}",
            c.version_note
        );
    }
}
