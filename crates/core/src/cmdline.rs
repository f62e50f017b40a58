//! "Paste your command": read a llama.cpp (`llama-server`, `llama-cli`,
//! `llama-bench`), `ollama run` or `vllm serve` command line into run settings
//! and placement flags. Unknown flags are reported, never silently ignored;
//! bad values are errors that name the flag.

use crate::flags::{self, Flag, FlagDef, FlagEngine, ValueKind};
use crate::memory::{FlashAttn, RunSettings};
use crate::placement::llama_cpp::PlacementArgs;
use serde::Serialize;

/// The engine a pasted command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// llama.cpp's server, CLI or bench.
    LlamaCpp,
    /// `ollama run`.
    Ollama,
    /// `vllm serve`.
    Vllm,
    /// `python -m sglang.launch_server`.
    Sglang,
}

/// What a pasted command says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedCommand {
    /// Which engine.
    pub engine: Engine,
    /// The program as typed.
    pub program: String,
    /// The model argument (`-m file.gguf`, `-hf repo:quant`, `ollama run tag`, `vllm serve repo`).
    pub model: Option<String>,
    /// Run settings (defaults where the command is silent).
    pub settings: RunSettings,
    /// Whether `-c` was given (llama.cpp's `--fit` only shrinks an unset context).
    pub ctx_given: bool,
    /// Placement flags.
    pub placement: PlacementArgs,
    /// llama.cpp's `--fit` options (`-fit`, `-fitt`, `-fitc`).
    pub fit: crate::placement::llama_cpp::fit::FitSettings,
    /// vLLM/SGLang tensor-parallel size.
    pub tensor_parallel: Option<u64>,
    /// vLLM/SGLang pipeline-parallel size.
    pub pipeline_parallel: Option<u64>,
    /// vLLM's `--gpu-memory-utilization` (SGLang's `--mem-fraction-static`).
    pub gpu_memory_utilization: Option<f64>,
    /// Models loaded beside the main one (`-md`, `--mmproj`) and their settings.
    pub companions: CompanionFlags,
    /// vLLM/SGLang speculative decoding with the model's MTP layer: draft
    /// tokens per step (`--speculative-algorithm EAGLE|NEXTN` with
    /// `--speculative-num-steps`, vLLM's `--num-speculative-tokens` or
    /// `--speculative-config`).
    pub speculative_tokens: Option<u64>,
    /// Flags canirun read but that do not change memory (threads, host, port, …).
    pub ignored: Vec<String>,
    /// Flags canirun does not know: named, not silently dropped.
    pub unknown: Vec<String>,
}

/// llama.cpp's flags for the models it loads beside the main one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanionFlags {
    /// `-md`: the draft model, as typed.
    pub draft_model: Option<String>,
    /// `-ctkd`: the draft's K cache type (llama.cpp's default F16, not `-ctk`'s).
    pub draft_type_k: crate::quant::GgmlType,
    /// `-ctvd`: the draft's V cache type.
    pub draft_type_v: crate::quant::GgmlType,
    /// `--spec-draft-n-max`: draft tokens per step (llama.cpp's default 3).
    pub draft_max: u64,
    /// `--mmproj`: the vision projector, as typed.
    pub mmproj: Option<String>,
    /// Whether the projector goes to the GPU (`--no-mmproj-offload`: no).
    pub mmproj_offload: bool,
}

impl Default for CompanionFlags {
    /// llama.cpp's defaults (common/common.h at the pinned commit).
    fn default() -> Self {
        CompanionFlags {
            draft_model: None,
            draft_type_k: crate::quant::GgmlType::F16,
            draft_type_v: crate::quant::GgmlType::F16,
            draft_max: 3,
            mmproj: None,
            mmproj_offload: true,
        }
    }
}

/// A value canirun cannot accept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CmdlineError {
    /// Empty command.
    #[error(
        "the pasted command is empty; paste e.g. `llama-server -m model.gguf -c 32768 -ngl 99`"
    )]
    Empty,
    /// Not an engine canirun knows.
    #[error("'{0}' is not llama-server, llama-cli, llama-bench, ollama or vllm")]
    Program(String),
    /// A flag without its value.
    #[error("{0} needs a value")]
    Missing(String),
    /// A flag with a bad value.
    #[error("{flag} {value}: {why}")]
    Value {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
        /// What is wrong and what would be right.
        why: String,
    },
}

