//! Status written by controllers, with conditions per the Kubernetes API
//! conventions: `Ready` is the summary condition every kind carries.
//!
//! The status contract: each kind's observations (`status.details` in the
//! store, flattened into `status` on the wire) have one typed form here
//! ([`VirtualIpStatus`], [`ServiceStatus`], [`ReplicationStatus`],
//! [`ClusterStatus`]), written by the kind's controller and read by
//! everyone else through [`Status::details_as`], and each kind's condition
//! reasons are one enum. No reader names a status key as a string.

mod cluster;
mod reason;
mod replication;
mod service;
mod terminal;
mod virtual_ip;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Kind;

pub use cluster::{ClusterReason, ClusterStatus, LeaseStanding, QuorumSeen};
pub(crate) use reason::reasons;
pub use reason::Reason;
pub use replication::{
    Handover, HandoverState, MountSeen, MountWanted, ProbeSeen, ReplicationReason,
    ReplicationStatus, SyncRole, TargetProgress,
};
pub use service::{ContainerSeen, ServiceReason, ServiceStatus, StackPlacement};
pub use terminal::is_terminal;
pub use virtual_ip::{
    AdvertCounters, VirtualIpReason, VirtualIpStatus, VirtualMacSeen, VrrpInstanceStatus, VrrpState,
};

/// The typed observations of one kind, and the reasons its conditions give.
pub trait KindStatus: Serialize + DeserializeOwned + Default {
    const KIND: Kind;
    type Reason: Reason;
}

/// The drift findings `object`'s controller reports, for the kinds that
/// report any.
pub fn drift_of(object: &crate::Object) -> Vec<Drift> {
    let status = &object.status;
    match object.kind {
        Kind::VirtualIP => status.details_as::<VirtualIpStatus>().map(|s| s.drift),
        Kind::Service => status.details_as::<ServiceStatus>().map(|s| s.drift),
        Kind::Replication => status.details_as::<ReplicationStatus>().map(|s| s.drift),
        Kind::Cluster => status
            .details_as::<ClusterStatus>()
            .map(|s| s.quorum.map(|q| q.drift()).unwrap_or_default()),
    }
    .unwrap_or_default()
}

/// One difference between the declaration and the real system that a
/// controller found beyond its Ready condition (`status.drift`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// CamelCase, like a condition reason.
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// What the controller does about it (or `won't fix: ...` and what
    /// the operator can do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    /// CamelCase machine-readable cause, e.g. `Master`, `NodeNotInCluster`.
    pub reason: String,
    /// Human-readable detail: what is wrong and what to do.
    #[serde(default)]
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_transition_time: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Kind-specific observations (VRRP state, containers, lag...), owned by
    /// the controller that writes them.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Status {
    pub fn is_empty(&self) -> bool {
        self.observed_generation.is_none() && self.conditions.is_empty() && self.details.is_empty()
    }

    /// The kind-specific observations in their typed form. An object no
    /// controller reported on yet reads as `T::default()`; an error means
    /// the status was written by a version with another contract.
    pub fn details_as<T: KindStatus>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(serde_json::Value::Object(self.details.clone()))
    }

    /// Replaces the kind-specific observations with `details`.
    pub fn set_details<T: KindStatus>(&mut self, details: &T) {
        self.details = match serde_json::to_value(details) {
            Ok(serde_json::Value::Object(map)) => map,
            // Every status type is a struct, which serializes to a map.
            _ => serde_json::Map::new(),
        };
    }

    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn is_ready(&self) -> bool {
        self.condition("Ready")
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// Sets a condition, keeping `lastTransitionTime` unless the status
    /// actually changes, as the API conventions require.
    pub fn set_condition(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
        observed_generation: u64,
    ) {
        let message = message.into();
        let now = OffsetDateTime::now_utc();
        match self.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = now;
                }
                c.status = status;
                c.reason = reason.to_string();
                c.message = message;
                c.observed_generation = Some(observed_generation);
            }
            None => self.conditions.push(Condition {
                type_: type_.to_string(),
                status,
                reason: reason.to_string(),
                message,
                last_transition_time: now,
                observed_generation: Some(observed_generation),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut s = Status::default();
        s.set_condition("Ready", ConditionStatus::False, "Pending", "", 1);
        let first = s.condition("Ready").unwrap().last_transition_time;
        std::thread::sleep(std::time::Duration::from_millis(5));
        s.set_condition("Ready", ConditionStatus::False, "StillPending", "", 2);
        assert_eq!(s.condition("Ready").unwrap().last_transition_time, first);
        s.set_condition("Ready", ConditionStatus::True, "Done", "", 2);
        assert!(s.condition("Ready").unwrap().last_transition_time > first);
        assert!(s.is_ready());
    }
}
