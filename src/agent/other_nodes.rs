//! What the Service controller asks before it starts an exclusive stack
//! (`handover: break-before-make`): the other nodes' answers over the peer
//! API, each from what that node knows at that moment
//! ([`crate::cluster_view::LocalStacks`], which this node answers with).

use async_trait::async_trait;
use hareconcile_compose::exclusive::{OtherNode, OtherNodes, Round, StackReport};
use hareconcile_model::status::{ServiceReason, VrrpState};
use hareconcile_model::Kind;

use crate::cluster_view::{LocalStacks, NodeView, ObjectDigest, StackQuestion};
use crate::peer::PeerDirectory;

pub struct PeerStacks {
    pub directory: PeerDirectory,
    pub local: LocalStacks,
}

#[async_trait]
impl OtherNodes for PeerStacks {
    async fn ask(&self, service: &str, vip: &str) -> Result<Round, String> {
        let question = StackQuestion {
            service: service.to_string(),
            vip: vip.to_string(),
        };
        let store = &self.local.store;
        let Some(answers) = self.directory.exclusive(store, &question).await? else {
            return Err(
                "the peer API is off (the Cluster sets no spec.peer.tokenFile)".to_string(),
            );
        };
        let mut others = Vec::new();
        let mut older = Vec::new();
        for (node, answer) in answers {
            match answer {
                Ok(Some(report)) => others.push(OtherNode {
                    node,
                    answer: Ok(report),
                }),
                Err(why) => others.push(OtherNode {
                    node,
                    answer: Err(why),
                }),
                Ok(None) => older.push(node),
            }
        }
        if !older.is_empty() {
            others.extend(self.ask_older(&older, service, vip).await?);
        }
        let own = self.local.report(&question).await;
        Ok(Round {
            node: store.node().to_string(),
            priority: own.priority,
            others,
        })
    }
}

impl PeerStacks {
    /// Nodes whose agent predates `/peer/v1/exclusive` answer from their
    /// summary: their store's last report, with no claims.
    async fn ask_older(
        &self,
        nodes: &[String],
        service: &str,
        vip: &str,
    ) -> Result<Vec<OtherNode>, String> {
        let views = self.directory.nodes(&self.local.store).await?;
        Ok(views
            .iter()
            .filter(|view| nodes.contains(&view.node))
            .map(|view| OtherNode {
                node: view.node.clone(),
                answer: summary_report(view, service, vip),
            })
            .collect())
    }
}

/// What an older node's summary says of the stack of `service`, following `vip`.
fn summary_report(view: &NodeView, service: &str, vip: &str) -> Result<StackReport, String> {
    let Some(summary) = view.summary.as_ref().filter(|_| view.reachable) else {
        return Err(view.error.clone().unwrap_or_default());
    };
    let find = |kind: Kind, name: &str| {
        summary
            .objects
            .iter()
            .find(|d| d.kind == kind && d.name == name)
    };
    Ok(StackReport {
        master: find(Kind::VirtualIP, vip).is_some_and(|d| d.state == Some(VrrpState::Master)),
        running: find(Kind::Service, service).is_some_and(runs),
        ..StackReport::default()
    })
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
    fn an_older_node_runs_the_stack_while_its_summary_says_it_may_run_there() {
        let on = |objects| summary_report(&view(objects), "shop", "web").unwrap();
        let report = |master, running| StackReport {
            master,
            running,
            ..StackReport::default()
        };
        let backup = || vip(VrrpState::Backup);
        assert_eq!(
            on(vec![backup(), shop(Some(false), "Standby")]),
            report(false, false)
        );
        assert_eq!(
            on(vec![backup(), shop(Some(true), "Standby")]),
            report(false, true),
            "a stack being stopped counts until it reported"
        );
        assert_eq!(
            on(vec![vip(VrrpState::Master), shop(Some(false), "Standby")]),
            report(true, false)
        );
        // An agent too old to say: its Ready reason.
        assert_eq!(
            on(vec![backup(), shop(None, "Standby")]),
            report(false, false)
        );
        assert_eq!(
            on(vec![backup(), shop(None, "Running")]),
            report(false, true)
        );
        // Neither declared there.
        assert_eq!(on(vec![]), report(false, false));
        let silent = NodeView {
            reachable: false,
            error: Some("connection refused".into()),
            summary: None,
            ..view(vec![])
        };
        assert_eq!(
            summary_report(&silent, "shop", "web"),
            Err("connection refused".into())
        );
    }
}
