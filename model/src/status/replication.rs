//! What a node's sync controller (copy methods) or mount controller
//! (`nfs`, `mount`) reports of a Replication. A Replication has one
//! method, so only one of them writes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{reasons, Drift, KindStatus};
use crate::Kind;

/// This node's part in a copying Replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncRole {
    /// Master of the followed VirtualIP: pushes to every other node.
    Source,
    /// Receives from whoever is master.
    Replica,
    /// Nothing to do until the configuration is fixed.
    None,
}

/// One target as the source sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetProgress {
    /// When the last complete pass to it finished.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub last_sync: Option<OffsetDateTime>,
    pub lag_seconds: u64,
    /// Files and bytes the last pass transferred.
    pub files: u64,
    pub bytes: u64,
    pub bytes_total: u64,
    pub passes: u64,
    /// Why the last pass failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where a planned switchover's final sync stands on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HandoverState {
    /// Source: writers stopping, then the final sync.
    HandingOver,
    /// Source: final sync done, waiting for the target to take over.
    HandedOver,
    Failed,
    /// Target: waiting for the final sync.
    AwaitingFinalSync,
    /// Target: the final sync arrived.
    Received,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The node the data moves to (on the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub state: HandoverState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a mount is wanted on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MountWanted {
    Mounted,
    Unmounted,
}

/// The filesystem mounted at the path, as mountinfo shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountSeen {
    pub source: String,
    #[serde(rename = "type")]
    pub fs_type: String,
    pub options: Vec<String>,
    pub super_options: Vec<String>,
    /// Declared options the kernel does not show (so cannot be compared).
    #[serde(default)]
    pub options_not_shown: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSeen {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// `ok`, `failed: ...`, `hung: ...`.
    pub result: String,
}

/// `status` of a Replication on one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// The term of this node's copy, `EPOCH@NODE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<SyncRole>,
    /// Source: the worst target's lag; replica: the age of its copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<u64>,
    /// Source: the oldest target's last pass; replica: its copy's.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub last_sync: Option<OffsetDateTime>,
    /// Replica: the node its copy came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, TargetProgress>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover: Option<Handover>,
    /// Mount methods: whether it should be mounted here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<MountWanted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<MountSeen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe: Option<ProbeSeen>,
    /// Two-way source: by peer, the paths changed on both sides since
    /// their last sync, both copies kept until resolved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conflicts: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
}

impl KindStatus for ReplicationStatus {
    const KIND: Kind = Kind::Replication;
    type Reason = ReplicationReason;
}

reasons! {
    /// Why a Replication is (not) Ready or Synced on a node.
    pub enum ReplicationReason {
        /// Ready: master of the current term, pushing.
        Source,
        /// Ready: holds a copy fresh enough.
        Replica,
        /// Master, but catching up with newer peers first.
        CatchingUp,
        /// The copy is older than maxLag past the interval.
        Stale,
        NoCopy,
        MetadataUnreadable,
        HandingOver,
        HandedOver,
        FinalSyncReceived,
        AwaitingFinalSync,
        ClusterNotFound,
        NodeNotInCluster,
        /// `source.node` is not one of the Cluster's nodes.
        SourceNotInCluster,
        NoVirtualIP,
        /// Synced: every target within maxLag.
        InSync,
        Lagging,
        SyncFailed,
        /// The source directory is empty: not propagated.
        EmptySource,
        /// Two-way: a path changed on both sides since the last sync.
        Conflict,
        /// Hooks: the last run of this node's hooks failed.
        HookFailed,
        HooksSucceeded,
        /// Mount methods: mounted as declared and answering.
        Mounted,
        NotMounted,
        /// Another filesystem is at the path.
        OtherMount,
        /// The server is gone or hangs.
        MountStale,
        OptionsDiffer,
        MountFailed,
        /// `on: master` away from the master: not wanted here, which is
        /// not a fault (`status` and `drift` count it healthy), but not
        /// Ready, so a Service requiring it cannot start here.
        NotMaster,
    }
}
