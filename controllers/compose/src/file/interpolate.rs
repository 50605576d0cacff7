//! `${VAR}` substitution in compose values, as Docker Compose does it
//! (compose-spec `interpolation.md`):
//!
//! | written            | gives                                                  |
//! |--------------------|--------------------------------------------------------|
//! | `$VAR`, `${VAR}`   | the value; empty (with a warning) when unset           |
//! | `${VAR:-default}`  | `default` when VAR is unset or empty                   |
//! | `${VAR-default}`   | `default` when VAR is unset                            |
//! | `${VAR:?message}`  | an error naming VAR and `message` when unset or empty  |
//! | `${VAR?message}`   | an error when unset                                    |
//! | `${VAR:+other}`    | `other` when VAR is set and not empty, else empty      |
//! | `${VAR+other}`     | `other` when VAR is set, else empty                    |
//! | `$$`               | a literal `$`                                          |
//!
//! `default`, `message` and `other` are themselves interpolated, so
//! defaults nest (`${A:-${B:-x}}`). Names are `[_a-zA-Z][_a-zA-Z0-9]*`. A
//! `$` that starts neither a name nor `${` is kept as written; a `${` that
//! is not closed or holds no valid expression is an error.

use std::collections::BTreeMap;

/// How deeply `${A:-${B:-...}}` may nest: far beyond any real file, and
/// a bound on the recursion a hostile value could cause.
const MAX_NESTING: usize = 32;

/// Where variables come from: the process environment over the project's
/// `.env`, as in Docker Compose.
#[derive(Debug, Clone, Default)]
pub struct Variables(BTreeMap<String, String>);

impl Variables {
    pub fn new(
        dot_env: BTreeMap<String, String>,
        process: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut all = dot_env;
        all.extend(process);
        Variables(all)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets `name` unless it is set already (the environment wins).
    pub fn set_default(&mut self, name: &str, value: &str) {
        self.0
            .entry(name.to_string())
            .or_insert_with(|| value.to_string());
    }

    /// Sets `name`, whatever it was.
    pub fn set(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_string(), value.to_string());
    }
}

/// A substituted text, and the variables it used that were not set (Compose
/// warns of each and substitutes an empty string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substituted {
    pub text: String,
    pub unset: Vec<String>,
}

/// How many characters of a value a message quotes: enough to find it in
/// the file (the message names line and column), not a 40 KB line of a
/// hostile file repeated in every log line and API answer.
const QUOTED_CHARS: usize = 60;

/// `text` quoted for a message, cut at [`QUOTED_CHARS`].
pub(super) fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Substitutes every variable in `text`; the error says what is wrong.
pub fn interpolate(text: &str, vars: &Variables) -> Result<Substituted, String> {
    let mut unset = Vec::new();
    let text = substitute(text, vars, &mut unset, 0).map_err(|e| match e {
        Fault::Invalid => format!(
            "invalid interpolation in {}: write `${{NAME}}`, `${{NAME:-default}}` and the like, or `$$` for a literal `$`",
            quoted(text)
        ),
        Fault::Unclosed => format!(
            "unclosed `${{` in {}: add `}}` or write `$$` for a literal `$`",
            quoted(text)
        ),
        Fault::TooDeep => format!(
            "interpolation nested more than {MAX_NESTING} levels deep in {}",
            quoted(text)
        ),
        Fault::Required(message) => message,
    })?;
    Ok(Substituted { text, unset })
}

enum Fault {
    Invalid,
    Unclosed,
    TooDeep,
    /// Compose's own words: "required variable X is missing a value: why".
    Required(String),
}

fn substitute(
    text: &str,
    vars: &Variables,
    unset: &mut Vec<String>,
    depth: usize,
) -> Result<String, Fault> {
    if depth > MAX_NESTING {
        return Err(Fault::TooDeep);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let close = closing_brace(braced).ok_or(Fault::Unclosed)?;
            out.push_str(&expression(&braced[..close], vars, unset, depth)?);
            rest = &braced[close + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                // Not a variable: Compose keeps the `$` as written.
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len], vars, unset));
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(name: &str, vars: &Variables, unset: &mut Vec<String>) -> String {
    match vars.get(name) {
        Some(value) => value.to_string(),
        None => {
            if !unset.iter().any(|u| u == name) {
                unset.push(name.to_string());
            }
            String::new()
        }
    }
}