fn bad(flag: &str, value: &str, why: &str) -> CmdlineError {
    CmdlineError::Value {
        flag: flag.into(),
        value: value.into(),
        why: why.into(),
    }
}

/// Split a command line into words, honouring quotes and backslash-newlines.
pub fn split_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut has = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    if n != '\n' {
                        cur.push(n);
                        has = true;
                    }
                }
            }
            (None, c) if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (None, c) => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

/// Parse a pasted command (already split into words; leading `VAR=value` words are environment).
pub fn parse(words: &[String]) -> Result<ParsedCommand, CmdlineError> {
    let mut env = Vec::new();
    let mut i = 0;
    while i < words.len() && words[i].contains('=') && !words[i].starts_with('-') {
        env.push(words[i].clone());
        i += 1;
    }
    let Some(program) = words.get(i) else {
        return Err(CmdlineError::Empty);
    };
    let base = program
        .rsplit('/')
        .next()
        .unwrap_or(program)
        .to_ascii_lowercase();
    let rest = &words[i + 1..];
    if base.starts_with("llama-") || base == "main" || base == "server" {
        parse_llama(program, rest)
    } else if base == "ollama" {
        parse_ollama(program, rest, &env)
    } else if base == "vllm" {
        parse_server(Engine::Vllm, program, rest)
    } else if base.starts_with("python")
        && rest.len() >= 2
        && rest[0] == "-m"
        && rest[1] == "sglang.launch_server"
    {
        parse_server(Engine::Sglang, program, &rest[2..])
    } else {
        Err(CmdlineError::Program(program.clone()))
    }
}

impl ParsedCommand {
    /// A command of `engine` that says nothing yet: run settings at canirun's
    /// defaults ([`RunSettings::default`]), no placement flag.
    pub fn new(engine: Engine, program: &str) -> ParsedCommand {
        ParsedCommand {
            engine,
            program: program.to_string(),
            model: None,
            settings: RunSettings::default(),
            ctx_given: false,
            placement: PlacementArgs::default(),
            fit: Default::default(),
            tensor_parallel: None,
            pipeline_parallel: None,
            gpu_memory_utilization: None,
            companions: CompanionFlags::default(),
            speculative_tokens: None,
            ignored: vec![],
            unknown: vec![],
        }
    }

    /// Read one flag of the table, spelt `flag`, with value `v` (empty for a
    /// switch): the one reading of a flag's value, for pasted commands and for
    /// canirun's own command line.
    pub fn apply(&mut self, def: &FlagDef, flag: &str, v: &str) -> Result<(), CmdlineError> {
        match def.engine {
            FlagEngine::LlamaCpp => apply_llama(self, def, flag, v),
            FlagEngine::Vllm | FlagEngine::Sglang => apply_server(self, def, flag, v),
        }
    }
}

/// llama.cpp flags that take a value but do not change memory.
const LLAMA_IGNORED_WITH_VALUE: [&str; 22] = [
    "-tb",
    "--threads-batch",
    "--host",
    "--port",
    "-n",
    "--n-predict",
    "--temp",
    "--top-k",
    "--top-p",
    "--min-p",
    "--seed",
    "-s",
    "--repeat-penalty",
    "-p",
    "--prompt",
    "-f",
    "--file",
    "--alias",
    "-a",
    "--chat-template",
    "-r",
    "--api-key",
];

/// llama.cpp switches that do not change memory.
const LLAMA_IGNORED_SWITCHES: [&str; 12] = [
    "--jinja",
    "-cnv",
    "--conversation",
    "--no-warmup",
    "--metrics",
    "--verbose",
    "-v",
    "--mlock",
    "--no-mmap",
    "-no-cnv",
    "--no-webui",
    "--flash-attn-auto",
];

