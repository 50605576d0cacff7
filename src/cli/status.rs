//! `hareconcile status`: one screen of what this node's agent sees.

use std::collections::BTreeMap;

use clap::Args;
use hareconcile_model::{ConditionStatus, Kind, Object};
use serde_json::Value;

use super::output::table;
use super::{AgentConnection, CliError, EXIT_DIFFERENCES, EXIT_OK};
use crate::peer::NodeView;

/// One screen: the node, each Cluster's members, each VirtualIP's VRRP
/// state and master, each Service and Replication with its Ready reason,
/// what each mount-type Replication has mounted here and its last probe,
/// each copied Replication's role, term, last sync and lag per target,
/// and every node of the Cluster as its peer API answers: reachable or
/// not, which VIPs it is master of, and whether its objects differ from
/// this node's (config skew).
///
/// Exit code 0 when every object is Ready and every node answers in sync,
/// 1 otherwise (usable as a health check).
///
/// Example:
///   watch -n1 hareconcile status
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    #[command(flatten)]
    agent: AgentConnection,
}

fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| text(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// Not Ready where it is expected not to be: a master-only mount on a
/// node that is not master.
fn standing_by(object: &Object) -> bool {
    object
        .status
        .condition("Ready")
        .is_some_and(|c| c.reason == hareconcile_mount::NOT_MASTER)
}

/// A lag in whole seconds as `12s`.
fn seconds(value: Option<&Value>) -> String {
    match value.and_then(Value::as_u64) {
        Some(s) => format!("{s}s"),
        None => "-".into(),
    }
}

/// A source's targets as `n2 0s, n3 41s (error...)`.
fn sync_targets(targets: Option<&Value>) -> String {
    let Some(Value::Object(targets)) = targets else {
        return "-".into();
    };
    targets
        .iter()
        .map(|(name, t)| {
            let lag = seconds(t.get("lagSeconds"));
            match t.get("error").and_then(Value::as_str) {
                Some(error) => format!("{name} {lag} ({error})"),
                None => format!("{name} {lag}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "True" or the reason it is not, which is what an operator scans for.
fn readiness(object: &Object) -> String {
    match object.status.condition("Ready") {
        Some(c) if c.status == ConditionStatus::True => format!("Ready ({})", c.reason),
        Some(c) if standing_by(object) => format!("standby ({}): {}", c.reason, c.message),
        Some(c) => format!("NOT READY ({}): {}", c.reason, c.message),
        None => "pending: no controller has reported yet".into(),
    }
}

/// `eth0/51`, or `eth0/51 (vrrp.51)` where the VIPs live on the virtual
/// MAC's macvlan.
fn interface_and_vrid(vip: &Object) -> String {
    let base = format!(
        "{}/{}",
        text(vip.spec.get("interface")),
        text(vip.spec.get("vrid"))
    );
    let vmac = vip.status.details.get("virtualMac");
    match vmac.and_then(|vmac| vmac.get("interface")) {
        Some(vmac) => format!("{base} ({})", text(Some(vmac))),
        None => base,
    }
}

/// The VRRP state with what an operator set or the controller is waiting
/// for: `Backup (maintenance)`, `Master (maintenance refused: address
/// owner)`, `Backup (preparing takeover: waiting for shop)`, `Master
/// (priority adjusted -20)`, `Master (switched over here)`, `Backup
/// (switched over to n2)`.
fn vrrp_state(vip: &Object, node: &str) -> String {
    let mut notes = Vec::new();
    let control = vip.spec.get("control");
    let in_maintenance = control
        .and_then(|c| c.get("forceBackup"))
        .and_then(Value::as_array)
        .is_some_and(|nodes| nodes.iter().any(|n| n.as_str() == Some(node)));
    if in_maintenance {
        // The address owner refuses it (RFC 5798) and serves on.
        let refused = vip
            .status
            .details
            .get("drift")
            .and_then(Value::as_array)
            .is_some_and(|drift| drift.iter().any(|d| d["reason"] == "OwnerCannotBeBackup"));
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
    if vip.status.details.get("preparingTakeover") == Some(&Value::Bool(true)) {
        // Held as long as a follower is not Ready here: name them.
        notes.push(match vip.status.details.get("waitingFor") {
            Some(services) => format!("preparing takeover: waiting for {}", text(Some(services))),
            None => "preparing takeover".to_string(),
        });
    }
    let state = text(vip.status.details.get("state"));
    if notes.is_empty() {
        state
    } else {
        format!("{state} ({})", notes.join(", "))
    }
}

pub async fn run(args: StatusArgs) -> Result<u8, CliError> {
    let client = args.agent.client();
    let info = client.info().await?;
    let objects = client.list(None).await?.items;
    println!(
        "node {} (hareconcile {}, store version {})\n",
        info.node, info.version, info.resource_version
    );
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
            vec![o.metadata.name.clone(), nodes.join(" "), readiness(o)]
        })
        .collect();
    section("CLUSTER", &["NODES (*=this node)", "STATUS"], &rows);

    let rows: Vec<Vec<String>> = of(Kind::VirtualIP)
        .map(|o| {
            let d = &o.status.details;
            vec![
                o.metadata.name.clone(),
                text(o.spec.get("addresses")),
                interface_and_vrid(o),
                vrrp_state(o, &info.node),
                text(d.get("effectivePriority")),
                text(d.get("master")),
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
                seconds(o.status.details.get("lagSeconds")),
                readiness(o),
            ]
        })
        .collect();
    section("REPLICATION", &["METHOD", "PATH", "LAG", "STATUS"], &rows);

    let rows: Vec<Vec<String>> = of(Kind::Replication)
        .filter(|o| matches!(o.spec["method"].as_str(), Some("rsync" | "btrfs" | "zfs")))
        .map(|o| {
            let d = &o.status.details;
            let synced = match o.status.condition("Synced") {
                Some(c) if c.status == ConditionStatus::True => c.reason.clone(),
                Some(c) => format!("{}: {}", c.reason, c.message),
                None => "-".into(),
            };
            vec![
                o.metadata.name.clone(),
                text(d.get("role")),
                text(d.get("term")),
                text(d.get("lastSync")),
                sync_targets(d.get("targets")),
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
            let d = &o.status.details;
            let mount = d.get("mount");
            vec![
                o.metadata.name.clone(),
                text(o.spec.get("path")),
                text(mount.and_then(|m| m.get("source"))),
                text(mount.and_then(|m| m.get("type"))),
                text(d.get("lastProbe").and_then(|p| p.get("result"))),
            ]
        })
        .collect();
    section("MOUNT", &["PATH", "MOUNTED", "TYPE", "LAST PROBE"], &rows);

    let nodes_ok = match client.nodes().await {
        Ok(nodes) if nodes.is_empty() => true,
        Ok(nodes) => {
            let rows = node_rows(&info.node, &nodes);
            section(
                "NODE",
                &["ADDRESS", "REACHABLE", "MASTER OF", "CONFIG"],
                &rows,
            );
            nodes.iter().all(|n| n.reachable) && rows.iter().all(|r| r[4] == "in sync")
        }
        Err(e) => {
            println!("peers: {e}\n");
            true
        }
    };
    let all_ready = objects
        .iter()
        .all(|o| o.status.is_ready() || standing_by(o));
    Ok(if all_ready && nodes_ok {
        EXIT_OK
    } else {
        EXIT_DIFFERENCES
    })
}

/// One row per node: reachability, the VIPs it is master of, and whether
/// its objects equal this node's (config skew).
fn node_rows(me: &str, nodes: &[NodeView]) -> Vec<Vec<String>> {
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
            let name = if n.node == me {
                format!("{}*", n.node)
            } else {
                n.node.clone()
            };
            let Some(summary) = &n.summary else {
                let why = n.error.clone().unwrap_or_default();
                return vec![
                    name,
                    n.address.clone(),
                    format!("UNREACHABLE: {why}"),
                    "-".into(),
                    "-".into(),
                ];
            };
            let masters: Vec<&str> = summary
                .objects
                .iter()
                .filter(|d| d.state.as_deref() == Some("Master"))
                .map(|d| d.name.as_str())
                .collect();
            let theirs = digests(n);
            let differing: Vec<String> = mine
                .keys()
                .chain(theirs.keys())
                .filter(|k| mine.get(*k) != theirs.get(*k))
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let config = if differing.is_empty() {
                "in sync".to_string()
            } else {
                format!("SKEW: {}", differing.join(", "))
            };
            let masters = if masters.is_empty() {
                "-".to_string()
            } else {
                masters.join(",")
            };
            vec![name, n.address.clone(), "yes".into(), masters, config]
        })
        .collect()
}

fn section(title: &str, columns: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let mut header = vec![title];
    header.extend_from_slice(columns);
    println!("{}", table(&header, rows));
}

#[cfg(test)]
mod tests {
    use hareconcile_model::{ObjectMeta, Status, API_VERSION};
    use serde_json::json;

    use super::*;

    fn vip(control: Value, details: Value) -> Object {
        let mut status = Status::default();
        if let Value::Object(details) = details {
            status.details.extend(details);
        }
        Object {
            api_version: API_VERSION.into(),
            kind: Kind::VirtualIP,
            metadata: ObjectMeta::named("web"),
            spec: json!({"control": control}),
            status,
        }
    }

    #[test]
    fn the_state_says_what_holds_it() {
        let plain = vip(json!({}), json!({"state": "Master"}));
        assert_eq!(vrrp_state(&plain, "n1"), "Master");
        let drained = vip(
            json!({"forceBackup": ["n1"], "priorityAdjust": {"n1": -20, "n2": 5}}),
            json!({"state": "Backup"}),
        );
        assert_eq!(
            vrrp_state(&drained, "n1"),
            "Backup (maintenance, priority adjusted -20)"
        );
        assert_eq!(vrrp_state(&drained, "n2"), "Backup (priority adjusted +5)");
        let owner = vip(
            json!({"forceBackup": ["n1"]}),
            json!({"state": "Master", "drift": [{"reason": "OwnerCannotBeBackup"}]}),
        );
        assert_eq!(
            vrrp_state(&owner, "n1"),
            "Master (maintenance refused: address owner)"
        );
        let returning = vip(
            json!({}),
            json!({"state": "Backup", "preparingTakeover": true}),
        );
        assert_eq!(vrrp_state(&returning, "n1"), "Backup (preparing takeover)");
        let held = vip(
            json!({}),
            json!({"state": "Backup", "preparingTakeover": true, "waitingFor": ["shop", "api"]}),
        );
        assert_eq!(
            vrrp_state(&held, "n1"),
            "Backup (preparing takeover: waiting for shop,api)"
        );
        let switched = vip(json!({"switchoverTo": "n2"}), json!({"state": "Backup"}));
        assert_eq!(vrrp_state(&switched, "n1"), "Backup (switched over to n2)");
        assert_eq!(vrrp_state(&switched, "n2"), "Backup (switched over here)");
    }

    #[test]
    fn the_interface_names_the_virtual_mac_one() {
        let mut plain = vip(json!({}), json!({"state": "Master"}));
        plain.spec = json!({"interface": "eth0", "vrid": 51});
        assert_eq!(interface_and_vrid(&plain), "eth0/51");
        let mut vmac = vip(
            json!({}),
            json!({"virtualMac": {"interface": "vrrp.51", "mac": "00:00:5e:00:01:33"}}),
        );
        vmac.spec = json!({"interface": "eth0", "vrid": 51});
        assert_eq!(interface_and_vrid(&vmac), "eth0/51 (vrrp.51)");
    }
}
