//! From parameters to the core's inputs: the model (catalog, Ollama tag, or
//! a remote header over https to a public host, never a local file), the
//! hardware (named, given sizes, or this machine as detected at start) and
//! the engine. The same defaults as the command line, so that a request
//! with the same settings gets the same `Report` as `canirun … --json`.

use crate::error::ApiError;
use crate::params::Params;
use canirun_core::cmdline::{Engine as CmdEngine, ParsedCommand};
use canirun_core::flags::{self, Flag};
use canirun_core::hardware::{Catalog, Target};
use canirun_core::model::MlaTensorLayout;
use canirun_core::pipeline::{Engine, LlamaCppRun, Model, ServerRun};
use canirun_core::placement::llama_cpp::PlacementArgs;
use canirun_io::load::{self, LoadError, LoadOptions};
use canirun_io::remote::{HfConfig, HttpConfig, RangeOptions, RemoteOptions};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest wait for a remote header, all requests of one load together.
pub const REMOTE_DEADLINE: Duration = Duration::from_secs(30);
/// Most header bytes read for one remote model (R1 671B's GGUF header is a
/// few MB; the command line allows 256 MiB).
const REMOTE_MAX_BYTES: u64 = 64 << 20;
/// Catalog models kept built (a 671B model's tensor list takes milliseconds
/// to enumerate; the page asks for the same model on every keystroke).
const MODEL_CACHE: usize = 32;

/// Where the server may read a remote model header from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FetchPolicy {
    /// https to public hosts only: what `canirun serve` always uses.
    #[default]
    PublicHttps,
    /// Also plain http to a loopback address, and nothing else beyond the
    /// public policy: for tests that serve a header from 127.0.0.1 through
    /// the same handlers. No command line option selects it.
    LoopbackForTests,
}

/// The model parameters of one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    /// What the user typed.
    pub name: String,
    /// The quantization asked (`None`: the tag's, else Q4_K_M; vLLM/SGLang: the published checkpoint).
    pub quant: Option<String>,
    /// Quantized with an importance matrix.
    pub imatrix: bool,
    /// DeepSeek tensor layout.
    pub mla_fused: bool,
    /// For vLLM/SGLang: without `quant`, the published checkpoint (as on the command line).
    pub server: bool,
}

impl ModelKey {
    /// The model parameters; `server` selects vLLM/SGLang's default quantization.
    pub fn from_params(p: &Params, server: bool) -> Result<ModelKey, ApiError> {
        let name = p
            .get("model")
            .ok_or_else(|| ApiError::invalid("model", "name a model, e.g. deepseek-r1:7b"))?
            .to_string();
        let quant = p.get("quant").map(str::to_string);
        let mla_fused = p
            .parse("mla_tensors", |s| match s.to_ascii_lowercase().as_str() {
                "split" => Ok(false),
                "fused" => Ok(true),
                _ => Err("is not a tensor layout; use split or fused"),
            })?
            .unwrap_or(false);
        Ok(ModelKey {
            name,
            quant,
            imatrix: p.flag("imatrix")?,
            mla_fused,
            server,
        })
    }
}

/// Built models, by their parameters (catalog models only: a remote header
/// may change, and the header cache of the command line is not used here).
#[derive(Debug, Default)]
pub struct ModelCache {
    models: Mutex<HashMap<ModelKey, Arc<Model>>>,
}

impl ModelCache {
    /// The model for `key` if it was built before (catalog models only).
    pub fn cached(&self, key: &ModelKey) -> Option<Arc<Model>> {
        self.lock().get(key).cloned()
    }

