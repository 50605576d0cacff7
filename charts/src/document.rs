//! A YAML file a user or chart author writes (chart.yaml, a values file),
//! read with the position of every node so schema problems point at
//! `file:line:col`, as manifests' do.

use std::path::{Path, PathBuf};

use hareconcile_model::load::yaml::{parse_stream, Document};
use hareconcile_model::load::{Diagnostic, Diagnostics};
use hareconcile_model::validate::{Anchor, Finding, Schema};
use serde_json::Value;

/// One YAML document and the file it came from.
pub struct Positioned {
    pub file: PathBuf,
    pub document: Document,
}

impl Positioned {
    /// Reads the single document of `text`; an empty file is an empty
    /// mapping (a values file with every line commented out sets nothing).
    pub fn parse(file: &Path, text: &str) -> Result<Positioned, Diagnostics> {
        let mut documents = parse_stream(text);
        let at = |line, column, message: String| Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            object: None,
            message,
        };
        if documents.len() > 1 {
            return Err(Diagnostics(vec![at(
                0,
                0,
                format!(
                    "holds {} YAML documents: keep one (no `---` between settings)",
                    documents.len()
                ),
            )]));
        }
        let mut document = match documents.pop() {
            Some(Ok(document)) => document,
            Some(Err(errors)) => {
                return Err(Diagnostics(
                    errors
                        .into_iter()
                        .map(|e| at(e.position.line, e.position.column, e.message))
                        .collect(),
                ))
            }
            None => Document {
                value: Value::Null,
                positions: Default::default(),
            },
        };
        match document.value {
            Value::Null => document.value = Value::Object(Default::default()),
            Value::Object(_) => {}
            _ => {
                return Err(Diagnostics(vec![at(
                    1,
                    1,
                    "expected a mapping of settings (`key: value` lines)".to_string(),
                )]))
            }
        }
        Ok(Positioned {
            file: file.to_path_buf(),
            document,
        })
    }

    /// Where the node at `pointer` (or its nearest written ancestor) is.
    pub fn diagnostic(&self, finding: Finding) -> Diagnostic {
        let positions = &self.document.positions;
        let position = match finding.anchor {
            Anchor::Key => positions.key(&finding.pointer),
            Anchor::Value => positions.value(&finding.pointer),
        };
        Diagnostic {
            file: self.file.clone(),
            line: position.line,
            column: position.column,
            object: None,
            message: finding.message,
        }
    }

    /// Every schema problem of this document, positioned.
    pub fn check(&self, schema: &Schema) -> Result<(), Diagnostics> {
        let problems: Vec<Diagnostic> = schema
            .check(&self.document.value)
            .into_iter()
            .map(|f| self.diagnostic(f))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(problems))
        }
    }
}

/// A problem with a whole file, without a position.
pub fn unpositioned(file: &Path, message: impl Into<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        object: None,
        message: message.into(),
    }])
}
