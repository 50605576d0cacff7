//! The schemas as editors and people read them: `hareconcile schema KIND`,
//! `schema all` (every kind in one document, for files that mix kinds) and
//! `hareconcile explain`.
//!
//! They are the schemas the agent validates with (`schemas/`, where each
//! field's description is written once) plus the `default` of every field
//! the model fills in, taken from the serde defaults (`spec::filled_in`),
//! and declared as JSON Schema draft-07, the draft the YAML language server
//! and most validators implement fully. The sources use draft 2020-12;
//! the two keywords they use that draft-07 spells differently are
//! rewritten (`$ref` beside other keywords, `dependentRequired`).

mod field;

use serde_json::{json, Map, Value};

pub use field::{explain, Explained, FieldDoc, FieldError};

use crate::spec::filled_in;
use crate::validate::{pointer, schema_json};
use crate::{Kind, API_VERSION};

/// What `$schema` says in every published schema.
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// Where the combined schema says it lives (`$id`), as the per-kind ones do.
pub const ALL_ID: &str = "https://hareconcile.io/schemas/v1alpha1/hareconcile.schema.json";

/// One kind's schema, envelope included, with defaults, as draft-07.
pub fn kind_schema(kind: Kind) -> Value {
    let mut document = with_defaults(kind);
    to_draft_07(&mut document);
    document["$schema"] = json!(DRAFT_07);
    document
}

/// Every kind in one schema that picks the kind's schema by `kind`, so
/// that one modeline serves a file with documents of several kinds.
pub fn all_kinds() -> Value {
    let mut definitions = Map::new();
    let mut branches = Vec::new();
    for kind in Kind::ALL {
        let mut schema = kind_schema(kind);
        let object = schema.as_object_mut().expect("a schema is an object");
        object.remove("$schema");
        object.remove("$id");
        rebase_refs(&mut schema, &format!("#/definitions/{kind}"));
        definitions.insert(kind.to_string(), schema);
        branches.push(json!({
            "if": {"properties": {"kind": {"const": kind.as_str()}}, "required": ["kind"]},
            "then": {"$ref": format!("#/definitions/{kind}")},
        }));
    }
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    json!({
        "$schema": DRAFT_07,
        "$id": ALL_ID,
        "title": "hareconcile manifest",
        "description": "One hareconcile object: a Cluster, VirtualIP, Service or Replication, chosen by kind.",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {
            "apiVersion": {
                "const": API_VERSION,
                "description": "the API group and version of hareconcile objects",
            },
            "kind": {
                "enum": kinds,
                "description": "what the object declares: Cluster, VirtualIP, Service or Replication",
            },
        },
        "allOf": branches,
        "definitions": definitions,
    })
}

/// The kind's source schema with a `default` on each field the model
/// fills in.
fn with_defaults(kind: Kind) -> Value {
    let mut document: Value =
        serde_json::from_str(schema_json(kind)).expect("the kinds' schemas are JSON (tested)");
    for (place, value) in filled_in(kind) {
        let at = locate(&document, place)
            .unwrap_or_else(|| panic!("{kind}'s schema has no field at {place}"));
        // An object's place gets defaults on its fields, not on itself.
        annotate(&mut document, &at, &value, value.is_object());
    }
    document
}

/// The schema node for an instance place (`/spec/track/scripts/[]`), as a
/// pointer into `document`.
fn locate(document: &Value, place: &str) -> Option<String> {
    let mut at = String::new();
    for segment in place.split('/').skip(1) {
        at = through_ref(document, &at);
        at = if segment == "[]" {
            format!("{at}/items")
        } else {
            format!("{at}/properties/{}", pointer::escape(segment))
        };
        document.pointer(&at)?;
    }
    Some(at)
}

/// Where the node at `at` is defined: its `$ref`'s target, or itself.
fn through_ref(document: &Value, at: &str) -> String {
    match document.pointer(at).and_then(|node| node.get("$ref")) {
        Some(Value::String(target)) => target.trim_start_matches('#').to_string(),
        _ => at.to_string(),
    }
}

/// Sets `value` as the default of the node at `at` (unless `fields_only`),
/// and each field of an object value as the default of that field; a
/// default the source schema states stays.
fn annotate(document: &mut Value, at: &str, value: &Value, fields_only: bool) {
    if let Value::Object(fields) = value {
        let defined = through_ref(document, at);
        for (name, field_value) in fields {
            let child = format!("{defined}/properties/{}", pointer::escape(name));
            if document.pointer(&child).is_some() {
                annotate(document, &child, field_value, false);
            }
        }
    }
    if let (false, Some(Value::Object(node))) = (fields_only, document.pointer_mut(at)) {
        node.entry("default").or_insert_with(|| value.clone());
    }
}

/// Rewrites what draft 2020-12 spells differently from draft-07, in place:
/// draft-07 ignores every keyword beside a `$ref`, so a `$ref` with
/// siblings moves into an `allOf`; `dependentRequired` was `dependencies`.
fn to_draft_07(node: &mut Value) {
    match node {
        Value::Object(object) => {
            if object.len() > 1 {
                if let Some(target) = object.remove("$ref") {
                    let all_of = object.entry("allOf").or_insert_with(|| json!([]));
                    if let Value::Array(all_of) = all_of {
                        all_of.push(json!({"$ref": target}));
                    }
                }
            }
            if let Some(dependent) = object.remove("dependentRequired") {
                object.insert("dependencies".into(), dependent);
            }
            for (key, child) in object.iter_mut() {
                match key.as_str() {
                    // Values, not schemas.
                    "default" | "const" | "enum" | "examples" => {}
                    // Names of fields or definitions, each with a schema.
                    "properties" | "$defs" | "definitions" => child
                        .as_object_mut()
                        .into_iter()
                        .flatten()
                        .for_each(|(_, schema)| to_draft_07(schema)),
                    _ => to_draft_07(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_draft_07),
        _ => {}
    }
}

/// Points the document's local `$ref`s (`#/$defs/...`) at its new place.
fn rebase_refs(node: &mut Value, base: &str) {
    match node {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) if target.starts_with("#/") => {
                        *target = format!("{base}{}", &target[1..]);
                    }
                    (_, child) => rebase_refs(child, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rebase_refs(i, base)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
