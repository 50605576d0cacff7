//! Rendering for people and for scripts: aligned tables, YAML, JSON, ages,
//! and writing them to stdout.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

use hareconcile_model::Object;
use saphyr::{Mapping, Scalar, ScalarStyle, Yaml, YamlEmitter};
use serde_json::Value;
use time::OffsetDateTime;

/// What `out!`/`outln!` call: writes to stdout, and ends the command
/// quietly with exit 0 when the reader went away (`get -o yaml | head`),
/// as `cat` and kubectl do. Handled here rather than by restoring the
/// default SIGPIPE action because the same binary is the agent, which
/// must outlive a peer or client that closes its socket mid-write; a
/// closed API socket stays an error the CLI reports.
pub fn write_stdout(args: fmt::Arguments<'_>) {
    if let Err(error) = io::stdout().lock().write_fmt(args) {
        stdout_failed(&error);
    }
}

fn stdout_failed(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(super::EXIT_OK.into());
    }
    eprintln!("error: cannot write to stdout: {error}");
    std::process::exit(super::EXIT_RUNTIME.into());
}

/// A JSON value as one table cell: lists comma-separated, absent as `-`.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| cell(Some(item)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// `-o` of the commands that report rather than list objects (`status`,
/// `events`, `validate`): text for people, JSON or YAML for scripts,
/// whose field names are documented in docs/cli.md and kept stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Yaml,
}

impl ReportFormat {
    /// Prints `report` as JSON (indented) or YAML; false for text, which
    /// each command renders itself.
    pub fn print(self, report: &impl serde::Serialize) -> bool {
        let value = serde_json::to_value(report).expect("reports always serialize");
        match self {
            ReportFormat::Text => return false,
            ReportFormat::Json => outln!(
                "{}",
                serde_json::to_string_pretty(&value).expect("JSON values always print")
            ),
            ReportFormat::Yaml => out!("{}", yaml(&value)),
        }
        true
    }
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// [`table`]'s rows alone, aligned as under `header`: `--no-headers`,
/// and what a watch prints after its first lines.
pub fn table_rows(header: &[&str], rows: &[Vec<String>]) -> String {
    let text = table(header, rows);
    text.split_once('\n')
        .map_or(String::new(), |(_, rows)| rows.to_string())
}

fn to_yaml(value: &Value) -> Yaml<'static> {
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Representation(Cow::Owned(n.to_string()), ScalarStyle::Plain, None),
        },
        Value::String(s) => Yaml::Value(Scalar::String(Cow::Owned(s.clone()))),
        Value::Array(items) => Yaml::Sequence(items.iter().map(to_yaml).collect()),
        Value::Object(fields) => {
            let mut mapping = Mapping::new();
            for (k, v) in fields {
                mapping.insert(
                    Yaml::Value(Scalar::String(Cow::Owned(k.clone()))),
                    to_yaml(v),
                );
            }
            Yaml::Mapping(mapping)
        }
    }
}

/// A YAML document (starting with `---`) for `value`.
pub fn yaml(value: &Value) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(true);
    emitter
        .dump(&to_yaml(value))
        .expect("writing YAML to a String cannot fail");
    out.push('\n');
    out
}

/// YAML without the document marker, for embedding in other output.
pub fn yaml_body(value: &Value) -> String {
    yaml(value)
        .strip_prefix("---\n")
        .map(str::to_string)
        .unwrap_or_else(|| yaml(value))
}

pub fn object_json(object: &Object) -> Value {
    serde_json::to_value(object).expect("objects always serialize")
}

/// Age like kubectl: 45s, 12m, 3h, 5d.
pub fn age(since: Option<OffsetDateTime>) -> String {
    let Some(since) = since else {
        return "-".into();
    };
    let seconds = (OffsetDateTime::now_utc() - since).whole_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns() {
        let out = table(
            &["NAME", "READY"],
            &[
                vec!["web".into(), "True".into()],
                vec!["dns-long".into(), "-".into()],
            ],
        );
        assert_eq!(out, "NAME       READY\nweb        True\ndns-long   -\n");
    }

    #[test]
    fn yaml_quotes_strings_that_would_read_back_as_other_types() {
        let out = yaml(&json!({"version": "3", "on": "yes", "n": 3, "list": ["a"]}));
        assert!(out.contains("version: \"3\""), "{out}");
        assert!(out.contains("n: 3"), "{out}");
        assert!(out.contains("- a"), "{out}");
    }
}
