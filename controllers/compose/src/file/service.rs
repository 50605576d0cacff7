//! One entry of `services:`, decoded into what the engine needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::decode::{
    boolean, duration, integer, key_values, one_or_many, scalar_text, string, string_list,
    string_map, Decoded, Fields, Problem,
};
use super::env_file;
use super::image::ImageRef;
use super::interpolate::Variables;
use super::node::{Node, Value};
use super::ports::{ports, PortMapping};
use super::volumes::{mounts, Mount};

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
    pub depends_on: BTreeMap<String, Condition>,
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
}

impl Service {
    /// The services that must have started before this one starts (and
    /// stop after it), as Compose counts them: those of `depends_on`, and
    /// the one whose network namespace `network_mode: service:NAME` joins,
    /// which Docker refuses to join unless it runs.
    pub fn dependencies(&self) -> impl Iterator<Item = &str> {
        let namespace_owner = self
            .namespace_owner()
            .filter(|owner| !self.depends_on.contains_key(*owner));
        self.depends_on
            .keys()
            .map(String::as_str)
            .chain(namespace_owner)
    }

    /// NAME of `network_mode: service:NAME`.
    pub fn namespace_owner(&self) -> Option<&str> {
        self.network_mode.as_deref()?.strip_prefix("service:")
    }
}

/// Compose's `pull_policy`, the values that need no `build:`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pulled when not on the node (Compose's default; `if_not_present`).
    #[default]
    Missing,
    /// Pulled again when the stack (re)starts and periodically; the local
    /// copy serves while the registry cannot.
    Always,
    /// Never pulled: the image must be on the node already.
    Never,
}

/// What a dependent waits for before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<i64>,
    pub start_period: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

/// What a service decoder needs from the project around it.
pub struct Scope<'a> {
    pub name: &'a str,
    pub project_dir: &'a Path,
    pub variables: &'a Variables,
    pub declared_volumes: &'a BTreeSet<String>,
    pub declared_networks: &'a BTreeSet<String>,
}

pub fn service(node: &Node, scope: &Scope<'_>) -> Decoded<Service> {
    let what = format!("service `{}`", scope.name);
    let mut f = Fields::of(node, &what)?;
    let image = match f.take("image") {
        Some(n) => {
            let image = string(n, "image")?;
            ImageRef::parse(&image).map_err(|m| Problem::new(n.at, m))?;
            image
        }
        None => {
            return Err(Problem::new(
                node.at,
                format!("{what} has no `image`: hareconcile does not build images"),
            ))
        }
    };
    let mut environment = BTreeMap::new();
    if let Some(n) = f.take("env_file") {
        for file in one_or_many(n, "env_file")? {
            let path = scope.project_dir.join(&file);
            let vars = std::fs::read_to_string(&path)
                .map(|text| env_file::parse(&text))
                .map_err(|e| {
                    Problem::new(
                        n.at,
                        format!("cannot read env_file {}: {e}", path.display()),
                    )
                })?;
            environment.extend(vars);
        }
    }
    if let Some(n) = f.take("environment") {
        for (key, value) in key_values(n, '=', "environment")? {
            // `- KEY` alone passes the variable through from the environment.
            match value.or_else(|| scope.variables.get(&key).map(str::to_string)) {
                Some(v) => environment.insert(key, v),
                None => environment.remove(&key),
            };
        }
    }
    let network_mode = f
        .take("network_mode")
        .map(|n| string(n, "network_mode"))
        .transpose()?;
    let networks = match (f.take("networks"), &network_mode) {
        (Some(n), Some(_)) => {
            return Err(Problem::new(
                n.at,
                "`networks` and `network_mode` cannot both be set",
            ))
        }
        (Some(n), None) => service_networks(n, scope.declared_networks)?,
        (None, Some(_)) => BTreeMap::new(),
        (None, None) => BTreeMap::from([("default".to_string(), Vec::new())]),
    };
    let service = Service {
        image,
        pull_policy: f
            .take("pull_policy")
            .map(pull_policy)
            .transpose()?
            .unwrap_or_default(),
        command: f
            .take("command")
            .map(|n| command(n, "command"))
            .transpose()?,
        entrypoint: f
            .take("entrypoint")
            .map(|n| command(n, "entrypoint"))
            .transpose()?,
        environment,
        ports: f.take("ports").map(ports).transpose()?.unwrap_or_default(),
        volumes: f
            .take("volumes")
            .map(|n| mounts(n, scope.project_dir, scope.declared_volumes))
            .transpose()?
            .unwrap_or_default(),
        networks,
        network_mode,
        restart: f.take("restart").map(restart).transpose()?,
        healthcheck: f.take("healthcheck").map(healthcheck).transpose()?,
        depends_on: f
            .take("depends_on")
            .map(depends_on)
            .transpose()?
            .unwrap_or_default(),
        labels: optional(f.take("labels"), |n| string_map(n, '=', "labels"))?,
        cap_add: optional(f.take("cap_add"), |n| string_list(n, "cap_add"))?,
        cap_drop: optional(f.take("cap_drop"), |n| string_list(n, "cap_drop"))?,
        user: f.take("user").map(|n| scalar_text(n, "user")).transpose()?,
        working_dir: f
            .take("working_dir")
            .map(|n| string(n, "working_dir"))
            .transpose()?,
        hostname: f
            .take("hostname")
            .map(|n| string(n, "hostname"))
            .transpose()?,
        extra_hosts: optional(f.take("extra_hosts"), extra_hosts)?,
        dns: optional(f.take("dns"), |n| one_or_many(n, "dns"))?,
        sysctls: optional(f.take("sysctls"), |n| string_map(n, '=', "sysctls"))?,
        ulimits: optional(f.take("ulimits"), ulimits)?,
        privileged: f
            .take("privileged")
            .map(|n| boolean(n, "privileged"))
            .transpose()?
            .unwrap_or(false),
        init: f
            .take("init")
            .map(|n| boolean(n, "init"))
            .transpose()?
            .unwrap_or(false),
        devices: optional(f.take("devices"), |n| string_list(n, "devices"))?,
        stop_signal: f
            .take("stop_signal")
            .map(|n| string(n, "stop_signal"))
            .transpose()?,
        stop_grace_period: f
            .take("stop_grace_period")
            .map(|n| duration(n, "stop_grace_period"))
            .transpose()?,
        logging: f.take("logging").map(logging).transpose()?,
        profiles: optional(f.take("profiles"), |n| string_list(n, "profiles"))?,
    };
    f.finish()?;
    Ok(service)
}

