//! From what the user typed to a [`Model`]: a catalog name, a local GGUF
//! file (split files too) or a remote model read header-only.

use crate::gguf::{self, DataStatus, GgufError};
use crate::model_file::{self, FileModel, FileModelError};
use crate::remote::{self, FetchProgress, Fetcher, RemoteError, RemoteModel, RemoteOptions};
use canirun_core::cmdline::{self, ParsedCommand};
use canirun_core::model::MlaTensorLayout;
use canirun_core::pipeline::{Model, ModelError, ModelInfo, ModelOrigin, Projector};
use canirun_core::units::Bytes;
use std::path::Path;

/// Why a model cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A catalog name that does not resolve, or a bad quantization.
    #[error(transparent)]
    Catalog(#[from] ModelError),
    /// A GGUF header that cannot be read.
    #[error("reading the GGUF header of {path}: {source}")]
    Gguf {
        /// The file.
        path: String,
        /// Why.
        source: GgufError,
    },
    /// A header read, but not understood as a model.
    #[error(transparent)]
    File(#[from] FileModelError),
    /// A remote fetch that failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// `-q` with a file, whose tensors already have their types.
    #[error("-q/--quant does not apply to {0}: its tensors already have their types{1}")]
    QuantOnFile(&'static str, &'static str),
    /// A repository without config.json.
    #[error("the repository has no config.json; canirun needs it for the model's shape")]
    NoConfig,
    /// Not a repository or URL.
    #[error("'{0}' is not a Hugging Face repository or URL")]
    NotRemote(String),
    /// A projector that is not a GGUF file (or remote GGUF header).
    #[error("--mmproj {0}: give a GGUF file, or a remote GGUF (hf.co/<repo>:<file>, https://…/mmproj.gguf)")]
    NotProjector(String),
}

/// What to load and how.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions<'a> {
    /// `-q`: the quantization of a catalog model.
    pub quant: Option<&'a str>,
    /// Quantized with an importance matrix.
    pub imatrix: bool,
    /// DeepSeek GGUF tensor layout of catalog models.
    pub mla_tensors: MlaTensorLayout,
    /// For vLLM/SGLang: a catalog model without `quant` (or a tag's) is the
    /// published checkpoint's format rather than Q4_K_M.
    pub server: bool,
}

/// Whether the argument names a remote model (Hugging Face or a URL).
pub fn is_remote(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    ["hf.co/", "huggingface.co/", "hf://", "http://", "https://"]
        .iter()
        .any(|p| l.starts_with(p))
}

/// Whether the argument names a local file rather than a catalog model.
pub fn is_file(name: &str) -> bool {
    !is_remote(name) && (name.to_ascii_lowercase().ends_with(".gguf") || Path::new(name).is_file())
}

