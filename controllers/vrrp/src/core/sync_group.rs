//! Sync groups (keepalived's `vrrp_sync_group`, Vrrpd's `-M`): instances
//! that fail over together, so that e.g. the LAN-side and WAN-side virtual
//! routers of a gateway never end up on different nodes.
//!
//! The rule: when a member goes Fault, the others go Fault (until no member
//! is faulted by its own tracking); when a master member goes Backup, the
//! other masters step down; when a member becomes Master, the other backups
//! take over at once. [`SyncGroup`] keeps the members' status and applies
//! the rule; the shell only carries its inputs between instance tasks.

use crate::core::events::{Input, State};
use crate::core::instance::Instance;

/// What the group needs to know about a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemberStatus {
    pub state: State,
    /// Faulted by its own tracking, as opposed to following a sibling:
    /// only this kind of fault holds the group down.
    pub tracking_fault: bool,
}

impl From<&Instance> for MemberStatus {
    fn from(instance: &Instance) -> MemberStatus {
        MemberStatus {
            state: instance.state(),
            tracking_fault: instance.tracking_fault(),
        }
    }
}

#[cfg(test)]
impl MemberStatus {
    pub(crate) const BACKUP: MemberStatus = MemberStatus {
        state: State::Backup,
        tracking_fault: false,
    };
    pub(crate) const MASTER: MemberStatus = MemberStatus {
        state: State::Master,
        tracking_fault: false,
    };
    /// Faulted by its own tracking.
    pub(crate) const OWN_FAULT: MemberStatus = MemberStatus {
        state: State::Fault,
        tracking_fault: true,
    };
}

/// The inputs to give the other members after member `changed` went from
/// `from` to `to`. `members` is the status of every member, `changed`
/// included, taken after its transition. Feeding a member an input it does
/// not need is harmless: group inputs are idempotent.
fn on_transition(
    changed: usize,
    from: State,
    to: State,
    members: &[MemberStatus],
) -> Vec<(usize, Input)> {
    let mut inputs = Vec::new();
    for (index, member) in members.iter().enumerate() {
        if index == changed {
            continue;
        }
        if from == State::Fault || to == State::Fault {
            let sibling_fault = members
                .iter()
                .enumerate()
                .any(|(other, status)| other != index && status.tracking_fault);
            inputs.push((index, Input::GroupFault(sibling_fault)));
        }
        match to {
            State::Backup if from == State::Master && member.state == State::Master => {
                inputs.push((index, Input::GroupBackup));
            }
            State::Master if member.state == State::Backup => {
                inputs.push((index, Input::GroupMaster));
            }
            _ => {}
        }
    }
    inputs
}

/// One sync group: its members' status and what the rule sends them.
/// The rule is applied where a member's transition happens; whoever
/// drives the members (the instance tasks, a test) delivers the inputs.
/// Delivery may be late, when the transition that caused an input is
/// undone already (a member that went master knocked back to backup by a
/// higher peer's advert), so a member checks each input against the table
/// when it takes it ([`SyncGroup::still_applies`]): acting on a stale one
/// would make the siblings chase each other into master forever.
#[derive(Clone, Debug, Default)]
pub struct SyncGroup {
    members: Vec<(MemberId, MemberStatus)>,
    next_id: u64,
}

/// A member of one [`SyncGroup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemberId(u64);

impl SyncGroup {
    /// Adds a member in `status`, and the input it starts with: a newcomer
    /// follows a sibling already faulted.
    pub fn join(&mut self, status: MemberStatus) -> (MemberId, Input) {
        let id = MemberId(self.next_id);
        self.next_id += 1;
        let first = Input::GroupFault(self.sibling_faulted(id));
        self.members.push((id, status));
        (id, first)
    }

    /// Member `id` went `from` -> `status.state`, or its own tracking
    /// fault changed: the inputs its siblings get.
    pub fn changed(
        &mut self,
        id: MemberId,
        from: State,
        status: MemberStatus,
    ) -> Vec<(MemberId, Input)> {
        let Some(index) = self.members.iter().position(|(m, _)| *m == id) else {
            return Vec::new();
        };
        self.members[index].1 = status;
        let statuses: Vec<MemberStatus> = self.members.iter().map(|(_, s)| *s).collect();
        on_transition(index, from, status.state, &statuses)
            .into_iter()
            .map(|(target, input)| (self.members[target].0, input))
            .collect()
    }

