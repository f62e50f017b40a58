//! Reading GGUF files from disk, including models split into parts by llama.cpp's
//! `gguf-split` (`<prefix>-00001-of-00003.gguf`, each part with the keys `split.no`,
//! `split.count` and `split.tensors.count`).

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::{
    read_header, DataStatus, GgufError, GgufHeader, GgufTensorInfo, Limits, MAX_SPLIT_COUNT,
};

/// One file of a model: its header and how much of its tensor data is present.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufPart {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its size on disk.
    pub file_size: u64,
    /// Its header.
    pub header: GgufHeader,
}

impl GgufPart {
    /// Whether the file holds all the tensor data its header describes.
    pub fn data_status(&self) -> DataStatus {
        self.header.data_status(self.file_size)
    }
}

/// A model read from disk: one part, or all parts of a split model in order.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufModelFile {
    /// The parts, first part first. Never empty (only `read_file` builds this).
    parts: Vec<GgufPart>,
}

impl GgufModelFile {
    /// The parts, first part first (one for an unsplit model).
    pub fn parts(&self) -> &[GgufPart] {
        &self.parts
    }

    /// The first part's header, which carries the model's metadata.
    pub fn header(&self) -> &GgufHeader {
        // `parts` is private and `read_file` never builds an empty list.
        &self.parts[0].header
    }

    /// True for a model split into several files.
    pub fn is_split(&self) -> bool {
        self.parts.len() > 1
    }

    /// All tensors of all parts, in part order.
    pub fn tensors(&self) -> impl Iterator<Item = &GgufTensorInfo> {
        self.parts.iter().flat_map(|p| p.header.tensors.iter())
    }

    /// Number of tensors over all parts.
    pub fn tensor_count(&self) -> usize {
        self.parts.iter().map(|p| p.header.tensors.len()).sum()
    }

    /// Sum of all tensors' byte sizes over all parts (the weights, exact to the byte).
    pub fn tensor_bytes_total(&self) -> u64 {
        self.parts.iter().fold(0u64, |acc, p| {
            acc.saturating_add(p.header.tensor_bytes_total())
        })
    }

    /// Sum of the part sizes the headers imply.
    pub fn expected_size(&self) -> u64 {
        self.parts.iter().fold(0u64, |acc, p| {
            acc.saturating_add(p.header.expected_file_size())
        })
    }

    /// True when every part holds all of its tensor data.
    pub fn data_complete(&self) -> bool {
        self.missing_bytes() == 0
    }

