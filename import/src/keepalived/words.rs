//! keepalived's two ways of cutting a line into words.
//!
//! Keywords read their values from [`words`]: words end at whitespace, and a
//! word that starts with `"` runs to the next `"` (no escapes, no single
//! quotes). Scripts (`script`, `notify_*`) read the raw line again with
//! [`quoted`]: both quote characters group, they may start mid-word, and
//! the script's own string is then cut into its argv with escapes decoded
//! (`\t`, `\x41`, `\101`, `\cC`, `\"`...), as keepalived's
//! `alloc_strvec_quoted_escaped` does.

/// A quote opened and never closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedQuote(pub char);

/// The words of a keyword line, and whether a `"` was left open (keepalived
/// then drops the rest of the line).
pub fn words(line: &str) -> (Vec<String>, Option<UnmatchedQuote>) {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(is_blank);
        if rest.is_empty() {
            return (out, None);
        }
        if let Some(quoted) = rest.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                return (out, Some(UnmatchedQuote('"')));
            };
            out.push(quoted[..end].to_string());
            rest = &quoted[end + 1..];
        } else {
            let end = rest
                .find(|c: char| is_blank(c) || c == '"')
                .unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
}

/// Words with `"` and `'` grouping; with `escapes`, backslash sequences are
/// decoded, without them a backslash and the character after it are kept
/// as written (for a second pass to decode).
pub fn quoted(src: &str, escapes: bool) -> Result<Vec<String>, UnmatchedQuote> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    loop {
        while chars.next_if(|c| is_blank(*c)).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let Some(next) = chars.next() else {
                        // keepalived drops a line ending in a lone backslash.
                        return Ok(out);
                    };
                    if escapes {
                        word.push(unescape(next, &mut chars));
                    } else {
                        word.push('\\');
                        word.push(next);
                    }
                }
                c if Some(c) == quote => quote = None,
                '"' | '\'' if quote.is_none() => quote = Some(c),
                c if quote.is_none() && is_blank(c) => break,
                c => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(UnmatchedQuote(q));
        }
        out.push(word);
    }
}

/// A script string (the second word of a `script` or `notify_*` line) as
/// the argv keepalived runs.
pub fn argv(script: &str) -> Result<Vec<String>, UnmatchedQuote> {
    quoted(script, true)
}

/// The character a backslash sequence stands for; `first` is the character
/// after the backslash.
fn unescape(first: char, rest: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    match first {
        'x' if rest.peek().is_some_and(char::is_ascii_hexdigit) => {
            let mut value = 0u32;
            for _ in 0..2 {
                match rest.next_if(char::is_ascii_hexdigit) {
                    Some(d) => value = value * 16 + d.to_digit(16).unwrap_or(0),
                    None => break,
                }
            }
            char::from_u32(value).unwrap_or('\u{fffd}')
        }
        'c' if rest.peek().is_some() => {
            let c = rest.next().unwrap_or('@');
            char::from_u32(u32::from(c) & 0x1f).unwrap_or('\u{fffd}')
        }
        '0'..='7' => {
            let mut value = first.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match rest.next_if(|c| ('0'..='7').contains(c)) {
                    Some(d) => value = value * 8 + d.to_digit(8).unwrap_or(0),
                    None => break,
                }
            }
            char::from_u32(value & 0xff).unwrap_or('\u{fffd}')
        }
        'a' => '\u{7}',
        'b' => '\u{8}',
        'E' => '\u{1b}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        other => other,
    }
}

/// keepalived's WHITE_SPACE: space and tab (lines have no newlines left).
pub fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(line: &str) -> Vec<String> {
        words(line).0
    }

    #[test]
    fn keyword_words_group_double_quotes_only() {
        assert_eq!(w("  priority   100 "), ["priority", "100"]);
        assert_eq!(
            w(r#"notify_master "/bin/x.sh master" root"#),
            ["notify_master", "/bin/x.sh master", "root"]
        );
        assert_eq!(w("a 'b c'"), ["a", "'b", "c'"]);
        assert_eq!(words(r#"script "no end"#).1, Some(UnmatchedQuote('"')));
    }

    #[test]
    fn scripts_are_cut_as_keepalived_documents_it() {
        // The two examples of keepalived.conf(5), "Quoted strings".
        assert_eq!(
            quoted(r#"abcd" efg h jkl "mnop"#, true).unwrap(),
            ["abcd efg h jkl mnop"]
        );
        assert_eq!(
            quoted(r#"abcd "efg h jkl" mnop"#, true).unwrap(),
            ["abcd", "efg h jkl", "mnop"]
        );
        let line = r#"notify_master "/etc/keepalived/notify_event.sh ' spaces\\x20f\x69le ' '\"s p a c e \"' SG1.low master" user group"#;
        let first = quoted(line, false).unwrap();
        assert_eq!(first[2..], ["user", "group"]);
        assert_eq!(
            argv(&first[1]).unwrap(),
            [
                "/etc/keepalived/notify_event.sh",
                r" spaces\x20file ",
                "\"s p a c e \"",
                "SG1.low",
                "master"
            ]
        );
    }

    #[test]
    fn a_docker_format_string_survives_both_passes() {
        let line = r#"script "/usr/bin/docker inspect -f '{{.State.Running}}' traefik""#;
        let first = quoted(line, false).unwrap();
        assert_eq!(
            argv(&first[1]).unwrap(),
            [
                "/usr/bin/docker",
                "inspect",
                "-f",
                "{{.State.Running}}",
                "traefik"
            ]
        );
    }

    #[test]
    fn escapes_decode_octal_hex_and_control_characters() {
        assert_eq!(argv(r"\101\x42\cA\t\q").unwrap(), ["AB\u{1}\tq"]);
        assert_eq!(argv("'open").unwrap_err(), UnmatchedQuote('\''));
    }
}
