//! Loading manifests from files with exact positions: YAML (multi-document)
//! to JSON with a position for every node, then schema, format, per-object
//! and cross-object checks. Every problem is reported, in file order, as
//! `file:line:col: Kind/name: message`.

mod diagnostic;
mod document;
mod files;
mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics};

use crate::validate::{check_set, Anchor, Finding};
use crate::{Object, ObjectKey};
use files::Origin;
use yaml::{Position, PositionMap};

/// A valid object and where it was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub object: Object,
    pub file: PathBuf,
    /// Where the document's mapping starts (1-based).
    pub line: usize,
    pub column: usize,
}

/// Loads every manifest under `paths` (files, or directories searched
/// recursively for `*.yaml` / `*.yml`).
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Manifest>, Diagnostics> {
    load_paths_with(paths, &[])
}

/// Like [`load_paths`], with cross-object checks over the loaded objects and
/// `existing` ones (e.g. the store's), a loaded object replacing an existing
/// one with the same key.
pub fn load_paths_with<P: AsRef<Path>>(
    paths: &[P],
    existing: &[Object],
) -> Result<Vec<Manifest>, Diagnostics> {
    let mut batch = Batch::default();
    let (files, unreadable) = files::manifest_files(paths);
    for u in unreadable {
        batch.unpositioned(u.path, format!("cannot read: {}", u.error));
    }
    for (file, origin) in files {
        match std::fs::read(&file) {
            Ok(bytes) => batch.add_bytes(&file, &bytes, origin),
            Err(e) => batch.unpositioned(file, format!("cannot read: {e}")),
        }
    }
    batch.finish(existing)
}

/// Loads the manifests in `text` as if read from `file`.
pub fn load_str(file: &Path, text: &str) -> Result<Vec<Manifest>, Diagnostics> {
    let mut batch = Batch::default();
    batch.add_text(file, text, Origin::Named);
    batch.finish(&[])
}

/// One document that named its object, valid or not.
struct Declared {
    key: ObjectKey,
    /// A document that failed validation is kept as a placeholder with no
    /// spec: it still exists for references, so that one mistake is not
    /// reported again wherever the object is named.
    object: Object,
    file: PathBuf,
    positions: PositionMap,
}

/// Everything loaded so far, plus the problems found.
#[derive(Default)]
struct Batch {
    declared: Vec<Declared>,
    diagnostics: Vec<Diagnostic>,
    /// Files in the order they were read, for sorting diagnostics.
    file_order: HashMap<PathBuf, usize>,
}

impl Batch {
    fn read(&mut self, file: &Path) {
        let next = self.file_order.len();
        self.file_order.entry(file.to_path_buf()).or_insert(next);
    }

    fn unpositioned(&mut self, file: PathBuf, message: String) {
        self.read(&file);
        self.diagnostics.push(Diagnostic {
            file,
            line: 0,
            column: 0,
            object: None,
            message,
        });
    }

    fn at(&mut self, file: &Path, position: Position, object: Option<ObjectKey>, message: String) {
        self.diagnostics.push(Diagnostic {
            file: file.to_path_buf(),
            line: position.line,
            column: position.column,
            object,
            message,
        });
    }

    fn add_bytes(&mut self, file: &Path, bytes: &[u8], origin: Origin) {
        self.read(file);
        match std::str::from_utf8(bytes) {
            Ok(text) => self.add_text(file, text, origin),
            Err(e) => {
                let before = &bytes[..e.valid_up_to()];
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let line_start = before
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                let column = String::from_utf8_lossy(&before[line_start..])
                    .chars()
                    .count()
                    + 1;
                self.at(
                    file,
                    Position { line, column },
                    None,
                    "the file is not UTF-8 text: save it as UTF-8".to_string(),
                );
            }
        }
    }

    fn add_text(&mut self, file: &Path, text: &str, origin: Origin) {
        self.read(file);
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let documents = match yaml::parse_stream(text) {
            Ok(documents) => documents,
            Err(e) => return self.at(file, e.position, None, e.message),
        };
        if origin == Origin::Found && !documents.iter().any(looks_like_manifest) {
            return;
        }
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        for document in documents {
            let document = match document {
                Ok(document) => document,
                Err(errors) => {
                    for e in errors {
                        self.at(file, e.position, None, e.message);
                    }
                    continue;
                }
            };
            // `---` alone, or a file of comments: nothing declared.
            if document.value.is_null() {
                continue;
            }
            let outcome = document::interpret(&document.value, &absolute);
            for finding in outcome.findings {
                let position = position_of(&document.positions, &finding);
                self.at(file, position, outcome.key.clone(), finding.message);
            }
            if let Some(key) = outcome.key {
                self.declared.push(Declared {
                    object: outcome.object.unwrap_or_else(|| placeholder(&key)),
                    key,
                    file: file.to_path_buf(),
                    positions: document.positions,
                });
            }
        }
    }

