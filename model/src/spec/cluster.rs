//! `Cluster`: the nodes, their addresses and default priorities, VRRP
//! defaults and the peer API every other kind refers to.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub vrrp: VrrpDefaults,
    /// `manual` keeps a recovered primary as backup (keepalived `nopreempt`).
    #[serde(default)]
    pub failback: Failback,
    #[serde(default)]
    pub peer: PeerApi,
    /// The quorum engine that keeps fenced VirtualIPs from having two
    /// masters on a partition (`docs/quorum.md`). Without it a partition
    /// makes both sides master, as plain VRRP does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<Quorum>,
}

impl ClusterSpec {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub name: String,
    /// The node's own address on the cluster network (VRRP source, unicast peer).
    pub address: IpAddr,
    /// Default VRRP priority, overridden per VirtualIP.
    #[serde(default = "default_priority")]
    pub priority: u8,
}

fn default_priority() -> u8 {
    100
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VrrpDefaults {
    #[serde(default)]
    pub version: VrrpVersion,
    /// Default advertisement interval for every VirtualIP of the cluster.
    #[serde(default = "default_advert_interval")]
    pub advert_interval: Duration,
    #[serde(default)]
    pub transport: Transport,
    #[serde(default)]
    pub auth: Auth,
    /// How the VRRPv3 checksum over IPv4 is computed; see [`V3Checksum`].
    #[serde(default)]
    pub v3_checksum: V3Checksum,
    /// Whose adverts count; see [`AcceptFrom`]. Every VirtualIP's default.
    #[serde(default, skip_serializing_if = "AcceptFrom::is_any")]
    pub accept_from: AcceptFrom,
}

impl Default for VrrpDefaults {
    fn default() -> Self {
        VrrpDefaults {
            version: VrrpVersion::default(),
            advert_interval: default_advert_interval(),
            transport: Transport::default(),
            auth: Auth::default(),
            v3_checksum: V3Checksum::default(),
            accept_from: AcceptFrom::default(),
        }
    }
}

fn default_advert_interval() -> Duration {
    Duration::from_secs(1)
}

/// VRRP protocol version: 2 (RFC 3768, IPv4 only, whole-second adverts) or
/// 3 (RFC 5798, IPv4 and IPv6, centisecond adverts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum VrrpVersion {
    V2,
    #[default]
    V3,
}

impl VrrpVersion {
    /// The advertisement interval as carried in the packet: whole seconds
    /// (1-255, 8 bits) in version 2, centiseconds (1-4095, 12 bits) in
    /// version 3. `None` when the interval cannot be expressed.
    pub fn advert_units(self, interval: Duration) -> Option<u16> {
        let ms = interval.as_millis();
        let (unit_ms, max) = match self {
            VrrpVersion::V2 => (1_000, 255),
            VrrpVersion::V3 => (10, 4_095),
        };
        let units = u16::try_from(ms / unit_ms).ok()?;
        (ms % unit_ms == 0 && (1..=max).contains(&units)).then_some(units)
    }

    /// Why an interval cannot be advertised, in words, for messages.
    pub fn advert_interval_rule(self) -> &'static str {
        match self {
            VrrpVersion::V2 => "VRRP version 2 advertises whole seconds from 1s to 255s",
            VrrpVersion::V3 => "VRRP version 3 advertises steps of 10ms from 10ms to 40s950ms",
        }
    }
}

impl TryFrom<u8> for VrrpVersion {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        match v {
            2 => Ok(VrrpVersion::V2),
            3 => Ok(VrrpVersion::V3),
            other => Err(format!("VRRP version {other} does not exist: use 2 or 3")),
        }
    }
}

impl From<VrrpVersion> for u8 {
    fn from(v: VrrpVersion) -> u8 {
        match v {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        }
    }
}

/// Where adverts go: the VRRP multicast group, or each peer's node address
/// (keepalived `unicast_peer`, needed where multicast is filtered, e.g. clouds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Multicast,
    Unicast,
}

/// Whose adverts a VirtualIP's instance counts. On a shared segment, any
/// host can multicast adverts with a higher priority and take the VIP
/// (keepalived is the same); `members` drops adverts whose source is not
/// one of the Cluster's node addresses, as unicast transport does for its
/// peers. IPv4 only: IPv6 adverts come from link-local addresses, which
/// the Cluster does not list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceptFrom {
    /// Any host on the link, as RFC 5798 has it.
    #[default]
    Any,
    /// Only the Cluster's nodes, by their `address`.
    Members,
}

impl AcceptFrom {
    pub fn is_any(&self) -> bool {
        *self == AcceptFrom::Any
    }
}

/// VRRPv2 authentication. The password is only ever read from a file so
/// that manifests can live in git without the secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auth {
    #[serde(rename = "type", default)]
    pub type_: AuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    #[default]
    None,
    /// Simple text password (keepalived `auth_type PASS`), VRRPv2 only.
    Pass,
}

/// Whether the VRRPv3 checksum over IPv4 includes a pseudo-header. RFC 5798
/// was ambiguous; keepalived includes one by default (its
/// `v3_checksum_as_v2` turns it off), RFC 9568 says not to. Peers must
/// agree, and keepalived is the peer users have, so its default is ours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum V3Checksum {
    /// As keepalived by default.
    #[default]
    WithPseudoHeader,
    /// As RFC 9568 (and keepalived with `v3_checksum_as_v2`): no pseudo-header.
    Rfc9568,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Failback {
    /// The highest priority node takes the VIPs back as soon as it is healthy.
    #[default]
    Auto,
    /// A recovered node stays backup until an operator runs `switchover`.
    Manual,
}

