//! The two-node lab's usual objects as manifest text: Cluster `lab` of
//! n1 (10.77.0.1) and n2 (10.77.0.2), and VirtualIP `web` floating
//! 10.77.0.100 between them on eth0. Tests append what they need.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hareconcile_lab::{ipv4, Lab};

/// The VirtualIP's host number on LAN 0: `vip()` is 10.77.0.100.
pub const VIP_NUMBER: u8 = 100;
pub const VRID: u8 = 51;
/// The lab's adverts unless a test says otherwise: elections take well
/// under a second.
pub const ADVERT: Duration = Duration::from_millis(100);

pub fn vip() -> Ipv4Addr {
    ipv4(0, VIP_NUMBER)
}

/// The Cluster with n1's and n2's `priorities` and [`ADVERT`], `more`
/// appended to its spec (lines such as `  peer: {...}\n`).
pub fn cluster_manifest(priorities: (u8, u8), more: &str) -> String {
    cluster_manifest_every(ADVERT, priorities, more)
}

/// [`cluster_manifest`] advertising every `advert`.
pub fn cluster_manifest_every(advert: Duration, priorities: (u8, u8), more: &str) -> String {
    format!(
        "apiVersion: hareconcile.io/v1alpha1\n\
         kind: Cluster\n\
         metadata: {{name: lab}}\n\
         spec:\n  \
           nodes: [{{name: n1, address: {n1}, priority: {p1}}}, {{name: n2, address: {n2}, priority: {p2}}}]\n  \
           vrrp: {{advertInterval: {ms}ms}}\n\
         {more}",
        n1 = ipv4(0, 1),
        n2 = ipv4(0, 2),
        p1 = priorities.0,
        p2 = priorities.1,
        ms = advert.as_millis(),
    )
}

/// A document following another: object `name` of `kind` whose spec is
/// `spec`, flow-style YAML without its braces (`cluster: lab, ...`).
pub fn document(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "---\n\
         apiVersion: hareconcile.io/v1alpha1\n\
         kind: {kind}\n\
         metadata: {{name: {name}}}\n\
         spec: {{{spec}}}\n"
    )
}

/// VirtualIP `web` (VRID [`VRID`], [`vip`]/24 on eth0), `more` added to
/// its spec (`, preempt: false`...), as a document following another.
pub fn web_vip_manifest(more: &str) -> String {
    let vip = vip();
    document(
        "VirtualIP",
        "web",
        &format!("cluster: lab, interface: eth0, vrid: {VRID}, addresses: [{vip}/24]{more}"),
    )
}

/// The Cluster's spec line for the peer API on port 7979 with the token
/// in `token_file`: `more` for [`cluster_manifest`].
pub fn peer_line(token_file: &Path) -> String {
    format!(
        "  peer: {{port: 7979, tokenFile: {}}}\n",
        token_file.display()
    )
}

/// The `ssh` of a Replication between lab nodes: root, with the lab's
/// keys (see [`Lab::ssh_keys`]).
pub fn ssh_manifest(lab: &Lab) -> String {
    let keys = lab.ssh_keys().unwrap();
    format!(
        "{{user: root, identityFile: {}, knownHostsFile: {}}}",
        keys.identity_file.display(),
        keys.known_hosts.display()
    )
}

/// Writes the peer API's shared `token` into the lab's directory as an
/// operator must (0600); the file, for the Cluster's `peer.tokenFile`.
pub fn peer_token_file(lab: &Lab, token: &str) -> PathBuf {
    let file = lab.dir().join("peer.token");
    crate::write_secret(&file, token);
    file
}
