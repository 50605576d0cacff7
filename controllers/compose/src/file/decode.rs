//! Helpers that read compose values out of the positioned tree and refuse
//! whatever they do not understand, pointing at it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::node::{Entry, Node, Position, Value};

/// What is wrong, and where; the loader adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: Position,
    pub message: String,
}

impl Problem {
    pub fn new(at: Position, message: impl Into<String>) -> Self {
        Problem {
            at,
            message: message.into(),
        }
    }
}

pub type Decoded<T> = Result<T, Problem>;

/// The entries of one mapping, each taken at most once; [`Fields::finish`]
/// refuses the ones nobody took, so an unsupported key never goes unseen.
pub struct Fields<'a> {
    entries: &'a [Entry],
    taken: Vec<bool>,
    what: String,
}

impl<'a> Fields<'a> {
    /// `what` names the mapping in messages, e.g. "service `web`".
    pub fn of(node: &'a Node, what: impl Into<String>) -> Decoded<Self> {
        let what = what.into();
        match &node.value {
            Value::Map(entries) => Ok(Fields {
                entries,
                taken: vec![false; entries.len()],
                what,
            }),
            _ => Err(Problem::new(node.at, format!("{what} must be a mapping"))),
        }
    }

    pub fn take(&mut self, key: &str) -> Option<&'a Node> {
        let index = self.entries.iter().position(|e| e.key == key)?;
        self.taken[index] = true;
        Some(&self.entries[index].value)
    }

    /// Fails on the first key not taken. `x-` keys are Compose extension
    /// fields, which carry no meaning by definition.
    pub fn finish(self) -> Decoded<()> {
        let unknown = self
            .entries
            .iter()
            .zip(&self.taken)
            .find(|(entry, taken)| !**taken && !entry.key.starts_with("x-"));
        match unknown {
            Some((entry, _)) => Err(Problem::new(
                entry.key_at,
                format!(
                    "unsupported key `{}` in {}: hareconcile does not implement it; remove it or run this stack with docker compose",
                    entry.key, self.what
                ),
            )),
            None => Ok(()),
        }
    }
}

/// The entries of a mapping whose keys are names (services, networks...).
pub fn named_entries<'a>(node: &'a Node, what: &str) -> Decoded<&'a [Entry]> {
    match &node.value {
        Value::Map(entries) => Ok(entries),
        Value::Null => Ok(&[]),
        _ => Err(Problem::new(node.at, format!("{what} must be a mapping"))),
    }
}

pub fn string(node: &Node, what: &str) -> Decoded<String> {
    match &node.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(Problem::new(node.at, format!("{what} must be a string"))),
    }
}

/// A scalar written as text, e.g. an environment value `3` or `true`.
pub fn scalar_text(node: &Node, what: &str) -> Decoded<String> {
    match &node.value {
        Value::String(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(Problem::new(
            node.at,
            format!("{what} must be a string or a number"),
        )),
    }
}

pub fn boolean(node: &Node, what: &str) -> Decoded<bool> {
    match &node.value {
        Value::Bool(b) => Ok(*b),
        // An interpolated `${DEBUG:-false}` arrives as text.
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(Problem::new(
            node.at,
            format!("{what} must be true or false"),
        )),
    }
}

pub fn integer(node: &Node, what: &str) -> Decoded<i64> {
    match &node.value {
        Value::Int(i) => Ok(*i),
        Value::String(s) => s
            .parse()
            .map_err(|_| Problem::new(node.at, format!("{what} must be an integer, not {s:?}"))),
        _ => Err(Problem::new(node.at, format!("{what} must be an integer"))),
    }
}

pub fn string_list(node: &Node, what: &str) -> Decoded<Vec<String>> {
    match &node.value {
        Value::Seq(items) => items.iter().map(|i| scalar_text(i, what)).collect(),
        _ => Err(Problem::new(
            node.at,
            format!("{what} must be a list of strings"),
        )),
    }
}

/// A single string or a list of them (`dns: 1.1.1.1` or `dns: [a, b]`).
pub fn one_or_many(node: &Node, what: &str) -> Decoded<Vec<String>> {
    match &node.value {
        Value::String(s) => Ok(vec![s.clone()]),
        _ => string_list(node, what),
    }
}

/// `KEY: value` mappings or `KEY=value` lists (environment, labels,
/// sysctls). A value of `None` is a key given without a value.
pub fn key_values(
    node: &Node,
    separator: char,
    what: &str,
) -> Decoded<Vec<(String, Option<String>)>> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .map(|e| match e.value.value {
                Value::Null => Ok((e.key.clone(), None)),
                _ => Ok((e.key.clone(), Some(scalar_text(&e.value, what)?))),
            })
            .collect(),
        Value::Seq(items) => items
            .iter()
            .map(|item| {
                let text = string(item, what)?;
                Ok(match text.split_once(separator) {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (text, None),
                })
            })
            .collect(),
        _ => Err(Problem::new(
            node.at,
            format!("{what} must be a mapping or a list of `KEY{separator}VALUE`"),
        )),
    }
}

/// Like [`key_values`], for fields where a key without a value means
/// an empty one (labels, sysctls).
pub fn string_map(node: &Node, separator: char, what: &str) -> Decoded<BTreeMap<String, String>> {
    Ok(key_values(node, separator, what)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// Compose durations: `30s`, `1m30s`, `500ms`, `1h`; a bare number is seconds.
pub fn duration(node: &Node, what: &str) -> Decoded<Duration> {
    let text = scalar_text(node, what)?;
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(&text).map_err(|_| {
        Problem::new(
            node.at,
            format!("{what} must be a duration such as `10s` or `1m30s`, not {text:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_their_position() {
        let root = parse("image: x\nbuild: .\nx-note: ignored\n").unwrap();
        let mut fields = Fields::of(&root, "service `web`").unwrap();
        fields.take("image");
        let err = fields.finish().unwrap_err();
        assert_eq!(err.at, Position::new(2, 1));
        assert!(
            err.message.contains("`build` in service `web`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn key_values_accept_maps_and_lists() {
        let root = parse("a: {X: 1, Y: null}\nb: [X=1, Y]\n").unwrap();
        let Value::Map(top) = &root.value else {
            panic!()
        };
        let expected = vec![
            ("X".to_string(), Some("1".to_string())),
            ("Y".to_string(), None),
        ];
        assert_eq!(key_values(&top[0].value, '=', "env").unwrap(), expected);
        assert_eq!(key_values(&top[1].value, '=', "env").unwrap(), expected);
    }

    #[test]
    fn durations_take_compose_forms() {
        for (text, expected) in [
            ("30s", 30_000),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("10", 10_000),
        ] {
            let node = parse(text).unwrap();
            assert_eq!(
                duration(&node, "d").unwrap(),
                Duration::from_millis(expected),
                "{text}"
            );
        }
        assert!(duration(&parse("soon").unwrap(), "d").is_err());
    }
}
