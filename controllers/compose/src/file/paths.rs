//! Relative paths in what is read from another directory. Services of an
//! included file run in the including project, and a service extended from
//! a file elsewhere keeps its paths relative to that file, so their paths
//! are made absolute against their own directory first, as Compose does.

use std::path::{Component, Path, PathBuf};

use super::edit::{field_mut, section_mut};
use super::node::{Node, Value};

/// Every path of every service, and of top-level secrets and configs.
pub fn absolutize_project(root: &mut Node, dir: &Path) {
    for section in ["secrets", "configs"] {
        for resource in section_mut(root, section).into_iter().flatten() {
            if let Some(file) = field_mut(&mut resource.value, "file") {
                absolutize_path(file, dir);
            }
        }
    }
    for service in section_mut(root, "services").into_iter().flatten() {
        absolutize_service(&mut service.value, dir);
    }
}

/// The host paths of one service: bind mounts, env and label files, the
/// build context.
pub fn absolutize_service(service: &mut Node, dir: &Path) {
    if let Some(volumes) = field_mut(service, "volumes") {
        for volume in items_mut(volumes) {
            absolutize_volume(volume, dir);
        }
    }
    for field in ["env_file", "label_file"] {
        if let Some(files) = field_mut(service, field) {
            match &mut files.value {
                Value::String(_) => absolutize_path(files, dir),
                Value::Seq(items) => {
                    for item in items {
                        match field_mut(item, "path") {
                            Some(path) => absolutize_path(path, dir),
                            None => absolutize_path(item, dir),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(build) = field_mut(service, "build") {
        match field_mut(build, "context") {
            Some(context) => absolutize_context(context, dir),
            None => absolutize_context(build, dir),
        }
    }
}

/// `./data:/data:ro` or `{type: bind, source: ./data, ...}`: a source that
/// starts with `.` is a path; anything else is a volume name or absolute.
fn absolutize_volume(volume: &mut Node, dir: &Path) {
    match &mut volume.value {
        Value::String(spec) => {
            if let Some((source, rest)) = spec.split_once(':') {
                if source.starts_with('.') {
                    *spec = format!("{}:{rest}", absolute(dir, source));
                }
            }
        }
        Value::Map(_) => {
            if let Some(source) = field_mut(volume, "source") {
                if matches!(&source.value, Value::String(s) if s.starts_with('.')) {
                    absolutize_path(source, dir);
                }
            }
        }
        _ => {}
    }
}

fn absolutize_path(node: &mut Node, dir: &Path) {
    if let Value::String(path) = &mut node.value {
        if !path.is_empty() && !Path::new(path.as_str()).is_absolute() {
            *path = absolute(dir, path);
        }
    }
}

/// A build context may be a URL (`https://...`, `git@...`), left as is.
fn absolutize_context(node: &mut Node, dir: &Path) {
    if matches!(&node.value, Value::String(s) if !s.contains("://") && !s.starts_with("git@")) {
        absolutize_path(node, dir);
    }
}

/// `dir/relative`, cleaned.
fn absolute(dir: &Path, relative: &str) -> String {
    lexically_clean(&dir.join(relative)).display().to_string()
}

/// `path` with `.` and `..` resolved as text, as Compose does: `./data`
/// and `../conf` joined to a directory keep their dots, and Docker wants
/// the path itself (which need not exist yet; symlinks are the engine's
/// to follow).
pub fn lexically_clean(path: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

fn items_mut(node: &mut Node) -> &mut [Node] {
    match &mut node.value {
        Value::Seq(items) => items,
        _ => &mut [],
    }
}

#[cfg(test)]
mod tests {
    use super::super::node::parse;
    use super::*;

    fn text(node: &Node, path: &[&str]) -> String {
        let mut node = node.clone();
        for key in path {
            node = match key.parse::<usize>() {
                Ok(i) => match node.value {
                    Value::Seq(mut items) => items.swap_remove(i),
                    _ => panic!(),
                },
                Err(_) => field_mut(&mut node, key).unwrap().clone(),
            };
        }
        match node.value {
            Value::String(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn makes_the_host_paths_of_a_project_absolute() {
        let mut root = parse(
            "services:\n  app:\n    build: ../src\n    env_file: [a.env, {path: ./b.env, required: false}, /etc/c.env]\n    label_file: l.txt\n    volumes:\n      - ./data:/data:ro\n      - named:/named\n      - /abs:/abs\n      - {type: bind, source: ../conf, target: /conf}\n      - {type: volume, source: cache, target: /cache}\n  web:\n    build: {context: https://example.org/repo.git}\n    env_file: web.env\nsecrets:\n  token: {file: ./token.txt}\nconfigs:\n  conf: {file: /etc/app.conf}\n",
        )
        .unwrap();
        absolutize_project(&mut root, Path::new("/stacks/app"));
        let app = ["services", "app"];
        let at = |path: &[&str]| text(&root, &[&app[..], path].concat());
        assert_eq!(at(&["build"]), "/stacks/src");
        assert_eq!(at(&["env_file", "0"]), "/stacks/app/a.env");
        assert_eq!(at(&["env_file", "1", "path"]), "/stacks/app/b.env");
        assert_eq!(at(&["env_file", "2"]), "/etc/c.env");
        assert_eq!(at(&["label_file"]), "/stacks/app/l.txt");
        assert_eq!(at(&["volumes", "0"]), "/stacks/app/data:/data:ro");
        assert_eq!(at(&["volumes", "1"]), "named:/named");
        assert_eq!(at(&["volumes", "2"]), "/abs:/abs");
        assert_eq!(at(&["volumes", "3", "source"]), "/stacks/conf");
        assert_eq!(at(&["volumes", "4", "source"]), "cache");
        assert_eq!(
            text(&root, &["services", "web", "build", "context"]),
            "https://example.org/repo.git"
        );
        assert_eq!(
            text(&root, &["services", "web", "env_file"]),
            "/stacks/app/web.env"
        );
        assert_eq!(
            text(&root, &["secrets", "token", "file"]),
            "/stacks/app/token.txt"
        );
        assert_eq!(text(&root, &["configs", "conf", "file"]), "/etc/app.conf");
    }
}
