//! `${VAR}` substitution in compose values, as Docker Compose does it:
//! `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}`
//! (unset only), `${VAR:?message}` / `${VAR?message}` (required) and `$$`
//! for a literal `$`. An unset variable without a default becomes empty.

use std::collections::BTreeMap;

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
}

/// Substitutes every variable in `text`; the error says what is wrong.
pub fn interpolate(text: &str, vars: &Variables) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let close = closing_brace(braced).ok_or_else(|| {
                format!("unclosed `${{` in {text:?}: add `}}` or write `$$` for a literal `$`")
            })?;
            out.push_str(&expand(&braced[..close], vars, text)?);
            rest = &braced[close + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                return Err(format!(
                    "invalid `$` in {text:?}: write `$$` for a literal `$`"
                ));
            }
            out.push_str(vars.get(&after[..len]).unwrap_or(""));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The `}` closing a `${`, skipping nested ones in a default value.
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

/// One `${...}` body.
fn expand(body: &str, vars: &Variables, text: &str) -> Result<String, String> {
    let len = name_len(body);
    let (name, operator) = body.split_at(len);
    if name.is_empty() {
        return Err(format!("invalid variable `${{{body}}}` in {text:?}"));
    }
    let value = vars.get(name);
    let set_and_non_empty = value.is_some_and(|v| !v.is_empty());
    let required = |message: &str| {
        if message.is_empty() {
            format!("required variable {name} is not set")
        } else {
            format!("required variable {name} is not set: {message}")
        }
    };
    Ok(match operator {
        "" => value.unwrap_or("").to_string(),
        _ if operator.starts_with(":-") => {
            if set_and_non_empty {
                value.unwrap_or("").to_string()
            } else {
                interpolate(&operator[2..], vars)?
            }
        }
        _ if operator.starts_with(":?") => {
            if !set_and_non_empty {
                return Err(required(&operator[2..]));
            }
            value.unwrap_or("").to_string()
        }
        _ if operator.starts_with('-') => match value {
            Some(v) => v.to_string(),
            None => interpolate(&operator[1..], vars)?,
        },
        _ if operator.starts_with('?') => match value {
            Some(v) => v.to_string(),
            None => return Err(required(&operator[1..])),
        },
        _ => return Err(format!("invalid variable `${{{body}}}` in {text:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        Variables::new(
            [
                ("PORT".into(), "8080".into()),
                ("EMPTY".into(), String::new()),
            ]
            .into(),
            [("TAG".into(), "lab".into())],
        )
    }

    fn run(text: &str) -> String {
        interpolate(text, &vars()).unwrap()
    }

    #[test]
    fn substitutes_plain_and_braced_names() {
        assert_eq!(run("$PORT:80"), "8080:80");
        assert_eq!(run("img:${TAG}"), "img:lab");
        assert_eq!(run("${MISSING}x"), "x");
    }

    #[test]
    fn defaults_distinguish_unset_from_empty() {
        assert_eq!(run("${EMPTY:-d}"), "d");
        assert_eq!(run("${EMPTY-d}"), "");
        assert_eq!(run("${MISSING-d}"), "d");
        assert_eq!(run("${PORT:-1}"), "8080");
        assert_eq!(run("${MISSING:-${PORT}}"), "8080");
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_eq!(run("echo $$HOME $${X}"), "echo $HOME ${X}");
    }

    #[test]
    fn process_environment_wins_over_dot_env() {
        let v = Variables::new(
            [("A".into(), "file".into())].into(),
            [("A".into(), "shell".into())],
        );
        assert_eq!(interpolate("$A", &v).unwrap(), "shell");
    }

    #[test]
    fn required_and_malformed_variables_are_errors() {
        assert!(interpolate("${MISSING:?set it}", &vars())
            .unwrap_err()
            .contains("set it"));
        assert!(interpolate("${EMPTY?x}", &vars()).is_ok());
        assert!(interpolate("${PORT", &vars())
            .unwrap_err()
            .contains("unclosed"));
        assert!(interpolate("a $ b", &vars()).is_err());
        assert!(interpolate("${PORT:x}", &vars()).is_err());
    }
}
