//! Which files a set of paths names: files as given, directories searched
//! recursively for `*.yaml` / `*.yml`, in sorted order so that output and
//! apply order do not depend on the file system.
//!
//! Manifests live beside other YAML (a Service's compose file is relative
//! to its manifest), so a file found by searching is only a manifest if one
//! of its documents has an `apiVersion` or `kind`; a file named explicitly
//! always is.

use std::io;
use std::path::{Path, PathBuf};

/// How a file came to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Named on the command line (or by the caller): always a manifest.
    Named,
    /// Found while searching a directory: a manifest if it looks like one.
    Found,
}

/// A path that could not be searched.
#[derive(Debug)]
pub struct Unreadable {
    pub path: PathBuf,
    pub error: io::Error,
}

/// The files `paths` name, in order; a path that cannot be searched takes
/// the place its files would have had.
pub fn manifest_files<P: AsRef<Path>>(paths: &[P]) -> Vec<Result<(PathBuf, Origin), Unreadable>> {
    let mut entries = Vec::new();
    for path in paths {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                let mut errors = Vec::new();
                search(path, &mut found, &mut errors);
                found.sort();
                entries.extend(found.into_iter().map(|f| Ok((f, Origin::Found))));
                entries.extend(errors.into_iter().map(Err));
            }
            // A file named explicitly is read whatever its extension.
            Ok(_) => entries.push(Ok((path.to_path_buf(), Origin::Named))),
            Err(error) => entries.push(Err(Unreadable {
                path: path.to_path_buf(),
                error,
            })),
        }
    }
    entries
}

fn search(dir: &Path, found: &mut Vec<PathBuf>, errors: &mut Vec<Unreadable>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            errors.push(Unreadable {
                path: dir.to_path_buf(),
                error,
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Hidden entries (.git in a GitOps checkout, editor swap files) are
        // never manifests.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            search(&path, found, errors);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            found.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_yaml_recursively_sorted_skipping_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in ["b.yaml", "a.yml", "notes.txt", "sub/c.yaml", ".git/x.yaml"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let entries = manifest_files(&[root.to_path_buf(), root.join("notes.txt")]);
        let names: Vec<_> = entries
            .into_iter()
            .map(|entry| {
                let (f, origin) = entry.unwrap();
                (
                    f.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                    origin,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("a.yml".to_string(), Origin::Found),
                ("b.yaml".to_string(), Origin::Found),
                ("sub/c.yaml".to_string(), Origin::Found),
                ("notes.txt".to_string(), Origin::Named),
            ]
        );
    }

    #[test]
    fn reports_missing_paths() {
        let entries = manifest_files(&["/nonexistent/hareconcile"]);
        assert_eq!(entries.len(), 1);
        assert!(entries[0].is_err());
    }
}
