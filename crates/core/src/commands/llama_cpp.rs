//! `llama-server` (llama.cpp): `-hf REPO:QUANT` from a known publisher, or `-m FILE`,
//! then the run settings and the placement flags.

use super::{gguf_repo, gguf_tag, not_applicable, Request, RunCommand};
use super::{CommandError, Runner};
use crate::flags::{moe_block_of, moe_block_pattern, CPU_MOE_PATTERN};
use crate::memory::{FlashAttn, RunSettings};
use crate::placement::llama_cpp::{literal_layer, LlamaFlags, Override, SplitMode};
use crate::placement::Loc;
use crate::quant::GgmlType;
use std::collections::BTreeSet;

/// The llama.cpp build whose `llama-server --help` the flags are checked against
/// (the ground-truth harness, `scripts/build-llama-cpp.sh`).
pub const LLAMA_CPP_COMMIT: &str = "0c1e57098";

/// `-fa`'s value, or nothing for llama.cpp's default (`auto`).
fn fa_value(fa: FlashAttn) -> Option<&'static str> {
    match fa {
        FlashAttn::On => Some("on"),
        FlashAttn::Off => Some("off"),
        FlashAttn::Auto => None,
    }
}

/// The run-setting flags, each only where it differs from llama.cpp's default,
/// except `-c` and `-np`: llama-server's defaults for those (the training context,
/// automatic slots) are not what canirun's estimate assumed, so they are always written.
pub fn settings_flags(s: &RunSettings) -> Vec<String> {
    let mut w: Vec<String> = vec!["-c".into(), s.n_ctx.to_string()];
    w.extend(["-np".into(), s.n_parallel.to_string()]);
    if s.kv_unified {
        w.push("-kvu".into());
    }
    if s.n_batch != 2048 {
        w.extend(["-b".into(), s.n_batch.to_string()]);
    }
    if s.n_ubatch != 512 {
        w.extend(["-ub".into(), s.n_ubatch.to_string()]);
    }
    if let Some(v) = fa_value(s.flash_attn) {
        w.extend(["-fa".into(), v.into()]);
    }
    if s.type_k != GgmlType::F16 {
        w.extend(["-ctk".into(), s.type_k.name().to_ascii_lowercase()]);
    }
    if s.type_v != GgmlType::F16 {
        w.extend(["-ctv".into(), s.type_v.name().to_ascii_lowercase()]);
    }
    w
}

/// One flag with its value (`None`: a switch), e.g. `("-ngl", Some("62"))`.
pub type FlagValue = (String, Option<String>);

/// Where routed experts in RAM are written as their own flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MoeInRam {
    /// `--cpu-moe`: every routed expert.
    All,
    /// `--n-cpu-moe N`: those of the first N layers.
    First(u64),
}

/// The placement flags of `f`, written compactly: routed experts in RAM as
/// `--cpu-moe` when all of them are, `--n-cpu-moe N` when those of the first N
/// layers are, otherwise as one `-ot` rule with a layer range, never one rule
/// per layer. Every other `-ot` rule follows in one `-ot`, comma-separated.
pub fn placement_flags(f: &LlamaFlags) -> Vec<FlagValue> {
    let a = &f.args;
    let mut out: Vec<FlagValue> = Vec::new();
    let mut push = |flag: &str, v: Option<String>| out.push((flag.to_string(), v));
    if let Some(n) = f.ngl {
        push("-ngl", Some(n.to_string()));
    }
    if let Some(ts) = &a.tensor_split {
        let v: Vec<String> = ts.iter().map(|x| format!("{x}")).collect();
        push("-ts", Some(v.join(",")));
    }
    match a.split_mode {
        SplitMode::Layer => {}
        SplitMode::Row => push("-sm", Some("row".into())),
        SplitMode::None => push("-sm", Some("none".into())),
    }
    if a.main_gpu != 0 {
        push("-mg", Some(a.main_gpu.to_string()));
    }
    let (moe, rules) = compact_overrides(&a.overrides, &f.expert_layers);
    match moe {
        Some(MoeInRam::All) => push("--cpu-moe", None),
        Some(MoeInRam::First(n)) => push("--n-cpu-moe", Some(n.to_string())),
        None => {}
    }
    if !rules.is_empty() {
        let v: Vec<String> = rules
            .iter()
            .map(|(p, l)| format!("{p}={}", f.buft(*l)))
            .collect();
        push("-ot", Some(v.join(",")));
    }
    if a.no_kv_offload {
        push("-nkvo", None);
    }
    out
}

