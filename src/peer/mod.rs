//! The peer API: agents of one Cluster talk to each other over TCP with a
//! shared bearer token, exchanging summaries (object digests and what
//! each node observes). `status` on any node then shows every node, and
//! a peer that does not answer is shown as unreachable, never hidden.
//!
//! Where to listen and whom to ask comes from the Cluster that lists this
//! node (`spec.nodes[].address`, `spec.peer.port`, `spec.peer.tokenFile`);
//! without a token file the peer API stays off rather than serve
//! unauthenticated. With `spec.peer.tls` it runs over mutual TLS.

mod client;
mod server;
mod tls;

pub use client::CallError;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hareconcile_model::{ClusterSpec, Kind, Object};
use hareconcile_runtime::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::cluster_view::{summarize, NodeView};
use crate::cluster_view::{LocalStacks, StackQuestion};
use crate::switchover::{set_here, NodeOutcome, SwitchoverRequest};
use hareconcile_compose::exclusive::StackReport;

/// How long a peer may take to answer before it counts as unreachable.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(2);

/// What the Cluster says about the peer API for this node.
#[derive(Debug, Clone, PartialEq)]
struct PeerConfig {
    listen: SocketAddr,
    token: String,
    /// Every node of the cluster, this one included, by name.
    nodes: Vec<(String, SocketAddr)>,
    tls: Option<tls::PeerTlsConfig>,
}

/// Reads the peer settings of the first Cluster listing `node`.
fn config_from_store(store: &Store) -> Result<Option<PeerConfig>, String> {
    let node = store.node();
    for cluster in store.list(Some(Kind::Cluster)).0 {
        let Ok(spec) = cluster.spec_as::<ClusterSpec>() else {
            continue;
        };
        if spec.node(node).is_some() {
            return config_for(&cluster.metadata.name, &spec, node).map(Some);
        }
    }
    Ok(None)
}

/// The peer settings Cluster `name` gives `node`, which it lists.
fn config_for(name: &str, spec: &ClusterSpec, node: &str) -> Result<PeerConfig, String> {
    let me = spec
        .node(node)
        .ok_or_else(|| format!("Cluster {name} does not list node {node}"))?;
    let Some(token_file) = &spec.peer.token_file else {
        return Err(format!(
            "Cluster {name} sets no spec.peer.tokenFile: the peer API stays off"
        ));
    };
    // A token others can read is no token: refused, with the chmod to run.
    let token = hareconcile_fs::read_secret(token_file).map_err(|e| format!("peer token: {e}"))?;
    let token = String::from_utf8_lossy(&token).trim().to_string();
    if token.is_empty() {
        return Err(format!("peer token file {} is empty", token_file.display()));
    }
    let tls = match &spec.peer.tls {
        Some(files) => Some(tls::TlsFiles::read(files)?.config()?),
        None => None,
    };
    let port = spec.peer.port;
    Ok(PeerConfig {
        tls,
        listen: SocketAddr::new(me.address, port),
        token,
        nodes: spec
            .nodes
            .iter()
            .map(|n| (n.name.clone(), SocketAddr::new(n.address, port)))
            .collect(),
    })
}

/// How long a peer may take to validate and write a batch.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a write meant for every node goes: the nodes of the Cluster that
/// lists this one, and how to reach the others.
pub struct WriteTargets {
    /// That Cluster's name; `None` when no Cluster lists this node (yet).
    pub cluster: Option<String>,
    /// Every node, this one included, in the Cluster's order, with its
    /// peer API address (this node alone, without an address, when no
    /// Cluster lists it).
    pub nodes: Vec<(String, Option<SocketAddr>)>,
    /// Why some nodes of the Cluster are not among them.
    pub note: Option<String>,
    config: Option<PeerConfig>,
}

impl WriteTargets {
    /// POSTs `request` to the peer API of the node at `address`.
    pub async fn post<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        address: SocketAddr,
        path: &str,
        request: &Req,
    ) -> Result<Resp, client::CallError> {
        let Some(config) = &self.config else {
            return Err(client::CallError::Unreachable(
                "the peer API is off".to_string(),
            ));
        };
        let peer = client::PeerAddress {
            address,
            tls: config.tls.as_ref().map(|t| &t.connector),
            token: &config.token,
        };
        client::post(&peer, path, request, WRITE_TIMEOUT).await
    }
}

