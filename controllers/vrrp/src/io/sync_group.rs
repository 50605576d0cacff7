//! Sync groups across instance tasks: each instance runs in its own task,
//! so the core's [`SyncGroup`] is shared behind a lock and its inputs
//! travel to the siblings' tasks over channels. Each task checks an input
//! against the group when it takes it ([`SyncGroup::still_applies`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::core::sync_group::{MemberId, MemberStatus, SyncGroup};
use crate::core::{Input, State};

#[derive(Default)]
struct Shared {
    group: SyncGroup,
    inboxes: HashMap<MemberId, mpsc::UnboundedSender<Input>>,
}

impl Shared {
    fn deliver(&self, inputs: Vec<(MemberId, Input)>) {
        for (member, input) in inputs {
            if let Some(inbox) = self.inboxes.get(&member) {
                let _ = inbox.send(input);
            }
        }
    }
}

/// One sync group; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct SyncGroupHub {
    shared: Arc<Mutex<Shared>>,
}

impl SyncGroupHub {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Every update leaves the group consistent; a panic elsewhere
        // while holding the lock does not change that.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a member in `status`; its group inputs come from the returned
    /// membership.
    pub(crate) fn join(&self, status: MemberStatus) -> GroupMembership {
        let (inbox, inputs) = mpsc::unbounded_channel();
        let mut shared = self.lock();
        let (id, first) = shared.group.join(status);
        let _ = inbox.send(first);
        shared.inboxes.insert(id, inbox);
        GroupMembership {
            id,
            hub: self.clone(),
            inputs,
        }
    }
}

/// One instance's link to its group. Dropping it leaves the group.
pub(crate) struct GroupMembership {
    id: MemberId,
    hub: SyncGroupHub,
    inputs: mpsc::UnboundedReceiver<Input>,
}

impl GroupMembership {
    /// The member went `from` -> `status.state`, or its own tracking fault
    /// changed: tell the siblings what to do.
    pub(crate) fn changed(&self, from: State, status: MemberStatus) {
        let mut shared = self.hub.lock();
        let inputs = shared.group.changed(self.id, from, status);
        shared.deliver(inputs);
    }

    /// The next group input that still holds for this member.
    pub(crate) async fn next_input(&mut self) -> Option<Input> {
        loop {
            let input = self.inputs.recv().await?;
            if let Some(input) = self.hub.lock().group.still_applies(self.id, input) {
                return Some(input);
            }
        }
    }
}

impl Drop for GroupMembership {
    fn drop(&mut self) {
        let mut shared = self.hub.lock();
        shared.inboxes.remove(&self.id);
        let inputs = shared.group.leave(self.id);
        shared.deliver(inputs);
    }
}

/// Groups by name, made on first use.
#[derive(Default)]
pub(crate) struct SyncGroups {
    hubs: HashMap<String, SyncGroupHub>,
}

impl SyncGroups {
    pub(crate) fn hub(&mut self, name: &str) -> SyncGroupHub {
        self.hubs.entry(name.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKUP: MemberStatus = MemberStatus::BACKUP;
    const MASTER: MemberStatus = MemberStatus::MASTER;
    const OWN_FAULT: MemberStatus = MemberStatus::OWN_FAULT;

    #[tokio::test]
    async fn inputs_reach_the_siblings_tasks_and_stale_ones_are_dropped() {
        let hub = SyncGroupHub::default();
        let a = hub.join(BACKUP);
        let mut b = hub.join(BACKUP);
        assert_eq!(b.next_input().await, Some(Input::GroupFault(false)));
        a.changed(State::Backup, MASTER);
        a.changed(State::Master, BACKUP);
        a.changed(State::Backup, OWN_FAULT);
        // GroupMaster is stale by now; the fault is what b hears.
        assert_eq!(b.next_input().await, Some(Input::GroupFault(true)));
        drop(a);
        assert_eq!(b.next_input().await, Some(Input::GroupFault(false)));
    }
}
