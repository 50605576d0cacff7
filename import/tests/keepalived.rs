//! `import keepalived` on the keepalived configurations the seeds write
//! and on realistic ones: the manifests validate, carry what the files say,
//! and every option they leave out is a finding with its file and line.

mod common;

use common::{at_level, fixture, spec, summary, validated};
use hareconcile_import::keepalived::{self, NodeFile};
use hareconcile_import::{Import, ImportError, Level, Options};
use serde_json::json;

fn import(nodes: &[(&str, &str)]) -> Import {
    import_with(nodes, &Options::default())
}

fn import_with(nodes: &[(&str, &str)], options: &Options) -> Import {
    let files: Vec<NodeFile> = nodes
        .iter()
        .map(|(name, path)| NodeFile::new(*name, fixture(path)))
        .collect();
    keepalived::import(&files, options).unwrap_or_else(|e| panic!("{e}"))
}

fn pair(name: &str, a: &str, b: &str) -> (String, String) {
    (format!("{name}:{a}"), b.to_string())
}

/// Seed 002: the home server's primary and secondary, a script named with
/// `_`, a password longer than keepalived reads, two notify scripts.
#[test]
fn home_server_seed() {
    let import = import(&[
        ("primary", "seeds/home-server-primary.conf"),
        ("secondary", "seeds/home-server-secondary.conf"),
    ]);
    let objects = validated(&import);
    assert_eq!(
        spec(&objects, "vi-1"),
        &json!({
            "cluster": "imported", "interface": "enp2s0", "vrid": 51,
            "addresses": ["192.168.86.100/24"],
            "priorities": {"primary": 100, "secondary": 90},
            "accept": true, "virtualMac": false, "garp": {"count": 5},
            "track": {"scripts": [{
                "name": "check_traefik",
                "command": ["/usr/bin/docker", "inspect", "-f", "{{.State.Running}}", "traefik"],
                "interval": "5s", "fall": 3, "rise": 2, "weight": -20
            }]},
            "notify": {
                "master": ["/home/unarmedpuppy/server/scripts/failover-master.sh"],
                "backup": ["/home/unarmedpuppy/server/scripts/failover-backup.sh"]
            }
        })
    );
    let cluster = spec(&objects, "imported");
    assert_eq!(
        cluster["vrrp"],
        json!({"version": 2, "advertInterval": "1s", "transport": "multicast",
               "auth": {"type": "pass", "passwordFile": "/etc/hareconcile/vrrp-password"},
               "v3Checksum": "withPseudoHeader"})
    );
    assert_eq!(import.secrets[0].content, "secretpass\n");
    // Multicast: nothing in the files says the nodes' addresses.
    assert_eq!(
        at_level(&import, Level::Placeholder),
        [
            ("-".to_string(), "node primary".to_string()),
            ("-".to_string(), "node secondary".to_string())
        ]
    );
    assert!(at_level(&import, Level::Unmapped).is_empty());
}

/// Seed 000: NPMplus on two Proxmox hosts; `chk_npmplus` keeps its name,
/// notify scripts keep their argument.
#[test]
fn npmplus_seed() {
    let mut options = Options::default();
    options
        .addresses
        .insert("r630-01".into(), "192.168.11.11".parse().unwrap());
    options
        .addresses
        .insert("r630-02".into(), "192.168.11.12".parse().unwrap());
    let import = import_with(
        &[
            ("r630-01", "seeds/npmplus-r630-01.conf"),
            ("r630-02", "seeds/npmplus-r630-02.conf"),
        ],
        &options,
    );
    let objects = validated(&import);
    let vip = spec(&objects, "vi-npmplus");
    assert_eq!(vip["priorities"], json!({"r630-01": 110, "r630-02": 100}));
    assert_eq!(
        vip["track"]["scripts"][0],
        json!({"name": "chk_npmplus", "command": ["/usr/local/bin/check-npmplus-health.sh"],
               "interval": "5s", "fall": 2, "rise": 2, "weight": -10})
    );
    assert_eq!(
        vip["notify"],
        json!({"master": ["/usr/local/bin/keepalived-notify.sh", "master"],
               "backup": ["/usr/local/bin/keepalived-notify.sh", "backup"],
               "fault": ["/usr/local/bin/keepalived-notify.sh", "fault"]})
    );
    assert_eq!(
        spec(&objects, "imported")["nodes"],
        json!([{"name": "r630-01", "address": "192.168.11.11", "priority": 100},
               {"name": "r630-02", "address": "192.168.11.12", "priority": 100}])
    );
    assert!(!import.needs_review(), "{:#?}", import.findings);
    // keepalived reads 8 characters of npmplus_ha_2024; so does hareconcile.
    assert_eq!(import.secrets[0].content, "npmplus_ha_2024\n");
    assert_eq!(
        at_level(&import, Level::Note)[0],
        pair("npmplus-r630-01.conf", "16", "auth_pass")
    );
}

