//! `apply` and `delete` on one node write every node's store through the
//! peer API: all nodes or none, a node that does not answer fails the
//! command unless `--allow-unreachable`, and running it again once that
//! node is back converges it.
//!
//! Each agent loads the Cluster from its own --manifests directory, as a
//! packaged node does (/etc/hareconcile/manifests); everything else is
//! applied from n1.

use hareconcile_test_support as support;

use std::time::Duration;

use hareconcile_lab::{require_privileges, Host, Lab};
use support::lab_manifests::{cluster_manifest, peer_token_file, web_vip_manifest};
use support::{code_and_text, LabAgent};

const TOKEN: &str = "lab-apply-everywhere";

fn vip(name: &str, vrid: u8, host: u8) -> String {
    format!(
        "---\napiVersion: hareconcile.io/v1alpha1\nkind: VirtualIP\nmetadata: {{name: {name}}}\n\
         spec: {{cluster: lab, interface: eth0, vrid: {vrid}, addresses: [10.77.0.{host}/24]}}\n"
    )
}

fn start(lab: &Lab, host: &Host) -> LabAgent {
    LabAgent::command(lab, host)
        .own_manifests()
        .args(["--resync", "2s"])
        .start()
}

/// The names of the VirtualIPs in `agent`'s store, with their manager.
fn vips(agent: &LabAgent) -> Vec<String> {
    let list: serde_json::Value =
        serde_json::from_str(&agent.hc_stdout(&["get", "vip", "-o", "json"])).unwrap();
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}:{}",
                o["metadata"]["name"].as_str().unwrap(),
                o["metadata"]["manager"].as_str().unwrap_or("-")
            )
        })
        .collect();
    names.sort();
    names
}

/// Runs `apply ARGS` on `agent` until it exits 0 (a restarted peer
/// listens a moment after its agent starts); its output.
fn apply_until_done(agent: &LabAgent, args: &[&str]) -> String {
    support::retry(
        Duration::from_secs(20),
        &format!("{args:?} kept failing"),
        || match code_and_text(&agent.hc(args)) {
            (Some(0), out) => Ok(out),
            (_, out) => Err(out),
        },
    )
}

#[test]
fn apply_and_delete_reach_every_node_or_none() {
    require_privileges!();
    let lab = Lab::builder().nodes(2).client(false).build().unwrap();
    let token_file = peer_token_file(&lab, TOKEN);
    let cluster = cluster_manifest(
        (110, 100),
        &format!(
            "  peer: {{port: 7979, tokenFile: {}}}\n",
            token_file.display()
        ),
    );
    let (n1, n2) = (lab.node(1), lab.node(2));
    LabAgent::write_manifest(&lab, n1, &cluster);
    // n2 alone also loads VirtualIP guest from its files.
    LabAgent::write_manifest(&lab, n2, &(cluster.clone() + &vip("guest", 60, 160)));
    let a1 = start(&lab, n1);
    let mut a2 = start(&lab, n2);

    let app = lab.dir().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let web = support::write_file(&app, "web.yaml", &web_vip_manifest(""));
    let web = web.to_str().unwrap();

    // Both nodes get the object, each says so.
    let out = apply_until_done(&a1, &["apply", "-f", web]);
    assert!(out.contains("n1: virtualips/web created"), "{out}");
    assert!(out.contains("n2: virtualips/web created"), "{out}");
    assert_eq!(vips(&a1), ["web:cli"]);
    assert_eq!(vips(&a2), ["guest:files", "web:cli"]);

    // n2 refuses (guest is its files' object): nothing is written on n1 either.
    let guest = support::write_file(&app, "guest.yaml", &vip("guest", 61, 161));
    let (code, out) = code_and_text(&a1.hc(&["apply", "-f", guest.to_str().unwrap()]));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("n2: ") && out.contains("files"), "{out}");
    assert!(out.contains("nothing was applied on any node"), "{out}");
    assert_eq!(vips(&a1), ["web:cli"]);

    // n2 is down: the command fails, naming it, and writes nothing.
    a2.process.stop(Duration::from_secs(5)).unwrap();
    let db = support::write_file(&app, "db.yaml", &vip("db", 52, 101));
    let db = db.to_str().unwrap();
    let (code, out) = code_and_text(&a1.hc(&["apply", "-f", db]));
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("n2: unreachable"), "{out}");
    assert!(out.contains("nothing was applied on any node"), "{out}");
    assert_eq!(vips(&a1), ["web:cli"]);

    // Allowed: n1 has it, n2 is reported.
    let (code, out) = code_and_text(&a1.hc(&["apply", "--allow-unreachable", "-f", db]));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("n1: virtualips/db created"), "{out}");
    assert!(out.contains("n2: warning: unreachable"), "{out}");
    assert!(out.contains("not applied on n2 (10.77.0.2:7979)"), "{out}");
    assert_eq!(vips(&a1), ["db:cli", "web:cli"]);

    // n2 is back: the same command converges it, n1 stays as it is.
    a2 = start(&lab, n2);
    let out = apply_until_done(&a1, &["apply", "-f", db]);
    assert!(out.contains("n1: virtualips/db unchanged"), "{out}");
    assert!(out.contains("n2: virtualips/db created"), "{out}");
    assert_eq!(vips(&a2), ["db:cli", "guest:files", "web:cli"]);

    // A delete reaches both as well; --local keeps to this node.
    let (code, out) = code_and_text(&a1.hc(&["delete", "vip", "db"]));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("n1: virtualips/db deleted"), "{out}");
    assert!(out.contains("n2: virtualips/db deleted"), "{out}");
    assert_eq!(vips(&a2), ["guest:files", "web:cli"]);
    let (code, out) = code_and_text(&a1.hc(&["delete", "--local", "vip", "web"]));
    assert_eq!((code, out.trim()), (Some(0), "virtualips/web deleted"));
    assert_eq!(vips(&a1), Vec::<String>::new());
    assert_eq!(vips(&a2), ["guest:files", "web:cli"]);
}
