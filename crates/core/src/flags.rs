//! Every engine flag canirun reads, defined once (in the spirit of ripgrep's
//! `flags/defs.rs`): its canonical name, its aliases (llama.cpp's short and
//! single-dash spellings), the kind of value it takes and the one parser for
//! that kind. The pasted-command reader ([`crate::cmdline`]) looks flags up in
//! [`FLAGS`]; the binary generates its command-line arguments from the same
//! table (names, aliases, help, value names, defaults), validates them with
//! [`ValueKind::check`] and reads them back through the pasted-command reader,
//! taking its single-dash rewrites from [`single_dash_aliases`].

use crate::memory::FlashAttn;
use crate::placement::llama_cpp::{parse_buft, Override, SplitMode};
use crate::placement::Loc;
use crate::quant::GgmlType;
use crate::units::Bytes;

/// llama.cpp's pattern for `--cpu-moe` (`LLM_FFN_EXPS_REGEX`): every routed-expert tensor.
pub const CPU_MOE_PATTERN: &str = r"\.ffn_(up|down|gate_up|gate)_(ch|)exps";

/// llama.cpp's pattern for the routed experts of block `il`
/// (`llm_ffn_exps_block_regex`), one per layer of `--n-cpu-moe N`.
pub fn moe_block_pattern(il: u64) -> String {
    format!(r"blk\.{il}{CPU_MOE_PATTERN}")
}

/// The block whose routed experts `pattern` names, when it is exactly
/// [`moe_block_pattern`] of that block.
pub fn moe_block_of(pattern: &str) -> Option<u64> {
    let rest = pattern.strip_prefix(r"blk\.")?;
    let n = rest.strip_suffix(CPU_MOE_PATTERN)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

/// A flag value that canirun cannot accept: what is wrong and what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn err<T>(why: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(why.into()))
}

/// The engine whose command line a flag belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagEngine {
    /// llama.cpp (`llama-server`, `llama-cli`, `llama-bench`).
    LlamaCpp,
    /// vLLM (`vllm serve`).
    Vllm,
    /// SGLang (`python -m sglang.launch_server`).
    Sglang,
}

/// What a flag sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `-m`/`-hf`: the model.
    Model,
    /// `-c`: context size.
    CtxSize,
    /// `-b`: logical batch.
    BatchSize,
    /// `-ub`: physical batch.
    UbatchSize,
    /// `-np`: parallel sequences.
    Parallel,
    /// `-t`: CPU threads.
    Threads,
    /// `-kvu`: one KV stream.
    KvUnified,
    /// `-fa`: flash attention.
    FlashAttn,
    /// `-ctk`: K cache type.
    CacheTypeK,
    /// `-ctv`: V cache type.
    CacheTypeV,
    /// `-ngl`: layers on the GPU(s).
    NGpuLayers,
    /// `-ts`: tensor split.
    TensorSplit,
    /// `-sm`: split mode.
    SplitMode,
    /// `-mg`: main GPU.
    MainGpu,
    /// `-ot`: tensor buffer overrides.
    OverrideTensor,
    /// `-cmoe`: every routed expert in RAM.
    CpuMoe,
    /// `-ncmoe N`: the routed experts of the first N layers in RAM.
    NCpuMoe,
    /// `-nkvo`: KV cache in RAM.
    NoKvOffload,
    /// `-fit on|off`.
    Fit,
    /// `-fitt MiB[,MiB…]`.
    FitTarget,
    /// `-fitc N`.
    FitCtx,
    /// vLLM `--max-model-len`.
    MaxModelLen,
    /// vLLM `--tensor-parallel-size`.
    TensorParallelSize,
    /// vLLM `--pipeline-parallel-size`.
    PipelineParallelSize,
    /// vLLM `--max-num-seqs`.
    MaxNumSeqs,
    /// vLLM `--gpu-memory-utilization`.
    GpuMemoryUtilization,
    /// `-md`: a draft model for speculative decoding.
    ModelDraft,
    /// `-ctkd`: the draft's K cache type.
    CacheTypeKDraft,
    /// `-ctvd`: the draft's V cache type.
    CacheTypeVDraft,
    /// `--spec-draft-n-max`: tokens the draft proposes per step.
    DraftMax,
    /// `-mm`: a multimodal (vision) projector.
    Mmproj,
    /// `--no-mmproj-offload`: the projector stays in system RAM.
    NoMmprojOffload,
    /// SGLang `--speculative-algorithm` (EAGLE, NEXTN): MTP drafting.
    SpeculativeAlgorithm,
    /// vLLM/SGLang: draft tokens per step (`--num-speculative-tokens`,
    /// `--speculative-num-steps`).
    SpeculativeTokens,
    /// vLLM `--speculative-config` (JSON with `num_speculative_tokens`).
    SpeculativeConfig,
}

