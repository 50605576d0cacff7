//! The sync controller: keeps a `Replication` of method `rsync`, `btrfs`
//! or `zfs` copied from the node where its `followVirtualIP` is master (or
//! from its fixed `source.node`) to every other node of the Cluster. Only
//! the source pushes, so with a VirtualIP the direction flips by itself
//! on failover. Below, "master" means the source. Objects of other methods (the
//! mount controller's) are left alone, status included.
//!
//! # Terms and epochs: why a recovered old primary cannot clobber newer data
//!
//! Every stretch of time during which one node is master of a Replication
//! is a *term*, named `EPOCH NODE` (e.g. `7 n2`). Each copy of the data
//! records the term of the master that last wrote it, on disk and on the
//! same filesystem as the data, in a metadata directory that is never
//! copied:
//!
//! ```text
//! PATH/.hareconcile/term     "EPOCH NODE"  the term whose master last wrote this copy
//! PATH/.hareconcile/synced   "MILLIS EPOCH NODE"  source state (master's clock) of the last complete push
//! PATH/.hareconcile/changed  "MILLIS EPOCH NODE"  the last complete push that changed the copy (afterSync hooks follow it)
//! PATH/.hareconcile/hooked   "MILLIS EPOCH NODE"  the change this node's afterSync hooks last ran for
//! PATH/.hareconcile/pass.log the receiving rsync's itemized log of the last push
//! PATH/.hareconcile/lock     flock(2) held while the term or the data changes
//! PATH/.hareconcile/snapshots/  btrfs snapshots (nested subvolumes, so never inside a snapshot)
//! ```
//!
//! Rules, enforced in this order:
//!
//! 1. **Only a master pushes.** A node pushes only while its own VRRP
//!    controller reports the followed VirtualIP as `Master`.
//! 2. **A new master catches up first** ([`job`]): it reads every
//!    reachable peer's `term` and `synced` over ssh; if a peer holds newer
//!    *complete* data than its own ([`term::data_term`]: the term a node
//!    claimed itself, else the term of its last complete push), it pulls
//!    that peer's data (under its local lock) before anything else. Only
//!    then does it claim `max(all terms seen) + 1` and write it to its own
//!    `term` file (fsynced). Until then the Replication is not Ready on it,
//!    which also keeps a Service that `requires:` it stopped there. A push
//!    still receiving into its copy when it takes its lock (from a former
//!    master that vanished mid-push, which nothing else would end for a
//!    quarter of an hour) is ended first ([`receiving`]).
//! 3. **A target holding a newer term is never overwritten** ([`remote`]):
//!    every push runs, on the target and under the target's lock, a guard
//!    that compares the target's term with the pusher's and refuses unless
//!    the target's epoch is lower or the term is the pusher's own; the
//!    guard records the pusher's term *before* the data moves, so a copy
//!    interrupted half-way still carries the newest term it has seen and a
//!    later master numbers its term above it. A refused push ends the
//!    pusher's term: if it is still master it catches up (rule 2) and
//!    claims a new one.
//! 4. **An empty or missing source is never propagated**: a path that does
//!    not exist or holds nothing but the metadata directory is reported
//!    (Warning event `EmptySource`) and the targets are left untouched.
//!
//! Terms order by epoch, then node name, so two nodes that claimed the
//! same epoch on both sides of a partition resolve deterministically.
//!
//! # Copies never show half-written files
//!
//! rsync writes into temporary files and, with `--delay-updates`, renames
//! them all into place at the end of the pass (`--delete-delay` likewise
//! deletes at the end). btrfs receives a read-only snapshot and the target
//! then brings its path up to that snapshot the same way; zfs receives
//! into the dataset, which zfs switches atomically.
//!
//! # Status
//!
//! Status is per node. On the master: `epoch`, and per target the last
//! successful sync, its lag (how long the target has been missing a change
//! the master has), bytes and files of the last pass, total bytes and the
//! last error; `Ready` says the master has caught up and claimed its term,
//! and a separate `Synced` condition turns False when a target's lag
//! exceeds `maxLag` (a Ready that followed the standby's health would stop
//! the master's Service whenever the standby is down). On the other nodes:
//! the term and age of the copy they hold; `Ready` turns False when that
//! copy is older than `maxLag` beyond the pass interval.
//!
//! # Planned switchover
//!
//! A switchover of the followed VirtualIP runs a final sync from the old
//! master to the target after the writers stopped and before the VIP
//! moves ([`handover`]).

pub mod controller;
pub mod handover;
pub mod hooks;
pub mod job;
mod lag;
mod plan;
mod process;
mod receiving;
pub mod remote;
mod report;
mod resolve;
pub mod rsync;
pub mod snapshot;
pub mod sqlite;
pub mod term;
pub mod twoway;
mod watch;

pub use controller::SyncReconciler;
pub use resolve::{resolve, ResolveError, Resolved};
pub use term::Term;
