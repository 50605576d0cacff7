//! What a node's VRRP controller reports of a VirtualIP: the state of its
//! instance (one per address family), and whether it holds a takeover for
//! the Services that follow it. The Service, mount and sync controllers
//! place their work by it; the CLI, metrics and peers show it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{reasons, Drift, KindStatus};
use crate::Kind;

/// The VRRP state of an instance (RFC 5798 §6.4, plus Fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VrrpState {
    Initialize,
    Backup,
    Master,
    /// Tracking says this node cannot serve: neither master nor candidate.
    Fault,
}

impl VrrpState {
    /// The status field that carries it (metrics name their label by it).
    pub const FIELD: &'static str = "state";

    pub const ALL: [VrrpState; 4] = [
        VrrpState::Initialize,
        VrrpState::Backup,
        VrrpState::Master,
        VrrpState::Fault,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VrrpState::Initialize => "Initialize",
            VrrpState::Backup => "Backup",
            VrrpState::Master => "Master",
            VrrpState::Fault => "Fault",
        }
    }
}

impl fmt::Display for VrrpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One VRRP instance as it sees itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VrrpInstanceStatus {
    /// The instance's name, e.g. `web/ipv4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// `None` until this run's instance reports (the agent forgets the
    /// previous run's state when it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VrrpState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_priority: Option<u8>,
    /// The router believed to be master: this node's address when master,
    /// the sender of the adverts followed when backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transitions: Option<u64>,
    /// When an advert was last sent (master) or accepted (backup).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub last_advert: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_adverts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<AdvertCounters>,
    /// Where the VIPs live with `virtualMac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_mac: Option<VirtualMacSeen>,
}

/// Adverts since the instance started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvertCounters {
    pub adverts_sent: u64,
    /// Valid adverts handed to the state machine.
    pub adverts_received: u64,
    /// Messages dropped, by reason (`ttl`, `auth`, `mismatch`...).
    #[serde(default)]
    pub dropped: BTreeMap<String, u64>,
}

/// The macvlan holding the VIPs with the virtual router MAC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualMacSeen {
    pub interface: String,
    /// `00:00:5e:00:01:33`.
    pub mac: String,
}

/// `status` of a VirtualIP on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualIpStatus {
    /// The first (with one address family, the only) instance.
    #[serde(flatten)]
    pub instance: VrrpInstanceStatus,
    /// A backup holds its preemption of a live lower-priority master until
    /// the Services following the VirtualIP run Ready here: they start
    /// here first (make-before-break).
    #[serde(default)]
    pub preparing_takeover: bool,
    /// While preparing a takeover: the Services it waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// Every instance, with more than one address family.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<VrrpInstanceStatus>,
}

impl VirtualIpStatus {
    /// The VRRP state this node's controller reports; `None` before it does.
    pub fn state(&self) -> Option<VrrpState> {
        self.instance.state
    }

    /// Whether this node holds the VIP or is about to take it over: where
    /// the Services following it run and their data is mounted.
    pub fn serves_here(&self) -> bool {
        self.state() == Some(VrrpState::Master) || self.preparing_takeover
    }

    /// Each instance: the `instances` list of a dual-stack VirtualIP,
    /// else the one in the status itself.
    pub fn each_instance(&self) -> &[VrrpInstanceStatus] {
        match self.instances.as_slice() {
            [] => std::slice::from_ref(&self.instance),
            all => all,
        }
    }

    /// Whether the drift list carries `reason`.
    pub fn has_drift(&self, reason: VirtualIpReason) -> bool {
        self.drift.iter().any(|d| d.reason == reason.as_str())
    }
}

impl KindStatus for VirtualIpStatus {
    const KIND: Kind = Kind::VirtualIP;
    type Reason = VirtualIpReason;
}

reasons! {
    /// Why a VirtualIP is (not) Ready on a node, and its drift findings.
    pub enum VirtualIpReason {
        /// This node holds the virtual addresses.
        Master,
        /// Following a master elsewhere.
        Backup,
        /// Holding a takeover for the following Services.
        PreparingTakeover,
        /// The instance is starting.
        Initialize,
        /// Tracking failed, or the instance could not be set up.
        Fault,
        ClusterNotFound,
        ClusterInvalid,
        NodeNotInCluster,
        /// The Cluster's address for this node is not on this host.
        AddressNotLocal,
        InterfaceNotFound,
        PasswordUnreadable,
        InvalidConfig,
        /// `accept: false`, but the traffic filter cannot be set up.
        AcceptModeUnenforceable,
        /// Drift: `forceBackup` of the address owner, refused.
        OwnerCannotBeBackup,
        /// Drift: the accept-mode table could not be put back.
        AcceptFilterNotEnforced,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_instance_is_flattened_into_the_status() {
        let status = VirtualIpStatus {
            instance: VrrpInstanceStatus {
                instance: Some("web/ipv4".into()),
                state: Some(VrrpState::Backup),
                master: Some("10.77.0.1".parse().unwrap()),
                ..VrrpInstanceStatus::default()
            },
            preparing_takeover: true,
            waiting_for: vec!["shop".into()],
            ..VirtualIpStatus::default()
        };
        let value = serde_json::to_value(&status).unwrap();
        assert_eq!(
            value,
            json!({"instance": "web/ipv4", "state": "Backup", "master": "10.77.0.1",
                   "preparingTakeover": true, "waitingFor": ["shop"]})
        );
        let back: VirtualIpStatus = serde_json::from_value(value).unwrap();
        assert_eq!(back, status);
        assert!(back.serves_here());
        assert_eq!(back.each_instance(), [status.instance]);
    }

    #[test]
    fn reasons_are_their_names() {
        assert_eq!(
            VirtualIpReason::OwnerCannotBeBackup.as_str(),
            "OwnerCannotBeBackup"
        );
        assert_eq!(
            VirtualIpReason::parse("PreparingTakeover"),
            Some(VirtualIpReason::PreparingTakeover)
        );
        assert_eq!(VirtualIpReason::parse("Sleeping"), None);
    }
}
