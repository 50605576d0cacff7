//! Drift: where what was declared, what the store holds and what is real
//! differ, as Argo CD separates them: *sync* (declared files or git vs
//! the store), *health* (the store vs the real system, as controllers
//! report it), and *skew* (one node's objects vs another's). Each finding
//! says what the agent will do about it, or that a person must act.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hareconcile_compose::{ComposeFiles, COMPOSE_FILES_ANNOTATION};
use hareconcile_model::load::load_paths_checked;
use hareconcile_model::status::{is_terminal, ReplicationReason, ServiceReason, VrrpState};
use hareconcile_model::{Kind, Manager, Object};
use hareconcile_runtime::Store;

use crate::cluster_view::{
    spec_hash, summarize, AttemptOutcome, Category, Finding, GitopsHandle, GitopsStatus, NodeView,
    ObjectDigest,
};

/// A directory whose manifests `manager` keeps applied on this node.
#[derive(Debug, Clone)]
pub struct DeclaredSource {
    pub manager: Manager,
    pub dir: PathBuf,
}

/// What this node's sync findings are computed from, for the local API
/// and for the summaries peers ask for (so `drift` on any node shows every
/// node's objects applied by hand over files or git).
#[derive(Clone, Default)]
pub struct SyncSources {
    pub declared: Vec<DeclaredSource>,
    pub gitops: Option<GitopsHandle>,
}

impl SyncSources {
    /// [`sync_findings`] off the async threads: reading manifests blocks.
    pub async fn findings(&self, store: &Store) -> Vec<Finding> {
        let gitops = self.gitops.as_ref().map(GitopsHandle::status);
        let (store, declared) = (store.clone(), self.declared.clone());
        tokio::task::spawn_blocking(move || sync_findings(&store, &declared, gitops.as_ref()))
            .await
            .unwrap_or_default()
    }
}

/// Declared vs stored, for every source this node follows.
pub fn sync_findings(
    store: &Store,
    declared: &[DeclaredSource],
    gitops: Option<&GitopsStatus>,
) -> Vec<Finding> {
    let node = store.node().to_string();
    let finding = |object: Option<String>, reason: &str, message: String, fix: String| Finding {
        node: node.clone(),
        object,
        category: Category::Sync,
        reason: reason.into(),
        message,
        fix,
    };
    let mut findings = Vec::new();
    let stored: Vec<Object> = store.list(None).0.iter().map(|o| (**o).clone()).collect();
    for source in declared.iter().filter(|s| s.dir.exists()) {
        // Checked as the agent applies them: a broken compose file is why
        // the directory is not applied.
        let manifests = match load_paths_checked(&[&source.dir], &stored, &ComposeFiles) {
            Ok(manifests) => manifests,
            Err(diagnostics) => {
                let first = diagnostics
                    .0
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                findings.push(finding(
                    None,
                    "InvalidManifests",
                    format!(
                        "{} error(s) in {}; first: {first}",
                        diagnostics.0.len(),
                        source.dir.display()
                    ),
                    "won't apply until the files are fixed; the last good state stays".into(),
                ));
                continue;
            }
        };
        for manifest in manifests {
            let key = manifest.object.key();
            let file = manifest.file.display();
            match store.get(&key) {
                None => findings.push(finding(
                    Some(key.to_string()),
                    "NotApplied",
                    format!("declared in {file} but not in the store"),
                    format!("the agent applies it as {} on its next sync", source.manager),
                )),
                Some(live) if live.metadata.manager != Some(source.manager) => findings.push(finding(
                    Some(key.to_string()),
                    "ManagedElsewhere",
                    format!(
                        "declared by {} in {file}, but last applied by {} (by hand over it?)",
                        source.manager,
                        live.metadata.manager.map_or("nobody".into(), |m| m.to_string())
                    ),
                    format!(
                        "won't overwrite another manager's object: delete it with --force, or re-apply from {} with --force",
                        source.manager
                    ),
                )),
                Some(live) if spec_hash(&live.spec) != spec_hash(&manifest.object.spec) => findings.push(finding(
                    Some(key.to_string()),
                    "OutOfSync",
                    format!("the store's spec differs from {file}"),
                    format!("the agent re-applies it as {} on its next sync", source.manager),
                )),
                Some(live) if compose_files(&live) != compose_files(&manifest.object) => findings.push(finding(
                    Some(key.to_string()),
                    "OutOfSync",
                    format!("its compose files changed since the store's copy of {file} was applied"),
                    format!("the agent re-applies it as {} on its next sync", source.manager),
                )),
                Some(_) => {}
            }
        }
    }
    if let Some(attempt) = gitops.and_then(|g| g.last_attempted.as_ref()) {
        let sha = attempt.sha.clone().unwrap_or_else(|| "-".into());
        let applied = gitops
            .and_then(|g| g.last_applied.as_ref())
            .map_or("no commit".to_string(), |a| format!("commit {}", a.sha));
        match &attempt.outcome {
            AttemptOutcome::Rejected { errors } => findings.push(finding(
                None,
                "CommitRejected",
                format!(
                    "commit {sha}: {} ({} error(s))",
                    errors.first().cloned().unwrap_or_default(),
                    errors.len()
                ),
                format!("fix the commit and push; {applied} stays applied"),
            )),
            AttemptOutcome::Failed { error } => findings.push(finding(
                None,
                "GitSyncFailed",
                error.clone(),
                format!("retried every interval; {applied} stays applied"),
            )),
            AttemptOutcome::Applied { .. } => {}
        }
    }
    findings
}

