//! Every broken manifest in `fixtures/invalid/` has exactly one fault; its
//! full diagnostic (`file:line:col: Kind/name: message`, the path relative
//! to the fixtures directory) is pinned here so that positions and wording
//! cannot drift unnoticed. `fixtures/multiple/` proves that all problems
//! are reported, in file order, a syntax error included.

use std::path::{Path, PathBuf};

use hareconcile_model::load::{load_paths, Diagnostics};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Diagnostics as text with paths relative to the fixtures directory.
fn rendered(diagnostics: &Diagnostics) -> Vec<String> {
    let prefix = format!("{}/", fixtures().display());
    diagnostics
        .0
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect()
}

const EXPECTED: &[(&str, &str)] = &[
    (
        "bad-cidr.yaml",
        "invalid/bad-cidr.yaml:19:31: VirtualIP/web: spec.addresses[1]: \"10.77.0.300/24\" is not an address with prefix length: write it like 10.77.0.100/24 or fd00::100/64",
    ),
    (
        "bad-duration.yaml",
        "invalid/bad-duration.yaml:20:17: VirtualIP/web: spec.preemptDelay: \"5 s\" is not valid: use a duration such as 50ms, 1s, 5m or 1h30m",
    ),
    (
        "bad-endpoint.yaml",
        "invalid/bad-endpoint.yaml:11:19: Cluster/home: spec.quorum.etcd.endpoints[0]: \"http://10.77.0.3\" is not valid: use an etcd client URL with its port, such as https://10.0.0.3:2379",
    ),
    (
        "bad-name.yaml",
        "invalid/bad-name.yaml:5:9: Cluster/Home_Lab: metadata.name: \"Home_Lab\" is not valid: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (a DNS-1123 label)",
    ),
    (
        "dangling-cluster.yaml",
        "invalid/dangling-cluster.yaml:16:12: VirtualIP/web: spec.cluster: unknown Cluster \"hmoe\": declare it or fix the name (known: home)",
    ),
    (
        "dangling-node.yaml",
        "invalid/dangling-node.yaml:20:25: VirtualIP/web: spec.priorities.n3: unknown node \"n3\" in Cluster \"home\": use one of n1, n2",
    ),
    (
        "dangling-replication.yaml",
        "invalid/dangling-replication.yaml:29:14: Service/web: spec.requires[0]: unknown Replication \"certs\": declare it or fix the name (no Replication is declared)",
    ),
    (
        "dangling-service.yaml",
        "invalid/dangling-service.yaml:20:22: VirtualIP/web: spec.track.services[0]: unknown Service \"web\": declare it or fix the name (no Service is declared)",
    ),
    (
        "dangling-vip.yaml",
        "invalid/dangling-vip.yaml:17:20: Service/web: spec.followVirtualIP: unknown VirtualIP \"web\": declare it or fix the name (no VirtualIP is declared)",
    ),
    (
        "duplicate-address.yaml",
        "invalid/duplicate-address.yaml:29:30: VirtualIP/dns: spec.addresses[1]: 10.77.0.100 is already an address of VirtualIP \"web\": an address can float in one VirtualIP only",
    ),
    (
        "duplicate-key.yaml",
        "invalid/duplicate-key.yaml:20:3: key `vrid` appears twice in this mapping (first on line 18): keep one",
    ),
    (
        "duplicate-node.yaml",
        "invalid/duplicate-node.yaml:10:27: Cluster/home: spec.nodes[2].address: address 10.77.0.2 is already used by spec.nodes[1]: give each node its own address",
    ),
    (
        "duplicate-object.yaml",
        "invalid/duplicate-object.yaml:24:9: VirtualIP/web: metadata.name: VirtualIP/web is already declared at invalid/duplicate-object.yaml:14:9: keep one declaration",
    ),
    (
        "duplicate-vrid.yaml",
        "invalid/duplicate-vrid.yaml:28:9: VirtualIP/dns: spec.vrid: VRID 51 on eth0 (IPv4) is already used by VirtualIP \"web\" in Cluster \"home\": choose another VRID",
    ),
    (
        "fencing-without-quorum.yaml",
        "invalid/fencing-without-quorum.yaml:20:12: VirtualIP/web: spec.fencing: fencing: quorum needs a quorum engine, and Cluster \"home\" declares none: add its spec.quorum (docs/quorum.md), or use fencing: auto",
    ),
    (
        "missing-apiversion.yaml",
        "invalid/missing-apiversion.yaml:2:1: Cluster/home: missing required field apiVersion: add apiVersion: hareconcile.io/v1alpha1",
    ),
    (
        "missing-required.yaml",
        "invalid/missing-required.yaml:16:3: VirtualIP/web: spec: missing required field interface: add it (a Linux interface name: 1-15 characters without '/', ':' or spaces, e.g. eth0)",
    ),
    (
        "not-a-mapping.yaml",
        "invalid/not-a-mapping.yaml:2:1: this document is a list, not an object: write a mapping with apiVersion, kind, metadata and spec",
    ),
    (
        "owner-force-backup.yaml",
        "invalid/owner-force-backup.yaml:21:19: VirtualIP/router: spec.control.forceBackup[0]: node n1 owns 10.77.0.1 (priority 255), and the address owner cannot be a backup (RFC 5798): it keeps its own address, which would then be on two nodes at once: remove n1 from forceBackup (to serve the address elsewhere, take it off n1's interface, or float an address no node owns, with priorities 1-254)",
    ),
    (
        "pass-auth-v3.yaml",
        "invalid/pass-auth-v3.yaml:12:18: Cluster/home: spec.vrrp.auth.type: pass authentication exists only in VRRP version 2 (RFC 5798 removed it): set spec.vrrp.version: 2 or use type: none",
    ),
    (
        "priority-0.yaml",
        "invalid/priority-0.yaml:20:20: VirtualIP/web: spec.priorities.n1: 0 is out of range: use 1-255",
    ),
    (
        "priority-255-not-owner.yaml",
        "invalid/priority-255-not-owner.yaml:20:20: VirtualIP/web: spec.priorities.n1: 255 is reserved for the address owner (RFC 5798) and node n1 (10.77.0.1) owns none of this VirtualIP's addresses: use 1-254",
    ),
    (
        "priority-300.yaml",
        "invalid/priority-300.yaml:20:20: VirtualIP/web: spec.priorities.n1: 300 is out of range: use 1-255",
    ),
    (
        "quorum-cert-without-key.yaml",
        "invalid/quorum-cert-without-key.yaml:14:9: Cluster/home: spec.quorum.etcd.tls: missing required field keyFile: add it (an absolute path, starting with /)",
    ),
    (
        "quorum-https-without-tls.yaml",
        "invalid/quorum-https-without-tls.yaml:14:11: Cluster/home: spec.quorum.etcd.endpoints[1]: https://10.77.0.3:2379: an https endpoint needs tls.caFile: add spec.quorum.etcd.tls, or use http://",
    ),
    (
        "replication-without-nfs.yaml",
        "invalid/replication-without-nfs.yaml:16:3: Replication/media: spec: missing required field nfs: method nfs needs it",
    ),
    (
        "tab-indentation.yaml",
        "invalid/tab-indentation.yaml:20:2: YAML syntax error: tabs disallowed within this context (block indentation): indent with spaces, not tabs",
    ),
    (
        "unknown-field-nested.yaml",
        "invalid/unknown-field-nested.yaml:21:5: VirtualIP/web: spec.track.script: unknown field: did you mean scripts?",
    ),
    (
        "unknown-field-top.yaml",
        "invalid/unknown-field-top.yaml:10:1: Cluster/home: labels: unknown field here: move it under metadata",
    ),
    (
        "unknown-kind.yaml",
        "invalid/unknown-kind.yaml:3:7: kind: \"Pod\" is not a hareconcile kind: use Cluster, VirtualIP, Service or Replication",
    ),
    (
        "v2-50ms.yaml",
        "invalid/v2-50ms.yaml:21:19: VirtualIP/web: spec.advertInterval: 50ms cannot be advertised: VRRP version 2 advertises whole seconds from 1s to 255s: use whole seconds such as 1s, or VRRP version 3 for sub-second adverts",
    ),
    (
        "v2-ipv6.yaml",
        "invalid/v2-ipv6.yaml:20:31: VirtualIP/web: spec.addresses[1]: fd00::100/64 is IPv6, but Cluster \"home\" uses VRRP version 2, which is IPv4 only: set spec.vrrp.version: 3 on the Cluster or remove the address",
    ),
    (
        "v3-41s.yaml",
        "invalid/v3-41s.yaml:20:19: VirtualIP/web: spec.advertInterval: 41s cannot be advertised: VRRP version 3 advertises steps of 10ms from 10ms to 40s950ms: use a multiple of 10ms up to 40s950ms",
    ),
    (
        "wrong-apiversion.yaml",
        "invalid/wrong-apiversion.yaml:2:13: Cluster/home: apiVersion: \"v1\" is not supported: use hareconcile.io/v1alpha1",
    ),
    (
        "wrong-enum.yaml",
        "invalid/wrong-enum.yaml:29:9: Service/web: spec.mode: \"standby\" is not allowed: use one of active-passive, active-active, warm",
    ),
    (
        "wrong-type.yaml",
        "invalid/wrong-type.yaml:18:9: VirtualIP/web: spec.vrid: expected an integer, found the string \"fifty-one\"",
    ),
    (
        "yaml-syntax.yaml",
        "invalid/yaml-syntax.yaml:20:33: YAML syntax error: while parsing a flow sequence, expected ',' or ']'",
    ),
];