fn parse_llama(program: &str, args: &[String]) -> Result<ParsedCommand, CmdlineError> {
    let mut c = ParsedCommand::new(Engine::LlamaCpp, program);
    // llama-bench reserves logits for every token of a micro-batch (the library
    // default); llama-server and llama-cli one row per sequence.
    if program
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(program)
        .starts_with("llama-bench")
    {
        c.settings.outputs = crate::memory::OutputRows::PerToken;
    } else {
        // llama-server and llama-cli default to the training context (-c 0),
        // which --fit then shrinks when it does not fit.
        c.settings.n_ctx = 0;
    }
    let server = program
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(program)
        .starts_with("llama-server");
    let mut np_given = false;
    let mut k = 0;
    while k < args.len() {
        let raw = &args[k];
        // --flag=value form
        let (flag, inline): (&str, Option<&str>) = match raw.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (raw.as_str(), None),
        };
        let take = |k: &mut usize| -> Result<String, CmdlineError> {
            if let Some(v) = inline {
                return Ok(v.to_string());
            }
            *k += 1;
            args.get(*k)
                .cloned()
                .ok_or_else(|| CmdlineError::Missing(flag.to_string()))
        };
        let Some(def) = flags::lookup(FlagEngine::LlamaCpp, flag) else {
            match flag {
                f if LLAMA_IGNORED_WITH_VALUE.contains(&f) => {
                    let v = take(&mut k)?;
                    c.ignored.push(format!("{f} {v}"));
                }
                f if LLAMA_IGNORED_SWITCHES.contains(&f) => c.ignored.push(f.to_string()),
                f if f.starts_with('-') => c.unknown.push(f.to_string()),
                positional => c.unknown.push(positional.to_string()),
            }
            k += 1;
            continue;
        };
        let v = if def.kind == ValueKind::Switch {
            String::new()
        } else {
            take(&mut k)?
        };
        np_given |= def.flag == Flag::Parallel;
        apply_llama(&mut c, def, flag, &v)?;
        k += 1;
    }
    if server && !np_given {
        // llama-server's `-np` defaults to -1, "auto": 4 slots sharing one
        // unified KV cache (tools/server/server.cpp). Each slot may use the
        // whole context; the output buffer holds a logit row per slot.
        c.settings.n_parallel = SERVER_AUTO_SLOTS;
        c.settings.kv_unified = true;
    }
    Ok(c)
}

/// Slots llama-server opens when `-np` is not given (its "auto").
pub const SERVER_AUTO_SLOTS: u64 = 4;

/// Wrap a value parser's error with the flag and the value.
fn val<T>(flag: &str, v: &str, r: Result<T, flags::ValueError>) -> Result<T, CmdlineError> {
    r.map_err(|e| bad(flag, v, &e.0))
}

/// A count flag's value, within the table's bounds for that flag (none given: any u64).
fn count_value(def: &FlagDef, flag: &str, v: &str) -> Result<u64, CmdlineError> {
    match def.kind {
        ValueKind::Count { min, max } => val(flag, v, flags::parse_count(v, min, max)),
        _ => val(flag, v, flags::parse_count(v, 0, u64::MAX)),
    }
}

