//! One entry of `services:`, decoded into what the engine needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

mod blkio;
mod command;
mod depends_on;
mod deploy;
mod healthcheck;
mod isolation;
mod limits;
mod logging;
mod networks;
mod policies;
mod relations;

pub use blkio::Blkio;
pub use depends_on::{Condition, Dependency};
pub use healthcheck::Healthcheck;
pub use isolation::Isolation;
pub use limits::{DeviceRequest, Limits, Ulimit};
pub use logging::Logging;
pub use networks::Endpoint;
pub use policies::PullPolicy;
pub use relations::Relation;

use super::decode::{
    boolean, duration, is_default, key_values, one_or_many, scalar_text, string, string_list,
    string_map, Decoded, Fields, Problem, Problems, Warnings,
};
use super::env_file;
use super::image::ImageRef;
use super::interpolate::Variables;
use super::node::Node;
use super::ports::{ports, PortMapping};
use super::projected::{self, Definitions, Kind, ProjectedFile};
use super::resources::Resource;
use super::volumes::{mounts, tmpfs, volumes_from, Mount, VolumesFrom};
use command::command;
use depends_on::depends_on;
use deploy::{deploy, replica_count, Deploy};
use healthcheck::healthcheck;
use isolation::isolation;
use limits::{limits, ulimits};
use logging::logging;
use networks::{expose, extra_hosts, links, service_networks};
use policies::{pull_policy, restart};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub image: String,
    /// When the image is pulled. Not part of the container's
    /// configuration: changing it recreates nothing.
    #[serde(skip)]
    pub pull_policy: PullPolicy,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `env_file` entries first, `environment` over them, as in Compose.
    pub environment: BTreeMap<String, String>,
    pub ports: Vec<PortMapping>,
    pub volumes: Vec<Mount>,
    /// Project networks this service joins, with its aliases on each;
    /// empty when `network_mode` is set.
    pub networks: BTreeMap<String, Vec<String>>,
    pub network_mode: Option<String>,
    pub restart: Option<String>,
    pub healthcheck: Option<Healthcheck>,
    pub depends_on: BTreeMap<String, Dependency>,
    pub labels: BTreeMap<String, String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    /// `host:address` pairs for /etc/hosts.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub privileged: bool,
    /// Run an init process as PID 1 (reaps zombies, forwards signals).
    pub init: bool,
    pub devices: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<Duration>,
    pub logging: Option<Logging>,
    pub profiles: Vec<String>,
    // What follows came later: each is left out of the config hash while
    // unset, so containers of services that use none of them keep their
    // hash across an upgrade and are not recreated.
    /// Instead of `PROJECT_SERVICE_1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// How many containers run the service (`scale`, `deploy.replicas`).
    /// Not part of a container's configuration: scaling recreates nothing.
    #[serde(skip)]
    pub replicas: u32,
    /// Fixed addresses and other endpoint settings, by network.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// (service, alias) pairs: the service's first container is reached
    /// under the alias too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<(String, String)>,
    /// `CONTAINER[:ALIAS]`: containers outside the project.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<VolumesFrom>,
    /// The `tmpfs:` key: target to mount options.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ProjectedFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ProjectedFile>,
    #[serde(skip_serializing_if = "is_default")]
    pub limits: Limits,
    #[serde(skip_serializing_if = "is_default")]
    pub isolation: Isolation,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdin_open: bool,
    /// `port/protocol` keys, one per port.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// `os/arch[/variant]` of the image to run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What a service decoder needs from the project around it.
pub struct Scope<'a> {
    pub name: &'a str,
    pub project_dir: &'a Path,
    pub variables: &'a Variables,
    /// Every env file of the project, read.
    pub env_files: &'a env_file::EnvFiles,
    /// Every label file of the project, read.
    pub label_files: &'a env_file::EnvFiles,
    pub declared_volumes: &'a BTreeSet<String>,
    pub networks: &'a BTreeMap<String, Resource>,
    pub secrets: &'a Definitions,
    pub configs: &'a Definitions,
    pub warnings: &'a Warnings,
    pub problems: &'a Problems,
}

