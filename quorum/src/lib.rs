//! Quorum and fencing for hareconcile, from etcd rather than a consensus
//! of its own (`docs/quorum.md` says why etcd, and how the pieces fit).
//!
//! - [`etcd::Client`]: the few etcd v3 operations needed, through the JSON
//!   gateway every etcd serves on its client port (`/v3/...`, plain HTTP
//!   or TLS with a client certificate), so no gRPC stack is built in;
//!   every call carries a deadline across all the members it tries.
//! - [`lease`]: the arithmetic of how long a node may act on its lease,
//!   measured from when its renewals were *sent*.
//! - [`session::Quorum`]: one node's session (lease kept alive, writer
//!   locks taken and given back on request) and the [`session::Snapshot`]
//!   controllers decide from: a writer lock's fencing token is usable only
//!   while the lease is short of its fence time.

pub mod endpoint;
pub mod etcd;
pub mod http;
pub mod lease;
pub mod session;
pub mod tls;
mod wire;

pub use endpoint::{BadEndpoint, Endpoint, Scheme};
pub use etcd::{Acquired, AdvanceError, Client, EtcdError, Holder, Lease, Token};
pub use lease::{LeaseClock, Standing};
pub use session::{Config, LeaseView, Quorum, Sessions, Snapshot};
pub use tls::{TlsError, TlsFiles};