/// Apply one llama.cpp flag of the table (as `flag`, with value `v`) to `c`.
fn apply_llama(
    c: &mut ParsedCommand,
    def: &FlagDef,
    flag: &str,
    v: &str,
) -> Result<(), CmdlineError> {
    let count = |v: &str| count_value(def, flag, v);
    match def.flag {
        Flag::Model => c.model = Some(v.to_string()),
        Flag::CtxSize => {
            c.settings.n_ctx = val(flag, v, flags::parse_ctx(v))?;
            c.ctx_given = true;
        }
        Flag::BatchSize => c.settings.n_batch = count(v)?,
        Flag::UbatchSize => c.settings.n_ubatch = count(v)?,
        Flag::Parallel => c.settings.n_parallel = count(v)?,
        Flag::Threads => c.settings.threads = Some(count(v)?.min(u64::from(u32::MAX)) as u32),
        Flag::KvUnified => c.settings.kv_unified = true,
        Flag::FlashAttn => c.settings.flash_attn = val(flag, v, flags::parse_flash_attn(v))?,
        Flag::CacheTypeK => c.settings.type_k = val(flag, v, flags::parse_cache_type(v))?,
        Flag::CacheTypeV => c.settings.type_v = val(flag, v, flags::parse_cache_type(v))?,
        Flag::NGpuLayers => c.placement.n_gpu_layers = val(flag, v, flags::parse_ngl(v))?,
        Flag::TensorSplit => {
            c.placement.tensor_split = Some(val(flag, v, flags::parse_tensor_split(v))?)
        }
        Flag::SplitMode => c.placement.split_mode = val(flag, v, flags::parse_split_mode(v))?,
        Flag::MainGpu => c.placement.main_gpu = count(v)? as usize,
        Flag::OverrideTensor => {
            c.placement
                .overrides
                .extend(val(flag, v, flags::parse_overrides(v))?)
        }
        Flag::CpuMoe => c.placement.overrides.extend(flags::cpu_moe_overrides()),
        Flag::NCpuMoe => c
            .placement
            .overrides
            .extend(flags::n_cpu_moe_overrides(count(v)?)),
        Flag::NoKvOffload => c.placement.no_kv_offload = true,
        Flag::Fit => c.fit.enabled = val(flag, v, flags::parse_on_off(v))?,
        Flag::FitTarget => c.fit.margins = val(flag, v, flags::parse_mib_list(v))?,
        Flag::FitCtx => c.fit.n_ctx_min = count(v)?,
        Flag::ModelDraft => c.companions.draft_model = Some(v.to_string()),
        Flag::CacheTypeKDraft => {
            c.companions.draft_type_k = val(flag, v, flags::parse_cache_type(v))?
        }
        Flag::CacheTypeVDraft => {
            c.companions.draft_type_v = val(flag, v, flags::parse_cache_type(v))?
        }
        Flag::DraftMax => c.companions.draft_max = count(v)?,
        Flag::Mmproj => c.companions.mmproj = Some(v.to_string()),
        Flag::NoMmprojOffload => c.companions.mmproj_offload = false,
        Flag::MaxModelLen
        | Flag::TensorParallelSize
        | Flag::PipelineParallelSize
        | Flag::MaxNumSeqs
        | Flag::GpuMemoryUtilization
        | Flag::SpeculativeAlgorithm
        | Flag::SpeculativeTokens
        | Flag::SpeculativeConfig => c.ignored.push(format!("{flag} {v}")),
    }
    Ok(())
}

/// Apply one vLLM or SGLang flag of the table (as `flag`, with value `v`) to `c`.
fn apply_server(
    c: &mut ParsedCommand,
    def: &FlagDef,
    flag: &str,
    v: &str,
) -> Result<(), CmdlineError> {
    let count = |v: &str| count_value(def, flag, v);
    match def.flag {
        Flag::MaxModelLen => {
            c.settings.n_ctx = val(flag, v, flags::parse_ctx(v))?;
            c.ctx_given = true;
        }
        Flag::TensorParallelSize => c.tensor_parallel = Some(count(v)?),
        Flag::PipelineParallelSize => c.pipeline_parallel = Some(count(v)?),
        Flag::MaxNumSeqs => c.settings.n_parallel = count(v)?,
        Flag::GpuMemoryUtilization => {
            c.gpu_memory_utilization = Some(val(flag, v, flags::parse_fraction(v))?)
        }
        Flag::Model => c.model = Some(v.to_string()),
        // EAGLE and NEXTN draft with the model's own MTP layer (SGLang's
        // DeepSeek recipe); one step unless --speculative-num-steps says more.
        Flag::SpeculativeAlgorithm => match v.to_ascii_uppercase().as_str() {
            "EAGLE" | "EAGLE3" | "NEXTN" => {
                c.speculative_tokens = c.speculative_tokens.or(Some(1));
            }
            _ => c.ignored.push(format!("{flag} {v}")),
        },
        Flag::SpeculativeTokens => c.speculative_tokens = Some(count(v)?),
        Flag::SpeculativeConfig => {
            let n = serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .and_then(|j| j.get("num_speculative_tokens")?.as_u64())
                .ok_or_else(|| bad(flag, v, "is not a JSON object with num_speculative_tokens"))?;
            c.speculative_tokens = Some(n);
        }
        _ => {
            count(v)?;
            c.ignored.push(format!("{flag} {v}"));
        }
    }
    Ok(())
}

