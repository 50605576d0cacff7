//! Events about this node rather than one object (its store cannot
//! write, a git commit it refused): recorded on the Cluster that lists
//! it, where `events` and `describe cluster` show them.

use hareconcile_model::{ClusterSpec, Kind, ObjectKey};
use hareconcile_runtime::{EventType, Store};

/// Records the event, its message prefixed with the node, on the Cluster
/// listing this node; without one there is no object to hold it, and the
/// log line the caller writes is all there is.
pub fn record(store: &Store, type_: EventType, reason: &str, message: &str) {
    let node = store.node();
    let cluster = store.list(Some(Kind::Cluster)).0.into_iter().find(|c| {
        c.spec_as::<ClusterSpec>()
            .is_ok_and(|spec| spec.node(node).is_some())
    });
    if let Some(cluster) = cluster {
        let key: ObjectKey = cluster.key();
        store.record_event(&key, type_, reason, &format!("node {node}: {message}"));
    }
}
