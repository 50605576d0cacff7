//! Reading and editing the positioned tree between reading and decoding:
//! `include`, `extends` and path resolution work on it, as Compose works
//! on the raw YAML before it becomes a project.

use super::node::{Entry, Node, Value};

/// The value of `key` in a mapping.
pub fn field<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.value {
        Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
        _ => None,
    }
}

pub fn field_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match &mut node.value {
        Value::Map(entries) => entries
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.value),
        _ => None,
    }
}

/// Removes `key` from a mapping and returns its value.
pub fn take_field(node: &mut Node, key: &str) -> Option<Node> {
    let Value::Map(entries) = &mut node.value else {
        return None;
    };
    let index = entries.iter().position(|e| e.key == key)?;
    Some(entries.remove(index).value)
}

/// Sets an entry of a mapping, in place of one with the same key.
pub fn set_field(node: &mut Node, entry: Entry) {
    if let Value::Map(entries) = &mut node.value {
        match entries.iter().position(|e| e.key == entry.key) {
            Some(i) => entries[i] = entry,
            None => entries.push(entry),
        }
    }
}

/// The entries of the mapping at `key` (`services`, `secrets`...).
pub fn section_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Vec<Entry>> {
    match field_mut(node, key) {
        Some(Node {
            value: Value::Map(entries),
            ..
        }) => Some(entries),
        _ => None,
    }
}
