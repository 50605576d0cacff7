//! JSON pointers (RFC 6901), the one way problems name a place in an
//! object, and their human spelling in messages (`spec.addresses[1]`).

/// Escapes one reference token (`/` and `~` in keys such as annotations).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Appends a key or index to a pointer.
pub fn join(pointer: &str, token: impl std::fmt::Display) -> String {
    format!("{pointer}/{}", escape(&token.to_string()))
}

/// The field path as people read it: keys joined with dots, indices in
/// brackets, keys that are not plain identifiers quoted.
pub fn display(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1).map(unescape) {
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{token}]"));
        } else if token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !token.is_empty()
        {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        } else {
            out.push_str(&format!("[{token:?}]"));
        }
    }
    out
}

/// Prefixes a message with the field it is about (nothing for the root).
pub fn at(pointer: &str, message: impl std::fmt::Display) -> String {
    let path = display(pointer);
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_pointers_as_field_paths() {
        assert_eq!(display(""), "");
        assert_eq!(display("/spec/vrid"), "spec.vrid");
        assert_eq!(display("/spec/addresses/1"), "spec.addresses[1]");
        assert_eq!(
            display("/spec/track/scripts/0/command"),
            "spec.track.scripts[0].command"
        );
        assert_eq!(
            display("/metadata/annotations/hareconcile.io~1source-file"),
            "metadata.annotations[\"hareconcile.io/source-file\"]"
        );
    }

    #[test]
    fn joins_with_escaping() {
        assert_eq!(join("/a", "b/c"), "/a/b~1c");
        assert_eq!(join("", 3), "/3");
        assert_eq!(at("", "whole object"), "whole object");
        assert_eq!(at("/spec", "x"), "spec: x");
    }
}