/// The digest of the compose files a Service was loaded with.
fn compose_files(object: &Object) -> Option<&str> {
    object
        .metadata
        .annotations
        .get(COMPOSE_FILES_ANNOTATION)
        .map(String::as_str)
}

/// What the agent does about an object of `kind` that is not Ready (or a
/// False condition or drift finding of a Ready one), by reason.
fn health_fix(kind: Kind, reason: Option<&str>) -> String {
    let Some(reason) = reason else {
        return "no controller reports on this object yet".into();
    };
    let text = match known_fix(kind, reason) {
        Some(Fix::Declaration) => "won't fix: change the manifest or the host as the message says",
        Some(Fix::WaitingForData) => "starts by itself once the required Replications are Ready",
        Some(Fix::WaitingForOtherNode) => {
            "starts by itself once no other node may run the stack, claims it or is master (break-before-make); if it stays, see that node's status"
        }
        Some(Fix::Remount) => {
            "the agent detaches the mount and mounts it again, with backoff until the server answers"
        }
        Some(Fix::OptionsDiffer) => {
            "the agent remounts once per generation of the Replication with the declared options; if they differ again (remounted by hand, or the kernel shows others), won't fix: remount it with the declared options, or check them against the filesystem's documentation"
        }
        Some(Fix::Lagging) => {
            "the agent keeps pushing on every change and interval; if the lag stays, won't fix: check the link and the targets' errors in status"
        }
        Some(Fix::Stale) => {
            "refreshed when the master pushes again; if it stays, won't fix: check the master's sync status and the link"
        }
        Some(Fix::SyncFailed) => {
            "retried on the next pass; if it keeps failing, won't fix: check the error (ssh, disk) on the target"
        }
        Some(Fix::EmptySource) => {
            "won't propagate an empty source over the targets: restore the data on the master"
        }
        None => "the agent keeps reconciling it on every event and resync",
    };
    text.into()
}

/// The reasons whose fix is not the agent's usual reconciling.
enum Fix {
    /// Only a person can fix the declaration or the host.
    Declaration,
    WaitingForData,
    WaitingForOtherNode,
    Remount,
    OptionsDiffer,
    Lagging,
    Stale,
    SyncFailed,
    EmptySource,
}

