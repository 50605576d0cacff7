//! Loading manifests from files with exact positions: YAML (multi-document)
//! to JSON with a position for every node, then schema, format, per-object
//! and cross-object checks. Every problem is reported, in file order, as
//! `file:line:col: Kind/name: message`.

mod diagnostic;
mod document;
mod files;
mod referenced;
pub mod yaml;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics};
pub use referenced::{Checked, NoReferencedFiles, ReferencedFiles};

use crate::validate::{advise, check_set, Anchor};
use crate::{Object, ObjectKey};
use files::Origin;
pub use files::{is_yaml, MAX_MANIFEST_BYTES, MAX_MANIFEST_SET_BYTES};
use yaml::{Position, PositionMap};

/// A valid object and where it was declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub object: Object,
    pub file: PathBuf,
    /// Where the document's mapping starts (1-based).
    pub line: usize,
    pub column: usize,
    /// What the files the object names hold without effect, each at its
    /// place (see [`Checked::warnings`]).
    pub warnings: Vec<Diagnostic>,
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
    load_paths_checked(paths, existing, &NoReferencedFiles)
}

/// Like [`load_paths_with`], with the files each valid object names checked
/// by `files` too, and the annotations it returns added to the object.
pub fn load_paths_checked<P: AsRef<Path>>(
    paths: &[P],
    existing: &[Object],
    files: &dyn ReferencedFiles,
) -> Result<Vec<Manifest>, Diagnostics> {
    let mut batch = Batch::default();
    let mut reader = files::Reader::default();
    for entry in files::manifest_files(paths) {
        match entry.and_then(|file| reader.read(&file).map(|bytes| (file, bytes))) {
            Ok((file, bytes)) => batch.add_bytes(&file.path, &bytes, file.origin),
            Err(u) => batch.unpositioned(u.path, u.message),
        }
    }
    batch.finish(existing, files)
}

/// Loads the manifests in `text` as if read from `file`.
pub fn load_str(file: &Path, text: &str) -> Result<Vec<Manifest>, Diagnostics> {
    load_str_checked(file, text, &NoReferencedFiles)
}

