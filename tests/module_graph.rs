//! The binary's modules form a graph without cycles, and its domain
//! modules build on the leaf view only: the drift report and the
//! switchover depend on the store, the model and `cluster_view`, never on
//! the transports (`api`, `peer`) or the agent wiring that carry them.
//! Read from the sources, so it needs no tool and runs with the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each domain module may use of the crate, besides itself.
const DOMAIN: &[(&str, &[&str])] = &[
    ("cluster_view", &[]),
    ("math", &[]),
    ("switchover", &[]),
    ("batch", &[]),
    ("trials", &[]),
    ("drift", &["cluster_view"]),
];

#[test]
fn the_binary_module_graph_has_no_cycle() {
    let graph = module_graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "modules of src/ import each other in a circle: {}\n(move the shared piece down into a leaf module)",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn domain_modules_build_on_the_leaf_view_only() {
    let graph = module_graph();
    for (module, allowed) in DOMAIN {
        let uses = graph.get(*module).cloned().unwrap_or_default();
        let extra: Vec<&String> = uses
            .iter()
            .filter(|m| !allowed.contains(&m.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "src/{module} uses {extra:?}, but may use only {allowed:?} of the crate"
        );
    }
}

/// Top-level module -> the top-level modules its files name (`crate::X`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for used in crate_paths(&text) {
            if used != module {
                uses.insert(used);
            }
        }
    }
    graph
}

/// The first segment of every `crate::` path, braces included
/// (`crate::{a, b::c}` names `a` and `b`).
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `hareconcile_model::...crate::` cannot occur, but `mycrate::` can
        }
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(group.split(',').filter_map(|item| identifier(item.trim())));
        } else {
            found.extend(identifier(rest));
        }
    }
    found
}

fn identifier(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// A cycle as the modules along it, first repeated at the end.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn a_cycle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("api", vec!["drift"]),
        ("drift", vec!["peer"]),
        ("peer", vec!["api"]),
        ("cli", vec!["api"]),
    ]
    .into_iter()
    .map(|(m, uses)| (m.to_string(), uses.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_cycle(&graph).unwrap(), ["api", "drift", "peer", "api"]);
    assert_eq!(
        crate_paths("use crate::{agent::gitops, api};\nlet x = crate::drift::Finding;"),
        ["agent", "api", "drift"]
    );
}