fn parse_ollama(
    program: &str,
    args: &[String],
    env: &[String],
) -> Result<ParsedCommand, CmdlineError> {
    let mut c = ParsedCommand::new(Engine::Ollama, program);
    // Ollama's defaults: flash attention off unless OLLAMA_FLASH_ATTENTION=1, f16 cache.
    c.settings.flash_attn = FlashAttn::Off;
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("run") | Some("serve") => {}
        Some(other) => c.unknown.push(other.to_string()),
        None => return Err(CmdlineError::Missing("ollama run MODEL".into())),
    }
    for a in it {
        if a.starts_with('-') {
            c.unknown.push(a.clone());
        } else if c.model.is_none() {
            c.model = Some(a.clone());
        } else {
            c.ignored.push(a.clone());
        }
    }
    for e in env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        match k {
            "OLLAMA_CONTEXT_LENGTH" => {
                c.settings.n_ctx = val(k, v, flags::parse_ctx(v))?;
                c.ctx_given = true;
            }
            "OLLAMA_FLASH_ATTENTION" => {
                c.settings.flash_attn = if matches!(v, "1" | "true") {
                    FlashAttn::On
                } else {
                    FlashAttn::Off
                }
            }
            "OLLAMA_KV_CACHE_TYPE" => {
                let t = val(k, v, flags::parse_cache_type(v))?;
                c.settings.type_k = t;
                c.settings.type_v = t;
            }
            "OLLAMA_NUM_PARALLEL" => {
                c.settings.n_parallel = val(k, v, flags::parse_count(v, 1, 4096))?
            }
            _ => c.ignored.push(e.clone()),
        }
    }
    Ok(c)
}

