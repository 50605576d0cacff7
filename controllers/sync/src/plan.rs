//! What this node should do for one Replication, from the store: push
//! (its VRRP controller reports the followed VirtualIP as Master), hold a
//! replica, or nothing (misconfigured).

use std::path::PathBuf;
use std::time::Duration;

use hareconcile_model::status::{ReplicationReason, VrrpState};
use hareconcile_model::{
    ClusterSpec, Direction, Filter, Hooks, Method, Pattern, ReplicationSpec, VirtualIpSpec,
    VirtualIpStatus,
};
use hareconcile_runtime::Context;

use crate::handover::Handover;
use crate::remote::Link;
use crate::rsync::{rules, Transfer};
use crate::snapshot::Backend;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Master of the followed VirtualIP: push to every other node.
    Source { targets: Vec<Peer> },
    /// Any other state: receive from whoever is master, never push.
    Replica,
    /// Nothing to do until the configuration is fixed.
    Unplaced {
        reason: ReplicationReason,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Rsync {
        continuous: bool,
        delete: bool,
        /// rsync's filter arguments of a push (see [`crate::rsync::rules`]).
        rules: Vec<String>,
        /// The same without the databases, for a catch-up pull: the peer
        /// it pulls from is no longer master, so its databases are at rest.
        pull_rules: Vec<String>,
        /// Patterns of the SQLite databases copied through backups.
        sqlite: Vec<String>,
    },
    Snapshot {
        backend: Backend,
        retain: u32,
    },
}

/// Everything a worker needs for one Replication on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub node: String,
    pub path: PathBuf,
    pub role: Role,
    pub mode: Mode,
    /// Full pass period (backs up change events in continuous mode).
    pub interval: Duration,
    pub link: Link,
    pub max_lag: Option<Duration>,
    pub hooks: Hooks,
    /// `direction: both`: two-way rounds with each target instead of
    /// pushes, keeping what this filter copies.
    pub two_way: Option<Filter>,
    /// A planned switchover of the followed VirtualIP (see [`crate::handover`]).
    pub handover: Handover,
    /// Set when the followed VirtualIP is fenced: its writer lock's holder
    /// numbers this Replication's terms in the quorum engine.
    pub term_lock: Option<TermLock>,
}

/// The writer lock whose holder numbers the terms (`docs/quorum.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermLock {
    /// The Cluster whose quorum session holds the lock.
    pub cluster: String,
    /// The VirtualIP: the lock's name.
    pub vip: String,
}

impl Plan {
    pub fn is_source(&self) -> bool {
        matches!(self.role, Role::Source { .. })
    }

    pub fn watches_changes(&self) -> bool {
        matches!(
            self.mode,
            Mode::Rsync {
                continuous: true,
                ..
            }
        )
    }

    pub fn delete(&self) -> bool {
        match &self.mode {
            Mode::Rsync { delete, .. } => *delete,
            // A snapshot is the whole state: the live copy follows it exactly.
            Mode::Snapshot { .. } => true,
        }
    }

    /// How a push (or a catch-up pull) goes: deletions, and what is left
    /// to other means.
    pub fn transfer(&self, pull: bool) -> Transfer<'_> {
        let rules = match &self.mode {
            Mode::Rsync { pull_rules, .. } if pull => pull_rules.as_slice(),
            Mode::Rsync { rules, .. } => rules.as_slice(),
            Mode::Snapshot { .. } => &[],
        };
        Transfer {
            delete: self.delete(),
            rules,
            staging: !pull && !self.databases().is_empty(),
        }
    }

    /// The patterns of the SQLite databases copied through backups.
    pub fn databases(&self) -> &[String] {
        match &self.mode {
            Mode::Rsync { sqlite, .. } => sqlite,
            Mode::Snapshot { .. } => &[],
        }
    }
}

/// Whether this controller handles `method` (the mount controller does the others).
pub fn copies(method: Method) -> bool {
    matches!(method, Method::Rsync | Method::Btrfs | Method::Zfs)
}