fn known_fix(kind: Kind, reason: &str) -> Option<Fix> {
    if is_terminal(kind, reason) {
        return Some(Fix::Declaration);
    }
    match kind {
        Kind::Service => match ServiceReason::parse(reason)? {
            ServiceReason::WaitingForReplication => Some(Fix::WaitingForData),
            ServiceReason::WaitingForOtherNode => Some(Fix::WaitingForOtherNode),
            _ => None,
        },
        Kind::Replication => match ReplicationReason::parse(reason)? {
            ReplicationReason::MountStale => Some(Fix::Remount),
            ReplicationReason::OptionsDiffer => Some(Fix::OptionsDiffer),
            ReplicationReason::Lagging => Some(Fix::Lagging),
            ReplicationReason::Stale => Some(Fix::Stale),
            ReplicationReason::SyncFailed => Some(Fix::SyncFailed),
            ReplicationReason::EmptySource => Some(Fix::EmptySource),
            _ => None,
        },
        Kind::Cluster | Kind::VirtualIP => None,
    }
}

fn spec_hashes(objects: &[ObjectDigest]) -> BTreeMap<String, String> {
    objects
        .iter()
        .map(|d| (format!("{}/{}", d.kind, d.name), d.spec_hash.clone()))
        .collect()
}

/// One node's answer, or why there is none.
#[derive(Clone, Copy)]
struct Seen<'a> {
    node: &'a str,
    objects: Option<&'a [ObjectDigest]>,
    /// The node's own sync findings, as its peer API reports them.
    sync: &'a [Finding],
    error: Option<&'a str>,
}

