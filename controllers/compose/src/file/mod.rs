//! Compose files: read with positions, variables substituted, every field
//! decoded or refused. What this module accepts, the engine runs exactly;
//! what it does not understand is an error naming `file:line:col`, never
//! silently dropped.

mod decode;
mod env_file;
mod image;
mod interpolate;
mod node;
mod order;
mod ports;
mod projected;
mod resources;
mod service;
mod volumes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use image::{ImageRef, DEFAULT_REGISTRY};
pub use interpolate::Variables;
pub use node::Position;
pub use ports::PortMapping;
pub use projected::{Content, ProjectedFile, Source};
pub use resources::{Ipam, NetworkOptions, Pool, Resource, Subnet};
pub use service::{
    Condition, Dependency, DeviceRequest, Endpoint, Healthcheck, Isolation, Limits, Logging,
    PullPolicy, Relation, Service, Ulimit,
};
pub use volumes::{Mount, MountKind, TmpfsOptions, VolumesFrom};

use decode::{named_entries, string, Fields, Problem, Warnings};
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

/// Reads the compose file at `path` and the `.env` beside it.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Project, FileError> {
    let read = |file: &Path| {
        std::fs::read_to_string(file).map_err(|source| FileError::Read {
            file: file.to_path_buf(),
            source,
        })
    };
    let text = read(path)?;
    let absolute = std::path::absolute(path).map_err(|source| FileError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let dir = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
    let dot_env = match &options.env_file {
        Some(file) => env_file::parse(&read(file)?),
        None => match std::fs::read_to_string(dir.join(".env")) {
            Ok(text) => env_file::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(FileError::Read {
                    file: dir.join(".env"),
                    source,
                })
            }
        },
    };
    let variables = Variables::new(dot_env, options.environment.clone());
    let invalid = |p: Problem| FileError::Invalid {
        file: path.to_path_buf(),
        at: p.at,
        message: p.message,
    };
    // Until the loader reports every problem, the first stands for all.
    let root = node::parse(&text).map_err(|mut e| {
        let first = e.swap_remove(0);
        invalid(Problem::new(first.at, first.message))
    })?;
    let root = substitute(root, &variables).map_err(invalid)?;
    let warnings = Warnings::default();
    let mut project =
        decode_project(&root, absolute, dir, &variables, options, &warnings).map_err(invalid)?;
    project.warnings = warnings
        .into_inner()
        .into_iter()
        .map(|p| Warning {
            file: path.to_path_buf(),
            at: p.at,
            message: p.message,
        })
        .collect();
    Ok(project)
}

/// Interpolates every string value (never keys), as Compose does.
fn substitute(node: Node, variables: &Variables) -> Result<Node, Problem> {
    let value = match node.value {
        Value::String(s) => Value::String(
            interpolate::interpolate(&s, variables).map_err(|m| Problem::new(node.at, m))?,
        ),
        Value::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|i| substitute(i, variables))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|mut e| {
                    e.value = substitute(e.value, variables)?;
                    Ok(e)
                })
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    };
    Ok(Node { at: node.at, value })
}

fn decode_project(
    root: &Node,
    file: PathBuf,
    dir: PathBuf,
    variables: &Variables,
    options: &LoadOptions,
    warnings: &Warnings,
) -> Result<Project, Problem> {
    let mut f = Fields::of(root, "the compose file")?;
    // `version` only chose a schema in the past; Compose ignores it too.
    f.take("version");
    let name = f.take("name").map(|n| string(n, "name")).transpose()?;
    let networks = f
        .take("networks")
        .map(|n| resources::resources(n, "network"))
        .transpose()?
        .unwrap_or_default();
    let volumes = f
        .take("volumes")
        .map(|n| resources::resources(n, "volume"))
        .transpose()?
        .unwrap_or_default();
    let secrets = f
        .take("secrets")
        .map(|n| projected::definitions(n, projected::Kind::Secret, &dir, variables, warnings))
        .transpose()?
        .unwrap_or_default();
    let configs = f
        .take("configs")
        .map(|n| projected::definitions(n, projected::Kind::Config, &dir, variables, warnings))
        .transpose()?
        .unwrap_or_default();
    let services_node = f.take("services");
    f.finish()?;
    let services_node = services_node
        .ok_or_else(|| Problem::new(root.at, "the compose file has no `services:`"))?;

    let declared_volumes: BTreeSet<String> = volumes.keys().cloned().collect();
    let entries = named_entries(services_node, "services")?;
    let mut services = BTreeMap::new();
    for entry in entries {
        let scope = service::Scope {
            name: &entry.key,
            project_dir: &dir,
            variables,
            declared_volumes: &declared_volumes,
            networks: &networks,
            secrets: &secrets,
            configs: &configs,
            warnings,
        };
        let decoded = service::service(&entry.value, &scope)?;
        let enabled = decoded.profiles.is_empty()
            || decoded
                .profiles
                .iter()
                .any(|p| options.profiles.contains(p));
        if enabled {
            services.insert(entry.key.clone(), decoded);
        }
    }
    if services.is_empty() && !entries.is_empty() {
        return Err(Problem::new(
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
            .find(|(name, _)| !enabled.contains(*name));
        if let Some((missing, relation)) = missing {
            let why = if entries.iter().any(|e| e.key == missing) {
                "is not enabled by the active profiles"
            } else {
                "is not a service of this file"
            };
            let at = match relation {
                Relation::DependsOn => dependency_position(&entry.value, missing),
                other => field_position(&entry.value, other.key()),
            };
            return Err(Problem::new(
                at,
                format!(
                    "service `{}` {} `{missing}`, which {why}",
                    entry.key,
                    relation.phrase()
                ),
            ));
        }
    }
    let start_order = order::start_order(&services).map_err(|cycle| {
        let first = entries
            .iter()
            .find(|e| e.key == cycle.0[0])
            .map_or(services_node.at, |e| e.key_at);
        Problem::new(first, format!("dependency cycle: {}", cycle.0.join(" -> ")))
    })?;
    let name = options.project_name.clone().or(name).unwrap_or_else(|| {
        normalize_project_name(
            dir.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("default"),
        )
    });
    Ok(Project {
        name,
        dir,
        file,
        services,
        networks,
        volumes,
        start_order,
        warnings: Vec::new(),
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

/// Docker Compose 1.29 keeps lowercase letters, digits, `-` and `_`.
pub fn normalize_project_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect()
}

#[cfg(test)]
mod tests;