    /// Cross-object checks, then the verdict.
    fn finish(mut self, existing: &[Object]) -> Result<Vec<Manifest>, Diagnostics> {
        let mut first: HashMap<ObjectKey, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        for (i, declared) in self.declared.iter().enumerate() {
            if let Some(&j) = first.get(&declared.key) {
                duplicates.push((i, j));
            } else {
                first.insert(declared.key.clone(), i);
            }
        }
        for (i, j) in duplicates {
            let (again, original) = (&self.declared[i], &self.declared[j]);
            let at = original.positions.value("/metadata/name");
            let message = format!(
                "metadata.name: {} is already declared at {}:{}:{}: keep one declaration",
                again.key,
                original.file.display(),
                at.line,
                at.column
            );
            let position = again.positions.value("/metadata/name");
            self.diagnostics.push(Diagnostic {
                file: again.file.clone(),
                line: position.line,
                column: position.column,
                object: Some(again.key.clone()),
                message,
            });
        }

        // Loaded objects replace existing ones.
        let mut set: Vec<&Object> = existing
            .iter()
            .filter(|o| !first.contains_key(&o.key()))
            .collect();
        set.extend(
            self.declared
                .iter()
                .enumerate()
                .filter(|(i, d)| first.get(&d.key) == Some(i))
                .map(|(_, d)| &d.object),
        );

        for problem in check_set(&set) {
            let finding = Finding {
                pointer: problem.pointer,
                message: problem.message,
                anchor: problem.anchor,
            };
            match first.get(&problem.key).map(|&i| &self.declared[i]) {
                Some(declared) => {
                    let position = position_of(&declared.positions, &finding);
                    self.diagnostics.push(Diagnostic {
                        file: declared.file.clone(),
                        line: position.line,
                        column: position.column,
                        object: Some(problem.key),
                        message: finding.message,
                    });
                }
                // A stored object that the loaded ones break (e.g. a Cluster
                // loses a node a stored VirtualIP names).
                None => self.diagnostics.push(Diagnostic {
                    file: PathBuf::from("<store>"),
                    line: 0,
                    column: 0,
                    object: Some(problem.key),
                    message: finding.message,
                }),
            }
        }

        // Every invalid document produced a diagnostic, so without any all
        // declared objects are real ones, not placeholders.
        if self.diagnostics.is_empty() {
            return Ok(self
                .declared
                .into_iter()
                .map(|d| {
                    let start = d.positions.value("");
                    Manifest {
                        object: d.object,
                        file: d.file,
                        line: start.line,
                        column: start.column,
                    }
                })
                .collect());
        }
        // File order, then position; problems of stored objects come last.
        let order = &self.file_order;
        let rank = |d: &Diagnostic| order.get(&d.file).copied().unwrap_or(usize::MAX);
        self.diagnostics
            .sort_by_key(|d| (rank(d), d.line, d.column));
        Err(Diagnostics(self.diagnostics))
    }
}

/// Whether a document declares itself as some API object, as opposed to
/// other YAML kept beside manifests (compose files, CI configuration).
fn looks_like_manifest(document: &Result<yaml::Document, Vec<yaml::YamlError>>) -> bool {
    document.as_ref().is_ok_and(|d| {
        d.value
            .as_object()
            .is_some_and(|m| m.contains_key("apiVersion") || m.contains_key("kind"))
    })
}

fn position_of(positions: &PositionMap, finding: &Finding) -> Position {
    match finding.anchor {
        Anchor::Value => positions.value(&finding.pointer),
        Anchor::Key => positions.key(&finding.pointer),
    }
}

fn placeholder(key: &ObjectKey) -> Object {
    Object {
        api_version: crate::API_VERSION.to_string(),
        kind: key.kind,
        metadata: crate::ObjectMeta::named(key.name.clone()),
        spec: serde_json::Value::Null,
        status: Default::default(),
    }
}
