//! What a node's Service controller reports of a Service: where its stack
//! stands here and the containers it sees. The VRRP controller's trackers
//! and the sync controller's handover read it.

use serde::{Deserialize, Serialize};

use super::{reasons, Drift, KindStatus};
use crate::Kind;

/// What this node does with a Service's stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StackPlacement {
    /// Created and started.
    #[serde(rename = "running")]
    Run,
    /// Created but stopped (`warm` mode away from the master): a failover
    /// only has to start containers.
    #[serde(rename = "created")]
    Warm,
    /// Started and frozen (`warm` with `standby: paused` away from the
    /// master): a failover only thaws them.
    #[serde(rename = "paused")]
    Paused,
    /// Stopped and removed (`active-passive` away from the master), as the
    /// keepalived notify scripts' `docker-compose down` left it.
    #[serde(rename = "absent")]
    Absent,
}

impl StackPlacement {
    pub fn as_str(self) -> &'static str {
        match self {
            StackPlacement::Run => "running",
            StackPlacement::Warm => "created",
            StackPlacement::Paused => "paused",
            StackPlacement::Absent => "absent",
        }
    }
}

/// One of the project's containers as Docker lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSeen {
    pub name: String,
    /// The compose service it runs.
    pub service: String,
    /// Docker's state: `running`, `exited`, `created`...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`; `None` without a healthcheck.
    #[serde(default)]
    pub health: Option<String>,
}

impl ContainerSeen {
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

/// `status` of a Service on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The Compose project name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// What the last pass enacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<StackPlacement>,
    /// The digest of the compose files the last pass enacted (as in the
    /// `hareconcile.io/compose-files` annotation): a pass that finds
    /// other files enacts an edit, not a repair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerSeen>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// The stack is exclusive here (break-before-make): it starts only on
    /// the master, once no other node runs it. A preempt-back holds for it
    /// only while its data is not Ready here (`unreadyData`), never for
    /// the stack itself, which cannot start ahead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclusive: bool,
    /// The Replications it `requires:` that are not Ready on this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unready_data: Vec<String>,
}

impl ServiceStatus {
    /// Whether the stack is absent here with no container running: what a
    /// planned switchover waits for before the final sync of its data.
    pub fn stopped_here(&self) -> bool {
        self.desired == Some(StackPlacement::Absent)
            && !self.containers.iter().any(ContainerSeen::is_running)
    }

    /// Whether a container of the stack may be running here: it is placed
    /// running, or a container was seen running (a paused standby's are
    /// frozen, not running). What another node asks before it starts an
    /// exclusive stack: a pass that is stopping the stack counts as
    /// running until it reported what it left.
    pub fn may_run_here(&self) -> bool {
        self.desired == Some(StackPlacement::Run)
            || self.containers.iter().any(ContainerSeen::is_running)
    }
}

impl KindStatus for ServiceStatus {
    const KIND: Kind = Kind::Service;
    type Reason = ServiceReason;
}

reasons! {
    /// Why a Service is (not) Ready or Healthy on a node.
    pub enum ServiceReason {
        /// Ready: runs here, every container running and healthy.
        Running,
        /// Ready: not meant to run here; standing by as the mode says.
        Standby,
        /// A container is not running.
        Stopped,
        /// A container or the probes say unhealthy.
        Unhealthy,
        /// Waiting for the health probes' first verdict.
        Probing,
        /// Held back until the Replications it requires are Ready.
        WaitingForReplication,
        /// An exclusive stack held back on the new master until the node
        /// that ran it stopped it (break-before-make).
        WaitingForOtherNode,
        InvalidComposeFile,
        /// The Docker Engine refused or failed a step.
        EngineError,
        ErrImagePull,
        ErrImageNeverPull,
        /// Healthy: the probes pass.
        ProbesPassing,
        /// Healthy False: the probes fail.
        ProbeFailed,
        /// Healthy Unknown: the Engine is unreachable.
        NotProbed,
        /// Healthy Unknown: the stack does not run here.
        NotRunning,
    }
}

impl ServiceReason {
    /// A stack on its way up here, not failing.
    pub fn is_starting(self) -> bool {
        matches!(
            self,
            ServiceReason::Probing
                | ServiceReason::WaitingForReplication
                | ServiceReason::WaitingForOtherNode
        )
    }

    /// A pass that failed (the Engine or an image), as opposed to a stack
    /// that is not as wanted yet.
    pub fn is_failed_pass(self) -> bool {
        matches!(
            self,
            ServiceReason::EngineError
                | ServiceReason::ErrImagePull
                | ServiceReason::ErrImageNeverPull
        )
    }
}
