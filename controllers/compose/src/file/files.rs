//! The files one project is read from: the compose file, what it includes
//! and extends, `.env` and env files. Each is numbered as the `source` of
//! the positions read from it, so every problem names its own file; the
//! problems of all of them are collected, not only the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use hareconcile_fs::ReadError;
use sha2::{Digest, Sha256};

use super::env_file;
use super::interpolate::{interpolate, Variables};
use super::node::{self, Node, Position, Value};
use super::FileError;

/// Compose and env files are a few kilobytes; a file a thousand times that
/// is a mistake (or `/dev/zero`), not a project.
const MAX_FILE_BYTES: u64 = 8 << 20;

#[derive(Default)]
pub struct Files {
    /// By source number.
    paths: Vec<PathBuf>,
    problems: Vec<FileError>,
    /// Values whose interpolation failed: a decoding problem at one of them
    /// would only repeat it.
    failed: HashSet<Position>,
    /// Compose files read for `extends`, by path: many services may extend
    /// services of the same file.
    compose_files: HashMap<PathBuf, Option<Node>>,
    /// Of every file read: its path and text.
    contents: Sha256,
    /// The project's directory: paths under it enter the digest relative
    /// to it, so the same project in another checkout has the same digest.
    digest_base: Option<PathBuf>,
}

impl Files {
    /// For the project whose compose file is in `dir`.
    pub fn in_dir(dir: &Path) -> Files {
        Files {
            digest_base: Some(dir.to_path_buf()),
            ..Files::default()
        }
    }

    /// Numbers `path` as a source.
    pub fn add(&mut self, path: &Path) -> usize {
        self.paths.push(path.to_path_buf());
        self.paths.len() - 1
    }

    pub fn path(&self, source: usize) -> &Path {
        &self.paths[source]
    }

    /// A problem at `at`, in the file it is in.
    pub fn problem(&mut self, at: Position, message: impl Into<String>) {
        self.problems.push(FileError::Invalid {
            file: self.path(at.source).to_path_buf(),
            at,
            message: message.into(),
        });
    }

    /// A decoding problem, unless it is at a value that already failed
    /// interpolation.
    pub fn decoding_problem(&mut self, at: Position, message: String) {
        if !self.failed.contains(&at) {
            self.problem(at, message);
        }
    }

    pub fn unreadable(&mut self, file: &Path, source: std::io::Error) {
        self.problems.push(FileError::Read {
            file: file.to_path_buf(),
            source,
        });
    }

    /// Every problem, file by file in the order they were read, by
    /// position within each; a file that could not be read comes first.
    pub fn into_problems(mut self) -> Vec<FileError> {
        self.problems.sort_by_key(|problem| match problem {
            FileError::Read { .. } => None,
            FileError::Invalid { at, .. } => Some((at.source, at.line, at.column)),
        });
        self.problems
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// `sha256:...` of the path and text of every file read.
    pub fn digest(&self) -> String {
        let hex: String = self
            .contents
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }

    /// Reads and interpolates the compose file at `path`; `None` when it
    /// cannot be read or is not YAML, with the problems recorded.
    /// `referenced_at` is where another file names it, if one does.
    pub fn compose_file(
        &mut self,
        path: &Path,
        referenced_at: Option<(Position, &str)>,
        variables: &Variables,
    ) -> Option<Node> {
        let root = self.parse(path, referenced_at)?;
        Some(self.interpolate(root, variables))
    }

    /// [`Files::compose_file`] once per path.
    pub fn compose_file_cached(
        &mut self,
        path: &Path,
        referenced_at: (Position, &str),
        variables: &Variables,
    ) -> Option<Node> {
        if let Some(read) = self.compose_files.get(path) {
            return read.clone();
        }
        let read = self.compose_file(path, Some(referenced_at), variables);
        self.compose_files.insert(path.to_path_buf(), read.clone());
        read
    }

    /// Reads `path` as YAML, not interpolated yet.
    pub fn parse(&mut self, path: &Path, referenced_at: Option<(Position, &str)>) -> Option<Node> {
        let text = self.read(path, referenced_at)?;
        let source = self.add(path);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        match node::parse_as(text, source) {
            Ok(root) => Some(root),
            Err(errors) => {
                for e in errors {
                    self.problem(e.at, e.message);
                }
                None
            }
        }
    }

    /// Reads an env file; its problems are recorded in it, and what could
    /// be read is returned.
    pub fn env_file(
        &mut self,
        path: &Path,
        referenced_at: Option<(Position, &str)>,
        environment: &Variables,
    ) -> Option<BTreeMap<String, String>> {
        let text = self.read(path, referenced_at)?;
        let source = self.add(path);
        let file = env_file::parse(&text, environment, source);
        for (at, message) in &file.problems {
            self.problem(*at, message.clone());
        }
        Some(file.into_map())
    }

    /// The text of a regular file of reasonable size. A missing file is a
    /// problem at the reference to it when there is one (`what` names the
    /// reference, e.g. "env_file"), else of the file itself.
    pub fn read(&mut self, path: &Path, referenced_at: Option<(Position, &str)>) -> Option<String> {
        match read_regular(path) {
            Ok(text) => {
                let named = self
                    .digest_base
                    .as_deref()
                    .and_then(|base| path.strip_prefix(base).ok())
                    .unwrap_or(path);
                // Lengths keep one file's end from passing for the next's start.
                for part in [named.as_os_str().as_encoded_bytes(), text.as_bytes()] {
                    self.contents.update((part.len() as u64).to_le_bytes());
                    self.contents.update(part);
                }
                Some(text)
            }
            // The file's own syntax error, at its place in the file.
            Err(ReadError::NotUtf8 { line, column }) if referenced_at.is_none() => {
                let source = self.add(path);
                self.problem(
                    Position {
                        line,
                        column,
                        source,
                    },
                    "the file is not UTF-8 text: save it as UTF-8",
                );
                None
            }
            Err(error) => {
                let error = into_io(error);
                match referenced_at {
                    Some((at, what)) => self.problem(
                        at,
                        format!("cannot read {what} {}: {error}", path.display()),
                    ),
                    None => self.unreadable(path, error),
                }
                None
            }
        }
    }

    /// Interpolates every string value (never keys), as Compose does,
    /// recording each failure where the value is.
    pub fn interpolate(&mut self, node: Node, variables: &Variables) -> Node {
        let value = match node.value {
            Value::String(text) => match interpolate(&text, variables) {
                Ok(done) => Value::String(done.text),
                Err(message) => {
                    self.failed.insert(node.at);
                    self.problem(node.at, message);
                    Value::String(text)
                }
            },
            Value::Seq(items) => Value::Seq(
                items
                    .into_iter()
                    .map(|item| self.interpolate(item, variables))
                    .collect(),
            ),
            Value::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|mut entry| {
                        entry.value = self.interpolate(entry.value, variables);
                        entry
                    })
                    .collect(),
            ),
            other => other,
        };
        Node { at: node.at, value }
    }
}

