//! Reading a keepalived.conf as keepalived's parser does before any keyword
//! is looked at: comments, conditional lines, parameters, includes, and
//! braces cut into lines of their own.
//!
//! - Comments start at `#` or `!` outside double quotes, anywhere on a line;
//!   `\#` and `\!` outside quotes are the characters themselves.
//! - `@ID line` is kept only when ID is the node's config id, `@^ID line`
//!   only when it is not. The config id is the node's name (keepalived's
//!   `--config-id`, which defaults to the host name).
//! - `$NAME=VALUE` defines a parameter (a trailing `\` continues the value
//!   on the next lines); `$NAME` (followed by a blank, `,`, `)` or the end)
//!   and `${NAME}` are replaced by its value, again and again while the
//!   result holds more. Undefined names stay as written, as in keepalived
//!   (braces included: outside quotes `${UNDEFINED}` is cut at them).
//!   `${_PWD}` is the current file's directory, `${_INSTANCE}` the config
//!   id, `${_HASH}` `#`, `${_BANG}` `!`.
//! - `include PATTERN` (and `includer`, `includem`, `includew`, `includeb`,
//!   `includea`) reads the files the glob matches, sorted, a relative
//!   pattern being relative to the directory of the file that includes it;
//!   csh braces (`{a,b}`) are expanded first.
//! - `{` and `}` outside double quotes end the line before them and form a
//!   line of their own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::words::is_blank;
use crate::finding::{Findings, Source};

/// One line as keyword handling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub at: Source,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Includes nested deeper than this are a loop.
const MAX_INCLUDE_DEPTH: usize = 32;
/// Substitutions of one line beyond this are a parameter defined by itself.
const MAX_SUBSTITUTIONS: usize = 1_000;

/// The lines of `path` and everything it includes, for the node whose
/// config id is `config_id`.
pub fn read(path: &Path, config_id: &str, findings: &mut Findings) -> Result<Vec<Line>, ReadError> {
    let mut reader = Reader {
        config_id: config_id.to_string(),
        definitions: HashMap::new(),
        lines: Vec::new(),
        findings,
        stack: Vec::new(),
    };
    reader.file(path)?;
    Ok(reader.lines)
}

struct Reader<'a> {
    config_id: String,
    definitions: HashMap<String, String>,
    lines: Vec<Line>,
    findings: &'a mut Findings,
    /// The files being read, outermost first.
    stack: Vec<PathBuf>,
}

/// A `$NAME=...\` definition still collecting its lines.
struct Multiline {
    name: String,
    value: String,
}