fn optional<T: Default>(
    node: Option<&Node>,
    decode: impl FnOnce(&Node) -> Decoded<T>,
) -> Decoded<T> {
    node.map(decode).transpose().map(Option::unwrap_or_default)
}

/// A list is taken as is; a string is split as a shell would, as Compose does.
fn command(node: &Node, what: &str) -> Decoded<Vec<String>> {
    match &node.value {
        Value::String(s) => split_words(s)
            .ok_or_else(|| Problem::new(node.at, format!("{what} has an unclosed quote"))),
        _ => string_list(node, what),
    }
}

/// POSIX shell word splitting with quotes and backslashes, no expansion.
fn split_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => w.push(c),
                            c => {
                                w.push('\\');
                                w.push(c)
                            }
                        },
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// Networks must be declared at the top level, except the implicit `default`.
fn service_networks(
    node: &Node,
    declared: &BTreeSet<String>,
) -> Decoded<BTreeMap<String, Vec<String>>> {
    let networks: BTreeMap<String, Vec<String>> = match &node.value {
        Value::Seq(_) => Ok(string_list(node, "networks")?
            .into_iter()
            .map(|n| (n, Vec::new()))
            .collect()),
        Value::Map(entries) => entries
            .iter()
            .map(|e| {
                let aliases = match e.value.value {
                    Value::Null => Vec::new(),
                    _ => {
                        let mut f =
                            Fields::of(&e.value, format!("network `{}` of this service", e.key))?;
                        let aliases = optional(f.take("aliases"), |n| string_list(n, "aliases"))?;
                        f.finish()?;
                        aliases
                    }
                };
                Ok((e.key.clone(), aliases))
            })
            .collect(),
        _ => Err(Problem::new(
            node.at,
            "networks must be a list or a mapping",
        )),
    }?;
    match networks
        .keys()
        .find(|n| *n != "default" && !declared.contains(*n))
    {
        Some(unknown) => Err(Problem::new(
            node.at,
            format!("network `{unknown}` is not declared under the top-level `networks:`"),
        )),
        None => Ok(networks),
    }
}

fn pull_policy(node: &Node) -> Decoded<PullPolicy> {
    match string(node, "pull_policy")?.as_str() {
        "missing" | "if_not_present" => Ok(PullPolicy::Missing),
        "always" => Ok(PullPolicy::Always),
        "never" => Ok(PullPolicy::Never),
        "build" => Err(Problem::new(
            node.at,
            "unsupported pull_policy `build`: hareconcile does not build images; push the image to a registry or build it on each node",
        )),
        scheduled
            if ["daily", "weekly"].contains(&scheduled) || scheduled.starts_with("every_") =>
        {
            Err(Problem::new(
                node.at,
                format!("unsupported pull_policy `{scheduled}`: hareconcile does not implement scheduled pulls; use always (pulled again at most hourly) or missing"),
            ))
        }
        other => Err(Problem::new(
            node.at,
            format!("pull_policy must be missing, always or never, not {other:?}"),
        )),
    }
}