/// Through the shared bounded reader: regular files only (a FIFO or
/// device is refused without blocking), within [`MAX_FILE_BYTES`], UTF-8.
fn read_regular(path: &Path) -> Result<String, ReadError> {
    hareconcile_fs::read_text(path, MAX_FILE_BYTES)
}

/// A file that could not be read, as [`FileError::Read`] holds it.
fn into_io(error: ReadError) -> std::io::Error {
    match error {
        ReadError::Io(e) => e,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::assert_problems;

    #[test]
    fn refuses_what_is_not_a_small_regular_text_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        let binary = dir.path().join("binary.env");
        std::fs::write(&binary, [b'A', b'=', 0xff]).unwrap();
        for (path, expected) in [
            (dir.path().to_path_buf(), "not a regular file"),
            (big, "larger than 8 MiB"),
            (binary, "not UTF-8"),
            (dir.path().join("missing.yaml"), "No such file"),
        ] {
            let error = read_regular(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{}: {error}", path.display());
        }
        assert!(read_regular(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        // Opening a FIFO would wait for a writer that never comes.
        let fifo = dir.path().join("compose.yaml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(read_regular(&fifo)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
    }

    #[test]
    fn every_problem_names_the_file_it_is_in() {
        let dir = tempfile::tempdir().unwrap();
        let compose = dir.path().join("compose.yaml");
        std::fs::write(&compose, "a: ${X:?need X}\nb: [\n").unwrap();
        let env = dir.path().join("app.env");
        std::fs::write(&env, "GOOD=1\nBAD KEY=2\n").unwrap();
        let mut files = Files::default();
        assert!(files
            .compose_file(&compose, None, &Variables::default())
            .is_none());
        let vars = files.env_file(&env, None, &Variables::default()).unwrap();
        assert_eq!(vars["GOOD"], "1");
        let problems: Vec<String> = files
            .into_problems()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_problems(
            &problems,
            &[
                "…compose.yaml:3:1: YAML syntax error",
                "…app.env:2:4: variable name",
            ],
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_a_problem_at_its_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let compose = dir.path().join("compose.yaml");
        std::fs::write(&compose, b"services:\n  caf\xe9: {}\n").unwrap();
        let mut files = Files::default();
        assert!(files.parse(&compose, None).is_none());
        let problems: Vec<String> = files
            .into_problems()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].ends_with("compose.yaml:2:6: the file is not UTF-8 text: save it as UTF-8"),
            "{problems:?}"
        );
    }
}