/// Decodes one service; `None` when it has problems, each recorded in
/// `scope.problems`: a value that does not decode reads as absent, so the
/// rest of the service is still checked.
pub fn service(node: &Node, scope: &Scope<'_>) -> Option<Service> {
    let p = scope.problems;
    let before = p.count();
    let what = format!("service `{}`", scope.name);
    let mut f = p.keep(Fields::of(node, &what))?;
    let image = p.keep(image(&mut f, node, &what, scope.warnings));
    let mut environment = from_files(&mut f, "env_file", scope.env_files, scope);
    let listed = f.decode("environment", p, |n| key_values(n, '=', "environment"));
    for (key, value) in listed.unwrap_or_default() {
        // `- KEY` alone passes the variable through from the environment.
        match value.or_else(|| scope.variables.get(&key).map(str::to_string)) {
            Some(v) => environment.insert(key, v),
            None => environment.remove(&key),
        };
    }
    let network_mode = f.decode_key("network_mode", p, string);
    let (networks, endpoints) = match (f.take("networks"), &network_mode) {
        (Some(n), Some(_)) => {
            p.push(Problem::new(
                n.at,
                "`networks` and `network_mode` cannot both be set",
            ));
            Default::default()
        }
        (Some(n), None) => p
            .keep(service_networks(n, scope.networks))
            .unwrap_or_default(),
        (None, Some(_)) => Default::default(),
        (None, None) => (
            BTreeMap::from([("default".to_string(), Vec::new())]),
            BTreeMap::new(),
        ),
    };
    let deployed = f
        .decode("deploy", p, |n| deploy(n, scope.warnings))
        .unwrap_or_default();
    let replicas = p.keep(replicas(f.take("scale"), &deployed)).unwrap_or(1);
    let container_name = f.decode("container_name", p, |n| container_name(n, replicas));
    let limits = limits(&mut f, &deployed, p);
    let isolation = isolation(&mut f, scope.project_dir, p);
    let secrets = f
        .decode("secrets", p, |n| {
            projected::references(n, Kind::Secret, scope.secrets, scope.warnings)
        })
        .unwrap_or_default();
    let configs = f
        .decode("configs", p, |n| {
            projected::references(n, Kind::Config, scope.configs, scope.warnings)
        })
        .unwrap_or_default();
    if isolation.read_only {
        p.keep(written_files_need_a_writable_root(node, &secrets, &configs));
    }
    for (key, why) in [
        (
            "attach",
            "it chooses whose logs `docker compose up` shows; the agent runs detached",
        ),
        (
            "develop",
            "it configures `docker compose watch`, a development loop",
        ),
    ] {
        f.ignore(key, why, scope.warnings);
    }
    let windows_only = "it applies to Windows containers only";
    for key in ["cpu_count", "cpu_percent", "isolation", "credential_spec"] {
        p.keep(f.refuse(key, windows_only));
    }
    // `labels` over the label files, as in Compose.
    let mut labels = from_files(&mut f, "label_file", scope.label_files, scope);
    labels.extend(
        f.decode("labels", p, |n| string_map(n, '=', "labels"))
            .unwrap_or_default(),
    );
    // `deploy.restart_policy` wins, as Compose maps it.
    let restart = match deployed.restart {
        Some(policy) => {
            f.take("restart");
            Some(policy)
        }
        None => f.decode("restart", p, restart),
    };
    let service = Service {
        image: image.unwrap_or_default(),
        pull_policy: f.decode("pull_policy", p, pull_policy).unwrap_or_default(),
        command: f.decode_key("command", p, command),
        entrypoint: f.decode_key("entrypoint", p, command),
        environment,
        ports: f.decode("ports", p, ports).unwrap_or_default(),
        volumes: f
            .decode("volumes", p, |n| {
                mounts(n, scope.project_dir, scope.declared_volumes)
            })
            .unwrap_or_default(),
        networks,
        network_mode,
        restart,
        healthcheck: f.decode("healthcheck", p, healthcheck),
        depends_on: f.decode("depends_on", p, depends_on).unwrap_or_default(),
        labels,
        cap_add: f.decode_key("cap_add", p, string_list).unwrap_or_default(),
        cap_drop: f.decode_key("cap_drop", p, string_list).unwrap_or_default(),
        user: f.decode_key("user", p, scalar_text),
        working_dir: f.decode_key("working_dir", p, string),
        hostname: f.decode_key("hostname", p, string),
        extra_hosts: f.decode("extra_hosts", p, extra_hosts).unwrap_or_default(),
        dns: f.decode_key("dns", p, one_or_many).unwrap_or_default(),
        sysctls: f
            .decode("sysctls", p, |n| string_map(n, '=', "sysctls"))
            .unwrap_or_default(),
        ulimits: f.decode("ulimits", p, ulimits).unwrap_or_default(),
        privileged: f.decode_key("privileged", p, boolean).unwrap_or(false),
        init: f.decode_key("init", p, boolean).unwrap_or(false),
        devices: f.decode_key("devices", p, string_list).unwrap_or_default(),
        stop_signal: f.decode_key("stop_signal", p, string),
        stop_grace_period: f.decode_key("stop_grace_period", p, duration),
        logging: f.decode("logging", p, logging),
        profiles: f.decode_key("profiles", p, string_list).unwrap_or_default(),
        container_name,
        replicas,
        endpoints,
        links: f.decode("links", p, links).unwrap_or_default(),
        external_links: f
            .decode_key("external_links", p, string_list)
            .unwrap_or_default(),
        volumes_from: f
            .decode("volumes_from", p, volumes_from)
            .unwrap_or_default(),
        tmpfs: f.decode("tmpfs", p, tmpfs).unwrap_or_default(),
        secrets,
        configs,
        limits,
        isolation,
        tty: f.decode_key("tty", p, boolean).unwrap_or(false),
        stdin_open: f.decode_key("stdin_open", p, boolean).unwrap_or(false),
        expose: f.decode("expose", p, expose).unwrap_or_default(),
        dns_search: f
            .decode_key("dns_search", p, one_or_many)
            .unwrap_or_default(),
        dns_opt: f.decode_key("dns_opt", p, string_list).unwrap_or_default(),
        domainname: f.decode_key("domainname", p, string),
        mac_address: f.decode_key("mac_address", p, string),
        platform: f.decode_key("platform", p, string),
        annotations: f
            .decode("annotations", p, |n| string_map(n, '=', "annotations"))
            .unwrap_or_default(),
    };
    f.finish_into(p);
    (p.count() == before).then_some(service)
}

