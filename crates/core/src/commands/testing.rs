//! What the runners' tests share: a catalog row by id, the quantized-cache
//! settings several of them check, and one request run through a runner.

use super::{CommandError, Request, RunCommand};
use crate::memory::vllm::VllmSettings;
use crate::memory::{FlashAttn, RunSettings};
use crate::model::{catalog, CatalogEntry};
use crate::placement::llama_cpp::LlamaFlags;
use crate::quant::{GgmlType, Quant};

/// The catalog row `id`.
pub(crate) fn entry(id: &str) -> &'static CatalogEntry {
    catalog().iter().find(|e| e.id == id).unwrap()
}

/// `n_ctx` tokens of context, flash attention on, a q8_0 K and V cache.
pub(crate) fn q8_cache(n_ctx: u64) -> RunSettings {
    RunSettings {
        n_ctx,
        flash_attn: FlashAttn::On,
        type_k: GgmlType::Q8_0,
        type_v: GgmlType::Q8_0,
        ..RunSettings::default()
    }
}

/// What `runner` writes for catalog row `e` at `q` and `s`, with a llama.cpp
/// placement or a vLLM/SGLang server's settings where given.
pub(crate) fn command_for(
    runner: fn(&Request) -> Result<RunCommand, CommandError>,
    e: &'static CatalogEntry,
    q: &Quant,
    s: &RunSettings,
    placement: Option<&LlamaFlags>,
    server: Option<&VllmSettings>,
) -> Result<RunCommand, CommandError> {
    let spec = e.spec();
    let mut req = Request::new(&spec, q, s);
    req.entry = Some(e);
    req.placement = placement;
    req.server = server;
    runner(&req)
}
