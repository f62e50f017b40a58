//! Run-setting flags shared by the commands. The engine flags (llama.cpp's
//! settings and placement, vLLM/SGLang's launch flags) are generated from the
//! core's one flag table (`canirun_core::flags::FLAGS`: names, aliases, help,
//! value kinds, defaults) and read back by the pasted-command reader's own
//! code, so every spelling means the same on both sides.

use canirun_core::cmdline::{self, ParsedCommand};
use canirun_core::flags::{self, Flag, FlagDef, FlagEngine, ValueKind, FLAGS};
use canirun_core::memory::{Backend, MlaCache, RunSettings};
use canirun_core::model::MlaTensorLayout;
use canirun_core::pipeline::LlamaCppRun;
use canirun_core::placement::llama_cpp::PlacementArgs;
use canirun_core::units::Bytes;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, Command, FromArgMatches};

/// The groups of the table's flags: llama.cpp's run settings (`-c`, `-fa`, …),
/// its placement and `--fit` flags (`-ngl`, `-ot`, …), vLLM/SGLang's launch flags.
const RUN: u8 = 0;
const PLACEMENT: u8 = 1;
const SERVER: u8 = 2;

/// The flags of one group as canirun's command line read them: through
/// [`ParsedCommand::apply`], defaults included, in the table's order (so `-ot`
/// rules come before `--cpu-moe` and `--n-cpu-moe`, as llama.cpp orders them).
#[derive(Debug, Clone)]
pub struct TableFlags<const G: u8> {
    /// What the flags say.
    pub read: ParsedCommand,
    /// The flags given on the command line (not defaulted).
    pub given: Vec<Flag>,
}

impl<const G: u8> TableFlags<G> {
    /// The flags of group `G` that canirun's command line has (those with help).
    fn defs() -> impl Iterator<Item = &'static FlagDef> {
        FLAGS.iter().filter(|d| {
            let group = match (d.engine, d.flag.is_placement()) {
                (FlagEngine::LlamaCpp, false) => RUN,
                (FlagEngine::LlamaCpp, true) => PLACEMENT,
                (FlagEngine::Vllm, _) => SERVER,
                (FlagEngine::Sglang, _) => return false,
            };
            group == G && !d.help.is_empty()
        })
    }
}

/// clap's id (and long name) of a flag.
fn id(d: &FlagDef) -> &'static str {
    d.name.trim_start_matches("--")
}

/// One flag of the table as a clap argument: `-c` a short flag, llama.cpp's
/// single-dash longs (`-ngl`) visible aliases, other long spellings hidden ones.
fn arg(d: &'static FlagDef) -> clap::Arg {
    let mut a = clap::Arg::new(id(d)).long(id(d)).help(d.help);
    for alias in d.aliases {
        match alias.strip_prefix("--") {
            Some(long) => a = a.alias(long),
            None if alias.len() == 2 => a = a.short(alias.chars().nth(1).unwrap_or('-')),
            None if alias[1..] != *id(d) => a = a.visible_alias(&alias[1..]),
            None => {}
        }
    }
    if d.kind == ValueKind::Switch {
        return a.action(ArgAction::SetTrue);
    }
    let kind = d.kind;
    a = a
        .value_name(d.value_name)
        .allow_negative_numbers(matches!(kind, ValueKind::Ctx | ValueKind::Ngl))
        .value_parser(move |s: &str| kind.check(s).map(|()| s.to_string()))
        .action(if kind == ValueKind::Overrides {
            ArgAction::Append
        } else {
            ArgAction::Set
        });
    match d.default {
        Some(v) => a.default_value(v),
        None => a,
    }
}

impl<const G: u8> Args for TableFlags<G> {
    fn augment_args(cmd: Command) -> Command {
        Self::defs().fold(cmd, |c, d| c.arg(arg(d)))
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl<const G: u8> FromArgMatches for TableFlags<G> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut read = ParsedCommand::new(cmdline::Engine::LlamaCpp, "canirun");
        let mut given = Vec::new();
        for d in Self::defs() {
            let values: Vec<String> = if d.kind == ValueKind::Switch {
                m.get_flag(id(d)).then(String::new).into_iter().collect()
            } else {
                m.get_many::<String>(id(d))
                    .map(|v| v.cloned().collect())
                    .unwrap_or_default()
            };
            if !values.is_empty() && m.value_source(id(d)) == Some(ValueSource::CommandLine) {
                given.push(d.flag);
            }
            for v in values {
                read.apply(d, d.name, &v)
                    .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e))?;
            }
        }
        Ok(TableFlags { read, given })
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<const G: u8> Default for TableFlags<G> {
    /// The group with no flag given: the table's defaults.
    fn default() -> Self {
        let cmd = Self::augment_args(Command::new("canirun"));
        Self::from_arg_matches(&cmd.get_matches_from(["canirun"]))
            .expect("the table's defaults pass their own parsers (core flags tests)")
    }
}