/// The placement flags, one with its value per item (`-ngl 62`, `--cpu-moe`), raw.
pub fn flag_strings(f: &LlamaFlags) -> Vec<String> {
    placement_flags(f)
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k} {v}"),
            None => k,
        })
        .collect()
}

/// The routed experts `overrides` send to RAM, as one flag where that says the
/// same thing, and the remaining rules. Rules are only merged where their order
/// cannot matter (every other rule targets the CPU too, or names another layer);
/// otherwise they are written as given. `experts`: the blocks that hold routed
/// experts (empty: unknown), so blocks without any may be counted in or out.
fn compact_overrides(
    overrides: &[Override],
    experts: &[u64],
) -> (Option<MoeInRam>, Vec<(String, Loc)>) {
    let as_given = || {
        let v = overrides
            .iter()
            .map(|o| (o.pattern.clone(), o.target))
            .collect();
        (None, v)
    };
    let mut all = false;
    let mut layers = BTreeSet::new();
    let mut rest = Vec::new();
    // Where the merged rule goes among the others: where its first rule was.
    let mut at = None;
    for o in overrides {
        if o.target == Loc::Cpu && o.pattern == CPU_MOE_PATTERN {
            all = true;
        } else if let Some(il) = moe_block_of(&o.pattern).filter(|_| o.target == Loc::Cpu) {
            layers.insert(il);
            at.get_or_insert(rest.len());
        } else {
            rest.push((o.pattern.clone(), o.target));
        }
    }
    // Blocks without routed experts (the output "layer" a fit may name) match nothing.
    if !experts.is_empty() {
        layers.retain(|il| experts.binary_search(il).is_ok());
    }
    let (Some(&first), Some(&last)) = (layers.first(), layers.last()) else {
        return if all {
            (Some(MoeInRam::All), rest)
        } else {
            as_given()
        };
    };
    let safe = rest.iter().all(|(p, t)| {
        *t == Loc::Cpu || (!all && literal_layer(p).is_some_and(|l| !layers.contains(&l)))
    });
    if !safe {
        return as_given();
    }
    // Blocks without routed experts may be counted either way.
    let free = |il: u64| !experts.is_empty() && experts.binary_search(&il).is_err();
    if all || (!experts.is_empty() && experts.iter().all(|l| layers.contains(l))) {
        return (Some(MoeInRam::All), rest);
    }
    if (0..=last).all(|il| layers.contains(&il) || free(il)) {
        return (Some(MoeInRam::First(last + 1)), rest);
    }
    let span: Vec<u64> = (first..=last)
        .filter(|il| layers.contains(il) || free(*il))
        .collect();
    let pattern = match span.as_slice() {
        [one] => moe_block_pattern(*one),
        _ => format!(r"blk\.({}){CPU_MOE_PATTERN}", int_set_regex(&span)),
    };
    rest.insert(at.unwrap_or(0).min(rest.len()), (pattern, Loc::Cpu));
    (None, rest)
}

/// A regular expression (alternatives, no anchors) matching exactly the decimal
/// numbers of `set` (ascending), e.g. 5..=60 → `[5-9]|[1-5][0-9]|60`.
pub fn int_set_regex(set: &[u64]) -> String {
    let mut alts = Vec::new();
    let mut i = 0;
    while i < set.len() {
        let mut j = i;
        while j + 1 < set.len() && set[j + 1] == set[j] + 1 {
            j += 1;
        }
        alts.extend(range_regex(set[i], set[j]));
        i = j + 1;
    }
    alts.join("|")
}

