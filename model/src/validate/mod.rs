//! Validation that needs no file positions, so the agent can run it
//! server-side: the JSON Schema, format checks, per-object semantic checks
//! and checks across a set of objects. Problems name the place with a JSON
//! pointer; the loader turns pointers into `file:line:col`.

mod formats;
mod object;
pub(crate) mod pointer;
mod schema;
mod set;

pub(crate) use schema::closest;
pub use schema::{schema_json, Schema};
pub use set::check_set;

use crate::{Object, ObjectKey};

/// One thing wrong with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: ObjectKey,
    /// JSON pointer to the offending node, e.g. `/spec/addresses/1`.
    pub pointer: String,
    /// Starts with the field path (`spec.vrid: ...`), says what to do.
    pub message: String,
    /// Whether the problem is the key at `pointer` (an unknown field) or its value.
    pub anchor: Anchor,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Which part of a mapping entry a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The value (wrong type, out of range, dangling reference...), or the
    /// mapping that lacks a required field.
    Value,
    /// The key itself (an unknown field, an unknown node name as a map key).
    Key,
}

/// A problem before it is attached to an object key: the loader finds some
/// before it knows the object's name, and documents that are not objects
/// (a chart's values) have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub pointer: String,
    pub message: String,
    pub anchor: Anchor,
}

impl Finding {
    pub(crate) fn value(at: &str, message: impl std::fmt::Display) -> Self {
        Finding {
            pointer: at.to_string(),
            message: pointer::at(at, message),
            anchor: Anchor::Value,
        }
    }

    pub(crate) fn key(at: &str, message: impl std::fmt::Display) -> Self {
        Finding {
            anchor: Anchor::Key,
            ..Finding::value(at, message)
        }
    }

    pub(crate) fn into_problem(self, key: ObjectKey) -> Problem {
        Problem {
            key,
            pointer: self.pointer,
            message: self.message,
            anchor: self.anchor,
        }
    }
}

/// Schema and format checks of a whole document (envelope and spec) of a
/// known kind. The loader runs this on what the user wrote, before it can
/// build an [`Object`].
pub(crate) fn check_document(kind: crate::Kind, document: &serde_json::Value) -> Vec<Finding> {
    let mut findings = schema::check(kind, document);
    // Format checks look only at strings where the schema wants a format,
    // so they are safe on a document the schema rejected; a node the
    // schema already complained about is not reported twice.
    let formats: Vec<Finding> = formats::check(kind, document)
        .into_iter()
        .filter(|f| findings.iter().all(|s| s.pointer != f.pointer))
        .collect();
    findings.extend(formats);
    findings
}

/// Semantic checks of one object that passed [`check_document`].
pub(crate) fn check_semantics(obj: &Object) -> Vec<Finding> {
    object::check(obj)
}

/// What a valid object holds that is accepted without the effect it asks
/// for: warnings, never problems.
pub(crate) fn advise(obj: &Object) -> Vec<Finding> {
    object::advise(obj)
}

/// Everything that can be checked about `batch` before it is applied over
/// `stored` (a node's store): each object alone, then the set as the store
/// would hold it afterwards, so a reference to an object stored earlier
/// resolves. The agent runs it on every write, whoever sends it.
pub fn check_batch<'a>(
    stored: impl IntoIterator<Item = &'a Object>,
    batch: &'a [Object],
) -> Vec<Problem> {
    let alone: Vec<Problem> = batch.iter().flat_map(validate_object).collect();
    if !alone.is_empty() {
        return alone;
    }
    let mut merged: std::collections::BTreeMap<ObjectKey, &Object> =
        stored.into_iter().map(|o| (o.key(), o)).collect();
    for object in batch {
        merged.insert(object.key(), object);
    }
    let merged: Vec<&Object> = merged.into_values().collect();
    check_set(&merged)
}

/// Everything that can be checked about one object on its own: schema,
/// formats, then semantics (each stage only if the previous one passed,
/// since later stages rely on the shapes earlier ones guarantee).
pub fn validate_object(obj: &Object) -> Vec<Problem> {
    let findings = match serde_json::to_value(obj) {
        Ok(document) => {
            let findings = check_document(obj.kind, &document);
            if findings.is_empty() {
                check_semantics(obj)
            } else {
                findings
            }
        }
        Err(e) => vec![Finding::value(
            "",
            format!("cannot be encoded as JSON: {e}"),
        )],
    };
    findings
        .into_iter()
        .map(|f| f.into_problem(obj.key()))
        .collect()
}
