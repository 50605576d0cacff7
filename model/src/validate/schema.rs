//! The JSON Schemas (one per kind, shipped in `schemas/`) and the
//! translation of their errors into messages that say what to do.
//!
//! Each error's keyword location is a JSON pointer into the schema
//! document, so the schema node that failed is at hand: messages take
//! ranges, known field names and hints (`description`) from it rather than
//! repeating them here.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value;

use super::{pointer, Finding};
use crate::Kind;

/// The JSON Schema (draft 2020-12) for one kind, envelope included.
pub fn schema_json(kind: Kind) -> &'static str {
    match kind {
        Kind::Cluster => include_str!("../../../schemas/cluster.schema.json"),
        Kind::VirtualIP => include_str!("../../../schemas/virtualip.schema.json"),
        Kind::Service => include_str!("../../../schemas/service.schema.json"),
        Kind::Replication => include_str!("../../../schemas/replication.schema.json"),
    }
}

/// A JSON Schema (draft 2020-12) compiled once, whose errors are explained
/// in the words manifests get: the kinds' schemas use it, and so can other
/// YAML documents users write (a chart's values).
pub struct Schema {
    document: Value,
    validator: Validator,
}

impl Schema {
    /// Compiles `document`; the error says why it is not a valid schema.
    pub fn new(document: Value) -> Result<Schema, String> {
        let validator = jsonschema::draft202012::options()
            .build(&document)
            .map_err(|e| e.to_string())?;
        Ok(Schema {
            document,
            validator,
        })
    }

    /// The schema as written.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every way `instance` breaks the schema, each at a JSON pointer with
    /// a message that says what to do.
    pub fn check(&self, instance: &Value) -> Vec<Finding> {
        let mut findings = Vec::new();
        for error in self.validator.iter_errors(instance) {
            explain(&self.document, &error, &mut findings);
        }
        findings
    }
}

/// Parsed schema documents and validators, built once per process.
fn compiled(kind: Kind) -> &'static Schema {
    static CACHE: [OnceLock<Schema>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let slot = match kind {
        Kind::Cluster => &CACHE[0],
        Kind::VirtualIP => &CACHE[1],
        Kind::Service => &CACHE[2],
        Kind::Replication => &CACHE[3],
    };
    slot.get_or_init(|| {
        // The schemas are compiled into the binary and covered by tests, so
        // failing here is a build defect, not an input error.
        let document: Value = serde_json::from_str(schema_json(kind))
            .unwrap_or_else(|e| panic!("schemas/{kind} is not JSON: {e}"));
        Schema::new(document)
            .unwrap_or_else(|e| panic!("schemas/{kind} is not a valid schema: {e}"))
    })
}

/// The parsed schema document for `kind`, for walks driven by the schema.
pub(crate) fn document(kind: Kind) -> &'static Value {
    &compiled(kind).document
}

/// Validates a whole object (envelope and spec) against its kind's schema.
pub(crate) fn check(kind: Kind, instance: &Value) -> Vec<Finding> {
    compiled(kind).check(instance)
}