/// The kind of value a flag takes; each kind has one parser here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// No value (a switch).
    Switch,
    /// Free text (a file or repository).
    Text,
    /// A context size: [`parse_ctx`].
    Ctx,
    /// A whole number in a range: [`parse_count`].
    Count {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// `on`, `off` or `auto`: [`parse_flash_attn`].
    FlashAttn,
    /// A cache type: [`parse_cache_type`].
    CacheType,
    /// A layer count or `all`: [`parse_ngl`].
    Ngl,
    /// Proportions per GPU: [`parse_tensor_split`].
    TensorSplit,
    /// `layer`, `row` or `none`: [`parse_split_mode`].
    SplitMode,
    /// `PATTERN=BUFFER[,…]`: [`parse_overrides`].
    Overrides,
    /// `on` or `off`: [`parse_on_off`].
    OnOff,
    /// MiB per device: [`parse_mib_list`].
    MibList,
    /// A fraction in (0, 1]: [`parse_fraction`].
    Fraction,
}

/// One flag, defined once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlagDef {
    /// What it sets.
    pub flag: Flag,
    /// Whose flag it is.
    pub engine: FlagEngine,
    /// Canonical (long) name, e.g. `--ctx-size`.
    pub name: &'static str,
    /// Other spellings: `-c`, llama.cpp's single-dash longs (`-ngl`), old names.
    pub aliases: &'static [&'static str],
    /// Its value.
    pub kind: ValueKind,
    /// A value the tests feed through both readers.
    pub example: &'static str,
    /// The value's placeholder in `--help` (empty for a switch).
    pub value_name: &'static str,
    /// One line of help for canirun's own command line, without the closing
    /// period, as clap prints doc comments (empty: not on its command line).
    pub help: &'static str,
    /// The value canirun's command line assumes when the flag is absent: the
    /// engine's default, except `-c` (4096, not the training context).
    pub default: Option<&'static str>,
}

impl FlagDef {
    /// Whether `word` is this flag.
    pub fn is(&self, word: &str) -> bool {
        self.name == word || self.aliases.contains(&word)
    }

    /// With its placeholder and help line for canirun's command line.
    pub const fn doc(self, value_name: &'static str, help: &'static str) -> FlagDef {
        FlagDef {
            value_name,
            help,
            ..self
        }
    }

    /// For `engine` instead of llama.cpp (vLLM's and SGLang's own names).
    pub const fn for_engine(self, engine: FlagEngine) -> FlagDef {
        FlagDef { engine, ..self }
    }

    /// With the value canirun's command line assumes when the flag is absent.
    pub const fn default(self, value: &'static str) -> FlagDef {
        FlagDef {
            default: Some(value),
            ..self
        }
    }
}

impl Flag {
    /// Whether the flag places tensors or KV rows (llama.cpp's placement and
    /// `--fit` flags), rather than sizing the run.
    pub fn is_placement(self) -> bool {
        matches!(
            self,
            Flag::NGpuLayers
                | Flag::TensorSplit
                | Flag::SplitMode
                | Flag::MainGpu
                | Flag::OverrideTensor
                | Flag::CpuMoe
                | Flag::NCpuMoe
                | Flag::NoKvOffload
                | Flag::Fit
                | Flag::FitTarget
                | Flag::FitCtx
        )
    }
}