impl Reader<'_> {
    fn file(&mut self, path: &Path) -> Result<(), ReadError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReadError {
            path: path.to_path_buf(),
            source,
        })?;
        self.stack.push(path.to_path_buf());
        let mut multiline: Option<Multiline> = None;
        for (index, raw) in text.lines().enumerate() {
            let at = Source::new(path, index + 1);
            let (line, continued) = decomment(raw.trim_end_matches('\r'));
            if let Some(mut definition) = multiline.take() {
                // A blank line ends a multi-line definition, as the line
                // without a trailing backslash does (which still belongs).
                if !line.is_empty() {
                    if !definition.value.is_empty() {
                        definition.value.push('\n');
                    }
                    definition.value.push_str(&line);
                }
                // A line of just `\` adds nothing and goes on.
                if continued {
                    multiline = Some(definition);
                } else {
                    self.definitions.insert(definition.name, definition.value);
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            multiline = self.logical_line(line, continued, &at, 0);
        }
        if let Some(definition) = multiline {
            self.definitions.insert(definition.name, definition.value);
        }
        self.stack.pop();
        Ok(())
    }

    /// Handles one decommented line; returns the definition it starts when
    /// that definition continues on the next lines.
    fn logical_line(
        &mut self,
        mut line: String,
        continued: bool,
        at: &Source,
        depth: usize,
    ) -> Option<Multiline> {
        if depth > MAX_SUBSTITUTIONS {
            self.findings.invalid(
                at,
                "$",
                "parameter substitution never ends (a parameter contains itself): the rest of the line is not read",
            );
            return None;
        }
        if let Some(rest) = line.strip_prefix('@') {
            let (negated, rest) = match rest.strip_prefix('^') {
                Some(rest) => (true, rest),
                None => (false, rest),
            };
            // Without anything after the id, keepalived drops the line.
            let end = rest.find(is_blank)?;
            if (rest[..end] == self.config_id) == negated {
                return None;
            }
            line = rest[end..].trim_start_matches(is_blank).to_string();
        }
        if let Some((name, value)) = definition(&line) {
            if continued {
                return Some(Multiline {
                    name,
                    value: value.to_string(),
                });
            }
            self.definitions.insert(name, value.to_string());
            return None;
        }
        if line.starts_with("~SEQ") || line.starts_with("~LST") {
            self.findings.unmapped(
                at,
                &line[..4],
                "sequence and list blocks are not expanded by the importer: write the lines they produce, or run keepalived with --dump-conf and import the dump",
            );
            return None;
        }
        if line.contains('$') {
            if let Some(expanded) = self.substitute(&line, at) {
                let mut lines = expanded.into_iter();
                let first = lines.next().unwrap_or_default();
                let (first, first_continued) = decomment(&first);
                let mut pending =
                    self.logical_line(first, continued || first_continued, at, depth + 1);
                for more in lines {
                    let (more, more_continued) = decomment(&more);
                    if !more.is_empty() {
                        pending = self.logical_line(more, more_continued, at, depth + 1);
                    }
                }
                return pending;
            }
        }
        if line.is_empty() {
            return None;
        }
        if continued {
            // Only definitions continue on the next line; anywhere else
            // keepalived keeps the backslash as part of the line.
            line.push('\\');
        }
        if let Some(pattern) = include_pattern(&line) {
            self.include(pattern, at);
            return None;
        }
        for piece in split_braces(&line) {
            self.lines.push(Line {
                text: piece,
                at: at.clone(),
            });
        }
        None
    }

    /// `line` with its parameters replaced, as one or more lines (a
    /// multi-line parameter brings its own), or `None` when nothing in it
    /// is a defined parameter.
    fn substitute(&mut self, line: &str, at: &Source) -> Option<Vec<String>> {
        let mut text = line.to_string();
        let mut extra_lines: Vec<String> = Vec::new();
        let mut replaced = false;
        let mut pos = 0;
        let mut count = 0;
        while let Some(offset) = text[pos..].find('$') {
            let start = pos + offset;
            let Some(reference) = reference_at(&text[start..]) else {
                pos = start + 1;
                continue;
            };
            let Some(value) = self.value_of(&reference, at) else {
                pos = start + 1;
                continue;
            };
            count += 1;
            if count > MAX_SUBSTITUTIONS {
                self.findings.invalid(
                    at,
                    format!("${}", reference.name),
                    "parameter substitution never ends (a parameter contains itself): the line is read as written",
                );
                return None;
            }
            replaced = true;
            let mut segments = value.split('\n');
            let first = segments.next().unwrap_or_default();
            text.replace_range(start..start + reference.length, first);
            // The replacement is read again from where it starts, so a
            // value holding parameters is expanded too.
            pos = start;
            extra_lines.extend(segments.map(str::to_string));
        }
        if !replaced {
            return None;
        }
        let mut lines = vec![text];
        lines.extend(extra_lines);
        Some(lines)
    }

    fn value_of(&mut self, reference: &Reference, at: &Source) -> Option<String> {
        if let Some(value) = self.definitions.get(&reference.name) {
            return Some(value.clone());
        }
        match reference.name.as_str() {
            "_PWD" => Some(self.current_dir().display().to_string()),
            "_INSTANCE" => Some(self.config_id.clone()),
            "_HASH" => Some("#".to_string()),
            "_BANG" => Some("!".to_string()),
            "_RANDOM" | "_ENV" => {
                self.findings.unmapped(
                    at,
                    format!("${{{}}}", reference.name),
                    "replaced on the node when keepalived starts, not here: it is left as written; write the value it should have",
                );
                None
            }
            _ => None,
        }
    }

    fn current_dir(&self) -> PathBuf {
        self.stack
            .last()
            .and_then(|file| file.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn include(&mut self, pattern: &str, at: &Source) {
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.findings.invalid(
                at,
                "include",
                format!("includes are nested more than {MAX_INCLUDE_DEPTH} deep (a file includes itself?): {pattern} is not read"),
            );
            return;
        }
        let dir = self.current_dir();
        let mut files = Vec::new();
        for expanded in expand_braces(pattern) {
            let absolute = if Path::new(&expanded).is_absolute() {
                PathBuf::from(&expanded)
            } else {
                dir.join(&expanded)
            };
            match glob::glob(&absolute.to_string_lossy()) {
                Ok(paths) => files.extend(paths.filter_map(Result::ok).filter(|p| p.is_file())),
                Err(e) => self.findings.invalid(
                    at,
                    "include",
                    format!("{pattern} is not a pattern glob(3) reads: {e}"),
                ),
            }
        }
        if files.is_empty() {
            self.findings.unmapped(
                at,
                "include",
                format!(
                    "no file matches {pattern} (relative to {}): keepalived skips it too, but whatever the node reads there is not imported; copy the included files beside the one you import",
                    dir.display()
                ),
            );
        }
        for file in files {
            if let Err(e) = self.file(&file) {
                self.findings.invalid(at, "include", e.to_string());
            }
        }
    }
}

/// A line without its comment and surrounding blanks, and whether it ended
/// in a backslash (continuing a multi-line definition; the backslash is
/// removed).
fn decomment(raw: &str) -> (String, bool) {
    let mut out = String::with_capacity(raw.len());
    let mut quoted = false;
    let mut chars = raw.trim_start_matches(is_blank).chars().peekable();
    let mut continued = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                out.push(c);
            }
            '\\' => match chars.next() {
                Some(next @ ('#' | '!')) if !quoted => out.push(next),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => continued = true,
            },
            '#' | '!' if !quoted => break,
            c => out.push(c),
        }
    }
    (out.trim_end_matches(is_blank).to_string(), continued)
}

