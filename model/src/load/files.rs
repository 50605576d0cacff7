//! Which files a set of paths names, and their bytes: files as given,
//! directories searched recursively for `*.yaml` / `*.yml`, in sorted
//! order so that output and apply order do not depend on the file system.
//!
//! Manifests live beside other YAML (a Service's compose file is relative
//! to its manifest), so a file found by searching is only a manifest if one
//! of its documents has an `apiVersion` or `kind`; a file named explicitly
//! always is.
//!
//! A directory may be a git checkout anyone who commits fills, read by an
//! agent running as root, so the search stays inside it and every read is
//! bounded (`hareconcile-fs`): links leading out of the directory or round
//! in a loop, FIFOs and devices are refused, files and the whole set have
//! size limits.

use std::path::{Path, PathBuf};

use hareconcile_fs::{read_regular, walk, ReadError};

/// A manifest file is a few kilobytes; 50 MB of YAML is an accident or an
/// attack, and parsing it would cost the agent far more than its size.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// What one load reads in all, whatever the number of files.
pub const MAX_MANIFEST_SET_BYTES: u64 = 32 << 20;

/// How a file came to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Named on the command line (or by the caller): always a manifest.
    Named,
    /// Found while searching a directory: a manifest if it looks like one.
    Found,
}

/// A file to read: `path` for messages, `real` to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: PathBuf,
    real: PathBuf,
    pub origin: Origin,
}

/// A path that could not be searched or read.
#[derive(Debug)]
pub struct Unreadable {
    pub path: PathBuf,
    pub message: String,
}

/// The files `paths` name, in order; a path that cannot be searched takes
/// the place its files would have had.
pub fn manifest_files<P: AsRef<Path>>(paths: &[P]) -> Vec<Result<ManifestFile, Unreadable>> {
    let mut entries = Vec::new();
    for path in paths {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let found = walk(path, is_yaml);
                entries.extend(found.files.into_iter().map(|f| {
                    Ok(ManifestFile {
                        path: f.path,
                        real: f.real,
                        origin: Origin::Found,
                    })
                }));
                entries.extend(found.problems.into_iter().map(|p| {
                    Err(Unreadable {
                        path: p.path,
                        message: p.message,
                    })
                }));
            }
            // A file named explicitly is read whatever its extension.
            Ok(_) => entries.push(Ok(ManifestFile {
                path: path.to_path_buf(),
                real: path.to_path_buf(),
                origin: Origin::Named,
            })),
            Err(error) => entries.push(Err(Unreadable {
                path: path.to_path_buf(),
                message: format!("cannot read: {error}"),
            })),
        }
    }
    entries
}

/// Whether a directory search loads the file: `*.yaml` and `*.yml`.
pub fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Reads files within [`MAX_MANIFEST_BYTES`] each and
/// [`MAX_MANIFEST_SET_BYTES`] in all.
#[derive(Debug)]
pub struct Reader {
    left: u64,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            left: MAX_MANIFEST_SET_BYTES,
        }
    }
}

impl Reader {
    pub fn read(&mut self, file: &ManifestFile) -> Result<Vec<u8>, Unreadable> {
        let unreadable = |message: String| Unreadable {
            path: file.path.clone(),
            message,
        };
        if self.left == 0 {
            return Err(unreadable(format!(
                "not read: the manifests read so far reach {} MiB, the most one load reads; split them, or point at fewer files",
                MAX_MANIFEST_SET_BYTES >> 20
            )));
        }
        let bytes = read_regular(&file.real, MAX_MANIFEST_BYTES.min(self.left)).map_err(
            |e| match e {
                ReadError::TooLarge { .. } if self.left < MAX_MANIFEST_BYTES => unreadable(format!(
                    "not read: with it the manifests would exceed {} MiB, the most one load reads; split them, or point at fewer files",
                    MAX_MANIFEST_SET_BYTES >> 20
                )),
                other => unreadable(other.to_string()),
            },
        )?;
        self.left -= bytes.len() as u64;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(root: &Path, entries: Vec<Result<ManifestFile, Unreadable>>) -> Vec<String> {
        entries
            .into_iter()
            .map(|entry| match entry {
                Ok(f) => format!(
                    "{} {:?}",
                    f.path.strip_prefix(root).unwrap().display(),
                    f.origin
                ),
                Err(u) => format!(
                    "{}: {}",
                    u.path.strip_prefix(root).unwrap_or(&u.path).display(),
                    u.message
                ),
            })
            .collect()
    }

    #[test]
    fn searched_yaml_is_found_and_named_files_are_read_whatever_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        for file in ["sub/web.yml", "notes.txt"] {
            std::fs::write(root.join(file), "").unwrap();
        }
        let entries = manifest_files(&[root.to_path_buf(), root.join("notes.txt")]);
        assert_eq!(
            names(root, entries),
            ["sub/web.yml Found", "notes.txt Named"]
        );
    }

    #[test]
    fn reports_missing_paths() {
        let entries = manifest_files(&["/nonexistent/hareconcile"]);
        assert_eq!(entries.len(), 1);
        assert!(entries[0].is_err());
    }

    #[test]
    fn a_search_leaves_neither_the_directory_nor_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("web.yaml"), "").unwrap();
        symlink("/dev/zero", root.join("zero.yaml")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        symlink(".", root.join("again")).unwrap();
        let found = names(root, manifest_files(&[root]));
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(found[0], "web.yaml Found");
        assert!(found[1].starts_with("again: leads to"), "{found:?}");
        assert!(
            found[2].starts_with("etc: is a link to /etc, outside"),
            "{found:?}"
        );
        assert!(
            found[3].starts_with("zero.yaml: is a link to /dev/zero, outside"),
            "{found:?}"
        );
    }

    #[test]
    fn reads_are_bounded_per_file_and_per_set() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_MANIFEST_BYTES as usize + 1]).unwrap();
        let file = |path: &Path| ManifestFile {
            path: path.to_path_buf(),
            real: path.to_path_buf(),
            origin: Origin::Named,
        };
        let message = Reader::default().read(&file(&big)).unwrap_err().message;
        assert!(message.starts_with("it is larger than 4 MiB"), "{message}");

        let part = dir.path().join("part.yaml");
        std::fs::write(&part, vec![b'#'; MAX_MANIFEST_BYTES as usize]).unwrap();
        let mut reader = Reader::default();
        let parts = (MAX_MANIFEST_SET_BYTES / MAX_MANIFEST_BYTES) as usize;
        for _ in 0..parts {
            reader.read(&file(&part)).unwrap();
        }
        let message = reader.read(&file(&part)).unwrap_err().message;
        assert!(message.contains("reach 32 MiB"), "{message}");

        let mut reader = Reader { left: 10 };
        let message = reader.read(&file(&part)).unwrap_err().message;
        assert!(message.contains("would exceed 32 MiB"), "{message}");
        let named_fifo = Reader::default()
            .read(&file(Path::new("/dev/null")))
            .unwrap_err()
            .message;
        assert_eq!(
            named_fifo,
            "it is a character device, not a regular file: only regular files are read"
        );
    }
}
