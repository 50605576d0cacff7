//! Lines into statements: a keyword line followed by a `{` line owns the
//! lines up to the matching `}` as its block.

use super::reader::Line;
use super::words::{words, UnmatchedQuote};
use crate::finding::{Findings, Source};

/// A keyword line and, if it opens one, its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The line cut as keyword handlers read it ([`words`]).
    pub words: Vec<String>,
    /// The line as written (after comments, conditions and parameters),
    /// for the handlers that cut it again (scripts).
    pub text: String,
    pub at: Source,
    pub block: Option<Vec<Statement>>,
}

impl Statement {
    pub fn keyword(&self) -> &str {
        &self.words[0]
    }

    /// The word after the keyword, if any.
    pub fn value(&self) -> Option<&str> {
        self.words.get(1).map(String::as_str)
    }

    /// The statements of its block (none without a block).
    pub fn children(&self) -> &[Statement] {
        self.block.as_deref().unwrap_or_default()
    }

    /// Every word of every line of its block, for the blocks keepalived
    /// reads as one list of values (`group { VI_1 VI_2 }`).
    pub fn block_words(&self) -> impl Iterator<Item = (&str, &Source)> {
        self.children()
            .iter()
            .flat_map(|s| s.words.iter().map(move |w| (w.as_str(), &s.at)))
    }
}

/// The statements of a file, with a finding for every brace out of place.
pub fn statements(lines: Vec<Line>, findings: &mut Findings) -> Vec<Statement> {
    // Each open block: its statements so far.
    let mut levels: Vec<Vec<Statement>> = vec![Vec::new()];
    for line in lines {
        match line.text.as_str() {
            "{" => {
                let level = levels.last_mut().expect("the top level is never closed");
                match level.last() {
                    Some(owner) if owner.block.is_none() => levels.push(Vec::new()),
                    _ => findings.invalid(
                        &line.at,
                        "{",
                        "a '{' that follows no keyword: keepalived ignores it (and reads what follows at this level)",
                    ),
                }
            }
            "}" => {
                if levels.len() == 1 {
                    findings.invalid(
                        &line.at,
                        "}",
                        "a '}' that closes no block: keepalived ignores it",
                    );
                    continue;
                }
                close(&mut levels);
            }
            _ => {
                let (words, unmatched) = words(&line.text);
                if let Some(UnmatchedQuote(quote)) = unmatched {
                    findings.invalid(
                        &line.at,
                        words.first().map(String::as_str).unwrap_or("\""),
                        format!("a {quote} is never closed: keepalived drops the rest of the line"),
                    );
                }
                if words.is_empty() {
                    continue;
                }
                levels
                    .last_mut()
                    .expect("the top level is never closed")
                    .push(Statement {
                        words,
                        text: line.text,
                        at: line.at,
                        block: None,
                    });
            }
        }
    }
    while levels.len() > 1 {
        let owner = levels[levels.len() - 2]
            .last()
            .map(|s| (s.keyword().to_string(), s.at.clone()));
        if let Some((keyword, at)) = owner {
            findings.invalid(
                &at,
                keyword,
                "its block is never closed: a '}' is missing (read up to the end of the file)",
            );
        }
        close(&mut levels);
    }
    levels.pop().unwrap_or_default()
}

/// Ends the innermost block: its statements become its owner's block.
fn close(levels: &mut Vec<Vec<Statement>>) {
    let block = levels.pop().unwrap_or_default();
    if let Some(owner) = levels.last_mut().and_then(|level| level.last_mut()) {
        owner.block = Some(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(texts: &[&str]) -> Vec<Line> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Line {
                text: t.to_string(),
                at: Source::new("k.conf", i + 1),
            })
            .collect()
    }

    #[test]
    fn blocks_nest_and_values_stay_on_their_line() {
        let mut findings = Findings::default();
        let tree = statements(
            lines(&[
                "vrrp_instance VI_1",
                "{",
                "authentication",
                "{",
                "auth_type PASS",
                "}",
                "priority 100",
                "}",
                "vrrp_script chk",
            ]),
            &mut findings,
        );
        assert!(findings.into_vec().is_empty());
        assert_eq!(tree.len(), 2);
        let instance = &tree[0];
        assert_eq!(instance.value(), Some("VI_1"));
        assert_eq!(
            instance.children()[0].children()[0].words,
            ["auth_type", "PASS"]
        );
        assert_eq!(instance.children()[1].at.line, 7);
        assert!(tree[1].block.is_none());
    }

    #[test]
    fn stray_and_missing_braces_are_findings() {
        let mut findings = Findings::default();
        let tree = statements(lines(&["}", "{", "a", "{", "b"]), &mut findings);
        assert_eq!(tree[0].children()[0].words, ["b"]);
        let subjects: Vec<String> = findings.into_vec().into_iter().map(|f| f.subject).collect();
        assert_eq!(subjects, ["}", "{", "a"]);
    }
}
