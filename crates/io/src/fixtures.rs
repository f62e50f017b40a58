//! The fixture GGUFs of scripts/make_fixtures.py, read for the validate
//! commands (`DIR/NAME.gguf`).

use crate::gguf::{read_file, GgufError};
use crate::model_file::{from_gguf, FileModelError};
use canirun_core::validate::Fixture;
use std::path::{Path, PathBuf};

/// Why a fixture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file is missing or not a GGUF.
    #[error("reading fixture {}; run scripts/make_fixtures.py --out {}", path.display(), dir.display())]
    Read {
        /// The fixture file.
        path: PathBuf,
        /// Its folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: Box<GgufError>,
    },
    /// The header does not describe a model canirun reads.
    #[error(transparent)]
    Model(#[from] FileModelError),
}

/// The fixture folder: `$CANIRUN_CACHE/fixtures`, else `~/.cache/canirun/fixtures`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("CANIRUN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/canirun")))
        .unwrap_or_else(|| PathBuf::from(".cache/canirun"))
        .join("fixtures")
}

/// Read fixture `name` from `dir`: its model, and the header's tensor bytes
/// against the file's data region.
pub fn read(dir: &Path, name: &str) -> Result<Fixture, FixtureError> {
    let path = dir.join(format!("{name}.gguf"));
    let f = read_file(&path).map_err(|source| FixtureError::Read {
        path: path.clone(),
        dir: dir.to_path_buf(),
        source: Box::new(source),
    })?;
    let fm = from_gguf(&f, name)?;
    let part = &f.parts()[0];
    Ok(Fixture {
        spec: fm.spec,
        weights: fm.weights,
        tensor_bytes: part.header.tensor_bytes_total(),
        data_region_bytes: part.file_size.saturating_sub(part.header.data_offset),
    })
}