    /// The model for `key`: from the cache, the catalog, or a remote header.
    /// Blocking (a remote header is read over the network).
    pub fn load(&self, key: &ModelKey, policy: FetchPolicy) -> Result<Arc<Model>, ApiError> {
        if let Some(m) = self.lock().get(key) {
            return Ok(m.clone());
        }
        let layout = if key.mla_fused {
            MlaTensorLayout::Fused
        } else {
            MlaTensorLayout::Split
        };
        let opts = LoadOptions {
            quant: key.quant.as_deref(),
            imatrix: key.imatrix,
            mla_tensors: layout,
            server: key.server,
        };
        if load::is_remote(&key.name) {
            let m =
                load::load_remote(&key.name, &opts, remote_options(policy), None).map_err(|e| {
                    match e {
                        LoadError::Remote(r) => ApiError::Upstream(r.to_string()),
                        LoadError::NotRemote(_) => ApiError::invalid("model", e.to_string()),
                        LoadError::QuantOnFile(..) => ApiError::invalid("quant", e.to_string()),
                        other => ApiError::Upstream(other.to_string()),
                    }
                })?;
            return Ok(Arc::new(m));
        }
        let m = load::catalog(&key.name, &opts).map_err(|e| match e {
            LoadError::Catalog(canirun_core::pipeline::ModelError::Resolve(_)) => ApiError::invalid(
                "model",
                format!("{e} (this server reads catalog names, Ollama tags and https:// URLs, no local files)"),
            ),
            _ => ApiError::invalid("quant", e.to_string()),
        })?;
        let m = Arc::new(m);
        let mut cache = self.lock();
        if cache.len() >= MODEL_CACHE {
            cache.clear();
        }
        cache.insert(key.clone(), m.clone());
        Ok(m)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ModelKey, Arc<Model>>> {
        // A panic while holding the lock leaves a consistent map (inserts are whole).
        self.models.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Fetch settings for requests from others: https to public hosts only
/// (under [`FetchPolicy::PublicHttps`]), no header cache on disk, short
/// timeouts, a cap on bytes.
fn remote_options(policy: FetchPolicy) -> RemoteOptions {
    RemoteOptions {
        http: HttpConfig {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            max_redirects: 5,
            // The loopback test policy was checked by `check_model_ref`
            // (loopback only); the client's own check would refuse it.
            public_only: policy == FetchPolicy::PublicHttps,
            ..HttpConfig::default()
        },
        range: RangeOptions {
            max_bytes: REMOTE_MAX_BYTES,
            ..RangeOptions::default()
        },
        // The user's HF_TOKEN stays out of fetches made for whoever reaches the server.
        hf: HfConfig {
            token: None,
            ..HfConfig::from_env()
        },
        cache: None,
        ..RemoteOptions::default()
    }
}

/// Refuse what the server must not fetch, before any network traffic: a
/// reference that is neither remote nor plausibly a catalog name (a path),
/// plain http, and a host that resolves to a non-public address. The fetch
/// itself checks every address again (redirects included). Under
/// [`FetchPolicy::LoopbackForTests`] an http or https URL whose host is a
/// loopback address is also let through.
pub async fn check_model_ref(name: &str, policy: FetchPolicy) -> Result<(), ApiError> {
    if !load::is_remote(name) {
        if name.contains('/') && !name.contains(':') && name.ends_with(".gguf")
            || name.starts_with('/')
            || name.starts_with('.')
            || name.starts_with('~')
            || name.contains('\\')
        {
            return Err(ApiError::forbidden(
                "model",
                "this server reads no local files: name a catalog model, an Ollama tag or an https:// URL",
            ));
        }
        return Ok(());
    }
    let lower = name.to_ascii_lowercase();
    if policy == FetchPolicy::LoopbackForTests {
        let rest = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"));
        if let Some(ip) = rest.and_then(|r| host_of(r).parse::<IpAddr>().ok()) {
            if ip.is_loopback() {
                return Ok(());
            }
        }
    }
    if lower.starts_with("http://") {
        return Err(ApiError::forbidden(
            "model",
            "only https:// URLs are fetched by the server",
        ));
    }
    let host = if let Some(rest) = lower.strip_prefix("https://") {
        host_of(rest)
    } else {
        // hf.co/…, huggingface.co/…, hf://…: the Hub endpoint.
        let ep = HfConfig::from_env().endpoint.to_ascii_lowercase();
        match ep.strip_prefix("https://") {
            Some(rest) => host_of(rest),
            None => {
                return Err(ApiError::forbidden(
                    "model",
                    "the Hugging Face endpoint (HF_ENDPOINT) is not https",
                ))
            }
        }
    };
    if host.is_empty() {
        return Err(ApiError::invalid("model", "the URL names no host"));
    }
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host.as_str(), 443)),
        )
        .await
        .map_err(|_| ApiError::Upstream(format!("resolving {host} timed out")))?
        .map_err(|e| ApiError::Upstream(format!("resolving {host}: {e}")))?
        .map(|a| a.ip())
        .collect(),
    };
    if let Some(bad) = addrs
        .iter()
        .find(|ip| !canirun_io::remote::is_public_ip(**ip))
    {
        return Err(ApiError::forbidden(
            "model",
            format!("{host} resolves to {bad}, a loopback, private or link-local address: the server fetches only from public hosts"),
        ));
    }
    Ok(())
}

/// The host of `rest` (a URL after its scheme): no user info, port or path;
/// an IPv6 literal without its brackets.
fn host_of(rest: &str) -> String {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_string();
    }
    authority.split(':').next().unwrap_or("").to_string()
}

/// The hardware parameters.
pub const HARDWARE: &[&str] = &["gpu", "vram", "ram"];

