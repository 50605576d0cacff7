//! YAML text to a small tree that remembers where every node was written.
//!
//! Both of hareconcile's YAML readers, manifests (`hareconcile-model`) and
//! Compose files (`hareconcile-compose`), start here, so both hold the same
//! line against careless or hostile input:
//!
//! - **Nesting is bounded** ([`MAX_DEPTH`]). The tree is built on an
//!   explicit stack from saphyr's event parser, which is iterative too; a
//!   deeper input is a positioned error, never a stack overflow, here or in
//!   the recursive code that walks the tree afterwards.
//! - **Aliases are expanded within a budget** ([`MAX_ALIAS_NODES`]), so a
//!   "billion laughs" document is an error rather than an exhausted host.
//! - **A key written twice in one mapping is an error**, as in Compose.
//! - **Merge keys** (`<<: *defaults`, `<<: [*a, *b]`, YAML 1.1, which
//!   Compose honours) are resolved: keys written in the mapping itself win,
//!   then earlier sources over later ones.
//!
//! Scalars follow the YAML 1.2 core schema (`on` and `yes` stay strings,
//! `0x10` is 16) except that a plain `0440` is octal, as go-yaml reads it
//! for Compose and Kubernetes. Tags other than the core ones carry no
//! meaning and are dropped.

mod merge;
mod stream;
mod tree;

#[cfg(test)]
mod tests;

use std::fmt;

pub use stream::{parse_stream, parse_stream_as};

/// How many collections may enclose one another. Compose files and
/// manifests need about ten; serde_json stops at the same 128.
pub const MAX_DEPTH: usize = 128;

/// How many nodes alias expansion may add to one stream. Real files reuse a
/// few small anchors (`x-logging: &logging`), a few hundred nodes at most.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Past this many problems in one document, the rest are not listed.
pub const MAX_ERRORS: usize = 100;

/// A 1-based line and column, in characters, and which text they are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
    /// Which of the texts a caller read this is in: 0 unless it numbers
    /// them with [`parse_stream_as`] (a Compose project is read from
    /// several files, and a problem must name the right one).
    pub source: usize,
}

impl Position {
    pub const START: Position = Position::new(1, 1);

    /// A position in the first (or only) text.
    pub const fn new(line: usize, column: usize) -> Self {
        Position {
            line,
            column,
            source: 0,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A node's value. Mappings keep the order they were written in.
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

/// A value and where it was written. A node copied from an anchor by an
/// alias is positioned at the alias; what it contains keeps the positions
/// of the anchor's text, where a fix would go.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub at: Position,
    pub value: Value,
}

/// One mapping entry. Keys are scalars, kept as the text they hold
/// (`1: x` has the key "1"); a collection as a key is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_at: Position,
    pub value: Node,
}

/// A problem in the YAML itself, before any meaning applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub at: Position,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl std::error::Error for YamlError {}

/// One document of a stream: its root, or every problem found in it.
pub type Parsed = Result<Node, Vec<YamlError>>;
