//! YAML text to JSON values, remembering where every node was written.
//!
//! saphyr's `MarkedYaml` keeps a span on every node, including mapping keys,
//! so each converted document comes with a map from JSON pointer to the
//! 1-based line and column of the value and, for mapping entries, of the key.
//! Diagnostics use it to point at exactly what the user wrote.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Marker, Scalar, YamlData};
use serde_json::{Map, Number, Value};

use crate::validate::pointer;

/// A 1-based line and column in a manifest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
                        value: Position { line: 1, column: 1 },
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

/// Parses every document of a YAML stream. A syntax error stops saphyr for
/// the whole stream, so the stream is then parsed again one document at a
/// time: the error is reported for its own document only, and the others
/// are still converted and checked.
pub fn parse_stream(text: &str) -> Vec<Parsed> {
    match parse(text) {
        Ok(documents) => documents,
        Err(error) => {
            let starts = document_starts(text);
            if starts.len() < 2 {
                return vec![Err(vec![error])];
            }
            let mut documents = Vec::new();
            for (i, &start) in starts.iter().enumerate() {
                let end = starts.get(i + 1).copied().unwrap_or(text.len());
                // Blank lines in place of the earlier documents keep every
                // position absolute.
                let padding = "\n".repeat(text[..start].matches('\n').count());
                match parse(&format!("{padding}{}", &text[start..end])) {
                    Ok(parsed) => documents.extend(parsed),
                    Err(error) => documents.push(Err(vec![error])),
                }
            }
            documents
        }
    }
}

fn parse(text: &str) -> Result<Vec<Parsed>, YamlError> {
    let nodes = MarkedYaml::load_from_str(text).map_err(|e| YamlError {
        position: (*e.marker()).into(),
        message: syntax_message(e.info()),
    })?;
    Ok(nodes.iter().map(convert_document).collect())
}

/// Byte offsets where documents start: the text's start and every line
/// beginning with the `---` marker. YAML forbids such a line inside any
/// scalar, so the split is exact for everything but a broken stream's
/// own marker lines.
fn document_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let marker = line
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
        if marker && offset > 0 {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts
}

/// saphyr's messages are terse and sometimes about its internals; say what
/// to do for the common cases.
fn syntax_message(info: &str) -> String {
    if info.contains("tab") {
        format!("YAML syntax error: {info}: indent with spaces, not tabs")
    } else if info.contains("duplicated key") {
        "YAML syntax error: this key appears twice in the same mapping: keep one".to_string()
    } else {
        format!("YAML syntax error: {info}")
    }
}

fn convert_document(root: &MarkedYaml<'_>) -> Result<Document, Vec<YamlError>> {
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

#[derive(Default)]
struct Converter {
    positions: HashMap<String, NodePosition>,
    errors: Vec<YamlError>,
}

impl Converter {
    fn node(&mut self, node: &MarkedYaml<'_>, at: String, key: Option<Position>) -> Value {
        let position = Position::from(node.span.start);
        self.positions.insert(
            at.clone(),
            NodePosition {
                value: position,
                key,
            },
        );
        match &node.data {
            YamlData::Value(scalar) => self.scalar(scalar, position),
            YamlData::Representation(text, _, _) => Value::String(text.to_string()),
            YamlData::Sequence(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, format!("{at}/{i}"), None))
                    .collect(),
            ),
            YamlData::Mapping(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    let key_position = Position::from(k.span.start);
                    let Some(name) = self.key(k, key_position) else {
                        continue;
                    };
                    let child = format!("{at}/{}", pointer::escape(&name));
                    let value = self.node(v, child, Some(key_position));
                    map.insert(name, value);
                }
                Value::Object(map)
            }
            // Custom tags carry no meaning for hareconcile; the tagged value does.
            YamlData::Tagged(_, inner) => self.node(inner, at, key),
            YamlData::Alias(_) => self.fail(position, "YAML alias could not be resolved: write the value out instead"),
            YamlData::BadValue => self.fail(position, "value does not match its YAML tag (e.g. `!!int abc`): fix the value or drop the tag"),
        }
    }

    fn scalar(&mut self, scalar: &Scalar<'_>, position: Position) -> Value {
        match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Number((*i).into()),
            Scalar::FloatingPoint(f) => match Number::from_f64(f.into_inner()) {
                Some(n) => Value::Number(n),
                None => self.fail(
                    position,
                    "infinite or NaN numbers are not supported: write a finite number",
                ),
            },
            Scalar::String(s) => Value::String(s.to_string()),
        }
    }

    /// JSON keys are strings; plain scalars such as `1` or `true` used as
    /// keys are taken as written, anything else is refused.
    fn key(&mut self, key: &MarkedYaml<'_>, position: Position) -> Option<String> {
        let text = match &key.data {
            YamlData::Value(Scalar::String(s)) => s.to_string(),
            YamlData::Value(Scalar::Integer(i)) => i.to_string(),
            YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
            YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
            YamlData::Representation(text, _, _) => text.to_string(),
            YamlData::Tagged(_, inner) => return self.key(inner, position),
            _ => {
                self.fail(
                    position,
                    "mapping keys must be plain strings: quote the key or restructure the mapping",
                );
                return None;
            }
        };
        Some(text)
    }

    fn fail(&mut self, position: Position, message: &str) -> Value {
        self.errors.push(YamlError {
            position,
            message: message.to_string(),
        });
        Value::Null
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
        Position { line, column }
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
    fn a_syntax_error_spoils_only_its_own_document() {
        let docs = parse_stream("a: 1\n---\nb: [\n---\nc: 3\n--- {d: 4}\n");
        assert_eq!(docs.len(), 4, "{docs:?}");
        assert_eq!(docs[0].as_ref().unwrap().value["a"], 1);
        assert_eq!(docs[1].as_ref().unwrap_err()[0].position.line, 4);
        let third = docs[2].as_ref().unwrap();
        assert_eq!(third.positions.key("/c"), pos(5, 1));
        assert_eq!(docs[3].as_ref().unwrap().positions.value("/d"), pos(6, 9));
    }

    #[test]
    fn only_marker_lines_start_documents() {
        assert_eq!(
            document_starts("a: 1\n---\nb: '---'\n----\n--- x\n"),
            [0, 5, 23]
        );
    }

    #[test]
    fn refuses_complex_keys_and_non_finite_numbers() {
        let docs = parse_stream("? [a, b]\n: 1\nc: .nan\n");
        let errors = docs[0].as_ref().unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].position, pos(1, 3));
        assert_eq!(errors[1].position, pos(3, 4));
    }
}
