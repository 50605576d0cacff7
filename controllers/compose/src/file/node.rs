//! A compose file's positioned tree, from the reader shared with the
//! manifest loader (bounded nesting, safe aliases, duplicate keys refused,
//! merge keys resolved), so every decoding error can name `file:line:col`.

pub use hareconcile_yaml::{Entry, Node, Position, Value, YamlError};

/// Reads text as the only file, for tests of what decodes it.
#[cfg(test)]
pub fn parse(text: &str) -> Result<Node, Vec<YamlError>> {
    parse_as(text, 0)
}

/// Reads a compose file's one document, with positions marked as being in
/// file number `source`; an empty file is `Null`. Every problem of the
/// YAML itself is returned, not only the first.
pub fn parse_as(text: &str, source: usize) -> Result<Node, Vec<YamlError>> {
    let mut documents = hareconcile_yaml::parse_stream_as(text, source).into_iter();
    let root = documents.next().unwrap_or(Ok(Node {
        at: Position {
            source,
            ..Position::START
        },
        value: Value::Null,
    }))?;
    match documents.next() {
        None => Ok(root),
        Some(second) => {
            let at = match &second {
                Ok(node) => node.at,
                Err(errors) => errors[0].at,
            };
            Err(vec![YamlError {
                at,
                message:
                    "a second YAML document: a compose file holds one; move it to a file of its own"
                        .into(),
            }])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let root = parse("services:\n  web:\n    image: busybox\n").unwrap();
        let Value::Map(top) = &root.value else {
            panic!()
        };
        let Value::Map(services) = &top[0].value.value else {
            panic!()
        };
        let Value::Map(web) = &services[0].value.value else {
            panic!()
        };
        assert_eq!(web[0].key_at, Position::new(3, 5));
        assert_eq!(web[0].value.at, Position::new(3, 12));
    }

    #[test]
    fn reports_every_yaml_problem_and_a_second_document() {
        let errors = parse("services:\n  a: {}\n  a: {}\nx: 1\nx: 2\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].at, Position::new(5, 1));
        let errors = parse("services: {}\n---\nservices: {}\n").unwrap_err();
        assert_eq!(errors[0].at.line, 3);
        assert!(parse("").unwrap().value == Value::Null);
    }

    /// Issue 17: 3,000 nested block lists in 6 KB overflowed the stack.
    #[test]
    fn deep_nesting_is_a_positioned_error() {
        let text = format!("services:\n  web:\n    command: {}x\n", "- ".repeat(3_000))
            .replace("command: -", "command:\n      -");
        let errors = parse(&text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].at, Position::new(4, 7 + 2 * 125));
        assert!(errors[0].message.contains("nested more than 128 levels"));
    }
}
