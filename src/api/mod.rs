//! The agent's local HTTP API, served on a Unix socket (and `/metrics`
//! with `/healthz` on TCP for Prometheus, if asked). `server` is the
//! agent side, `client` what the CLI uses; `wire` the JSON both speak.

pub mod client;
pub mod event_totals;
mod metrics;
mod process;
pub mod reconcile_stats;
pub mod server;
mod stream;
pub mod wire;

/// Where the CLI and the agent meet when neither `--socket` nor
/// `HARECONCILE_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/hareconcile/agent.sock";
