//! Reasons a controller gives when only a person can make an object
//! Ready: the declaration or the host is wrong, and retrying changes
//! nothing until someone edits one of them (kstatus calls such an object
//! Stalled). `apply --wait` stops at them instead of waiting out its
//! timeout, and the drift report files them as fixes for the operator.
//!
//! A reason that can clear by itself (an Engine that comes back, an image
//! pull that succeeds on the next try, a peer that answers) is never here.

use super::{ClusterReason, ReplicationReason, ServiceReason, VirtualIpReason};
use crate::Kind;

impl ClusterReason {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ClusterReason::NodeNotInCluster | ClusterReason::AddressNotLocal
        )
    }
}

impl VirtualIpReason {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            VirtualIpReason::ClusterNotFound
                | VirtualIpReason::ClusterInvalid
                | VirtualIpReason::NodeNotInCluster
                | VirtualIpReason::AddressNotLocal
                | VirtualIpReason::InterfaceNotFound
                | VirtualIpReason::PasswordUnreadable
                | VirtualIpReason::InvalidConfig
                | VirtualIpReason::AcceptModeUnenforceable
        )
    }
}

impl ServiceReason {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ServiceReason::InvalidComposeFile | ServiceReason::ErrImageNeverPull
        )
    }
}

impl ReplicationReason {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ReplicationReason::ClusterNotFound
                | ReplicationReason::NodeNotInCluster
                | ReplicationReason::SourceNotInCluster
                | ReplicationReason::NoVirtualIP
        )
    }
}

/// Whether `reason`, as stored on an object of `kind`, is terminal. A
/// reason this version does not know is not.
pub fn is_terminal(kind: Kind, reason: &str) -> bool {
    match kind {
        Kind::Cluster => ClusterReason::parse(reason).is_some_and(ClusterReason::is_terminal),
        Kind::VirtualIP => VirtualIpReason::parse(reason).is_some_and(VirtualIpReason::is_terminal),
        Kind::Service => ServiceReason::parse(reason).is_some_and(ServiceReason::is_terminal),
        Kind::Replication => {
            ReplicationReason::parse(reason).is_some_and(ReplicationReason::is_terminal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_errors_are_terminal_passing_failures_are_not() {
        assert!(is_terminal(Kind::VirtualIP, "InterfaceNotFound"));
        assert!(is_terminal(Kind::Service, "InvalidComposeFile"));
        assert!(is_terminal(Kind::Replication, "SourceNotInCluster"));
        assert!(
            !is_terminal(Kind::Service, "EngineError"),
            "the Engine may come back"
        );
        assert!(
            !is_terminal(Kind::Service, "ErrImagePull"),
            "the next pull may work"
        );
        assert!(!is_terminal(Kind::VirtualIP, "Backup"));
        assert!(
            !is_terminal(Kind::Service, "InterfaceNotFound"),
            "another kind's reason"
        );
        assert!(!is_terminal(Kind::Cluster, "SomethingNewer"));
    }
}