/// The plan for `spec` on this node, reading the Cluster and the followed
/// VirtualIP's status from the store. `None` for methods this controller
/// does not handle. `control_dir` holds the ssh connections' sockets.
pub fn plan(spec: &ReplicationSpec, ctx: &Context, control_dir: Option<PathBuf>) -> Option<Plan> {
    let (mode, interval, ssh) = match spec.method {
        Method::Rsync => {
            let rsync = spec.rsync.clone().unwrap_or_else(default_rsync);
            (
                Mode::Rsync {
                    continuous: rsync.continuous,
                    delete: rsync.delete,
                    rules: rules(&spec.sqlite, &spec.include, &spec.exclude),
                    pull_rules: rules(&[], &spec.include, &spec.exclude),
                    sqlite: spec.sqlite.clone(),
                },
                rsync.interval.as_std(),
                rsync.ssh,
            )
        }
        Method::Btrfs | Method::Zfs => {
            let snapshot = spec.snapshot.clone()?;
            let backend = match (spec.method, snapshot.dataset) {
                (Method::Zfs, Some(dataset)) => Backend::Zfs {
                    dataset,
                    recursive: snapshot.recursive,
                },
                (Method::Btrfs, _) => Backend::Btrfs {
                    path: spec.path.clone(),
                },
                // Validation requires a dataset for zfs.
                _ => return None,
            };
            (
                Mode::Snapshot {
                    backend,
                    retain: snapshot.retain,
                },
                snapshot.interval.as_std(),
                snapshot.ssh,
            )
        }
        Method::Nfs | Method::Mount => return None,
    };
    let cluster = ctx.get::<ClusterSpec>(&spec.cluster).ok().flatten();
    let vip_state = spec
        .follow_virtual_ip
        .as_deref()
        .and_then(|name| ctx.status_of::<VirtualIpStatus>(name))
        .and_then(|vip| vip.state());
    let term_lock = spec.follow_virtual_ip.as_deref().and_then(|name| {
        let vip = ctx.get::<VirtualIpSpec>(name).ok().flatten()?;
        let stored = ctx.store.list(None).0;
        let fenced = vip.fenced_among(name, cluster.as_ref()?, stored.iter().map(|o| &**o));
        fenced.then(|| TermLock {
            cluster: vip.cluster.clone(),
            vip: name.to_string(),
        })
    });
    Some(Plan {
        term_lock,
        node: ctx.node.to_string(),
        path: spec.path.clone(),
        role: role(spec, cluster.as_ref(), &ctx.node, vip_state),
        mode,
        interval,
        link: Link::new(ssh, control_dir),
        max_lag: spec.max_lag.map(|d| d.as_std()),
        hooks: spec.hooks.clone(),
        two_way: (spec.direction == Direction::Both).then(|| filter(spec)),
        handover: Handover::None,
    })
}

/// The manifest's include and exclude lists as rsync applies them
/// (validation admitted only patterns that parse).
fn filter(spec: &ReplicationSpec) -> Filter {
    let parse = |list: &[String]| -> Vec<Pattern> {
        list.iter().filter_map(|p| Pattern::parse(p).ok()).collect()
    };
    Filter::new(&parse(&spec.include), &parse(&spec.exclude))
}

fn default_rsync() -> hareconcile_model::Rsync {
    serde_json::from_value(serde_json::json!({})).expect("every rsync field has a default")
}