impl ValueKind {
    /// Check `s` with this kind's parser.
    pub fn check(self, s: &str) -> Result<(), ValueError> {
        match self {
            ValueKind::Switch | ValueKind::Text => Ok(()),
            ValueKind::Ctx => parse_ctx(s).map(drop),
            ValueKind::Count { min, max } => parse_count(s, min, max).map(drop),
            ValueKind::FlashAttn => parse_flash_attn(s).map(drop),
            ValueKind::CacheType => parse_cache_type(s).map(drop),
            ValueKind::Ngl => parse_ngl(s).map(drop),
            ValueKind::TensorSplit => parse_tensor_split(s).map(drop),
            ValueKind::SplitMode => parse_split_mode(s).map(drop),
            ValueKind::Overrides => parse_overrides(s).map(drop),
            ValueKind::OnOff => parse_on_off(s).map(drop),
            ValueKind::MibList => parse_mib_list(s).map(drop),
            ValueKind::Fraction => parse_fraction(s).map(drop),
        }
    }
}

const fn def(
    flag: Flag,
    name: &'static str,
    aliases: &'static [&'static str],
    kind: ValueKind,
    example: &'static str,
) -> FlagDef {
    FlagDef {
        flag,
        engine: FlagEngine::LlamaCpp,
        name,
        aliases,
        kind,
        example,
        value_name: "",
        help: "",
        default: None,
    }
}

/// Largest context accepted (tokens).
pub const MAX_CTX: u64 = 10_000_000;

