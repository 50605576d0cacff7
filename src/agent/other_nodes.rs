//! What the Service controller asks before it starts an exclusive stack
//! (`handover: break-before-make`): whether another node of the Cluster
//! may still run it, read from each node's summary over the peer API.

use async_trait::async_trait;
use hareconcile_compose::exclusive::{OtherNode, OtherNodes, OtherStack};
use hareconcile_model::status::{ServiceReason, VrrpState};
use hareconcile_model::Kind;
use hareconcile_runtime::Store;

use crate::cluster_view::{NodeView, ObjectDigest};
use crate::peer::PeerDirectory;

pub struct PeerStacks {
    pub directory: PeerDirectory,
    pub store: Store,
}

#[async_trait]
impl OtherNodes for PeerStacks {
    async fn stacks(&self, service: &str, vip: &str) -> Result<Vec<OtherNode>, String> {
        let nodes = self.directory.nodes(&self.store).await?;
        if nodes.is_empty() {
            return Err(
                "the peer API is off (the Cluster sets no spec.peer.tokenFile)".to_string(),
            );
        }
        Ok(nodes
            .iter()
            .filter(|view| view.node != self.store.node())
            .map(|view| OtherNode {
                node: view.node.clone(),
                stack: stack_on(view, service, vip),
            })
            .collect())
    }
}

/// What one node's answer says of the stack of `service`, following `vip`.
fn stack_on(view: &NodeView, service: &str, vip: &str) -> OtherStack {
    let Some(summary) = view.summary.as_ref().filter(|_| view.reachable) else {
        return OtherStack::Unreachable(view.error.clone().unwrap_or_default());
    };
    let find = |kind: Kind, name: &str| {
        summary
            .objects
            .iter()
            .find(|d| d.kind == kind && d.name == name)
    };
    let master = find(Kind::VirtualIP, vip).is_some_and(|d| d.state == Some(VrrpState::Master));
    let running = find(Kind::Service, service).is_some_and(runs);
    match master || running {
        true => OtherStack::Running,
        false => OtherStack::Stopped,
    }
}

/// A Service digest's stack may be running there. An agent too old to
/// say is read by its Ready reason: only a standby is surely stopped.
fn runs(digest: &ObjectDigest) -> bool {
    digest
        .stack_running
        .unwrap_or(digest.reason.as_deref() != Some(ServiceReason::Standby.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_view::PeerSummary;

    fn view(objects: Vec<ObjectDigest>) -> NodeView {
        NodeView {
            node: "n1".into(),
            address: "10.77.0.1:7979".into(),
            reachable: true,
            error: None,
            summary: Some(PeerSummary {
                node: "n1".into(),
                version: "0".into(),
                resource_version: 1,
                objects,
                sync: Vec::new(),
            }),
        }
    }

    fn vip(state: VrrpState) -> ObjectDigest {
        ObjectDigest {
            state: Some(state),
            ..ObjectDigest::of(Kind::VirtualIP, "web")
        }
    }

    fn shop(stack_running: Option<bool>, reason: &str) -> ObjectDigest {
        ObjectDigest {
            stack_running,
            reason: Some(reason.into()),
            ..ObjectDigest::of(Kind::Service, "shop")
        }
    }

    #[test]
    fn a_node_runs_the_stack_while_it_may_run_there_or_it_is_master() {
        let on = |objects| stack_on(&view(objects), "shop", "web");
        let backup = || vip(VrrpState::Backup);
        assert_eq!(
            on(vec![backup(), shop(Some(false), "Standby")]),
            OtherStack::Stopped
        );
        assert_eq!(
            on(vec![backup(), shop(Some(true), "Standby")]),
            OtherStack::Running,
            "a stack being stopped counts until it reported"
        );
        // Master there: its stack may start any moment.
        assert_eq!(
            on(vec![vip(VrrpState::Master), shop(Some(false), "Standby")]),
            OtherStack::Running
        );
        // An agent too old to say: its Ready reason.
        assert_eq!(
            on(vec![backup(), shop(None, "Standby")]),
            OtherStack::Stopped
        );
        assert_eq!(
            on(vec![backup(), shop(None, "Running")]),
            OtherStack::Running
        );
        // Neither declared there.
        assert_eq!(on(vec![]), OtherStack::Stopped);
        let silent = NodeView {
            reachable: false,
            error: Some("connection refused".into()),
            summary: None,
            ..view(vec![])
        };
        assert_eq!(
            stack_on(&silent, "shop", "web"),
            OtherStack::Unreachable("connection refused".into())
        );
    }
}
