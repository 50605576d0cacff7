//! Typed specs, one module per kind. Controllers decode an [`Object`]'s
//! spec with `obj.spec_as::<VirtualIpSpec>()`, or another object's by name
//! with the runtime's `ctx.get::<ClusterSpec>(name)` (through
//! [`KindSpec`]); the store keeps it as JSON.
//!
//! [`Object`]: crate::Object

mod address;
mod cluster;
mod defaults;
mod duration;
mod interface;
mod pattern;
mod replication;
mod service;
mod virtual_ip;

pub use address::{special_in_prefix, unusable_node_address, unusable_virtual_address};
pub use cluster::{
    AcceptFrom, Auth, AuthType, ClusterSpec, EtcdQuorum, EtcdTls, Failback, Node, PeerApi, PeerTls,
    Quorum, Transport, V3Checksum, VrrpDefaults, VrrpVersion,
};
pub use defaults::{filled_in, FilledIn};
pub use duration::{Duration, DurationError};
pub use interface::{HostAddress, AUTO_INTERFACE};
pub use pattern::{Filter, Pattern, PatternError};
pub use replication::{
    Direction, Hook, HookExec, Hooks, Method, Mount, Nfs, Placement, Probe, ReplicationSpec, Rsync,
    Snapshot, Source, Ssh,
};
pub use service::{
    Compose, Containers, DnsCheck, ExecCheck, Handover, Health, HttpsCheck, ServiceMode,
    ServiceSpec, Standby,
};
pub use virtual_ip::{
    Control, Fencing, Garp, Notify, Track, TrackScript, TrackedService, VirtualIpSpec,
    OWNER_NEVER_BACKUP,
};

/// The typed spec of one kind: what lets a reader name the type alone
/// (`get::<ClusterSpec>("home")`) and find the object's kind from it.
pub trait KindSpec: serde::de::DeserializeOwned {
    const KIND: crate::Kind;
}

impl KindSpec for ClusterSpec {
    const KIND: crate::Kind = crate::Kind::Cluster;
}

impl KindSpec for VirtualIpSpec {
    const KIND: crate::Kind = crate::Kind::VirtualIP;
}

impl KindSpec for ServiceSpec {
    const KIND: crate::Kind = crate::Kind::Service;
}

impl KindSpec for ReplicationSpec {
    const KIND: crate::Kind = crate::Kind::Replication;
}