fn parse_server(
    engine: Engine,
    program: &str,
    args: &[String],
) -> Result<ParsedCommand, CmdlineError> {
    let mut c = ParsedCommand::new(engine, program);
    let table = match engine {
        Engine::Sglang => FlagEngine::Sglang,
        _ => FlagEngine::Vllm,
    };
    let mut k = 0;
    if args.first().map(String::as_str) == Some("serve") {
        k = 1;
    }
    while k < args.len() {
        let raw = &args[k];
        let (flag, inline) = match raw.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (raw.as_str(), None),
        };
        let take = |k: &mut usize| -> Result<String, CmdlineError> {
            if let Some(v) = inline {
                return Ok(v.to_string());
            }
            *k += 1;
            args.get(*k)
                .cloned()
                .ok_or_else(|| CmdlineError::Missing(flag.to_string()))
        };
        if let Some(def) = flags::lookup(table, flag) {
            let v = take(&mut k)?;
            apply_server(&mut c, def, flag, &v)?;
            k += 1;
            continue;
        }
        match flag {
            "--kv-cache-dtype"
            | "--max-num-batched-tokens"
            | "--dtype"
            | "--quantization"
            | "--host"
            | "--port"
            | "--served-model-name" => {
                let v = take(&mut k)?;
                c.ignored.push(format!("{flag} {v}"));
            }
            "--enable-expert-parallel" | "--trust-remote-code" | "--enforce-eager" => {
                c.ignored.push(flag.to_string())
            }
            f if f.starts_with('-') => c.unknown.push(f.to_string()),
            m if c.model.is_none() => c.model = Some(m.to_string()),
            other => c.unknown.push(other.to_string()),
        }
        k += 1;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::GgmlType;

    fn p(line: &str) -> Result<ParsedCommand, CmdlineError> {
        parse(&split_words(line))
    }

    #[test]
    fn llama_server_command() {
        let c = p("llama-server -m model.gguf -c 32768 -ngl 40 -ts 3,1 -fa on -ot exps=CPU -ctk q8_0 --port 8080 --frobnicate").unwrap();
        assert_eq!(c.model.as_deref(), Some("model.gguf"));
        assert_eq!(c.settings.n_ctx, 32768);
        assert_eq!(c.placement.n_gpu_layers, Some(40));
        assert_eq!(c.placement.tensor_split, Some(vec![3.0, 1.0]));
        assert_eq!(c.settings.flash_attn, FlashAttn::On);
        assert_eq!(c.placement.overrides.len(), 1);
        assert_eq!(c.settings.type_k, GgmlType::Q8_0);
        assert_eq!(c.unknown, vec!["--frobnicate"]);
        assert!(c.ignored.iter().any(|i| i.starts_with("--port")));
    }

    #[test]
    fn moe_fit_and_value_syntax() {
        use crate::flags::{moe_block_pattern, CPU_MOE_PATTERN};
        let c = p("llama-server -m m.gguf -c 32k -ngl all -ncmoe 3 -cmoe -fit off -fitt 2048,512 -fitc 8192").unwrap();
        assert_eq!(c.settings.n_ctx, 32768);
        assert_eq!(c.placement.n_gpu_layers, None);
        let pats: Vec<&str> = c
            .placement
            .overrides
            .iter()
            .map(|o| o.pattern.as_str())
            .collect();
        assert_eq!(
            pats,
            vec![
                moe_block_pattern(0).as_str(),
                moe_block_pattern(1).as_str(),
                moe_block_pattern(2).as_str(),
                CPU_MOE_PATTERN
            ]
        );
        assert!(!c.fit.enabled);
        assert_eq!(
            c.fit.margins,
            vec![
                crate::units::Bytes::mib(2048),
                crate::units::Bytes::mib(512)
            ]
        );
        assert_eq!(c.fit.n_ctx_min, 8192);
        assert!(c.unknown.is_empty());
    }

    #[test]
    fn llama_bench_reserves_logits_per_token() {
        use crate::memory::OutputRows;
        let bench = p("./build/bin/llama-bench -m m.gguf -p 512").unwrap();
        assert_eq!(bench.settings.outputs, OutputRows::PerToken);
        let server = p("llama-server -m m.gguf").unwrap();
        assert_eq!(server.settings.outputs, OutputRows::PerSequence);
    }

    #[test]
    fn llama_server_without_np_opens_four_unified_slots() {
        let auto = p("llama-server -m m.gguf -c 8192").unwrap();
        assert_eq!(auto.settings.n_parallel, SERVER_AUTO_SLOTS);
        assert!(auto.settings.kv_unified);
        // Unified: every slot may use the whole context.
        assert_eq!(auto.settings.context_per_sequence(), 8192);
        let given = p("llama-server -m m.gguf -c 8192 -np 2").unwrap();
        assert_eq!(given.settings.n_parallel, 2);
        assert!(!given.settings.kv_unified);
        assert_eq!(given.settings.context_per_sequence(), 4096);
        // llama-cli has no slots.
        let cli = p("llama-cli -m m.gguf -c 8192").unwrap();
        assert_eq!(cli.settings.n_parallel, 1);
    }

    #[test]
    fn bad_values_are_errors() {
        for (line, needle) in [
            ("llama-server -m m.gguf -ngl abc", "-ngl abc"),
            ("llama-server -m m.gguf -ts 1,,2", "-ts 1,,2"),
            ("llama-server -m m.gguf -c -5", "-c -5"),
            ("llama-server -m m.gguf -c", "-c needs a value"),
            ("llama-server -m m.gguf -ot exps", "PATTERN=BUFFER"),
            ("llama-server -m m.gguf -ncmoe x", "-ncmoe x"),
            ("llama-server -m m.gguf -fit maybe", "-fit maybe"),
            ("llama-server -m m.gguf -fitt a,b", "-fitt a,b"),
            ("vllm serve m --max-model-len lots", "--max-model-len lots"),
            ("python serve.py", "is not llama-server"),
        ] {
            let e = p(line).unwrap_err().to_string();
            assert!(e.contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn ollama_and_vllm() {
        let c = p("OLLAMA_CONTEXT_LENGTH=8192 OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE=q8_0 ollama run deepseek-r1:14b").unwrap();
        assert_eq!(c.engine, Engine::Ollama);
        assert_eq!(c.model.as_deref(), Some("deepseek-r1:14b"));
        assert_eq!(c.settings.n_ctx, 8192);
        assert_eq!(c.settings.type_v, GgmlType::Q8_0);
        let c =
            p("vllm serve deepseek-ai/DeepSeek-R1 --tensor-parallel-size 8 --max-model-len 32768")
                .unwrap();
        assert_eq!(c.tensor_parallel, Some(8));
        assert_eq!(c.settings.n_ctx, 32768);
    }

    #[test]
    fn the_tables_defaults_are_canirun_s_settings() {
        // canirun's command line reads the table's defaults through `apply`:
        // they must give the same settings as `RunSettings::default()`.
        let mut c = ParsedCommand::new(Engine::LlamaCpp, "canirun");
        for d in flags::FLAGS
            .iter()
            .filter(|d| d.engine == FlagEngine::LlamaCpp)
        {
            if let Some(v) = d.default {
                c.apply(d, d.name, v).unwrap();
            }
        }
        assert_eq!(c.settings, RunSettings::default());
        assert_eq!(c.placement, PlacementArgs::default());
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words("llama-cli -m 'my model.gguf' \\\n -c 4096"),
            vec!["llama-cli", "-m", "my model.gguf", "-c", "4096"]
        );
    }
}
