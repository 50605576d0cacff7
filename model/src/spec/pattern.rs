//! rsync's filter patterns (`include`, `exclude` and `sqlite` of a
//! Replication), checked when a manifest is loaded and matched by the sync
//! controller the way rsync matches them, so a list means the same thing
//! to rsync and to hareconcile.
//!
//! The rules, from rsync(1) "PATTERN MATCHING RULES":
//! - a leading `/` anchors the pattern at the top of the replicated path;
//!   otherwise it matches the end of a path, at a `/` boundary;
//! - a trailing `/` matches directories only;
//! - a pattern with a `/` in it (besides a trailing one) or a `**` matches
//!   against the whole relative path, otherwise against the last component;
//! - `*` matches anything but `/`, `**` anything including `/`, `?` one
//!   character but `/`, `[...]` one character of a class (`[!...]` or
//!   `[^...]` negated), `\` quotes the next character;
//! - a trailing `dir/***` matches the directory and everything below it.

use std::fmt;

/// A pattern that passed [`Pattern::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    anchored: bool,
    dir_only: bool,
    /// Matched against the whole relative path, not its last component.
    whole_path: bool,
    /// The pattern body, without the leading and trailing `/` markers.
    body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("an empty pattern matches nothing: remove it")]
    Empty,
    #[error("a pattern cannot span lines: write one pattern per list item")]
    Newline,
    #[error(
        "{0:?} is rsync filter-rule syntax: write the bare pattern ({1:?}); the list it is in says whether it includes or excludes"
    )]
    RulePrefix(String, String),
    #[error("the character class opened by [ is never closed: add ] or write \\[ for a literal [")]
    UnclosedClass,
    #[error("the pattern ends with a lone \\: remove it or write \\\\ for a literal backslash")]
    TrailingEscape,
    #[error("\"/\" alone would match the top of the path itself: name what is below it, e.g. /*")]
    Root,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.contains(['\n', '\r', '\0']) {
            return Err(PatternError::Newline);
        }
        for prefix in ["+ ", "- ", "+,", "-,"] {
            if let Some(rest) = text.strip_prefix(prefix) {
                return Err(PatternError::RulePrefix(text.into(), rest.trim().into()));
            }
        }
        let anchored = text.starts_with('/');
        let dir_only = text.len() > 1 && text.ends_with('/');
        let unanchored = text.strip_prefix('/').unwrap_or(text);
        let body = match dir_only {
            true => unanchored.strip_suffix('/').unwrap_or(unanchored),
            false => unanchored,
        };
        if body.is_empty() {
            return Err(PatternError::Root);
        }
        check_syntax(body)?;
        Ok(Pattern {
            text: text.to_string(),
            anchored,
            dir_only,
            whole_path: body.contains('/') || body.contains("**"),
            body: body.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern matches `path` (relative to the top of the
    /// replicated path, `/`-separated, no leading `/`), a directory or not.
    pub fn matches(&self, path: &str, is_dir: bool) -> bool {
        if let Some(dir) = self.body.strip_suffix("/***") {
            // `dir/***`: the directory itself, or anything below it.
            let itself = Pattern {
                body: dir.to_string(),
                dir_only: true,
                whole_path: dir.contains('/') || dir.contains("**") || self.anchored,
                ..self.clone()
            };
            if itself.matches(path, is_dir) {
                return true;
            }
            let below = Pattern {
                body: format!("{dir}/**"),
                dir_only: false,
                whole_path: true,
                ..self.clone()
            };
            return below.matches(path, is_dir);
        }
        if self.dir_only && !is_dir {
            return false;
        }
        if self.anchored {
            return wildmatch(self.body.as_bytes(), path.as_bytes());
        }
        if !self.whole_path {
            let last = path.rsplit('/').next().unwrap_or(path);
            return wildmatch(self.body.as_bytes(), last.as_bytes());
        }
        // Unanchored with a slash: the end of the path, at a component
        // boundary.
        std::iter::once(0)
            .chain(path.match_indices('/').map(|(i, _)| i + 1))
            .any(|start| wildmatch(self.body.as_bytes(), &path.as_bytes()[start..]))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn check_syntax(body: &str) -> Result<(), PatternError> {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 == bytes.len() => return Err(PatternError::TrailingEscape),
            b'\\' => i += 2,
            b'[' => i = class_end(bytes, i).ok_or(PatternError::UnclosedClass)? + 1,
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index of the `]` closing the class that opens at `open`. As in
/// fnmatch, a `]` right after `[`, `[!` or `[^` is a member.
fn class_end(pattern: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if matches!(pattern.get(i), Some(b'!' | b'^')) {
        i += 1;
    }
    if pattern.get(i) == Some(&b']') {
        i += 1;
    }
    while i < pattern.len() {
        match pattern[i] {
            b']' => return Some(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Whether `class` (between the brackets) admits `c`.
fn class_admits(class: &[u8], c: u8) -> bool {
    let (negated, class) = match class.first() {
        Some(b'!' | b'^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut i = 0;
    let mut found = false;
    while i < class.len() {
        let low = if class[i] == b'\\' && i + 1 < class.len() {
            i += 1;
            class[i]
        } else {
            class[i]
        };
        if class.get(i + 1) == Some(&b'-') && i + 2 < class.len() {
            let high = class[i + 2];
            found |= (low..=high).contains(&c);
            i += 3;
        } else {
            found |= low == c;
            i += 1;
        }
    }
    found != negated
}

/// rsync's wildcard matching of a whole `text` (see the module docs).
fn wildmatch(pattern: &[u8], text: &[u8]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return text.is_empty();
    };
    match first {
        b'*' if rest.first() == Some(&b'*') => {
            let rest = &rest[1..];
            // `**/` also matches no directory at all, as in rsync.
            if let Some(after) = rest.strip_prefix(b"/") {
                if wildmatch(after, text) {
                    return true;
                }
            }
            (0..=text.len()).any(|skip| wildmatch(rest, &text[skip..]))
        }
        b'*' => {
            let limit = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
            (0..=limit).any(|skip| wildmatch(rest, &text[skip..]))
        }
        b'?' => matches!(text.first(), Some(&c) if c != b'/') && wildmatch(rest, &text[1..]),
        b'[' => {
            let Some(end) = class_end(pattern, 0) else {
                return false;
            };
            matches!(text.first(), Some(&c) if c != b'/' && class_admits(&pattern[1..end], c))
                && wildmatch(&pattern[end + 1..], &text[1..])
        }
        b'\\' if !rest.is_empty() => {
            text.first() == Some(&rest[0]) && wildmatch(&rest[1..], &text[1..])
        }
        literal => text.first() == Some(&literal) && wildmatch(rest, &text[1..]),
    }
}

/// An ordered rule list as rsync applies it: the first pattern that
/// matches decides, includes before excludes; a path no rule matches is
/// copied. An excluded directory hides everything below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    rules: Vec<(bool, Pattern)>,
}

impl Filter {
    /// Includes first, then excludes, as the manifest's lists are passed
    /// to rsync. Patterns must have passed [`Pattern::parse`].
    pub fn new(include: &[Pattern], exclude: &[Pattern]) -> Filter {
        let rules = include
            .iter()
            .map(|p| (true, p.clone()))
            .chain(exclude.iter().map(|p| (false, p.clone())))
            .collect();
        Filter { rules }
    }

    /// Whether `path` (relative, `/`-separated) is copied, given whether
    /// each of its components is a directory (every one but the last is).
    pub fn copies(&self, path: &str, is_dir: bool) -> bool {
        let mut prefix = String::new();
        let components: Vec<&str> = path.split('/').collect();
        for (i, component) in components.iter().enumerate() {
            if i > 0 {
                prefix.push('/');
            }
            prefix.push_str(component);
            let last = i + 1 == components.len();
            if !self.decides(&prefix, !last || is_dir) {
                return false;
            }
        }
        true
    }

    fn decides(&self, path: &str, is_dir: bool) -> bool {
        self.rules
            .iter()
            .find(|(_, p)| p.matches(path, is_dir))
            .is_none_or(|(include, _)| *include)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    #[test]
    fn last_component_patterns_match_anywhere() {
        assert!(p("*.db").matches("gravity.db", false));
        assert!(p("*.db").matches("etc/pihole/gravity.db", false));
        assert!(!p("*.db").matches("gravity.db-wal", false));
        assert!(p("cache").matches("a/b/cache", true));
        assert!(!p("cach?").matches("a/cache/x", false));
    }

    #[test]
    fn anchored_and_slashed_patterns_match_paths() {
        assert!(p("/database.sqlite").matches("database.sqlite", false));
        assert!(!p("/database.sqlite").matches("old/database.sqlite", false));
        assert!(p("pihole/*.db").matches("etc/pihole/gravity.db", false));
        assert!(!p("pihole/*.db").matches("etc/xpihole/gravity.db", false));
        assert!(!p("/etc/*.db").matches("etc/pihole/gravity.db", false));
        assert!(p("/etc/**.db").matches("etc/pihole/gravity.db", false));
        assert!(
            p("**/x").matches("x", false),
            "**/ also matches no directory"
        );
    }

    #[test]
    fn trailing_slash_means_directories_and_triple_star_their_contents() {
        assert!(p("logs/").matches("var/logs", true));
        assert!(!p("logs/").matches("var/logs", false));
        let tree = p("/certs/***");
        assert!(tree.matches("certs", true));
        assert!(tree.matches("certs/live/a.pem", false));
        assert!(!tree.matches("certsx", true));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(p("[ab]*.txt").matches("b1.txt", false));
        assert!(!p("[!ab]*.txt").matches("b1.txt", false));
        assert!(p("[0-9].log").matches("7.log", false));
        assert!(p("[]x]").matches("]", false));
        assert!(p("\\*").matches("*", false));
        assert!(!p("\\*").matches("a", false));
    }

    #[test]
    fn bad_patterns_say_what_to_write() {
        let error = |text| Pattern::parse(text).unwrap_err();
        assert_eq!(error(""), PatternError::Empty);
        assert_eq!(error("a\nb"), PatternError::Newline);
        assert_eq!(error("[abc"), PatternError::UnclosedClass);
        assert_eq!(error("abc\\"), PatternError::TrailingEscape);
        assert_eq!(error("/"), PatternError::Root);
        assert_eq!(
            error("- *.tmp").to_string(),
            "\"- *.tmp\" is rsync filter-rule syntax: write the bare pattern (\"*.tmp\"); the list it is in says whether it includes or excludes"
        );
    }

    #[test]
    fn the_first_matching_rule_decides_and_excluded_directories_hide_their_contents() {
        let filter = Filter::new(&[p("*.conf"), p("*/")], &[p("*")]);
        assert!(filter.copies("unbound/a.conf", false));
        assert!(!filter.copies("unbound/a.log", false));
        let filter = Filter::new(&[], &[p("/cache/"), p("*.tmp")]);
        assert!(!filter.copies("cache/keep.conf", false));
        assert!(!filter.copies("x.tmp", false));
        assert!(filter.copies("etc/x.conf", false));
        assert!(Filter::default().copies("anything", false));
    }
}