/// The variables of the files `key` (`env_file`, `label_file`) names, in
/// order, later files winning. The loader read them (`read`) and reported
/// those it could not.
fn from_files(
    f: &mut Fields<'_>,
    key: &str,
    read: &env_file::EnvFiles,
    scope: &Scope<'_>,
) -> BTreeMap<String, String> {
    let references = f.decode(key, scope.problems, |n| {
        env_file::references(n, scope.project_dir, key)
    });
    references
        .unwrap_or_default()
        .iter()
        .filter_map(|reference| read.get(&reference.path))
        .flat_map(|vars| vars.clone())
        .collect()
}

/// The image to run; `build` alone is refused, beside it ignored.
fn image(f: &mut Fields<'_>, node: &Node, what: &str, warnings: &Warnings) -> Decoded<String> {
    match (f.take("image"), f.take("build")) {
        (Some(n), build) => {
            let image = string(n, "image")?;
            ImageRef::parse(&image).map_err(|m| Problem::new(n.at, m))?;
            if let Some(build) = build {
                warnings.push(
                    build.at,
                    format!("`build` of {what} is ignored: hareconcile runs the image `{image}`, pulled or loaded on each node, and builds nothing"),
                );
            }
            Ok(image)
        }
        (None, Some(build)) => Err(Problem::new(
            build.at,
            format!("{what} has `build` but no `image`: hareconcile does not build images (it has no build context on the other nodes); build and push the image, then name it in `image:`"),
        )),
        (None, None) => Err(Problem::new(node.at, format!("{what} has no `image`"))),
    }
}

/// `scale` and `deploy.replicas` must agree; one container when neither is set.
fn replicas(scale: Option<&Node>, deployed: &Deploy) -> Decoded<u32> {
    let scale = scale
        .map(|n| Ok::<_, Problem>((replica_count(n, "scale")?, n.at)))
        .transpose()?;
    match (scale, deployed.replicas) {
        (Some((scale, at)), Some(replicas)) if scale != replicas.value => Err(Problem::new(
            at,
            format!(
                "scale and deploy.replicas (line {}) set different values: keep one",
                replicas.at.line
            ),
        )),
        (Some((scale, _)), _) => Ok(scale),
        (None, Some(replicas)) => Ok(replicas.value),
        (None, None) => Ok(1),
    }
}

/// A name Docker accepts, for a service of one container: two containers
/// cannot hold one name.
fn container_name(node: &Node, replicas: u32) -> Decoded<String> {
    let name = string(node, "container_name")?;
    let valid = name.len() > 1
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid {
        return Err(Problem::new(
            node.at,
            format!("container_name {name:?} is not a Docker container name: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
        ));
    }
    if replicas > 1 {
        return Err(Problem::new(
            node.at,
            format!("container_name {name:?} cannot name {replicas} replicas: a container name is unique; remove it or run one replica"),
        ));
    }
    Ok(name)
}

/// Files written into the container (from an environment variable or
/// inline content) need a root they can be written to, as in Compose.
fn written_files_need_a_writable_root(
    node: &Node,
    secrets: &[ProjectedFile],
    configs: &[ProjectedFile],
) -> Decoded<()> {
    match secrets
        .iter()
        .chain(configs)
        .find(|p| matches!(p.source, projected::Source::Content(_)))
    {
        Some(file) => Err(Problem::new(
            node.at,
            format!("`{}` is written into the container at {}, which `read_only: true` forbids: declare it with `file:` (bind-mounted) instead", file.name, file.target),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;

pub(super) fn optional<T: Default>(
    node: Option<&Node>,
    decode: impl FnOnce(&Node) -> Decoded<T>,
) -> Decoded<T> {
    node.map(decode).transpose().map(Option::unwrap_or_default)
}