/// Seed 004 prints only a fragment, with placeholders and outside any
/// vrrp_instance: keepalived rejects it, and the import says why, line by
/// line, instead of producing anything.
#[test]
fn netsocs_seed_fragment_as_written() {
    let files = [NodeFile::new("a", fixture("seeds/netsocs-unicast.conf"))];
    let Err(ImportError::Nothing { reason, findings }) =
        keepalived::import(&files, &Options::default())
    else {
        panic!("a fragment without vrrp_instance imported something");
    };
    assert!(reason.starts_with("no usable vrrp_instance in"), "{reason}");
    assert_eq!(
        summary(&findings),
        [
            (
                Level::Invalid,
                "netsocs-unicast.conf:1".into(),
                "unicast_src_ip".into()
            ),
            (
                Level::Invalid,
                "netsocs-unicast.conf:2".into(),
                "unicast_peer".into()
            )
        ]
    );
    assert!(findings[0].message.contains("keyword of vrrp_instance"));
}

/// Seed 004 written out with the brochure's reference values: unicast
/// between the nodes' real addresses, a password, health and notify
/// scripts; nothing is left for review.
#[test]
fn netsocs_configuration() {
    let import = import(&[
        ("node-a", "netsocs-node-a.conf"),
        ("node-b", "netsocs-node-b.conf"),
    ]);
    let objects = validated(&import);
    let cluster = spec(&objects, "imported");
    assert_eq!(
        cluster["nodes"],
        json!([{"name": "node-a", "address": "192.168.1.10", "priority": 100},
               {"name": "node-b", "address": "192.168.1.11", "priority": 100}])
    );
    assert_eq!(cluster["vrrp"]["transport"], "unicast");
    let vip = spec(&objects, "netsocs-vip");
    assert_eq!(vip["addresses"], json!(["192.168.1.100/24"]));
    assert_eq!(vip["priorities"], json!({"node-a": 110, "node-b": 100}));
    assert_eq!(vip["track"]["scripts"][0]["timeout"], "2s");
    assert_eq!(
        vip["notify"]["master"],
        json!(["/opt/netsocs/failover/notify-master.sh"])
    );
    let review: Vec<_> = import
        .findings
        .iter()
        .filter(|f| f.level.needs_review())
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(
        review,
        [
            "enable_script_security",
            "script_user",
            "enable_script_security",
            "script_user"
        ]
    );
}

/// Seed 001 as its guide describes it: its only VIP is the broadcast
/// address of its network, which the model refuses, so nothing is left to
/// import, and the error's findings name both lines.
#[test]
fn pihole_configuration() {
    let files = [
        ("pi1", "pihole-primary.conf"),
        ("pi2", "pihole-secondary.conf"),
    ]
    .map(|(name, path)| NodeFile::new(name, fixture(path)));
    let Err(ImportError::Nothing { findings, .. }) =
        keepalived::import(&files, &Options::default())
    else {
        panic!("the broadcast VIP was imported");
    };
    let refused: Vec<_> = summary(&findings)
        .into_iter()
        .filter(|(level, _, _)| *level == Level::Invalid)
        .map(|(_, at, subject)| (at, subject))
        .collect();
    assert_eq!(
        refused,
        [
            pair("pihole-primary.conf", "36", "192.168.8.255/24"),
            pair("pihole-secondary.conf", "36", "192.168.8.255/24")
        ]
    );
    let why = &findings
        .iter()
        .find(|f| f.level == Level::Invalid)
        .unwrap()
        .message;
    assert!(
        why.contains("192.168.8.255 is the broadcast address of 192.168.8.0/24"),
        "{why}"
    );
}