fn restart(node: &Node) -> Decoded<String> {
    let policy = string(node, "restart")?;
    let known = matches!(
        policy.as_str(),
        "no" | "always" | "unless-stopped" | "on-failure"
    ) || policy
        .strip_prefix("on-failure:")
        .is_some_and(|n| n.parse::<u32>().is_ok());
    if known {
        Ok(policy)
    } else {
        Err(Problem::new(
            node.at,
            format!("restart must be no, always, unless-stopped or on-failure[:N], not {policy:?}"),
        ))
    }
}

/// `disable: true` becomes Docker's `["NONE"]`, which also turns off a
/// check the image defines.
fn healthcheck(node: &Node) -> Decoded<Healthcheck> {
    let mut f = Fields::of(node, "healthcheck")?;
    let disable = f
        .take("disable")
        .map(|n| boolean(n, "disable"))
        .transpose()?
        .unwrap_or(false);
    let test = match f.take("test") {
        Some(Node {
            value: Value::String(s),
            ..
        }) => vec!["CMD-SHELL".to_string(), s.clone()],
        Some(n) => string_list(n, "test")?,
        None => Vec::new(),
    };
    let check = Healthcheck {
        test: if disable {
            vec!["NONE".to_string()]
        } else {
            test
        },
        interval: f
            .take("interval")
            .map(|n| duration(n, "interval"))
            .transpose()?,
        timeout: f
            .take("timeout")
            .map(|n| duration(n, "timeout"))
            .transpose()?,
        retries: f
            .take("retries")
            .map(|n| integer(n, "retries"))
            .transpose()?,
        start_period: f
            .take("start_period")
            .map(|n| duration(n, "start_period"))
            .transpose()?,
    };
    f.finish()?;
    Ok(check)
}

fn depends_on(node: &Node) -> Decoded<BTreeMap<String, Condition>> {
    match &node.value {
        Value::Seq(_) => Ok(string_list(node, "depends_on")?
            .into_iter()
            .map(|s| (s, Condition::ServiceStarted))
            .collect()),
        Value::Map(entries) => entries
            .iter()
            .map(|e| {
                let mut f = Fields::of(&e.value, format!("depends_on `{}`", e.key))?;
                let condition = match f.take("condition") {
                    None => Condition::ServiceStarted,
                    Some(n) => match string(n, "condition")?.as_str() {
                        "service_started" => Condition::ServiceStarted,
                        "service_healthy" => Condition::ServiceHealthy,
                        "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                        other => {
                            return Err(Problem::new(
                                n.at,
                                format!("condition must be service_started, service_healthy or service_completed_successfully, not {other:?}"),
                            ))
                        }
                    },
                };
                f.finish()?;
                Ok((e.key.clone(), condition))
            })
            .collect(),
        _ => Err(Problem::new(node.at, "depends_on must be a list or a mapping")),
    }
}

fn extra_hosts(node: &Node) -> Decoded<Vec<String>> {
    Ok(key_values(node, ':', "extra_hosts")?
        .into_iter()
        .map(|(host, address)| format!("{host}:{}", address.unwrap_or_default()))
        .collect())
}

fn ulimits(node: &Node) -> Decoded<BTreeMap<String, Ulimit>> {
    let Value::Map(entries) = &node.value else {
        return Err(Problem::new(node.at, "ulimits must be a mapping"));
    };
    entries
        .iter()
        .map(|e| {
            let limit = match &e.value.value {
                Value::Map(_) => {
                    let mut f = Fields::of(&e.value, format!("ulimit `{}`", e.key))?;
                    let soft = f.take("soft").map(|n| integer(n, "soft")).transpose()?;
                    let hard = f.take("hard").map(|n| integer(n, "hard")).transpose()?;
                    f.finish()?;
                    match (soft, hard) {
                        (Some(soft), Some(hard)) => Ulimit { soft, hard },
                        _ => {
                            return Err(Problem::new(
                                e.value.at,
                                format!("ulimit `{}` needs soft and hard", e.key),
                            ))
                        }
                    }
                }
                _ => {
                    let both = integer(&e.value, "ulimit")?;
                    Ulimit {
                        soft: both,
                        hard: both,
                    }
                }
            };
            Ok((e.key.clone(), limit))
        })
        .collect()
}

fn logging(node: &Node) -> Decoded<Logging> {
    let mut f = Fields::of(node, "logging")?;
    let logging = Logging {
        driver: f.take("driver").map(|n| string(n, "driver")).transpose()?,
        options: optional(f.take("options"), |n| string_map(n, '=', "logging options"))?,
    };
    f.finish()?;
    Ok(logging)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_like_a_shell() {
        assert_eq!(
            split_words(r#"sh -c 'echo "hi there"' a\ b "x\"y""#).unwrap(),
            ["sh", "-c", "echo \"hi there\"", "a b", "x\"y"]
        );
        assert_eq!(split_words("").unwrap(), Vec::<String>::new());
        assert!(split_words("'open").is_none());
    }
}
