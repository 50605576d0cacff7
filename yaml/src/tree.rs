//! Builds the tree of one stream from parser events, on an explicit stack.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::Scalar;
use saphyr_parser::{Event, Marker, ScalarStyle, Span, Tag};

use crate::merge::{merge, MergeSource};
use crate::{Entry, Node, Parsed, Position, Value, YamlError};
use crate::{MAX_ALIAS_NODES, MAX_DEPTH, MAX_ERRORS};

/// Receives the events of one run of the parser over part of a stream and
/// hands out each document as it ends.
pub(crate) struct Builder {
    /// Lines of the stream before the part being parsed.
    line_offset: usize,
    source: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    errors: Vec<YamlError>,
    /// Collections entered below [`MAX_DEPTH`]: read past, not built.
    skipping: usize,
    root: Option<Node>,
    document_at: Position,
}

/// What an anchor stands for, with what copying it costs.
struct Anchored {
    node: Node,
    height: usize,
    size: usize,
}

/// A collection being read.
struct Frame {
    at: Position,
    anchor: usize,
    /// Levels of collections below this one.
    height: usize,
    /// Nodes in it, itself included.
    size: usize,
    kind: Kind,
}

enum Kind {
    Seq(Vec<Node>),
    Map(MapFrame),
}

#[derive(Default)]
struct MapFrame {
    entries: Vec<Entry>,
    key: KeySlot,
    /// The value of `<<`: one per mapping, or it would be a duplicate key.
    merge: Option<MergeSource>,
    /// Where each key was first written, for duplicates.
    seen: HashMap<String, Position>,
}

#[derive(Default)]
enum KeySlot {
    /// The next node is a key.
    #[default]
    Awaiting,
    Key {
        text: String,
        at: Position,
        merge: bool,
    },
    /// The key was refused; its value is read and dropped.
    Refused,
}

/// A node just read, with what a parent needs to know of it.
struct Finished {
    node: Node,
    height: usize,
    size: usize,
    anchor: usize,
}

impl Builder {
    pub(crate) fn new(line_offset: usize, source: usize) -> Self {
        Builder {
            line_offset,
            source,
            stack: Vec::new(),
            anchors: HashMap::new(),
            errors: Vec::new(),
            skipping: 0,
            root: None,
            document_at: Position {
                line: line_offset + 1,
                column: 1,
                source,
            },
        }
    }

    pub(crate) fn position(&self, marker: Marker) -> Position {
        // saphyr's lines are 1-based already, its columns 0-based.
        Position {
            line: marker.line() + self.line_offset,
            column: marker.col() + 1,
            source: self.source,
        }
    }

    /// The line where the document being read began.
    pub(crate) fn document_line(&self) -> usize {
        self.document_at.line
    }

    /// Problems found so far in the document being read.
    pub(crate) fn take_errors(&mut self) -> Vec<YamlError> {
        std::mem::take(&mut self.errors)
    }

    /// Takes one event; returns a document when one ends. `budget` is what
    /// aliases may still add to the stream.
    pub(crate) fn event(
        &mut self,
        event: Event<'_>,
        span: Span,
        budget: &mut usize,
    ) -> Option<Parsed> {
        let at = self.position(span.start);
        match event {
            Event::DocumentStart(_) => {
                self.document_at = at;
                self.anchors.clear();
            }
            Event::DocumentEnd => return Some(self.end_document()),
            Event::SequenceStart(anchor, _) => self.open(at, anchor, Kind::Seq(Vec::new())),
            Event::MappingStart(anchor, _) => self.open(at, anchor, Kind::Map(MapFrame::default())),
            Event::SequenceEnd | Event::MappingEnd => self.close(at),
            Event::Scalar(text, style, anchor, tag) => self.scalar(at, text, style, anchor, tag),
            Event::Alias(id) => self.alias(at, id, budget),
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        None
    }

    fn end_document(&mut self) -> Parsed {
        let root = self.root.take().unwrap_or(Node {
            at: self.document_at,
            value: Value::Null,
        });
        self.anchors.clear();
        let errors = self.take_errors();
        if errors.is_empty() {
            Ok(root)
        } else {
            Err(errors)
        }
    }

    fn error(&mut self, at: Position, message: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(YamlError {
                at,
                message: message.into(),
            });
        } else if self.errors.len() == MAX_ERRORS {
            self.errors.push(YamlError {
                at,
                message: format!("more than {MAX_ERRORS} problems: fix these first"),
            });
        }
    }

    fn open(&mut self, at: Position, anchor: usize, kind: Kind) {
        if self.skipping > 0 {
            self.skipping += 1;
        } else if self.stack.len() >= MAX_DEPTH {
            self.error(
                at,
                format!("collections nested more than {MAX_DEPTH} levels deep: flatten this value"),
            );
            self.skipping = 1;
        } else {
            self.stack.push(Frame {
                at,
                anchor,
                height: 0,
                size: 1,
                kind,
            });
        }
    }

    fn close(&mut self, at: Position) {
        if self.skipping > 0 {
            self.skipping -= 1;
            if self.skipping == 0 {
                // The refused subtree still fills its place, so the
                // mapping around it keeps its keys and values paired.
                self.finish(null(at));
            }
            return;
        }
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let value = match frame.kind {
            Kind::Seq(items) => Value::Seq(items),
            Kind::Map(map) => {
                let entries = match map.merge {
                    Some(source) => merge(map.entries, source, &mut |at, message| {
                        self.error(at, message)
                    }),
                    None => map.entries,
                };
                Value::Map(entries)
            }
        };
        self.finish(Finished {
            node: Node {
                at: frame.at,
                value,
            },
            height: frame.height + 1,
            size: frame.size,
            anchor: frame.anchor,
        });
    }