/// The seed 001 files `nodes` names, with a host address for their VIP
/// as the chart's example floats it, copied into `dir`.
fn pihole_with_a_host_address(dir: &std::path::Path, nodes: &[(&str, &str)]) -> Import {
    let files: Vec<NodeFile> = nodes
        .iter()
        .map(|(name, file)| {
            let text = std::fs::read_to_string(fixture(file)).unwrap();
            let copy = dir.join(file);
            std::fs::write(&copy, text.replace("192.168.8.255/24", "192.168.8.250/24")).unwrap();
            NodeFile::new(*name, copy)
        })
        .collect();
    keepalived::import(&files, &Options::default()).unwrap()
}

/// Seed 001 with a host address for its VIP: the rest of the guide's
/// configuration carries over.
#[test]
fn pihole_configuration_with_a_host_address() {
    let dir = tempfile::tempdir().unwrap();
    let import = pihole_with_a_host_address(
        dir.path(),
        &[
            ("pi1", "pihole-primary.conf"),
            ("pi2", "pihole-secondary.conf"),
        ],
    );
    let objects = validated(&import);
    let vip = spec(&objects, "vi-dns");
    assert_eq!(vip["addresses"], json!(["192.168.8.250/24"]));
    assert_eq!(vip["priorities"], json!({"pi1": 150, "pi2": 100}));
    assert_eq!(
        vip["track"]["scripts"][0],
        json!({"name": "chk_dns", "command": ["/etc/keepalived/check_dns.sh"],
               "interval": "5s", "timeout": "3s", "fall": 3, "rise": 2, "weight": 0})
    );
    assert_eq!(
        vip["notify"]["fault"],
        json!(["/etc/keepalived/notify_fault.sh"])
    );
    assert_eq!(at_level(&import, Level::Invalid), []);
}

/// One file only: the other node is derived from its unicast peer, with a
/// priority below a MASTER's, and the findings say so.
#[test]
fn a_single_file_derives_the_other_node() {
    let dir = tempfile::tempdir().unwrap();
    let import = pihole_with_a_host_address(dir.path(), &[("pi1", "pihole-primary.conf")]);
    let objects = validated(&import);
    assert_eq!(
        spec(&objects, "imported")["nodes"][1],
        json!({"name": "n2", "address": "192.168.8.12", "priority": 100})
    );
    assert_eq!(
        spec(&objects, "vi-dns")["priorities"],
        json!({"pi1": 150, "n2": 140})
    );
    let notes = at_level(&import, Level::Note);
    assert!(
        notes.contains(&pair("pihole-primary.conf", "29", "node n2")),
        "{notes:?}"
    );
    let derived = import
        .findings
        .iter()
        .find(|f| f.message.starts_with("priority 140 on VirtualIP vi-dns"))
        .expect("a note on the derived priority");
    assert!(derived.message.contains("state MASTER"), "{derived}");
}

