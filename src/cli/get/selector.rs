//! Label selectors as kubectl reads them: `-l tier=web,env!=test,backup,!legacy`.
//! Every requirement must hold.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<Requirement>);

#[derive(Debug, PartialEq, Eq)]
pub struct BadSelector {
    requirement: String,
    why: &'static str,
}

impl fmt::Display for BadSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "label selector {:?}: {}; write key=value, key!=value, key or !key, separated by commas",
            self.requirement, self.why
        )
    }
}

impl std::error::Error for BadSelector {}

/// A label key or value as the manifests allow them: letters, digits and
/// `-_./`, no spaces or operators.
fn valid(word: &str) -> bool {
    word.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl FromStr for Selector {
    type Err = BadSelector;

    fn from_str(text: &str) -> Result<Self, BadSelector> {
        let mut requirements = Vec::new();
        for part in text.split(',').map(str::trim) {
            let bad = |why| BadSelector {
                requirement: part.to_string(),
                why,
            };
            let requirement = if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = part.split_once('=') {
                // kubectl accepts `==` as well.
                let value = value.strip_prefix('=').unwrap_or(value);
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else if let Some(key) = part.strip_prefix('!') {
                Requirement::Absent(key.trim().into())
            } else {
                Requirement::Exists(part.into())
            };
            let (key, value) = match &requirement {
                Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, Some(v)),
                Requirement::Exists(k) | Requirement::Absent(k) => (k, None),
            };
            if key.is_empty() {
                return Err(bad("a label key is missing"));
            }
            if !valid(key) || !value.is_none_or(|v| valid(v)) {
                return Err(bad("label keys and values hold letters, digits and -_./"));
            }
            requirements.push(requirement);
        }
        Ok(Selector(requirements))
    }
}

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => labels.get(key) == Some(value),
            // As in Kubernetes: an object without the label matches `!=`.
            Requirement::NotEquals(key, value) => labels.get(key) != Some(value),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::Absent(key) => !labels.contains_key(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_requirement_must_hold() {
        let web = labels(&[("tier", "web"), ("env", "prod")]);
        let db = labels(&[("tier", "db")]);
        let select = |text: &str| text.parse::<Selector>().unwrap();
        assert!(select("tier=web").matches(&web));
        assert!(select("tier==web").matches(&web));
        assert!(!select("tier=web").matches(&db));
        assert!(select("env!=test").matches(&web));
        assert!(select("env!=test").matches(&db), "absent matches !=");
        assert!(!select("env!=prod").matches(&web));
        assert!(select("env").matches(&web) && !select("env").matches(&db));
        assert!(select("!env").matches(&db) && !select("!env").matches(&web));
        assert!(select("tier=web, env").matches(&web));
        assert!(!select("tier=web,!env").matches(&web));
    }

    #[test]
    fn malformed_selectors_say_what_is_accepted() {
        let error = "=web".parse::<Selector>().unwrap_err();
        assert_eq!(error.why, "a label key is missing");
        assert!(error
            .to_string()
            .contains("key=value, key!=value, key or !key"));
        assert!("tier in (web)".parse::<Selector>().is_err());
        assert!("a,,b".parse::<Selector>().is_err());
    }
}