/// Health on every node, the other nodes' sync findings (this node's own
/// come from [`sync_findings`]), split brain across nodes, and config skew.
pub fn cluster_findings(store: &Store, nodes: &[NodeView]) -> Vec<Finding> {
    let local;
    let nodes: Vec<Seen> = if nodes.is_empty() {
        local = summarize(store);
        vec![Seen {
            node: &local.node,
            objects: Some(&local.objects),
            sync: &[],
            error: None,
        }]
    } else {
        nodes
            .iter()
            .map(|n| Seen {
                node: &n.node,
                objects: n.summary.as_ref().map(|s| s.objects.as_slice()),
                sync: n.summary.as_ref().map_or(&[], |s| s.sync.as_slice()),
                error: n.error.as_deref(),
            })
            .collect()
    };
    let me = store.node();
    let mut findings: Vec<Finding> = nodes
        .iter()
        .filter(|n| n.node != me)
        .flat_map(|n| n.sync.iter().cloned())
        .collect();
    let mut masters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for &Seen {
        node,
        objects,
        error,
        ..
    } in &nodes
    {
        let Some(objects) = objects else {
            findings.push(Finding {
                node: node.to_string(),
                object: None,
                category: Category::Health,
                reason: "NodeUnreachable".into(),
                message: error.unwrap_or_default().to_string(),
                fix: "won't fix: check the node, its agent and the network".into(),
            });
            continue;
        };
        for digest in objects.iter() {
            if digest.kind == Kind::VirtualIP && digest.state == Some(VrrpState::Master) {
                masters.entry(digest.name.as_str()).or_default().push(node);
            }
            findings.extend(digest.drift.iter().map(|seen| {
                Finding {
                    node: node.to_string(),
                    object: Some(format!("{}/{}", digest.kind, digest.name)),
                    category: Category::Health,
                    reason: seen.reason.clone(),
                    message: seen.message.clone(),
                    fix: seen
                        .fix
                        .clone()
                        .unwrap_or_else(|| health_fix(digest.kind, Some(&seen.reason))),
                }
            }));
            // A master-only mount on a backup is where it should be.
            let standing_by =
                digest.reason.as_deref() == Some(ReplicationReason::NotMaster.as_str());
            if !digest.ready && !standing_by {
                findings.push(Finding {
                    node: node.to_string(),
                    object: Some(format!("{}/{}", digest.kind, digest.name)),
                    category: Category::Health,
                    reason: digest
                        .reason
                        .clone()
                        .unwrap_or_else(|| "NotReported".into()),
                    message: digest.message.clone().unwrap_or_default(),
                    fix: health_fix(digest.kind, digest.reason.as_deref()),
                });
            }
        }
    }
    for (vip, holders) in masters.iter().filter(|(_, h)| h.len() > 1) {
        findings.push(Finding {
            node: holders.join(","),
            object: Some(format!("VirtualIP/{vip}")),
            category: Category::Health,
            reason: "SplitBrain".into(),
            message: format!(
                "master on {} at once: each holds the addresses and runs what follows them, so their adverts do not reach each other",
                holders.join(" and ")
            ),
            fix: "VRRP settles it by priority as soon as adverts pass again; won't fix the network: check what drops VRRP (IP protocol 112) between the nodes (firewall, switch, multicast)".into(),
        });
    }
    if let Some(mine) = nodes
        .iter()
        .find(|n| n.node == me)
        .and_then(|n| n.objects)
        .map(spec_hashes)
    {
        for &Seen { node, objects, .. } in nodes.iter().filter(|n| n.node != me) {
            let Some(theirs) = objects.map(spec_hashes) else {
                continue;
            };
            let keys: std::collections::BTreeSet<&String> =
                mine.keys().chain(theirs.keys()).collect();
            for key in keys.into_iter().filter(|k| mine.get(*k) != theirs.get(*k)) {
                let message = match (mine.get(key), theirs.get(key)) {
                    (Some(_), None) => format!("on {me}, missing on {node}"),
                    (None, Some(_)) => format!("on {node}, missing on {me}"),
                    _ => format!("spec differs between {me} and {node}"),
                };
                findings.push(Finding {
                    node: node.to_string(),
                    object: Some(key.clone()),
                    category: Category::Skew,
                    reason: "ConfigSkew".into(),
                    message,
                    fix: "won't fix: apply the same manifests on every node (GitOps pull keeps them equal)".into(),
                });
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_view::PeerSummary;
    use hareconcile_model::Drift;

    /// An edit of a compose file under a manifests directory is out of
    /// sync until the agent applies it, as `diff` shows it.
    #[test]
    fn an_unapplied_compose_edit_is_out_of_sync() {
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("manifests");
        std::fs::create_dir_all(manifests.join("shop")).unwrap();
        std::fs::write(
            manifests.join("shop.yaml"),
            "apiVersion: hareconcile.io/v1alpha1\nkind: Cluster\nmetadata: {name: home}\nspec:\n  nodes: [{name: n1, address: 10.77.0.1}]\n---\napiVersion: hareconcile.io/v1alpha1\nkind: Service\nmetadata: {name: shop}\nspec: {cluster: home, mode: active-active, compose: {file: shop/compose.yaml}}\n",
        )
        .unwrap();
        let compose = manifests.join("shop/compose.yaml");
        std::fs::write(&compose, "services: {web: {image: nginx:1.27}}\n").unwrap();
        let store = Store::open(dir.path(), "n1").unwrap();
        let loaded = load_paths_checked(&[&manifests], &[], &ComposeFiles).unwrap();
        store
            .apply(
                loaded.into_iter().map(|m| m.object).collect(),
                Manager::Files,
                Default::default(),
            )
            .unwrap();
        let source = DeclaredSource {
            manager: Manager::Files,
            dir: manifests,
        };
        let found = |store: &Store| {
            sync_findings(store, std::slice::from_ref(&source), None)
                .into_iter()
                .map(|f| (f.object.unwrap_or_default(), f.reason, f.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(found(&store), []);

        std::fs::write(&compose, "services: {web: {image: nginx:1.28}}\n").unwrap();
        let findings = found(&store);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let (object, reason, message) = &findings[0];
        assert_eq!(
            (object.as_str(), reason.as_str()),
            ("Service/shop", "OutOfSync")
        );
        assert!(
            message.starts_with("its compose files changed"),
            "{message}"
        );
    }

    fn digest(kind: Kind, name: &str, drift: Vec<Drift>) -> ObjectDigest {
        ObjectDigest {
            reason: Some("Running".into()),
            drift,
            ..ObjectDigest::of(kind, name)
        }
    }

    fn view(node: &str, objects: Vec<ObjectDigest>) -> NodeView {
        NodeView {
            node: node.into(),
            address: "10.77.0.1".into(),
            reachable: true,
            error: None,
            summary: Some(PeerSummary {
                node: node.into(),
                version: "0".into(),
                resource_version: 1,
                objects,
                sync: Vec::new(),
            }),
        }
    }

    /// Two nodes reporting themselves master of one VirtualIP is one
    /// finding naming both, whichever node asks.
    #[test]
    fn two_masters_of_one_virtual_ip_are_a_split_brain() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "n2").unwrap();
        let vip = |state: VrrpState| ObjectDigest {
            state: Some(state),
            ..digest(Kind::VirtualIP, "web", Vec::new())
        };
        let both = [
            view("n1", vec![vip(VrrpState::Master)]),
            view("n2", vec![vip(VrrpState::Master)]),
        ];
        let findings = cluster_findings(&store, &both);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let split = &findings[0];
        assert_eq!(
            (
                split.node.as_str(),
                split.object.as_deref(),
                split.reason.as_str()
            ),
            ("n1,n2", Some("VirtualIP/web"), "SplitBrain")
        );
        assert!(
            split.message.starts_with("master on n1 and n2 at once"),
            "{split:?}"
        );
        let one = [
            view("n1", vec![vip(VrrpState::Master)]),
            view("n2", vec![vip(VrrpState::Backup)]),
        ];
        assert!(cluster_findings(&store, &one).is_empty());
    }

    /// A peer's stack drift and replication lag reach this node's report
    /// as health findings, with the controller's fix or drift's own, and
    /// its sync findings as it reported them.
    #[test]
    fn observations_of_every_node_are_health_findings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "n1").unwrap();
        let extra = Drift {
            reason: "UnexpectedContainer".into(),
            message: "shop_old_1 (service old) is not in the compose file".into(),
            fix: Some("won't fix: remove it by hand".into()),
        };
        let lag = Drift {
            reason: "Lagging".into(),
            message: "Synced: a target is 40s behind, more than maxLag 10s".into(),
            fix: None,
        };
        let nodes = [
            view("n1", vec![digest(Kind::Replication, "data", vec![lag])]),
            view("n2", vec![digest(Kind::Service, "shop", vec![extra])]),
        ];
        let mut nodes = nodes;
        let by_hand = |node: &str| Finding {
            node: node.into(),
            object: Some("Service/shop".into()),
            category: Category::Sync,
            reason: "ManagedElsewhere".into(),
            message: String::new(),
            fix: String::new(),
        };
        for view in &mut nodes {
            let node = view.node.clone();
            view.summary.as_mut().unwrap().sync = vec![by_hand(&node)];
        }
        let findings = cluster_findings(&store, &nodes);
        let synced: Vec<&str> = findings
            .iter()
            .filter(|f| f.category == Category::Sync)
            .map(|f| f.node.as_str())
            .collect();
        // This node's own come from sync_findings, not twice.
        assert_eq!(synced, ["n2"]);
        let found = |node: &str, reason: &str| {
            findings
                .iter()
                .find(|f| f.node == node && f.reason == reason)
                .unwrap_or_else(|| panic!("no {reason} on {node} in {findings:?}"))
        };
        let stack = found("n2", "UnexpectedContainer");
        assert_eq!(stack.object.as_deref(), Some("Service/shop"));
        assert_eq!(stack.category, Category::Health);
        assert_eq!(stack.fix, "won't fix: remove it by hand");
        let lagging = found("n1", "Lagging");
        assert_eq!(lagging.object.as_deref(), Some("Replication/data"));
        assert!(lagging.fix.contains("keeps pushing"), "{}", lagging.fix);

        let json = serde_json::to_value(&findings).unwrap();
        assert!(
            json.as_array()
                .unwrap()
                .iter()
                .any(|f| f["reason"] == "UnexpectedContainer"
                    && f["category"] == "health"
                    && f["object"] == "Service/shop"
                    && f["fix"] == "won't fix: remove it by hand"),
            "{json}"
        );
    }
}
