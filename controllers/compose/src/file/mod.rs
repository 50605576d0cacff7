//! Compose files: read with positions, variables substituted, every field
//! decoded or refused. What this module accepts, the engine runs exactly;
//! what it does not understand is an error naming `file:line:col`, never
//! silently dropped.

mod decode;
mod edit;
mod env_file;
mod extends;
mod files;
mod image;
mod include;
mod interpolate;
mod load;
mod merge;
mod node;
mod order;
mod paths;
mod ports;
mod projected;
mod resources;
mod service;
mod volumes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use image::{ImageRef, DEFAULT_REGISTRY};
// Public for the fuzz targets (fuzz/), which feed them any text.
pub use env_file::{parse as parse_env_file, EnvFile};
pub use interpolate::{interpolate, Substituted, Variables};
pub use node::Position;
pub use ports::PortMapping;
pub use projected::{Content, ProjectedFile, Source};
pub use resources::{Ipam, NetworkOptions, Pool, Resource, Subnet};
pub use service::{
    Blkio, Condition, Dependency, DeviceRequest, Endpoint, Healthcheck, Isolation, Limits, Logging,
    PullPolicy, Relation, Service, Ulimit,
};
pub use volumes::{Mount, MountKind, TmpfsOptions, VolumesFrom};

use decode::{named_entries, Fields, Problem, Problems, Warnings};
use files::Files;
use node::{Node, Value};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{}:{}: {message}", file.display(), at.line, at.column)]
    Invalid {
        file: PathBuf,
        at: Position,
        message: String,
    },
}

/// Something a load accepted without acting on it, as `docker compose`
/// would warn of it: `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub at: Position,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.at.line,
            self.at.column,
            self.message
        )
    }
}

/// Every problem found loading one project, file by file.
#[derive(Debug)]
pub struct FileErrors(pub Vec<FileError>);

impl std::fmt::Display for FileErrors {
    /// One line, for conditions and logs; callers that show problems to
    /// people list `.0` instead.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

/// A loaded compose project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub name: String,
    /// The compose file's directory: relative paths and `.env` are found here.
    pub dir: PathBuf,
    pub file: PathBuf,
    /// The services enabled by the active profiles.
    pub services: BTreeMap<String, Service>,
    pub networks: BTreeMap<String, Resource>,
    pub volumes: BTreeMap<String, Resource>,
    /// Service names, dependencies first.
    pub start_order: Vec<String>,
    /// What was accepted but has no effect here.
    pub warnings: Vec<Warning>,
    /// `sha256:...` of every compose and env file the project was read
    /// from, in the order read: a change of any of them changes it, where
    /// the Service object that names the project would not change.
    pub files_digest: String,
}

/// What the caller decides about a load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Overrides the file's `name:` and the directory name.
    pub project_name: Option<String>,
    /// Services with `profiles:` run only when one of them is listed here.
    pub profiles: Vec<String>,
    /// Variables that win over `.env` (normally the process environment).
    pub environment: BTreeMap<String, String>,
    /// Read instead of the `.env` beside the compose file (`--env-file`).
    pub env_file: Option<PathBuf>,
}

impl LoadOptions {
    pub fn with_process_environment() -> Self {
        LoadOptions {
            environment: std::env::vars().collect(),
            ..LoadOptions::default()
        }
    }
}

/// Reads the compose file at `path`, the `.env` beside it and every file
/// they name, and decodes the project; every problem of all of them is
/// reported, each in its own file.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Project, FileErrors> {
    let mut files = Files::in_dir(path.parent().unwrap_or(Path::new("")));
    let warnings = Warnings::default();
    let project = load::read(path, options, &mut files)
        .and_then(|read| decode_project(read, &warnings, &mut files));
    match project {
        Some(mut project) if !files.has_problems() => {
            project.files_digest = files.digest();
            project.warnings = warnings
                .into_inner()
                .into_iter()
                .map(|p| Warning {
                    file: files.path(p.at.source).to_path_buf(),
                    at: p.at,
                    message: p.message,
                })
                .collect();
            Ok(project)
        }
        _ => Err(FileErrors(files.into_problems())),
    }
}

