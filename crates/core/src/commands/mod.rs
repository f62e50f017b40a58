//! "The command to run it": the exact launch command for a model, a
//! quantization, run settings and a placement, for each engine canirun knows
//! (llama.cpp, Ollama, vLLM, SGLang, MLX, ExLlamaV2/TabbyAPI).
//!
//! Pure functions: no engine is run here. Every command names the engine
//! version its flags come from; llama.cpp's are checked against the real
//! `llama-server --help` by a test, vLLM's, SGLang's, MLX's and TabbyAPI's
//! against the flag names and config keys read from each engine's source at a
//! named release (`data/engine_flags.toml`), and every command canirun can also read
//! back (llama.cpp, Ollama, vLLM) round-trips through [`crate::cmdline`].
//! Which GGUF repository a model comes from is data (`data/gguf_repos.toml`),
//! as are Ollama's documented Modelfile keys (`data/ollama_modelfile_keys.toml`).

#[cfg(test)]
mod engine_flags_tests;
pub mod exllamav2;
pub mod llama_cpp;
pub mod mlx;
pub mod ollama;
pub mod sglang;
#[cfg(test)]
mod testing;
pub mod vllm;

use crate::memory::vllm::VllmSettings;
use crate::memory::RunSettings;
use crate::model::{CatalogEntry, ModelSpec};
use crate::placement::llama_cpp::LlamaFlags;
use crate::quant::Quant;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::LazyLock;

/// An engine canirun writes commands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// llama.cpp's `llama-server`.
    LlamaCpp,
    /// Ollama.
    Ollama,
    /// vLLM's `vllm serve`.
    Vllm,
    /// SGLang's `sglang.launch_server`.
    Sglang,
    /// Apple's MLX (`mlx_lm.server`).
    Mlx,
    /// ExLlamaV2 through TabbyAPI.
    Exllamav2,
}

impl Runner {
    /// Every engine, in the order `--engine all` prints them.
    pub const ALL: [Runner; 6] = [
        Runner::LlamaCpp,
        Runner::Ollama,
        Runner::Vllm,
        Runner::Sglang,
        Runner::Mlx,
        Runner::Exllamav2,
    ];

    /// The name users type (`llama.cpp`, `ollama`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::LlamaCpp => "llama.cpp",
            Runner::Ollama => "ollama",
            Runner::Vllm => "vllm",
            Runner::Sglang => "sglang",
            Runner::Mlx => "mlx",
            Runner::Exllamav2 => "exllamav2",
        }
    }

    /// Parse an engine name (`llama.cpp`, `llamacpp`, `llama-server`, `tabbyapi`, …).
    pub fn parse(s: &str) -> Option<Runner> {
        match s.trim().to_ascii_lowercase().as_str() {
            "llama.cpp" | "llamacpp" | "llama-cpp" | "llama-server" | "llama" => {
                Some(Runner::LlamaCpp)
            }
            "ollama" => Some(Runner::Ollama),
            "vllm" => Some(Runner::Vllm),
            "sglang" => Some(Runner::Sglang),
            "mlx" | "mlx-lm" | "mlx_lm" => Some(Runner::Mlx),
            "exllamav2" | "exl2" | "tabbyapi" | "tabby" => Some(Runner::Exllamav2),
            _ => None,
        }
    }
}

impl fmt::Display for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A configuration file an engine reads (TabbyAPI's `config.yml`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigFile {
    /// File name.
    pub name: String,
    /// Its content.
    pub content: String,
}

/// A launch command, ready to paste.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCommand {
    /// The engine.
    pub engine: Runner,
    /// The engine version the flags exist in, and how canirun knows.
    pub version_note: String,
    /// The command line, shell-quoted.
    pub command: String,
    /// Environment to set first (for Ollama: on the server, `ollama serve`).
    pub env: Vec<(String, String)>,
    /// An Ollama Modelfile that bakes the same settings into a model.
    pub modelfile: Option<String>,
    /// A configuration file the engine reads instead of flags.
    pub config: Option<ConfigFile>,
    /// Caveats and the other steps (second node, download, …).
    pub notes: Vec<String>,
}

impl RunCommand {
    /// A command line and its notes, with no environment, Modelfile or
    /// configuration file: how every runner but Ollama and ExLlamaV2 starts.
    pub fn words(
        engine: Runner,
        version_note: impl Into<String>,
        words: &[String],
        notes: Vec<String>,
    ) -> RunCommand {
        RunCommand {
            engine,
            version_note: version_note.into(),
            command: join_words(words),
            env: vec![],
            modelfile: None,
            config: None,
            notes,
        }
    }

    /// The command with its environment in front (`VAR=value … command`), as one shell line.
    pub fn shell_line(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        words.push(self.command.clone());
        words.join(" ")
    }
}

/// Why an engine gets no command for this request (JSON: `{"engine", "why"}`).
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(untagged)]
pub enum CommandError {
    /// The engine cannot run this model, format or hardware; `why` says what would work.
    #[error("{engine}: {why}")]
    NotApplicable {
        /// The engine.
        engine: Runner,
        /// What stands in the way and what to do instead.
        why: String,
    },
}