    /// Tensor data bytes missing from the parts (0 when complete).
    pub fn missing_bytes(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| match p.data_status() {
                DataStatus::Complete => 0,
                DataStatus::Incomplete { have, need } => need - have,
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Fail with [`GgufError::DataIncomplete`] unless all tensor data is present; for
    /// callers about to load weights rather than inspect the header.
    pub fn require_complete_data(&self) -> Result<(), GgufError> {
        for p in &self.parts {
            if let DataStatus::Incomplete { have, need } = p.data_status() {
                return Err(GgufError::DataIncomplete {
                    path: p.path.clone(),
                    have,
                    need,
                });
            }
        }
        Ok(())
    }
}

/// Read a GGUF model from disk with the default [`Limits`]. See [`read_file_with_limits`].
pub fn read_file(path: impl AsRef<Path>) -> Result<GgufModelFile, GgufError> {
    read_file_with_limits(path, &Limits::default())
}

/// Read a GGUF model from disk: the header of `path` and, when it is part of a split
/// model, the headers of all its parts (any part may be given; the others are found by
/// name next to it). Only headers are read.
///
/// A file whose header is complete but whose tensor data is cut short is *not* an
/// error: check [`GgufModelFile::data_complete`] or call
/// [`GgufModelFile::require_complete_data`].
pub fn read_file_with_limits(
    path: impl AsRef<Path>,
    limits: &Limits,
) -> Result<GgufModelFile, GgufError> {
    let path = path.as_ref();
    let (given, given_id) = read_part(path, limits)?;
    let h = &given.header;
    let count = match h.get("split.count") {
        None => return Ok(single(given)),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| split_err(path, "split.count is not an integer"))?,
    };
    if count <= 1 {
        return Ok(single(given));
    }
    if count > MAX_SPLIT_COUNT {
        return Err(split_err(
            path,
            format!(
                "split.count is {count}, more than the {MAX_SPLIT_COUNT} parts canirun accepts"
            ),
        ));
    }
    let no = h.get_u64("split.no").ok_or_else(|| {
        split_err(
            path,
            "split.count is set but split.no is missing or not an integer",
        )
    })?;
    if no >= count {
        return Err(split_err(
            path,
            format!("split.no is {no} but split.count is {count}"),
        ));
    }
    let tensors_total = h.get_u64("split.tensors.count");

    let (_, name_no, name_count) = parse_split_name(path).ok_or_else(|| {
        split_err(
            path,
            format!(
                "the header says part {} of {count}, but the file name does not follow \
                 llama.cpp's <name>-00001-of-{count:05}.gguf pattern, so the other parts \
                 cannot be found; rename the parts as gguf-split wrote them",
                no + 1
            ),
        )
    })?;
    if name_no != no + 1 || name_count != count {
        return Err(split_err(
            path,
            format!(
                "the file name says part {name_no} of {name_count} but the header says part {} of {count}; \
                 the parts are mislabelled",
                no + 1
            ),
        ));
    }

    let mut given = Some((given, given_id));
    let mut parts: Vec<GgufPart> = Vec::new();
    let mut ids: Vec<FileId> = Vec::new();
    let mut names: HashSet<&str> = HashSet::new();
    for i in 0..count {
        let (part, id) = if i == no {
            // `given` is taken exactly once, at i == no.
            match given.take() {
                Some(g) => g,
                None => return Err(split_err(path, "internal error: part read twice")),
            }
        } else {
            let p = split_part_path(path, i, count)
                .ok_or_else(|| split_err(path, "cannot derive the part file names"))?;
            if !p.exists() {
                return Err(split_err(
                    &p,
                    format!(
                        "part {} of {count} is missing (looked for {}); download all parts into the same folder",
                        i + 1,
                        p.display()
                    ),
                ));
            }
            read_part(&p, limits)?
        };
        if let Some(j) = ids.iter().position(|other| *other == id) {
            return Err(split_err(
                &part.path,
                format!(
                    "part {} is the same file as part {} (a link?); the parts name each other in a cycle",
                    i + 1,
                    j + 1
                ),
            ));
        }
        ids.push(id);
        check_part(&part, i, count, tensors_total)?;
        parts.push(part);
    }

    for part in &parts {
        for t in &part.header.tensors {
            if !names.insert(&t.name) {
                return Err(GgufError::DuplicateTensor {
                    name: t.name.clone(),
                });
            }
        }
    }
    let model = GgufModelFile { parts };
    if let Some(expected) = tensors_total {
        let found = model.tensor_count() as u64;
        if found != expected {
            return Err(split_err(
                path,
                format!(
                    "split.tensors.count is {expected} but the {count} parts hold {found} tensors"
                ),
            ));
        }
    }
    Ok(model)
}

/// The path of part `index` (0-based) of `count`, given the path of any part named
/// `<prefix>-NNNNN-of-MMMMM.gguf`; `None` when the name does not follow that pattern.
pub fn split_part_path(any_part: &Path, index: u64, count: u64) -> Option<PathBuf> {
    let (prefix, _, _) = parse_split_name(any_part)?;
    let name = format!("{prefix}-{:05}-of-{count:05}.gguf", index + 1);
    Some(any_part.with_file_name(name))
}

/// Split `<prefix>-NNNNN-of-MMMMM.gguf` into (prefix, NNNNN, MMMMM).
fn parse_split_name(path: &Path) -> Option<(String, u64, u64)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gguf")?;
    // "-NNNNN-of-MMMMM" is 15 bytes; all ASCII, so byte slicing is on char boundaries
    // once the split point is checked.
    let cut = stem.len().checked_sub(15)?;
    if !stem.is_char_boundary(cut) {
        return None;
    }
    let (prefix, tail) = stem.split_at(cut);
    let tail = tail.as_bytes();
    let digits = |b: &[u8]| -> Option<u64> {
        if b.len() == 5 && b.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(b).ok()?.parse().ok()
        } else {
            None
        }
    };
    if tail[0] != b'-' || &tail[6..10] != b"-of-" || prefix.is_empty() {
        return None;
    }
    Some((
        prefix.to_string(),
        digits(&tail[1..6])?,
        digits(&tail[10..15])?,
    ))
}