/// The project, or `None` when it has problems (recorded in `files`).
fn decode_project(read: load::Read, warnings: &Warnings, files: &mut Files) -> Option<Project> {
    let problems = Problems::default();
    let project = decode(read, warnings, &problems);
    for p in problems.into_inner() {
        files.decoding_problem(p.at, p.message);
    }
    project
}

/// Decodes what can be, a problem per service and per top-level section.
fn decode(read: load::Read, warnings: &Warnings, problems: &Problems) -> Option<Project> {
    let root = &read.root;
    let dir = &read.dir;
    let variables = &read.variables;
    let mut f = problems.keep(Fields::of(root, "the compose file"))?;
    // `version` only chose a schema in the past; Compose ignores it too.
    f.take("version");
    // Read with the project's name already.
    f.take("name");
    let networks = f
        .decode("networks", problems, |n| resources::resources(n, "network"))
        .unwrap_or_default();
    let volumes = f
        .decode("volumes", problems, |n| resources::resources(n, "volume"))
        .unwrap_or_default();
    let definitions = |f: &mut Fields<'_>, kind: projected::Kind| match f.take(kind.section()) {
        Some(n) => projected::definitions(n, kind, dir, variables, warnings, problems),
        None => BTreeMap::new(),
    };
    let secrets = definitions(&mut f, projected::Kind::Secret);
    let configs = definitions(&mut f, projected::Kind::Config);
    let services_node = f.take("services");
    f.finish_into(problems);
    let Some(services_node) = services_node else {
        problems.push(Problem::new(root.at, "the compose file has no `services:`"));
        return None;
    };

    let declared_volumes: BTreeSet<String> = volumes.keys().cloned().collect();
    let entries = problems.keep(named_entries(services_node, "services"))?;
    let mut services = BTreeMap::new();
    // Services that did not decode: what depends on them is not wrong too.
    let mut broken: BTreeSet<&str> = read.unresolved.iter().map(String::as_str).collect();
    for entry in entries {
        if broken.contains(entry.key.as_str()) {
            continue;
        }
        let scope = service::Scope {
            name: &entry.key,
            project_dir: dir,
            variables,
            env_files: &read.env_files,
            label_files: &read.label_files,
            declared_volumes: &declared_volumes,
            networks: &networks,
            secrets: &secrets,
            configs: &configs,
            warnings,
            problems,
        };
        let Some(decoded) = service::service(&entry.value, &scope) else {
            broken.insert(entry.key.as_str());
            continue;
        };
        let enabled = decoded.profiles.is_empty()
            || decoded.profiles.iter().any(|p| read.profiles.contains(p));
        if enabled {
            services.insert(entry.key.clone(), decoded);
        }
    }
    if services.is_empty() && broken.is_empty() && !entries.is_empty() {
        problems.push(Problem::new(
            services_node.at,
            "no service is enabled by the active profiles",
        ));
    }
    let enabled: BTreeSet<String> = services.keys().cloned().collect();
    for entry in entries {
        let Some(service) = services.get_mut(&entry.key) else {
            continue;
        };
        // `required: false`: a dependency the profiles leave out is
        // dropped, as Compose drops it.
        service.depends_on.retain(|name, dependency| {
            let dropped = !dependency.required
                && !enabled.contains(name)
                && entries.iter().any(|e| e.key == *name);
            if dropped {
                warnings.push(
                    dependency_position(&entry.value, name),
                    format!("service `{}` does not wait for `{name}`: it is not required and not enabled by the active profiles", entry.key),
                );
            }
            !dropped
        });
        let missing = service
            .relations()
            .into_iter()
            .filter(|(name, _)| !enabled.contains(*name) && !broken.contains(name));
        for (missing, relation) in missing {
            let why = if entries.iter().any(|e| e.key == missing) {
                "is not enabled by the active profiles"
            } else {
                "is not a service of this file"
            };
            let at = match relation {
                Relation::DependsOn => dependency_position(&entry.value, missing),
                other => field_position(&entry.value, other.key()),
            };
            problems.push(Problem::new(
                at,
                format!(
                    "service `{}` {} `{missing}`, which {why}",
                    entry.key,
                    relation.phrase()
                ),
            ));
        }
    }
    if problems.count() > 0 || !broken.is_empty() {
        // The order needs every dependency there.
        return None;
    }
    let start_order = match order::start_order(&services) {
        Ok(order) => order,
        Err(cycle) => {
            let first = entries
                .iter()
                .find(|e| e.key == cycle.0[0])
                .map_or(services_node.at, |e| e.key_at);
            problems.push(Problem::new(
                first,
                format!("dependency cycle: {}", cycle.0.join(" -> ")),
            ));
            return None;
        }
    };
    Some(Project {
        name: read.name,
        dir: read.dir,
        file: read.file,
        services,
        networks,
        volumes,
        start_order,
        warnings: Vec::new(),
        files_digest: String::new(),
    })
}

