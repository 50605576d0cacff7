//! Errors as people read them: `file:line:col: Kind/name: message`.

use std::fmt;
use std::path::PathBuf;

use crate::ObjectKey;

/// One problem in the input, at a position in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no position (an unreadable file, an
    /// object that is only in the store).
    pub line: usize,
    pub column: usize,
    /// The object concerned, when its kind and name are known.
    pub object: Option<ObjectKey>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if let Some(key) = &self.object {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Diagnostic {
    /// The field the message is about (`spec.vrid`) and the rest of the
    /// message, for output that keeps them apart: problems in an object
    /// start with the field's path (`validate::pointer::at`), whose first
    /// step is one of the envelope's fields.
    pub fn field_and_message(&self) -> (Option<&str>, &str) {
        const ENVELOPE: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];
        let split = self.message.split_once(": ").filter(|(field, _)| {
            let first = field.split(['.', '[']).next().unwrap_or_default();
            ENVELOPE.contains(&first) && !field.contains(char::is_whitespace)
        });
        match split {
            Some((field, message)) => (Some(field), message),
            None => (None, &self.message),
        }
    }
}

/// Every problem found in one load, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kind;

    #[test]
    fn renders_file_position_object_and_message() {
        let mut d = Diagnostic {
            file: "manifests/web.yaml".into(),
            line: 7,
            column: 9,
            object: Some(ObjectKey {
                kind: Kind::VirtualIP,
                name: "web".into(),
            }),
            message: "spec.vrid: 300 is out of range: use 1-255".into(),
        };
        assert_eq!(
            d.to_string(),
            "manifests/web.yaml:7:9: VirtualIP/web: spec.vrid: 300 is out of range: use 1-255"
        );
        d.object = None;
        d.line = 0;
        assert_eq!(
            d.to_string(),
            "manifests/web.yaml: spec.vrid: 300 is out of range: use 1-255"
        );
        assert_eq!(
            d.field_and_message(),
            (Some("spec.vrid"), "300 is out of range: use 1-255")
        );
        let file_level = Diagnostic {
            message: "the file is not UTF-8 text: save it as UTF-8".into(),
            ..d.clone()
        };
        assert_eq!(file_level.field_and_message().0, None);
        let all = Diagnostics(vec![d.clone(), d]);
        assert_eq!(all.to_string().lines().count(), 2);
        // The CLI propagates it with `?` into its own error type.
        let boxed: Box<dyn std::error::Error> = Box::new(all);
        assert!(boxed.source().is_none());
    }
}