#[test]
fn each_invalid_fixture_reports_exactly_its_one_fault() {
    let mut failures = Vec::new();
    for (file, expected) in EXPECTED {
        let path = fixtures().join("invalid").join(file);
        let actual = match load_paths(&[&path]) {
            Ok(manifests) => vec![format!("loaded {} objects", manifests.len())],
            Err(diagnostics) => rendered(&diagnostics),
        };
        if actual != [expected.to_string()] {
            failures.push(format!(
                "{file}:\n  expected {expected}\n  actual   {actual:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_fixture_is_pinned() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut pinned: Vec<String> = EXPECTED.iter().map(|(f, _)| f.to_string()).collect();
    pinned.sort();
    assert_eq!(on_disk, pinned);
    assert!(pinned.len() >= 24);
}

#[test]
fn several_faults_are_all_reported_in_file_order() {
    let diagnostics = load_paths(&[fixtures().join("multiple")]).unwrap_err();
    assert_eq!(
        rendered(&diagnostics),
        [
            "multiple/a-cluster.yaml:21:25: VirtualIP/web: spec.priorities.n3: unknown node \"n3\" in Cluster \"home\": use one of n1, n2",
            "multiple/b-apps.yaml:9:30: VirtualIP/dns: spec.addresses[1]: \"10.77.0.300/24\" is not an address with prefix length: write it like 10.77.0.100/24 or fd00::100/64",
            "multiple/b-apps.yaml:10:3: VirtualIP/dns: spec.prempt: unknown field: did you mean preempt?",
            "multiple/b-apps.yaml:19:9: Service/web: spec.mode: \"standby\" is not allowed: use one of active-passive, active-active, warm",
            "multiple/b-apps.yaml:29:9: VirtualIP/api: spec.vrid: VRID 51 on eth0 (IPv4) is already used by VirtualIP \"web\" in Cluster \"home\": choose another VRID",
            "multiple/b-apps.yaml:36:1: YAML syntax error: while parsing a flow mapping, did not find expected ',' or '}'",
        ]
    );
}