/// How agents reach each other's API (status, switchover, replication epochs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerApi {
    #[serde(default = "default_peer_port")]
    pub port: u16,
    /// Shared bearer token; a file so the secret stays out of manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Mutual TLS between agents; without it the peer API is plain HTTP
    /// (the token still guards it, but travels in the clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PeerTls>,
}

/// PEM files for mutual TLS: every node presents its own certificate, and
/// accepts only peers whose certificate the cluster's CA signed. A node's
/// certificate must name its `address` (an IP subjectAltName), since peers
/// connect by address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: PathBuf,
}

impl Default for PeerApi {
    fn default() -> Self {
        PeerApi {
            port: default_peer_port(),
            token_file: None,
            tls: None,
        }
    }
}

/// Where quorum comes from: an etcd cluster with a member on a witness
/// host, so that two nodes cut apart are told which side may go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quorum {
    pub etcd: EtcdQuorum,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdQuorum {
    /// Client URLs of the etcd members (`https://10.0.0.3:2379`), tried
    /// in turn: list every member, witness included.
    pub endpoints: Vec<String>,
    /// TLS to the members: required for `https` endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<EtcdTls>,
    /// A node that cannot renew its lease stops its fenced Services and
    /// releases its VIPs after half of this, and the other side takes
    /// over after all of it: the failover time on a partition is about
    /// this long. Whole seconds (etcd counts leases in seconds).
    #[serde(rename = "leaseTTL", default = "default_lease_ttl")]
    pub lease_ttl: Duration,
    /// Where the Cluster's keys live in etcd; `/hareconcile/CLUSTER/` by
    /// default. Ends with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl EtcdQuorum {
    /// The key prefix in effect for the Cluster named `cluster`.
    pub fn prefix_for(&self, cluster: &str) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| format!("/hareconcile/{cluster}/"))
    }
}

/// Long enough that a slow renewal or two does not fence a healthy
/// master; short enough that a partition's failover stays within seconds.
fn default_lease_ttl() -> Duration {
    Duration::from_secs(6)
}

/// PEM files: the CA that signed the members' certificates and, when the
/// members require client certificates (`--client-cert-auth`), this
/// node's certificate and key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtcdTls {
    pub ca_file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// Not 7946: Docker swarm's gossip port, likely taken on these hosts.
fn default_peer_port() -> u16 {
    7979
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_design_sketch_omits() {
        let spec: ClusterSpec = serde_json::from_value(serde_json::json!({
            "nodes": [{"name": "n1", "address": "10.77.0.1"}]
        }))
        .unwrap();
        assert_eq!(spec.nodes[0].priority, 100);
        assert_eq!(spec.vrrp.version, VrrpVersion::V3);
        assert_eq!(spec.vrrp.advert_interval, Duration::from_secs(1));
        assert_eq!(spec.failback, Failback::Auto);
        assert_eq!(spec.vrrp.v3_checksum, V3Checksum::WithPseudoHeader);
        assert_eq!(spec.quorum, None);
    }

    #[test]
    fn a_quorum_names_its_members_and_defaults_its_lease_and_prefix() {
        let spec: ClusterSpec = serde_json::from_value(serde_json::json!({
            "nodes": [{"name": "n1", "address": "10.77.0.1"}],
            "quorum": {"etcd": {"endpoints": ["http://10.77.0.3:2379"]}}
        }))
        .unwrap();
        let etcd = &spec.quorum.unwrap().etcd;
        assert_eq!(etcd.lease_ttl, Duration::from_secs(6));
        assert_eq!(etcd.prefix_for("home"), "/hareconcile/home/");
        let written = serde_json::to_value(etcd).unwrap();
        assert_eq!(written["leaseTTL"], "6s");
    }

    #[test]
    fn advert_intervals_follow_each_versions_packet_field() {
        let d = |s: &str| s.parse::<Duration>().unwrap();
        assert_eq!(VrrpVersion::V2.advert_units(d("1s")), Some(1));
        assert_eq!(VrrpVersion::V2.advert_units(d("255s")), Some(255));
        assert_eq!(VrrpVersion::V2.advert_units(d("256s")), None);
        assert_eq!(VrrpVersion::V2.advert_units(d("50ms")), None);
        assert_eq!(VrrpVersion::V2.advert_units(d("1s500ms")), None);
        assert_eq!(VrrpVersion::V3.advert_units(d("50ms")), Some(5));
        assert_eq!(VrrpVersion::V3.advert_units(d("40s950ms")), Some(4_095));
        assert_eq!(VrrpVersion::V3.advert_units(d("41s")), None);
        assert_eq!(VrrpVersion::V3.advert_units(d("15ms")), None);
        assert_eq!(VrrpVersion::V3.advert_units(d("0s")), None);
    }

    #[test]
    fn version_is_a_number_on_the_wire() {
        let v: VrrpVersion = serde_json::from_value(serde_json::json!(2)).unwrap();
        assert_eq!(v, VrrpVersion::V2);
        assert_eq!(serde_json::to_value(VrrpVersion::V3).unwrap(), 3);
        assert!(serde_json::from_value::<VrrpVersion>(serde_json::json!(4)).is_err());
    }
}