fn explain(schema: &Value, error: &ValidationError<'_>, out: &mut Vec<Finding>) {
    let at = error.instance_path().as_str().to_string();
    let instance = error.instance().as_ref();
    // The keyword's location; its parent is the schema node that failed.
    let keyword = error.schema_path().as_str();
    let node = schema
        .pointer(&keyword[..keyword.rfind('/').unwrap_or(0)])
        .unwrap_or(&Value::Null);
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for field in unexpected {
                let field_pointer = pointer::join(&at, field);
                out.push(Finding::key(
                    &field_pointer,
                    unknown_field(schema, field, node),
                ));
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let property_schema = resolve(schema, declaring(schema, keyword, name));
            let hint = match (
                property_schema.get("const"),
                property_schema.get("description"),
            ) {
                (Some(Value::String(constant)), _) => format!("add {name}: {constant}"),
                (_, Some(Value::String(description))) => format!("add it ({description})"),
                _ => "add it".to_string(),
            };
            out.push(Finding::value(
                &at,
                format!("missing required field {name}: {hint}"),
            ));
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => with_article(&t.to_string()),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| with_article(&t.to_string()))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            // YAML reads `1`, `true` or `1.5` unquoted as numbers and booleans,
            // the usual surprise in argv lists and names.
            let quote = match (kind, instance) {
                (TypeKind::Single(JsonType::String), Value::Number(_) | Value::Bool(_)) => {
                    quoting_hint(node, instance)
                }
                _ => String::new(),
            };
            out.push(Finding::value(
                &at,
                format!("expected {expected}, found {}{quote}", describe(instance)),
            ));
        }
        ValidationErrorKind::Enum { options } => {
            let allowed = options
                .as_array()
                .map(|values| values.iter().map(plain).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            out.push(Finding::value(
                &at,
                format!(
                    "{} is not allowed: use one of {allowed}",
                    plain_quoted(instance)
                ),
            ));
        }
        ValidationErrorKind::Constant { expected_value } => {
            out.push(Finding::value(
                &at,
                format!(
                    "{} is not supported: use {}",
                    plain_quoted(instance),
                    plain(expected_value)
                ),
            ));
        }
        ValidationErrorKind::Minimum { .. } | ValidationErrorKind::Maximum { .. } => {
            let message = match (node.get("minimum"), node.get("maximum")) {
                (Some(min), Some(max)) => format!("{instance} is out of range: use {min}-{max}"),
                (Some(min), None) => format!("{instance} is too small: use at least {min}"),
                (None, Some(max)) => format!("{instance} is too large: use at most {max}"),
                (None, None) => error.to_string(),
            };
            out.push(Finding::value(&at, message));
        }
        ValidationErrorKind::Pattern { pattern } => {
            let hint = match node.get("description") {
                Some(Value::String(description)) => format!("use {description}"),
                _ => format!("it must match {pattern}"),
            };
            out.push(Finding::value(
                &at,
                format!("{} is not valid: {hint}", plain_quoted(instance)),
            ));
        }
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
            let hint = node
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("a value of the documented form");
            out.push(Finding::value(
                &at,
                format!("{} is not valid: use {hint}", describe(instance)),
            ));
        }
        ValidationErrorKind::MinItems { limit } => {
            out.push(Finding::value(
                &at,
                format!(
                    "the list needs at least {limit} item{}: add {}",
                    if *limit == 1 { "" } else { "s" },
                    if *limit == 1 { "one" } else { "more" }
                ),
            ));
        }
        ValidationErrorKind::UniqueItems => {
            out.push(Finding::value(
                &at,
                "an item is listed twice: list each item once".to_string(),
            ));
        }
        ValidationErrorKind::MaxLength { limit } => {
            out.push(Finding::value(
                &at,
                format!(
                    "{} is longer than {limit} characters: shorten it",
                    plain_quoted(instance)
                ),
            ));
        }
        ValidationErrorKind::MinLength { .. } => {
            out.push(Finding::value(&at, "is empty: write a value".to_string()));
        }
        _ => out.push(Finding::value(&at, error.to_string())),
    }
}

/// The schema of property `name` for a `required` keyword at `keyword`.
/// The keyword may sit in a conditional (`then`) below the object schema
/// that declares the property, so ancestors are searched too.
fn declaring<'a>(schema: &'a Value, keyword: &str, name: &str) -> &'a Value {
    let mut path = keyword;
    while let Some(cut) = path.rfind('/') {
        path = &path[..cut];
        if let Some(property) =
            schema.pointer(&format!("{path}/properties/{}", pointer::escape(name)))
        {
            return property;
        }
    }
    &Value::Null
}

/// Follows a local `$ref` (`#/$defs/...`), the only kind the schemas use.
fn resolve<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    node.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| schema.pointer(p))
        .unwrap_or(node)
}

/// Suggests where an unknown field belongs: one level down (`labels` at
/// the top belongs under `metadata`), or the closest known field, since
/// most unknown fields are typos.
fn unknown_field(schema: &Value, field: &str, node: &Value) -> String {
    let properties = node.get("properties").and_then(Value::as_object);
    let known: Vec<&str> = properties
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let home = properties.into_iter().flatten().find(|(_, child)| {
        resolve(schema, child)
            .get("properties")
            .is_some_and(|p| p.get(field).is_some())
    });
    if let Some((parent, _)) = home {
        return format!("unknown field here: move it under {parent}");
    }
    match closest(field, &known) {
        Some(k) => format!("unknown field: did you mean {k}?"),
        None if known.is_empty() => "unknown field: remove it".to_string(),
        None => format!(
            "unknown field: remove it or use one of {}",
            known.join(", ")
        ),
    }
}