/// The target: named devices (`gpu`, repeatable, with `ram`), given sizes
/// (`vram`, `ram`), or `detected` (this machine) when none is given: the
/// command line's rules.
pub fn target(p: &Params, detected: &Target) -> Result<Target, ApiError> {
    let vram = p.size("vram")?;
    let ram = p.size("ram")?;
    let gpus: Vec<&str> = p.all("gpu").collect();
    if vram.is_some() || (gpus.is_empty() && ram.is_some()) {
        return Target::given(vram, ram).map_err(|e| ApiError::invalid("vram", e.to_string()));
    }
    if gpus.is_empty() {
        return Ok(detected.clone());
    }
    let catalog = Catalog::embedded().map_err(|e| ApiError::Internal(e.to_string()))?;
    Target::named(catalog, &gpus, ram).map_err(|e| ApiError::invalid("gpu", e.to_string()))
}

/// The engine parameters.
pub const ENGINE: &[&str] = &["engine", "tp", "pp", "ngl", "n_cpu_moe"];

/// The cluster parameters of `/api/estimate` (the command line's `--nodes`,
/// `--interconnect`, `--dp-attention`).
pub const CLUSTER: &[&str] = &["nodes", "interconnect", "dp_attention"];

/// The cluster options when `nodes` is given (or the engine is exo, which
/// only runs as a cluster): `None` for a single machine.
pub fn cluster(p: &Params) -> Result<Option<canirun_core::cluster::ClusterOptions<'_>>, ApiError> {
    let name = engine_name(p)?;
    let nodes = p.count("nodes", 1, 1024)?;
    let Some(nodes) = nodes.or((name == "exo").then_some(1)) else {
        return Ok(None);
    };
    let interconnect = p.get("interconnect");
    if let Some(i) = interconnect {
        canirun_core::cluster::interconnect::find(i)
            .map_err(|e| ApiError::invalid("interconnect", e))?;
    }
    Ok(Some(canirun_core::cluster::ClusterOptions {
        nodes: u32::try_from(nodes).map_err(|_| ApiError::invalid("nodes", "too many nodes"))?,
        interconnect,
        dp_attention: p.flag("dp_attention")?,
        engine: name,
        run: ServerRun {
            tensor_parallel: p.count("tp", 1, 1024)?,
            pipeline_parallel: p.count("pp", 1, 1024)?.unwrap_or(1),
            ..ServerRun::default()
        },
        unlike: vec![],
    }))
}

/// Whether the engine parameter names vLLM or SGLang.
pub fn is_server(p: &Params) -> Result<bool, ApiError> {
    Ok(matches!(engine_name(p)?, "vllm" | "sglang"))
}

fn engine_name(p: &Params) -> Result<&'static str, ApiError> {
    Ok(
        p.parse("engine", |s| match s.to_ascii_lowercase().as_str() {
            "llama.cpp" | "llamacpp" | "llama-cpp" => Ok("llama.cpp"),
            "vllm" => Ok("vllm"),
            "sglang" => Ok("sglang"),
            // exo runs only as a cluster (with `nodes`): Macs over Thunderbolt.
            "exo" => Ok("exo"),
            _ => Err("is not an engine; use llama.cpp, vllm or sglang (or exo, with nodes)"),
        })?
        .unwrap_or("llama.cpp"),
    )
}

/// The engine with its settings: llama.cpp with canirun's placement and
/// `--fit` unless `ngl` (`-ngl`) or `n_cpu_moe` (`--n-cpu-moe`) is given,
/// or vLLM/SGLang with `tp`/`pp` and the command line's defaults for the rest.
pub fn engine(p: &Params) -> Result<Engine, ApiError> {
    let run = ServerRun {
        tensor_parallel: p.count("tp", 1, 1024)?,
        pipeline_parallel: p.count("pp", 1, 1024)?.unwrap_or(1),
        ..ServerRun::default()
    };
    Ok(match engine_name(p)? {
        "vllm" => Engine::Vllm(run),
        "sglang" => Engine::Sglang(run),
        _ => Engine::LlamaCpp(LlamaCppRun {
            placement: placement(p)?,
            ..LlamaCppRun::default()
        }),
    })
}

/// llama.cpp's `-ngl` and `--n-cpu-moe`, read by the same code as the
/// command line's flags (core's flag table), so that the values accepted and
/// their meaning are the same; `None` when neither is given.
fn placement(p: &Params) -> Result<Option<PlacementArgs>, ApiError> {
    let mut cmd = ParsedCommand::new(CmdEngine::LlamaCpp, "llama-server");
    let mut given = false;
    for (name, flag) in [("ngl", Flag::NGpuLayers), ("n_cpu_moe", Flag::NCpuMoe)] {
        if let Some(v) = p.get(name) {
            let def = flags::def_of(flag);
            cmd.apply(def, def.name, v)
                .map_err(|e| ApiError::invalid(name, e.to_string()))?;
            given = true;
        }
    }
    Ok(given.then_some(cmd.placement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_without_user_port_or_path() {
        assert_eq!(host_of("user:pw@example.com:8443/a?b"), "example.com");
        assert_eq!(host_of("[::1]:443/x"), "::1");
        assert_eq!(host_of("huggingface.co"), "huggingface.co");
    }
}