/// `$NAME=VALUE`: the name and the value (leading blanks dropped).
fn definition(line: &str) -> Option<(String, &str)> {
    let rest = line.strip_prefix('$')?;
    let eq = rest.find('=')?;
    let name = &rest[..eq];
    if !is_name(name) {
        return None;
    }
    Some((
        name.to_string(),
        rest[eq + 1..].trim_start_matches(is_blank),
    ))
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A parameter reference at the start of a text starting with `$`.
struct Reference {
    name: String,
    /// How many bytes of the text it covers, `$` included.
    length: usize,
}

fn reference_at(text: &str) -> Option<Reference> {
    let after = &text[1..];
    if let Some(braced) = after.strip_prefix('{') {
        let end = braced.find('}')?;
        // `${_RANDOM 1 10}`: the name is the first word.
        let name = braced[..end].split(is_blank).next().unwrap_or_default();
        return is_name(name).then(|| Reference {
            name: name.to_string(),
            length: end + 3,
        });
    }
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    let name = &after[..end];
    let terminated = after[end..]
        .chars()
        .next()
        .is_none_or(|c| is_blank(c) || c == ',' || c == ')');
    (is_name(name) && terminated).then(|| Reference {
        name: name.to_string(),
        length: end + 1,
    })
}

/// The pattern of an `include` line (any of its variants), if it is one.
fn include_pattern(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("include")?;
    let rest = match rest.chars().next()? {
        c if is_blank(c) => rest,
        'r' | 'm' | 'w' | 'b' | 'a' if rest[1..].starts_with(is_blank) => &rest[1..],
        _ => return None,
    };
    Some(rest.trim_matches(is_blank))
}

/// csh brace expansion: `a{b,c{d,e}}f` is `abf acdf acef`.
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_string()];
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![pattern.to_string()];
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(commas);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let alternative = &pattern[pair[0] + 1..pair[1]];
        out.extend(expand_braces(&format!("{head}{alternative}{tail}")));
    }
    out
}

