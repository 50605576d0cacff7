//! `KEY=VALUE` files, the project's `.env` and a service's `env_file`, read
//! as Docker Compose reads them (compose-go's dotenv):
//!
//! - blank lines and lines starting with `#` are skipped; `export ` before
//!   a name is ignored; `KEY: value` works like `KEY=value`;
//! - names are letters, digits, `_`, `.`, `-`, `[` and `]`;
//! - an unquoted value runs to the end of the line, loses a ` #` comment
//!   and trailing blanks, and is interpolated;
//! - a value in single quotes is taken literally (`\'` is a quote), over
//!   several lines if need be;
//! - a value in double quotes may span lines, has its escapes expanded
//!   (`\n`, `\t`, `\\`, `\"`, `\$` for a literal `$`, `\0NNN` octal...)
//!   and is then interpolated;
//! - a name alone on its line takes its value from the environment, and is
//!   left out when the environment does not set it.
//!
//! Interpolation sees the environment first, then the names this file set
//! above the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::decode::{boolean, string, Decoded, Fields, Problem};
use super::interpolate::{interpolate, quoted, Variables};
use super::node::{Node, Position, Value};

/// The env files the loader read, by path, for services to take their
/// variables from: a file that could not be read is absent (its problem is
/// reported where it is named), and so is one that is not required and
/// does not exist.
pub type EnvFiles = BTreeMap<PathBuf, BTreeMap<String, String>>;

/// One entry of a service's `env_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: PathBuf,
    /// False when a missing file is skipped (`required: false`).
    pub required: bool,
    pub at: Position,
}

/// `env_file: a.env`, `[a.env, b.env]` or the long form
/// `[{path: a.env, required: false}]` (`key` names the field: `label_file`
/// takes the same); paths are relative to `dir`.
pub fn references(node: &Node, dir: &Path, key: &str) -> Decoded<Vec<Reference>> {
    let reference = |path: String, required: bool, at: Position| Reference {
        path: dir.join(path),
        required,
        at,
    };
    match &node.value {
        Value::String(path) => Ok(vec![reference(path.clone(), true, node.at)]),
        Value::Seq(items) => items
            .iter()
            .map(|item| match &item.value {
                Value::Map(_) => {
                    let what = format!("{key} entry");
                    let mut f = Fields::of(item, &what)?;
                    let path = f.take_with("path", string)?;
                    let required = f.take_with("required", boolean)?;
                    if let Some(format) = f.take("format") {
                        return Err(Problem::new(
                            format.at,
                            format!("{key} `format` is not supported: hareconcile reads these files as Compose's default `.env` format; remove it"),
                        ));
                    }
                    f.finish()?;
                    let path = path.ok_or_else(|| Problem::new(item.at, format!("{what} needs `path`")))?;
                    Ok(reference(path, required.unwrap_or(true), item.at))
                }
                _ => Ok(reference(string(item, key)?, true, item.at)),
            })
            .collect(),
        _ => Err(Problem::new(
            node.at,
            format!("{key} must be a path or a list of paths or of {{path, required}}"),
        )),
    }
}

/// The variables of one file, in order, and what was wrong in it.
#[derive(Debug, Default)]
pub struct EnvFile {
    pub variables: Vec<(String, String)>,
    pub problems: Vec<(Position, String)>,
}

impl EnvFile {
    /// The last value of each name.
    pub fn into_map(self) -> BTreeMap<String, String> {
        self.variables.into_iter().collect()
    }
}

/// Reads `text`; `environment` answers for names the file does not set
/// and wins over the file in interpolation. Positions are in `source`.
pub fn parse(text: &str, environment: &Variables, source: usize) -> EnvFile {
    let mut reader = Reader {
        text,
        offset: 0,
        source,
        out: EnvFile::default(),
    };
    reader.statements(environment);
    reader.out
}