/// A realistic router pair: two instances in a sync group that tracks an
/// interface and runs group notify scripts; e-mail, address labels and
/// routes are reported.
#[test]
fn router_pair_with_sync_group() {
    let import = import(&[
        ("edge-a", "router/edge-a.conf"),
        ("edge-b", "router/edge-b.conf"),
    ]);
    let objects = validated(&import);
    let (wan, lan) = (spec(&objects, "vi-wan"), spec(&objects, "vi-lan"));
    assert_eq!(wan["syncGroup"], "g-edge");
    assert_eq!(lan["syncGroup"], "g-edge");
    assert_eq!(wan["track"]["interfaces"], json!(["eth2"]));
    assert_eq!(lan["track"]["interfaces"], json!(["eth2"]));
    assert_eq!(wan["garp"], json!({"count": 3}));
    assert_eq!(
        wan["notify"],
        json!({"master": ["/etc/keepalived/edge-state.sh", "MASTER"],
               "backup": ["/etc/keepalived/edge-state.sh", "BACKUP"],
               "fault": ["/etc/keepalived/edge-state.sh", "FAULT"]})
    );
    assert!(lan.get("notify").is_none(), "{lan}");
    assert_eq!(lan["addresses"], json!(["10.10.0.1/24", "10.10.0.2/24"]));
    assert_eq!(lan["priorities"], json!({"edge-a": 200, "edge-b": 100}));
    let unmapped: Vec<_> = at_level(&import, Level::Unmapped)
        .into_iter()
        .filter(|(at, _)| at.starts_with("edge-a"))
        .collect();
    assert_eq!(
        unmapped,
        [
            pair("edge-a.conf", "3", "notification_email"),
            pair("edge-a.conf", "6", "notification_email_from"),
            pair("edge-a.conf", "7", "smtp_server"),
            pair("edge-a.conf", "8", "smtp_connect_timeout"),
            pair("edge-a.conf", "35", "smtp_alert"),
            pair("edge-a.conf", "46", "10.10.0.2/24 label"),
            pair("edge-a.conf", "48", "virtual_routes")
        ]
    );
}

/// Two cloud VMs: unicast with a password, no automatic failback, a
/// preempt delay and GARP settings.
#[test]
fn unicast_with_authentication_and_no_failback() {
    let options = Options {
        password_file: "/etc/hareconcile/app.pass".into(),
        ..Options::default()
    };
    let import = import_with(
        &[
            ("vm1", "unicast-auth/vm1.conf"),
            ("vm2", "unicast-auth/vm2.conf"),
        ],
        &options,
    );
    let objects = validated(&import);
    let cluster = spec(&objects, "imported");
    assert_eq!(
        cluster["vrrp"]["auth"],
        json!({"type": "pass", "passwordFile": "/etc/hareconcile/app.pass"})
    );
    assert_eq!(cluster["nodes"][1]["address"], "10.128.0.12");
    let vip = spec(&objects, "vi-app");
    assert_eq!(vip["preempt"], false);
    assert_eq!(vip["preemptDelay"], "1m");
    assert_eq!(vip["advertInterval"], "2s");
    assert_eq!(vip["garp"], json!({"count": 2, "refresh": "1m"}));
    assert_eq!(vip["priorities"], json!({"vm1": 100, "vm2": 100}));
    assert_eq!(
        vip["notify"]["master"],
        json!(["/usr/local/sbin/move-alias.sh", "up", "10.128.0.100"])
    );
    assert_eq!(import.secrets.len(), 1);
    assert_eq!(
        import.secrets[0].path.to_str(),
        Some("/etc/hareconcile/app.pass")
    );
    assert_eq!(import.secrets[0].content, "s3cr3t-pw\n");
    assert_eq!(
        at_level(&import, Level::Unmapped),
        [
            pair("vm1.conf", "5", "vrrp_garp_master_delay"),
            pair("vm2.conf", "5", "vrrp_garp_master_delay")
        ]
    );
}

/// VRRPv3 with an IPv4 and an IPv6 instance on one VRID in a sync group,
/// 100 ms adverts; excluded addresses are reported, not merged (hareconcile
/// would advertise them, and a keepalived peer's adverts would differ).
#[test]
fn dual_stack_vrrp3() {
    let import = import(&[("a", "dual-stack/a.conf"), ("b", "dual-stack/b.conf")]);
    let objects = validated(&import);
    assert_eq!(spec(&objects, "imported")["vrrp"]["version"], 3);
    let (v4, v6) = (spec(&objects, "web-v4"), spec(&objects, "web-v6"));
    assert_eq!(v4["vrid"], 60);
    assert_eq!(v6["vrid"], 60);
    assert_eq!(v4["addresses"], json!(["198.51.100.60/24"]));
    assert_eq!(v6["addresses"], json!(["2001:db8:60::60/64"]));
    assert_eq!(v4["advertInterval"], "100ms");
    assert_eq!(v6["syncGroup"], "dual");
    assert_eq!(v6["priorities"], json!({"a": 150, "b": 120}));
    assert_eq!(
        at_level(&import, Level::Unmapped),
        [
            pair("a.conf", "23", "virtual_ipaddress_excluded"),
            pair("b.conf", "23", "virtual_ipaddress_excluded")
        ]
    );
}

