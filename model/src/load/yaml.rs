//! YAML text to JSON values, remembering where every node was written.
//!
//! The shared reader (`hareconcile-yaml`) bounds nesting, expands aliases
//! within a budget, refuses duplicate keys and resolves merge keys; it keeps
//! a position on every node, including mapping keys. Each converted document
//! comes with a map from JSON pointer to the 1-based line and column of the
//! value and, for mapping entries, of the key. Diagnostics use it to point
//! at exactly what the user wrote.

use std::collections::HashMap;

use hareconcile_yaml::{Node, Value as Yaml};
use serde_json::{Map, Number, Value};

use crate::validate::pointer;

pub use hareconcile_yaml::Position;

/// Where a node was written: its value, and its key when it is a mapping entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePosition {
    pub value: Position,
    pub key: Option<Position>,
}

/// Positions of every node of one document, by JSON pointer.
#[derive(Debug, Default, Clone)]
pub struct PositionMap(HashMap<String, NodePosition>);

impl PositionMap {
    /// The position of the value at `pointer`, or of its nearest written
    /// ancestor (a defaulted or missing field has no position of its own).
    pub fn value(&self, pointer: &str) -> Position {
        self.nearest(pointer).value
    }

    /// The position of the key at `pointer`, falling back to the value.
    pub fn key(&self, pointer: &str) -> Position {
        let node = self.nearest(pointer);
        node.key.unwrap_or(node.value)
    }

    fn nearest(&self, pointer: &str) -> NodePosition {
        let mut current = pointer;
        loop {
            if let Some(node) = self.0.get(current) {
                return *node;
            }
            match current.rfind('/') {
                Some(cut) => current = &current[..cut],
                // The root is always recorded; this only guards an empty map.
                None => {
                    return NodePosition {
                        value: Position::START,
                        key: None,
                    }
                }
            }
        }
    }
}

/// One YAML document converted to JSON.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    pub positions: PositionMap,
}

/// A problem found while reading YAML, before any schema applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub position: Position,
    pub message: String,
}

/// What became of one document: converted, or the problems that stopped it.
pub type Parsed = Result<Document, Vec<YamlError>>;

/// Parses every document of a YAML stream; a syntax error spoils only its
/// own document, the others are still converted and checked.
pub fn parse_stream(text: &str) -> Vec<Parsed> {
    hareconcile_yaml::parse_stream(text)
        .into_iter()
        .map(|document| match document {
            Ok(root) => convert_document(&root),
            Err(errors) => Err(errors
                .into_iter()
                .map(|e| YamlError {
                    position: e.at,
                    message: e.message,
                })
                .collect()),
        })
        .collect()
}

fn convert_document(root: &Node) -> Parsed {
    let mut converter = Converter::default();
    let value = converter.node(root, String::new(), None);
    if converter.errors.is_empty() {
        Ok(Document {
            value,
            positions: PositionMap(converter.positions),
        })
    } else {
        Err(converter.errors)
    }
}

/// Recursion is safe here: the reader bounds nesting.
#[derive(Default)]
struct Converter {
    positions: HashMap<String, NodePosition>,
    errors: Vec<YamlError>,
}

