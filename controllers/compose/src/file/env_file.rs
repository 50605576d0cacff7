//! `KEY=VALUE` files: the project's `.env` and a service's `env_file`.

use std::collections::BTreeMap;

/// Parses an env file. Blank lines and `#` comments are skipped; a value
/// in matching single or double quotes loses them; a line without `=`
/// sets the variable to empty, as Docker Compose does.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.split_once('=') {
            Some((key, value)) => (key.trim().to_string(), unquote(value.trim()).to_string()),
            None => (line.to_string(), String::new()),
        })
        .collect()
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_assignments_comments_and_quotes() {
        let vars = parse("# comment\n\nPORT=8080\nNAME = \"web app\"\nQ='x=y'\nBARE\n");
        assert_eq!(vars["PORT"], "8080");
        assert_eq!(vars["NAME"], "web app");
        assert_eq!(vars["Q"], "x=y");
        assert_eq!(vars["BARE"], "");
        assert_eq!(vars.len(), 4);
    }
}