/// The flags that change memory or placement. llama.cpp's first (`llama-server --help`
/// at [`crate::commands::llama_cpp::LLAMA_CPP_COMMIT`]), then vLLM's.
pub const FLAGS: &[FlagDef] = &[
    def(
        Flag::Model,
        "--model",
        &["-m", "-hf", "--hf-repo", "-hfr"],
        ValueKind::Text,
        "model.gguf",
    ),
    def(Flag::CtxSize, "--ctx-size", &["-c"], ValueKind::Ctx, "32k")
        .doc(
            "N",
            "Context size in tokens, all sequences together (0 = the model's training context)",
        )
        .default("4096"),
    def(
        Flag::FlashAttn,
        "--flash-attn",
        &["-fa"],
        ValueKind::FlashAttn,
        "on",
    )
    .doc("on|off|auto", "Flash attention: on, off or auto")
    .default("auto"),
    def(
        Flag::CacheTypeK,
        "--cache-type-k",
        &["-ctk"],
        ValueKind::CacheType,
        "q8_0",
    )
    .doc(
        "TYPE",
        "K cache type: f16, bf16, f32, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl",
    )
    .default("f16"),
    def(
        Flag::CacheTypeV,
        "--cache-type-v",
        &["-ctv"],
        ValueKind::CacheType,
        "q4_0",
    )
    .doc("TYPE", "V cache type (quantized types need flash attention)")
    .default("f16"),
    def(
        Flag::Parallel,
        "--parallel",
        &["-np"],
        ValueKind::Count { min: 1, max: 4096 },
        "4",
    )
    .doc("N", "Parallel sequences (slots)")
    .default("1"),
    def(
        Flag::Threads,
        "--threads",
        &["-t"],
        ValueKind::Count { min: 1, max: 4096 },
        "8",
    )
    .doc(
        "N",
        "CPU threads llama.cpp computes with (default: its own, one per physical performance core)",
    ),
    def(
        Flag::KvUnified,
        "--kv-unified",
        &["-kvu"],
        ValueKind::Switch,
        "",
    )
    .doc("", "One KV stream shared by all sequences (llama.cpp --kv-unified)"),
    def(
        Flag::BatchSize,
        "--batch-size",
        &["-b"],
        ValueKind::Count {
            min: 1,
            max: 1 << 20,
        },
        "4096",
    )
    .doc("N", "Logical batch size")
    .default("2048"),
    def(
        Flag::UbatchSize,
        "--ubatch-size",
        &["-ub"],
        ValueKind::Count {
            min: 1,
            max: 1 << 20,
        },
        "1024",
    )
    .doc("N", "Physical batch size (tokens per graph evaluation)")
    .default("512"),
    def(
        Flag::NGpuLayers,
        "--n-gpu-layers",
        &["-ngl", "--gpu-layers"],
        ValueKind::Ngl,
        "20",
    )
    .doc(
        "N",
        "Layers to offload to the GPU(s), counting the output head as the last one (`all` = every layer)",
    ),
    def(
        Flag::TensorSplit,
        "--tensor-split",
        &["-ts"],
        ValueKind::TensorSplit,
        "3,1",
    )
    .doc("A,B,…", "Proportions of the layers per GPU, e.g. 3,1"),
    def(
        Flag::SplitMode,
        "--split-mode",
        &["-sm"],
        ValueKind::SplitMode,
        "row",
    )
    .doc("MODE", "How to split across GPUs: layer, row or none"),
    def(
        Flag::MainGpu,
        "--main-gpu",
        &["-mg"],
        ValueKind::Count { min: 0, max: 64 },
        "1",
    )
    .doc("I", "The main GPU (for row split and none)")
    .default("0"),
    def(
        Flag::OverrideTensor,
        "--override-tensor",
        &["-ot"],
        ValueKind::Overrides,
        "exps=CPU",
    )
    .doc(
        "PATTERN=BUFFER",
        "Override where tensors go: REGEX=BUFFER, e.g. exps=CPU (repeatable; several separated by commas)",
    ),
    def(Flag::CpuMoe, "--cpu-moe", &["-cmoe"], ValueKind::Switch, "")
        .doc("", "Keep all MoE experts in system RAM (llama.cpp --cpu-moe)"),
    def(
        Flag::NCpuMoe,
        "--n-cpu-moe",
        &["-ncmoe"],
        ValueKind::Count {
            min: 0,
            max: 100_000,
        },
        "5",
    )
    .doc(
        "N",
        "Keep the MoE experts of the first N layers in system RAM (llama.cpp --n-cpu-moe)",
    ),
    def(
        Flag::NoKvOffload,
        "--no-kv-offload",
        &["-nkvo"],
        ValueKind::Switch,
        "",
    )
    .doc("", "Keep the KV cache in system RAM"),
    def(Flag::Fit, "--fit", &["-fit"], ValueKind::OnOff, "off")
        .doc("on|off", "llama.cpp's automatic fit: on (default) or off"),
    def(
        Flag::FitTarget,
        "--fit-target",
        &["-fitt"],
        ValueKind::MibList,
        "2048,1024",
    )
    .doc(
        "MiB[,MiB…]",
        "MiB the fit leaves free per device (one value for all, or one per device; default 1024)",
    ),
    def(
        Flag::FitCtx,
        "--fit-ctx",
        &["-fitc"],
        ValueKind::Count {
            min: 0,
            max: MAX_CTX,
        },
        "8192",
    )
    .doc("N", "The fit never shrinks the context below this (default 4096)"),
    // Models loaded beside the main one (common/arg.cpp at the pinned commit).
    def(
        Flag::ModelDraft,
        "--model-draft",
        &["-md", "--spec-draft-model"],
        ValueKind::Text,
        "qwen3:0.6b",
    )
    .doc(
        "MODEL",
        "Draft model for speculative decoding (catalog name, .gguf file or remote header); its weights, KV and compute are added on the first GPU",
    ),
    def(
        Flag::CacheTypeKDraft,
        "--cache-type-k-draft",
        &["-ctkd", "--spec-draft-type-k"],
        ValueKind::CacheType,
        "q8_0",
    )
    .doc("TYPE", "The draft model's K cache type")
    .default("f16"),
    def(
        Flag::CacheTypeVDraft,
        "--cache-type-v-draft",
        &["-ctvd", "--spec-draft-type-v"],
        ValueKind::CacheType,
        "q8_0",
    )
    .doc("TYPE", "The draft model's V cache type")
    .default("f16"),
    def(
        Flag::DraftMax,
        "--spec-draft-n-max",
        &[],
        ValueKind::Count { min: 1, max: 64 },
        "8",
    )
    .doc("N", "Tokens the draft model proposes per step")
    .default("3"),
    def(
        Flag::Mmproj,
        "--mmproj",
        &["-mm"],
        ValueKind::Text,
        "mmproj-F16.gguf",
    )
    .doc(
        "FILE",
        "Multimodal (vision) projector GGUF, a file or remote header, sized from its tensors",
    ),
    def(
        Flag::NoMmprojOffload,
        "--no-mmproj-offload",
        &[],
        ValueKind::Switch,
        "",
    )
    .doc("", "Keep the vision projector in system RAM"),
    def(
        Flag::TensorParallelSize,
        "--tensor-parallel-size",
        &["-tp"],
        ValueKind::Count { min: 1, max: 1024 },
        "8",
    )
    .for_engine(FlagEngine::Vllm)
    .doc(
        "N",
        "vLLM/SGLang tensor-parallel size (default: every GPU of a node)",
    ),
    def(
        Flag::PipelineParallelSize,
        "--pipeline-parallel-size",
        &["-pp"],
        ValueKind::Count { min: 1, max: 1024 },
        "2",
    )
    .for_engine(FlagEngine::Vllm)
    .doc(
        "N",
        "vLLM/SGLang pipeline-parallel size (default: one stage per node)",
    ),
    def(
        Flag::GpuMemoryUtilization,
        "--gpu-memory-utilization",
        &[],
        ValueKind::Fraction,
        "0.85",
    )
    .for_engine(FlagEngine::Vllm)
    .doc("F", "vLLM's share of each GPU (SGLang's --mem-fraction-static)")
    .default("0.9"),
    def(
        Flag::MaxNumSeqs,
        "--max-num-seqs",
        &[],
        ValueKind::Count {
            min: 1,
            max: 100_000,
        },
        "64",
    )
    .for_engine(FlagEngine::Vllm)
    .doc("N", "vLLM/SGLang maximum concurrent sequences")
    .default("256"),
    def(
        Flag::MaxModelLen,
        "--max-model-len",
        &[],
        ValueKind::Ctx,
        "32768",
    )
    .for_engine(FlagEngine::Vllm),
    def(
        Flag::SpeculativeTokens,
        "--num-speculative-tokens",
        &[],
        ValueKind::Count { min: 1, max: 16 },
        "1",
    )
    .for_engine(FlagEngine::Vllm),
    def(
        Flag::SpeculativeConfig,
        "--speculative-config",
        &[],
        ValueKind::Text,
        r#"{"method":"deepseek_mtp","num_speculative_tokens":1}"#,
    )
    .for_engine(FlagEngine::Vllm),
    // SGLang's names for the same settings (sglang/srt/server_args.py).
    def(
        Flag::Model,
        "--model-path",
        &["--model"],
        ValueKind::Text,
        "deepseek-ai/DeepSeek-R1",
    )
    .for_engine(FlagEngine::Sglang),
    def(
        Flag::MaxModelLen,
        "--context-length",
        &[],
        ValueKind::Ctx,
        "32768",
    )
    .for_engine(FlagEngine::Sglang),
    def(
        Flag::TensorParallelSize,
        "--tp-size",
        &["--tp", "--tensor-parallel-size"],
        ValueKind::Count { min: 1, max: 1024 },
        "8",
    )
    .for_engine(FlagEngine::Sglang),
    def(
        Flag::PipelineParallelSize,
        "--pp-size",
        &["--pp", "--pipeline-parallel-size"],
        ValueKind::Count { min: 1, max: 1024 },
        "2",
    )
    .for_engine(FlagEngine::Sglang),
    def(
        Flag::MaxNumSeqs,
        "--max-running-requests",
        &[],
        ValueKind::Count {
            min: 1,
            max: 1 << 20,
        },
        "64",
    )
    .for_engine(FlagEngine::Sglang),
    def(
        Flag::GpuMemoryUtilization,
        "--mem-fraction-static",
        &[],
        ValueKind::Fraction,
        "0.85",
    )
    .for_engine(FlagEngine::Sglang),
    def(
        Flag::SpeculativeAlgorithm,
        "--speculative-algorithm",
        &[],
        ValueKind::Text,
        "EAGLE",
    )
    .for_engine(FlagEngine::Sglang),
    def(
        Flag::SpeculativeTokens,
        "--speculative-num-steps",
        &[],
        ValueKind::Count { min: 1, max: 16 },
        "1",
    )
    .for_engine(FlagEngine::Sglang),
];

