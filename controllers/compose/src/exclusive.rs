//! Exclusive stacks (`handover: break-before-make`): a stack that writes
//! shared or replicated data must never run on two nodes at once, not
//! for a moment of a preempt-back, a switchover or both agents starting.
//!
//! Such a stack is placed only where the followed VIP is master (never
//! ahead of a takeover), and before it starts there the controller asks
//! every other node of the Cluster, over the peer API, whether the stack
//! may still run there or the VIP is master there. It starts once none
//! says so. Two nodes that are both master for a moment (at start, before
//! they heard each other) therefore both wait, and VRRP settles who is.
//!
//! A node that does not answer is taken for down: without a quorum engine
//! a node cut off by the network cannot be told from a dead one, and
//! waiting for it would keep the stack down for as long as it is gone.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use hareconcile_model::{Handover, ServiceMode, ServiceSpec};

use crate::file::{MountKind, Project};

/// Whether the Service's stack is exclusive: as its `handover` says, else
/// when it requires a Replication or bind-mounts a path a Replication
/// keeps (`replicated`: their paths), which it writes. An active-active
/// stack never is: it runs on every node by design and never moves
/// (validation refuses a `handover` on it); what it writes is kept in
/// step both ways, as Pi-hole's configuration is.
pub fn is_exclusive(spec: &ServiceSpec, project: &Project, replicated: &[PathBuf]) -> bool {
    if spec.mode == ServiceMode::ActiveActive {
        return false;
    }
    if spec.handover.is_some() || !spec.requires.is_empty() {
        return spec.handover_in() == Handover::BreakBeforeMake;
    }
    project
        .services
        .values()
        .flat_map(|service| &service.volumes)
        .filter(|mount| mount.kind == MountKind::Bind)
        .filter_map(|mount| mount.source.as_deref())
        .any(|source| overlaps(Path::new(source), replicated))
}

/// A bind source inside a replicated path, or holding one.
fn overlaps(source: &Path, replicated: &[PathBuf]) -> bool {
    replicated
        .iter()
        .any(|path| source.starts_with(path) || path.starts_with(source))
}

/// What another node of the Cluster says of a Service's stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtherStack {
    /// The stack may be running there, or the followed VIP is master
    /// there (and its stack may start any moment).
    Running,
    /// Neither.
    Stopped,
    /// The node did not answer: why.
    Unreachable(String),
}

/// One other node's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherNode {
    pub node: String,
    pub stack: OtherStack,
}

/// Asks the other nodes of this node's Cluster (the agent does it over
/// the peer API).
#[async_trait]
pub trait OtherNodes: Send + Sync {
    /// What each other node says of Service `service`, which follows
    /// VirtualIP `vip`; `Err` when they cannot be asked at all (the peer
    /// API is off), saying why.
    async fn stacks(&self, service: &str, vip: &str) -> Result<Vec<OtherNode>, String>;
}

/// What the answers mean for starting the stack here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clearance {
    /// No answering node runs it; `unconfirmed` says which did not
    /// answer, or why nobody could be asked.
    Start { unconfirmed: Option<String> },
    /// It may still run on these nodes: wait.
    Wait { running_on: Vec<String> },
}

pub fn clearance(answers: Result<Vec<OtherNode>, String>) -> Clearance {
    let answers = match answers {
        Ok(answers) => answers,
        Err(why) => {
            return Clearance::Start {
                unconfirmed: Some(why),
            }
        }
    };
    let running_on: Vec<String> = answers
        .iter()
        .filter(|a| a.stack == OtherStack::Running)
        .map(|a| a.node.clone())
        .collect();
    if !running_on.is_empty() {
        return Clearance::Wait { running_on };
    }
    let silent: Vec<String> = answers
        .iter()
        .filter_map(|a| match &a.stack {
            OtherStack::Unreachable(why) => Some(format!("{} ({why})", a.node)),
            _ => None,
        })
        .collect();
    Clearance::Start {
        unconfirmed: (!silent.is_empty()).then(|| format!("no answer from {}", silent.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{load, LoadOptions};
    use serde_json::json;

    fn spec(extra: serde_json::Value) -> ServiceSpec {
        let mut spec =
            json!({"cluster": "home", "followVirtualIP": "web", "compose": {"file": "c.yaml"}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn project(compose: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compose.yaml");
        std::fs::write(&path, compose).unwrap();
        load(&path, &LoadOptions::default()).unwrap()
    }

    #[test]
    fn exclusive_as_declared_else_when_it_writes_replicated_data() {
        let plain = project("services: {web: {image: x, volumes: [\"/srv/conf:/conf\"]}}\n");
        let data = project("services: {web: {image: x, volumes: [\"/srv/data/www:/www\"]}}\n");
        let replicated = [PathBuf::from("/srv/data")];
        assert!(!is_exclusive(&spec(json!({})), &plain, &replicated));
        // A bind mount inside a replicated path makes it exclusive...
        assert!(is_exclusive(&spec(json!({})), &data, &replicated));
        assert!(is_exclusive(
            &spec(json!({})),
            &project("services: {web: {image: x, volumes: [\"/srv:/srv\"]}}\n"),
            &replicated
        ));
        // ...as does requiring a Replication.
        assert!(is_exclusive(
            &spec(json!({"requires": ["data"]})),
            &plain,
            &[]
        ));
        // A declared handover wins both ways.
        assert!(!is_exclusive(
            &spec(json!({"requires": ["data"], "handover": "make-before-break"})),
            &data,
            &replicated
        ));
        assert!(is_exclusive(
            &spec(json!({"handover": "break-before-make"})),
            &plain,
            &[]
        ));
        // An active-active stack runs everywhere, whatever it writes.
        assert!(!is_exclusive(
            &spec(json!({"mode": "active-active", "requires": ["data"]})),
            &data,
            &replicated
        ));
        // Named volumes are the node's own, not replicated paths.
        let volume = project(
            "services: {web: {image: x, volumes: [\"www:/srv/data\"]}}\nvolumes: {www: {}}\n",
        );
        assert!(!is_exclusive(&spec(json!({})), &volume, &replicated));
    }

    fn node(name: &str, stack: OtherStack) -> OtherNode {
        OtherNode {
            node: name.into(),
            stack,
        }
    }

    #[test]
    fn waits_while_any_node_may_run_it_and_takes_silence_for_down() {
        assert_eq!(
            clearance(Ok(vec![
                node("n1", OtherStack::Running),
                node("n3", OtherStack::Unreachable("refused".into())),
            ])),
            Clearance::Wait {
                running_on: vec!["n1".into()]
            }
        );
        assert_eq!(
            clearance(Ok(vec![node("n1", OtherStack::Stopped)])),
            Clearance::Start { unconfirmed: None }
        );
        assert_eq!(
            clearance(Ok(vec![])),
            Clearance::Start { unconfirmed: None }
        );
        assert_eq!(
            clearance(Ok(vec![
                node("n1", OtherStack::Stopped),
                node("n3", OtherStack::Unreachable("timed out".into())),
            ])),
            Clearance::Start {
                unconfirmed: Some("no answer from n3 (timed out)".into())
            }
        );
        assert_eq!(
            clearance(Err("the peer API is off".into())),
            Clearance::Start {
                unconfirmed: Some("the peer API is off".into())
            }
        );
    }
}