/// The role of `node`: source where the followed VirtualIP is Master, or
/// on the fixed source node.
pub fn role(
    spec: &ReplicationSpec,
    cluster: Option<&ClusterSpec>,
    node: &str,
    vip_state: Option<VrrpState>,
) -> Role {
    let Some(cluster) = cluster else {
        return Role::Unplaced {
            reason: ReplicationReason::ClusterNotFound,
            message: format!("Cluster {:?} is not in the store: apply it", spec.cluster),
        };
    };
    if cluster.node(node).is_none() {
        return Role::Unplaced {
            reason: ReplicationReason::NodeNotInCluster,
            message: format!(
                "this node {node:?} is not a node of Cluster {:?}: add it or run the agent with --node set to one of its nodes",
                spec.cluster
            ),
        };
    }
    let source = match (&spec.source, &spec.follow_virtual_ip) {
        (Some(source), _) => {
            if cluster.node(&source.node).is_none() {
                return Role::Unplaced {
                    reason: ReplicationReason::SourceNotInCluster,
                    message: format!(
                        "source node {:?} is not a node of Cluster {:?}: name one of its nodes",
                        source.node, spec.cluster
                    ),
                };
            }
            source.node == node
        }
        (None, Some(_)) => vip_state == Some(VrrpState::Master),
        (None, None) => {
            return Role::Unplaced {
                reason: ReplicationReason::NoVirtualIP,
                message: "followVirtualIP is not set: name the VirtualIP whose master is the source, or a fixed source node"
                    .into(),
            }
        }
    };
    if !source {
        return Role::Replica;
    }
    let targets = cluster
        .nodes
        .iter()
        .filter(|n| n.name != node)
        .map(|n| Peer {
            name: n.name.clone(),
            address: n.address.to_string(),
        })
        .collect();
    Role::Source { targets }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> ReplicationSpec {
        serde_json::from_value(json!({
            "cluster": "home", "followVirtualIP": "web", "method": "rsync", "path": "/srv/data"
        }))
        .unwrap()
    }

    fn cluster() -> ClusterSpec {
        serde_json::from_value(json!({"nodes": [
            {"name": "n1", "address": "10.77.0.1"},
            {"name": "n2", "address": "10.77.0.2"},
            {"name": "n3", "address": "10.77.0.3"}
        ]}))
        .unwrap()
    }

    #[test]
    fn only_the_master_is_a_source_and_it_pushes_to_every_other_node() {
        let Role::Source { targets } =
            role(&spec(), Some(&cluster()), "n2", Some(VrrpState::Master))
        else {
            panic!("the master is the source");
        };
        assert_eq!(
            targets,
            vec![
                Peer {
                    name: "n1".into(),
                    address: "10.77.0.1".into()
                },
                Peer {
                    name: "n3".into(),
                    address: "10.77.0.3".into()
                },
            ]
        );
        for state in [
            Some(VrrpState::Backup),
            Some(VrrpState::Fault),
            Some(VrrpState::Initialize),
            None,
        ] {
            assert!(
                role(&spec(), Some(&cluster()), "n2", state) == Role::Replica,
                "{state:?} never pushes"
            );
        }
    }

    #[test]
    fn a_node_outside_the_cluster_or_a_missing_cluster_does_nothing() {
        let unplaced = |r: Role| match r {
            Role::Unplaced { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            unplaced(role(&spec(), None, "n1", Some(VrrpState::Master))),
            ReplicationReason::ClusterNotFound
        );
        assert_eq!(
            unplaced(role(
                &spec(),
                Some(&cluster()),
                "n9",
                Some(VrrpState::Master)
            )),
            ReplicationReason::NodeNotInCluster
        );
    }

    #[test]
    fn a_fixed_source_pushes_whatever_the_virtual_ips_do() {
        let mut fixed = spec();
        fixed.follow_virtual_ip = None;
        fixed.source = Some(hareconcile_model::Source { node: "n3".into() });
        let Role::Source { targets } = role(&fixed, Some(&cluster()), "n3", None) else {
            panic!("n3 is the source");
        };
        assert_eq!(targets.len(), 2);
        assert_eq!(
            role(&fixed, Some(&cluster()), "n1", Some(VrrpState::Master)),
            Role::Replica
        );
        fixed.source = Some(hareconcile_model::Source { node: "n9".into() });
        assert!(matches!(
            role(&fixed, Some(&cluster()), "n1", None),
            Role::Unplaced {
                reason: ReplicationReason::SourceNotInCluster,
                ..
            }
        ));
    }

    #[test]
    fn other_methods_belong_to_the_mount_controller() {
        assert!(copies(Method::Rsync) && copies(Method::Btrfs) && copies(Method::Zfs));
        assert!(!copies(Method::Nfs) && !copies(Method::Mount));
    }
}
