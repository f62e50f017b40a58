//! The text files the validate commands compare against: one path, or
//! several separated by commas, read whole.

use std::path::Path;

/// A file that could not be read; `hint` says what would work.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}{hint}")]
pub struct ReadError {
    /// The path as given.
    pub path: String,
    /// What follows the path in the message (e.g. "; pass a CSV such as …").
    pub hint: String,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The text of `file`; `hint` follows "cannot read FILE" in the error.
pub fn read_text(file: &Path, hint: &str) -> Result<String, ReadError> {
    std::fs::read_to_string(file).map_err(|source| ReadError {
        path: file.display().to_string(),
        hint: hint.to_string(),
        source,
    })
}

/// The files named by `arg`, each as (name, text): the path itself when it
/// exists, else the paths it lists separated by commas (`a.csv,b.csv`).
pub fn read_list(arg: &Path, hint: &str) -> Result<Vec<(String, String)>, ReadError> {
    let s = arg.to_string_lossy();
    let paths: Vec<&str> = if arg.exists() {
        vec![s.as_ref()]
    } else {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    };
    paths
        .iter()
        .map(|p| Ok((p.to_string(), read_text(Path::new(p), hint)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_list_reads_each_file_and_a_missing_one_is_named() {
        let dir = std::env::temp_dir().join(format!("canirun-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
        std::fs::write(&a, "x\n1\n").unwrap();
        std::fs::write(&b, "x\n2\n").unwrap();
        let list = format!("{},{}", a.display(), b.display());
        let read = read_list(Path::new(&list), "").unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].1, "x\n2\n");
        let one = read_list(&a, "").unwrap();
        assert_eq!(one, vec![(a.display().to_string(), "x\n1\n".to_string())]);
        let missing = dir.join("missing.csv");
        let e = read_text(&missing, "; pass a CSV").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("cannot read {}; pass a CSV", missing.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