/// llama.cpp run settings, and canirun's own engine-version settings
/// (`Default`: no flag given, llama.cpp's defaults with a 4096 context).
#[derive(Args, Debug, Clone, Default)]
pub struct SettingsArgs {
    #[command(flatten)]
    pub run: TableFlags<RUN>,
    /// Backend that holds the model: cpu, cuda, metal, vulkan, rocm (default: from the hardware, else cuda).
    #[arg(long, value_name = "NAME", value_parser = flags::parse_backend)]
    pub backend: Option<Backend>,
    /// DeepSeek MLA cache layout of the engine version: latent (llama.cpp since Jan 2026), latent-kv (Apr 2025–Jan 2026), expanded (before Apr 2025).
    #[arg(long = "mla-cache", value_name = "LAYOUT", default_value = "latent", value_parser = flags::parse_mla_cache)]
    pub mla_cache: MlaCache,
    /// DeepSeek GGUF tensor layout: split (attn_k_b/attn_v_b, converted since Apr 2025) or fused (attn_kv_b).
    #[arg(long = "mla-tensors", value_name = "LAYOUT", default_value = "split", value_parser = flags::parse_mla_tensors)]
    pub mla_tensors: MlaTensorLayout,
}

impl SettingsArgs {
    /// As core run settings, with `default_backend` when `--backend` was not given.
    pub fn settings_on(&self, default_backend: Backend) -> RunSettings {
        RunSettings {
            backend: self.backend.unwrap_or(default_backend),
            mla_cache: self.mla_cache,
            ..self.run.read.settings.clone()
        }
    }

    /// As core run settings (CUDA unless `--backend` says otherwise).
    pub fn settings(&self) -> RunSettings {
        self.settings_on(Backend::Cuda)
    }
}

/// llama.cpp's placement flags; without any, canirun offloads everything that
/// fits and otherwise fits like llama.cpp's `--fit` (experts to RAM first, then layers).
pub type PlacementFlags = TableFlags<PLACEMENT>;

/// vLLM/SGLang's launch flags.
pub type ServerFlags = TableFlags<SERVER>;

impl PlacementFlags {
    /// The flags as placement arguments, or `None` when none was given
    /// (`-mg 0` alone is none).
    pub fn args(&self) -> Option<PlacementArgs> {
        let p = &self.read.placement;
        let given = self.given.iter().any(|f| *f != Flag::MainGpu) || p.main_gpu != 0;
        given.then(|| p.clone())
    }

    /// llama.cpp's placement flags and `--fit` as the pipeline takes them.
    pub fn llama_run(&self) -> LlamaCppRun {
        LlamaCppRun {
            placement: self.args(),
            fit: self.read.fit.clone(),
            companions: Default::default(),
        }
    }
}

/// A memory size such as 24GiB, 24GB or 512MiB.
pub fn parse_size(s: &str) -> Result<Bytes, String> {
    Bytes::parse(s).map_err(|e| e.to_string())
}

/// llama.cpp spells some long options with one dash (`-fa`, `-ctk`, `-ngl`); clap
/// wants two. Rewrite those tokens (the single-dash aliases of core's flag table)
/// so users can paste their own command line.
pub fn llama_style_args(args: impl Iterator<Item = String>) -> Vec<String> {
    // Everything after a bare `--` is a pasted command, read by its own parser.
    let mut pasted = false;
    let out: Vec<String> = args
        .map(|a| {
            if pasted {
                return a;
            }
            if a == "--" {
                pasted = true;
                return a;
            }
            flags::single_dash_aliases()
                .find(|(short, _)| *short == a)
                .map(|(_, long)| long.to_string())
                .unwrap_or(a)
        })
        .collect();
    // `--json` before a subcommand (`canirun --json models`) would be taken for the
    // default command's flags; move it just before the pasted command, or to the end.
    let cut = out.iter().position(|a| a == "--").unwrap_or(out.len());
    let (head, tail) = out.split_at(cut);
    if head.iter().skip(1).any(|a| a == "--json") {
        let mut v: Vec<String> = head.iter().filter(|a| *a != "--json").cloned().collect();
        v.push("--json".into());
        v.extend(tail.iter().cloned());
        return v;
    }
    out
}
