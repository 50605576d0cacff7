//! Typed specs, one module per kind. Controllers decode an [`Object`]'s
//! spec with `obj.spec_as::<VirtualIpSpec>()`; the store keeps it as JSON.
//!
//! [`Object`]: crate::Object

mod cluster;
mod duration;
mod pattern;
mod replication;
mod service;
mod virtual_ip;

pub use cluster::{
    Auth, AuthType, ClusterSpec, EtcdQuorum, EtcdTls, Failback, Node, PeerApi, PeerTls, Quorum,
    Transport, V3Checksum, VrrpDefaults, VrrpVersion,
};
pub use duration::{Duration, DurationError};
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