struct Reader<'a> {
    text: &'a str,
    offset: usize,
    source: usize,
    out: EnvFile,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.offset..]
    }

    fn position_of(&self, offset: usize) -> Position {
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            source: self.source,
        }
    }

    fn problem(&mut self, offset: usize, message: String) {
        let at = self.position_of(offset);
        self.out.problems.push((at, message));
    }

    fn skip_line(&mut self) {
        self.offset += self.rest().find('\n').map_or(self.rest().len(), |i| i + 1);
    }

    fn statements(&mut self, environment: &Variables) {
        loop {
            let blank = self.rest().len() - self.rest().trim_start().len();
            self.offset += blank;
            if self.rest().is_empty() {
                return;
            }
            if self.rest().starts_with('#') {
                self.skip_line();
                continue;
            }
            if !self.statement(environment) {
                return;
            }
        }
    }

    /// One `KEY=VALUE`; false when nothing after it can be read.
    fn statement(&mut self, environment: &Variables) -> bool {
        if let Some(after) = self.rest().strip_prefix("export") {
            if after.starts_with([' ', '\t']) {
                self.offset += "export".len();
                self.offset +=
                    self.rest().len() - self.rest().trim_start_matches([' ', '\t']).len();
            }
        }
        let start = self.offset;
        let line = self.rest().split('\n').next().unwrap_or_default();
        let Some(end) = line.find(['=', ':']) else {
            // A name alone: passed through from the environment.
            let name = line.trim_end();
            if self.valid_name(start, name) {
                if let Some(value) = environment.get(name) {
                    self.out
                        .variables
                        .push((name.to_string(), value.to_string()));
                }
            }
            self.skip_line();
            return true;
        };
        let name = line[..end].trim_end();
        if !self.valid_name(start, name) {
            self.skip_line();
            return true;
        }
        let name = name.to_string();
        self.offset += end + 1;
        self.offset += self.rest().len() - self.rest().trim_start_matches([' ', '\t']).len();
        let value_at = self.offset;
        let value = match self.rest().chars().next() {
            Some(quote @ ('\'' | '"')) => match self.quoted(quote) {
                Some(raw) if quote == '"' => {
                    self.interpolated(&expand_escapes(&raw), value_at, environment)
                }
                Some(raw) => Some(raw),
                None => {
                    self.problem(
                        value_at,
                        format!("{name}: the value's {quote} is never closed: close it (a quoted value may span lines)"),
                    );
                    return false;
                }
            },
            _ => {
                let line = self.rest().split('\n').next().unwrap_or_default();
                let value = line
                    .split(" #")
                    .next()
                    .unwrap_or_default()
                    .trim_end()
                    .to_string();
                self.skip_line();
                self.interpolated(&value, value_at, environment)
            }
        };
        if let Some(value) = value {
            self.out.variables.push((name, value));
        }
        true
    }

    fn valid_name(&mut self, at: usize, name: &str) -> bool {
        if name.is_empty() {
            self.problem(at, "a variable name is missing before `=`".to_string());
            return false;
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']');
        if let Some((i, c)) = name.char_indices().find(|&(_, c)| !allowed(c)) {
            let message = if c.is_whitespace() {
                format!("variable name {} contains a space: names are letters, digits, `_`, `.`, `-`, `[` and `]`", quoted(name))
            } else {
                format!("unexpected character {c:?} in variable name {}: names are letters, digits, `_`, `.`, `-`, `[` and `]`", quoted(name))
            };
            self.problem(at + i, message);
            return false;
        }
        true
    }

    /// The text between `quote` and its closing match, unescaped as Compose
    /// does: `\` before the quote keeps the quote; any other `\x` stays
    /// `\x` for the escapes of double quotes. Leaves the rest of the line
    /// to be read as the next statement, as Compose does.
    fn quoted(&mut self, quote: char) -> Option<String> {
        let mut value = String::new();
        let mut escaped = false;
        let body = &self.rest()[1..];
        for (i, c) in body.char_indices() {
            if escaped {
                escaped = false;
                if c != quote {
                    value.push('\\');
                }
                value.push(c);
            } else if c == '\\' {
                escaped = true;
            } else if c == quote {
                self.offset += 1 + i + c.len_utf8();
                return Some(value);
            } else {
                value.push(c);
            }
        }
        None
    }

    fn interpolated(&mut self, value: &str, at: usize, environment: &Variables) -> Option<String> {
        // The environment wins over what this file set above.
        let mut variables = environment.clone();
        for (name, value) in &self.out.variables {
            variables.set_default(name, value);
        }
        match interpolate(value, &variables) {
            Ok(done) => Some(done.text),
            Err(message) => {
                self.problem(at, message);
                None
            }
        }
    }
}