fn check_part(
    part: &GgufPart,
    index: u64,
    count: u64,
    tensors_total: Option<u64>,
) -> Result<(), GgufError> {
    let h = &part.header;
    let no = h.get_u64("split.no");
    if no != Some(index) {
        return Err(split_err(
            &part.path,
            format!(
                "this should be part {} of {count} but its split.no says {}; the parts are \
                 mislabelled or name each other in a cycle",
                index + 1,
                no.map_or("nothing".to_string(), |n| format!("part {}", n + 1))
            ),
        ));
    }
    let c = h.get_u64("split.count");
    if c != Some(count) {
        return Err(split_err(
            &part.path,
            format!(
                "split.count is {} here but {count} in the other parts; the parts come from different models",
                c.map_or("missing".to_string(), |c| c.to_string())
            ),
        ));
    }
    let t = h.get_u64("split.tensors.count");
    if t != tensors_total {
        return Err(split_err(
            &part.path,
            format!(
                "split.tensors.count is {t:?} here but {tensors_total:?} in the other parts; \
                 the parts come from different models"
            ),
        ));
    }
    Ok(())
}

fn single(part: GgufPart) -> GgufModelFile {
    GgufModelFile { parts: vec![part] }
}

fn split_err(path: &Path, reason: impl Into<String>) -> GgufError {
    GgufError::Split {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Identity of a file on disk, to catch two part names that lead to the same file.
#[derive(Debug, PartialEq, Eq)]
enum FileId {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg_attr(unix, allow(dead_code))]
    Path(PathBuf),
}

fn read_part(path: &Path, limits: &Limits) -> Result<(GgufPart, FileId), GgufError> {
    let file_err = |source| GgufError::File {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(file_err)?;
    let meta = file.metadata().map_err(file_err)?;
    #[cfg(unix)]
    let id = {
        use std::os::unix::fs::MetadataExt;
        FileId::Inode(meta.dev(), meta.ino())
    };
    #[cfg(not(unix))]
    let id = FileId::Path(path.canonicalize().map_err(file_err)?);
    let header = read_header(BufReader::with_capacity(256 << 10, file), limits)?;
    Ok((
        GgufPart {
            path: path.to_path_buf(),
            file_size: meta.len(),
            header,
        },
        id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names() {
        let p = Path::new("/m/DeepSeek-R1-Q4_K_M-00002-of-00009.gguf");
        assert_eq!(
            parse_split_name(p),
            Some(("DeepSeek-R1-Q4_K_M".to_string(), 2, 9))
        );
        assert_eq!(
            split_part_path(p, 0, 9),
            Some(PathBuf::from("/m/DeepSeek-R1-Q4_K_M-00001-of-00009.gguf"))
        );
        assert_eq!(parse_split_name(Path::new("model.gguf")), None);
        assert_eq!(parse_split_name(Path::new("-00001-of-00002.gguf")), None);
        assert_eq!(parse_split_name(Path::new("x-0000a-of-00002.gguf")), None);
        assert_eq!(
            parse_split_name(Path::new("é-00001-of-00002.gguf")).map(|t| t.1),
            Some(1)
        );
    }
}
