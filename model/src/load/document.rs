//! One YAML document to one [`Object`]: the envelope, the schema and format
//! checks, stripping what the store sets, and per-object semantics.

use std::path::Path;

use serde_json::Value;

use crate::validate::{check_document, check_semantics, Finding};
use crate::{Kind, Object, ObjectKey, API_VERSION, SOURCE_FILE_ANNOTATION};

/// What became of one document.
pub struct Outcome {
    /// Known when the document names a valid kind and a string name.
    pub key: Option<ObjectKey>,
    /// Present when the document passed schema and format checks.
    pub object: Option<Object>,
    pub findings: Vec<Finding>,
}

/// Fields the store sets: accepted so that `get -o yaml` output re-applies,
/// and dropped because the store owns them.
const STORE_METADATA: [&str; 5] = [
    "uid",
    "generation",
    "resourceVersion",
    "creationTimestamp",
    "manager",
];

pub fn interpret(value: &Value, absolute_file: &Path) -> Outcome {
    let Value::Object(fields) = value else {
        return rejected(Finding::value(
            "",
            format!(
                "this document is {}, not an object: write a mapping with apiVersion, kind, metadata and spec",
                shape(value)
            ),
        ));
    };
    let kind = match kind(fields.get("kind")) {
        Ok(kind) => kind,
        Err(finding) => {
            // No schema applies without a kind; check what the envelope can tell.
            let mut findings = vec![finding];
            findings.extend(api_version(fields.get("apiVersion")));
            return Outcome {
                key: None,
                object: None,
                findings,
            };
        }
    };
    let key = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(|name| ObjectKey {
            kind,
            name: name.to_string(),
        });
    let findings = check_document(kind, value);
    if !findings.is_empty() {
        return Outcome {
            key,
            object: None,
            findings,
        };
    }
    match build(value, absolute_file) {
        Ok(object) => Outcome {
            key,
            findings: check_semantics(&object),
            object: Some(object),
        },
        Err(e) => Outcome {
            key,
            object: None,
            findings: vec![Finding::value(
                "",
                format!("the schema accepted this object but it cannot be decoded ({e}): please report this bug"),
            )],
        },
    }
}

fn rejected(finding: Finding) -> Outcome {
    Outcome {
        key: None,
        object: None,
        findings: vec![finding],
    }
}

fn kind(written: Option<&Value>) -> Result<Kind, Finding> {
    let Some(written) = written else {
        return Err(Finding::value(
            "",
            "missing required field kind: add kind: Cluster, VirtualIP, Service or Replication",
        ));
    };
    let text = written.as_str().unwrap_or_default();
    if let Some(kind) = Kind::ALL.into_iter().find(|k| k.as_str() == text) {
        return Ok(kind);
    }
    // The command line accepts `vip` or `virtualip`; manifests take the exact kind.
    let hint = match text.parse::<Kind>() {
        Ok(kind) => format!("write it as {kind}"),
        Err(_) => "use Cluster, VirtualIP, Service or Replication".to_string(),
    };
    Err(Finding::value(
        "/kind",
        format!("{written} is not a hareconcile kind: {hint}"),
    ))
}

fn api_version(written: Option<&Value>) -> Option<Finding> {
    match written {
        None => Some(Finding::value(
            "",
            format!("missing required field apiVersion: add apiVersion: {API_VERSION}"),
        )),
        Some(Value::String(v)) if v == API_VERSION => None,
        Some(other) => Some(Finding::value(
            "/apiVersion",
            format!("{other} is not supported: use {API_VERSION}"),
        )),
    }
}

fn build(value: &Value, absolute_file: &Path) -> Result<Object, serde_json::Error> {
    let mut value = value.clone();
    if let Some(fields) = value.as_object_mut() {
        fields.remove("status");
    }
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in STORE_METADATA {
            metadata.remove(field);
        }
    }
    let mut object: Object = serde_json::from_value(value)?;
    object.metadata.annotations.insert(
        SOURCE_FILE_ANNOTATION.to_string(),
        absolute_file.display().to_string(),
    );
    Ok(object)
}

fn shape(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "empty",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> Value {
        json!({"apiVersion": API_VERSION, "kind": "Cluster",
               "metadata": {"name": "home", "uid": "u", "generation": 4, "resourceVersion": "9",
                            "creationTimestamp": "2026-01-01T00:00:00Z", "manager": "gitops"},
               "spec": {"nodes": [{"name": "n1", "address": "10.77.0.1"}]},
               "status": {"observedGeneration": 4}})
    }

    #[test]
    fn strips_store_fields_and_records_the_source_file() {
        let outcome = interpret(&cluster(), Path::new("/m/cluster.yaml"));
        assert!(outcome.findings.is_empty());
        let object = outcome.object.unwrap();
        assert_eq!(object.metadata.uid, None);
        assert_eq!(object.metadata.generation, 0);
        assert_eq!(object.metadata.manager, None);
        assert!(object.status.is_empty());
        assert_eq!(
            object.metadata.annotations[SOURCE_FILE_ANNOTATION],
            "/m/cluster.yaml"
        );
    }

    #[test]
    fn unknown_kinds_get_a_hint_and_the_envelope_is_still_checked() {
        let mut doc = cluster();
        doc["kind"] = json!("virtualip");
        doc["apiVersion"] = json!("v1");
        let outcome = interpret(&doc, Path::new("/x"));
        let messages: Vec<_> = outcome
            .findings
            .iter()
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(
            messages,
            [
                "kind: \"virtualip\" is not a hareconcile kind: write it as VirtualIP",
                "apiVersion: \"v1\" is not supported: use hareconcile.io/v1alpha1",
            ]
        );
        assert!(outcome.key.is_none());
    }

    #[test]
    fn documents_must_be_mappings() {
        let outcome = interpret(&json!(["a"]), Path::new("/x"));
        assert_eq!(
            outcome.findings[0].message,
            "this document is a list, not an object: write a mapping with apiVersion, kind, metadata and spec"
        );
    }
}