/// The known name `typed` most likely meant: a typo (at most two edits)
/// or an abbreviation (`prio` for `priority`), ignoring case.
pub(crate) fn closest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let typed = typed.to_lowercase();
    known
        .iter()
        .map(|k| {
            let k_lower = k.to_lowercase();
            let abbreviation = typed.len() >= 3 && k_lower.starts_with(&typed);
            let distance = if abbreviation {
                0
            } else {
                edit_distance(&typed, &k_lower)
            };
            (distance, *k)
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn with_article(json_type: &str) -> String {
    match json_type {
        "integer" => "an integer".to_string(),
        "array" => "a list".to_string(),
        "object" => "a mapping".to_string(),
        "boolean" => "true or false".to_string(),
        "null" => "nothing".to_string(),
        other => format!("a {other}"),
    }
}

/// What the user wrote, in words, for type errors.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "an empty value".to_string(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

/// Strings without quotes (for lists of allowed values), other values as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// How to write `instance` as the string `node` wants: quoted as it is if
/// that is valid, else with a unit if that is (`interval: 2` is `"2s"`,
/// not `"2"`, which the duration pattern refuses), else as `node`
/// describes it.
fn quoting_hint(node: &Value, instance: &Value) -> String {
    let candidates = [instance.to_string(), format!("{instance}s")];
    match candidates
        .into_iter()
        .find(|c| jsonschema::is_valid(node, &Value::String(c.clone())))
    {
        Some(valid) => format!(": quote it, e.g. \"{valid}\""),
        None => match node.get("description").and_then(Value::as_str) {
            Some(description) => format!(": use {description}"),
            None => ": quote it".to_string(),
        },
    }
}

/// A scalar as the user wrote it: strings quoted, numbers bare.
fn plain_quoted(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) | Value::Object(_) => describe(value),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Anchor;
    use serde_json::json;

    fn messages(kind: Kind, instance: Value) -> Vec<(String, String, Anchor)> {
        check(kind, &instance)
            .into_iter()
            .map(|f| (f.pointer, f.message, f.anchor))
            .collect()
    }

    fn vip(spec: Value) -> Value {
        json!({"apiVersion": "hareconcile.io/v1alpha1", "kind": "VirtualIP",
               "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn every_schema_compiles_and_forbids_unknown_fields_everywhere() {
        fn walk(node: &Value, path: &str) {
            if let Some(map) = node.as_object() {
                if map.get("type") == Some(&json!("object")) && map.contains_key("properties") {
                    assert_eq!(
                        map.get("additionalProperties"),
                        Some(&json!(false)),
                        "{path} allows unknown fields"
                    );
                }
                for (k, v) in map {
                    walk(v, &format!("{path}/{k}"));
                }
            } else if let Some(items) = node.as_array() {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}/{i}"));
                }
            }
        }
        for kind in Kind::ALL {
            walk(document(kind), kind.as_str());
        }
    }

    #[test]
    fn every_pattern_has_a_description_to_explain_it() {
        fn walk(node: &Value, path: &str) {
            if let Some(map) = node.as_object() {
                if map.contains_key("pattern") {
                    assert!(map.contains_key("description"), "{path}");
                }
                for (k, v) in map {
                    walk(v, &format!("{path}/{k}"));
                }
            }
        }
        for kind in Kind::ALL {
            walk(document(kind), kind.as_str());
        }
    }

    #[test]
    fn a_valid_object_passes() {
        let found = messages(
            Kind::VirtualIP,
            vip(json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                       "addresses": ["10.77.0.100/24"], "advertInterval": "50ms"})),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    /// Script names are keepalived's (`chk_traefik`), not object names.
    #[test]
    fn script_names_take_keepalived_names_but_no_spaces() {
        let with_script = |name: &str| {
            vip(json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                       "addresses": ["10.77.0.100/24"],
                       "track": {"scripts": [{"name": name, "command": ["true"]}]}}))
        };
        for name in ["chk_traefik", "CHK.DNS-1", "check_traefik"] {
            let found = messages(Kind::VirtualIP, with_script(name));
            assert!(found.is_empty(), "{name}: {found:?}");
        }
        let found = messages(Kind::VirtualIP, with_script("chk web"));
        assert_eq!(
            found[0].1,
            "spec.track.scripts[0].name: \"chk web\" is not valid: use a script name without spaces, e.g. chk_traefik (no object name: keepalived's vrrp_script names carry over as they are)"
        );
    }

    #[test]
    fn explains_ranges_types_enums_and_patterns() {
        let found = messages(
            Kind::VirtualIP,
            vip(json!({"cluster": "Home", "interface": "eth0", "vrid": 300,
                       "addresses": "10.77.0.100/24", "advertInterval": "1 s",
                       "priorities": {"n1": 0}})),
        );
        let text: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        assert!(
            text.contains(&"spec.vrid: 300 is out of range: use 1-255"),
            "{text:?}"
        );
        assert!(
            text.contains(&"spec.priorities.n1: 0 is out of range: use 1-255"),
            "{text:?}"
        );
        assert!(
            text.contains(&"spec.addresses: expected a list, found the string \"10.77.0.100/24\""),
            "{text:?}"
        );
        assert!(text.contains(&"spec.advertInterval: \"1 s\" is not valid: use a duration such as 50ms, 1s, 5m or 1h30m"), "{text:?}");
        assert!(
            text.iter()
                .any(|t| t
                    .starts_with("spec.cluster: \"Home\" is not valid: use lower-case letters")),
            "{text:?}"
        );
    }

    #[test]
    fn unquoted_numbers_where_strings_belong_get_a_quoting_hint() {
        let found = messages(
            Kind::VirtualIP,
            vip(json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                       "addresses": ["10.77.0.100/24"],
                       "notify": {"master": ["sleep", 1]}})),
        );
        assert_eq!(
            found[0].1,
            "spec.notify.master[1]: expected a string, found the number 1: quote it, e.g. \"1\""
        );
    }

    #[test]
    fn an_unquoted_number_where_a_duration_belongs_gets_a_unit() {
        let found = messages(
            Kind::VirtualIP,
            vip(json!({"cluster": "home", "interface": "eth0", "vrid": 51,
                       "addresses": ["10.77.0.100/24"], "advertInterval": 2})),
        );
        assert_eq!(
            found[0].1,
            "spec.advertInterval: expected a string, found the number 2: quote it, e.g. \"2s\""
        );
    }

    #[test]
    fn unknown_fields_point_at_the_key_and_suggest_a_fix() {
        let found = messages(
            Kind::VirtualIP,
            vip(
                json!({"cluster": "home", "interface": "eth0", "vird": 51, "vrid": 51,
                       "addresses": ["10.77.0.100/24"]}),
            ),
        );
        assert_eq!(
            found,
            vec![(
                "/spec/vird".to_string(),
                "spec.vird: unknown field: did you mean vrid?".to_string(),
                Anchor::Key
            )]
        );
    }

    #[test]
    fn fields_one_level_too_high_are_sent_where_they_belong() {
        let found = messages(
            Kind::Cluster,
            json!({"apiVersion": "hareconcile.io/v1alpha1", "kind": "Cluster",
                   "metadata": {"name": "home"}, "labels": {"a": "b"},
                   "spec": {"nodes": [{"name": "n1", "address": "10.77.0.1"}]}}),
        );
        assert_eq!(
            found[0].1,
            "labels: unknown field here: move it under metadata"
        );
    }

    #[test]
    fn missing_fields_point_at_the_mapping_and_name_the_field() {
        let found = messages(
            Kind::Cluster,
            json!({"kind": "Cluster", "metadata": {"name": "home"}, "spec": {}}),
        );
        let text: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
        assert!(
            text.contains(
                &"missing required field apiVersion: add apiVersion: hareconcile.io/v1alpha1"
            ),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"spec: missing required field nodes: add it (the nodes of the cluster, each with its address and default VRRP priority)"
            ),
            "{text:?}"
        );
        assert!(found.iter().any(|f| f.0 == "/spec" && f.2 == Anchor::Value));
    }

    #[test]
    fn abbreviations_are_recognised() {
        let found = messages(
            Kind::Cluster,
            json!({"apiVersion": "hareconcile.io/v1alpha1", "kind": "Cluster",
                   "metadata": {"name": "home"},
                   "spec": {"nodes": [{"name": "n1", "address": "10.77.0.1", "prio": 1}]}}),
        );
        assert_eq!(
            found[0].1,
            "spec.nodes[0].prio: unknown field: did you mean priority?"
        );
    }

    #[test]
    fn conditional_requirements_still_describe_the_field() {
        let found = messages(
            Kind::Cluster,
            json!({"apiVersion": "hareconcile.io/v1alpha1", "kind": "Cluster",
                   "metadata": {"name": "home"},
                   "spec": {"nodes": [{"name": "n1", "address": "10.77.0.1"}],
                            "vrrp": {"version": 2, "auth": {"type": "pass"}}}}),
        );
        assert_eq!(
            found[0].1,
            "spec.vrrp.auth: missing required field passwordFile: add it (an absolute path, starting with /)"
        );
    }

    #[test]
    fn store_set_metadata_and_status_are_accepted() {
        let found = messages(
            Kind::VirtualIP,
            json!({"apiVersion": "hareconcile.io/v1alpha1", "kind": "VirtualIP",
                   "metadata": {"name": "web", "uid": "x", "generation": 3,
                                "resourceVersion": "17", "creationTimestamp": "2026-01-01T00:00:00Z",
                                "manager": "cli"},
                   "spec": {"cluster": "home", "interface": "eth0", "vrid": 51,
                            "addresses": ["10.77.0.100/24"]},
                   "status": {"conditions": []}}),
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("vird", "vrid"), 2);
        assert_eq!(edit_distance("addresses", "adresses"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
