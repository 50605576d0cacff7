//! `hareconcile status`: one screen of what this node's agent sees.

use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;
use std::fmt::Display;

use hareconcile_model::status::{
    LeaseStanding, ReplicationReason, SyncRole, TargetProgress, VirtualIpReason, VrrpState,
};
use hareconcile_model::{
    ClusterStatus, ConditionStatus, Kind, Object, ReplicationStatus, VirtualIpStatus,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::output::{cell as text, table, ReportFormat};
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK};
use crate::cluster_view::{interface_here, NodeView};
use hareconcile_vrrp::controller::host_addresses;

/// One screen: the node, each Cluster's members, each VirtualIP's VRRP
/// state and master, each Service and Replication with its Ready reason,
/// what each mount-type Replication has mounted here and its last probe,
/// each copied Replication's role, term, last sync and lag per target,
/// and every node of the Cluster as its peer API answers: reachable or
/// not, which VIPs it is master of, and whether its objects differ from
/// this node's (config skew).
///
/// Exit code 0 when the store can write, every object is Ready and every
/// node answers in sync, 1 otherwise (usable as a health check), with -o
/// json as well.
///
/// Examples:
///   watch -n1 hareconcile status
///   hareconcile status -o json | jq '.objects[] | select(.ready | not)'
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// text, or json/yaml: {node, version, resourceVersion, ready,
    /// storeWritable, storeProblem, objects: [{kind, name, ready, standby, reason, message, status}],
    /// nodes: [{name, address, reachable, error, masterOf, skew}],
    /// peersError} (docs/cli.md).
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    output: ReportFormat,
    #[command(flatten)]
    agent: AgentConnection,
}

/// Not Ready where it is expected not to be: a master-only mount on a
/// node that is not master.
fn standing_by(object: &Object) -> bool {
    object
        .status
        .condition("Ready")
        .is_some_and(|c| c.reason == ReplicationReason::NotMaster.as_str())
}

/// A lag in whole seconds as `12s`.
fn seconds(value: Option<u64>) -> String {
    match value {
        Some(s) => format!("{s}s"),
        None => "-".into(),
    }
}