/// Alternatives matching the decimal numbers `lo..=hi`.
fn range_regex(lo: u64, hi: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut lo = lo;
    while lo <= hi {
        let digits = lo.to_string().len() as u32;
        let top = hi.min(10u64.saturating_pow(digits) - 1);
        out.extend(same_length(&lo.to_string(), &top.to_string()));
        lo = top + 1;
    }
    out
}

/// Alternatives for `lo..=hi`, two numbers of the same length.
fn same_length(lo: &str, hi: &str) -> Vec<String> {
    if lo == hi {
        return vec![lo.to_string()];
    }
    let (l, h) = (lo.as_bytes(), hi.as_bytes());
    let p = (0..l.len()).find(|&i| l[i] != h[i]).unwrap_or(l.len() - 1);
    let prefix = &lo[..p];
    let k = l.len() - p - 1;
    let class = |a: u8, b: u8| {
        if a == b {
            (a as char).to_string()
        } else {
            format!("[{}-{}]", a as char, b as char)
        }
    };
    let any = "[0-9]".repeat(k);
    let (lo_rest, hi_rest) = (&lo[p + 1..], &hi[p + 1..]);
    let mut out = Vec::new();
    let mut a = l[p];
    if lo_rest.bytes().any(|c| c != b'0') {
        out.extend(same_length(
            lo,
            &format!("{prefix}{}{}", a as char, "9".repeat(k)),
        ));
        a += 1;
    }
    let mut b = h[p];
    let mut tail = Vec::new();
    if hi_rest.bytes().any(|c| c != b'9') {
        tail = same_length(&format!("{prefix}{}{}", b as char, "0".repeat(k)), hi);
        b -= 1;
    }
    if a <= b {
        out.push(format!("{prefix}{}{any}", class(a, b)));
    }
    out.extend(tail);
    out
}

