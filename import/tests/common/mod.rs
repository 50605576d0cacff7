//! What the import tests share: running an import and checking that its
//! manifests pass the model's full validation, as `hareconcile validate`
//! and the agent run it.

#![allow(dead_code)] // each test file uses a different part of this

use std::path::{Path, PathBuf};

use hareconcile_import::{Finding, Import, Level};
use hareconcile_model::{load, Object};
use serde_json::Value;

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// The import's objects as one manifest file (JSON documents are YAML),
/// loaded and validated by the model; panics with every problem otherwise.
pub fn validated(import: &Import) -> Vec<Object> {
    let text = import
        .objects
        .iter()
        .map(|o| serde_json::to_string_pretty(o).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    match load::load_str(Path::new("imported.yaml"), &text) {
        Ok(manifests) => manifests.into_iter().map(|m| m.object).collect(),
        Err(errors) => panic!("the imported manifests do not validate:\n{errors}\n{text}"),
    }
}

/// The spec of the object named `name` (the Cluster is "imported").
pub fn spec<'a>(objects: &'a [Object], name: &str) -> &'a Value {
    &objects
        .iter()
        .find(|o| o.metadata.name == name)
        .unwrap_or_else(|| panic!("no object {name}"))
        .spec
}

/// (level, file name:line or "-", subject) of every finding, for
/// assertions that name exactly what was reported.
pub fn summary(findings: &[Finding]) -> Vec<(Level, String, String)> {
    findings
        .iter()
        .map(|f| {
            let at = f.at.as_ref().map_or("-".to_string(), |at| {
                let file = at.file.file_name().unwrap_or_default().to_string_lossy();
                format!("{file}:{}", at.line)
            });
            (f.level, at, f.subject.clone())
        })
        .collect()
}

/// The findings of `level`, summarised.
pub fn at_level(import: &Import, level: Level) -> Vec<(String, String)> {
    summary(&import.findings)
        .into_iter()
        .filter(|(l, _, _)| *l == level)
        .map(|(_, at, subject)| (at, subject))
        .collect()
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