/// A reported value, `-` when not reported.
fn or_dash(value: Option<impl Display>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

fn timestamp(value: Option<OffsetDateTime>) -> String {
    or_dash(value.and_then(|t| t.format(&Rfc3339).ok()))
}

/// A source's targets as `n2 0s, n3 41s (error...)`.
fn sync_targets(targets: &BTreeMap<String, TargetProgress>) -> String {
    if targets.is_empty() {
        return "-".into();
    }
    targets
        .iter()
        .map(|(name, t)| {
            let lag = seconds(Some(t.lag_seconds));
            match &t.error {
                Some(error) => format!("{name} {lag} ({error})"),
                None => format!("{name} {lag}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn replication(object: &Object) -> ReplicationStatus {
    object.status.details_as().unwrap_or_default()
}

/// The QUORUM column: without a quorum engine, plainly that split brain is
/// not prevented; with one, this node's session as the agent reports it
/// (engine reachable, lease held / fencing / none and how long it lasts
/// when it is not renewed, which node holds each writer lock).
fn quorum(cluster: &Object, now: OffsetDateTime) -> String {
    if cluster.spec.get("quorum").is_none_or(|q| q.is_null()) {
        return "none: a partition makes two masters".into();
    }
    let status: ClusterStatus = cluster.status.details_as().unwrap_or_default();
    let Some(seen) = status.quorum else {
        return "declared: no session on this node (not a member, or the agent predates it)".into();
    };
    let left = seen
        .lease_valid_until
        .map(|until| (until - now).whole_seconds().max(0));
    let lease = match (seen.lease, seen.reachable, left) {
        (LeaseStanding::Holding, true, _) => {
            format!("lease held (TTL {}s)", seen.lease_ttl_seconds)
        }
        (LeaseStanding::Holding, false, Some(left)) => {
            format!("lease held, NOT RENEWED: ends in {left}s")
        }
        (LeaseStanding::Fencing, _, Some(left)) => format!("FENCED: lease ends in {left}s"),
        _ => "NO QUORUM: no lease".into(),
    };
    let engine = match (&seen.reachable, &seen.error) {
        (true, _) => "engine reachable".to_string(),
        (false, Some(error)) => format!("engine UNREACHABLE ({error})"),
        (false, None) => "engine UNREACHABLE".to_string(),
    };
    let mut parts = vec![lease, engine];
    if !seen.holders.is_empty() {
        let writers: Vec<String> = seen
            .holders
            .iter()
            .map(|(lock, node)| format!("{lock}={node}"))
            .collect();
        parts.push(format!("writers {}", writers.join(" ")));
    }
    parts.join(", ")
}

/// The store's line: a store that cannot write keeps nothing applied or
/// observed, which must not hide behind Ready objects.
fn store_writable(problem: Option<&str>) -> String {
    match problem {
        None => "store: writable".into(),
        Some(why) => format!(
            "store: NOT WRITABLE ({why}): nothing applied or observed is kept until a write \
             succeeds (retried every few seconds; free space or fix the disk)"
        ),
    }
}

fn readiness(object: &Object) -> String {
    match object.status.condition("Ready") {
        Some(c) if c.status == ConditionStatus::True => format!("Ready ({})", c.reason),
        Some(c) if standing_by(object) => format!("standby ({}): {}", c.reason, c.message),
        Some(c) => format!("NOT READY ({}): {}", c.reason, c.message),
        None => "pending: no controller has reported yet".into(),
    }
}

/// `eth0/51`, or `eth0/51 (vrrp.51)` where the VIPs live on the virtual
/// MAC's macvlan. Where each node picks its interface (`auto`,
/// `interfaces`): the one this node uses, then the other nodes' that
/// differ, as they report them (`eno1/51 n2:enp3s0`).
fn interface_and_vrid(
    vip: &Object,
    status: &VirtualIpStatus,
    here: Option<String>,
    others: &[(String, String)],
) -> String {
    let interface = here.unwrap_or_else(|| text(vip.spec.get("interface")));
    let mut base = format!("{interface}/{}", text(vip.spec.get("vrid")));
    for (node, theirs) in others.iter().filter(|(_, theirs)| *theirs != interface) {
        base.push_str(&format!(" {node}:{theirs}"));
    }
    match &status.instance.virtual_mac {
        Some(vmac) => format!("{base} ({})", vmac.interface),
        None => base,
    }
}

/// The VRRP state with what an operator set or the controller is waiting
/// for: `Backup (maintenance)`, `Master (maintenance refused: address
/// owner)`, `Backup (preparing takeover: waiting for shop)`, `Master
/// (priority adjusted -20)`, `Master (switched over here)`, `Backup
/// (switched over to n2)`.
fn vrrp_state(vip: &Object, status: &VirtualIpStatus, node: &str) -> String {
    let mut notes = Vec::new();
    let control = vip.spec.get("control");
    let in_maintenance = control
        .and_then(|c| c.get("forceBackup"))
        .and_then(Value::as_array)
        .is_some_and(|nodes| nodes.iter().any(|n| n.as_str() == Some(node)));
    if in_maintenance {
        // The address owner refuses it (RFC 5798) and serves on.
        let refused = status.has_drift(VirtualIpReason::OwnerCannotBeBackup);
        notes.push(match refused {
            true => "maintenance refused: address owner".to_string(),
            false => "maintenance".to_string(),
        });
    }
    if let Some(adjust) = control
        .and_then(|c| c.pointer(&format!("/priorityAdjust/{node}")))
        .and_then(Value::as_i64)
    {
        notes.push(format!("priority adjusted {adjust:+}"));
    }
    match control
        .and_then(|c| c.get("switchoverTo"))
        .and_then(Value::as_str)
    {
        Some(to) if to == node => notes.push("switched over here".to_string()),
        Some(to) => notes.push(format!("switched over to {to}")),
        None => {}
    }
    if status.preparing_takeover {
        // Held as long as a follower is not Ready here: name them.
        notes.push(match status.waiting_for.as_slice() {
            [] => "preparing takeover".to_string(),
            services => format!("preparing takeover: waiting for {}", services.join(",")),
        });
    }
    let state = or_dash(status.state());
    if notes.is_empty() {
        state
    } else {
        format!("{state} ({})", notes.join(", "))
    }
}

/// What `status -o json` prints: field names are part of the CLI's
/// interface (docs/cli.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    node: &'a str,
    version: &'a str,
    resource_version: u64,
    /// The exit code's verdict: the store can write, every object is
    /// Ready and every node in sync.
    ready: bool,
    /// False from a failed write (a full or failing disk) until one
    /// succeeds: nothing applied or observed is kept meanwhile.
    store_writable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_problem: Option<&'a str>,
    /// Sets rejected because the agent died while applying them.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    rejected: &'a [crate::trials::Rejection],
    objects: Vec<ObjectReport<'a>>,
    nodes: Vec<NodeReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peers_error: Option<String>,
}

#[derive(Serialize)]
struct ObjectReport<'a> {
    kind: Kind,
    name: &'a str,
    ready: bool,
    /// Not Ready where that is expected (a master-only mount on a backup).
    standby: bool,
    reason: Option<&'a str>,
    message: Option<&'a str>,
    /// As `get -o json` shows it.
    status: &'a hareconcile_model::Status,
}

fn object_report(object: &Object) -> ObjectReport<'_> {
    let ready = object.status.condition("Ready");
    ObjectReport {
        kind: object.kind,
        name: &object.metadata.name,
        ready: object.status.is_ready(),
        standby: standing_by(object),
        reason: ready.map(|c| c.reason.as_str()),
        message: ready.map(|c| c.message.as_str()),
        status: &object.status,
    }
}

pub async fn run(args: StatusArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let info = client.info().await?;
    let objects = client.list(None).await?.items;
    let all_ready = info.store_problem.is_none()
        && info.rejected.is_empty()
        && objects
            .iter()
            .all(|o| o.status.is_ready() || standing_by(o));
    if args.output != ReportFormat::Text {
        let peers = client.nodes().await;
        let nodes = peers
            .as_ref()
            .map(|nodes| node_reports(&info.node, nodes))
            .unwrap_or_default();
        let ready = all_ready && nodes_in_sync(&nodes);
        args.output.print(&Report {
            node: &info.node,
            version: &info.version,
            resource_version: info.resource_version,
            ready,
            store_writable: info.store_problem.is_none(),
            store_problem: info.store_problem.as_deref(),
            rejected: &info.rejected,
            objects: objects.iter().map(object_report).collect(),
            nodes,
            peers_error: peers.err().map(|e| e.to_string()),
        });
        return Ok(if ready { EXIT_OK } else { EXIT_DIFFERENCES });
    }
    outln!(
        "node {} (hareconcile {}, store version {})",
        info.node,
        info.version,
        info.resource_version
    );
    outln!("{}", store_writable(info.store_problem.as_deref()));
    for rejection in &info.rejected {
        outln!("input: {}", rejection.message());
    }
    outln!();
    let of = |kind: Kind| objects.iter().filter(move |o| o.kind == kind);

    let rows: Vec<Vec<String>> = of(Kind::Cluster)
        .map(|o| {
            let nodes: Vec<String> = o.spec["nodes"]
                .as_array()
                .map(|nodes| {
                    nodes
                        .iter()
                        .map(|n| {
                            let name = text(n.get("name"));
                            let me = if name == info.node { "*" } else { "" };
                            format!("{name}{me}={}", text(n.get("address")))
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                o.metadata.name.clone(),
                nodes.join(" "),
                quorum(o, OffsetDateTime::now_utc()),
                readiness(o),
            ]
        })
        .collect();
    section(
        "CLUSTER",
        &["NODES (*=this node)", "QUORUM", "STATUS"],
        &rows,
    );

    let peers = client.nodes().await;
    let host = host_addresses();
    let rows: Vec<Vec<String>> = of(Kind::VirtualIP)
        .map(|o| {
            let d: VirtualIpStatus = o.status.details_as().unwrap_or_default();
            // As the agents report it; without the peer API, as this host
            // resolves it (the CLI runs beside its agent).
            let reported = reported_interfaces(peers.as_deref().unwrap_or_default(), o);
            let (mine, others): (Vec<_>, Vec<_>) = reported
                .into_iter()
                .partition(|(node, _)| *node == info.node);
            let here = mine
                .into_iter()
                .next()
                .map(|(_, interface)| interface)
                .or_else(|| interface_here(objects.iter(), &info.node, o, &host));
            vec![
                o.metadata.name.clone(),
                text(o.spec.get("addresses")),
                interface_and_vrid(o, &d, here, &others),
                vrrp_state(o, &d, &info.node),
                or_dash(d.instance.effective_priority),
                or_dash(d.instance.master),
                readiness(o),
            ]
        })
        .collect();
    section(
        "VIRTUALIP",
        &[
            "ADDRESSES",
            "IF/VRID",
            "STATE",
            "PRIORITY",
            "MASTER",
            "STATUS",
        ],
        &rows,
    );

    let rows: Vec<Vec<String>> = of(Kind::Service)
        .map(|o| {
            vec![
                o.metadata.name.clone(),
                text(o.spec.get("mode")),
                text(o.spec.get("followVirtualIP")),
                readiness(o),
            ]
        })
        .collect();
    section("SERVICE", &["MODE", "FOLLOWS", "STATUS"], &rows);

    let rows: Vec<Vec<String>> = of(Kind::Replication)
        .map(|o| {
            vec![
                o.metadata.name.clone(),
                text(o.spec.get("method")),
                text(o.spec.get("path")),
                seconds(replication(o).lag_seconds),
                readiness(o),
            ]
        })
        .collect();
    section("REPLICATION", &["METHOD", "PATH", "LAG", "STATUS"], &rows);

    let rows: Vec<Vec<String>> = of(Kind::Replication)
        .filter(|o| matches!(o.spec["method"].as_str(), Some("rsync" | "btrfs" | "zfs")))
        .map(|o| {
            let d = replication(o);
            let synced = match o.status.condition("Synced") {
                Some(c) if c.status == ConditionStatus::True => c.reason.clone(),
                Some(c) => format!("{}: {}", c.reason, c.message),
                None => "-".into(),
            };
            vec![
                o.metadata.name.clone(),
                or_dash(d.role.map(|role| match role {
                    SyncRole::Source => "source",
                    SyncRole::Replica => "replica",
                    SyncRole::None => "none",
                })),
                or_dash(d.term),
                timestamp(d.last_sync),
                sync_targets(&d.targets),
                synced,
            ]
        })
        .collect();
    section(
        "SYNC",
        &["ROLE", "TERM", "LAST SYNC", "TARGETS (lag)", "SYNCED"],
        &rows,
    );

    let rows: Vec<Vec<String>> = of(Kind::Replication)
        .filter(|o| matches!(o.spec["method"].as_str(), Some("nfs" | "mount")))
        .map(|o| {
            let d = replication(o);
            let mount = d.mount.as_ref();
            vec![
                o.metadata.name.clone(),
                text(o.spec.get("path")),
                or_dash(mount.map(|m| &m.source)),
                or_dash(mount.map(|m| &m.fs_type)),
                or_dash(d.last_probe.map(|p| p.result)),
            ]
        })
        .collect();
    section("MOUNT", &["PATH", "MOUNTED", "TYPE", "LAST PROBE"], &rows);

    let nodes_ok = match peers {
        Ok(nodes) => {
            let nodes = node_reports(&info.node, &nodes);
            section(
                "NODE",
                &["ADDRESS", "REACHABLE", "MASTER OF", "CONFIG"],
                &nodes.iter().map(node_row).collect::<Vec<_>>(),
            );
            nodes_in_sync(&nodes)
        }
        Err(e) => {
            outln!("peers: {e}\n");
            true
        }
    };
    Ok(if all_ready && nodes_ok {
        EXIT_OK
    } else {
        EXIT_DIFFERENCES
    })
}

/// The interface each node reports for VirtualIP `vip`, where nodes pick
/// their own.
fn reported_interfaces(nodes: &[NodeView], vip: &Object) -> Vec<(String, String)> {
    nodes
        .iter()
        .filter_map(|n| {
            let digest = n
                .summary
                .as_ref()?
                .objects
                .iter()
                .find(|d| d.kind == Kind::VirtualIP && d.name == vip.metadata.name)?;
            Some((n.node.clone(), digest.interface.clone()?))
        })
        .collect()
}

/// A node as its peer API answers: reachable or not, the VIPs it is
/// master of, and the objects that differ from this node's (config skew).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeReport {
    name: String,
    /// Whether it is the node this agent runs on.
    this_node: bool,
    address: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    master_of: Vec<String>,
    /// `Kind/name` of each object whose spec differs from this node's.
    skew: Vec<String>,
}

fn node_reports(me: &str, nodes: &[NodeView]) -> Vec<NodeReport> {
    let digests = |node: &NodeView| -> BTreeMap<String, String> {
        node.summary
            .iter()
            .flat_map(|s| &s.objects)
            .map(|d| (format!("{}/{}", d.kind, d.name), d.spec_hash.clone()))
            .collect()
    };
    let mine = nodes
        .iter()
        .find(|n| n.node == me)
        .map(digests)
        .unwrap_or_default();
    nodes
        .iter()
        .map(|n| {
            let theirs = digests(n);
            let skew = match n.summary {
                None => Vec::new(),
                Some(_) => mine
                    .keys()
                    .chain(theirs.keys())
                    .filter(|k| mine.get(*k) != theirs.get(*k))
                    .cloned()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            };
            NodeReport {
                name: n.node.clone(),
                this_node: n.node == me,
                address: n.address.clone(),
                reachable: n.reachable && n.summary.is_some(),
                error: n
                    .summary
                    .is_none()
                    .then(|| n.error.clone().unwrap_or_default()),
                master_of: n
                    .summary
                    .iter()
                    .flat_map(|s| &s.objects)
                    .filter(|d| d.state == Some(VrrpState::Master))
                    .map(|d| d.name.clone())
                    .collect(),
                skew,
            }
        })
        .collect()
}

/// Every node answers and holds the objects this one does.
fn nodes_in_sync(nodes: &[NodeReport]) -> bool {
    nodes.iter().all(|n| n.reachable && n.skew.is_empty())
}

fn node_row(n: &NodeReport) -> Vec<String> {
    let name = if n.this_node {
        format!("{}*", n.name)
    } else {
        n.name.clone()
    };
    if !n.reachable {
        let why = n.error.clone().unwrap_or_default();
        return vec![
            name,
            n.address.clone(),
            format!("UNREACHABLE: {why}"),
            "-".into(),
            "-".into(),
        ];
    }
    let masters = if n.master_of.is_empty() {
        "-".to_string()
    } else {
        n.master_of.join(",")
    };
    let config = if n.skew.is_empty() {
        "in sync".to_string()
    } else {
        format!("SKEW: {}", n.skew.join(", "))
    };
    vec![name, n.address.clone(), "yes".into(), masters, config]
}

fn section(title: &str, columns: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let mut header = vec![title];
    header.extend_from_slice(columns);
    outln!("{}", table(&header, rows));
}

#[cfg(test)]
mod tests {
    use hareconcile_model::status::{QuorumSeen, VirtualMacSeen};
    use hareconcile_model::{Drift, ObjectMeta, Status, API_VERSION};
    use serde_json::json;

    use super::*;

    #[test]
    fn the_quorum_column_says_who_writes_and_until_when() {
        let cluster = |spec: Value, seen: Option<QuorumSeen>| {
            let mut status = Status::default();
            status.set_details(&ClusterStatus {
                local_node: Some("n1".into()),
                quorum: seen,
            });
            Object {
                api_version: API_VERSION.into(),
                kind: Kind::Cluster,
                metadata: ObjectMeta::named("lab"),
                spec,
                status,
            }
        };
        let now = OffsetDateTime::now_utc();
        let none = cluster(json!({"nodes": []}), None);
        assert_eq!(quorum(&none, now), "none: a partition makes two masters");
        let spec = json!({"quorum": {"etcd": {"endpoints": ["http://w:2379"]}}});
        assert!(quorum(&cluster(spec.clone(), None), now).starts_with("declared: no session"));
        let held = QuorumSeen {
            reachable: true,
            lease: LeaseStanding::Holding,
            lease_valid_until: Some(now + time::Duration::seconds(5)),
            lease_ttl_seconds: 6,
            holders: [("web".to_string(), "n1".to_string())].into(),
            ..QuorumSeen::default()
        };
        assert_eq!(
            quorum(&cluster(spec.clone(), Some(held.clone())), now),
            "lease held (TTL 6s), engine reachable, writers web=n1"
        );
        let cut_off = QuorumSeen {
            reachable: false,
            lease: LeaseStanding::Fencing,
            error: Some("no member answered".into()),
            ..held
        };
        let later = now + time::Duration::seconds(3);
        assert_eq!(
            quorum(&cluster(spec, Some(cut_off)), later),
            "FENCED: lease ends in 2s, engine UNREACHABLE (no member answered), writers web=n1"
        );
    }

    fn vip(control: Value, details: VirtualIpStatus) -> Object {
        let mut status = Status::default();
        status.set_details(&details);
        Object {
            api_version: API_VERSION.into(),
            kind: Kind::VirtualIP,
            metadata: ObjectMeta::named("web"),
            spec: json!({"control": control}),
            status,
        }
    }

    fn in_state(state: VrrpState) -> VirtualIpStatus {
        let mut status = VirtualIpStatus::default();
        status.instance.state = Some(state);
        status
    }

    fn typed(vip: &Object) -> VirtualIpStatus {
        vip.status.details_as().unwrap()
    }

    fn state_of(vip: &Object, node: &str) -> String {
        vrrp_state(vip, &typed(vip), node)
    }

    #[test]
    fn the_state_says_what_holds_it() {
        let plain = vip(json!({}), in_state(VrrpState::Master));
        assert_eq!(state_of(&plain, "n1"), "Master");
        let drained = vip(
            json!({"forceBackup": ["n1"], "priorityAdjust": {"n1": -20, "n2": 5}}),
            in_state(VrrpState::Backup),
        );
        assert_eq!(
            state_of(&drained, "n1"),
            "Backup (maintenance, priority adjusted -20)"
        );
        assert_eq!(state_of(&drained, "n2"), "Backup (priority adjusted +5)");
        let owner = vip(
            json!({"forceBackup": ["n1"]}),
            VirtualIpStatus {
                drift: vec![Drift {
                    reason: VirtualIpReason::OwnerCannotBeBackup.to_string(),
                    message: String::new(),
                    fix: None,
                }],
                ..in_state(VrrpState::Master)
            },
        );
        assert_eq!(
            state_of(&owner, "n1"),
            "Master (maintenance refused: address owner)"
        );
        let returning = vip(
            json!({}),
            VirtualIpStatus {
                preparing_takeover: true,
                ..in_state(VrrpState::Backup)
            },
        );
        assert_eq!(state_of(&returning, "n1"), "Backup (preparing takeover)");
        let held = vip(
            json!({}),
            VirtualIpStatus {
                preparing_takeover: true,
                waiting_for: vec!["shop".into(), "api".into()],
                ..in_state(VrrpState::Backup)
            },
        );
        assert_eq!(
            state_of(&held, "n1"),
            "Backup (preparing takeover: waiting for shop,api)"
        );
        let switched = vip(json!({"switchoverTo": "n2"}), in_state(VrrpState::Backup));
        assert_eq!(state_of(&switched, "n1"), "Backup (switched over to n2)");
        assert_eq!(state_of(&switched, "n2"), "Backup (switched over here)");
    }

    #[test]
    fn the_interface_names_the_virtual_mac_one() {
        let mut plain = vip(json!({}), in_state(VrrpState::Master));
        plain.spec = json!({"interface": "eth0", "vrid": 51});
        assert_eq!(
            interface_and_vrid(&plain, &typed(&plain), None, &[]),
            "eth0/51"
        );
        let mut vmac = vip(json!({}), {
            let mut status = VirtualIpStatus::default();
            status.instance.virtual_mac = Some(VirtualMacSeen {
                interface: "vrrp.51".into(),
                mac: "00:00:5e:00:01:33".into(),
            });
            status
        });
        vmac.spec = json!({"interface": "eth0", "vrid": 51});
        assert_eq!(
            interface_and_vrid(&vmac, &typed(&vmac), None, &[]),
            "eth0/51 (vrrp.51)"
        );
    }

    #[test]
    fn per_node_interfaces_show_this_one_and_the_others_that_differ() {
        let mut vip = vip(json!({}), in_state(VrrpState::Master));
        vip.spec = json!({"interface": "auto", "vrid": 51});
        let others = [
            ("n2".to_string(), "enp3s0".to_string()),
            ("n3".to_string(), "eno1".to_string()),
        ];
        assert_eq!(
            interface_and_vrid(&vip, &typed(&vip), Some("eno1".into()), &others),
            "eno1/51 n2:enp3s0"
        );
    }
}