    fn scalar(
        &mut self,
        at: Position,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<Cow<'_, Tag>>,
    ) {
        if self.skipping > 0 {
            return;
        }
        if self.awaiting_key() {
            // `<<` is a merge key only when written plain, as in YAML 1.1.
            let merge = style == ScalarStyle::Plain && text == "<<";
            if anchor > 0 {
                self.remember(
                    anchor,
                    Node {
                        at,
                        value: Value::String(text.to_string()),
                    },
                    0,
                    1,
                );
            }
            self.set_key(text.into_owned(), at, merge);
            return;
        }
        let octal = (style == ScalarStyle::Plain && tag.is_none())
            .then(|| leading_zero_octal(&text))
            .flatten();
        let resolved = match octal {
            Some(number) => Some(Scalar::Integer(number)),
            None => Scalar::parse_from_cow_and_metadata(text, style, tag.as_ref()),
        };
        let value = match resolved {
            Some(scalar) => scalar_value(scalar),
            None => {
                self.error(
                    at,
                    "value does not match its YAML tag (e.g. `!!int abc`): fix the value or drop the tag",
                );
                Value::Null
            }
        };
        self.finish(Finished {
            node: Node { at, value },
            height: 0,
            size: 1,
            anchor,
        });
    }

    fn alias(&mut self, at: Position, id: usize, budget: &mut usize) {
        if self.skipping > 0 {
            return;
        }
        // An anchor inside a subtree refused for its depth was never kept;
        // that subtree's error already stands for it.
        let Some(anchored) = self.anchors.get(&id) else {
            return self.finish(null(at));
        };
        let (height, size) = (anchored.height, anchored.size);
        if self.awaiting_key() {
            match key_text(&anchored.node.value) {
                Some(text) => self.set_key(text, at, false),
                None => self.refuse_key(at),
            }
            return;
        }
        if self.stack.len() + height > MAX_DEPTH {
            self.error(
                at,
                format!("this alias nests collections more than {MAX_DEPTH} levels deep"),
            );
            return self.finish(null(at));
        }
        if size > *budget {
            self.error(
                at,
                format!("aliases expand to more than {MAX_ALIAS_NODES} nodes (a \"billion laughs\" document?): write the values out or reuse fewer"),
            );
            return self.finish(null(at));
        }
        *budget -= size;
        let mut node = anchored.node.clone();
        node.at = at;
        self.finish(Finished {
            node,
            height,
            size,
            anchor: 0,
        });
    }

    fn awaiting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                kind: Kind::Map(MapFrame {
                    key: KeySlot::Awaiting,
                    ..
                }),
                ..
            })
        )
    }

    fn map_frame(&mut self) -> Option<&mut MapFrame> {
        match self.stack.last_mut() {
            Some(Frame {
                kind: Kind::Map(map),
                ..
            }) => Some(map),
            _ => None,
        }
    }

    fn set_key(&mut self, text: String, at: Position, merge: bool) {
        if let Some(map) = self.map_frame() {
            map.key = KeySlot::Key { text, at, merge };
        }
    }

    fn refuse_key(&mut self, at: Position) {
        self.error(
            at,
            "mapping keys must be plain strings: quote the key or restructure the mapping",
        );
        if let Some(map) = self.map_frame() {
            map.key = KeySlot::Refused;
        }
    }

    fn remember(&mut self, anchor: usize, node: Node, height: usize, size: usize) {
        self.anchors.insert(anchor, Anchored { node, height, size });
    }

    /// Places a finished node in its parent, or as the document's root.
    fn finish(&mut self, finished: Finished) {
        let Finished {
            node,
            height,
            size,
            anchor,
        } = finished;
        if anchor > 0 {
            self.remember(anchor, node.clone(), height, size);
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        parent.height = parent.height.max(height);
        parent.size += size;
        let duplicate = match &mut parent.kind {
            Kind::Seq(items) => {
                items.push(node);
                None
            }
            Kind::Map(map) => match std::mem::take(&mut map.key) {
                // A collection where a key goes.
                KeySlot::Awaiting => Some(Err(node.at)),
                KeySlot::Refused => None,
                KeySlot::Key { text, at, merge } => {
                    if let Some(first) = map.seen.get(&text) {
                        Some(Ok((text, at, *first)))
                    } else {
                        map.seen.insert(text.clone(), at);
                        if merge {
                            map.merge = Some(MergeSource {
                                index: map.entries.len(),
                                node,
                            });
                        } else {
                            map.entries.push(Entry {
                                key: text,
                                key_at: at,
                                value: node,
                            });
                        }
                        None
                    }
                }
            },
        };
        match duplicate {
            None => {}
            Some(Err(at)) => self.refuse_key(at),
            Some(Ok((key, at, first))) => self.error(
                at,
                format!(
                    "key `{key}` appears twice in this mapping (first on line {}): keep one",
                    first.line
                ),
            ),
        }
    }
}

fn null(at: Position) -> Finished {
    Finished {
        node: Node {
            at,
            value: Value::Null,
        },
        height: 0,
        size: 1,
        anchor: 0,
    }
}

/// `0440` is octal (288) in YAML 1.1 and for go-yaml, which Compose and
/// Kubernetes read files with: file modes are written that way
/// (`mode: 0440`). The 1.2 core schema would read 440.
fn leading_zero_octal(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = unsigned.strip_prefix('0')?;
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, 8).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

fn scalar_value(scalar: Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(b),
        Scalar::Integer(i) => Value::Int(i),
        Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
        Scalar::String(s) => Value::String(s.into_owned()),
    }
}

/// The text of a scalar used as a key through an alias.
fn key_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        Value::Seq(_) | Value::Map(_) => return None,
    })
}