pub(crate) fn not_applicable(engine: Runner, why: impl Into<String>) -> CommandError {
    CommandError::NotApplicable {
        engine,
        why: why.into(),
    }
}

/// Everything a command depends on.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The model's shape (layers, experts, architecture).
    pub spec: &'a ModelSpec,
    /// The catalog entry (Hugging Face repo, Ollama tags), when the model is in the catalog.
    pub entry: Option<&'a CatalogEntry>,
    /// A local model file or directory to load instead of downloading.
    pub local_path: Option<&'a str>,
    /// The quantization.
    pub quant: &'a Quant,
    /// Run settings (context, cache types, flash attention, slots).
    pub settings: &'a RunSettings,
    /// llama.cpp placement, typed (as in [`crate::placement::Placement::llama`]);
    /// each engine writes its own flags from it. `None`: the engine's defaults.
    pub placement: Option<&'a LlamaFlags>,
    /// vLLM/SGLang launch settings (parallel sizes, memory share, context); `None`:
    /// one GPU and the context of `settings`.
    pub server: Option<&'a VllmSettings>,
    /// GPUs per node, to split vLLM/SGLang over several machines (8 for HGX servers).
    pub gpus_per_node: u64,
}

impl<'a> Request<'a> {
    /// A request with no placement, no server settings and 8 GPUs per node.
    pub fn new(spec: &'a ModelSpec, quant: &'a Quant, settings: &'a RunSettings) -> Self {
        Request {
            spec,
            entry: None,
            local_path: None,
            quant,
            settings,
            placement: None,
            server: None,
            gpus_per_node: 8,
        }
    }

    /// The server settings, or vLLM's defaults with the context of `settings`.
    pub(crate) fn server_settings(&self) -> VllmSettings {
        match self.server {
            Some(s) => s.clone(),
            None => VllmSettings {
                max_model_len: self.settings.n_ctx,
                ..VllmSettings::default()
            },
        }
    }
}

/// The command for one engine.
pub fn generate(engine: Runner, req: &Request) -> Result<RunCommand, CommandError> {
    match engine {
        Runner::LlamaCpp => llama_cpp::command(req),
        Runner::Ollama => ollama::command(req),
        Runner::Vllm => vllm::command(req),
        Runner::Sglang => sglang::command(req),
        Runner::Mlx => mlx::command(req),
        Runner::Exllamav2 => exllamav2::command(req),
    }
}

/// Commands for every engine that can run the request, and why the others cannot.
pub fn generate_all(req: &Request) -> (Vec<RunCommand>, Vec<CommandError>) {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for e in Runner::ALL {
        match generate(e, req) {
            Ok(c) => ok.push(c),
            Err(err) => skipped.push(err),
        }
    }
    (ok, skipped)
}