/// Load `name`: a remote model (header only, with `progress` while fetching),
/// a local file, or a catalog model. Offline, a remote name the catalog knows
/// falls back to the catalog, with a note.
pub fn load(
    name: &str,
    opts: &LoadOptions<'_>,
    progress: Option<&dyn Fn(&FetchProgress<'_>)>,
) -> Result<Model, LoadError> {
    if is_remote(name) {
        return match load_remote(name, opts, RemoteOptions::from_env(), progress) {
            Ok(m) => Ok(m),
            Err(e) if canirun_core::model::resolve(name).is_ok() => {
                let mut m = catalog(name, opts)?;
                m.notes.push(format!(
                    "could not read the remote header ({e}); used the embedded catalog instead"
                ));
                Ok(m)
            }
            Err(e) => Err(e),
        };
    }
    if is_file(name) {
        return load_file(name, opts);
    }
    catalog(name, opts)
}

/// The model a pasted command names, as canirun reads it: llama.cpp's
/// `-hf repo[:quant]` is a remote model.
pub fn pasted_model(p: &ParsedCommand) -> Option<String> {
    let m = p.model.clone()?;
    let hf = p.engine == cmdline::Engine::LlamaCpp && !is_file(&m) && m.contains('/');
    Some(if hf && !is_remote(&m) {
        format!("hf.co/{m}")
    } else {
        m
    })
}

/// A catalog model (name, Ollama tag or alias; never a file or a URL). For
/// vLLM/SGLang (`opts.server`) without a quantization, the published
/// checkpoint's format (or the tag's) rather than llama.cpp's Q4_K_M.
pub fn catalog(name: &str, opts: &LoadOptions<'_>) -> Result<Model, LoadError> {
    if opts.server && opts.quant.is_none() {
        let r = canirun_core::model::resolve(name).map_err(ModelError::from)?;
        let native = r
            .quant
            .unwrap_or_else(|| canirun_core::pipeline::native_quant(r.entry).to_string());
        return catalog(
            name,
            &LoadOptions {
                quant: Some(native.as_str()),
                server: false,
                ..opts.clone()
            },
        );
    }
    Ok(Model::from_catalog(
        name,
        opts.quant,
        opts.imatrix,
        opts.mla_tensors,
    )?)
}

fn from_file_model(fm: FileModel, reference: &str, origin: ModelOrigin) -> Model {
    let sources = match origin {
        ModelOrigin::Remote => {
            format!("remote header of {reference} (tensor types and shapes exact)")
        }
        _ => format!("GGUF header of {reference} (tensor types and shapes exact)"),
    };
    Model {
        info: ModelInfo {
            reference: reference.to_string(),
            origin,
            id: None,
            name: fm.spec.name.clone(),
            arch: fm.arch_name.clone(),
            params: fm.weights.n_params(),
            n_ctx_train: fm.spec.n_ctx_train,
            hf_repo: None,
            params_source: None,
            config_source: None,
            file_type: fm.file_type.map(|f| f.name().to_string()),
            parts: None,
            bytes_fetched: None,
            file_bytes: None,
        },
        quant_label: fm.weights.quant.clone(),
        catalog: None,
        sources,
        expanded_mla: fm.mla_expanded_cache,
        spec: fm.spec,
        weights: fm.weights,
        notes: fm.notes,
    }
}

fn load_file(name: &str, opts: &LoadOptions<'_>) -> Result<Model, LoadError> {
    if opts.quant.is_some() {
        return Err(LoadError::QuantOnFile("a file", ""));
    }
    let file = gguf::read_file(name).map_err(|source| LoadError::Gguf {
        path: name.to_string(),
        source,
    })?;
    let fm = model_file::from_gguf(&file, name)?;
    let mut m = from_file_model(fm, name, ModelOrigin::File);
    for part in file.parts() {
        if let DataStatus::Incomplete { .. } = part.data_status() {
            m.notes.push(format!(
                "{} holds only part of its tensor data (a truncated download?); the estimate uses the header, which is complete",
                part.path.display()
            ));
        }
    }
    m.info.parts = Some(file.parts().len());
    Ok(m)
}

/// Load a remote model (Hugging Face reference or URL) header-only with these
/// fetch options, without the catalog fallback of [`load`]; `canirun serve`
/// passes [`crate::remote::HttpConfig::public_only`] and no cache here.
pub fn load_remote(
    name: &str,
    opts: &LoadOptions<'_>,
    remote_opts: RemoteOptions,
    progress: Option<&dyn Fn(&FetchProgress<'_>)>,
) -> Result<Model, LoadError> {
    if opts.quant.is_some() {
        return Err(LoadError::QuantOnFile(
            "a remote file",
            "; name the quant in the reference instead, e.g. hf.co/unsloth/DeepSeek-R1-GGUF:Q4_K_M",
        ));
    }
    let spec = remote::parse_spec(name)?.ok_or_else(|| LoadError::NotRemote(name.to_string()))?;
    let mut fetcher = Fetcher::new(remote_opts);
    if let Some(p) = progress {
        fetcher = fetcher.with_progress(p);
    }
    let model = fetcher.fetch(&spec)?;
    let fetched = fetcher.bytes_fetched();
    let (fm, total_size) = match &model {
        RemoteModel::Gguf(m) => {
            let headers: Vec<&gguf::GgufHeader> = m.parts.iter().map(|p| &p.header).collect();
            let size: u64 = m.parts.iter().filter_map(|p| p.file_size).sum();
            (model_file::from_headers(&headers, name)?, size)
        }
        RemoteModel::Safetensors(m) => {
            let config = m.config.as_ref().ok_or(LoadError::NoConfig)?;
            let tensors: Vec<model_file::CheckpointTensor<'_>> = m
                .tensors
                .iter()
                .map(|t| model_file::CheckpointTensor {
                    name: &t.name,
                    dtype: &t.dtype,
                    shape: &t.shape,
                    bytes: t.bytes,
                })
                .collect();
            (
                model_file::from_safetensors(config, &tensors, name)?,
                m.tensor_bytes_total(),
            )
        }
    };
    let mut m = from_file_model(fm, name, ModelOrigin::Remote);
    m.notes.push(format!(
        "read {} of headers over the network for a {} model (header only, cached for next time)",
        Bytes(fetched),
        Bytes(total_size)
    ));
    m.info.bytes_fetched = Some(fetched);
    m.info.file_bytes = Some(total_size);
    Ok(m)
}

/// A multimodal projector (`--mmproj`): a local GGUF file or a remote GGUF
/// header, sized from its tensors (header only; no tensor data is read).
pub fn projector(name: &str) -> Result<Projector, LoadError> {
    let sized = |headers: &[&gguf::GgufHeader]| Projector {
        reference: name.to_string(),
        weights: Bytes(headers.iter().map(|h| h.tensor_bytes_total()).sum()),
        n_tensors: headers.iter().map(|h| h.tensors.len() as u64).sum(),
        projector_type: headers
            .first()
            .and_then(|h| h.get_str("clip.projector_type"))
            .map(str::to_string),
    };
    if is_remote(name) {
        let spec =
            remote::parse_spec(name)?.ok_or_else(|| LoadError::NotRemote(name.to_string()))?;
        return match Fetcher::new(RemoteOptions::from_env()).fetch(&spec)? {
            RemoteModel::Gguf(m) => {
                let headers: Vec<&gguf::GgufHeader> = m.parts.iter().map(|p| &p.header).collect();
                Ok(sized(&headers))
            }
            RemoteModel::Safetensors(_) => Err(LoadError::NotProjector(name.to_string())),
        };
    }
    if !Path::new(name).is_file() {
        return Err(LoadError::NotProjector(name.to_string()));
    }
    let file = gguf::read_file(name).map_err(|source| LoadError::Gguf {
        path: name.to_string(),
        source,
    })?;
    let headers: Vec<&gguf::GgufHeader> = file.parts().iter().map(|p| &p.header).collect();
    Ok(sized(&headers))
}