/// Double-quoted escapes: the C ones, `\$` as a literal `$` (written `$$`
/// for the interpolation that follows) and `\0NNN` octal. Anything else
/// stays as written.
fn expand_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.peek() else {
            out.push('\\');
            break;
        };
        let replacement = match next {
            'a' => "\x07",
            'b' => "\x08",
            'f' => "\x0c",
            'n' => "\n",
            'r' => "\r",
            't' => "\t",
            'v' => "\x0b",
            '"' => "\"",
            '\\' => "\\",
            '$' => "$$",
            '0' => {
                chars.next();
                let mut digits = String::new();
                while digits.len() < 3 && chars.peek().is_some_and(|d| d.is_digit(8)) {
                    digits.extend(chars.next());
                }
                match u8::from_str_radix(if digits.is_empty() { "0" } else { &digits }, 8) {
                    Ok(byte) => out.push(char::from(byte)),
                    Err(_) => {
                        out.push_str("\\0");
                        out.push_str(&digits);
                    }
                }
                continue;
            }
            _ => {
                out.push('\\');
                continue;
            }
        };
        chars.next();
        out.push_str(replacement);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> BTreeMap<String, String> {
        let environment = Variables::new(
            BTreeMap::new(),
            [
                ("SHELL_VAR".to_string(), "from shell".to_string()),
                ("OVERRIDDEN".to_string(), "shell wins".to_string()),
            ],
        );
        let file = parse(text, &environment, 0);
        assert!(file.problems.is_empty(), "{:?}", file.problems);
        file.into_map()
    }

    fn value(text: &str) -> String {
        read(text)
            .remove("V")
            .unwrap_or_else(|| panic!("V unset by {text:?}"))
    }

    /// Each rule of Compose's `.env` syntax (docs: "Use an environment
    /// file", compose-go dotenv), one line of input and the value of V.
    #[test]
    fn reads_values_as_compose_does() {
        let table = [
            // Plain values; blanks around `=` and at the end go.
            ("V=abc", "abc"),
            ("V = abc  ", "abc"),
            ("V=", ""),
            ("V=a=b=c", "a=b=c"),
            ("export V=exported", "exported"),
            ("export   V=x", "x"),
            ("V: yaml style", "yaml style"),
            // Inline comments need a blank before `#`.
            ("V=abc # a comment", "abc"),
            ("V=abc#not a comment", "abc#not a comment"),
            ("V=#not a comment", "#not a comment"),
            // Single quotes: literal, no interpolation, no escapes but \'.
            ("V='a # b'", "a # b"),
            ("V='$SHELL_VAR'", "$SHELL_VAR"),
            (r"V='a\nb'", r"a\nb"),
            (r"V='it\'s'", "it's"),
            ("V='a' # comment", "a"),
            ("V='line one\nline two'", "line one\nline two"),
            // Double quotes: escapes, then interpolation.
            (r#"V="a\nb""#, "a\nb"),
            (r#"V="tab\there""#, "tab\there"),
            (r#"V="say \"hi\"""#, "say \"hi\""),
            (r#"V="back\\slash""#, "back\\slash"),
            (r#"V="\$SHELL_VAR""#, "$SHELL_VAR"),
            (r#"V="\0101""#, "A"),
            (r#"V="\q""#, "\\q"),
            ("V=\"first\nsecond\"", "first\nsecond"),
            ("V=\"a # b\" # comment", "a # b"),
            // Interpolation: the environment, then this file's own names.
            ("V=$SHELL_VAR", "from shell"),
            ("V=\"${SHELL_VAR}!\"", "from shell!"),
            ("A=1\nV=${A}2", "12"),
            ("V=${UNSET:-fallback}", "fallback"),
            ("OVERRIDDEN=file\nV=$OVERRIDDEN", "shell wins"),
            ("V=$$literal", "$literal"),
            // A name alone takes the environment's value.
            ("SHELL_VAR\nV=x", "x"),
        ];
        for (text, expected) in table {
            assert_eq!(value(text), expected, "{text:?}");
        }
    }

    #[test]
    fn skips_comments_blanks_and_unset_pass_throughs() {
        let vars =
            read("# comment\n\n   # indented comment\nA=1\nSHELL_VAR\nNOT_IN_SHELL\r\nB=2\n");
        assert_eq!(
            vars.into_iter().collect::<Vec<_>>(),
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "2".to_string()),
                ("SHELL_VAR".to_string(), "from shell".to_string())
            ]
        );
        assert_eq!(read("a.b-c[0]=x")["a.b-c[0]"], "x");
        assert_eq!(read("A=1\nA=2")["A"], "2");
    }

    #[test]
    fn reports_bad_lines_with_their_position_and_reads_the_rest() {
        let file = parse(
            "GOOD=1\nBAD KEY=x\n%NAME=y\n=z\nV=${MISSING:?set it}\nALSO=2\nQ=\"open\n",
            &Variables::default(),
            4,
        );
        let at: Vec<(usize, usize)> = file
            .problems
            .iter()
            .map(|(p, _)| (p.line, p.column))
            .collect();
        assert_eq!(
            at,
            [(2, 4), (3, 1), (4, 1), (5, 3), (7, 3)],
            "{:?}",
            file.problems
        );
        assert!(file.problems[0].1.contains("contains a space"));
        assert!(file.problems[1].1.contains("unexpected character '%'"));
        assert!(file.problems[3]
            .1
            .contains("required variable MISSING is missing a value: set it"));
        assert!(file.problems[4].1.contains("never closed"));
        assert_eq!(file.problems[0].0.source, 4);
        let vars = file.into_map();
        assert_eq!(vars["GOOD"], "1");
        assert_eq!(vars["ALSO"], "2");
        assert!(!vars.contains_key("V"));
    }
}