/// The definition of `word` among `engine`'s flags.
pub fn lookup(engine: FlagEngine, word: &str) -> Option<&'static FlagDef> {
    FLAGS.iter().find(|d| d.engine == engine && d.is(word))
}

/// The definition of a flag.
pub fn def_of(flag: Flag) -> &'static FlagDef {
    FLAGS.iter().find(|d| d.flag == flag).unwrap_or(&FLAGS[0])
}

/// llama.cpp's single-dash long spellings (`-ngl`) with the canonical name they
/// stand for (`--n-gpu-layers`): clap wants two dashes for a long name, so the
/// binary rewrites these words before parsing.
pub fn single_dash_aliases() -> impl Iterator<Item = (&'static str, &'static str)> {
    FLAGS
        .iter()
        // Text flags only where canirun's command line has them (`-md`, `-mm`);
        // `-hf` names the model, which canirun takes as its argument.
        .filter(|d| {
            d.engine == FlagEngine::LlamaCpp && (d.kind != ValueKind::Text || !d.help.is_empty())
        })
        .flat_map(|d| {
            d.aliases
                .iter()
                .filter(|a| !a.starts_with("--") && a.len() > 2)
                .map(move |a| (*a, d.name))
        })
}

/// A whole number from `min` to `max`.
pub fn parse_count(s: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    match s.trim().parse::<i64>() {
        Ok(n) if n >= 0 && (n as u64) >= min && (n as u64) <= max => Ok(n as u64),
        Ok(_) => err(format!("must be a whole number from {min} to {max}")),
        Err(_) => err(format!("is not a whole number; use {min} to {max}")),
    }
}

