//! Sync groups (keepalived's `vrrp_sync_group`, Vrrpd's `-M`): instances
//! that fail over together, so that e.g. the LAN-side and WAN-side virtual
//! routers of a gateway never end up on different nodes.
//!
//! The rule: when a member goes Fault, the others go Fault (until no member
//! is faulted by its own tracking); when a master member goes Backup, the
//! other masters step down; when a member becomes Master, the other backups
//! take over at once.

use crate::events::{Action, Input, State, Timestamp};
use crate::instance::Instance;

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

/// The inputs to give the other members after member `changed` went from
/// `from` to `to`. `members` is the status of every member, `changed`
/// included, taken after its transition. Feeding a member an input it does
/// not need is harmless: group inputs are idempotent.
pub fn on_transition(
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

/// A set of instances driven as one sync group: every input to a member is
/// followed by the group inputs its transitions call for, until the group
/// is consistent.
#[derive(Clone, Debug)]
pub struct SyncGroup {
    members: Vec<Instance>,
}

impl SyncGroup {
    pub fn new(members: Vec<Instance>) -> SyncGroup {
        SyncGroup { members }
    }

    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    /// Feeds `input` to member `member` and returns every member's actions,
    /// tagged with the member index, in the order they must be carried out.
    pub fn handle(&mut self, now: Timestamp, member: usize, input: Input) -> Vec<(usize, Action)> {
        let mut out = Vec::new();
        let mut pending = vec![(member, input)];
        // Depth-first, so each member's follow-up happens right after the
        // transition that caused it. Every group input moves a member one
        // step toward the group's state, so this terminates.
        while let Some((index, input)) = pending.pop() {
            let actions = self.members[index].handle(now, input);
            let mut follow_ups = Vec::new();
            for action in &actions {
                if let Action::StateChanged { from, to } = *action {
                    let statuses: Vec<MemberStatus> =
                        self.members.iter().map(MemberStatus::from).collect();
                    follow_ups.extend(on_transition(index, from, to, &statuses));
                }
            }
            out.extend(actions.into_iter().map(|action| (index, action)));
            pending.extend(follow_ups.into_iter().rev());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::InstanceConfig;
    use crate::events::{Timer, Tracking};

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

    fn states(group: &SyncGroup) -> Vec<State> {
        group.members().iter().map(Instance::state).collect()
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_origin(Duration::from_millis(ms))
    }

    #[test]
    fn group_fails_over_as_one() {
        let mut group = SyncGroup::new(vec![member(51), member(52)]);
        group.handle(at(0), 0, Input::Startup);
        group.handle(at(0), 1, Input::Startup);
        // Member 0 times out first: member 1 follows at once.
        group.handle(at(3600), 0, Input::TimerExpired(Timer::MasterDown));
        assert_eq!(states(&group), [State::Master, State::Master]);
        // Member 1's link goes down: both fault, both release their addresses.
        let actions = group.handle(at(4000), 1, Input::TrackingChanged(Tracking::Fault));
        assert_eq!(states(&group), [State::Fault, State::Fault]);
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
        assert_eq!(states(&group), [State::Backup, State::Backup]);
    }
}
