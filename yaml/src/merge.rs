//! YAML 1.1 merge keys, which Compose files use to share settings:
//! `<<: *defaults` or `<<: [*a, *b]`.

use std::collections::HashSet;

use crate::{Entry, Node, Position, Value};

/// The value of a mapping's `<<` key, and where among the mapping's own
/// entries it was written.
pub(crate) struct MergeSource {
    pub index: usize,
    pub node: Node,
}

/// The mapping's entries with the merged ones in the place of `<<`. A key
/// written in the mapping itself wins wherever it stands; among the merged
/// mappings, an earlier one wins over a later one (the YAML 1.1 rule, as
/// Compose applies it).
pub(crate) fn merge(
    mut entries: Vec<Entry>,
    source: MergeSource,
    error: &mut impl FnMut(Position, &str),
) -> Vec<Entry> {
    const WHAT: &str =
        "`<<` merges a mapping or a list of mappings (e.g. `<<: *defaults`), nothing else";
    let mappings: Vec<Vec<Entry>> = match source.node.value {
        Value::Map(merged) => vec![merged],
        Value::Seq(items) => items
            .into_iter()
            .filter_map(|item| match item.value {
                Value::Map(merged) => Some(merged),
                _ => {
                    error(item.at, WHAT);
                    None
                }
            })
            .collect(),
        _ => {
            error(source.node.at, WHAT);
            return entries;
        }
    };
    let mut taken: HashSet<String> = entries.iter().map(|e| e.key.clone()).collect();
    let merged: Vec<Entry> = mappings
        .into_iter()
        .flatten()
        .filter(|entry| taken.insert(entry.key.clone()))
        .collect();
    entries.splice(source.index..source.index, merged);
    entries
}