/// A context size in tokens, 0 to [`MAX_CTX`] (0: the model's training
/// context); `32k` and `128K` are 1024 × 32 and 1024 × 128.
pub fn parse_ctx(s: &str) -> Result<u64, ValueError> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.strip_suffix('k') {
        Some(n) => (n, 1024),
        None => (t.as_str(), 1),
    };
    let Ok(n) = num.parse::<i64>() else {
        return err("is not a context size; use a whole number of tokens such as 4096 or 32k");
    };
    if n < 0 {
        return err("is negative; use 1 to 10000000 tokens, or 0 for the training context");
    }
    match (n as u64).checked_mul(mult) {
        Some(n) if n <= MAX_CTX => Ok(n),
        _ => err("is absurd; use 1 to 10000000 tokens"),
    }
}

/// A context size that must be given (1 to [`MAX_CTX`], `32k` accepted), for
/// commands that have no training-context default.
pub fn parse_ctx_given(s: &str) -> Result<u64, ValueError> {
    match parse_ctx(s)? {
        0 => err("must be at least 1 token"),
        n => Ok(n),
    }
}

/// `-ngl`: a layer count, or every layer (`all`, `auto`, `-1`: `None`).
pub fn parse_ngl(s: &str) -> Result<Option<u64>, ValueError> {
    match s.trim() {
        "all" | "-1" | "auto" => Ok(None),
        t => t
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= 100_000)
            .map(Some)
            .ok_or_else(|| ValueError("is not a layer count; use a whole number or all".into())),
    }
}

/// `-ts`: one non-negative proportion per GPU, not all zero (`3,1` or `3/1`).
pub fn parse_tensor_split(s: &str) -> Result<Vec<f64>, ValueError> {
    let v: Result<Vec<f64>, _> = s
        .split([',', '/'])
        .map(|p| p.trim().parse::<f64>())
        .collect();
    match v {
        Ok(v) if v.iter().all(|x| x.is_finite() && *x >= 0.0) && v.iter().any(|x| *x > 0.0) => {
            Ok(v)
        }
        _ => err("is not a tensor split; give one non-negative proportion per GPU, not all zero, e.g. 3,1"),
    }
}

/// `-fa`: on, off or auto.
pub fn parse_flash_attn(s: &str) -> Result<FlashAttn, ValueError> {
    FlashAttn::parse(s).ok_or_else(|| ValueError("is not on, off or auto".into()))
}