/// The `llama-server` command.
pub fn command(req: &Request) -> Result<RunCommand, CommandError> {
    let mut notes = Vec::new();
    let mut words: Vec<String> = vec!["llama-server".into()];
    match (req.local_path, req.entry.and_then(|e| gguf_repo(&e.id))) {
        (Some(path), _) => words.extend(["-m".into(), path.to_string()]),
        (None, repo) => {
            let Some(tag) = gguf_tag(req.quant) else {
                return Err(not_applicable(
                    Runner::LlamaCpp,
                    format!(
                        "llama.cpp loads GGUF files, not {}; pick a GGUF quantization such as -q Q4_K_M",
                        req.quant
                    ),
                ));
            };
            match repo {
                Some(r) => {
                    words.extend(["-hf".into(), format!("{}:{tag}", r.repo)]);
                    if !r.quants.iter().any(|q| q.eq_ignore_ascii_case(&tag)) {
                        notes.push(format!(
                            "canirun has not seen a {tag} file in {} (seen: {}); check the repository's file list",
                            r.repo,
                            r.quants.join(", ")
                        ));
                    }
                    notes.push(format!("GGUF repository from {}", r.source));
                }
                None => {
                    let file = format!("{}-{tag}.gguf", req.spec.name);
                    notes.push(format!(
                        "canirun knows no GGUF repository for {}; download or convert a {tag} GGUF and pass its path to -m",
                        req.spec.name
                    ));
                    words.extend(["-m".into(), file]);
                }
            }
        }
    }
    words.extend(settings_flags(req.settings));
    if let Some(f) = req.placement {
        for (flag, v) in placement_flags(f) {
            words.push(flag);
            words.extend(v);
        }
    }
    if req.settings.type_v.is_quantized() && req.settings.flash_attn == FlashAttn::Off {
        notes.push(
            "a quantized V cache needs flash attention; llama.cpp refuses -ctv with -fa off".into(),
        );
    }
    notes.push(
        "chat templates are applied with Jinja by default in this llama.cpp (--jinja is on)".into(),
    );
    Ok(RunCommand::words(
        Runner::LlamaCpp,
        format!(
            "llama.cpp build {LLAMA_CPP_COMMIT} (every flag checked against its llama-server --help by a test); -fa on|off|auto needs a build from September 2025 or later, older ones take a bare -fa"
        ),
        &words,
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{parse, split_words};
    use crate::commands::testing::{command_for, entry, q8_cache};
    use crate::placement::llama_cpp::{Override, PlacementArgs};
    use crate::placement::Loc;
    use crate::quant::Quant;

    /// Placement flags as the pasted-command reader reads `line`.
    fn flags(line: &str) -> LlamaFlags {
        let p = parse(&split_words(&format!("llama-server -m m.gguf {line}"))).unwrap();
        LlamaFlags::from_args(p.placement)
    }

    /// `overrides` rendered, with routed experts in blocks `experts`.
    fn render(overrides: Vec<Override>, experts: &[u64]) -> Vec<String> {
        flag_strings(&LlamaFlags {
            args: PlacementArgs {
                overrides,
                ..Default::default()
            },
            expert_layers: experts.to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn layer_sets_as_regex() {
        let re = |v: &[u64]| int_set_regex(v);
        assert_eq!(re(&(5..=60).collect::<Vec<_>>()), "[5-9]|[1-5][0-9]|60");
        assert_eq!(re(&[3]), "3");
        assert_eq!(re(&[3, 4, 9]), "[3-4]|9");
        assert_eq!(re(&(15..=24).collect::<Vec<_>>()), "1[5-9]|2[0-4]");
        assert_eq!(re(&(0..=99).collect::<Vec<_>>()), "[0-9]|[1-9][0-9]");
        assert_eq!(
            re(&(7..=123).collect::<Vec<_>>()),
            "[7-9]|[1-9][0-9]|1[0-1][0-9]|12[0-3]"
        );
        // Exhaustive against the regex engine for small sets.
        for lo in 0..130u64 {
            for hi in lo..130 {
                if (lo * 7 + hi) % 5 != 0 {
                    continue;
                }
                let r = regex::Regex::new(&format!("^({})$", re(&(lo..=hi).collect::<Vec<_>>())))
                    .unwrap();
                for n in 0..200u64 {
                    assert_eq!(
                        r.is_match(&n.to_string()),
                        (lo..=hi).contains(&n),
                        "{lo}..={hi}: {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn experts_in_ram_are_written_compactly() {
        use crate::flags::{cpu_moe_overrides, n_cpu_moe_overrides};
        let r = |a: u64, b: u64| (a..=b).collect::<Vec<u64>>();
        let cpu = |p: &str| Override {
            pattern: p.into(),
            target: Loc::Cpu,
        };
        // Every block with experts (DeepSeek: 3..=60), one rule each → --cpu-moe.
        assert_eq!(
            render(n_cpu_moe_overrides(62), &r(3, 60)),
            vec!["--cpu-moe"]
        );
        assert_eq!(render(cpu_moe_overrides(), &r(3, 60)), vec!["--cpu-moe"]);
        // The first blocks: dense blocks count either way.
        let v: Vec<Override> = (3..10).map(|il| cpu(&moe_block_pattern(il))).collect();
        assert_eq!(render(v.clone(), &r(3, 60)), vec!["--n-cpu-moe 10"]);
        assert_eq!(render(n_cpu_moe_overrides(10), &[]), vec!["--n-cpu-moe 10"]);
        // A middle range: one -ot rule, next to the fit's partial layer.
        let mut v = vec![cpu(r"blk\.4\.ffn_down.*")];
        v.extend((5..=61).map(|il| cpu(&moe_block_pattern(il))));
        assert_eq!(
            render(v, &r(3, 60)),
            vec![
                r"-ot blk\.4\.ffn_down.*=CPU,blk\.([5-9]|[1-5][0-9]|60)\.ffn_(up|down|gate_up|gate)_(ch|)exps=CPU"
            ]
        );
        // Another layer's rule to a GPU keeps its place; an unanchored GPU rule
        // could be shadowed, so then the rules are written as given.
        let mut v: Vec<Override> = n_cpu_moe_overrides(5);
        v.push(Override {
            pattern: r"blk\.9\.ffn_down.*".into(),
            target: Loc::Gpu(1),
        });
        assert_eq!(
            render(v, &r(0, 60)),
            vec!["--n-cpu-moe 5", r"-ot blk\.9\.ffn_down.*=CUDA1"]
        );
        let mut v: Vec<Override> = n_cpu_moe_overrides(2);
        v.push(Override {
            pattern: "exps".into(),
            target: Loc::Gpu(0),
        });
        assert_eq!(render(v.clone(), &r(0, 60)).len(), 1);
        assert!(render(v, &r(0, 60))[0].starts_with(r"-ot blk\.0\.ffn_"));
    }

    /// The fit's per-layer rules for R1 on a 24 GiB GPU become one short
    /// command, and `canirun -- llama-server …` reads it back to the same placement.
    #[test]
    fn fitted_r1_command_is_short_and_round_trips() {
        use crate::flags::{cpu_moe_overrides, n_cpu_moe_overrides};
        use crate::memory::Backend;
        use crate::model::MlaTensorLayout;
        use crate::placement::llama_cpp::fit::{fit, FitDevice, FitOutcome, FitRequest};
        use crate::placement::llama_cpp::place;
        use crate::placement::DeviceSpec;
        use crate::units::Bytes;
        let e = entry("deepseek-r1");
        let spec = e.spec();
        let q = Quant::parse("Q4_K_M").unwrap();
        let w = crate::quant::weights(&spec, &q, MlaTensorLayout::Split);
        let s = RunSettings {
            n_ctx: 16384,
            flash_attn: FlashAttn::On,
            ..RunSettings::default()
        };
        let gpus = vec![DeviceSpec {
            name: "RTX 4090".into(),
            memory: Bytes::gib(24),
            backend: Backend::Cuda,
        }];
        let ram = Some(Bytes::gib(384));
        let req = FitRequest {
            model: &spec,
            settings: s.clone(),
            given: PlacementArgs::default(),
            devices: vec![FitDevice {
                spec: gpus[0].clone(),
                free: Bytes::gib(24)
                    .saturating_sub(crate::memory::llama_cpp::backend_overhead(Backend::Cuda).0),
                margin: Bytes::mib(1024),
            }],
            host: ram.map(|r| (r, Bytes::mib(1024))),
            n_ctx_min: 4096,
        };
        let f = fit(&req, &w).unwrap();
        assert_eq!(f.outcome, FitOutcome::LayersAssigned);
        assert!(f.args.overrides.len() > 40, "{}", f.args.overrides.len());
        let placed = place(&spec, &w, &s, &gpus, ram, &f.args).unwrap();
        let read_back = |llama: &LlamaFlags| {
            let mut r = Request::new(&spec, &q, &s);
            r.entry = Some(e);
            r.placement = Some(llama);
            let c = command(&r).unwrap();
            let p = parse(&split_words(&c.shell_line())).unwrap();
            assert!(p.unknown.is_empty(), "{:?}", p.unknown);
            (
                c.command,
                place(&spec, &w, &p.settings, &gpus, ram, &p.placement).unwrap(),
            )
        };
        let (cmd, again) = read_back(&placed.llama);
        assert!(cmd.len() < 300, "{cmd}");
        assert_eq!(cmd.matches("-ot").count(), 1, "{cmd}");
        assert!(!cmd.contains(r"blk\.6\."), "{cmd}");
        assert_eq!(again.devices, placed.devices, "{cmd}");
        assert_eq!(again.layer_loc, placed.layer_loc);
        assert_eq!(again.experts_on_cpu, placed.experts_on_cpu);
        // --cpu-moe and --n-cpu-moe round-trip to the same placement too.
        for (overrides, want) in [
            (cpu_moe_overrides(), "--cpu-moe"),
            (n_cpu_moe_overrides(61), "--cpu-moe"),
            (n_cpu_moe_overrides(20), "--n-cpu-moe 20"),
        ] {
            let args = PlacementArgs {
                overrides,
                ..Default::default()
            };
            let placed = place(&spec, &w, &s, &gpus, ram, &args).unwrap();
            let (cmd, again) = read_back(&placed.llama);
            assert!(cmd.ends_with(&format!("-ngl 62 {want}")), "{cmd}");
            assert_eq!(again.devices, placed.devices, "{cmd}");
            assert_eq!(again.experts_on_cpu, placed.experts_on_cpu);
        }
    }

    #[test]
    fn r1_with_experts_in_ram() {
        let c = command_for(
            command,
            entry("deepseek-r1"),
            &Quant::parse("UD-IQ1_S").unwrap(),
            &q8_cache(8192),
            Some(&flags("-ngl 62 -ot exps=CPU")),
            None,
        )
        .unwrap();
        assert_eq!(
            c.command,
            "llama-server -hf unsloth/DeepSeek-R1-GGUF:UD-IQ1_S -c 8192 -np 1 -fa on -ctk q8_0 -ctv q8_0 -ngl 62 -ot exps=CPU"
        );
        assert!(c.version_note.contains(LLAMA_CPP_COMMIT));
    }

    /// parse(generate(x)) gives back x: settings and placement.
    #[test]
    fn round_trips_through_the_command_parser() {
        let q = Quant::parse("Q4_K_M").unwrap();
        let s = RunSettings {
            n_ctx: 32768,
            n_parallel: 2,
            kv_unified: true,
            n_ubatch: 1024,
            flash_attn: FlashAttn::On,
            type_k: GgmlType::Q8_0,
            type_v: GgmlType::Q4_0,
            ..RunSettings::default()
        };
        let flags =
            flags(r"-ngl 70 -ts 3,1 -ot 'blk\.7[0-9]\.ffn_(up|down|gate_up|gate)_(ch|)exps=CPU'");
        let e = entry("deepseek-r1-distill-llama-70b");
        let c = command_for(command, e, &q, &s, Some(&flags), None).unwrap();
        let p = parse(&split_words(&c.shell_line())).unwrap();
        assert!(p.unknown.is_empty(), "{:?}", p.unknown);
        assert_eq!(p.settings, s);
        assert_eq!(
            p.placement,
            PlacementArgs {
                n_gpu_layers: Some(70),
                tensor_split: Some(vec![3.0, 1.0]),
                overrides: vec![Override {
                    pattern: r"blk\.7[0-9]\.ffn_(up|down|gate_up|gate)_(ch|)exps".into(),
                    target: Loc::Cpu,
                }],
                ..PlacementArgs::default()
            }
        );
        assert_eq!(
            p.model.as_deref(),
            Some("bartowski/DeepSeek-R1-Distill-Llama-70B-GGUF:Q4_K_M")
        );
    }

    #[test]
    fn local_files_and_unknown_repos_use_m() {
        let e = entry("llama-3-8b");
        let spec = e.spec();
        let q = Quant::parse("Q8_0").unwrap();
        let s = RunSettings::default();
        let mut req = Request::new(&spec, &q, &s);
        req.entry = Some(e);
        let c = command(&req).unwrap();
        assert!(c.command.contains(" -m "), "{}", c.command);
        assert!(c
            .notes
            .iter()
            .any(|n| n.contains("knows no GGUF repository")));
        req.local_path = Some("/models/my model.gguf");
        let c = command(&req).unwrap();
        assert!(c
            .command
            .starts_with("llama-server -m '/models/my model.gguf' -c 4096"));
    }

    #[test]
    fn non_gguf_formats_are_refused() {
        let s = RunSettings::default();
        let err = command_for(command, entry("deepseek-r1"), &Quant::Fp8, &s, None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GGUF"), "{err}");
    }
}
