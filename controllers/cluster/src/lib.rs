//! The cluster controller: tells the operator, on each node, whether this
//! agent is one of the Cluster's declared nodes and whether the address the
//! Cluster gives it is really configured here. Every other controller
//! relies on both (VRRP sources adverts from that address, peers dial it),
//! so a typo in either shows up as `Ready=False` with the fix, not as a
//! silent election nobody wins.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hareconcile_model::status::ClusterReason;
use hareconcile_model::{ClusterSpec, ClusterStatus, ConditionStatus, Kind, Object, ObjectKey};
use hareconcile_runtime::{Action, Context, Readiness, ReconcileError, Reconciler};

/// Addresses come and go without a store change; look again this often.
const ADDRESS_RECHECK: Duration = Duration::from_secs(10);

/// Where the controller learns which addresses this host has.
pub trait LocalAddresses: Send + Sync + 'static {
    fn contains(&self, address: IpAddr) -> bool;
}

/// The host's interfaces, read with getifaddrs(3) on each check.
pub struct HostAddresses;

impl LocalAddresses for HostAddresses {
    fn contains(&self, address: IpAddr) -> bool {
        let Ok(interfaces) = nix::ifaddrs::getifaddrs() else {
            return false;
        };
        interfaces.filter_map(|i| i.address).any(|sockaddr| {
            let found = if let Some(v4) = sockaddr.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6) = sockaddr.as_sockaddr_in6() {
                IpAddr::V6(v6.ip())
            } else {
                return false;
            };
            found == address
        })
    }
}

pub struct ClusterReconciler<A = HostAddresses> {
    addresses: A,
}

impl ClusterReconciler<HostAddresses> {
    pub fn new() -> Self {
        ClusterReconciler {
            addresses: HostAddresses,
        }
    }
}

impl Default for ClusterReconciler<HostAddresses> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: LocalAddresses> ClusterReconciler<A> {
    pub fn with_addresses(addresses: A) -> Self {
        ClusterReconciler { addresses }
    }
}

/// The verdict for this node, as the Ready condition says it.
fn membership(
    spec: &ClusterSpec,
    cluster: &str,
    node: &str,
    addresses: &dyn LocalAddresses,
) -> Readiness<ClusterReason> {
    let Some(me) = spec.node(node) else {
        let known: Vec<&str> = spec.nodes.iter().map(|n| n.name.as_str()).collect();
        return (
            ConditionStatus::False,
            ClusterReason::NodeNotInCluster,
            format!(
                "this agent runs as node {node:?}, which Cluster {cluster} does not list: add it to spec.nodes or start the agent with --node set to one of {}",
                known.join(", ")
            ),
        );
    };
    if !addresses.contains(me.address) {
        return (
            ConditionStatus::False,
            ClusterReason::AddressNotLocal,
            format!(
                "node {node}'s address {} is not configured on any interface of this host: fix spec.nodes or the host's network",
                me.address
            ),
        );
    }
    (
        ConditionStatus::True,
        ClusterReason::Member,
        format!(
            "node {node} ({}) is one of {} node(s)",
            me.address,
            spec.nodes.len()
        ),
    )
}

#[async_trait]
impl<A: LocalAddresses> Reconciler for ClusterReconciler<A> {
    const KIND: Kind = Kind::Cluster;

    async fn reconcile(
        &self,
        object: Arc<Object>,
        ctx: &Context,
    ) -> Result<Action, ReconcileError> {
        let spec: ClusterSpec = object.spec_as()?;
        let ready = membership(&spec, &object.metadata.name, &ctx.node, &self.addresses);
        let node = ctx.node.to_string();
        // Deleted while we looked: cleanup follows (report says Ok).
        ctx.report(
            &object,
            |s: &mut ClusterStatus| s.local_node = Some(node),
            ready,
        )?;
        Ok(Action::Requeue(ADDRESS_RECHECK))
    }

    async fn cleanup(&self, _key: &ObjectKey, _ctx: &Context) -> Result<(), ReconcileError> {
        // Membership is only reported, never enacted: nothing to undo.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hareconcile_model::{Manager, ObjectMeta, Status, API_VERSION};
    use hareconcile_runtime::{ApplyOptions, Controller, Store};
    use serde_json::json;

    struct Fixed(Vec<IpAddr>);
    impl LocalAddresses for Fixed {
        fn contains(&self, address: IpAddr) -> bool {
            self.0.contains(&address)
        }
    }

    fn cluster() -> Object {
        Object {
            api_version: API_VERSION.into(),
            kind: Kind::Cluster,
            metadata: ObjectMeta::named("home"),
            spec: json!({"nodes": [
                {"name": "n1", "address": "10.77.0.1", "priority": 110},
                {"name": "n2", "address": "10.77.0.2", "priority": 100}
            ]}),
            status: Status::default(),
        }
    }

    async fn ready_condition(
        node: &str,
        local: Vec<IpAddr>,
    ) -> (ConditionStatus, Option<ClusterReason>, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), node).unwrap();
        store
            .apply(vec![cluster()], Manager::Cli, ApplyOptions::default())
            .unwrap();
        let ctx = Context {
            store: store.clone(),
            node: node.into(),
        };
        let handle = Controller::new(ClusterReconciler::with_addresses(Fixed(local)), ctx).start();
        let key = ObjectKey::new(Kind::Cluster, "home");
        for _ in 0..100 {
            if let Some(c) = store.get(&key).unwrap().status.condition("Ready") {
                let c = c.clone();
                handle.shutdown().await;
                return (c.status, ClusterReason::parse(&c.reason), c.message);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no Ready condition written");
    }

    #[tokio::test]
    async fn a_declared_node_with_its_address_is_ready() {
        let (status, reason, _) = ready_condition("n1", vec!["10.77.0.1".parse().unwrap()]).await;
        assert_eq!(
            (status, reason),
            (ConditionStatus::True, Some(ClusterReason::Member))
        );
    }

    #[tokio::test]
    async fn an_undeclared_node_is_told_which_names_exist() {
        let (status, reason, message) = ready_condition("n3", vec![]).await;
        assert_eq!(status, ConditionStatus::False);
        assert_eq!(reason, Some(ClusterReason::NodeNotInCluster));
        assert!(message.contains("one of n1, n2"), "{message}");
    }

    #[tokio::test]
    async fn a_node_without_its_address_is_not_ready() {
        let (status, reason, message) =
            ready_condition("n2", vec!["10.77.0.1".parse().unwrap()]).await;
        assert_eq!(status, ConditionStatus::False);
        assert_eq!(reason, Some(ClusterReason::AddressNotLocal));
        assert!(message.contains("10.77.0.2"), "{message}");
    }
}