/// `-ctk`/`-ctv`: a cache type llama.cpp accepts.
pub fn parse_cache_type(s: &str) -> Result<GgmlType, ValueError> {
    const USE: &str = "use f16, bf16, f32, q8_0, q4_0, q4_1, q5_0, q5_1 or iq4_nl";
    match s.trim().parse::<GgmlType>() {
        Ok(t) if crate::memory::CACHE_TYPES.contains(&t) => Ok(t),
        Ok(_) => err(format!("is not a cache type llama.cpp accepts; {USE}")),
        Err(_) => err(format!("is not a cache type; {USE}")),
    }
}

/// `-sm`: layer, row or none.
pub fn parse_split_mode(s: &str) -> Result<SplitMode, ValueError> {
    match s.trim() {
        "layer" => Ok(SplitMode::Layer),
        "row" => Ok(SplitMode::Row),
        "none" => Ok(SplitMode::None),
        _ => err("is not a split mode; use layer, row or none"),
    }
}

/// `-ot`: `PATTERN=BUFFER`, several separated by commas, in order.
pub fn parse_overrides(s: &str) -> Result<Vec<Override>, ValueError> {
    s.split(',')
        .map(|rule| {
            let (pat, buft) = rule
                .split_once('=')
                .ok_or_else(|| ValueError("write PATTERN=BUFFER, e.g. exps=CPU".into()))?;
            if pat.is_empty() {
                return err("the pattern is empty; write PATTERN=BUFFER, e.g. exps=CPU");
            }
            if regex::Regex::new(pat).is_err() {
                return err(format!("'{pat}' is not a valid regular expression"));
            }
            let target = parse_buft(buft).ok_or_else(|| {
                ValueError("the buffer must be CPU, CUDA0, ROCm0, Vulkan0 or Metal".into())
            })?;
            Ok(Override {
                pattern: pat.to_string(),
                target,
            })
        })
        .collect()
}

/// The overrides `--cpu-moe` adds.
pub fn cpu_moe_overrides() -> Vec<Override> {
    vec![Override {
        pattern: CPU_MOE_PATTERN.into(),
        target: Loc::Cpu,
    }]
}

/// The overrides `--n-cpu-moe n` adds: one per layer, as llama.cpp does.
pub fn n_cpu_moe_overrides(n: u64) -> Vec<Override> {
    (0..n)
        .map(|il| Override {
            pattern: moe_block_pattern(il),
            target: Loc::Cpu,
        })
        .collect()
}

/// `-fit`: on or off.
pub fn parse_on_off(s: &str) -> Result<bool, ValueError> {
    match s.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => err("use on or off"),
    }
}

/// `-fitt`: MiB to leave free per device (`1024` or `1024,2048`).
pub fn parse_mib_list(s: &str) -> Result<Vec<Bytes>, ValueError> {
    let v: Vec<Bytes> = s
        .split([',', '/'])
        .filter(|x| !x.trim().is_empty())
        .map(|x| parse_count(x, 0, 1 << 30).map(Bytes::mib))
        .collect::<Result<_, _>>()
        .map_err(|_| ValueError("give whole MiB per device, e.g. 1024 or 1024,2048".into()))?;
    if v.is_empty() {
        return err("give MiB per device, e.g. 1024 or 1024,2048");
    }
    Ok(v)
}

/// A fraction in (0, 1].
pub fn parse_fraction(s: &str) -> Result<f64, ValueError> {
    match s.trim().parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => err("must be a fraction in (0, 1]"),
    }
}

/// `--backend` (canirun's own): cpu, cuda, metal, vulkan or rocm.
pub fn parse_backend(s: &str) -> Result<crate::memory::Backend, ValueError> {
    crate::memory::Backend::parse(s).ok_or_else(|| {
        ValueError(format!(
            "'{s}' is not a backend; use cpu, cuda, metal, vulkan or rocm"
        ))
    })
}

/// `--mla-cache` (canirun's own): the MLA cache layout of the engine version.
pub fn parse_mla_cache(s: &str) -> Result<crate::memory::MlaCache, ValueError> {
    crate::memory::MlaCache::parse(s).ok_or_else(|| {
        ValueError(format!(
            "'{s}' is not an MLA cache layout; use latent, latent-kv or expanded"
        ))
    })
}