    /// What still holds of a group input for member `id` when it takes it.
    pub fn still_applies(&self, id: MemberId, input: Input) -> Option<Input> {
        let sibling_master = self.siblings(id).any(|s| s.state == State::Master);
        match input {
            Input::GroupMaster => sibling_master.then_some(Input::GroupMaster),
            Input::GroupBackup => (!sibling_master).then_some(Input::GroupBackup),
            Input::GroupFault(_) => Some(Input::GroupFault(self.sibling_faulted(id))),
            other => Some(other),
        }
    }

    /// Removes member `id`: a faulted member leaving must not hold the
    /// others down, so each gets its fault input again.
    pub fn leave(&mut self, id: MemberId) -> Vec<(MemberId, Input)> {
        self.members.retain(|(m, _)| *m != id);
        self.members
            .iter()
            .map(|(m, _)| (*m, Input::GroupFault(self.sibling_faulted(*m))))
            .collect()
    }

    fn siblings(&self, id: MemberId) -> impl Iterator<Item = &MemberStatus> {
        self.members
            .iter()
            .filter(move |(m, _)| *m != id)
            .map(|(_, status)| status)
    }

    /// Whether a sibling of `id` is faulted by its own tracking.
    fn sibling_faulted(&self, id: MemberId) -> bool {
        self.siblings(id).any(|s| s.tracking_fault)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::config::InstanceConfig;
    use crate::core::events::{Action, Timer, Timestamp, Tracking};

    const BACKUP: MemberStatus = MemberStatus::BACKUP;
    const MASTER: MemberStatus = MemberStatus::MASTER;
    const OWN_FAULT: MemberStatus = MemberStatus::OWN_FAULT;

    #[test]
    fn a_fault_faults_the_others() {
        let inputs = on_transition(0, State::Master, State::Fault, &[OWN_FAULT, MASTER, BACKUP]);
        assert_eq!(
            inputs,
            vec![(1, Input::GroupFault(true)), (2, Input::GroupFault(true))]
        );
    }

    #[test]
    fn recovery_releases_the_others_unless_another_member_is_faulted() {
        let followers = MemberStatus {
            state: State::Fault,
            tracking_fault: false,
        };
        let recovered = [BACKUP, followers, followers];
        assert_eq!(
            on_transition(0, State::Fault, State::Backup, &recovered),
            vec![(1, Input::GroupFault(false)), (2, Input::GroupFault(false))]
        );
        let still_faulted = [BACKUP, followers, OWN_FAULT];
        assert_eq!(
            on_transition(0, State::Fault, State::Backup, &still_faulted),
            vec![(1, Input::GroupFault(true)), (2, Input::GroupFault(false))]
        );
    }

    #[test]
    fn backup_and_master_move_together() {
        assert_eq!(
            on_transition(0, State::Master, State::Backup, &[BACKUP, MASTER, BACKUP]),
            vec![(1, Input::GroupBackup)]
        );
        assert_eq!(
            on_transition(1, State::Backup, State::Master, &[BACKUP, MASTER, MASTER]),
            vec![(0, Input::GroupMaster)]
        );
        // Leaving Initialize for Backup is not a failover: nobody follows.
        assert!(on_transition(0, State::Initialize, State::Backup, &[BACKUP, MASTER]).is_empty());
    }

    fn member(vrid: u8) -> Instance {
        let config = InstanceConfig::new(
            vrid,
            "10.0.0.2".parse().unwrap(),
            vec!["10.0.0.100".parse().unwrap()],
        );
        Instance::new(config).unwrap()
    }

    /// Instances driven as one sync group within one call, as the shell's
    /// tasks drive them across calls: after each input, a member whose
    /// status changed tells the group, and the siblings' inputs are fed
    /// depth-first, each right after the transition that caused it.
    struct Driven {
        members: Vec<(MemberId, Instance)>,
        group: SyncGroup,
    }

    impl Driven {
        fn new(instances: Vec<Instance>) -> Driven {
            let mut group = SyncGroup::default();
            let members = instances
                .into_iter()
                .map(|instance| (group.join(MemberStatus::from(&instance)).0, instance))
                .collect();
            Driven { members, group }
        }

        fn handle(&mut self, now: Timestamp, member: usize, input: Input) -> Vec<(usize, Action)> {
            let mut out = Vec::new();
            let mut pending = vec![(member, input)];
            while let Some((index, input)) = pending.pop() {
                let (id, instance) = &mut self.members[index];
                let before = MemberStatus::from(&*instance);
                let actions = instance.handle(now, input);
                let after = MemberStatus::from(&*instance);
                out.extend(actions.into_iter().map(|action| (index, action)));
                if after == before {
                    continue;
                }
                let sent = self.group.changed(*id, before.state, after);
                let follow_ups = sent.into_iter().filter_map(|(target, input)| {
                    let index = self.members.iter().position(|(m, _)| *m == target)?;
                    Some((index, self.group.still_applies(target, input)?))
                });
                let follow_ups: Vec<_> = follow_ups.collect();
                pending.extend(follow_ups.into_iter().rev());
            }
            out
        }

        fn states(&self) -> Vec<State> {
            self.members.iter().map(|(_, i)| i.state()).collect()
        }
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_origin(Duration::from_millis(ms))
    }

    #[test]
    fn group_fails_over_as_one() {
        let mut group = Driven::new(vec![member(51), member(52)]);
        group.handle(at(0), 0, Input::Startup);
        group.handle(at(0), 1, Input::Startup);
        // Member 0 times out first: member 1 follows at once.
        group.handle(at(3600), 0, Input::TimerExpired(Timer::MasterDown));
        assert_eq!(group.states(), [State::Master, State::Master]);
        // Member 1's link goes down: both fault, both release their addresses.
        let actions = group.handle(at(4000), 1, Input::TrackingChanged(Tracking::Fault));
        assert_eq!(group.states(), [State::Fault, State::Fault]);
        let removed: Vec<usize> = actions
            .iter()
            .filter(|(_, action)| *action == Action::RemoveVips)
            .map(|(index, _)| *index)
            .collect();
        assert_eq!(removed, [1, 0]);
        // The link returns: both come back as backups.
        group.handle(
            at(5000),
            1,
            Input::TrackingChanged(Tracking::Healthy { priority_delta: 0 }),
        );
        assert_eq!(group.states(), [State::Backup, State::Backup]);
    }

    #[test]
    fn a_master_knocked_back_before_delivery_pulls_nobody() {
        let mut group = SyncGroup::default();
        let (a, _) = group.join(BACKUP);
        let (b, first) = group.join(BACKUP);
        assert_eq!(first, Input::GroupFault(false));
        let sent = group.changed(a, State::Backup, MASTER);
        assert_eq!(sent, [(b, Input::GroupMaster)]);
        group.changed(a, State::Master, BACKUP);
        // Delivered late, GroupMaster no longer holds: b stays where it is.
        assert_eq!(group.still_applies(b, Input::GroupMaster), None);
        group.changed(a, State::Backup, OWN_FAULT);
        assert_eq!(
            group.still_applies(b, Input::GroupFault(false)),
            Some(Input::GroupFault(true))
        );
    }

    #[test]
    fn a_faulted_member_leaving_releases_the_others() {
        let mut group = SyncGroup::default();
        let (a, _) = group.join(BACKUP);
        let (b, _) = group.join(BACKUP);
        group.changed(b, State::Backup, OWN_FAULT);
        let (c, first) = group.join(BACKUP);
        assert_eq!(
            first,
            Input::GroupFault(true),
            "a newcomer follows the fault"
        );
        assert_eq!(
            group.leave(b),
            [(a, Input::GroupFault(false)), (c, Input::GroupFault(false))]
        );
    }
}
