//! The names and labels Docker Compose 1.29 gives what it creates, so that
//! `docker-compose ps`, `logs` and `down` see hareconcile's containers as
//! their own and hareconcile adopts theirs.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::file::{Project, Service};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// The Compose release whose conventions these are. Compose compares it
/// with its own and only warns on a difference, so claiming the release
/// Debian ships keeps its output quiet.
pub const COMPOSE_VERSION: &str = "1.29.2";

/// Container `number` (from 1) of `service`: `PROJECT_SERVICE_N`, as
/// Compose 1.29 names containers (Compose v2 uses dashes; 1.29 is what
/// this cluster's operators run), or the service's `container_name`.
/// A service that sets `container_name` has one container.
pub fn container_name(project: &Project, service: &str, number: u32) -> String {
    match project
        .services
        .get(service)
        .and_then(|s| s.container_name.as_deref())
    {
        Some(name) => name.to_string(),
        None => format!("{}_{service}_{number}", project.name),
    }
}

/// The names of every container the service should have, by number.
pub fn container_names(project: &Project, service: &str) -> Vec<(u32, String)> {
    let replicas = project.services.get(service).map_or(0, |s| s.replicas);
    (1..=replicas)
        .map(|number| (number, container_name(project, service, number)))
        .collect()
}

/// The engine name of a project network: `PROJECT_KEY` unless `name:` says otherwise.
pub fn network_name(project: &Project, key: &str) -> String {
    resource_name(
        project.name.as_str(),
        key,
        project.networks.get(key).and_then(|n| n.name.as_deref()),
    )
}

pub fn volume_name(project: &Project, key: &str) -> String {
    resource_name(
        project.name.as_str(),
        key,
        project.volumes.get(key).and_then(|v| v.name.as_deref()),
    )
}

fn resource_name(project: &str, key: &str, explicit: Option<&str>) -> String {
    match explicit {
        Some(name) => name.to_string(),
        None => format!("{project}_{key}"),
    }
}

/// A digest of everything that decides how the service's container is
/// created: any change to it means the container must be recreated.
pub fn config_hash(project: &Project, service: &Service) -> String {
    let mut hasher = Sha256::new();
    // Serialising the decoded service cannot fail: it has only strings,
    // numbers, maps with string keys and lists.
    hasher.update(serde_json::to_vec(service).unwrap_or_default());
    for network in service.networks.keys() {
        hasher.update(network_name(project, network).as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The labels of a service's container: the file's own, then Compose's.
pub fn container_labels(
    project: &Project,
    name: &str,
    service: &Service,
    number: u32,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = service.labels.clone().into_iter().collect();
    let config_file = project
        .file
        .strip_prefix(&project.dir)
        .unwrap_or(&project.file)
        .display()
        .to_string();
    for (key, value) in [
        (PROJECT, project.name.clone()),
        (SERVICE, name.to_string()),
        (CONTAINER_NUMBER, number.to_string()),
        (ONEOFF, "False".to_string()),
        (CONFIG_HASH, config_hash(project, service)),
        (WORKING_DIR, project.dir.display().to_string()),
        (CONFIG_FILES, config_file),
        (VERSION, COMPOSE_VERSION.to_string()),
    ] {
        labels.insert(key.to_string(), value);
    }
    labels
}

/// Labels of a network or volume the project creates; `kind_label` is
/// [`NETWORK`] or [`VOLUME`].
pub fn resource_labels(
    project: &str,
    kind_label: &str,
    key: &str,
    own: &std::collections::BTreeMap<String, String>,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = own.clone().into_iter().collect();
    labels.insert(PROJECT.to_string(), project.to_string());
    labels.insert(kind_label.to_string(), key.to_string());
    labels.insert(VERSION.to_string(), COMPOSE_VERSION.to_string());
    labels
}

/// (project, service, number) of a container by its Compose labels, if
/// it is a service's container (not a one-off run). Containers
/// created before the number label existed count as number 1.
pub fn identity(labels: &HashMap<String, String>) -> Option<(&str, &str, u32)> {
    if labels.get(ONEOFF).is_some_and(|v| v == "True") {
        return None;
    }
    let number = match labels.get(CONTAINER_NUMBER) {
        Some(n) => n.parse().ok()?,
        None => 1,
    };
    Some((labels.get(PROJECT)?, labels.get(SERVICE)?, number))
}

/// Whose a container is, for an error about a name it holds.
pub fn describe_identity(identity: Option<(&str, &str, u32)>) -> String {
    match identity {
        Some((project, service, number)) => {
            format!("it is container {number} of service {service} of project {project}")
        }
        None => "it is not a compose service's container".to_string(),
    }
}

/// Labels that describe how a stack was invoked rather than what runs:
/// an adopted container keeps the ones `docker-compose` wrote.
pub fn is_invocation_label(key: &str) -> bool {
    matches!(key, CONFIG_HASH | WORKING_DIR | CONFIG_FILES | VERSION)
}