/// The nodes a write reaches. The Cluster comes from the batch when it
/// declares one listing this node (the first `apply` of a cluster, or one
/// that changes its nodes, goes where it says), else from the store.
/// Without a Cluster, or with one that turns the peer API off (no
/// `spec.peer.tokenFile`: each node then loads its objects itself), the
/// write stays here, with a note saying so; a peer API configured but
/// broken here (an unreadable token or certificate) is an error.
pub fn write_targets(store: &Store, batch: &[Object]) -> Result<WriteTargets, String> {
    let me = store.node();
    let listing = |o: &Object| {
        let spec = o.spec_as::<ClusterSpec>().ok()?;
        spec.node(me)
            .is_some()
            .then(|| (o.metadata.name.clone(), spec))
    };
    let declared = batch
        .iter()
        .filter(|o| o.kind == Kind::Cluster)
        .find_map(listing);
    let cluster = declared.or_else(|| {
        store
            .list(Some(Kind::Cluster))
            .0
            .iter()
            .find_map(|o| listing(o))
    });
    let Some((name, spec)) = cluster else {
        return Ok(WriteTargets {
            cluster: None,
            nodes: vec![(me.to_string(), None)],
            note: None,
            config: None,
        });
    };
    let others: Vec<&str> = spec
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .filter(|n| *n != me)
        .collect();
    if others.is_empty() || spec.peer.token_file.is_none() {
        let note = (!others.is_empty()).then(|| {
            format!(
                "Cluster {name} sets no spec.peer.tokenFile, so the agents do not talk to \
                 each other: written on {me} only; {} load their objects themselves \
                 (--manifests, GitOps, or `hareconcile apply` there)",
                others.join(", ")
            )
        });
        return Ok(WriteTargets {
            cluster: Some(name),
            nodes: vec![(me.to_string(), None)],
            note,
            config: None,
        });
    }
    let config = config_for(&name, &spec, me).map_err(|why| {
        format!(
            "cannot reach the other nodes of Cluster {name}: {why}. The token file (and \
             the spec.peer.tls files) must be on every node (`hareconcile init` makes \
             them); or write this node's store alone with --local"
        )
    })?;
    Ok(WriteTargets {
        cluster: Some(name),
        nodes: config
            .nodes
            .iter()
            .map(|(node, address)| (node.clone(), Some(*address)))
            .collect(),
        note: None,
        config: Some(config),
    })
}

/// The current peer settings, shared with the local API.
#[derive(Clone)]
pub struct PeerDirectory {
    current: Arc<Mutex<Result<Option<PeerConfig>, String>>>,
}

impl Default for PeerDirectory {
    fn default() -> Self {
        PeerDirectory {
            current: Arc::new(Mutex::new(Ok(None))),
        }
    }
}

impl PeerDirectory {
    /// Every node of this node's Cluster: this one from the store, the
    /// others asked over the network, all at once.
    pub async fn nodes(&self, store: &Store) -> Result<Vec<NodeView>, String> {
        let config = self.current.lock().expect("peer directory lock").clone()?;
        let Some(config) = config else {
            return Ok(Vec::new());
        };
        let asks = config.nodes.iter().map(|(name, address)| {
            let (name, address, token) = (name.clone(), *address, config.token.clone());
            let tls = config.tls.as_ref().map(|t| t.connector.clone());
            let me = store.node() == name;
            let store = store.clone();
            async move {
                let answer = if me {
                    Ok(summarize(&store))
                } else {
                    client::fetch_summary(address, tls.as_ref(), &token, PEER_TIMEOUT).await
                };
                NodeView {
                    node: name,
                    address: address.to_string(),
                    reachable: answer.is_ok(),
                    error: answer.as_ref().err().cloned(),
                    summary: answer.ok(),
                }
            }
        });
        Ok(futures::future::join_all(asks).await)
    }
}

/// What one other node answered about an exclusive stack: its report,
/// `None` from an agent that predates the question, or why no answer came.
pub type StackAnswer = Result<Option<StackReport>, String>;

impl PeerDirectory {
    /// Asks every other node of this node's Cluster, all at once, what it
    /// says now of an exclusive stack; `None` when the peer API is off.
    pub async fn exclusive(
        &self,
        store: &Store,
        question: &StackQuestion,
    ) -> Result<Option<Vec<(String, StackAnswer)>>, String> {
        let config = self.current.lock().expect("peer directory lock").clone()?;
        let Some(config) = config else {
            return Ok(None);
        };
        let asks = config
            .nodes
            .iter()
            .filter(|(name, _)| name != store.node())
            .map(|(name, address)| {
                let peer = client::PeerAddress {
                    address: *address,
                    tls: config.tls.as_ref().map(|t| &t.connector),
                    token: &config.token,
                };
                async move {
                    let answer = client::post(&peer, "/peer/v1/exclusive", question, PEER_TIMEOUT);
                    let answer = match answer.await {
                        Ok(report) => Ok(Some(report)),
                        Err(CallError::Answered {
                            status: hyper::StatusCode::NOT_FOUND,
                            ..
                        }) => Ok(None),
                        Err(other) => Err(other.to_string()),
                    };
                    (name.clone(), answer)
                }
            });
        Ok(Some(futures::future::join_all(asks).await))
    }
}