/// Cuts a line before every `{` and `}` outside double quotes; each brace
/// is a line of its own.
fn split_braces(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line.trim_matches(is_blank);
    while !rest.is_empty() {
        if rest.starts_with(['{', '}']) {
            out.push(rest[..1].to_string());
            rest = rest[1..].trim_start_matches(is_blank);
            continue;
        }
        let mut quoted = false;
        let brace = rest.char_indices().find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            !quoted && (c == '{' || c == '}')
        });
        match brace {
            Some((at, _)) => {
                out.push(rest[..at].trim_end_matches(is_blank).to_string());
                rest = &rest[at..];
            }
            None => {
                out.push(rest.to_string());
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str, config_id: &str) -> (Vec<String>, Findings) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepalived.conf");
        std::fs::write(&path, text).unwrap();
        let mut findings = Findings::default();
        let lines = read(&path, config_id, &mut findings).unwrap();
        (lines.into_iter().map(|l| l.text).collect(), findings)
    }

    #[test]
    fn comments_start_anywhere_outside_double_quotes() {
        let (lines, _) = read_str(
            "vrrp_instance VI_1 { # the web VIP\n  ! a whole comment line\n  notify \"/x.sh #1\" # trailing\n  auth_pass ab\\#cd\n}\n",
            "n1",
        );
        assert_eq!(
            lines,
            [
                "vrrp_instance VI_1",
                "{",
                "notify \"/x.sh #1\"",
                "auth_pass ab#cd",
                "}"
            ]
        );
    }

    #[test]
    fn braces_are_lines_of_their_own() {
        assert_eq!(
            split_braces("virtual_ipaddress {10.0.0.1/24 dev eth0} x"),
            ["virtual_ipaddress", "{", "10.0.0.1/24 dev eth0", "}", "x"]
        );
        assert_eq!(
            split_braces(r#"script "a {b}" {"#),
            [r#"script "a {b}""#, "{"]
        );
    }

    #[test]
    fn conditional_lines_follow_the_config_id() {
        let text = "@main router_id main_router\n@backup router_id backup_router\n@^main unicast_peer_x 1\n@alone\n";
        assert_eq!(read_str(text, "main").0, ["router_id main_router"]);
        assert_eq!(
            read_str(text, "backup").0,
            ["router_id backup_router", "unicast_peer_x 1"]
        );
    }

    #[test]
    fn parameters_substitute_recursively_at_use_time() {
        // keepalived.conf(5), "Parameter substitution".
        let text = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\nscript \"$UNSET stays ${UNDEFINED}\"\n";
        assert_eq!(
            read_str(text, "n1").0,
            [
                "10.2.0.100/32",
                "10.2.10.100/32",
                "script \"$UNSET stays ${UNDEFINED}\""
            ]
        );
    }

    #[test]
    fn conditional_definitions_and_multiline_parameters() {
        let text = "@main $PRIORITY=240\n@backup $PRIORITY=200\n$INSTANCE= \\\nvrrp_instance VI_${NUM} { \\\n  priority $PRIORITY \\\n}\n$NUM=0\n$INSTANCE\n$NUM=1\n$INSTANCE\n";
        assert_eq!(
            read_str(text, "backup").0,
            [
                "vrrp_instance VI_0",
                "{",
                "priority 200",
                "}",
                "vrrp_instance VI_1",
                "{",
                "priority 200",
                "}"
            ]
        );
    }

    #[test]
    fn a_parameter_made_of_itself_is_reported_not_looped() {
        let (lines, findings) = read_str("$A=x$A\nvalue $A\n", "n1");
        assert_eq!(lines, ["value $A"]);
        assert_eq!(findings.into_vec()[0].level, crate::Level::Invalid);
    }

    #[test]
    fn includes_are_relative_to_the_including_file_and_globbed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conf.d/sub")).unwrap();
        std::fs::write(
            dir.path().join("keepalived.conf"),
            "include conf.d/*.conf\nincluder conf.d/missing/*.conf\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conf.d/b.conf"),
            "b1\ninclude sub/{x,y}.conf\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/a.conf"), "a1 # first\n").unwrap();
        std::fs::write(dir.path().join("conf.d/sub/y.conf"), "y1\n").unwrap();
        std::fs::write(dir.path().join("conf.d/sub/x.conf"), "x1\n").unwrap();
        let mut findings = Findings::default();
        let lines = read(&dir.path().join("keepalived.conf"), "n1", &mut findings).unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a1", "b1", "x1", "y1"]);
        assert_eq!(
            lines[3].at,
            Source::new(dir.path().join("conf.d/sub/y.conf"), 1)
        );
        let findings = findings.into_vec();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].subject, "include");
        assert_eq!(findings[0].at.as_ref().unwrap().line, 2);
    }

    #[test]
    fn a_file_including_itself_stops_with_a_finding() {
        let (lines, findings) = read_str("x\ninclude keepalived.conf\n", "n1");
        assert_eq!(lines.len(), MAX_INCLUDE_DEPTH);
        assert!(findings
            .into_vec()
            .iter()
            .any(|f| f.message.contains("nested more than")));
    }

    #[test]
    fn predefined_parameters() {
        let (lines, findings) = read_str(
            "x \"${_HASH}${_BANG}\" ${_INSTANCE} ${_HASH} gone\ny \"${_ENV HOME}\"\n",
            "n7",
        );
        // As in keepalived, the line is decommented again after the
        // substitution: a `#` from ${_HASH} outside quotes starts a comment.
        assert_eq!(lines, ["x \"#!\" n7", "y \"${_ENV HOME}\""]);
        assert_eq!(findings.into_vec()[0].level, crate::Level::Unmapped);
    }
}
