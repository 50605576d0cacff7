//! Sync groups across instance tasks. Each member publishes its status to
//! the group's shared table when it changes and sends its siblings the
//! inputs the core's [`on_transition`] asks for. The in-process
//! [`crate::SyncGroup`] applies those inputs within the same call; here they
//! cross tasks and arrive a moment later, when the transition that caused
//! them may already be undone (a member that went master is knocked back to
//! backup by a higher peer's advert). So each input is checked against the
//! table when it is taken: a stale one would make the siblings chase each
//! other into master forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::events::{Input, State};
use crate::sync_group::{on_transition, MemberStatus};

struct Member {
    id: u64,
    inputs: mpsc::UnboundedSender<Input>,
    status: MemberStatus,
}

#[derive(Default)]
struct Table {
    members: Vec<Member>,
    next_id: u64,
}

impl Table {
    fn index(&self, id: u64) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    fn siblings(&self, id: u64) -> impl Iterator<Item = &MemberStatus> {
        self.members
            .iter()
            .filter(move |m| m.id != id)
            .map(|m| &m.status)
    }

    /// Whether a sibling of `id` is faulted by its own tracking.
    fn sibling_faulted(&self, id: u64) -> bool {
        self.siblings(id).any(|s| s.tracking_fault)
    }
}

/// One sync group; cheap to clone.
#[derive(Clone, Default)]
pub struct SyncGroupHub {
    table: Arc<Mutex<Table>>,
}

impl SyncGroupHub {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every update leaves the table consistent; a panic elsewhere
        // while holding the lock does not change that.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a member in `status`; its group inputs come from the returned
    /// membership.
    pub fn join(&self, status: MemberStatus) -> GroupMembership {
        let (inputs, receiver) = mpsc::unbounded_channel();
        let mut table = self.lock();
        let id = table.next_id;
        table.next_id += 1;
        // A newcomer follows a sibling already faulted.
        let _ = inputs.send(Input::GroupFault(table.sibling_faulted(id)));
        table.members.push(Member { id, inputs, status });
        GroupMembership {
            id,
            hub: self.clone(),
            inputs: receiver,
        }
    }
}

/// One instance's link to its group. Dropping it leaves the group.
pub struct GroupMembership {
    id: u64,
    hub: SyncGroupHub,
    inputs: mpsc::UnboundedReceiver<Input>,
}

impl GroupMembership {
    /// The member went `from` -> `status.state`, or its own tracking fault
    /// changed: tell the siblings what to do.
    pub fn changed(&self, from: State, status: MemberStatus) {
        let mut table = self.hub.lock();
        let Some(index) = table.index(self.id) else {
            return;
        };
        table.members[index].status = status;
        let statuses: Vec<MemberStatus> = table.members.iter().map(|m| m.status).collect();
        for (target, input) in on_transition(index, from, status.state, &statuses) {
            let _ = table.members[target].inputs.send(input);
        }
    }

    /// The next group input that still holds for this member.
    pub async fn next_input(&mut self) -> Option<Input> {
        loop {
            let input = self.inputs.recv().await?;
            if let Some(input) = self.still_applies(input) {
                return Some(input);
            }
        }
    }

    fn still_applies(&self, input: Input) -> Option<Input> {
        let table = self.hub.lock();
        let sibling_master = table.siblings(self.id).any(|s| s.state == State::Master);
        match input {
            Input::GroupMaster => sibling_master.then_some(Input::GroupMaster),
            Input::GroupBackup => (!sibling_master).then_some(Input::GroupBackup),
            Input::GroupFault(_) => Some(Input::GroupFault(table.sibling_faulted(self.id))),
            other => Some(other),
        }
    }
}

impl Drop for GroupMembership {
    fn drop(&mut self) {
        let mut table = self.hub.lock();
        table.members.retain(|m| m.id != self.id);
        // A faulted member leaving must not hold the others down.
        for member in &table.members {
            let _ = member
                .inputs
                .send(Input::GroupFault(table.sibling_faulted(member.id)));
        }
    }
}

/// Groups by name, made on first use.
#[derive(Default)]
pub struct SyncGroups {
    hubs: HashMap<String, SyncGroupHub>,
}

impl SyncGroups {
    pub fn hub(&mut self, name: &str) -> SyncGroupHub {
        self.hubs.entry(name.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKUP: MemberStatus = MemberStatus {
        state: State::Backup,
        tracking_fault: false,
    };
    const MASTER: MemberStatus = MemberStatus {
        state: State::Master,
        tracking_fault: false,
    };
    const OWN_FAULT: MemberStatus = MemberStatus {
        state: State::Fault,
        tracking_fault: true,
    };

    #[tokio::test]
    async fn a_member_going_master_pulls_the_others() {
        let hub = SyncGroupHub::default();
        let mut a = hub.join(BACKUP);
        let mut b = hub.join(BACKUP);
        assert_eq!(a.next_input().await, Some(Input::GroupFault(false)));
        assert_eq!(b.next_input().await, Some(Input::GroupFault(false)));
        a.changed(State::Backup, MASTER);
        assert_eq!(b.next_input().await, Some(Input::GroupMaster));
    }

    #[tokio::test]
    async fn a_master_knocked_back_before_delivery_pulls_nobody() {
        let hub = SyncGroupHub::default();
        let a = hub.join(BACKUP);
        let mut b = hub.join(BACKUP);
        assert_eq!(b.next_input().await, Some(Input::GroupFault(false)));
        a.changed(State::Backup, MASTER);
        a.changed(State::Master, BACKUP);
        a.changed(State::Backup, OWN_FAULT);
        // GroupMaster is stale by now; the fault is what b hears.
        assert_eq!(b.next_input().await, Some(Input::GroupFault(true)));
    }

    #[tokio::test]
    async fn a_faulted_member_leaving_releases_the_others() {
        let hub = SyncGroupHub::default();
        let mut a = hub.join(BACKUP);
        let b = hub.join(BACKUP);
        assert_eq!(a.next_input().await, Some(Input::GroupFault(false)));
        b.changed(State::Backup, OWN_FAULT);
        assert_eq!(a.next_input().await, Some(Input::GroupFault(true)));
        drop(b);
        assert_eq!(a.next_input().await, Some(Input::GroupFault(false)));
    }
}
