//! Request parameters: the query string of a GET (the page's share URL is
//! the same string) or a flat JSON object in a POST body. Names follow the
//! command line's long flags (`ctx`, `fa`, `ctk`, `gpu`, …); every value goes
//! through the core's own flag parsers, so the page and `canirun` accept and
//! refuse the same values with the same words.

use crate::error::ApiError;
use canirun_core::flags;
use canirun_core::memory::{Backend, MlaCache, RunSettings};
use canirun_core::units::Bytes;
use serde_json::Value;

/// Most characters in one value (a model URL is the longest legitimate one).
const MAX_VALUE_CHARS: usize = 2048;
/// Most values of one repeatable parameter (`gpu`, `depths`).
const MAX_REPEATS: usize = 64;

/// The parameters of one request, in the order given.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// From decoded query pairs, refusing names not in `known`.
    pub fn from_pairs(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Params, ApiError> {
        for (k, v) in &pairs {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::invalid(
                    k,
                    format!(
                        "unknown parameter; this endpoint takes {}",
                        known.join(", ")
                    ),
                ));
            }
            if v.chars().count() > MAX_VALUE_CHARS {
                return Err(ApiError::invalid(
                    k,
                    format!("longer than {MAX_VALUE_CHARS} characters"),
                ));
            }
        }
        let p = Params { pairs };
        for k in known {
            if p.all(k).count() > MAX_REPEATS {
                return Err(ApiError::invalid(
                    k,
                    format!("given more than {MAX_REPEATS} times"),
                ));
            }
        }
        Ok(p)
    }

    /// From a JSON object whose values are strings, numbers, booleans or
    /// arrays of those (an array is the same as repeating the parameter).
    pub fn from_json(v: &Value, known: &[&str]) -> Result<Params, ApiError> {
        let obj = v
            .as_object()
            .ok_or_else(|| ApiError::invalid("body", "must be a JSON object of parameters"))?;
        let mut pairs = Vec::new();
        for (k, v) in obj {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for item in items {
                let s = match item {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    _ => {
                        return Err(ApiError::invalid(
                            k,
                            "must be a string, a number, a boolean or an array of those",
                        ))
                    }
                };
                pairs.push((k.clone(), s));
            }
        }
        Params::from_pairs(pairs, known)
    }

    /// The last non-empty value of `name` (a later one overrides, as on a command line).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// Every non-empty value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// `name` through `parse`, with the parser's message under the field's name.
    pub fn parse<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|v| parse(v).map_err(|e| ApiError::invalid(name, format!("'{v}' {e}"))))
            .transpose()
    }

    /// A number in `[min, max]`.
    pub fn number(&self, name: &str, min: f64, max: f64) -> Result<Option<f64>, ApiError> {
        self.parse(name, |s| match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= min && x <= max => Ok(x),
            _ => Err(format!("must be a number from {min} to {max}")),
        })
    }

    /// A whole number in `[min, max]` (core's count parser).
    pub fn count(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
        self.parse(name, |s| flags::parse_count(s, min, max))
    }

    /// A memory size such as 24GiB.
    pub fn size(&self, name: &str) -> Result<Option<Bytes>, ApiError> {
        self.parse(name, |s| {
            Bytes::parse(s).map_err(|e| format!("is not a size ({e}); give e.g. 24GiB"))
        })
    }

    /// on/off/true/false/1/0.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self
            .parse(name, |s| match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => Ok(true),
                "0" | "false" | "off" | "no" => Ok(false),
                _ => Err("is not on or off"),
            })?
            .unwrap_or(false))
    }
}

/// The run-setting parameters (the command line's `SettingsArgs`).
pub const SETTINGS: &[&str] = &[
    "ctx",
    "fa",
    "ctk",
    "ctv",
    "parallel",
    "batch",
    "ubatch",
    "backend",
    "mla_cache",
];

/// Run settings from the parameters over llama.cpp's defaults
/// (`RunSettings::default`, the same defaults as the command line's flags),
/// on `hardware_backend` unless `backend` is given.
pub fn settings(p: &Params, hardware_backend: Backend) -> Result<RunSettings, ApiError> {
    let d = RunSettings::default();
    Ok(RunSettings {
        n_ctx: p.parse("ctx", flags::parse_ctx)?.unwrap_or(d.n_ctx),
        flash_attn: p
            .parse("fa", flags::parse_flash_attn)?
            .unwrap_or(d.flash_attn),
        type_k: p.parse("ctk", flags::parse_cache_type)?.unwrap_or(d.type_k),
        type_v: p.parse("ctv", flags::parse_cache_type)?.unwrap_or(d.type_v),
        n_parallel: p.count("parallel", 1, 4096)?.unwrap_or(d.n_parallel),
        n_batch: p.count("batch", 1, 1 << 20)?.unwrap_or(d.n_batch),
        n_ubatch: p.count("ubatch", 1, 1 << 20)?.unwrap_or(d.n_ubatch),
        backend: p
            .parse("backend", |s| {
                Backend::parse(s).ok_or("is not a backend; use cpu, cuda, metal, vulkan or rocm")
            })?
            .unwrap_or(hardware_backend),
        mla_cache: p
            .parse("mla_cache", |s| {
                MlaCache::parse(s)
                    .ok_or("is not an MLA cache layout; use latent, latent-kv or expanded")
            })?
            .unwrap_or(d.mla_cache),
        ..d
    })
}

/// A comma-separated list of whole numbers (`depths=0,4096,16k`).
pub fn list_ctx(p: &Params, name: &str) -> Result<Option<Vec<u64>>, ApiError> {
    let Some(v) = p.get(name) else {
        return Ok(None);
    };
    let items: Vec<&str> = v.split(',').filter(|s| !s.trim().is_empty()).collect();
    if items.len() > MAX_REPEATS {
        return Err(ApiError::invalid(
            name,
            format!("more than {MAX_REPEATS} values"),
        ));
    }
    items
        .iter()
        .map(|s| {
            flags::parse_ctx(s).map_err(|e| ApiError::invalid(name, format!("'{}' {e}", s.trim())))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
