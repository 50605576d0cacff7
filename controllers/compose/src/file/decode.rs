//! Helpers that read compose values out of the positioned tree and refuse
//! whatever they do not understand, pointing at it.

use std::cell::RefCell;
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

    /// Fails the test unless the message says `what`, showing it.
    #[cfg(test)]
    #[track_caller]
    pub fn assert_says(&self, what: &str) {
        assert!(self.message.contains(what), "{}", self.message);
    }
}

pub type Decoded<T> = Result<T, Problem>;

/// What a load accepted but will not act on, each with its position: keys
/// `docker compose` itself ignores on a single engine (swarm placement,
/// update policies...), reported as it reports them instead of refused.
/// Shared by the decoders of one file, which only hold `&` to it.
#[derive(Debug, Default)]
pub struct Warnings(RefCell<Vec<Problem>>);

impl Warnings {
    pub fn push(&self, at: Position, message: impl Into<String>) {
        self.0.borrow_mut().push(Problem::new(at, message));
    }

    pub fn into_inner(self) -> Vec<Problem> {
        self.0.into_inner()
    }
}

/// What a load found wrong, each with its position. A value that does not
/// decode is recorded here and reads as absent, so decoding goes on and
/// every problem of a file is reported, not only the first. Shared like
/// [`Warnings`].
#[derive(Debug, Default)]
pub struct Problems(RefCell<Vec<Problem>>);

impl Problems {
    pub fn push(&self, problem: Problem) {
        self.0.borrow_mut().push(problem);
    }

    /// The decoded value, or `None` with its problem recorded.
    pub fn keep<T>(&self, decoded: Decoded<T>) -> Option<T> {
        decoded.map_err(|problem| self.push(problem)).ok()
    }

    pub fn count(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn into_inner(self) -> Vec<Problem> {
        self.0.into_inner()
    }

    /// `value`, or the first problem recorded while decoding it: for tests
    /// of decoders that record problems instead of returning them.
    #[cfg(test)]
    pub fn first_or<T>(self, value: T) -> Decoded<T> {
        match self.into_inner().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(value),
        }
    }
}

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
            _ => Err(expected(node, &what, "a mapping")),
        }
    }

    pub fn take(&mut self, key: &str) -> Option<&'a Node> {
        let index = self.entries.iter().position(|e| e.key == key)?;
        self.taken[index] = true;
        Some(&self.entries[index].value)
    }

    /// Takes and decodes `key`; a value that does not decode is recorded
    /// in `problems` and reads as absent.
    pub fn decode<T>(
        &mut self,
        key: &str,
        problems: &Problems,
        decode: impl FnOnce(&'a Node) -> Decoded<T>,
    ) -> Option<T> {
        self.take(key).and_then(|n| problems.keep(decode(n)))
    }

    /// [`Fields::decode`] with a decoder that names the value by its key in
    /// messages (`cap_add must be a list of strings`).
    pub fn decode_key<T>(
        &mut self,
        key: &str,
        problems: &Problems,
        decode: impl FnOnce(&'a Node, &str) -> Decoded<T>,
    ) -> Option<T> {
        self.decode(key, problems, |n| decode(n, key))
    }

    /// Takes and decodes `key`, named by its key in messages, for decoders
    /// that stop at the first problem: `Ok(None)` when it is absent.
    pub fn take_with<T>(
        &mut self,
        key: &str,
        decode: impl FnOnce(&'a Node, &str) -> Decoded<T>,
    ) -> Decoded<Option<T>> {
        self.take(key).map(|n| decode(n, key)).transpose()
    }

    /// Takes `key` if present and records that it has no effect, and why.
    pub fn ignore(&mut self, key: &str, why: &str, warnings: &Warnings) {
        if let Some(index) = self.entries.iter().position(|e| e.key == key) {
            self.taken[index] = true;
            warnings.push(
                self.entries[index].key_at,
                format!("`{key}` in {} is ignored: {why}", self.what),
            );
        }
    }

    /// Refuses `key` if present, saying why hareconcile cannot honour it
    /// and what to do instead.
    pub fn refuse(&mut self, key: &str, why: &str) -> Decoded<()> {
        match self.entries.iter().find(|e| e.key == key) {
            Some(entry) => Err(Problem::new(
                entry.key_at,
                format!("`{key}` in {} is not supported: {why}", self.what),
            )),
            None => Ok(()),
        }
    }

    /// Fails on the first key not taken. `x-` keys are Compose extension
    /// fields, which carry no meaning by definition.
    pub fn finish(self) -> Decoded<()> {
        match self.unknown().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// Records every key not taken, not only the first.
    pub fn finish_into(self, problems: &Problems) {
        for problem in self.unknown() {
            problems.push(problem);
        }
    }

    fn unknown(&self) -> impl Iterator<Item = Problem> + '_ {
        self.entries
            .iter()
            .zip(&self.taken)
            .filter(|(entry, taken)| !**taken && !entry.key.starts_with("x-"))
            .map(|(entry, _)| {
                Problem::new(
                    entry.key_at,
                    format!(
                        "unsupported key `{}` in {}: hareconcile does not implement it; remove it or run this stack with docker compose",
                        entry.key, self.what
                    ),
                )
            })
    }
}

/// For `skip_serializing_if`: settings added after the config hash
/// existed are left out of it while unset, so containers of services
/// that do not use them keep their hash across an upgrade.
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The one message of a value of the wrong type: "`what` must be `form`".
fn expected(node: &Node, what: &str, form: &str) -> Problem {
    Problem::new(node.at, format!("{what} must be {form}"))
}

/// Refuses `text`, a word that is none of `choices`, naming them all
/// ("protocol must be tcp, udp or sctp, not \"x\"").
pub fn none_of(node: &Node, what: &str, text: &str, choices: &[&str]) -> Problem {
    let listed = match choices {
        [rest @ .., last] if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => choices.join(""),
    };
    expected(node, what, &format!("{listed}, not {text:?}"))
}

/// Accepts `text` only if it is one of `choices`.
pub fn one_of(node: &Node, what: &str, text: &str, choices: &[&str]) -> Decoded<()> {
    match choices.contains(&text) {
        true => Ok(()),
        false => Err(none_of(node, what, text, choices)),
    }
}

/// The entries of a mapping whose keys are names (services, networks...).
pub fn named_entries<'a>(node: &'a Node, what: &str) -> Decoded<&'a [Entry]> {
    match &node.value {
        Value::Map(entries) => Ok(entries),
        Value::Null => Ok(&[]),
        _ => Err(expected(node, what, "a mapping")),
    }
}

