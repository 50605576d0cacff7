//! `import vrrpd` on the command lines of Vrrpd's README: its two
//! processes per server, watching each other with -M 2, become one sync
//! group of two VirtualIPs that validates.

mod common;

use common::{at_level, spec, strings, validated};
use hareconcile_import::{vrrpd, ImportError, Level, Options};
use serde_json::json;

/// "Basic configuration", Server 1 (Server 2 runs the same two lines).
const README_SERVER: &str = "vrrpd -i eth0 10.16.1.200 -v 51 -M 2 -U /etc/scripts/MASTER.sh -D /etc/scripts/DOWN.sh \
                             vrrpd -i eth1 10.17.1.200 -v 52 -M 2 -U /etc/scripts/MASTER.sh -D /etc/scripts/DOWN.sh";

fn args(text: &str) -> Vec<String> {
    strings(&text.split_whitespace().collect::<Vec<_>>())
}

#[test]
fn the_readme_example_is_one_sync_group() {
    let mut options = Options::default();
    options
        .addresses
        .insert("server1".into(), "10.16.1.1".parse().unwrap());
    options
        .addresses
        .insert("server2".into(), "10.16.1.2".parse().unwrap());
    let import = vrrpd::import(&args(README_SERVER), &options).unwrap();
    let objects = validated(&import);
    assert_eq!(objects.len(), 3);
    let cluster = spec(&objects, "imported");
    assert_eq!(cluster["vrrp"]["version"], 2);
    assert_eq!(cluster["vrrp"]["transport"], "multicast");
    for (name, interface, vrid, address) in [
        ("eth0-51", "eth0", 51, "10.16.1.200/32"),
        ("eth1-52", "eth1", 52, "10.17.1.200/32"),
    ] {
        assert_eq!(
            spec(&objects, name),
            &json!({
                "cluster": "imported", "interface": interface, "vrid": vrid,
                "addresses": [address],
                "priorities": {"server1": 100, "server2": 100},
                "accept": true, "virtualMac": true, "garp": {"count": 5},
                "syncGroup": "vrrpd",
                "notify": {"master": ["/etc/scripts/MASTER.sh"], "backup": ["/etc/scripts/DOWN.sh"]}
            })
        );
    }
    // The virtual MAC moves from the interface to a macvlan: said once per
    // process, at its command line.
    assert_eq!(
        at_level(&import, Level::Changed),
        [
            ("vrrpd command 1:0".to_string(), "virtual MAC".to_string()),
            ("vrrpd command 2:0".to_string(), "virtual MAC".to_string())
        ]
    );
    assert!(at_level(&import, Level::Placeholder).is_empty());
}

#[test]
fn usage_options_map_or_are_reported() {
    let import = vrrpd::import(
        &args("/usr/sbin/vrrpd -i eth0 -v 11 -n -s -p 150 -d 3 -a pw/longpassword -z 80 -I 10.1.1.1 -O 10.1.1.254 10.1.1.1/24"),
        &Options::default(),
    )
    .unwrap();
    let objects = validated(&import);
    let vip = spec(&objects, "eth0-11");
    assert_eq!(vip["virtualMac"], false);
    assert_eq!(vip["preempt"], false);
    assert_eq!(vip["advertInterval"], "3s");
    assert_eq!(vip["priorities"], json!({"n1": 150, "n2": 150}));
    assert!(vip.get("syncGroup").is_none());
    assert_eq!(spec(&objects, "imported")["vrrp"]["auth"]["type"], "pass");
    assert_eq!(import.secrets[0].content, "longpassword\n");
    assert_eq!(
        at_level(&import, Level::Unmapped),
        [
            ("vrrpd command 1:13".to_string(), "-z 80".to_string()),
            ("vrrpd command 1:15".to_string(), "-I 10.1.1.1".to_string()),
            (
                "vrrpd command 1:17".to_string(),
                "-O 10.1.1.254".to_string()
            )
        ]
    );
    assert_eq!(at_level(&import, Level::Placeholder).len(), 2);
}

#[test]
fn a_command_line_vrrpd_refuses_is_an_error() {
    let error = vrrpd::import(&args("vrrpd -i eth0 10.0.0.1"), &Options::default()).unwrap_err();
    assert!(matches!(error, ImportError::CommandLine(_)));
    assert_eq!(
        error.to_string(),
        "vrrpd command 1:0: no virtual router id: give -v VRID (vrrpd refuses this command line too)"
    );
    assert!(vrrpd::import(&[], &Options::default()).is_err());
}