/// A gateway with the virtual MAC, only one node's file at hand.
#[test]
fn virtual_mac_from_a_single_file() {
    let import = import(&[("gw1", "vmac/gw1.conf")]);
    let objects = validated(&import);
    let vip = spec(&objects, "vi-gw");
    assert_eq!(vip["virtualMac"], true);
    assert_eq!(vip["garp"], json!({"count": 5, "refresh": "30s"}));
    assert_eq!(vip["track"]["interfaces"], json!(["eth1"]));
    assert_eq!(vip["priorities"], json!({"gw1": 150, "n2": 140}));
    assert_eq!(
        summary(&import.findings)
            .into_iter()
            .filter(|(level, _, _)| level.needs_review())
            .collect::<Vec<_>>(),
        [
            (Level::Changed, "gw1.conf:10".into(), "use_vmac".into()),
            (
                Level::Unmapped,
                "gw1.conf:11".into(),
                "vmac_xmit_base".into()
            ),
            (Level::Placeholder, "-".into(), "node gw1".into()),
            (Level::Placeholder, "-".into(), "node n2".into()),
            (
                Level::Changed,
                "gw1.conf:17".into(),
                "track_interface eth1 weight".into()
            )
        ]
    );
}

/// Track scripts (weights, an override on the instance, a missing one),
/// tracked interfaces, the generic notify with keepalived's arguments.
#[test]
fn track_scripts_and_notify_scripts() {
    let import = import(&[
        ("lb1", "track-notify/lb1.conf"),
        ("lb2", "track-notify/lb2.conf"),
    ]);
    let objects = validated(&import);
    let vip = spec(&objects, "vi-lb");
    assert_eq!(vip["track"]["interfaces"], json!(["eth0", "eth1"]));
    let scripts = vip["track"]["scripts"].as_array().unwrap();
    let names: Vec<&str> = scripts
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chk_haproxy", "chk_backends", "chk_disk"]);
    assert_eq!(scripts[0]["weight"], 2);
    assert_eq!(scripts[1]["weight"], -40, "the instance's weight wins");
    assert_eq!(
        scripts[1]["command"],
        json!([
            "/usr/bin/curl",
            "-fsS",
            "--max-time",
            "2",
            "-H",
            "Host: shop.example.com",
            "http://127.0.0.1:8404/health"
        ])
    );
    assert_eq!(
        vip["notify"],
        json!({"master": ["/etc/keepalived/notify.sh", "INSTANCE", "VI_LB", "MASTER"],
               "backup": ["/etc/keepalived/notify.sh", "INSTANCE", "VI_LB", "BACKUP"],
               "fault": ["/etc/keepalived/notify.sh", "INSTANCE", "VI_LB", "FAULT"],
               "stop": ["/etc/keepalived/stopped.sh"]})
    );
    let lb1: Vec<_> = summary(&import.findings)
        .into_iter()
        .filter(|(_, at, _)| at.starts_with("lb1"))
        .collect();
    assert_eq!(
        lb1,
        [
            (
                Level::Unmapped,
                "lb1.conf:4".into(),
                "enable_script_security".into()
            ),
            (Level::Unmapped, "lb1.conf:5".into(), "script_user".into()),
            (Level::Unmapped, "lb1.conf:21".into(), "user".into()),
            (Level::Unmapped, "lb1.conf:27".into(), "init_fail".into()),
            (Level::Changed, "lb1.conf:48".into(), "notify".into()),
            (Level::Changed, "lb1.conf:48".into(), "notify".into()),
            (Level::Note, "lb1.conf:3".into(), "router_id".into()),
            (
                Level::Invalid,
                "lb1.conf:46".into(),
                "track_script chk_missing".into()
            )
        ]
    );
}