/// `--mla-tensors` (canirun's own): how a DeepSeek GGUF stores its MLA tensors.
pub fn parse_mla_tensors(s: &str) -> Result<crate::model::MlaTensorLayout, ValueError> {
    use crate::model::MlaTensorLayout;
    match s.to_ascii_lowercase().as_str() {
        "split" | "new" => Ok(MlaTensorLayout::Split),
        "fused" | "old" | "kv_b" => Ok(MlaTensorLayout::Fused),
        _ => err(format!("'{s}' is not a tensor layout; use split or fused")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_examples_parse() {
        let mut seen = std::collections::HashSet::new();
        for d in FLAGS {
            for w in std::iter::once(&d.name).chain(d.aliases) {
                // Names are unique within each engine's command line (SGLang and vLLM share some).
                assert!(seen.insert((d.engine as u8, *w)), "{w} twice");
            }
            let ok = match d.kind {
                ValueKind::Switch => d.example.is_empty(),
                ValueKind::Text => !d.example.is_empty(),
                kind => kind.check(d.example).is_ok(),
            };
            assert!(ok, "{}: example {}", d.name, d.example);
            if let Some(v) = d.default {
                assert!(d.kind.check(v).is_ok(), "{}: default {v}", d.name);
            }
            // A flag on canirun's command line has help, and a placeholder when it takes a value.
            assert!(
                d.help.is_empty() || (d.value_name.is_empty() == (d.kind == ValueKind::Switch)),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn values() {
        assert_eq!(parse_ctx("32k"), Ok(32768));
        assert_eq!(parse_ctx("128K"), Ok(131072));
        assert!(parse_ctx("-5").is_err());
        assert!(parse_ctx("99999999999999999k").is_err());
        assert!(parse_ctx_given("0").is_err());
        assert_eq!(parse_ngl("all"), Ok(None));
        assert_eq!(parse_ngl("62"), Ok(Some(62)));
        assert!(parse_ngl("abc").is_err());
        assert_eq!(parse_tensor_split("3,1"), Ok(vec![3.0, 1.0]));
        assert!(parse_tensor_split("1,,2").is_err());
        assert!(parse_tensor_split("0,0").is_err());
        assert_eq!(
            parse_mib_list("1024,2048"),
            Ok(vec![Bytes::mib(1024), Bytes::mib(2048)])
        );
        assert!(parse_mib_list("x").is_err());
        assert_eq!(parse_overrides("exps=CPU,a=CUDA1").unwrap().len(), 2);
        assert!(parse_overrides("exps").is_err());
        assert!(parse_overrides("(=CPU").is_err());
        assert_eq!(parse_backend("Metal"), Ok(crate::memory::Backend::Metal));
        assert!(parse_mla_cache("latent-kv").is_ok() && parse_mla_cache("x").is_err());
        assert!(parse_mla_tensors("fused").is_ok() && parse_mla_tensors("x").is_err());
    }

    #[test]
    fn moe_patterns() {
        assert_eq!(
            moe_block_pattern(7),
            r"blk\.7\.ffn_(up|down|gate_up|gate)_(ch|)exps"
        );
        assert_eq!(moe_block_of(&moe_block_pattern(42)), Some(42));
        assert_eq!(
            moe_block_of(r"blk\.\d+\.ffn_(up|down|gate_up|gate)_(ch|)exps"),
            None
        );
        assert_eq!(moe_block_of(r"blk\.4\.ffn_down.*"), None);
        let dash: Vec<_> = single_dash_aliases().map(|(a, _)| a).collect();
        for a in [
            "-ngl", "-fa", "-ctk", "-ctv", "-np", "-ub", "-ot", "-ts", "-sm", "-kvu",
        ] {
            assert!(dash.contains(&a), "{a}");
        }
        for a in ["-fit", "-fitt", "-fitc", "-ncmoe", "-cmoe", "-nkvo", "-mg"] {
            assert!(dash.contains(&a), "{a}");
        }
    }
}
