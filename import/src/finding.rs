//! What an import could not carry over as written, and where it came from.
//!
//! Nothing is dropped silently: every keyword, option or value that does
//! not reach the manifests unchanged becomes a [`Finding`] naming the file
//! and line it came from and why.

use std::fmt;
use std::path::PathBuf;

/// A place in the imported input: a line of a file, or an argument of a
/// command line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    pub file: PathBuf,
    /// 1-based line number (for a command line: the argument's position).
    pub line: usize,
}

impl Source {
    pub fn new(file: impl Into<PathBuf>, line: usize) -> Self {
        Source {
            file: file.into(),
            line,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// How much a finding matters, from "the input was already wrong" to "for
/// your information".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The input is wrong: keepalived (or Vrrpd) rejects or ignores it, or
    /// it cannot work as meant.
    Invalid,
    /// Not carried over: hareconcile has no equivalent.
    Unmapped,
    /// Carried over with a different behaviour; the message says which.
    Changed,
    /// A value the input does not say, invented so the manifests validate:
    /// replace it before applying them.
    Placeholder,
    /// Carried over exactly, or derived from the input as explained.
    Note,
}

impl Level {
    /// Whether the manifests need a person's review before they are applied.
    pub fn needs_review(self) -> bool {
        self != Level::Note
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Invalid => "invalid",
            Level::Unmapped => "unmapped",
            Level::Changed => "changed",
            Level::Placeholder => "placeholder",
            Level::Note => "note",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the import could not carry over as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    /// Where it was written; `None` for what the input leaves out (a node
    /// derived from another node's file, a defaulted address).
    pub at: Option<Source>,
    /// The keyword, option or object it is about.
    pub subject: String,
    /// Why, and what to do about it.
    pub message: String,
}

impl Finding {
    pub fn new(
        level: Level,
        at: Option<&Source>,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            level,
            at: at.cloned(),
            subject: subject.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "{}: {}: {}", self.level, self.subject, self.message)
    }
}

/// Findings as they are collected, in input order.
#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn push(
        &mut self,
        level: Level,
        at: Option<&Source>,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Finding::new(level, at, subject, message));
    }

    pub fn invalid(&mut self, at: &Source, subject: impl Into<String>, message: impl Into<String>) {
        self.push(Level::Invalid, Some(at), subject, message);
    }

    pub fn unmapped(
        &mut self,
        at: &Source,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(Level::Unmapped, Some(at), subject, message);
    }

    pub fn changed(&mut self, at: &Source, subject: impl Into<String>, message: impl Into<String>) {
        self.push(Level::Changed, Some(at), subject, message);
    }

    pub fn note(
        &mut self,
        at: Option<&Source>,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(Level::Note, at, subject, message);
    }

    pub fn into_vec(self) -> Vec<Finding> {
        self.0
    }
}