/// One file for both nodes, as keepalived --config-id runs it: @-lines,
/// parameters and included files give each node its own values.
#[test]
fn one_file_with_conditions_parameters_and_includes() {
    let import = import(&[
        ("lb1", "includes/keepalived.conf"),
        ("lb2", "includes/keepalived.conf"),
    ]);
    let objects = validated(&import);
    let cluster = spec(&objects, "imported");
    assert_eq!(
        cluster["nodes"],
        json!([{"name": "lb1", "address": "10.20.30.11", "priority": 100},
               {"name": "lb2", "address": "10.20.30.12", "priority": 100}])
    );
    assert_eq!(cluster["vrrp"]["transport"], "unicast");
    let vip = spec(&objects, "vi-bond0-web");
    assert_eq!(vip["interface"], "bond0");
    assert_eq!(
        vip["addresses"],
        json!(["10.20.30.100/24", "10.20.30.101/24"])
    );
    assert_eq!(vip["priorities"], json!({"lb1": 150, "lb2": 100}));
    assert_eq!(
        vip["track"]["scripts"][0]["command"],
        json!(["/usr/bin/pgrep", "-x", "nginx"])
    );
    let from = &objects[1].metadata.annotations["hareconcile.io/imported-from"];
    assert!(from.contains("20-web.conf:1"), "{from}");
    assert!(!import.needs_review(), "{:#?}", import.findings);
}

/// Where two files disagree on what a VirtualIP holds once, the first
/// file's value is kept and the other's line is reported; a VRRP version
/// the Cluster cannot share is reported on each instance that speaks it.
#[test]
fn disagreements_between_files_are_reported_at_the_other_files_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        NodeFile::new(name.trim_end_matches(".conf"), path)
    };
    let a = write(
        "a.conf",
        "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n priority 120\n version 3\n virtual_ipaddress {\n  10.1.0.7/24\n }\n}\n",
    );
    let b = write(
        "b.conf",
        "vrrp_instance V {\n interface ens3\n virtual_router_id 7\n virtual_ipaddress {\n  10.1.0.7/24\n }\n nopreempt\n}\nvrrp_instance OTHER {\n interface ens3\n virtual_router_id 8\n virtual_ipaddress {\n  10.1.0.8/24\n }\n}\n",
    );
    let import = keepalived::import(&[a, b], &Options::default()).unwrap();
    let objects = validated(&import);
    assert_eq!(spec(&objects, "v")["interface"], "eth0");
    assert_eq!(
        spec(&objects, "v")["priorities"],
        json!({"a": 120, "b": 100})
    );
    // a does not run OTHER: it gets a priority below b's.
    assert_eq!(
        spec(&objects, "other")["priorities"],
        json!({"a": 90, "b": 100})
    );
    let changed = at_level(&import, Level::Changed);
    assert_eq!(
        changed,
        [
            pair("a.conf", "5", "vrrp_instance V"),
            pair("b.conf", "1", "vrrp_instance V interface"),
            pair("b.conf", "1", "vrrp_instance V preempt"),
            ("-".to_string(), "node a".to_string()),
        ]
    );
    assert!(import
        .findings
        .iter()
        .any(|f| f.message.contains("add `version 2` to this vrrp_instance")));
    assert_eq!(spec(&objects, "imported")["vrrp"]["version"], 2);
}

/// `--address` for a node the Cluster does not have is a mistake, not
/// something to ignore.
#[test]
fn an_address_for_an_unknown_node_is_refused() {
    let mut options = Options::default();
    options
        .addresses
        .insert("lb3".into(), "10.0.0.3".parse().unwrap());
    let files = [NodeFile::new("lb1", fixture("track-notify/lb1.conf"))];
    let error = keepalived::import(&files, &options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "--address names node lb3, which the Cluster does not have: use one of lb1, n2"
    );
}
