//! Where a Service's stack runs: a pure decision from its spec and what
//! this node's store says about the VirtualIP it follows.
//!
//! Make-before-break: on a planned preempt-back the VRRP controller of
//! the returning node holds its VIP and sets `preparingTakeover` until the
//! stack runs here and is healthy; the stack therefore runs on a node that
//! is master *or* preparing to become it. On demotion the VRRP controller
//! reports `Backup` only once the addresses are gone, so the stack stops
//! after the VIP has left.
//!
//! Break-before-make (an *exclusive* stack, see [`crate::exclusive`]): the
//! stack runs only where the VIP is master, never ahead of a takeover; the
//! controller then also waits until no other node runs it. Nor is its
//! warm standby ever paused: a paused standby is started (its processes
//! run until the freeze, and again whenever it is thawed) and keeps its
//! files open, a second writer beside the master's. An exclusive warm
//! stack therefore waits stopped whatever its `standby` says.

use hareconcile_model::status::VrrpState;
use hareconcile_model::{ServiceMode, ServiceSpec, Standby, VirtualIpStatus};

/// What this node should do with the stack: the status contract names it,
/// since the VRRP and sync controllers read it.
pub use hareconcile_model::status::StackPlacement as Placement;

/// What this node's store says about the followed VirtualIP.
/// `preparing_takeover`: the VRRP controller waits for this node's stack
/// before taking the VIP over. Default: not reported yet.
pub type FollowedVip = VirtualIpStatus;

/// `exclusive`: the stack never runs on two nodes at once, so it is not
/// started ahead of a takeover, nor on a standby to be paused there.
pub fn placement(spec: &ServiceSpec, vip: &FollowedVip, exclusive: bool) -> Placement {
    let master = match exclusive {
        true => vip.state() == Some(VrrpState::Master),
        false => vip.serves_here(),
    };
    match (spec.mode, &spec.follow_virtual_ip) {
        (ServiceMode::ActiveActive, _) | (_, None) => Placement::Run,
        _ if master => Placement::Run,
        (ServiceMode::Warm, _) if spec.standby == Standby::Paused && !exclusive => {
            Placement::Paused
        }
        (ServiceMode::Warm, _) => Placement::Warm,
        (ServiceMode::ActivePassive, _) => Placement::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(mode: &str, follow: Option<&str>) -> ServiceSpec {
        let mut spec = json!({"cluster": "home", "mode": mode, "compose": {"file": "c.yaml"}});
        if let Some(vip) = follow {
            spec["followVirtualIP"] = json!(vip);
        }
        serde_json::from_value(spec).unwrap()
    }

    /// A make-before-break stack's placement.
    fn shared(spec: &ServiceSpec, vip: &FollowedVip) -> Placement {
        placement(spec, vip, false)
    }

    fn vip(state: Option<VrrpState>, preparing_takeover: bool) -> FollowedVip {
        let mut vip = FollowedVip {
            preparing_takeover,
            ..FollowedVip::default()
        };
        vip.instance.state = state;
        vip
    }

    #[test]
    fn follows_the_master_by_mode() {
        for (mode, state, expected) in [
            ("active-passive", Some(VrrpState::Master), Placement::Run),
            ("active-passive", Some(VrrpState::Backup), Placement::Absent),
            ("active-passive", None, Placement::Absent),
            ("warm", Some(VrrpState::Master), Placement::Run),
            ("warm", Some(VrrpState::Fault), Placement::Warm),
            ("active-active", Some(VrrpState::Backup), Placement::Run),
        ] {
            assert_eq!(
                shared(&spec(mode, Some("web")), &vip(state, false)),
                expected,
                "{mode} {state:?}"
            );
        }
    }

    #[test]
    fn a_paused_warm_standby_is_paused_away_from_the_master_only() {
        let mut paused = spec("warm", Some("web"));
        paused.standby = Standby::Paused;
        assert_eq!(
            shared(&paused, &vip(Some(VrrpState::Backup), false)),
            Placement::Paused
        );
        assert_eq!(shared(&paused, &vip(None, false)), Placement::Paused);
        assert_eq!(
            shared(&paused, &vip(Some(VrrpState::Master), false)),
            Placement::Run
        );
        assert_eq!(
            shared(&paused, &vip(Some(VrrpState::Backup), true)),
            Placement::Run
        );
    }

    #[test]
    fn a_node_preparing_a_takeover_runs_the_stack_before_it_is_master() {
        for mode in ["active-passive", "warm", "active-active"] {
            assert_eq!(
                shared(
                    &spec(mode, Some("web")),
                    &vip(Some(VrrpState::Backup), true)
                ),
                Placement::Run,
                "{mode}"
            );
        }
        // The flag alone is enough, whatever state is reported with it.
        assert_eq!(
            shared(&spec("warm", Some("web")), &vip(None, true)),
            Placement::Run
        );
        // Once the hold is over (flag cleared) a node left backup stops again.
        assert_eq!(
            shared(
                &spec("active-passive", Some("web")),
                &vip(Some(VrrpState::Backup), false)
            ),
            Placement::Absent
        );
    }

    #[test]
    fn without_a_virtual_ip_it_runs_everywhere() {
        assert_eq!(
            shared(&spec("active-passive", None), &FollowedVip::default()),
            Placement::Run
        );
        assert_eq!(
            shared(&spec("warm", None), &vip(Some(VrrpState::Backup), false)),
            Placement::Run
        );
    }

    /// Pausing starts the processes first: an exclusive stack's standby
    /// is stopped instead, on every state a standby can be in, and it
    /// still runs on the master.
    #[test]
    fn an_exclusive_paused_standby_is_stopped_instead() {
        let mut paused = spec("warm", Some("web"));
        paused.standby = Standby::Paused;
        for preparing in [false, true] {
            for state in [None, Some(VrrpState::Backup), Some(VrrpState::Fault)] {
                assert_eq!(
                    placement(&paused, &vip(state, preparing), true),
                    Placement::Warm,
                    "{state:?} preparing: {preparing}"
                );
            }
        }
        assert_eq!(
            placement(&paused, &vip(Some(VrrpState::Master), false), true),
            Placement::Run
        );
    }

    #[test]
    fn an_exclusive_stack_runs_on_the_master_only_never_ahead_of_a_takeover() {
        for mode in ["active-passive", "warm"] {
            let spec = spec(mode, Some("web"));
            assert_eq!(
                placement(&spec, &vip(Some(VrrpState::Master), false), true),
                Placement::Run
            );
            let standby = shared(&spec, &vip(Some(VrrpState::Backup), false));
            for preparing in [false, true] {
                for state in [None, Some(VrrpState::Backup), Some(VrrpState::Fault)] {
                    assert_eq!(
                        placement(&spec, &vip(state, preparing), true),
                        standby,
                        "{mode} {state:?} preparing: {preparing}"
                    );
                }
            }
        }
        // An active-active stack is not placed by the VIP at all.
        assert_eq!(
            placement(
                &spec("active-active", Some("web")),
                &vip(Some(VrrpState::Backup), false),
                true
            ),
            Placement::Run
        );
    }
}
