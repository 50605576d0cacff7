//! `Service`: a Docker Compose stack and where/when it runs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    pub cluster: String,
    /// Runs where this VirtualIP is master; absent = runs on every node.
    #[serde(
        rename = "followVirtualIP",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub follow_virtual_ip: Option<String>,
    #[serde(default)]
    pub mode: ServiceMode,
    /// How a `warm` stack waits away from the master.
    #[serde(default, skip_serializing_if = "Standby::is_stopped")]
    pub standby: Standby,
    pub compose: Compose,
    /// Replications that must be Ready before the stack starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// How the stack moves to another node on a planned preempt-back or
    /// switchover; see [`Handover`]. Default: [`ServiceSpec::handover_in`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<Handover>,
    #[serde(default)]
    pub health: Health,
}

impl ServiceSpec {
    /// The handover in effect: the declared one, else break-before-make
    /// for a stack that `requires:` a Replication (it writes that data,
    /// and two writers would diverge), else make-before-break. The Service
    /// controller also treats as exclusive a stack that bind-mounts a
    /// replicated path without `requires:`.
    pub fn handover_in(&self) -> Handover {
        self.handover.unwrap_or(if self.requires.is_empty() {
            Handover::MakeBeforeBreak
        } else {
            Handover::BreakBeforeMake
        })
    }
}

/// Whether a stack may run on two nodes for a moment while it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handover {
    /// The new node starts the stack before the old one stops it, so a
    /// planned move has no outage: for stateless stacks.
    MakeBeforeBreak,
    /// The stack is *exclusive*: it never runs on two nodes at once. The
    /// old node stops it before the new one starts it (an outage of a
    /// stop and a start); with the Cluster's quorum, only the holder of
    /// the followed VirtualIP's writer lock runs it, on every transition.
    BreakBeforeMake,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceMode {
    /// Runs only on the master; stopped elsewhere.
    #[default]
    ActivePassive,
    /// Runs on every node; the VIP only steers traffic.
    ActiveActive,
    /// Created (images pulled, containers created) everywhere, started only on the master.
    Warm,
}

/// The state of a `warm` stack's containers on the nodes that do not run it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standby {
    /// Created and stopped: a takeover starts them, one `docker start` per
    /// service along each depends_on chain.
    #[default]
    Stopped,
    /// Started, then frozen with `docker pause`: a takeover thaws them in
    /// milliseconds. The processes hold their memory on the standby and
    /// have already read their configuration and data when they thaw: for
    /// stacks that read files per request (or reload on change), not for
    /// ones that cache what the Replication updates underneath them.
    Paused,
}

impl Standby {
    pub fn is_stopped(&self) -> bool {
        *self == Standby::Stopped
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compose {
    /// Relative to the directory of the manifest that declares it.
    pub file: PathBuf,
    /// Compose project name; defaults to the Service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    #[serde(default)]
    pub containers: Containers,
    /// `host:port` that must accept TCP connections.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<String>,
    /// URLs that must answer 2xx/3xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<DnsCheck>,
    /// HTTPS URLs that must answer 2xx/3xx over a verified TLS connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub https: Vec<HttpsCheck>,
    /// Commands that must exit 0 in a container of the stack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<ExecCheck>,
    #[serde(default = "default_health_interval")]
    pub interval: Duration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default = "default_fall")]
    pub fall: u32,
    #[serde(default = "default_rise")]
    pub rise: u32,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            containers: Containers::default(),
            tcp: Vec::new(),
            http: Vec::new(),
            dns: Vec::new(),
            https: Vec::new(),
            exec: Vec::new(),
            interval: default_health_interval(),
            timeout: None,
            fall: default_fall(),
            rise: default_rise(),
        }
    }
}

fn default_health_interval() -> Duration {
    Duration::from_secs(2)
}

fn default_fall() -> u32 {
    3
}

fn default_rise() -> u32 {
    2
}

/// Which containers must be running for the stack to count as healthy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Containers {
    #[default]
    All,
    None,
    #[serde(untagged)]
    Named(Vec<String>),
}

/// A DNS lookup that must succeed (e.g. a Pi-hole answering on the VIP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsCheck {
    /// `host:port` of the resolver to ask.
    pub server: String,
    pub name: String,
}

/// An HTTPS GET whose server certificate is checked against `caFile`
/// (PEM; default: the system's CA bundle), or not at all with `insecure`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpsCheck {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (the connection is still encrypted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// A command run in the container of Compose service `container` of the
/// stack (e.g. `dig` or `pihole status` inside Pi-hole's): it passes when
/// it exits 0 within the timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCheck {
    pub container: String,
    pub command: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_is_all_none_or_a_list() {
        for (json, expected) in [
            (serde_json::json!("all"), Containers::All),
            (serde_json::json!("none"), Containers::None),
            (
                serde_json::json!(["web", "worker"]),
                Containers::Named(vec!["web".into(), "worker".into()]),
            ),
        ] {
            let decoded: Containers = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(decoded, expected);
            assert_eq!(serde_json::to_value(&decoded).unwrap(), json);
        }
    }

    #[test]
    fn a_stack_that_requires_data_is_exclusive_unless_it_says_otherwise() {
        let spec = |extra: serde_json::Value| {
            let mut spec = serde_json::json!({"cluster": "home", "followVirtualIP": "web",
                                              "compose": {"file": "c.yaml"}});
            spec.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<ServiceSpec>(spec)
                .unwrap()
                .handover_in()
        };
        assert_eq!(spec(serde_json::json!({})), Handover::MakeBeforeBreak);
        assert_eq!(
            spec(serde_json::json!({"requires": ["data"]})),
            Handover::BreakBeforeMake
        );
        assert_eq!(
            spec(serde_json::json!({"requires": ["data"], "handover": "make-before-break"})),
            Handover::MakeBeforeBreak
        );
        assert_eq!(
            spec(serde_json::json!({"handover": "break-before-make"})),
            Handover::BreakBeforeMake
        );
    }

    #[test]
    fn mode_uses_the_design_spelling() {
        let m: ServiceMode = serde_json::from_value(serde_json::json!("active-passive")).unwrap();
        assert_eq!(m, ServiceMode::ActivePassive);
    }
}