/// Quote a word for a POSIX shell when it holds anything but plain characters.
/// Single quotes, because `-ot` patterns carry `\`, `(`, `|` that a shell would eat.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Join words into a shell line, quoting where needed.
pub(crate) fn join_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One GGUF repository of `data/gguf_repos.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GgufRepo {
    /// Catalog id of the model.
    pub model: String,
    /// Hugging Face repository (`unsloth/DeepSeek-R1-GGUF`).
    pub repo: String,
    /// File tags canirun has seen there (`Q4_K_M`, `UD-IQ1_S`).
    pub quants: Vec<String>,
    /// Where canirun saw them.
    pub source: String,
}

#[derive(Deserialize)]
struct GgufRepoFile {
    repo: Vec<GgufRepo>,
}

/// The embedded GGUF repositories; a malformed file (caught by a test) reads as none.
static GGUF_REPOS: LazyLock<Vec<GgufRepo>> = LazyLock::new(|| {
    toml::from_str::<GgufRepoFile>(include_str!("../../data/gguf_repos.toml"))
        .map(|f| f.repo)
        .unwrap_or_default()
});

/// Every GGUF repository canirun knows.
pub fn gguf_repos() -> &'static [GgufRepo] {
    &GGUF_REPOS
}

/// The GGUF repository for a catalog model.
pub fn gguf_repo(model_id: &str) -> Option<&'static GgufRepo> {
    gguf_repos().iter().find(|r| r.model == model_id)
}

/// One documented Ollama Modelfile `PARAMETER` key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelfileKey {
    /// The key (`num_ctx`).
    pub name: String,
    /// Value type (int, float, string).
    #[serde(rename = "type")]
    pub ty: String,
    /// Where Ollama documents it.
    pub source: String,
}

#[derive(Deserialize)]
struct ModelfileKeyFile {
    key: Vec<ModelfileKey>,
}

static MODELFILE_KEYS: LazyLock<Vec<ModelfileKey>> = LazyLock::new(|| {
    toml::from_str::<ModelfileKeyFile>(include_str!("../../data/ollama_modelfile_keys.toml"))
        .map(|f| f.key)
        .unwrap_or_default()
});

/// Ollama's documented Modelfile `PARAMETER` keys.
pub fn ollama_modelfile_keys() -> &'static [ModelfileKey] {
    &MODELFILE_KEYS
}

/// One program canirun prints a command line for (an engine's server, or a
/// helper its notes name), with the flags it may print, as read from the
/// engine's own source (`data/engine_flags.toml`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineFlags {
    /// canirun's engine name ([`Runner::as_str`]).
    pub engine: String,
    /// How the command line starts (`vllm serve`).
    pub program: String,
    /// The engine's GitHub repository (`vllm-project/vllm`).
    pub repository: String,
    /// The releases or commits read; the first is the oldest with every flag.
    pub versions: Vec<String>,
    /// How the source was obtained.
    pub read_from: String,
    /// The files inside the release that define the names.
    pub sources: Vec<String>,
    /// Command-line flags canirun may print (`--tensor-parallel-size`).
    pub flags: Vec<String>,
    /// The file the program reads its settings from (TabbyAPI's `config.yml`).
    #[serde(default)]
    pub config_file: Option<String>,
    /// Keys of that file canirun may write, as `section.key`.
    pub config_keys: Vec<String>,
    /// For a flag or key: the values canirun may give it, each among the
    /// choices the source accepts.
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct EngineFlagsFile {
    program: Vec<EngineFlags>,
}

static ENGINE_FLAGS: LazyLock<Vec<EngineFlags>> = LazyLock::new(|| {
    toml::from_str::<EngineFlagsFile>(include_str!("../../data/engine_flags.toml"))
        .map(|f| f.program)
        .unwrap_or_default()
});

/// The flags of vLLM, SGLang, MLX and ExLlamaV2/TabbyAPI that canirun may
/// print, each program's list read from the engine's source at a named release.
pub fn engine_flags() -> &'static [EngineFlags] {
    &ENGINE_FLAGS
}

/// The tag a GGUF file carries for a quantization (`Q4_K_M`, `Q5_K_L`, `UD-IQ1_S`),
/// which is what `-hf repo:TAG` and `hf.co/repo:TAG` select; `None` for non-GGUF formats.
pub fn gguf_tag(q: &Quant) -> Option<String> {
    if !q.is_gguf() {
        return None;
    }
    // Display adds " (imatrix)" and similar remarks after a space; the tag is the first word.
    let shown = q.to_string();
    shown.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::catalog;

    #[test]
    fn data_files_parse_and_are_sourced() {
        let raw: GgufRepoFile = toml::from_str(include_str!("../../data/gguf_repos.toml")).unwrap();
        assert_eq!(raw.repo.len(), gguf_repos().len());
        assert!(gguf_repos().len() >= 6);
        for r in gguf_repos() {
            assert!(!r.source.is_empty(), "{}", r.repo);
            assert!(
                catalog().iter().any(|e| e.id == r.model),
                "{}: no catalog model {}",
                r.repo,
                r.model
            );
            for q in &r.quants {
                assert!(Quant::parse(q).is_ok(), "{}: {q}", r.repo);
            }
        }
        let raw: ModelfileKeyFile =
            toml::from_str(include_str!("../../data/ollama_modelfile_keys.toml")).unwrap();
        assert_eq!(raw.key.len(), ollama_modelfile_keys().len());
        for k in ollama_modelfile_keys() {
            assert!(!k.source.is_empty(), "{}", k.name);
        }
    }

    #[test]
    fn tags_and_quoting() {
        assert_eq!(
            gguf_tag(&Quant::parse("q4_k_m").unwrap()).unwrap(),
            "Q4_K_M"
        );
        assert_eq!(
            gguf_tag(&Quant::parse("UD-IQ1_S").unwrap()).unwrap(),
            "UD-IQ1_S"
        );
        assert_eq!(
            gguf_tag(&Quant::parse("IQ2_XXS").unwrap()).unwrap(),
            "IQ2_XXS"
        );
        assert_eq!(
            gguf_tag(&Quant::parse("Q5_K_L").unwrap()).unwrap(),
            "Q5_K_L"
        );
        assert_eq!(gguf_tag(&Quant::Fp8), None);
        assert_eq!(shell_quote("exps=CPU"), "exps=CPU");
        assert_eq!(
            shell_quote(r"\.ffn_(up|down)_exps=CPU"),
            r"'\.ffn_(up|down)_exps=CPU'"
        );
        let rule = format!("{}=CPU", crate::flags::moe_block_pattern(3));
        assert_eq!(
            crate::cmdline::split_words(&join_words(&["-ot".into(), rule.clone()])),
            vec!["-ot".to_string(), rule]
        );
    }

    #[test]
    fn runner_names_parse_back() {
        for r in Runner::ALL {
            assert_eq!(Runner::parse(r.as_str()), Some(r));
        }
        assert_eq!(Runner::parse("tabbyapi"), Some(Runner::Exllamav2));
        assert_eq!(Runner::parse("docker"), None);
    }
}