/// [`load_str`] with the files objects name checked by `files`.
pub fn load_str_checked(
    file: &Path,
    text: &str,
    files: &dyn ReferencedFiles,
) -> Result<Vec<Manifest>, Diagnostics> {
    let mut batch = Batch::default();
    batch.add_text(file, text, Origin::Named);
    batch.finish(&[], files)
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
    /// By index into `declared`.
    warnings: HashMap<usize, Vec<Diagnostic>>,
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
                let (line, column) = hareconcile_fs::utf8_error_at(bytes, e.valid_up_to());
                self.at(
                    file,
                    Position::new(line, column),
                    None,
                    "the file is not UTF-8 text: save it as UTF-8".to_string(),
                );
            }
        }
    }

    fn add_text(&mut self, file: &Path, text: &str, origin: Origin) {
        self.read(file);
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let documents = yaml::parse_stream(text);
        // Unreadable YAML might be a manifest, so it is always reported.
        if origin == Origin::Found
            && documents.iter().all(|d| d.is_ok())
            && !documents.iter().any(looks_like_manifest)
        {
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
            let advice = match (&outcome.object, outcome.findings.is_empty()) {
                (Some(object), true) => advise(object),
                _ => Vec::new(),
            };
            for finding in outcome.findings {
                let position = position_of(&document.positions, &finding.pointer, finding.anchor);
                self.at(file, position, outcome.key.clone(), finding.message);
            }
            let warnings: Vec<Diagnostic> = advice
                .into_iter()
                .map(|finding| {
                    let position =
                        position_of(&document.positions, &finding.pointer, finding.anchor);
                    Diagnostic {
                        file: file.to_path_buf(),
                        line: position.line,
                        column: position.column,
                        object: outcome.key.clone(),
                        message: finding.message,
                    }
                })
                .collect();
            if !warnings.is_empty() {
                self.warnings.insert(self.declared.len(), warnings);
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

    /// Cross-object checks, the files objects name, then the verdict.
    fn finish(
        mut self,
        existing: &[Object],
        files: &dyn ReferencedFiles,
    ) -> Result<Vec<Manifest>, Diagnostics> {
        let first = self.report_duplicates();
        self.check_across(&first, existing);
        self.check_files(&first, files);
        // Every invalid document produced a diagnostic, so without any all
        // declared objects are real ones, not placeholders.
        if self.diagnostics.is_empty() {
            return Ok(self
                .declared
                .into_iter()
                .enumerate()
                .map(|(i, d)| {
                    let start = d.positions.value("");
                    Manifest {
                        object: d.object,
                        file: d.file,
                        line: start.line,
                        column: start.column,
                        warnings: self.warnings.remove(&i).unwrap_or_default(),
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

    /// Reports every declaration of an object after its first, naming where
    /// the first is; returns the index of each key's first declaration.
    fn report_duplicates(&mut self) -> HashMap<ObjectKey, usize> {
        let mut first: HashMap<ObjectKey, usize> = HashMap::new();
        for (i, again) in self.declared.iter().enumerate() {
            let Some(&j) = first.get(&again.key) else {
                first.insert(again.key.clone(), i);
                continue;
            };
            let original = &self.declared[j];
            let at = original.positions.value("/metadata/name");
            let position = again.positions.value("/metadata/name");
            self.diagnostics.push(Diagnostic {
                file: again.file.clone(),
                line: position.line,
                column: position.column,
                object: Some(again.key.clone()),
                message: format!(
                    "metadata.name: {} is already declared at {}:{}:{}: keep one declaration",
                    again.key,
                    original.file.display(),
                    at.line,
                    at.column
                ),
            });
        }
        first
    }

    /// The files of each first declaration that is valid so far: an object
    /// with problems of its own would only add confusing ones.
    fn check_files(&mut self, first: &HashMap<ObjectKey, usize>, files: &dyn ReferencedFiles) {
        let faulty: HashSet<ObjectKey> = self
            .diagnostics
            .iter()
            .filter_map(|d| d.object.clone())
            .collect();
        for i in 0..self.declared.len() {
            let declared = &mut self.declared[i];
            let key = &declared.key;
            if first.get(key) != Some(&i) || faulty.contains(key) || declared.object.spec.is_null()
            {
                continue;
            }
            let checked = files.check(&declared.object);
            declared
                .object
                .metadata
                .annotations
                .extend(checked.annotations);
            if !checked.warnings.is_empty() {
                self.warnings.entry(i).or_default().extend(checked.warnings);
            }
            for problem in checked.problems {
                self.read(&problem.file);
                self.diagnostics.push(problem);
            }
        }
    }

    /// [`check_set`] over the first declarations and the existing objects
    /// they do not replace, with problems placed where they were written.
    fn check_across(&mut self, first: &HashMap<ObjectKey, usize>, existing: &[Object]) {
        let mut set: Vec<&Object> = existing
            .iter()
            .filter(|o| !first.contains_key(&o.key()))
            .collect();
        // In declaration order: of two colliding objects the later is blamed.
        set.extend(
            self.declared
                .iter()
                .enumerate()
                .filter(|(i, d)| first.get(&d.key) == Some(i))
                .map(|(_, d)| &d.object),
        );
        for problem in check_set(&set) {
            let diagnostic = match first.get(&problem.key).map(|&i| &self.declared[i]) {
                Some(declared) => {
                    let position =
                        position_of(&declared.positions, &problem.pointer, problem.anchor);
                    Diagnostic {
                        file: declared.file.clone(),
                        line: position.line,
                        column: position.column,
                        object: Some(problem.key),
                        message: problem.message,
                    }
                }
                // A stored object that the loaded ones break (e.g. a Cluster
                // loses a node a stored VirtualIP names).
                None => Diagnostic {
                    file: PathBuf::from("<store>"),
                    line: 0,
                    column: 0,
                    object: Some(problem.key),
                    message: problem.message,
                },
            };
            self.diagnostics.push(diagnostic);
        }
    }
}

/// Whether a document declares itself as some API object, as opposed to
/// other YAML kept beside manifests (compose files, CI configuration).
fn looks_like_manifest(document: &yaml::Parsed) -> bool {
    document.as_ref().is_ok_and(|d| {
        d.value
            .as_object()
            .is_some_and(|m| m.contains_key("apiVersion") || m.contains_key("kind"))
    })
}

fn position_of(positions: &PositionMap, pointer: &str, anchor: Anchor) -> Position {
    match anchor {
        Anchor::Value => positions.value(pointer),
        Anchor::Key => positions.key(pointer),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    const CLUSTER: &str = "apiVersion: hareconcile.io/v1alpha1
kind: Cluster
metadata: {name: home}
spec:
  nodes: [{name: n1, address: 10.77.0.1}, {name: n2, address: 10.77.0.2}]
";

    fn vip(name: &str, node: &str) -> String {
        format!(
            "apiVersion: hareconcile.io/v1alpha1
kind: VirtualIP
metadata: {{name: {name}}}
spec: {{cluster: home, interface: eth0, vrid: 51, addresses: [10.77.0.100/24], priorities: {{{node}: 100}}}}
"
        )
    }

    fn messages(result: Result<Vec<Manifest>, Diagnostics>) -> Vec<String> {
        result
            .unwrap_err()
            .0
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn empty_documents_and_comments_declare_nothing() {
        let manifests = load_str(Path::new("m.yaml"), "# nothing\n---\n---\n").unwrap();
        assert!(manifests.is_empty());
        let manifests =
            load_str(Path::new("m.yaml"), &format!("---\n{CLUSTER}---\n# end\n")).unwrap();
        assert_eq!((manifests[0].line, manifests[0].column), (2, 1));
    }

    #[test]
    fn loaded_objects_replace_existing_ones_and_resolve_against_the_rest() {
        let stored = load_str(
            Path::new("old.yaml"),
            &format!("{CLUSTER}---\n{}", vip("web", "n1")),
        )
        .unwrap()
        .into_iter()
        .map(|m| m.object)
        .collect::<Vec<_>>();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yaml");
        // The stored Cluster resolves the reference; the loaded VirtualIP
        // replaces the stored one instead of colliding with it.
        std::fs::write(&file, vip("web", "n2")).unwrap();
        let manifests = load_paths_with(&[&file], &stored).unwrap();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0].object.kind, Kind::VirtualIP);
    }

    #[test]
    fn problems_of_stored_objects_are_reported_without_a_position() {
        let stored = load_str(
            Path::new("old.yaml"),
            &format!("{CLUSTER}---\n{}", vip("web", "n2")),
        )
        .unwrap()
        .into_iter()
        .filter(|m| m.object.kind == Kind::VirtualIP)
        .map(|m| m.object)
        .collect::<Vec<_>>();
        // The new Cluster drops n2, which the stored VirtualIP names.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cluster.yaml");
        std::fs::write(
            &file,
            CLUSTER.replace(", {name: n2, address: 10.77.0.2}", ""),
        )
        .unwrap();
        assert_eq!(
            messages(load_paths_with(&[&file], &stored)),
            ["<store>: VirtualIP/web: spec.priorities.n2: unknown node \"n2\" in Cluster \"home\": use one of n1"]
        );
    }

    #[test]
    fn yaml_without_api_version_or_kind_is_skipped_only_when_found_by_searching() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cluster.yaml"), CLUSTER).unwrap();
        let compose = dir.path().join("compose.yaml");
        std::fs::write(&compose, "services:\n  web: {image: busybox}\n").unwrap();
        assert_eq!(load_paths(&[dir.path()]).unwrap().len(), 1);
        let found = messages(load_paths(&[&compose]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].ends_with(":1:1: missing required field kind: add kind: Cluster, VirtualIP, Service or Replication"), "{found:?}");
        assert!(
            found[1].ends_with(
                ":1:1: missing required field apiVersion: add apiVersion: hareconcile.io/v1alpha1"
            ),
            "{found:?}"
        );
    }

    #[test]
    fn unreadable_and_non_utf8_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let latin1 = dir.path().join("latin1.yaml");
        std::fs::write(&latin1, b"kind: Cluster\nmetadata: {name: caf\xe9}\n").unwrap();
        let missing = dir.path().join("missing.yaml");
        let found = messages(load_paths(&[&latin1, &missing]));
        assert_eq!(found.len(), 2);
        assert!(
            found[0].ends_with("latin1.yaml:2:21: the file is not UTF-8 text: save it as UTF-8"),
            "{found:?}"
        );
        assert!(
            found[1].contains("missing.yaml: cannot read: "),
            "{found:?}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        assert_eq!(
            load_str(Path::new("m.yaml"), &format!("\u{feff}{CLUSTER}"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn an_invalid_object_still_exists_for_references() {
        // The Cluster is broken; the VirtualIP must not also say it is unknown.
        let text = format!(
            "{}---\n{}",
            CLUSTER.replace("10.77.0.2", "10.77.0.300"),
            vip("web", "n1")
        );
        assert_eq!(
            messages(load_str(Path::new("m.yaml"), &text)),
            ["m.yaml:5:63: Cluster/home: spec.nodes[1].address: \"10.77.0.300\" is not an IP address: write it like 10.77.0.1 or fd00::1"]
        );
    }

    /// Flags every VirtualIP named `bad` in a file of its own, and
    /// annotates the others with what it read and warns about them.
    struct Files;

    impl ReferencedFiles for Files {
        fn check(&self, object: &Object) -> Checked {
            if object.metadata.name == "bad" {
                Checked {
                    problems: vec![Diagnostic {
                        file: "hook.txt".into(),
                        line: 3,
                        column: 1,
                        object: Some(object.key()),
                        message: "its file is bad".into(),
                    }],
                    ..Checked::default()
                }
            } else {
                Checked {
                    warnings: vec![Diagnostic {
                        file: "hook.txt".into(),
                        line: 1,
                        column: 1,
                        object: Some(object.key()),
                        message: "warning: read, not acted on".into(),
                    }],
                    annotations: [("test/read".to_string(), "digest".to_string())].into(),
                    ..Checked::default()
                }
            }
        }
    }

    #[test]
    fn a_paused_standby_of_an_exclusive_stack_is_a_warning_at_its_field() {
        let service = |extra: &str| {
            format!(
                "apiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {{name: shop}}\nspec:\n  cluster: home\n  followVirtualIP: web\n  mode: warm\n  standby: paused\n  compose: {{file: c.yaml}}\n{extra}"
            )
        };
        let warnings = |extra: &str| {
            let text = format!("{CLUSTER}---\n{}---\n{}", vip("web", "n1"), service(extra));
            let manifests = load_str(Path::new("m.yaml"), &text).unwrap();
            manifests[2]
                .warnings
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            warnings("  handover: break-before-make\n"),
            ["m.yaml:19:12: Service/shop: spec.standby: warning: not paused but stopped on the standby: this stack is exclusive (break-before-make), and a paused stack's processes would start (and run again when thawed) beside the master's: set standby: stopped, or handover: make-before-break if two copies may run at once"]
        );
        // A stack that may run twice is paused as asked.
        assert!(warnings("").is_empty());
        assert!(warnings("  handover: make-before-break\n").is_empty());
    }

    #[test]
    fn the_files_objects_name_are_checked_with_the_manifests() {
        let bad = "apiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {name: bad}\nspec: {cluster: home, interface: eth0, vrid: 52, addresses: [10.77.0.101/24]}\n";
        let text = format!("{CLUSTER}---\n{}---\n{bad}", vip("web", "n9"));
        // The manifests' own problem (an unknown node), then the hook's.
        let problems = messages(load_str_checked(Path::new("m.yaml"), &text, &Files));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("m.yaml:") && problems[0].contains("VirtualIP/web"),
            "{problems:?}"
        );
        assert_eq!(problems[1], "hook.txt:3:1: VirtualIP/bad: its file is bad");

        let text = format!("{CLUSTER}---\n{}", vip("web", "n1"));
        let manifests = load_str_checked(Path::new("m.yaml"), &text, &Files).unwrap();
        assert_eq!(
            manifests[1].object.metadata.annotations["test/read"],
            "digest"
        );
        // Its warnings stay with the object they are about.
        assert_eq!(
            manifests[1].warnings[0].to_string(),
            "hook.txt:1:1: VirtualIP/web: warning: read, not acted on"
        );
        // An object with problems of its own is not checked further.
        let text = format!("{CLUSTER}---\n{}", vip("bad", "n3"));
        let problems = messages(load_str_checked(Path::new("m.yaml"), &text, &Files));
        assert!(
            problems.iter().all(|p| !p.contains("its file is bad")),
            "{problems:?}"
        );
    }
}