impl Converter {
    fn node(&mut self, node: &Node, at: String, key: Option<Position>) -> Value {
        self.positions.insert(
            at.clone(),
            NodePosition {
                value: node.at,
                key,
            },
        );
        match &node.value {
            Yaml::Null => Value::Null,
            Yaml::Bool(b) => Value::Bool(*b),
            Yaml::Int(i) => Value::Number((*i).into()),
            Yaml::Float(f) => match Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => {
                    self.errors.push(YamlError {
                        position: node.at,
                        message: "infinite or NaN numbers are not supported: write a finite number"
                            .to_string(),
                    });
                    Value::Null
                }
            },
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, format!("{at}/{i}"), None))
                    .collect(),
            ),
            Yaml::Map(entries) => {
                let mut map = Map::new();
                for entry in entries {
                    let child = format!("{at}/{}", pointer::escape(&entry.key));
                    let value = self.node(&entry.value, child, Some(entry.key_at));
                    map.insert(entry.key.clone(), value);
                }
                Value::Object(map)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_document(text: &str) -> Document {
        let mut docs = parse_stream(text);
        assert_eq!(docs.len(), 1);
        docs.remove(0).unwrap()
    }

    fn pos(line: usize, column: usize) -> Position {
        Position::new(line, column)
    }

    #[test]
    fn records_value_and_key_positions_by_pointer() {
        let doc = only_document(
            "kind: VirtualIP\nspec:\n  vrid: 51\n  addresses:\n    - 10.0.0.1/24\n    - fd00::1/64\n  flow: {a: 1, b: [x, y]}\n",
        );
        assert_eq!(doc.value["spec"]["addresses"][1], "fd00::1/64");
        let p = &doc.positions;
        assert_eq!(p.value("/kind"), pos(1, 7));
        assert_eq!(p.key("/kind"), pos(1, 1));
        assert_eq!(p.value("/spec/vrid"), pos(3, 9));
        assert_eq!(p.key("/spec/vrid"), pos(3, 3));
        assert_eq!(p.value("/spec/addresses/1"), pos(6, 7));
        assert_eq!(p.value("/spec/flow/b/1"), pos(7, 23));
        assert_eq!(p.key("/spec/flow/b"), pos(7, 16));
        // A missing field falls back to the mapping that lacks it.
        assert_eq!(p.value("/spec/interface"), p.value("/spec"));
    }

    #[test]
    fn splits_documents_and_keeps_absolute_lines() {
        let docs = parse_stream("a: 1\n---\nb: 2\n---\n");
        assert_eq!(docs.len(), 3);
        let second = docs[1].as_ref().unwrap();
        assert_eq!(second.positions.key("/b"), pos(3, 1));
        assert_eq!(docs[2].as_ref().unwrap().value, Value::Null);
    }

    #[test]
    fn scalars_follow_yaml_1_2_core() {
        let doc = only_document("a: on\nb: yes\nc: true\nd: 0x10\ne: 1.5\nf: ~\ng: '51'\n1: one\n");
        let v = &doc.value;
        assert_eq!(v["a"], "on");
        assert_eq!(v["b"], "yes");
        assert_eq!(v["c"], true);
        assert_eq!(v["d"], 16);
        assert_eq!(v["e"], 1.5);
        assert_eq!(v["f"], Value::Null);
        assert_eq!(v["g"], "51");
        assert_eq!(v["1"], "one");
    }

    #[test]
    fn escapes_keys_in_pointers() {
        let doc = only_document("annotations:\n  hareconcile.io/source-file: x\n");
        assert_eq!(
            doc.positions
                .value("/annotations/hareconcile.io~1source-file"),
            pos(2, 31)
        );
    }

    fn syntax_error(text: &str) -> YamlError {
        let mut docs = parse_stream(text);
        assert_eq!(docs.len(), 1, "{docs:?}");
        let mut errors = docs.remove(0).unwrap_err();
        assert_eq!(errors.len(), 1);
        errors.remove(0)
    }

    #[test]
    fn reports_syntax_errors_with_a_position() {
        let err = syntax_error("a: [1, 2\n");
        assert!(err.message.starts_with("YAML syntax error"), "{err:?}");
        let err = syntax_error("a:\n\tb: 1\n");
        assert!(err.message.contains("tabs"), "{err:?}");
        let err = syntax_error("a: 1\na: 2\n");
        assert_eq!(err.position, pos(2, 1));
    }

    #[test]
    fn refuses_complex_keys_and_non_finite_numbers() {
        let docs = parse_stream("? [a, b]\n: 1\n---\nc: .nan\nd: -.inf\n");
        let errors = docs[0].as_ref().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].position, pos(1, 3));
        let errors = docs[1].as_ref().unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].position, pos(4, 4));
        assert_eq!(errors[1].position, pos(5, 4));
    }
}
