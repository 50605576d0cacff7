//! `extends`: a service built on another one of the same file
//! (`extends: base` or `{service: base}`) or of another file
//! (`{file: common.yaml, service: base}`), which it overrides by Compose's
//! merge rules. The base's own `extends` is applied first; the paths of a
//! base from another file stay relative to that file.

use std::path::{Path, PathBuf};

use super::edit::{field, section_mut, take_field};
use super::files::Files;
use super::interpolate::Variables;
use super::merge::merge;
use super::node::{Entry, Node, Position, Value};
use super::paths::absolutize_service;

/// Applies `extends` in every service of `root`, read from `file`, and
/// returns the services it could not be applied to (the problems are
/// recorded): they are not decoded, which would only find what the base
/// was to give them missing.
pub fn apply(
    root: &mut Node,
    file: &Path,
    files: &mut Files,
    variables: &Variables,
) -> Vec<String> {
    let Some(services) = section_mut(root, "services") else {
        return Vec::new();
    };
    let mut extender = Extender {
        files,
        variables,
        chain: Vec::new(),
    };
    let mut unresolved = Vec::new();
    for index in 0..services.len() {
        if extender.resolve(services, index, file).is_none() {
            unresolved.push(services[index].key.clone());
        }
    }
    unresolved
}

struct Extender<'a> {
    files: &'a mut Files,
    variables: &'a Variables,
    /// The services being resolved, to catch a cycle.
    chain: Vec<(PathBuf, String)>,
}

/// What `extends` names.
struct Base {
    service: String,
    service_at: Position,
    file: Option<(PathBuf, Position)>,
}

impl Extender<'_> {
    /// Resolves `services[index]` in place and returns it, or `None` when
    /// it could not be (the problem is recorded). Its `extends` is gone
    /// either way, so a service is resolved once.
    fn resolve(&mut self, services: &mut [Entry], index: usize, file: &Path) -> Option<Node> {
        let name = services[index].key.clone();
        let Some(extends) = take_field(&mut services[index].value, "extends") else {
            return Some(services[index].value.clone());
        };
        let dir = file.parent().unwrap_or(Path::new("/"));
        let base = self.base_of(&extends, dir)?;
        let key = (
            base.file.as_ref().map_or(file, |f| &f.0).to_path_buf(),
            base.service.clone(),
        );
        self.chain.push((file.to_path_buf(), name.clone()));
        if let Some(start) = self.chain.iter().position(|link| *link == key) {
            let cycle: Vec<&str> = self.chain[start..]
                .iter()
                .map(|(_, s)| s.as_str())
                .chain([base.service.as_str()])
                .collect();
            let message = format!("extends cycle: {}", cycle.join(" -> "));
            self.chain.pop();
            self.files.problem(extends.at, message);
            return None;
        }
        let resolved = match &base.file {
            None => self.same_file(services, &name, &base, file),
            Some((other, at)) => self.other_file(&name, &base, other, *at),
        };
        self.chain.pop();
        let merged = merge(
            resolved?,
            services[index].value.clone(),
            &["services", &name],
        );
        match merged {
            Ok(service) => {
                services[index].value = service.clone();
                Some(service)
            }
            Err(problem) => {
                self.files.problem(problem.at, problem.message);
                None
            }
        }
    }

    fn same_file(
        &mut self,
        services: &mut [Entry],
        name: &str,
        base: &Base,
        file: &Path,
    ) -> Option<Node> {
        match services.iter().position(|s| s.key == base.service) {
            Some(j) => self.resolve(services, j, file),
            None => {
                self.files.problem(
                    base.service_at,
                    format!(
                        "service `{name}` extends `{}`, which is not a service of this file",
                        base.service
                    ),
                );
                None
            }
        }
    }

    fn other_file(&mut self, name: &str, base: &Base, other: &Path, at: Position) -> Option<Node> {
        let mut root =
            self.files
                .compose_file_cached(other, (at, "extends file"), self.variables)?;
        let mut no_services = Vec::new();
        let services = section_mut(&mut root, "services").unwrap_or(&mut no_services);
        let Some(j) = services.iter().position(|s| s.key == base.service) else {
            self.files.problem(
                base.service_at,
                format!(
                    "service `{name}` extends `{}`, which is not a service of {}",
                    base.service,
                    other.display()
                ),
            );
            return None;
        };
        let mut service = self.resolve(services, j, other)?;
        absolutize_service(&mut service, other.parent().unwrap_or(Path::new("/")));
        Some(service)
    }

    /// `extends: NAME` or `{service: NAME, file: PATH}`.
    fn base_of(&mut self, extends: &Node, dir: &Path) -> Option<Base> {
        let text = |node: &Node| match &node.value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(service) = text(extends) {
            return Some(Base {
                service,
                service_at: extends.at,
                file: None,
            });
        }
        let Value::Map(entries) = &extends.value else {
            self.files.problem(
                extends.at,
                "extends must name a service, or be {service: NAME, file: PATH}",
            );
            return None;
        };
        if let Some(unknown) = entries
            .iter()
            .find(|e| e.key != "service" && e.key != "file")
        {
            self.files.problem(
                unknown.key_at,
                format!(
                    "unsupported key `{}` in extends: it takes `service` and `file`",
                    unknown.key
                ),
            );
            return None;
        }
        let Some((service, service_at)) =
            field(extends, "service").and_then(|n| Some((text(n)?, n.at)))
        else {
            self.files.problem(
                extends.at,
                "extends needs `service`: the name of the service to extend",
            );
            return None;
        };
        let file = match field(extends, "file") {
            None => None,
            Some(node) => match text(node) {
                Some(path) => Some((dir.join(path), node.at)),
                None => {
                    self.files.problem(node.at, "extends `file` must be a path");
                    return None;
                }
            },
        };
        Some(Base {
            service,
            service_at,
            file,
        })
    }
}