/// The `}` closing a `${`, counting the braces of nested ones.
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn name_len(text: &str) -> usize {
    text.char_indices()
        .take_while(|&(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
        .count()
}

/// One `${...}` body: a name, then nothing or an operator and its operand.
fn expression(
    body: &str,
    vars: &Variables,
    unset: &mut Vec<String>,
    depth: usize,
) -> Result<String, Fault> {
    let (name, operation) = body.split_at(name_len(body));
    if name.is_empty() {
        return Err(Fault::Invalid);
    }
    let value = vars.get(name);
    let (operator, operand) = match operation.char_indices().nth(1) {
        _ if operation.is_empty() => return Ok(lookup(name, vars, unset)),
        Some((_, '-' | '?' | '+')) if operation.starts_with(':') => operation.split_at(2),
        // Whatever follows the name, whole: it may be any character
        // (`${Dւ}`), and anything but an operator is refused below.
        _ => operation.split_at(operation.chars().next().map_or(0, char::len_utf8)),
    };
    // `:` operators also treat an empty value as missing.
    let present = match operator {
        ":-" | ":?" | ":+" => value.is_some_and(|v| !v.is_empty()),
        "-" | "?" | "+" => value.is_some(),
        _ => return Err(Fault::Invalid),
    };
    let nested = |unset: &mut Vec<String>| substitute(operand, vars, unset, depth + 1);
    Ok(match (operator, present) {
        (":-" | "-", true) | (":?" | "?", true) => value.unwrap_or_default().to_string(),
        (":-" | "-", false) => nested(unset)?,
        (":?" | "?", false) => {
            let why = nested(unset)?;
            return Err(Fault::Required(if why.is_empty() {
                format!("required variable {name} is missing a value")
            } else {
                format!("required variable {name} is missing a value: {why}")
            }));
        }
        (_, true) => nested(unset)?,
        // `+` when absent: the value itself, which is empty or unset.
        (_, false) => value.unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_of_any_width_after_the_name_is_an_error_not_a_panic() {
        // Found by the interpolate fuzz target (fuzz/corpus/interpolate).
        for text in ["${Dւ$b-noe}", "${Aé}", "${A:é}", "${A😀-x}"] {
            let error = interpolate(text, &Variables::default()).unwrap_err();
            assert!(
                error.starts_with("invalid interpolation"),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn messages_quote_a_long_value_in_part() {
        let long = format!("${{{}", "A".repeat(10_000));
        let message = interpolate(&long, &Variables::default()).unwrap_err();
        assert!(message.len() < 200, "{message}");
        assert!(
            message.starts_with(r#"unclosed `${` in "${AAAA"#),
            "{message}"
        );
        assert!(message.contains(r#"AAA"..."#), "{message}");
    }

    fn vars() -> Variables {
        Variables::new(
            [
                ("PORT".into(), "8080".into()),
                ("EMPTY".into(), String::new()),
                ("lower_case".into(), "yes".into()),
            ]
            .into(),
            [("TAG".into(), "lab".into())],
        )
    }

    fn run(text: &str) -> String {
        interpolate(text, &vars()).unwrap().text
    }

    fn fails(text: &str) -> String {
        interpolate(text, &vars()).unwrap_err()
    }

    /// Each rule of compose-spec `interpolation.md`, with SET=8080 (PORT),
    /// EMPTY set to "", MISSING unset.
    #[test]
    fn follows_the_compose_specification() {
        let table = [
            // Direct substitution, braced and not.
            ("$PORT", "8080"),
            ("${PORT}", "8080"),
            ("$PORT:80", "8080:80"),
            ("img:${TAG}-x", "img:lab-x"),
            ("${lower_case}", "yes"),
            ("$PORT_X", ""),
            ("${MISSING}x", "x"),
            ("$MISSING", ""),
            // Default values: `:-` unset or empty, `-` unset only.
            ("${PORT:-1}", "8080"),
            ("${EMPTY:-d}", "d"),
            ("${MISSING:-d}", "d"),
            ("${PORT-1}", "8080"),
            ("${EMPTY-d}", ""),
            ("${MISSING-d}", "d"),
            ("${MISSING:-}", ""),
            ("${MISSING:-a b:c}", "a b:c"),
            // Required values that are there.
            ("${PORT:?set it}", "8080"),
            ("${PORT?set it}", "8080"),
            ("${EMPTY?set it}", ""),
            // Alternative values: `:+` set and not empty, `+` set.
            ("${PORT:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${MISSING:+alt}", ""),
            ("${PORT+alt}", "alt"),
            ("${EMPTY+alt}", "alt"),
            ("${MISSING+alt}", ""),
            // Nesting.
            ("${MISSING:-${PORT}}", "8080"),
            ("${MISSING:-${ALSO_MISSING:-deep}}", "deep"),
            ("${MISSING:-$PORT}", "8080"),
            ("${PORT:+--port=${PORT}}", "--port=8080"),
            ("${MISSING:-{braces}}", "{braces}"),
            ("a${MISSING:-${TAG}}b${PORT}c", "alabb8080c"),
            // `$$` is a literal `$` and stops interpolation.
            ("echo $$HOME $${X}", "echo $HOME ${X}"),
            ("$$$PORT", "$8080"),
            ("$${PORT:-x}", "${PORT:-x}"),
            // A `$` that starts no variable is kept.
            ("cost: 5$", "cost: 5$"),
            ("a $ b", "a $ b"),
            ("$1 and $-", "$1 and $-"),
        ];
        for (text, expected) in table {
            assert_eq!(run(text), expected, "{text}");
        }
    }

    #[test]
    fn required_variables_fail_with_composes_message() {
        assert_eq!(
            fails("${MISSING:?set it in .env}"),
            "required variable MISSING is missing a value: set it in .env"
        );
        assert_eq!(
            fails("${EMPTY:?}"),
            "required variable EMPTY is missing a value"
        );
        assert_eq!(
            fails("${MISSING?need $PORT}"),
            "required variable MISSING is missing a value: need 8080"
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for text in [
            "${PORT",
            "${}",
            "${1A}",
            "${PORT:x}",
            "${PORT x}",
            "${A-${B}",
        ] {
            let error = fails(text);
            assert!(
                error.contains("unclosed") || error.contains("invalid interpolation"),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn unset_variables_are_reported_once_each() {
        let done = interpolate("$A ${A} ${B:-x} ${C-} ${PORT}", &vars()).unwrap();
        assert_eq!(done.unset, ["A"]);
        assert_eq!(done.text, "  x  8080");
    }

    #[test]
    fn process_environment_wins_over_dot_env() {
        let v = Variables::new(
            [("A".into(), "file".into())].into(),
            [("A".into(), "shell".into())],
        );
        assert_eq!(interpolate("$A", &v).unwrap().text, "shell");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "${A:-".repeat(1_000) + &"}".repeat(1_000);
        assert!(fails(&deep).contains("nested more than 32"));
    }
}
