//! Durations as users write them in manifests: `50ms`, `1s`, `5m`, `1h30m`.
//!
//! The grammar is deliberately small (integers followed by `ms`, `s`, `m`
//! or `h`, concatenated) so that the JSON Schema pattern
//! `^([0-9]+(ms|s|m|h))+$` describes exactly what this type accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration with millisecond resolution, written as a string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration: write a number and a unit (ms, s, m, h), e.g. 50ms, 1s, 5m or 1h30m")]
    Syntax(String),
    #[error("{0:?} is too long a duration: use at most a few years")]
    Overflow(String),
}

impl Duration {
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    /// Whole milliseconds; the grammar cannot express anything finer.
    pub fn as_millis(self) -> u64 {
        // Parsing caps values far below u64::MAX milliseconds.
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

/// Upper bound for any duration (about 100 years); anything longer is a typo.
const MAX_MILLIS: u64 = 100 * 365 * 24 * 3600 * 1000;

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || DurationError::Syntax(s.to_string());
        let overflow = || DurationError::Overflow(s.to_string());
        if s.is_empty() {
            return Err(syntax());
        }
        let mut total: u64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(syntax());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| overflow())?;
            rest = &rest[digits..];
            let (unit_ms, unit_len) = if rest.starts_with("ms") {
                (1, 2)
            } else if rest.starts_with('s') {
                (1_000, 1)
            } else if rest.starts_with('m') {
                (60_000, 1)
            } else if rest.starts_with('h') {
                (3_600_000, 1)
            } else {
                return Err(syntax());
            };
            rest = &rest[unit_len..];
            total = number
                .checked_mul(unit_ms)
                .and_then(|ms| total.checked_add(ms))
                .filter(|&ms| ms <= MAX_MILLIS)
                .ok_or_else(overflow)?;
        }
        Ok(Duration::from_millis(total))
    }
}

impl fmt::Display for Duration {
    /// Canonical form: largest units first, zero parts omitted (`1h30m`,
    /// `1s500ms`, `0s`), so printing then parsing is the identity.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        for (text, ms) in [
            ("50ms", 50),
            ("1s", 1_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("0s", 0),
            ("1s500ms", 1_500),
        ] {
            assert_eq!(text.parse::<Duration>().unwrap().as_millis(), ms, "{text}");
        }
    }

    #[test]
    fn rejects_what_the_schema_pattern_rejects() {
        for text in ["", "1", "s", "1.5s", "1 s", "-1s", "1d", "1S", "ms"] {
            assert!(
                matches!(text.parse::<Duration>(), Err(DurationError::Syntax(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_absurd_lengths_instead_of_wrapping() {
        assert!(matches!(
            "99999999999999999999999h".parse::<Duration>(),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            "9999999999h".parse::<Duration>(),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for (text, shown) in [("90m", "1h30m"), ("1500ms", "1s500ms"), ("0ms", "0s")] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(shown.parse::<Duration>().unwrap(), d);
        }
    }

    #[test]
    fn serializes_as_a_string() {
        let d: Duration = serde_json::from_str("\"1h30m\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1h30m\"");
        assert!(serde_json::from_str::<Duration>("5").is_err());
    }
}
