//! One field of a kind, documented from its published schema, for
//! `hareconcile explain KIND.field.path` (as `kubectl explain` does).

use serde_json::Value;

use super::kind_schema;
use crate::validate::closest;
use crate::Kind;

/// What a person needs to write one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDoc {
    /// Dotted, from the object: `spec.garp.count` (empty for the object).
    pub path: String,
    /// `string`, `integer`, `boolean`, `object`, `[]T` for a list,
    /// `map[string]T` for a mapping with names of your choice.
    pub type_name: String,
    pub description: Option<String>,
    /// What the model fills in when the field is left out.
    pub default: Option<Value>,
    /// The values accepted, in words: a list, a range, a format.
    pub allowed: Option<String>,
    pub required: bool,
    /// The fields of an object (of each item, for a list of objects).
    pub fields: Vec<FieldDoc>,
}

/// A field and the kind it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    pub kind: Kind,
    pub field: FieldDoc,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{kind} has no field {path}: {hint}")]
    Unknown {
        kind: Kind,
        path: String,
        hint: String,
    },
    #[error("{kind} field {path} is a {type_name} and has no fields")]
    NoFields {
        kind: Kind,
        path: String,
        type_name: String,
    },
}

/// The field of `kind` at the dotted `path` (empty for the whole object),
/// with its fields one level down, or every level with `recursive`.
/// A list's items are stepped into (`spec.track.scripts.fall`).
pub fn explain(kind: Kind, path: &str, recursive: bool) -> Result<Explained, FieldError> {
    let schema = kind_schema(kind);
    let mut node = &schema;
    let mut required = true;
    let mut walked: Vec<&str> = Vec::new();
    for name in path.split('.').filter(|n| !n.is_empty()) {
        let parent = View::of(&schema, node).element(&schema);
        let known = parent.field_names();
        let Some(child) = parent.property(name) else {
            let at = walked.join(".");
            let hint = if known.is_empty() {
                return Err(FieldError::NoFields {
                    kind,
                    path: at,
                    type_name: type_name(&schema, node),
                });
            } else if let Some(close) = closest(name, &known) {
                format!("did you mean {}?", joined(&at, close))
            } else {
                format!("{} has {}", or_object(&at), known.join(", "))
            };
            return Err(FieldError::Unknown {
                kind,
                path: joined(&at, name),
                hint,
            });
        };
        required = parent.required(name);
        node = child;
        walked.push(name);
    }
    let depth = if recursive { usize::MAX } else { 1 };
    Ok(Explained {
        kind,
        field: document(&schema, &walked.join("."), node, required, depth),
    })
}

fn joined(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

fn or_object(at: &str) -> &str {
    if at.is_empty() {
        "the object"
    } else {
        at
    }
}

fn document(schema: &Value, path: &str, node: &Value, required: bool, depth: usize) -> FieldDoc {
    let view = View::of(schema, node);
    let element = view.element(schema);
    let fields = if depth == 0 {
        Vec::new()
    } else {
        element
            .field_names()
            .into_iter()
            .filter_map(|name| {
                let child = element.property(name)?;
                Some(document(
                    schema,
                    &joined(path, name),
                    child,
                    element.required(name),
                    depth - 1,
                ))
            })
            .collect()
    };
    FieldDoc {
        path: path.to_string(),
        type_name: type_name(schema, node),
        description: view.first_str("description").map(str::to_string),
        default: view.first("default").cloned(),
        allowed: allowed(&view),
        required,
        fields,
    }
}

/// A schema node with the definitions it refers to (`$ref`, `allOf`),
/// which together say what the field is.
struct View<'a> {
    parts: Vec<&'a Value>,
}

impl<'a> View<'a> {
    fn of(schema: &'a Value, node: &'a Value) -> View<'a> {
        let mut parts = Vec::new();
        collect(schema, node, &mut parts);
        View { parts }
    }

    /// The items' view for a list, else this one.
    fn element(&self, schema: &'a Value) -> View<'a> {
        match self.first("items") {
            Some(items) if self.first_str("type") == Some("array") => View::of(schema, items),
            _ => View {
                parts: self.parts.clone(),
            },
        }
    }

    fn first(&self, keyword: &str) -> Option<&'a Value> {
        self.parts.iter().find_map(|p| p.get(keyword))
    }

    fn first_str(&self, keyword: &str) -> Option<&'a str> {
        self.first(keyword).and_then(Value::as_str)
    }

    fn property(&self, name: &str) -> Option<&'a Value> {
        self.parts
            .iter()
            .find_map(|p| p.get("properties")?.get(name))
    }

    fn field_names(&self) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = Vec::new();
        for part in &self.parts {
            for name in part
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|p| p.keys())
            {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }

    fn required(&self, name: &str) -> bool {
        self.parts.iter().any(|p| {
            p.get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(name)))
        })
    }
}

fn collect<'a>(schema: &'a Value, node: &'a Value, parts: &mut Vec<&'a Value>) {
    parts.push(node);
    let target = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| schema.pointer(p));
    if let Some(target) = target {
        collect(schema, target, parts);
    }
    for member in node
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        collect(schema, member, parts);
    }
}

fn type_name(schema: &Value, node: &Value) -> String {
    let view = View::of(schema, node);
    match view.first("type") {
        Some(Value::String(t)) if t == "array" => match view.first("items") {
            Some(items) => format!("[]{}", type_name(schema, items)),
            None => "[]any".into(),
        },
        Some(Value::String(t)) if t == "object" => match view.first("additionalProperties") {
            Some(values @ Value::Object(_)) if view.first("properties").is_none() => {
                format!("map[string]{}", type_name(schema, values))
            }
            _ => "object".into(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        _ => {
            let alternatives = view.first("anyOf").or_else(|| view.first("oneOf"));
            match (alternatives, view.first("enum"), view.first("const")) {
                (Some(Value::Array(options)), _, _) => options
                    .iter()
                    .map(|o| type_name(schema, o))
                    .collect::<Vec<_>>()
                    .join("|"),
                (_, Some(Value::Array(values)), _) => json_type(values.first()),
                (_, _, constant) => json_type(constant),
            }
        }
    }
}

fn json_type(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(_)) => "string",
        Some(Value::Number(_)) => "integer",
        Some(Value::Bool(_)) => "boolean",
        _ => "any",
    }
    .into()
}

/// Enumerations, constants, ranges and formats, in words.
fn allowed(view: &View<'_>) -> Option<String> {
    if let Some(Value::Array(values)) = view.first("enum") {
        return Some(values.iter().map(plain).collect::<Vec<_>>().join(", "));
    }
    if let Some(constant) = view.first("const") {
        return Some(plain(constant));
    }
    let range = match (view.first("minimum"), view.first("maximum")) {
        (Some(min), Some(max)) => Some(format!("{min}-{max}")),
        (Some(min), None) => Some(format!("at least {min}")),
        (None, Some(max)) => Some(format!("at most {max}")),
        (None, None) => None,
    };
    // A format's description is on the definition a field refers to.
    let format = view
        .parts
        .iter()
        .skip(1)
        .find(|p| p.get("pattern").is_some())
        .and_then(|p| p.get("description"))
        .and_then(Value::as_str)
        .map(str::to_string);
    range.or(format)
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
