//! YAML text to a small tree that remembers where each node was written,
//! so every decoding error can name `file:line:col`.

use saphyr::{LoadableYamlNode, MarkedYaml, Marker, Scalar, YamlData};

/// A 1-based line and column in a compose file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Position {
    fn from(m: Marker) -> Self {
        // saphyr lines are 1-based already, columns 0-based.
        Position {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub at: Position,
    pub value: Value,
}

/// One mapping entry; keys are plain strings in compose files.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_at: Position,
    pub value: Node,
}

/// A problem in the YAML itself, before any compose meaning applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: Position,
    pub message: String,
}

/// Parses the first document of `text`; an empty text is an empty mapping's
/// absence (`Null`).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let documents = MarkedYaml::load_from_str(text).map_err(|e| SyntaxError {
        at: (*e.marker()).into(),
        message: format!("YAML syntax error: {}", e.info()),
    })?;
    match documents.first() {
        Some(root) => convert(root),
        None => Ok(Node {
            at: Position { line: 1, column: 1 },
            value: Value::Null,
        }),
    }
}

fn convert(node: &MarkedYaml<'_>) -> Result<Node, SyntaxError> {
    let at = Position::from(node.span.start);
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        YamlData::Representation(text, _, _) => Value::String(text.to_string()),
        YamlData::Sequence(items) => {
            Value::Seq(items.iter().map(convert).collect::<Result<_, _>>()?)
        }
        YamlData::Mapping(entries) => {
            let mut converted = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let key_at = Position::from(k.span.start);
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Representation(text, _, _) => text.to_string(),
                    _ => {
                        return Err(SyntaxError {
                            at: key_at,
                            message: "mapping keys must be plain strings".into(),
                        })
                    }
                };
                converted.push(Entry {
                    key,
                    key_at,
                    value: convert(v)?,
                });
            }
            Value::Map(converted)
        }
        YamlData::Tagged(_, inner) => return convert(inner),
        YamlData::Alias(_) => {
            return Err(SyntaxError {
                at,
                message: "YAML alias could not be resolved: write the value out instead".into(),
            })
        }
        YamlData::BadValue => {
            return Err(SyntaxError {
                at,
                message: "value does not match its YAML tag".into(),
            })
        }
    };
    Ok(Node { at, value })
}

fn scalar_value(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let root = parse("services:\n  web:\n    image: busybox\n").unwrap();
        let Value::Map(top) = &root.value else {
            panic!()
        };
        assert_eq!(top[0].key_at, Position { line: 1, column: 1 });
        let Value::Map(services) = &top[0].value.value else {
            panic!()
        };
        let Value::Map(web) = &services[0].value.value else {
            panic!()
        };
        assert_eq!(web[0].key, "image");
        assert_eq!(web[0].key_at, Position { line: 3, column: 5 });
        assert_eq!(
            web[0].value.at,
            Position {
                line: 3,
                column: 12
            }
        );
    }

    #[test]
    fn reports_syntax_errors_with_a_position() {
        let err = parse("services: [a,\n").unwrap_err();
        assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
        assert!(err.at.line >= 1);
    }
}