impl PeerDirectory {
    /// Sets a VirtualIP's switchover target in every node's store: this
    /// one directly, the others over the peer API, all at once. Without
    /// the peer API only a target on this node could be reached, and the
    /// other nodes would not stop preempting, so that is refused.
    pub async fn switchover(
        &self,
        store: &Store,
        request: &SwitchoverRequest,
    ) -> Result<Vec<NodeOutcome>, String> {
        let config = self.current.lock().expect("peer directory lock").clone()?;
        let Some(config) = config else {
            return Err(format!(
                "the peer API is off on node {} (the Cluster sets no spec.peer.tokenFile): \
                 a switchover must reach every node's agent",
                store.node()
            ));
        };
        let asks = config.nodes.iter().map(|(name, address)| {
            let config = &config;
            async move {
                let result = if store.node() == name {
                    let (store, request) = (store.clone(), request.clone());
                    tokio::task::spawn_blocking(move || set_here(&store, &request))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                } else {
                    let peer = client::PeerAddress {
                        address: *address,
                        tls: config.tls.as_ref().map(|t| &t.connector),
                        token: &config.token,
                    };
                    client::send_switchover(&peer, request, PEER_TIMEOUT)
                        .await
                        .and_then(|outcome| match outcome.error {
                            Some(error) => Err(error),
                            None => outcome.generation.ok_or_else(|| "no generation".into()),
                        })
                };
                NodeOutcome::from_result(name, result)
            }
        });
        Ok(futures::future::join_all(asks).await)
    }
}

/// Keeps the peer server listening where the Cluster says, restarting it
/// when the Cluster changes, and `directory` up to date (the controllers
/// started before it hold it already).
/// `stacks` answers other nodes about exclusive stacks.
pub fn start(
    store: Store,
    directory: &PeerDirectory,
    sync: crate::drift::SyncSources,
    stacks: LocalStacks,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let shared = directory.clone();
    let task = tokio::spawn(async move {
        let mut serving: Option<(PeerConfig, JoinHandle<()>)> = None;
        let (_, rv) = store.list(None);
        let mut changes = store.watch(Some(Kind::Cluster), rv).ok();
        loop {
            let wanted = config_from_store(&store);
            let listening = serving.as_ref().map(|(c, _)| c);
            if wanted.as_ref().ok().and_then(Option::as_ref) != listening {
                if let Some((_, server)) = serving.take() {
                    server.abort();
                }
                match &wanted {
                    Ok(Some(config)) => {
                        info!(listen = %config.listen, tls = config.tls.is_some(), "peer API listening");
                        let server = tokio::spawn(server::serve(
                            config.listen,
                            config.tls.as_ref().map(|t| t.acceptor.clone()),
                            config.token.clone(),
                            store.clone(),
                            sync.clone(),
                            stacks.clone(),
                            config.nodes.iter().map(|(_, a)| a.ip()).collect(),
                        ));
                        serving = Some((config.clone(), server));
                    }
                    Ok(None) => {}
                    Err(why) => warn!("{why}"),
                }
            }
            *shared.current.lock().expect("peer directory lock") = wanted;
            let changed = async {
                match changes.as_mut() {
                    Some(watcher) => {
                        if watcher.next().await.is_err() {
                            changes = None;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = changed => {}
                // Token files change without a store change.
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = stopped.changed() => break,
            }
        }
        if let Some((_, server)) = serving {
            server.abort();
        }
    });
    task
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_token_file_others_can_read_is_refused_with_the_chmod_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("peer.token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let spec: ClusterSpec = serde_json::from_value(serde_json::json!({
            "nodes": [{"name": "n1", "address": "192.0.2.1"}, {"name": "n2", "address": "192.0.2.2"}],
            "peer": {"tokenFile": token},
        }))
        .unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = config_for("lab", &spec, "n1").unwrap_err();
        assert!(
            refused.contains(&format!("chmod 600 {}", token.display())),
            "{refused}"
        );
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(config_for("lab", &spec, "n1").unwrap().token, "s3cret");
    }
}