/// Where a service's `key` has its value, for pointing at it.
fn field_position(service: &Node, key: &str) -> Position {
    match &service.value {
        Value::Map(fields) => fields
            .iter()
            .find(|e| e.key == key)
            .map_or(service.at, |e| e.value.at),
        _ => service.at,
    }
}

/// Where `depends_on` names `target`, for pointing at it.
fn dependency_position(service: &Node, target: &str) -> Position {
    let Value::Map(fields) = &service.value else {
        return service.at;
    };
    let Some(depends_on) = fields.iter().find(|e| e.key == "depends_on") else {
        return service.at;
    };
    let found = match &depends_on.value.value {
        Value::Map(entries) => entries.iter().find(|e| e.key == target).map(|e| e.key_at),
        Value::Seq(items) => items
            .iter()
            .find(|i| i.value == Value::String(target.to_string()))
            .map(|i| i.at),
        _ => None,
    };
    found.unwrap_or(depends_on.key_at)
}

/// Docker Compose keeps lowercase letters, digits, `-` and `_`, and starts
/// with a letter or digit.
pub fn normalize_project_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    kept.trim_start_matches(['-', '_']).to_string()
}

/// For tests across the crate: `text` loaded as the `compose.yaml` of a
/// temporary directory.
#[cfg(test)]
pub(crate) fn load_text_with(text: &str, options: &LoadOptions) -> Result<Project, FileErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compose.yaml");
    std::fs::write(&path, text).unwrap();
    load(&path, options)
}

/// [`load_text_with`] the default options.
#[cfg(test)]
pub(crate) fn load_text(text: &str) -> Result<Project, FileErrors> {
    load_text_with(text, &LoadOptions::default())
}

/// [`load_text`] as project `shop`, which must load.
#[cfg(test)]
pub(crate) fn shop(text: &str) -> Project {
    let options = LoadOptions {
        project_name: Some("shop".into()),
        ..LoadOptions::default()
    };
    load_text_with(text, &options).expect("a valid compose file")
}

/// For tests across the crate: fails unless there are as many `problems`
/// as `expected` patterns and each problem reads as its pattern says. A
/// pattern is the start of the problem; a `…` in it skips text that is not
/// pinned (a temporary path), after which the rest must follow in order.
#[cfg(test)]
#[track_caller]
pub(crate) fn assert_problems(problems: &[String], expected: &[&str]) {
    assert_eq!(problems.len(), expected.len(), "{problems:?}");
    for (problem, pattern) in problems.iter().zip(expected) {
        let mut parts = pattern.split('…');
        let start = parts.next().unwrap_or_default();
        let mut rest = problem.strip_prefix(start);
        for part in parts {
            rest = rest.and_then(|r| r.find(part).map(|at| &r[at + part.len()..]));
        }
        assert!(rest.is_some(), "{problem:?} does not read {pattern:?}");
    }
}

#[cfg(test)]
mod tests;
