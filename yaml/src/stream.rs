//! A stream of documents, where a syntax error spoils only its own.

use saphyr_parser::{Parser, ScanError};

use crate::tree::Builder;
use crate::{Parsed, YamlError, MAX_ALIAS_NODES};

/// Reads every document of `text`. A syntax error stops the parser, so
/// reading resumes at the next line that starts a document (`---`) after
/// the one that failed: the error is reported for its own document, and
/// the others are still read and checked.
pub fn parse_stream(text: &str) -> Vec<Parsed> {
    parse_stream_as(text, 0)
}

/// Like [`parse_stream`], with every position marked as being in `source`.
pub fn parse_stream_as(text: &str, source: usize) -> Vec<Parsed> {
    let mut documents = Vec::new();
    let mut budget = MAX_ALIAS_NODES;
    let mut from = 0;
    let mut lines_before = 0;
    loop {
        let part = &text[from..];
        let builder = Builder::new(lines_before, source);
        let Err((failed_line, errors)) = read(part, builder, &mut budget, &mut documents) else {
            return documents;
        };
        documents.push(Err(errors));
        match next_document_start(text, failed_line) {
            Some((offset, line)) => {
                from = offset;
                lines_before = line - 1;
            }
            None => return documents,
        }
    }
}

/// Reads documents from `part` into `documents`; on a syntax error,
/// returns the line where the failed document began and its problems.
fn read(
    part: &str,
    mut builder: Builder,
    budget: &mut usize,
    documents: &mut Vec<Parsed>,
) -> Result<(), (usize, Vec<YamlError>)> {
    for event in Parser::new_from_str(part) {
        match event {
            Ok((event, span)) => documents.extend(builder.event(event, span, budget)),
            Err(error) => {
                let mut errors = builder.take_errors();
                errors.push(syntax_error(&builder, &error));
                return Err((builder.document_line(), errors));
            }
        }
    }
    Ok(())
}

fn syntax_error(builder: &Builder, error: &ScanError) -> YamlError {
    let info = error.info();
    // saphyr's messages are terse; say what to do for the common cases.
    let message = if info.contains("tab") {
        format!("YAML syntax error: {info}: indent with spaces, not tabs")
    } else {
        format!("YAML syntax error: {info}")
    };
    YamlError {
        at: builder.position(*error.marker()),
        message,
    }
}

/// The byte offset and line of the first line after `line` that begins
/// with the `---` marker. YAML forbids such a line inside any scalar, so
/// it starts a document wherever the failed one went wrong.
fn next_document_start(text: &str, line: usize) -> Option<(usize, usize)> {
    let mut offset = 0;
    for (index, content) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let marker = content
            .strip_prefix("---")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
        if marker && number > line {
            return Some((offset, number));
        }
        offset += content.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::next_document_start;

    #[test]
    fn only_marker_lines_start_documents() {
        let text = "a: 1\n---\nb: '---'\n----\n--- x\n";
        assert_eq!(next_document_start(text, 1), Some((5, 2)));
        assert_eq!(next_document_start(text, 2), Some((23, 5)));
        assert_eq!(next_document_start(text, 5), None);
    }
}
