//! The crate's layout is its design: `src/core` is sans-IO, `src/io` the
//! shell, `src/controller` the VirtualIP controller. Read from the
//! sources: no file of the core names the shell or the controller, nor a
//! crate that does I/O, so the core stays deterministic and the golden
//! and property tests keep covering what it decides.

use std::path::{Path, PathBuf};

/// Paths a core file must not name.
const OUTSIDE_THE_CORE: &[&str] = &[
    "crate::io",
    "crate::controller",
    "super::super::",
    "tokio",
    "nix::",
    "rtnetlink",
    "socket2",
    "libc::",
    "hareconcile_runtime",
    "std::net::UdpSocket",
    "std::time::Instant",
    "std::time::SystemTime",
    "std::fs",
    "std::process",
];

#[test]
fn the_layers_are_directories() {
    let src = src();
    for layer in ["core", "io", "controller"] {
        assert!(src.join(layer).is_dir(), "src/{layer}/ is missing");
    }
}

#[test]
fn the_core_names_nothing_of_the_shell() {
    let mut offences = Vec::new();
    for file in rust_files(&src().join("core")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for name in OUTSIDE_THE_CORE {
                if code.contains(name) {
                    offences.push(format!("{}:{}: {name}", file.display(), number + 1));
                }
            }
        }
    }
    for file in rust_files(&src().join("core")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for layer in grouped_imports_outside_the_core(&text) {
            offences.push(format!("{}: use crate::{{{layer}..}}", file.display()));
        }
    }
    assert!(
        offences.is_empty(),
        "the sans-IO core names the shell or an I/O crate (move the decision into the core as an input and an action, or the I/O into src/io):\n{}",
        offences.join("\n")
    );
}

/// The shell's or the controller's modules named inside a grouped import
/// (`use crate::{core::State, io::shell};`, over several lines), which the
/// line check above cannot see.
fn grouped_imports_outside_the_core(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    let mut found = Vec::new();
    for statement in code.split(';') {
        let statement: String = statement.split_whitespace().collect();
        let Some(group) = statement
            .find("crate::{")
            .map(|at| &statement[at + "crate::{".len()..])
        else {
            continue;
        };
        // The group's own items: the first path segment of each, at depth 0.
        let mut depth = 0;
        let mut item_start = true;
        for (at, c) in group.char_indices() {
            if item_start && depth == 0 {
                for layer in ["io", "controller"] {
                    let rest = &group[at..];
                    if rest.starts_with(layer) && rest[layer.len()..].starts_with([':', ',', '}']) {
                        found.push(layer.to_string());
                    }
                }
            }
            item_start = false;
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = true,
                _ => {}
            }
        }
    }
    found
}

#[test]
fn grouped_imports_are_read_too() {
    let text = "use crate::{\n    core::State, // io::not_this\n    io::shell,\n};\nuse crate::{controller};";
    assert_eq!(grouped_imports_outside_the_core(text), ["io", "controller"]);
    assert!(grouped_imports_outside_the_core("use crate::{core::{io_rate, State}};").is_empty());
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
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
