//! The final sync of a planned switchover (`spec.control.switchoverTo` of
//! the followed VirtualIP): the old master's last writes reach the target
//! before the VIP moves, so a switchover loses nothing (RPO 0).
//!
//! Every step is ordered through the store of the node taking it, and
//! through the copy on the target, never through another node's store:
//!
//! 1. **Writers stop on the old master.** While it hands over, the source
//!    reports the Replication not Ready (`HandingOver`), so the compose
//!    controller stops every Service that `requires:` it there ("stop a
//!    service before releasing data"). For data, a switchover is therefore
//!    break-before-make: those Services are down from here until they run
//!    on the target.
//! 2. **Final sync.** Once every such Service reports its stack absent, the
//!    source runs one more pass to the target and then writes the term it
//!    pushed under into the target's `PATH/.hareconcile/handover`.
//! 3. **The target waits for it.** The target of the switchover reports
//!    the Replication not Ready (`AwaitingFinalSync`) until its copy holds
//!    a handover marker for the term the copy came from. Its Services that
//!    require the Replication stay stopped until then, and the VRRP
//!    controller does not take the VIP over before those Services' data
//!    is Ready there (the Service status' `unreadyData` is empty), so the
//!    VIP moves only after the final sync. Being exclusive
//!    (`handover: break-before-make`), the writers themselves start on
//!    the target after the VIP has moved, once the old master reports its
//!    stack stopped.
//!
//! If the final sync fails, the source records a Warning event
//! (`FinalSyncFailed`) and is Ready again: its Services start again, the
//! target keeps waiting, and the old master keeps the VIP. That request
//! is over; clear the switchover and ask again (a new generation of the
//! VirtualIP) to retry.
//!
//! Only Services that declare `requires:` are known writers: one that
//! writes to the path without it is not stopped first.
//!
//! Known limit: the marker names a term, not a request. If the target
//! fails after a completed switchover and the old master serves again
//! (a new term), the target on its return waits for a final sync that no
//! request asks for (`AwaitingFinalSync`) and the VIP stays where it is,
//! safely, until the switchover is cleared or asked for again.

use std::path::{Path, PathBuf};

use hareconcile_model::{Kind, ObjectKey, ServiceSpec, ServiceStatus, VirtualIpSpec};
use hareconcile_runtime::Store;

use crate::remote::shell_quote;
use crate::term::{Meta, Term};

/// This node's part in a planned switchover, as its own store says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Handover {
    #[default]
    None,
    /// The VIP moves to `to`: a source hands its data over first.
    /// `generation` (the VirtualIP's) tells one request from the next.
    Give {
        to: String,
        generation: u64,
        writers_stopped: bool,
    },
    /// The VIP moves here: a replica waits for the final sync.
    Receive,
}

/// How a source's handover for one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// Done in `term`: a later term of this node (it became master again
    /// by a failover) serves as usual.
    Done {
        generation: u64,
        term: Term,
    },
    Failed {
        generation: u64,
        why: String,
    },
}

impl Given {
    pub fn generation(&self) -> u64 {
        match self {
            Given::Done { generation, .. } | Given::Failed { generation, .. } => *generation,
        }
    }
}

/// Reads this node's part from the followed VirtualIP's spec and, for a
/// source, whether the Services requiring `replication` are stopped here.
pub fn wanted(store: &Store, vip: Option<&str>, replication: &str, node: &str) -> Handover {
    let Some(object) = vip.and_then(|name| store.get(&ObjectKey::new(Kind::VirtualIP, name)))
    else {
        return Handover::None;
    };
    let Ok(spec) = object.spec_as::<VirtualIpSpec>() else {
        return Handover::None;
    };
    match spec.control.switchover_to {
        None => Handover::None,
        Some(to) if to == node => Handover::Receive,
        Some(to) => Handover::Give {
            to,
            generation: object.metadata.generation,
            writers_stopped: writers_stopped(store, replication),
        },
    }
}

/// Whether every Service requiring `replication` reports its stack absent
/// on this node (a Service not reported yet counts as running).
fn writers_stopped(store: &Store, replication: &str) -> bool {
    store.list(Some(Kind::Service)).0.iter().all(|service| {
        let requires = service
            .spec_as::<ServiceSpec>()
            .is_ok_and(|spec| spec.requires.iter().any(|r| r == replication));
        if !requires {
            return true;
        }
        service
            .status
            .details_as::<ServiceStatus>()
            .is_ok_and(|status| status.stopped_here())
    })
}

fn marker(data: &Path) -> PathBuf {
    Meta::of(data).dir().join("handover")
}

/// The shell line, run on the target, that records the final sync of
/// `term` beside its copy.
pub fn mark_line(data: &Path, term: &Term) -> String {
    let meta = Meta::of(data);
    format!(
        "mkdir -p {dir} && printf '%s\\n' {term} > {file}",
        dir = shell_quote(&meta.dir().display().to_string()),
        term = shell_quote(&term.to_string()),
        file = shell_quote(&marker(data).display().to_string()),
    )
}

/// The term whose final sync this copy received, if any.
pub fn received(data: &Path) -> Option<Term> {
    std::fs::read_to_string(marker(data))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_written_by_the_line_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let term = Term::next(&Term::none(), "n1");
        assert_eq!(received(dir.path()), None);
        let status = std::process::Command::new("sh")
            .args(["-c", &mark_line(dir.path(), &term)])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(received(dir.path()), Some(term));
    }
}