/// The items of a list, each decoded by the caller.
pub fn items<'a>(node: &'a Node, what: &str) -> Decoded<&'a [Node]> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        _ => Err(expected(node, what, "a list")),
    }
}

pub fn string(node: &Node, what: &str) -> Decoded<String> {
    match &node.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(expected(node, what, "a string")),
    }
}

/// A scalar written as text, e.g. an environment value `3` or `true`.
pub fn scalar_text(node: &Node, what: &str) -> Decoded<String> {
    match &node.value {
        Value::String(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(expected(node, what, "a string or a number")),
    }
}

pub fn boolean(node: &Node, what: &str) -> Decoded<bool> {
    match &node.value {
        Value::Bool(b) => Ok(*b),
        // An interpolated `${DEBUG:-false}` arrives as text.
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(expected(node, what, "true or false")),
    }
}

pub fn integer(node: &Node, what: &str) -> Decoded<i64> {
    match &node.value {
        Value::Int(i) => Ok(*i),
        Value::String(s) => s
            .parse()
            .map_err(|_| Problem::new(node.at, format!("{what} must be an integer, not {s:?}"))),
        _ => Err(expected(node, what, "an integer")),
    }
}

pub fn string_list(node: &Node, what: &str) -> Decoded<Vec<String>> {
    match &node.value {
        Value::Seq(items) => items.iter().map(|i| scalar_text(i, what)).collect(),
        _ => Err(expected(node, what, "a list of strings")),
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
        _ => Err(expected(
            node,
            what,
            &format!("a mapping or a list of `KEY{separator}VALUE`"),
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

/// A size in bytes: a number of bytes, or Docker's units as `docker run
/// --memory` reads them (`512m`, `1.5g`, `64MiB`, `100kb`: binary
/// multiples, case ignored).
pub fn byte_size(node: &Node, what: &str) -> Decoded<i64> {
    let invalid = |text: &str| {
        Problem::new(
            node.at,
            format!("{what} must be a size such as `512m` or `1g`, not {text:?}"),
        )
    };
    let text = scalar_text(node, what)?;
    if let Ok(bytes) = text.parse::<i64>() {
        return Ok(bytes);
    }
    let lower = text.to_ascii_lowercase();
    let unitless = lower.trim_end_matches('b').trim_end_matches('i');
    let (number, exponent) = match unitless.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => {
            let exponent = "kmgtp"
                .find(unit)
                .map(|i| i as i32 + 1)
                .ok_or_else(|| invalid(&text))?;
            (unitless[..at].trim_end(), exponent)
        }
        _ => (unitless, 0),
    };
    let digits_only = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !number.starts_with('.');
    match number.parse::<f64>() {
        Ok(value) if digits_only => Ok((value * 1024f64.powi(exponent)) as i64),
        _ => Err(invalid(&text)),
    }
}

/// A number of CPUs, possibly fractional (`0.5`, `"1.5"`), in the
/// billionths the Engine API counts.
pub fn nano_cpus(node: &Node, what: &str) -> Decoded<i64> {
    let text = scalar_text(node, what)?;
    match text.parse::<f64>() {
        Ok(cpus) if cpus >= 0.0 && cpus.is_finite() => Ok((cpus * 1e9).round() as i64),
        _ => Err(Problem::new(
            node.at,
            format!("{what} must be a number of CPUs such as 0.5 or 2, not {text:?}"),
        )),
    }
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
        err.assert_says("`build` in service `web`");
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
    fn sizes_take_docker_units() {
        for (text, expected) in [
            ("1024", 1024),
            ("64m", 64 << 20),
            ("64M", 64 << 20),
            ("1g", 1 << 30),
            ("1.5g", 3 << 29),
            ("512MiB", 512 << 20),
            ("100kb", 102_400),
            ("10 m", 10 << 20),
            ("2b", 2),
        ] {
            let node = parse(text).unwrap();
            assert_eq!(byte_size(&node, "s").unwrap(), expected, "{text}");
        }
        for bad in ["lots", "1x", "m", ".5g", "1.2.3m"] {
            assert!(byte_size(&parse(bad).unwrap(), "s").is_err(), "{bad}");
        }
        assert_eq!(nano_cpus(&parse("0.5").unwrap(), "c").unwrap(), 500_000_000);
        assert_eq!(
            nano_cpus(&parse("\"2\"").unwrap(), "c").unwrap(),
            2_000_000_000
        );
        assert!(nano_cpus(&parse("-1").unwrap(), "c").is_err());
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
